//! Output of background processes that outlive their task.
//!
//! A task ends when its main process exits, but a child it left running in the background
//! (`sleep 60 &`) may still hold the stdout and stderr pipes. Closing them would kill it with
//! SIGPIPE at its next write, and forwarding its output would attribute it to the next task.
//! So a detached thread keeps reading those pipes until the last writer closes them, and
//! discards what it reads.

use std::io::{ErrorKind, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::process::{ChildStderr, ChildStdout};

use crate::sys;

trait ReadFd: Read + Send {
    fn raw(&self) -> RawFd;
}

impl<T: Read + AsRawFd + Send> ReadFd for T {
    fn raw(&self) -> RawFd {
        self.as_raw_fd()
    }
}

/// Keeps reading (and discarding) the pipes that are still open, on a detached thread.
pub(crate) fn discard(out: Option<ChildStdout>, err: Option<ChildStderr>) {
    let mut pipes: Vec<Box<dyn ReadFd>> = Vec::new();
    if let Some(o) = out {
        pipes.push(Box::new(o));
    }
    if let Some(e) = err {
        pipes.push(Box::new(e));
    }
    if pipes.is_empty() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("orphan-output".into())
        .spawn(move || drain(pipes));
    if let Err(e) = spawned {
        tracing::debug!("cannot start the orphan-output drainer: {e}");
    }
}

fn drain(mut pipes: Vec<Box<dyn ReadFd>>) {
    let mut discarded = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    while !pipes.is_empty() {
        let mut fds: Vec<libc::pollfd> = pipes
            .iter()
            .map(|p| sys::poll_fd(p.raw(), libc::POLLIN))
            .collect();
        if sys::poll(&mut fds, -1).is_err() {
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
        tracing::debug!(
            "discarded {discarded} bytes written by background processes after their task ended"
        );
    }
}
