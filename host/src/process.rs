//! Task subprocesses: a new process group each, output streamed from large pipe reads as it
//! arrives, interrupts delivered to the whole group, and shell-convention exit codes.
//!
//! One thread runs each subprocess: it `poll`s the stdout and stderr pipes together with a
//! pidfd for the child's exit, so output is forwarded in the order the kernel hands it over
//! and the exit is noticed without sleeping. When the child has exited, whatever is still in
//! the pipes is drained before returning, so the caller can send the terminal message knowing
//! every byte of output was queued first. Pipes kept open by background grandchildren are
//! handed to a detached drainer (their later output is not part of this task).
//!
//! Standard input is either `/dev/null` (captured commands, bootstrap) or, for the user's
//! programs, a pipe the host owns and feeds from the user-input queue when the program blocks
//! reading it ([`crate::stdin_feed`]); the feeder shares this thread's poll loop, so the
//! program's prompt is drained and forwarded before the input request.
//!
//! Exit codes follow the shell: a normal exit gives its status; death by signal N gives
//! 128+N (so an interrupted task reports 130, a killed one 137); a program that cannot be
//! found gives 127 and one that cannot be executed 126.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdout, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::input::InputQueue;
use crate::stdin_feed::StdinFeed;

/// Size of one pipe read, and of the pipe buffers we ask the kernel for.
const CHUNK: usize = 1 << 20;

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// A fully resolved command to spawn.
#[derive(Debug, Clone)]
pub struct Spawn {
    /// The program (a path, or a name looked up on the child's `PATH`).
    pub program: PathBuf,
    /// Its arguments (without argv\[0\]).
    pub args: Vec<String>,
    /// The complete environment.
    pub env: BTreeMap<String, String>,
    /// Working directory, or the current one.
    pub cwd: Option<PathBuf>,
}

/// Exit code for a program that does not exist.
pub const EXIT_NOT_FOUND: i32 = 127;
/// Exit code for a program that cannot be executed.
pub const EXIT_NOT_EXECUTABLE: i32 = 126;

/// Converts an exit status to the shell convention.
pub fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => -1,
    }
}

/// The process groups of the running task: the target of `interrupt`.
#[derive(Default)]
pub struct Groups {
    inner: Mutex<GroupsInner>,
}

#[derive(Default)]
struct GroupsInner {
    running: Vec<(u64, i32)>,
    /// Long-lived session processes: not interrupted with the task, terminated at shutdown.
    sessions: Vec<(u64, i32)>,
    next_id: u64,
    interrupted: bool,
}

impl Groups {
    fn lock(&self) -> MutexGuard<'_, GroupsInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a new task: clears the interrupted flag.
    pub fn begin_task(&self) {
        self.lock().interrupted = false;
    }

    /// Whether the current task was interrupted.
    pub fn interrupted(&self) -> bool {
        self.lock().interrupted
    }

    /// Number of running process groups.
    pub fn running(&self) -> usize {
        self.lock().running.len()
    }

    fn register(&self, pgid: i32) -> u64 {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        inner.running.push((id, pgid));
        if inner.interrupted {
            // The interrupt arrived while this process was being started.
            signal_group(pgid, libc::SIGINT);
        }
        id
    }

    fn unregister(&self, id: u64) {
        self.lock().running.retain(|(i, _)| *i != id);
    }

    /// Records a session process group (terminated at shutdown, not interrupted).
    pub fn add_session(&self, pgid: i32) -> u64 {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        inner.sessions.push((id, pgid));
        id
    }

    /// Forgets a session process group.
    pub fn remove_session(&self, id: u64) {
        self.lock().sessions.retain(|(i, _)| *i != id);
    }

    /// Interrupts the task: SIGINT to every running group now, SIGKILL to those still running
    /// after `grace`. Later subprocesses of the same task are interrupted as they start.
    /// Returns how many groups were signalled.
    pub fn interrupt(self: &Arc<Self>, grace: Duration) -> usize {
        let targets = {
            let mut inner = self.lock();
            inner.interrupted = true;
            inner.running.clone()
        };
        for (_, pgid) in &targets {
            signal_group(*pgid, libc::SIGINT);
        }
        let count = targets.len();
        if count > 0 {
            let groups = Arc::clone(self);
            let spawned = std::thread::Builder::new()
                .name("interrupt-grace".into())
                .spawn(move || {
                    std::thread::sleep(grace);
                    groups.kill_remaining(&targets);
                });
            if let Err(e) = spawned {
                tracing::warn!("cannot start the interrupt timer: {e}");
            }
        }
        count
    }

