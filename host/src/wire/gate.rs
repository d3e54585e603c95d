//! The inbound budget: how much of what the agent sent the host holds at once.
//!
//! Every op taken from the ops socket is charged here, by count and by bytes, until the host
//! is done with it: a task's op until the task has run, a request until its reply has been
//! handed to ZeroMQ, any other op until the dispatcher has handled it. The socket thread takes
//! the next op only while the budget has room, so a flood waits in ZeroMQ and then in the
//! agent's own socket, whose high-water mark pushes back (docs/protocol.md §1.5). Queues
//! behind the socket thread therefore need no bounds of their own: everything in them is
//! charged here.
//!
//! A charge is a [`Held`] value; dropping it gives the budget back, and wakes the socket
//! thread if it is waiting for room.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::sys::EventFd;

/// The budget.
pub(crate) struct Gate {
    ops: AtomicUsize,
    bytes: AtomicUsize,
    max_ops: usize,
    max_bytes: usize,
    /// Set while the socket thread waits for room; a release then wakes it.
    waiting: AtomicBool,
    wake: Arc<EventFd>,
}

impl Gate {
    /// A budget of `max_ops` ops and `max_bytes` bytes; `wake` is signalled when room appears
    /// while the socket thread waits for it.
    pub(crate) fn new(max_ops: usize, max_bytes: usize, wake: Arc<EventFd>) -> Self {
        Self {
            ops: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            max_ops,
            max_bytes,
            waiting: AtomicBool::new(false),
            wake,
        }
    }

    /// Charges one op of `bytes`. Charging never fails: the caller asked [`Gate::has_room`]
    /// before taking the op, so the budget is exceeded by at most one op.
    pub(crate) fn charge(self: &Arc<Self>, bytes: usize) -> Held {
        self.ops.fetch_add(1, Ordering::SeqCst);
        self.bytes.fetch_add(bytes, Ordering::SeqCst);
        Held {
            gate: Some(Arc::clone(self)),
            bytes,
        }
    }

    /// Whether another op may be taken.
    pub(crate) fn has_room(&self) -> bool {
        self.ops.load(Ordering::SeqCst) < self.max_ops
            && self.bytes.load(Ordering::SeqCst) < self.max_bytes
    }

    /// For the socket thread: whether another op may be taken now. When not, the next release
    /// signals the wake-up descriptor.
    pub(crate) fn room_or_wait(&self) -> bool {
        if self.has_room() {
            return true;
        }
        self.waiting.store(true, Ordering::SeqCst);
        // A release between the first look and the flag would not have woken us.
        if self.has_room() {
            self.waiting.store(false, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// What is held now: (ops, bytes).
    #[cfg(test)]
    pub(crate) fn held(&self) -> (usize, usize) {
        (
            self.ops.load(Ordering::SeqCst),
            self.bytes.load(Ordering::SeqCst),
        )
    }

    fn release(&self, bytes: usize) {
        self.ops.fetch_sub(1, Ordering::SeqCst);
        self.bytes.fetch_sub(bytes, Ordering::SeqCst);
        if self.waiting.swap(false, Ordering::SeqCst) {
            self.wake.notify();
        }
    }
}

/// One op's share of the budget, given back when dropped.
#[derive(Default)]
pub(crate) struct Held {
    gate: Option<Arc<Gate>>,
    bytes: usize,
}

impl Held {
    /// A charge of nothing (work the agent did not send, such as `bootstrap.sh`).
    pub(crate) fn none() -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Held({} bytes)", self.bytes)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            gate.release(self.bytes);
        }
    }
}

/// The replies the agent is owed, per reply type, in request order. A request's charge is
/// kept here until its reply is handed to ZeroMQ: the agent matches replies to requests by
/// order alone, so the n-th reply of a type settles the n-th request of that type.
#[derive(Default)]
pub(crate) struct Owed {
    /// One queue per entry of [`REPLIES`], then one for [`PRIVATE_REPLY`].
    queues: [VecDeque<Held>; REPLIES.len() + 1],
    /// Whether the console's private op is accepted (and so owes a reply).
    private_ops: bool,
}

/// The ops that owe a reply, and the type of that reply.
const REPLIES: [(&[u8], &[u8]); 5] = [
    (b"status", b"status"),
    (b"complete", b"completion"),
    (b"start-service", b"service-result"),
    (b"get-apps", b"apps-result"),
    (b"start-model-service", b"model-service-result"),
];

/// The console's private op and its reply (docs/protocol.md §2.11): owed only by a runner
/// started with `--console-ops`; for any other it is an unknown op, answered by nothing.
const PRIVATE_REPLY: (&[u8], &[u8]) = (b"krunner/is-complete", b"krunner/is-complete-reply");

impl Owed {
    /// The replies owed by a runner that accepts the console's private op or not.
    pub(crate) fn new(private_ops: bool) -> Self {
        Self {
            private_ops,
            ..Self::default()
        }
    }

