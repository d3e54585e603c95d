//! The agent's wire protocol: decoding ops, encoding messages, and the sockets.
//!
//! - [`ops`]: inbound frames → [`Op`] (pure).
//! - [`msg`]: [`Msg`] → outbound frames (pure).
//! - [`outbox`]: the one ordered queue to the agent ([`Outbox`]).
//! - [`socket`] and [`socket_thread`]: binding the two ZeroMQ sockets and the thread that owns
//!   them.
//!
//! docs/protocol.md §1–§3 describe the protocol itself.

mod msg;
mod ops;
mod outbox;
mod socket;
mod socket_thread;

pub(crate) use msg::{validate_media, Finish, Msg, ServiceResult};
pub(crate) use ops::{decode, Op};
pub(crate) use outbox::Outbox;
pub(crate) use socket::{Endpoints, FastPath, Frames, Transport};
pub(crate) use socket_thread::on_socket_thread;
