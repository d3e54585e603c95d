//! The outbound queue: the only way anything reaches the agent.
//!
//! Every message (task output, plugin output, forwarded log lines, replies, terminal
//! messages) goes through one [`Outbox`] to the socket thread, which is what keeps a task's
//! output ahead of its terminal message without any sleeps (docs/protocol.md §3.3). Replies to
//! side-channel requests take their own lane and overtake queued task output, because the
//! agent matches them on separate queues.
//!
//! Task output is bounded by count and by bytes ([`DATA_QUEUE`], [`DATA_BYTES`]): when the
//! agent reads slowly, producers wait, and the backpressure reaches the child processes through
//! their pipes. Only threads that may wait do: the threads marked with [`never_block_here`]
//! (the dispatcher's, which also runs shutdown and the signal handling) and every
//! [`Outbox::try_send`] caller (forwarded log lines) drop what does not fit, and count it.
//! Replies never wait: each one is owed to an op the inbound budget counts, so their lane
//! cannot fill ([`super::gate`]).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crossbeam_channel::{Sender, TrySendError};

use super::limits::{DATA_BYTES, DATA_QUEUE};
use super::msg::Msg;
use crate::logging::WIRE;
use crate::sys::EventFd;

/// A message's two frames.
pub(crate) type Encoded = [Vec<u8>; 2];

thread_local! {
    static NEVER_BLOCK: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as one that must never wait for the agent: its task-output
/// messages are dropped (and counted) when the queue is full.
pub(crate) fn never_block_here() {
    NEVER_BLOCK.with(|n| n.set(true));
}

fn may_block() -> bool {
    !NEVER_BLOCK.with(Cell::get)
}

/// The bytes of task output waiting for the socket thread.
pub(super) struct LaneBytes {
    state: Mutex<LaneState>,
    room: Condvar,
    limit: usize,
}

#[derive(Default)]
struct LaneState {
    used: usize,
    /// Producers waiting for room (a release wakes them only when there are some).
    waiting: usize,
}

impl LaneBytes {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            state: Mutex::default(),
            room: Condvar::new(),
            limit,
        }
    }

    fn lock(&self) -> MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `n` more bytes fit; a message larger than the whole budget fits an empty lane.
    fn fits(&self, used: usize, n: usize) -> bool {
        used == 0 || used + n <= self.limit
    }

    fn acquire(&self, n: usize) {
        let mut state = self.lock();
        while !self.fits(state.used, n) {
            state.waiting += 1;
            state = self.room.wait(state).unwrap_or_else(|e| e.into_inner());
            state.waiting -= 1;
        }
        state.used += n;
    }

    fn try_acquire(&self, n: usize) -> bool {
        let mut state = self.lock();
        let fits = self.fits(state.used, n);
        if fits {
            state.used += n;
        }
        fits
    }

    /// The socket thread took `n` bytes off the lane.
    pub(super) fn release(&self, n: usize) {
        let mut state = self.lock();
        state.used = state.used.saturating_sub(n);
        if state.waiting > 0 {
            self.room.notify_all();
        }
    }
}

/// Messages that never reached the socket thread because the queue was full.
#[derive(Default)]
pub(crate) struct Dropped {
    messages: AtomicU64,
    bytes: AtomicU64,
}