    fn kill_remaining(&self, targets: &[(u64, i32)]) {
        let still: Vec<i32> = {
            let inner = self.lock();
            targets
                .iter()
                .filter(|t| inner.running.contains(t))
                .map(|(_, pgid)| *pgid)
                .collect()
        };
        for pgid in still {
            tracing::warn!("process group {pgid} ignored SIGINT; sending SIGKILL");
            signal_group(pgid, libc::SIGKILL);
        }
    }

    /// Terminates every running group, tasks and sessions (shutdown): SIGTERM, then SIGKILL
    /// after `grace`.
    pub fn terminate_all(&self, grace: Duration) {
        let (targets, sessions) = {
            let mut inner = self.lock();
            inner.interrupted = true;
            (inner.running.clone(), inner.sessions.clone())
        };
        if targets.is_empty() && sessions.is_empty() {
            return;
        }
        for (_, pgid) in targets.iter().chain(&sessions) {
            signal_group(*pgid, libc::SIGTERM);
            signal_group(*pgid, libc::SIGCONT);
        }
        let deadline = std::time::Instant::now() + grace;
        let busy = |g: &Self| {
            let inner = g.lock();
            !inner.running.is_empty() || !inner.sessions.is_empty()
        };
        while std::time::Instant::now() < deadline && busy(self) {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill_remaining(&targets);
        let still: Vec<i32> = {
            let inner = self.lock();
            sessions
                .iter()
                .filter(|s| inner.sessions.contains(s))
                .map(|(_, pgid)| *pgid)
                .collect()
        };
        for pgid in still {
            signal_group(pgid, libc::SIGKILL);
        }
    }
}

/// Sends `sig` to process group `pgid` (errors other than "no such group" are logged).
pub fn signal_group(pgid: i32, sig: i32) {
    // SAFETY: killpg has no memory-safety preconditions.
    let rc = unsafe { libc::killpg(pgid, sig) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ESRCH) {
            tracing::debug!("killpg({pgid}, {sig}) failed: {err}");
        }
    }
}

/// Standard input of a task subprocess.
#[derive(Clone, Copy)]
pub enum Stdin<'a> {
    /// `/dev/null`.
    Null,
    /// A pipe fed from `queue` whenever the program blocks reading it; `announce` sends
    /// `waiting-input` when the queue is empty.
    Interactive {
        /// Where input comes from.
        queue: &'a InputQueue,
        /// Sends the input request.
        announce: &'a dyn Fn(),
    },
}

/// The command for `spawn`: exactly its environment, piped stdout and stderr, and a process
/// group of its own.
pub fn command(spawn: &Spawn, stdin: Stdio) -> std::process::Command {
    let mut command = std::process::Command::new(&spawn.program);
    command
        .args(&spawn.args)
        .env_clear()
        .envs(&spawn.env)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(cwd) = &spawn.cwd {
        command.current_dir(cwd);
    }
    command
}

/// Runs `spawn` to completion in its own process group with stdin at `/dev/null`, passing
/// output chunks to `sink` as they arrive. Returns the exit code, or the spawn error.
pub fn run(
    spawn: &Spawn,
    groups: &Groups,
    sink: &mut dyn FnMut(Stream, Vec<u8>),
) -> std::io::Result<i32> {
    run_with(spawn, groups, Stdin::Null, sink)
}

