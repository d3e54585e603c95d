//! A child that leads its own process group, and the one place such a group is signalled.
//!
//! Signals go to the whole group (`killpg`), so a shell's children are interrupted with it. A
//! process group id is the leader's pid, and pids are reused: signalling a group after its
//! leader was reaped could hit an unrelated process that happens to get the same id. So a
//! [`Group`] keeps its leader unreaped (a zombie, which keeps the pid and the group id
//! reserved) until [`Group::reap`], and [`Group::signal`] and [`Group::reap`] take the same
//! lock: a signal is either sent before the reap or not at all. The exit is observed without
//! reaping (`waitid(WNOWAIT)`), and waited for through a pidfd where the kernel has one.
//!
//! Each group has exactly one *observer*, the thread that learns its exit and then reaps it:
//! the pump of a task ([`super::run`]), the watcher of an interpreter or a service. Anyone
//! else (the terminate ladder, a port wait) only waits for the exit.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::sys;

/// How often a wait without a pidfd looks again.
const RECHECK: Duration = Duration::from_millis(10);

/// A process group led by a child of the host.
pub(crate) struct Group {
    pid: i32,
    pidfd: Option<OwnedFd>,
    state: Mutex<State>,
    changed: Condvar,
}

struct State {
    /// The leader, until it is reaped.
    child: Option<Child>,
    /// Its exit, once known.
    status: Option<ExitStatus>,
}

impl Group {
    /// Takes charge of `child`, which must have been started in a new process group (see
    /// [`super::command`]) and whose stdout/stderr the caller has already taken if it wants
    /// them.
    pub(crate) fn new(child: Child) -> Arc<Self> {
        let pid = i32::try_from(child.id()).unwrap_or(0);
        Arc::new(Self {
            pid,
            pidfd: sys::pidfd_open(pid),
            state: Mutex::new(State {
                child: Some(child),
                status: None,
            }),
            changed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The leader's pid (also the group id).
    pub(crate) fn pid(&self) -> i32 {
        self.pid
    }

    /// A descriptor that becomes readable when the leader exits (pidfd), when the kernel has
    /// pidfds.
    pub(crate) fn exit_fd(&self) -> Option<i32> {
        self.pidfd.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// Sends `sig` to the group. Returns false (and sends nothing) once the leader has been
    /// reaped, or when no process of the group is left.
    pub(crate) fn signal(&self, sig: i32) -> bool {
        let state = self.lock();
        if state.child.is_none() {
            return false;
        }
        match sys::killpg(self.pid, sig) {
            Ok(()) => true,
            Err(e) => {
                if e.raw_os_error() != Some(libc::ESRCH) {
                    tracing::debug!("killpg({}, {sig}) failed: {e}", self.pid);
                }
                false
            }
        }
    }

    /// The leader's exit status if it has exited (without reaping it).
    pub(crate) fn try_exit(&self) -> Option<ExitStatus> {
        let mut state = self.lock();
        if state.status.is_none() && state.child.is_some() {
            match sys::wait_exited(self.pid, false) {
                Ok(status) => state.status = status,
                Err(e) => tracing::debug!("waitid({}) failed: {e}", self.pid),
            }
            if state.status.is_some() {
                self.changed.notify_all();
            }
        }
        state.status
    }

    /// Waits until the leader exits, at most `timeout`; returns its status if it did.
    pub(crate) fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit() {
                return Some(status);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            match &self.pidfd {
                Some(fd) => {
                    let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
                    let mut fds = [sys::poll_fd(fd.as_raw_fd(), libc::POLLIN)];
                    let _ = sys::poll(&mut fds, ms);
                }
                None => {
                    let state = self.lock();
                    let _ = self.changed.wait_timeout(state, left.min(RECHECK));
                }
            }
        }
    }

    /// Blocks until the leader exits (for the observer's watcher thread).
    pub(crate) fn wait_exit_forever(&self) -> io::Result<ExitStatus> {
        if let Some(status) = self.lock().status {
            return Ok(status);
        }
        // Not under the lock: this may take the whole life of the process. Only the observer
        // reaps, so the pid stays ours meanwhile.
        let status = sys::wait_exited(self.pid, true)?
            .ok_or_else(|| io::Error::other("waitid reported no exit"))?;
        self.lock().status = Some(status);
        self.changed.notify_all();
        Ok(status)
    }

    /// Reaps the leader (the observer calls this once the exit is known and nothing needs the
    /// group id any more). From now on [`Group::signal`] sends nothing.
    pub(crate) fn reap(&self) -> Option<ExitStatus> {
        let mut state = self.lock();
        if let Some(mut child) = state.child.take() {
            match child.wait() {
                Ok(status) => state.status = state.status.or(Some(status)),
                Err(e) => tracing::debug!("reaping {} failed: {e}", self.pid),
            }
        }
        self.changed.notify_all();
        state.status
    }

    /// Whether the leader has exited (as far as anyone has looked).
    pub(crate) fn exited(&self) -> bool {
        self.lock().status.is_some()
    }
}
