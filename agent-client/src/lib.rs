//! The agent's side of krunner's wire protocol (docs/protocol.md §1, §3).
//!
//! Everything that talks to a runner the way the Backend.AI agent does goes through this crate:
//! `krunner run` and `krunner plugins test` in the host, the end-to-end tests and the
//! benchmark. Keeping one client means one place that knows the frame layout, the socket
//! options and how a private runner is started and stopped.
//!
//! - [`Client`] connects a PUSH socket to the runner's ops port and a PULL socket to its
//!   results port, sends two-frame ops and receives two-frame messages.
//! - [`Message`], [`RawMessage`] and [`Outcome`] are what comes back; [`decode_status`] checks
//!   the msgpack reply to `status`.
//! - [`LocalRunner`] starts a private runner on free loopback ports, waits until it answers
//!   `status`, and stops it (SIGTERM, then SIGKILL) when dropped; [`KrunnerCommand`] builds
//!   the command line of a krunner serving on given ports.
//!
//! Errors are [`ClientError`]: nothing the runner sends makes this crate panic, except
//! [`Message::json`], which exists to assert that a payload is JSON.

mod client;
mod command;
mod error;
mod message;
mod ports;
mod process;
mod runner;
mod status;

pub use client::{Client, ClientOptions};
pub use command::{InputSocket, KrunnerCommand};
pub use error::ClientError;
pub use message::{is_terminal_kind, Message, Outcome, RawMessage};
pub use ports::{free_port, Ports};
pub use process::{RunnerProcess, Termination};
pub use runner::{LaunchOptions, LocalRunner};
pub use status::{decode_status, StatusError};
