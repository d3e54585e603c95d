//! A private runner: started on free loopback ports, connected, and ready once it answers
//! `status` (docs/protocol.md §5.10). Free ports are only free until someone
//! binds them, so a start that fails (the runner exits, or never answers) is retried on new
//! ports a few times.

use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::client::{Client, ClientOptions};
use crate::error::ClientError;
use crate::ports::Ports;
use crate::process::{RunnerProcess, Termination};

/// How to start a private runner.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    /// How to connect to it.
    pub client: ClientOptions,
    /// Starts tried before giving up (at least one).
    pub attempts: u32,
    /// How long one start may take to answer `status`.
    pub ready_timeout: Duration,
    /// How often a start checks that the runner is still alive while it waits.
    pub poll_interval: Duration,
    /// Grace period between SIGTERM and SIGKILL when it is stopped.
    pub grace: Duration,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        Self {
            client: ClientOptions::default(),
            attempts: 3,
            ready_timeout: Duration::from_secs(20),
            poll_interval: Duration::from_millis(50),
            grace: RunnerProcess::DEFAULT_GRACE,
        }
    }
}

/// A private runner process and a client connected to it; the runner is stopped (SIGTERM,
/// then SIGKILL after the grace period) when this is dropped.
#[derive(Debug)]
pub struct LocalRunner {
    // Declared first: stopped before the client's sockets close.
    process: RunnerProcess,
    client: Client,
    ports: Ports,
}

impl LocalRunner {
    /// Starts the runner `command` builds for a pair of free ports (see
    /// [`crate::KrunnerCommand::command`]), connects, and waits until it answers `status`.
    /// The `status` reply is consumed. The error of the last attempt is returned when none
    /// succeeds; a runner that cannot be spawned at all is not retried.
    pub fn launch(
        options: &LaunchOptions,
        mut command: impl FnMut(Ports) -> Command,
    ) -> Result<Self, ClientError> {
        let mut last = ClientError::NotReady {
            timeout: options.ready_timeout,
        };
        for _ in 0..options.attempts.max(1) {
            let ports = Ports::free()?;
            let process = RunnerProcess::spawn(&mut command(ports))?.grace(options.grace);
            let client = Client::connect(ports, &options.client)?;
            let mut runner = Self {
                process,
                client,
                ports,
            };
            match runner.wait_ready(options) {
                Ok(()) => return Ok(runner),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn wait_ready(&mut self, options: &LaunchOptions) -> Result<(), ClientError> {
        self.client.send("status", b"")?;
        let deadline = Instant::now() + options.ready_timeout;
        while Instant::now() < deadline {
            // Messages the runner sends on its own (log lines on stderr) may come first.
            if let Some(m) = self.client.recv(options.poll_interval)? {
                if m.kind == "status" {
                    return Ok(());
                }
            }
            if let Some(status) = self.process.try_wait()? {
                return Err(ClientError::ExitedDuringStartup { status });
            }
        }
        Err(ClientError::NotReady {
            timeout: options.ready_timeout,
        })
    }

    /// The connection.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The runner's ports.
    pub fn ports(&self) -> Ports {
        self.ports
    }

    /// The runner's pid; `None` once it was terminated.
    pub fn pid(&self) -> Option<i32> {
        self.process.pid()
    }

    /// How the runner exited, if it has (without waiting).
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, ClientError> {
        self.process.try_wait()
    }

    /// Stops the runner: SIGTERM, then SIGKILL after the grace period. `None` when it was
    /// already terminated.
    pub fn terminate(&mut self) -> Option<Termination> {
        self.process.terminate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> LaunchOptions {
        LaunchOptions {
            ready_timeout: Duration::from_millis(300),
            poll_interval: Duration::from_millis(10),
            ..LaunchOptions::default()
        }
    }

    #[test]
    fn a_runner_that_exits_is_retried_then_reported() {
        let mut starts = 0;
        let err = LocalRunner::launch(&quick(), |_| {
            starts += 1;
            let mut cmd = Command::new("sh");
            cmd.args(["-c", "exit 3"]);
            cmd
        })
        .expect_err("exits");
        assert_eq!(starts, 3);
        assert!(
            matches!(err, ClientError::ExitedDuringStartup { status } if status.code() == Some(3)),
            "{err}"
        );
    }

    #[test]
    fn a_runner_that_never_answers() {
        let options = LaunchOptions {
            attempts: 1,
            ..quick()
        };
        let err = LocalRunner::launch(&options, |_| {
            let mut cmd = Command::new("sleep");
            cmd.arg("30");
            cmd
        })
        .expect_err("silent");
        assert_eq!(
            err.to_string(),
            "the runner did not answer `status` within 0.3 s"
        );
    }

    #[test]
    fn an_echo_runner_is_ready() {
        // A stand-in runner: a thread binding the ports and answering `status`.
        let mut echo = None;
        let mut runner = LocalRunner::launch(&quick(), |ports| {
            echo = Some(std::thread::spawn(move || answer_status(ports)));
            let mut cmd = Command::new("sleep");
            cmd.arg("30");
            cmd
        })
        .expect("ready");
        let end = runner.terminate().expect("running");
        assert_eq!(end.code, None);
        assert_eq!(runner.pid(), None);
        echo.expect("started")
            .join()
            .expect("echo thread")
            .expect("answered");
    }

    fn answer_status(ports: Ports) -> Result<(), zmq::Error> {
        let ctx = zmq::Context::new();
        let pull = ctx.socket(zmq::PULL)?;
        let push = ctx.socket(zmq::PUSH)?;
        pull.bind(&format!("tcp://127.0.0.1:{}", ports.repl_in))?;
        push.bind(&format!("tcp://127.0.0.1:{}", ports.repl_out))?;
        let op = pull.recv_multipart(0)?;
        assert_eq!(op[0], b"status");
        push.send_multipart([&b"stderr"[..], b"log line"], 0)?;
        push.send_multipart([&b"status"[..], b"\x81"], 0)?;
        push.set_linger(1000)?;
        Ok(())
    }
}
