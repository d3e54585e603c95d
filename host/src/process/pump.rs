//! The poll loop that streams a child's output until it exits.
//!
//! One thread per child `poll`s its stdout and stderr pipes together with its exit (a pidfd),
//! so output is forwarded in the order the kernel hands it over and the exit is noticed
//! without sleeping. Reads are large (1 MiB pipes and buffers) and big chunks are handed over
//! without a copy. When the child has exited, whatever is still in the pipes is drained before
//! returning, so the caller can send the task's terminal message knowing every byte of output
//! was queued first. Pipes kept open by background grandchildren are handed to
//! [`super::orphans`] (their later output is not part of this task).
//!
//! A [`Feeder`] (a task's interactive stdin) shares the loop: its descriptors are polled with
//! the pipes, and it is serviced after every round, so the program's prompt is drained and
//! forwarded before an input request.

use std::io::{ErrorKind, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::process::{ChildStderr, ChildStdout, ExitStatus};
use std::time::Instant;

use super::{orphans, Group, Stream};
use crate::sys;

/// Size of one pipe read, and of the pipe buffers asked of the kernel.
const CHUNK: usize = 1 << 20;

/// Chunks at least this large are handed over in the read buffer itself (no copy); smaller
/// ones are copied out so the big buffer can be reused.
const HAND_OVER: usize = 64 * 1024;

/// Without a pidfd (old kernels), how often the loop checks for the exit.
const EXIT_RECHECK_MS: i32 = 20;

/// Where output chunks go.
pub(crate) type Sink<'a> = dyn FnMut(Stream, Vec<u8>) + 'a;

/// Something that takes part in a child's poll loop (the feeder of its stdin).
pub(crate) trait Feeder {
    /// Descriptors to poll, as `(fd, events)`; a negative fd is ignored.
    fn poll_fds(&self) -> [(RawFd, libc::c_short); 2];
    /// How long the loop may sleep before [`Feeder::service`] wants to run, in milliseconds
    /// (negative: until a descriptor is ready).
    fn timeout_ms(&self, now: Instant) -> i32;
    /// Does whatever is due; `drain` forwards what is in the child's output pipes now.
    fn service(&mut self, drain: &mut dyn FnMut());
}

/// One output pipe of the child.
struct Pipe<R> {
    reader: Option<R>,
    stream: Stream,
}

impl<R: Read + AsRawFd> Pipe<R> {
    fn new(reader: Option<R>, stream: Stream) -> Self {
        if let Some(r) = &reader {
            sys::set_pipe_size(r.as_raw_fd(), CHUNK);
            sys::set_nonblocking(r.as_raw_fd());
        }
        Self { reader, stream }
    }

    fn fd(&self) -> RawFd {
        self.reader.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// Reads until the pipe is empty (or `max_reads` reads). Closes it at EOF.
    fn drain(&mut self, buf: &mut Vec<u8>, sink: &mut Sink<'_>, max_reads: usize) {
        let Some(reader) = self.reader.as_mut() else {
            return;
        };
        for _ in 0..max_reads {
            match reader.read(buf) {
                Ok(0) => {
                    self.reader = None;
                    return;
                }
                Ok(n) => sink(self.stream, take_chunk(buf, n)),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::debug!("reading {:?} failed: {e}", self.stream);
                    self.reader = None;
                    return;
                }
            }
        }
    }
}

fn take_chunk(buf: &mut Vec<u8>, n: usize) -> Vec<u8> {
    if n >= HAND_OVER {
        let mut full = std::mem::replace(buf, vec![0u8; CHUNK]);
        full.truncate(n);
        full
    } else {
        buf[..n].to_vec()
    }
}

/// Streams `group`'s leader's stdout and stderr to `sink` until it exits (see the module
/// docs); returns its exit status. The leader is not reaped: that is the caller's job.
pub(crate) fn pump<'f>(
    group: &Group,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    sink: &mut Sink<'_>,
    mut feeder: Option<&mut (dyn Feeder + 'f)>,
) -> std::io::Result<ExitStatus> {
    let mut out = Pipe::new(stdout, Stream::Stdout);
    let mut err = Pipe::new(stderr, Stream::Stderr);
    let exit_fd = group.exit_fd();
    let mut buf = vec![0u8; CHUNK];
    let status = loop {
        let mut fds = poll_set(&out, &err, exit_fd, feeder.as_deref());
        let timeout = poll_timeout(exit_fd.is_some(), feeder.as_deref());
        match sys::poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        // A few reads per stream per round keep both streams flowing fairly.
        if fds[0].revents != 0 {
            out.drain(&mut buf, sink, 4);
        }
        if fds[1].revents != 0 {
            err.drain(&mut buf, sink, 4);
        }
        if exit_fd.is_none() || fds[2].revents != 0 {
            if let Some(status) = group.try_exit() {
                break status;
            }
        }
        if let Some(f) = feeder.as_deref_mut() {
            f.service(&mut || {
                out.drain(&mut buf, sink, usize::MAX);
                err.drain(&mut buf, sink, usize::MAX);
            });
        }
    };
    // The child is gone: everything it wrote is in the pipes now.
    out.drain(&mut buf, sink, usize::MAX);
    err.drain(&mut buf, sink, usize::MAX);
    orphans::discard(out.reader.take(), err.reader.take());
    Ok(status)
}

fn poll_set<O: Read + AsRawFd, E: Read + AsRawFd>(
    out: &Pipe<O>,
    err: &Pipe<E>,
    exit_fd: Option<RawFd>,
    feeder: Option<&dyn Feeder>,
) -> [libc::pollfd; 5] {
    let [(wake, wake_events), (stdin, stdin_events)] =
        feeder.map_or([(-1, 0), (-1, 0)], Feeder::poll_fds);
    [
        sys::poll_fd(out.fd(), libc::POLLIN),
        sys::poll_fd(err.fd(), libc::POLLIN),
        sys::poll_fd(exit_fd.unwrap_or(-1), libc::POLLIN),
        sys::poll_fd(wake, wake_events),
        sys::poll_fd(stdin, stdin_events),
    ]
}

fn poll_timeout(has_exit_fd: bool, feeder: Option<&dyn Feeder>) -> i32 {
    let mut timeout = if has_exit_fd { -1 } else { EXIT_RECHECK_MS };
    if let Some(f) = feeder {
        let wanted = f.timeout_ms(Instant::now());
        if wanted >= 0 && (timeout < 0 || wanted < timeout) {
            timeout = wanted;
        }
    }
    timeout
}
