//! The one error type of the crate, so callers handle socket failures, protocol violations
//! by the runner and a runner that does not start alike. Messages name what was attempted
//! and where (endpoint, op, program); the underlying error is the `source`.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use crate::status::StatusError;

/// Why talking to a runner, or starting one, failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A ZeroMQ socket could not be created or configured.
    #[error("cannot set up the ZeroMQ {socket} socket ({step})")]
    Socket {
        /// `PUSH` or `PULL`.
        socket: &'static str,
        /// What was being done (`create`, `set linger`, ...).
        step: &'static str,
        /// The ZeroMQ error.
        #[source]
        source: zmq::Error,
    },
    /// Connecting to an endpoint failed.
    #[error("cannot connect to {endpoint}")]
    Connect {
        /// The endpoint, e.g. `tcp://127.0.0.1:2000`.
        endpoint: String,
        /// The ZeroMQ error.
        #[source]
        source: zmq::Error,
    },
    /// Sending an op (or raw frames) failed.
    #[error("cannot send {what} to {endpoint}")]
    Send {
        /// The op, or `frames` for raw frames.
        what: String,
        /// The ops endpoint.
        endpoint: String,
        /// The ZeroMQ error.
        #[source]
        source: zmq::Error,
    },
    /// Waiting for or reading a message failed.
    #[error("cannot receive from {endpoint}")]
    Recv {
        /// The results endpoint.
        endpoint: String,
        /// The ZeroMQ error.
        #[source]
        source: zmq::Error,
    },
    /// The runner sent a message that is not two frames.
    #[error(
        "the runner sent a message of {frames} frame(s); the protocol has two: type and payload"
    )]
    FrameCount {
        /// How many frames arrived.
        frames: usize,
    },
    /// The runner sent a type frame that is not UTF-8.
    #[error("the runner sent a message type that is not UTF-8: {kind:?}")]
    KindNotUtf8 {
        /// The type frame, lossily decoded.
        kind: String,
    },
    /// A payload that should be JSON is not.
    #[error("the {kind} payload is not JSON: {text:?}")]
    NotJson {
        /// The message type.
        kind: String,
        /// The payload, lossily decoded.
        text: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The reply to `status` does not have its exact shape.
    #[error("the status reply is malformed")]
    Status(#[from] StatusError),
    /// No free loopback port could be found.
    #[error("cannot find a free loopback port")]
    FreePort(#[source] std::io::Error),
    /// The runner process could not be started.
    #[error("cannot start the runner {}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Checking on the runner process failed.
    #[error("cannot check on the runner process {pid}")]
    Wait {
        /// Its pid.
        pid: i32,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The runner exited before it answered `status`.
    #[error("the runner exited during startup ({status})")]
    ExitedDuringStartup {
        /// How it exited.
        status: ExitStatus,
    },
    /// The runner did not answer `status` in time.
    #[error("the runner did not answer `status` within {} s", timeout.as_secs_f64())]
    NotReady {
        /// How long it was given.
        timeout: Duration,
    },
}
