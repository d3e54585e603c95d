//! Interactive input: text from `input` ops, and everything that hands it to a reader.
//!
//! - [`queue`]: the input queue all readers share ([`InputQueue`]); early input waits there
//!   for the next request, and interrupts and shutdown cancel waiting requests.
//! - [`feed`]: the feeder of a task's stdin pipe ([`StdinFeed`]), which asks the agent only
//!   when a program is really blocked reading it.
//! - [`watch`], [`walk`] and [`syscalls`]: how that is known, from `/proc`, at a bounded cost.
//! - [`side_channel`]: the user-input socket of images with the old input hooks;
//!   [`socket_path`]: binding it so that no other user can hold it or connect to it.
//!
//! docs/protocol.md §2.5, §5.5 and §5.6 describe the behaviour.

mod feed;
mod queue;
mod side_channel;
mod socket_path;
mod syscalls;
mod walk;
mod watch;

pub(crate) use feed::StdinFeed;
pub(crate) use queue::{Cancelled, InputQueue, EOF_MARK};
pub(crate) use side_channel::InputSockets;

#[cfg(test)]
mod tests;
