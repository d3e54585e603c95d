//! The outbound queue: the only way anything reaches the agent.
//!
//! Every message (task output, plugin output, forwarded log lines, replies, terminal
//! messages) goes through one [`Outbox`] to the socket thread, which is what keeps a task's
//! output ahead of its terminal message without any sleeps (docs/protocol.md §3.3). Replies to
//! side-channel requests take their own lane and overtake queued task output, because the
//! agent matches them on separate queues. Task output is bounded: when the agent reads slowly,
//! producers block, and the backpressure reaches the child processes through their pipes.

use std::sync::Arc;

use crossbeam_channel::Sender;

use super::msg::Msg;
use crate::sys::EventFd;

/// How many task-output messages may wait for the PUSH socket before producers block.
pub(crate) const DATA_QUEUE: usize = 256;

/// An item of the outbound queue.
pub(crate) enum Out {
    /// A message's two frames.
    Frames([Vec<u8>; 2]),
    /// The end marker: everything queued before it is sent, then the socket thread stops.
    Close,
}

/// The sending side of the outbound socket. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub(crate) struct Outbox {
    pub(super) data: Sender<Out>,
    pub(super) ctrl: Sender<Out>,
    pub(super) wakeup: Arc<EventFd>,
}

impl Outbox {
    /// Queues a message. Side-channel replies overtake queued task output; task output keeps
    /// its order.
    pub(crate) fn send(&self, msg: Msg) {
        let lane = if msg.is_reply() {
            &self.ctrl
        } else {
            &self.data
        };
        // The socket thread only goes away at the very end of shutdown; late messages drop.
        if lane.send(Out::Frames(msg.encode())).is_ok() {
            self.wakeup.notify();
        }
    }

    /// Queues the end marker: the socket thread sends everything queued before it, then stops.
    pub(super) fn close(&self) {
        if self.data.send(Out::Close).is_ok() {
            self.wakeup.notify();
        }
    }
}