impl Dropped {
    fn record(&self, bytes: usize) {
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// (messages, bytes) dropped so far.
    pub(crate) fn total(&self) -> (u64, u64) {
        (
            self.messages.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// The sending side of the outbound socket. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub(crate) struct Outbox {
    pub(super) data: Sender<Encoded>,
    pub(super) ctrl: Sender<Encoded>,
    /// The most replies that may wait (concurrent senders may overshoot it by a few).
    reply_queue: usize,
    pub(super) bytes: Arc<LaneBytes>,
    pub(super) wakeup: Arc<EventFd>,
    pub(super) dropped: Arc<Dropped>,
}

/// The channels of a new outbound queue: the [`Outbox`] and the socket thread's ends. The
/// reply lane holds at most `reply_queue` messages; it grows only as far as it is used (an
/// array that size would cost memory for nothing: replies never come near it).
pub(super) fn channels(
    wakeup: Arc<EventFd>,
    reply_queue: usize,
) -> (
    Outbox,
    crossbeam_channel::Receiver<Encoded>,
    crossbeam_channel::Receiver<Encoded>,
) {
    let (data, data_rx) = crossbeam_channel::bounded(DATA_QUEUE);
    let (ctrl, ctrl_rx) = crossbeam_channel::unbounded();
    let outbox = Outbox {
        data,
        ctrl,
        reply_queue,
        bytes: Arc::new(LaneBytes::new(DATA_BYTES)),
        wakeup,
        dropped: Arc::default(),
    };
    (outbox, data_rx, ctrl_rx)
}

fn size(frames: &Encoded) -> usize {
    frames[0].len() + frames[1].len()
}

impl Outbox {
    /// Queues a message. Side-channel replies overtake queued task output and never wait;
    /// task output keeps its order and waits for room, except on a thread marked with
    /// [`never_block_here`], which drops it instead.
    pub(crate) fn send(&self, msg: Msg) {
        if msg.is_reply() {
            self.send_reply(msg);
        } else if may_block() {
            let frames = msg.encode();
            let n = size(&frames);
            self.bytes.acquire(n);
            // The socket thread only goes away at the very end of shutdown; late messages drop.
            if self.data.send(frames).is_ok() {
                self.wakeup.notify();
            } else {
                self.bytes.release(n);
            }
        } else {
            let kind = msg.kind();
            if !self.try_send(msg) {
                tracing::error!(target: WIRE, "dropped a {kind} message: the agent is not reading and the outbound queue is full");
            }
        }
    }

    /// Queues a message only if there is room now; returns whether it was queued. What is
    /// not queued is counted ([`Outbox::dropped`]).
    pub(crate) fn try_send(&self, msg: Msg) -> bool {
        if msg.is_reply() {
            return self.send_reply(msg);
        }
        let frames = msg.encode();
        let n = size(&frames);
        if !self.bytes.try_acquire(n) {
            self.dropped.record(n);
            return false;
        }
        match self.data.try_send(frames) {
            Ok(()) => {
                self.wakeup.notify();
                true
            }
            Err(e) => {
                self.bytes.release(n);
                if matches!(e, TrySendError::Full(_)) {
                    self.dropped.record(n);
                }
                false
            }
        }
    }

    fn send_reply(&self, msg: Msg) -> bool {
        let frames = msg.encode();
        if self.ctrl.len() >= self.reply_queue {
            self.dropped.record(size(&frames));
            let kind = String::from_utf8_lossy(&frames[0]);
            tracing::error!(target: WIRE, "dropped a {kind} message: the reply queue is full");
            return false;
        }
        let sent = self.ctrl.send(frames).is_ok();
        if sent {
            self.wakeup.notify();
        }
        sent
    }

    /// What was dropped because the queue was full: (messages, bytes).
    pub(crate) fn dropped(&self) -> (u64, u64) {
        self.dropped.total()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    type Lanes = (
        Outbox,
        crossbeam_channel::Receiver<Encoded>,
        crossbeam_channel::Receiver<Encoded>,
    );

    fn outbox() -> Lanes {
        let wake = Arc::new(EventFd::new().expect("eventfd"));
        channels(wake, 4)
    }

    #[test]
    fn try_send_drops_and_counts_what_does_not_fit() {
        let (outbox, data, _ctrl) = outbox();
        let chunk = vec![0u8; DATA_BYTES / 2];
        assert!(outbox.try_send(Msg::Stdout(chunk.clone())));
        assert!(
            !outbox.try_send(Msg::Stdout(chunk.clone())),
            "over the bytes"
        );
        assert_eq!(outbox.dropped(), (1, (DATA_BYTES / 2 + 6) as u64));
        let taken = data.try_recv().expect("queued");
        outbox.bytes.release(size(&taken));
        assert!(outbox.try_send(Msg::Stdout(chunk)));
    }

    #[test]
    fn a_marked_thread_never_waits() {
        let (outbox, _data, _ctrl) = outbox();
        let done = std::thread::spawn(move || {
            never_block_here();
            for _ in 0..DATA_QUEUE + 10 {
                outbox.send(Msg::Stderr(b"x".to_vec()));
            }
            outbox.dropped()
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !done.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(done.is_finished(), "a marked thread waited for room");
        assert_eq!(done.join().expect("thread").0, 10);
    }

    #[test]
    fn replies_never_wait() {
        let (outbox, _data, _ctrl) = outbox();
        for _ in 0..4 {
            assert!(outbox.try_send(Msg::Completion(Vec::new())));
        }
        outbox.send(Msg::Completion(Vec::new()));
        assert_eq!(outbox.dropped().0, 1);
    }
}
