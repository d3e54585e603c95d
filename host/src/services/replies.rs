//! Replies that must leave in request order although their requests finish out of order.
//!
//! The agent matches `service-result` (and `model-service-result`) replies FIFO, with no ids,
//! yet service starts run concurrently: a quick start must not wait behind another service's
//! 30-second port wait. Each request therefore reserves a slot here when it arrives; the
//! slot is filled whenever its start finishes, and one task sends the filled slots strictly in
//! reservation order. A slot dropped unfilled (a panicked task) still produces its fallback
//! reply, so every request gets exactly one answer.

use tokio::sync::{mpsc, oneshot};

use crate::wire::{Msg, Outbox};

struct Pending {
    reply: oneshot::Receiver<Msg>,
    sent: oneshot::Sender<()>,
    fallback: Msg,
}

/// An ordered reply queue for one message type.
#[derive(Clone)]
pub(crate) struct ReplyQueue {
    tx: mpsc::UnboundedSender<Pending>,
}

/// The place of one reply in its queue.
pub(crate) struct ReplySlot {
    reply: oneshot::Sender<Msg>,
    sent: oneshot::Receiver<()>,
}

impl ReplyQueue {
    /// Starts the sending task on the current tokio runtime.
    pub(crate) fn start(outbox: Outbox) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Pending>();
        tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                let msg = p.reply.await.unwrap_or(p.fallback);
                outbox.send(msg);
                let _ = p.sent.send(());
            }
        });
        Self { tx }
    }

    /// Reserves the next place; `fallback` is sent if the slot is dropped unfilled.
    pub(crate) fn reserve(&self, fallback: Msg) -> ReplySlot {
        let (reply_tx, reply_rx) = oneshot::channel();
        let (sent_tx, sent_rx) = oneshot::channel();
        let pending = Pending {
            reply: reply_rx,
            sent: sent_tx,
            fallback,
        };
        if self.tx.send(pending).is_err() {
            tracing::debug!("reply queue closed (shutting down)");
        }
        ReplySlot {
            reply: reply_tx,
            sent: sent_rx,
        }
    }
}

impl ReplySlot {
    /// Fills the slot.
    pub(crate) fn send(self, msg: Msg) {
        let _ = self.reply.send(msg);
    }

    /// Fills the slot; the returned receiver resolves once the reply has been queued for the
    /// agent (after every earlier reply), for messages that must follow it.
    pub(crate) fn send_confirmed(self, msg: Msg) -> oneshot::Receiver<()> {
        let _ = self.reply.send(msg);
        self.sent
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::ServiceResult;

    #[test]
    fn slots_are_sent_in_reservation_order() {
        // The queue only needs an Outbox to send to; check ordering through the oneshots.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, mut rx) = mpsc::unbounded_channel::<Pending>();
            let q = ReplyQueue { tx };
            let a = q.reserve(Msg::ServiceResult(ServiceResult::failed("a")));
            let b = q.reserve(Msg::ServiceResult(ServiceResult::failed("b")));
            b.send(Msg::ServiceResult(ServiceResult::started()));
            drop(a);
            let first = rx.recv().await.unwrap();
            assert_eq!(
                first.reply.await.unwrap_or(first.fallback),
                Msg::ServiceResult(ServiceResult::failed("a"))
            );
            let second = rx.recv().await.unwrap();
            assert_eq!(
                second.reply.await.unwrap_or(second.fallback),
                Msg::ServiceResult(ServiceResult::started())
            );
        });
    }
}