/// Like [`run`], with the given standard input.
pub fn run_with(
    spawn: &Spawn,
    groups: &Groups,
    stdin: Stdin<'_>,
    sink: &mut dyn FnMut(Stream, Vec<u8>),
) -> std::io::Result<i32> {
    let mut stdin_write = None;
    let child_stdin = match stdin {
        Stdin::Null => Stdio::null(),
        Stdin::Interactive { .. } => {
            let (read, write) = pipe()?;
            stdin_write = Some(write);
            Stdio::from(read)
        }
    };
    // The command holds our copy of the pipe's read end; it is dropped right after the spawn,
    // so only the task keeps one.
    let mut child = command(spawn, child_stdin).spawn()?;
    let pid = child.id() as i32;
    let id = groups.register(pid);
    let mut feed = match (stdin, stdin_write) {
        (Stdin::Interactive { queue, announce }, Some(write)) => {
            match StdinFeed::new(queue, announce, write, pid) {
                Ok(feed) => Some(feed),
                Err(e) => {
                    tracing::warn!("interactive input is unavailable for this task: {e}");
                    None
                }
            }
        }
        _ => None,
    };
    let result = pump(&mut child, sink, feed.as_mut());
    // Dropping the feeder closes our end of stdin: leftover background readers see EOF.
    drop(feed);
    groups.unregister(id);
    result
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned these descriptors to us.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Streams an already spawned child's stdout and stderr to `sink` until it exits (see the
/// module docs); returns its exit code.
pub fn watch(child: &mut Child, sink: &mut dyn FnMut(Stream, Vec<u8>)) -> std::io::Result<i32> {
    pump(child, sink, None)
}

/// Maps a spawn error to the shell's exit code for it, if it has one.
pub fn spawn_error_code(err: &std::io::Error) -> Option<i32> {
    match err.kind() {
        ErrorKind::NotFound => Some(EXIT_NOT_FOUND),
        ErrorKind::PermissionDenied => Some(EXIT_NOT_EXECUTABLE),
        _ => None,
    }
}

struct Pipe<R> {
    reader: Option<R>,
    stream: Stream,
}

impl<R: Read + AsRawFd> Pipe<R> {
    fn fd(&self) -> RawFd {
        self.reader.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// Reads until the pipe is empty (or `max_reads` reads). Closes it at EOF.
    fn drain(
        &mut self,
        buf: &mut Vec<u8>,
        sink: &mut dyn FnMut(Stream, Vec<u8>),
        max_reads: usize,
    ) {
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

/// Chunks at least this large are handed over in the read buffer itself (no copy); smaller
/// ones are copied out so the big buffer can be reused.
const HAND_OVER: usize = 64 * 1024;

fn take_chunk(buf: &mut Vec<u8>, n: usize) -> Vec<u8> {
    if n >= HAND_OVER {
        let mut full = std::mem::replace(buf, vec![0u8; CHUNK]);
        full.truncate(n);
        full
    } else {
        buf[..n].to_vec()
    }
}

fn prepare_pipe(fd: RawFd) {
    // SAFETY: plain fcntl calls on a descriptor we own.
    unsafe {
        libc::fcntl(fd, libc::F_SETPIPE_SZ, CHUNK as libc::c_int);
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just returned this descriptor to us.
    Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn pump(
    child: &mut Child,
    sink: &mut dyn FnMut(Stream, Vec<u8>),
    mut feed: Option<&mut StdinFeed<'_>>,
) -> std::io::Result<i32> {
    let mut out = Pipe::<ChildStdout> {
        reader: child.stdout.take(),
        stream: Stream::Stdout,
    };
    let mut err = Pipe::<ChildStderr> {
        reader: child.stderr.take(),
        stream: Stream::Stderr,
    };
    for fd in [out.fd(), err.fd()] {
        if fd >= 0 {
            prepare_pipe(fd);
        }
    }
    let pidfd = pidfd_open(child.id() as i32);
    let mut buf = vec![0u8; CHUNK];
    let status = loop {
        let [(wake, wake_ev), (stdin, stdin_ev)] =
            feed.as_ref().map_or([(-1, 0), (-1, 0)], |f| f.poll_fds());
        let mut fds = [
            poll_fd(out.fd()),
            poll_fd(err.fd()),
            poll_fd(pidfd.as_ref().map_or(-1, AsRawFd::as_raw_fd)),
            libc::pollfd {
                fd: wake,
                events: wake_ev,
                revents: 0,
            },
            libc::pollfd {
                fd: stdin,
                events: stdin_ev,
                revents: 0,
            },
        ];
        // Without a pidfd (old kernels), fall back to checking for the exit periodically.
        let mut timeout = if pidfd.is_some() { -1 } else { 20 };
        if let Some(f) = &feed {
            let wanted = f.timeout_ms(Instant::now());
            if wanted >= 0 && (timeout < 0 || wanted < timeout) {
                timeout = wanted;
            }
        }
        // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        // A few reads per stream per round keep both streams flowing fairly.
        if fds[0].revents != 0 {
            out.drain(&mut buf, sink, 4);
        }
        if fds[1].revents != 0 {
            err.drain(&mut buf, sink, 4);
        }
        if pidfd.is_none() || fds[2].revents != 0 {
            if let Some(status) = child.try_wait()? {
                break status;
            }
        }
        if let Some(f) = feed.as_mut() {
            f.service(&mut || {
                out.drain(&mut buf, sink, usize::MAX);
                err.drain(&mut buf, sink, usize::MAX);
            });
        }
    };
    // The child is gone: everything it wrote is in the pipes now.
    out.drain(&mut buf, sink, usize::MAX);
    err.drain(&mut buf, sink, usize::MAX);
    abandon(out.reader.take(), err.reader.take());
    Ok(exit_code(status))
}

fn poll_fd(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// Keeps reading pipes that background grandchildren still hold open, discarding the output,
/// so those processes do not die of SIGPIPE when the task ends.
fn abandon(out: Option<ChildStdout>, err: Option<ChildStderr>) {
    if out.is_none() && err.is_none() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("orphan-output".into())
        .spawn(move || {
            let mut discarded = 0usize;
            let mut buf = vec![0u8; 64 * 1024];
            let mut pipes: Vec<Box<dyn ReadFd + Send>> = Vec::new();
            if let Some(o) = out {
                pipes.push(Box::new(o));
            }
            if let Some(e) = err {
                pipes.push(Box::new(e));
            }
            while !pipes.is_empty() {
                let mut fds: Vec<libc::pollfd> = pipes.iter().map(|p| poll_fd(p.raw())).collect();
                // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
                let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
                if rc < 0 {
                    continue;
                }
                let mut i = 0;
                pipes.retain_mut(|p| {
                    let ready = fds[i].revents != 0;
                    i += 1;
                    if !ready {
                        return true;
                    }
                    match p.read(&mut buf) {
                        Ok(0) => false,
                        Ok(n) => {
                            discarded += n;
                            true
                        }
                        Err(e) => matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted),
                    }
                });
            }
            if discarded > 0 {
                tracing::debug!("discarded {discarded} bytes written by background processes after their task ended");
            }
        });
    if let Err(e) = spawned {
        tracing::debug!("cannot start the orphan-output drainer: {e}");
    }
}

trait ReadFd: Read {
    fn raw(&self) -> RawFd;
}

impl<T: Read + AsRawFd> ReadFd for T {
    fn raw(&self) -> RawFd {
        self.as_raw_fd()
    }
}

/// Runs `spawn` and collects its output instead of streaming it.
pub fn capture(spawn: &Spawn, groups: &Groups) -> std::io::Result<(i32, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = run(spawn, groups, &mut |stream, data| match stream {
        Stream::Stdout => out.extend_from_slice(&data),
        Stream::Stderr => err.extend_from_slice(&data),
    })?;
    Ok((code, out, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(line: &str) -> Spawn {
        Spawn {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), line.into()],
            env: std::env::vars().collect(),
            cwd: None,
        }
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        let groups = Groups::default();
        assert_eq!(capture(&sh("exit 3"), &groups).map(|r| r.0).ok(), Some(3));
        assert_eq!(
            capture(&sh("kill -TERM $$"), &groups).map(|r| r.0).ok(),
            Some(143)
        );
    }

    #[test]
    fn output_is_complete_and_separated() {
        let groups = Groups::default();
        let (code, out, err) =
            capture(&sh("head -c 3000000 /dev/zero; echo oops >&2"), &groups).expect("run");
        assert_eq!(code, 0);
        assert_eq!(out.len(), 3_000_000);
        assert_eq!(err, b"oops\n");
    }

    #[test]
    fn background_children_do_not_hold_the_task() {
        let groups = Groups::default();
        let start = std::time::Instant::now();
        let (code, out, _) = capture(&sh("sleep 5 & echo done"), &groups).expect("run");
        assert_eq!((code, out.as_slice()), (0, &b"done\n"[..]));
        assert!(start.elapsed() < Duration::from_secs(4));
    }

    #[test]
    fn interactive_stdin_gets_queued_input_when_read() {
        let groups = Groups::default();
        let queue = InputQueue::default();
        queue.push("hello".into());
        let announce = || panic!("queued input must not be announced");
        let mut out = Vec::new();
        let code = run_with(
            &sh("read x; echo got $x"),
            &groups,
            Stdin::Interactive {
                queue: &queue,
                announce: &announce,
            },
            &mut |_, data| out.extend_from_slice(&data),
        )
        .expect("run");
        assert_eq!((code, out.as_slice()), (0, &b"got hello\n"[..]));
    }

    #[test]
    fn missing_program_is_not_found() {
        let groups = Groups::default();
        let spawn = Spawn {
            program: "/nonexistent/program".into(),
            ..sh("")
        };
        let err = capture(&spawn, &groups).expect_err("must fail");
        assert_eq!(spawn_error_code(&err), Some(127));
    }
}
