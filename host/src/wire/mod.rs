//! The agent's wire protocol: decoding ops, encoding messages, and the sockets.
//!
//! - [`ops`]: inbound frames → [`Op`] (pure).
//! - [`msg`]: [`Msg`] → outbound frames (pure).
//! - [`outbox`]: the one ordered queue to the agent ([`Outbox`]).
//! - [`socket`] and [`socket_thread`]: binding the two ZeroMQ sockets and the thread that owns
//!   them; [`receive`]: taking one op off the ops socket, within the size limit.
//! - [`gate`]: the inbound budget that bounds everything the host holds of what the agent
//!   sent; [`limits`]: every bound, in one place.
//!
//! docs/protocol.md §1–§3 describe the protocol itself.

mod gate;
mod limits;
mod msg;
mod ops;
mod outbox;
mod receive;
mod socket;
mod socket_thread;

pub(crate) use gate::Held;
pub(crate) use limits::DEFAULT_MAX_MESSAGE;
pub(crate) use limits::{parse_size, Limits, QUEUED_INPUTS};
pub(crate) use msg::{validate_media, Finish, Msg, ServiceResult};
pub(crate) use ops::{decode, decode_private, Op, Payload, UNKNOWN_COMPLETENESS};
pub(crate) use outbox::{never_block_here, Outbox};
#[cfg(feature = "fuzzing")]
pub(crate) use receive::Body;
pub(crate) use receive::Inbound;
pub(crate) use socket::{Endpoints, Transport};
pub(crate) use socket_thread::on_socket_thread;
