//! The socket thread: the only code that touches the ZeroMQ sockets once they are bound.
//!
//! `zmq::Socket` is not `Sync` and its calls block, so both sockets live on this one thread,
//! which `zmq::poll`s the PULL socket, an eventfd that signals queued outbound messages, a stop
//! eventfd, and (while the agent is slow) the PUSH socket's writability. Requests that can be
//! answered from memory (`status`) are answered here, so they never wait behind the
//! dispatcher. Small output chunks that queued up behind a busy socket are merged into larger
//! messages; nothing is ever held back waiting for more.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::Arc;

use crossbeam_channel::{Receiver, TryRecvError};

use super::outbox::Out;
use super::socket::{FastPath, Frames, LINGER};
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
    pub(super) _ctx: zmq::Context,
    pub(super) pull: zmq::Socket,
    pub(super) push: zmq::Socket,
    pub(super) wakeup: Arc<EventFd>,
    pub(super) stop: Arc<EventFd>,
    pub(super) ctrl: Receiver<Out>,
    pub(super) data: Receiver<Out>,
    /// Messages taken from the queues that the PUSH socket could not take yet.
    pub(super) pending: VecDeque<[Vec<u8>; 2]>,
    pub(super) inbound: Option<tokio::sync::mpsc::UnboundedSender<Frames>>,
    pub(super) fast_path: FastPath,
    pub(super) closing: bool,
    /// A task-output message taken from the queue while coalescing, to be sent next.
    pub(super) held: Option<Out>,
}

/// Small output chunks that queue up behind a slow socket are merged into messages of up to
/// this size (fewer, larger messages for the agent); larger chunks are never copied.
const COALESCE_LIMIT: usize = 256 * 1024;

/// Only chunks smaller than this are merged into the message before them.
const COALESCE_CHUNK: usize = 64 * 1024;

impl SocketThread {
    pub(super) fn run(&mut self) {
        ON_SOCKET_THREAD.with(|w| w.set(true));
        loop {
            let finished = self.send_queued();
            if finished {
                return;
            }
            let receiving = self.inbound.is_some();
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
            match zmq::poll(&mut items, -1) {
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
                tracing::debug!("stopped receiving ops");
            }
            if pull_ready && self.inbound.is_some() {
                self.receive();
            }
        }
    }

    fn receive(&mut self) {
        loop {
            match self.pull.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => {
                    if let Some(reply) = (self.fast_path)(&frames) {
                        // Answered here: queued like any reply, sent on the next round.
                        self.pending.push_front(reply.encode());
                        continue;
                    }
                    let delivered = self
                        .inbound
                        .as_ref()
                        .is_some_and(|tx| tx.send(frames).is_ok());
                    if !delivered {
                        self.inbound = None;
                        return;
                    }
                }
                Err(zmq::Error::EAGAIN) => return,
                Err(zmq::Error::EINTR) => continue,
                Err(e) => {
                    tracing::error!("receiving an op failed: {e}");
                    return;
                }
            }
        }
    }

    /// Appends the small `stdout`/`stderr` chunks queued right behind `frames` (same stream)
    /// to it. Only what is already waiting is merged: nothing is held back for later.
    fn coalesce(&mut self, mut frames: [Vec<u8>; 2]) -> [Vec<u8>; 2] {
        if frames[0] != b"stdout" && frames[0] != b"stderr" {
            return frames;
        }
        while frames[1].len() < COALESCE_LIMIT {
            match self.data.try_recv() {
                Ok(Out::Frames(next))
                    if next[0] == frames[0]
                        && next[1].len() < COALESCE_CHUNK
                        && frames[1].len() + next[1].len() <= COALESCE_LIMIT =>
                {
                    frames[1].extend_from_slice(&next[1]);
                }
                Ok(other) => {
                    self.held = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        frames
    }

    /// Sends what the PUSH socket accepts without blocking. Returns true once the end marker
    /// has been reached and everything before it was sent (or could not be, by the deadline).
    fn send_queued(&mut self) -> bool {
        loop {
            if let Some(frames) = self.pending.pop_front() {
                // Only hand a message over when the socket takes it without blocking; the
                // frames then move into ZeroMQ without a copy.
                let writable = self
                    .push
                    .get_events()
                    .is_ok_and(|e| e.contains(zmq::POLLOUT));
                if !writable && !self.closing {
                    self.pending.push_front(frames);
                    return false;
                }
                if !writable {
                    // Closing: give the agent a moment to take the rest, then give up.
                    let mut items = [self.push.as_poll_item(zmq::POLLOUT)];
                    let ready = zmq::poll(&mut items, LINGER.as_millis() as i64).is_ok()
                        && items[0].is_writable();
                    if !ready {
                        tracing::warn!(
                            "dropping {} message(s) the agent did not take",
                            self.pending.len() + 1
                        );
                        return true;
                    }
                }
                if let Err(e) = self.push.send_multipart(frames, 0) {
                    tracing::error!("sending a message to the agent failed: {e}");
                }
                continue;
            }
            // Replies first, then task output.
            let next = match self.ctrl.try_recv() {
                Ok(out) => Ok(out),
                Err(_) => match self.held.take() {
                    Some(out) => Ok(out),
                    None => self.data.try_recv(),
                },
            };
            match next {
                Ok(Out::Frames(frames)) => {
                    let frames = self.coalesce(frames);
                    self.pending.push_back(frames);
                }
                Ok(Out::Close) => self.closing = true,
                Err(TryRecvError::Empty) => return self.closing,
                Err(TryRecvError::Disconnected) => return true,
            }
        }
    }
}
