//! The socket thread: the only code that touches the ZeroMQ sockets once they are bound.
//!
//! `zmq::Socket` is not `Sync` and its calls block, so both sockets live on this one thread,
//! which `zmq::poll`s the PULL socket (while the inbound budget has room, [`super::gate`]), an
//! eventfd that signals queued outbound messages and room in the budget, a stop eventfd, and
//! (while the agent is slow) the PUSH socket's writability. `status` is answered here, so it
//! never waits behind the dispatcher. Small output chunks that queued up behind a busy socket
//! are merged into larger messages; nothing is ever held back waiting for more. At shutdown it
//! sends what is queued until a deadline, and says in the log what the agent did not take: the
//! count of what was still queued here, or, when ZeroMQ had taken everything but still held
//! some of it for the agent at the deadline, that ZeroMQ dropped that much.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::gate::{Gate, Held, Owed};
use super::msg::Msg;
use super::outbox::{Encoded, LaneBytes};
use super::receive::{self, Inbound};
use crate::logging::WIRE;
use crate::sys::EventFd;

thread_local! {
    static ON_SOCKET_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread is the socket thread (which must never queue a message for
/// itself: it would wait on a queue only it empties).
pub(crate) fn on_socket_thread() -> bool {
    ON_SOCKET_THREAD.with(Cell::get)
}

pub(super) struct SocketThread {
    pub(super) pull: zmq::Socket,
    pub(super) push: zmq::Socket,
    pub(super) wakeup: Arc<EventFd>,
    pub(super) stop: Arc<EventFd>,
    /// Set by the main thread before it signals `stop` for the last time: until when to send.
    pub(super) close_at: Arc<Mutex<Option<Instant>>>,
    pub(super) ctrl: Receiver<Encoded>,
    pub(super) data: Receiver<Encoded>,
    pub(super) data_bytes: Arc<LaneBytes>,
    pub(super) gate: Arc<Gate>,
    pub(super) owed: Owed,
    pub(super) max_message: usize,
    pub(super) started_at: f64,
    /// Messages taken from the queues that the PUSH socket could not take yet.
    pub(super) pending: VecDeque<Encoded>,
    pub(super) inbound: Option<tokio::sync::mpsc::UnboundedSender<Inbound>>,
    pub(super) closing: Option<Instant>,
    /// A task-output message taken from the queue while coalescing, to be sent next.
    pub(super) held: Option<Encoded>,
    /// Set when everything was handed to ZeroMQ before the deadline: until when ZeroMQ may
    /// keep sending it (the PUSH socket's linger).
    pub(super) lingering: Option<Instant>,
}

/// Small output chunks that queue up behind a slow socket are merged into messages of up to
/// this size (fewer, larger messages for the agent); larger chunks are never copied.
const COALESCE_LIMIT: usize = 256 * 1024;

/// Only chunks smaller than this are merged into the message before them.
const COALESCE_CHUNK: usize = 64 * 1024;

/// Closing the sockets that returns less than this before the linger deadline returned
/// because everything was sent, not because the deadline passed.
const LINGER_SLACK: Duration = Duration::from_millis(10);

impl SocketThread {
    pub(super) fn run(&mut self) {
        ON_SOCKET_THREAD.with(|w| w.set(true));
        loop {
            if self.send_queued() {
                return;
            }
            let receiving = self.inbound.is_some() && self.gate.room_or_wait();
            let mut items = [
                self.pull.as_poll_item(if receiving {
                    zmq::POLLIN
                } else {
                    zmq::PollEvents::empty()
                }),
                zmq::PollItem::from_fd(self.wakeup.raw(), zmq::POLLIN),
                zmq::PollItem::from_fd(self.stop.raw(), zmq::POLLIN),
                self.push.as_poll_item(if self.pending.is_empty() {
                    zmq::PollEvents::empty()
                } else {
                    zmq::POLLOUT
                }),
            ];
            match zmq::poll(&mut items, self.poll_timeout()) {
                Ok(_) | Err(zmq::Error::EINTR) => {}
                Err(e) => {
                    tracing::error!("polling the sockets failed: {e}");
                    return;
                }
            }
            let (pull_ready, wake_ready, stop_ready) = (
                items[0].is_readable(),
                items[1].is_readable(),
                items[2].is_readable(),
            );
            if wake_ready {
                self.wakeup.clear();
            }
            if stop_ready {
                self.stop.clear();
                self.inbound = None;
                self.closing = *self.close_at.lock().unwrap_or_else(|e| e.into_inner());
                tracing::debug!("stopped receiving ops");
            }
            if pull_ready && self.inbound.is_some() {
                self.receive();
            }
        }
    }

    /// How long a poll may wait: until the closing deadline, if there is one.
    fn poll_timeout(&self) -> i64 {
        self.closing.map_or(-1, |at| {
            at.saturating_duration_since(Instant::now()).as_millis() as i64
        })
    }

    /// Takes ops while the inbound budget has room.
    fn receive(&mut self) {
        while self.gate.room_or_wait() {
            let body = match receive::read(&self.pull, self.max_message) {
                Ok(Some(body)) => body,
                Ok(None) => return,
                Err(zmq::Error::EINTR) => continue,
                Err(e) => {
                    tracing::error!("receiving an op failed: {e}");
                    return;
                }
            };
            let (name, parts, bytes) = body.shape();
            let held = self.gate.charge(bytes);
            if name == b"status" && parts == 2 {
                // Answered here: queued like any reply, sent on the next round.
                self.owed.expect(b"status", held);
                let reply = Msg::Status {
                    started_at: self.started_at,
                };
                self.pending.push_front(reply.encode());
                continue;
            }
            let held = if self.owed.owes_reply(name, parts) {
                self.owed.expect(name, held);
                Held::none()
            } else {
                held
            };
            let delivered = self
                .inbound
                .as_ref()
                .is_some_and(|tx| tx.send(Inbound { body, held }).is_ok());
            if !delivered {
                self.inbound = None;
                return;
            }
        }
    }

    /// Takes a task-output message off the data lane, giving its bytes back to producers.
    fn take_data(&mut self) -> Option<Encoded> {
        let frames = self.data.try_recv().ok()?;
        self.data_bytes.release(frames[0].len() + frames[1].len());
        Some(frames)
    }

    /// Appends the small `stdout`/`stderr` chunks queued right behind `frames` (same stream)
    /// to it. Only what is already waiting is merged: nothing is held back for later.
    fn coalesce(&mut self, mut frames: Encoded) -> Encoded {
        if frames[0] != b"stdout" && frames[0] != b"stderr" {
            return frames;
        }
        while frames[1].len() < COALESCE_LIMIT {
            match self.take_data() {
                Some(next)
                    if next[0] == frames[0]
                        && next[1].len() < COALESCE_CHUNK
                        && frames[1].len() + next[1].len() <= COALESCE_LIMIT =>
                {
                    frames[1].extend_from_slice(&next[1]);
                }
                Some(other) => {
                    self.held = Some(other);
                    break;
                }
                None => break,
            }
        }
        frames
    }

    /// Sends what the PUSH socket accepts without blocking. Returns true when the thread is
    /// done: closing, and everything was sent or the deadline passed.
    fn send_queued(&mut self) -> bool {
        loop {
            if let Some(frames) = self.pending.pop_front() {
                // Only hand a message over when the socket takes it without blocking; the
                // frames then move into ZeroMQ without a copy.
                let writable = self
                    .push
                    .get_events()
                    .is_ok_and(|e| e.contains(zmq::POLLOUT));
                if !writable {
                    self.pending.push_front(frames);
                    return self.closing.is_some_and(|at| Instant::now() >= at) && {
                        self.give_up();
                        true
                    };
                }
                self.owed.settle(&frames[0]);
                if let Err(e) = self.push.send_multipart(frames, 0) {
                    tracing::error!("sending a message to the agent failed: {e}");
                }
                continue;
            }
            // Replies first, then task output.
            let next = match self.ctrl.try_recv() {
                Ok(frames) => Some(frames),
                Err(_) => match self.held.take() {
                    Some(frames) => Some(frames),
                    None => self.take_data(),
                },
            };
            match next {
                Some(frames) => {
                    let frames = self.coalesce(frames);
                    self.pending.push_back(frames);
                }
                None => return self.closing.is_some() && self.closed(),
            }
        }
    }

    /// Everything queued was handed to ZeroMQ: it may keep sending until the deadline.
    fn closed(&mut self) -> bool {
        let left = self.closing.map_or(0, |at| {
            at.saturating_duration_since(Instant::now()).as_millis()
        });
        let _ = self
            .push
            .set_linger(i32::try_from(left).unwrap_or(i32::MAX));
        if left > 0 {
            self.lingering = self.closing;
        }
        true
    }

    /// Closes the sockets after [`Self::run`]. The ZeroMQ context ends with the last socket,
    /// and ending it waits until ZeroMQ has sent what it holds or the PUSH socket's linger (the
    /// shutdown deadline) has passed, dropping the rest. Closing that lasts until the deadline
    /// therefore means the agent did not take everything ZeroMQ held; the log says so
    /// (ZeroMQ does not say how much that was).
    pub(super) fn close(self) {
        let Self {
            pull,
            push,
            lingering,
            ..
        } = self;
        drop(pull);
        drop(push);
        if lingering.is_some_and(|at| Instant::now() + LINGER_SLACK >= at) {
            tracing::warn!(
                target: WIRE,
                "messages ZeroMQ still held for the agent at the shutdown deadline were not delivered: the agent did not take them"
            );
        }
    }

    /// The deadline passed with messages still queued: counts them in the log and drops them.
    fn give_up(&mut self) {
        let mut count = 0usize;
        let mut bytes = 0usize;
        let mut add = |f: &Encoded| {
            count += 1;
            bytes += f[0].len() + f[1].len();
        };
        self.pending.iter().for_each(&mut add);
        self.held.iter().for_each(&mut add);
        self.ctrl.try_iter().for_each(|f| add(&f));
        while let Some(f) = self.take_data() {
            add(&f);
        }
        tracing::warn!(
            target: WIRE,
            "{count} message(s) ({bytes} bytes) were not delivered: the agent did not take them before shutdown"
        );
        let _ = self.push.set_linger(0);
    }
}
