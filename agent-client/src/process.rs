//! A runner process that cannot outlive its owner. The agent stops a runner with SIGTERM
//! (docs/protocol.md §5.11); a runner that has not exited after a grace
//! period gets SIGKILL. Dropping a [`RunnerProcess`] does the same, so a failing test or an
//! error in `krunner run` never leaves a runner behind.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::error::ClientError;

/// How a runner ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Termination {
    /// Its exit code; `None` when a signal ended it (also after the SIGKILL of the grace
    /// period).
    pub code: Option<i32>,
    /// From SIGTERM to the exit.
    pub took: Duration,
    /// Whether the grace period ran out and it got SIGKILL.
    pub killed: bool,
}

/// A started runner process (or any process to be stopped the way a runner is).
#[derive(Debug)]
pub struct RunnerProcess {
    child: Option<Child>,
    grace: Duration,
}

impl RunnerProcess {
    /// The grace period between SIGTERM and SIGKILL unless [`RunnerProcess::grace`] sets one.
    pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

    /// Starts `command`.
    pub fn spawn(command: &mut Command) -> Result<Self, ClientError> {
        let child = command.spawn().map_err(|source| ClientError::Spawn {
            program: command.get_program().into(),
            source,
        })?;
        Ok(Self {
            child: Some(child),
            grace: Self::DEFAULT_GRACE,
        })
    }

    /// Sets how long it may take to exit after SIGTERM before it gets SIGKILL.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Its pid; `None` once [`RunnerProcess::terminate`] has collected it.
    pub fn pid(&self) -> Option<i32> {
        let child = self.child.as_ref()?;
        i32::try_from(child.id()).ok()
    }

    /// How it exited, if it has (without waiting).
    pub fn try_wait(&mut self) -> Result<Option<std::process::ExitStatus>, ClientError> {
        let Some(child) = self.child.as_mut() else {
            return Ok(None);
        };
        let pid = i32::try_from(child.id()).unwrap_or(-1);
        child
            .try_wait()
            .map_err(|source| ClientError::Wait { pid, source })
    }

    /// Sends SIGTERM and waits for the exit, with SIGKILL after the grace period. `None` when
    /// it was already terminated.
    pub fn terminate(&mut self) -> Option<Termination> {
        let mut child = self.child.take()?;
        let started = Instant::now();
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: signalling our own child, which is not reaped yet (so the pid is ours).
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(Termination {
                    code: status.code(),
                    took: started.elapsed(),
                    killed: false,
                });
            }
            if started.elapsed() > self.grace {
                let _ = child.kill();
                let _ = child.wait();
                return Some(Termination {
                    code: None,
                    took: started.elapsed(),
                    killed: true,
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for RunnerProcess {
    fn drop(&mut self) {
        self.terminate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminate_reports_the_exit_once() {
        let mut p = RunnerProcess::spawn(Command::new("sleep").arg("30")).expect("sleep");
        assert!(p.pid().is_some());
        assert_eq!(p.try_wait().expect("try_wait"), None);
        let end = p.terminate().expect("running");
        assert_eq!(end.code, None, "SIGTERM ends sleep");
        assert!(!end.killed);
        assert_eq!(p.pid(), None);
        assert_eq!(p.terminate(), None);
    }

    #[test]
    fn sigkill_after_the_grace_period() {
        let mut command = Command::new("sh");
        command.args(["-c", "trap '' TERM; echo ready; sleep 30"]);
        command.stdout(std::process::Stdio::piped());
        let mut p = RunnerProcess::spawn(&mut command)
            .expect("sh")
            .grace(Duration::from_millis(100));
        // Wait until the trap is installed.
        let mut out = p
            .child
            .as_mut()
            .and_then(|c| c.stdout.take())
            .expect("stdout");
        let mut line = [0u8; 6];
        std::io::Read::read_exact(&mut out, &mut line).expect("ready");
        let end = p.terminate().expect("running");
        assert!(end.killed);
        assert_eq!(end.code, None);
    }

    #[test]
    fn spawn_errors_name_the_program() {
        let err = RunnerProcess::spawn(&mut Command::new("/nonexistent/krunner"))
            .expect_err("no such program");
        assert_eq!(
            err.to_string(),
            "cannot start the runner /nonexistent/krunner"
        );
    }
}