    /// The queue of the requests that `matches` picks (by op or by reply type).
    fn queue(&self, matches: impl Fn((&[u8], &[u8])) -> bool) -> Option<usize> {
        REPLIES
            .iter()
            .position(|pair| matches(*pair))
            .or_else(|| (self.private_ops && matches(PRIVATE_REPLY)).then_some(REPLIES.len()))
    }

    /// Whether a message of `parts` frames named `op` owes a reply (a message that is not
    /// two frames is dropped and owes nothing, docs/protocol.md §1.4).
    pub(crate) fn owes_reply(&self, op: &[u8], parts: usize) -> bool {
        parts == 2 && self.queue(|(o, _)| o == op).is_some()
    }

    /// Keeps `held` until the reply to `op` leaves. Ops that owe nothing give it back.
    pub(crate) fn expect(&mut self, op: &[u8], held: Held) {
        if let Some(i) = self.queue(|(o, _)| o == op) {
            self.queues[i].push_back(held);
        }
    }

    /// A message of type `kind` was handed to ZeroMQ: if it is a reply, its request's charge
    /// is given back.
    pub(crate) fn settle(&mut self, kind: &[u8]) {
        if let Some(i) = self.queue(|(_, r)| r == kind) {
            self.queues[i].pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(ops: usize, bytes: usize) -> Arc<Gate> {
        Arc::new(Gate::new(
            ops,
            bytes,
            Arc::new(EventFd::new().expect("eventfd")),
        ))
    }

    #[test]
    fn room_by_count_and_by_bytes() {
        let g = gate(2, 100);
        let a = g.charge(10);
        assert!(g.has_room());
        let b = g.charge(10);
        assert!(!g.has_room(), "two ops fill a budget of two");
        drop(a);
        assert!(g.has_room());
        let c = g.charge(200);
        assert!(!g.has_room(), "bytes over the budget");
        drop((b, c));
        assert_eq!(g.held(), (0, 0));
    }

    #[test]
    fn a_release_wakes_a_waiting_socket_thread() {
        let wake = Arc::new(EventFd::new().expect("eventfd"));
        let g = Arc::new(Gate::new(1, 100, Arc::clone(&wake)));
        let held = g.charge(1);
        assert!(!g.room_or_wait());
        let mut fds = [crate::sys::poll_fd(wake.raw(), libc::POLLIN)];
        assert_eq!(crate::sys::poll(&mut fds, 0).expect("poll"), 0);
        drop(held);
        assert_eq!(crate::sys::poll(&mut fds, 0).expect("poll"), 1);
        assert!(g.room_or_wait());
    }

    #[test]
    fn replies_settle_requests_of_their_type_in_order() {
        let g = gate(10, 100);
        let mut owed = Owed::new(false);
        assert!(owed.owes_reply(b"complete", 2));
        assert!(!owed.owes_reply(b"complete", 3));
        assert!(!owed.owes_reply(b"exec", 2));
        assert!(!owed.owes_reply(b"krunner/is-complete", 2));
        owed.expect(b"complete", g.charge(5));
        owed.expect(b"status", g.charge(0));
        owed.expect(b"exec", g.charge(7));
        assert_eq!(g.held(), (2, 5), "an op that owes nothing is not kept");
        owed.settle(b"stdout");
        owed.settle(b"status");
        assert_eq!(g.held(), (1, 5));
        owed.settle(b"completion");
        assert_eq!(g.held(), (0, 0));
        owed.settle(b"completion");
    }

    #[test]
    fn the_private_op_owes_a_reply_only_where_it_is_accepted() {
        let g = gate(10, 100);
        let mut agents = Owed::new(false);
        agents.expect(b"krunner/is-complete", g.charge(3));
        assert_eq!(g.held(), (0, 0), "an unknown op owes nothing");
        let mut consoles = Owed::new(true);
        assert!(consoles.owes_reply(b"krunner/is-complete", 2));
        consoles.expect(b"krunner/is-complete", g.charge(3));
        consoles.expect(b"complete", g.charge(4));
        assert_eq!(g.held(), (2, 7));
        consoles.settle(b"krunner/is-complete-reply");
        assert_eq!(g.held(), (1, 4));
        consoles.settle(b"completion");
        assert_eq!(g.held(), (0, 0));
    }
}
