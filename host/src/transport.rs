//! ZeroMQ sockets on one dedicated thread.
//!
//! `zmq::Socket` is not `Sync` and its calls block, so both sockets live on a single socket
//! thread that `zmq::poll`s the PULL socket, an eventfd that signals queued outbound messages,
//! and (while the agent is slow) the PUSH socket's writability. Everything sent goes through
//! one [`Outbox`], which is what keeps a task's output ahead of its terminal message without
//! any sleeps. Requests that can be answered from memory (`status`) are answered on the socket
//! thread itself, so they never wait behind the dispatcher.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use thiserror::Error;

use crate::protocol::Msg;

/// Raw inbound frames.
pub type Frames = Vec<Vec<u8>>;

/// Answers a request on the socket thread, when it can be answered from memory.
pub type FastPath = Box<dyn Fn(&[Vec<u8>]) -> Option<Msg> + Send>;

/// How many messages may wait for the PUSH socket before producers block (backpressure from a
/// slow agent reaches the child processes through their pipes).
const DATA_QUEUE: usize = 256;

/// How long queued messages may take to leave after shutdown starts.
const LINGER: Duration = Duration::from_millis(500);

/// Could not set up the sockets.
#[derive(Debug, Error)]
pub enum TransportError {
    /// Binding an endpoint failed (port in use, bad address).
    #[error("cannot bind {endpoint}: {source}")]
    Bind {
        /// The endpoint.
        endpoint: String,
        /// The ZeroMQ error.
        source: zmq::Error,
    },
    /// Any other ZeroMQ failure.
    #[error("ZeroMQ error while {action}: {source}")]
    Zmq {
        /// What was being done.
        action: &'static str,
        /// The ZeroMQ error.
        source: zmq::Error,
    },
    /// An operating-system failure (eventfd, thread).
    #[error("cannot {0}: {1}")]
    Os(&'static str, std::io::Error),
}

enum Out {
    Frames([Vec<u8>; 2]),
    Close,
}

/// A counter the socket thread can poll: written by producers, read by the socket thread.
struct Wakeup(OwnedFd);

impl Wakeup {
    fn new() -> std::io::Result<Self> {
        // SAFETY: eventfd returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the descriptor was just created and is owned here.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes from a valid u64 to our eventfd.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    fn clear(&self) {
        let mut value: u64 = 0;
        // SAFETY: reading 8 bytes into a valid u64 from our non-blocking eventfd.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut value as *mut u64).cast(), 8) };
    }
}

/// The sending side of the outbound socket. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct Outbox {
    data: Sender<Out>,
    ctrl: Sender<Out>,
    wakeup: Arc<Wakeup>,
}

impl Outbox {
    /// Queues a message. Side-channel replies overtake queued task output (the agent matches
    /// them on separate queues); task output keeps its order.
    pub fn send(&self, msg: Msg) {
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

    /// Queues the end marker: the writer sends everything queued before it, then stops.
    fn close(&self) {
        if self.data.send(Out::Close).is_ok() {
            self.wakeup.notify();
        }
    }
}

/// Where to bind.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Address part: `*` for all interfaces, or an IP.
    pub address: String,
    /// The PULL (ops in) port.
    pub repl_in: u16,
    /// The PUSH (results out) port.
    pub repl_out: u16,
}

/// The running socket thread.
pub struct Transport {
    outbox: Outbox,
    stop: Arc<Wakeup>,
    thread: Option<JoinHandle<()>>,
}

impl Transport {
    /// Binds both sockets and starts the socket thread. Inbound frames go to `inbound`, except
    /// those `fast_path` answers.
    pub fn start(
        endpoints: &Endpoints,
        inbound: tokio::sync::mpsc::UnboundedSender<Frames>,
        fast_path: FastPath,
    ) -> Result<Self, TransportError> {
        let ctx = zmq::Context::new();
        let zmq_err = |action| move |source| TransportError::Zmq { action, source };
        let pull = ctx.socket(zmq::PULL).map_err(zmq_err("creating PULL"))?;
        let push = ctx.socket(zmq::PUSH).map_err(zmq_err("creating PUSH"))?;
        for (socket, port) in [(&pull, endpoints.repl_in), (&push, endpoints.repl_out)] {
            let endpoint = format!("tcp://{}:{}", endpoints.address, port);
            socket
                .bind(&endpoint)
                .map_err(|source| TransportError::Bind { endpoint, source })?;
        }
        push.set_linger(LINGER.as_millis() as i32)
            .map_err(zmq_err("setting LINGER"))?;
        let wakeup =
            Arc::new(Wakeup::new().map_err(|e| TransportError::Os("create an eventfd", e))?);
        let stop = Arc::new(Wakeup::new().map_err(|e| TransportError::Os("create an eventfd", e))?);
        let (data_tx, data_rx) = crossbeam_channel::bounded(DATA_QUEUE);
        let (ctrl_tx, ctrl_rx) = crossbeam_channel::unbounded();
        let outbox = Outbox {
            data: data_tx,
            ctrl: ctrl_tx,
            wakeup: Arc::clone(&wakeup),
        };
        let mut thread = SocketThread {
            _ctx: ctx,
            pull,
            push,
            wakeup,
            stop: Arc::clone(&stop),
            ctrl: ctrl_rx,
            data: data_rx,
            pending: VecDeque::new(),
            inbound: Some(inbound),
            fast_path,
            closing: false,
            held: None,
        };
        let thread = std::thread::Builder::new()
            .name("zmq".into())
            .spawn(move || thread.run())
            .map_err(|e| TransportError::Os("start the socket thread", e))?;
        Ok(Self {
            outbox,
            stop,
            thread: Some(thread),
        })
    }

    /// The outbound queue.
    pub fn outbox(&self) -> Outbox {
        self.outbox.clone()
    }

    /// Stops reading ops; already received ones are still delivered.
    pub fn stop_receiving(&self) {
        self.stop.notify();
    }

    /// Sends everything queued so far, then closes the sockets. Waits at most `budget`.
    pub fn flush_and_close(mut self, budget: Duration) {
        self.stop_receiving();
        self.outbox.close();
        let deadline = Instant::now() + budget;
        if let Some(t) = self.thread.take() {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                tracing::warn!("outbound messages still queued at exit; the agent is not reading");
            }
        }
    }
}

struct SocketThread {
    _ctx: zmq::Context,
    pull: zmq::Socket,
    push: zmq::Socket,
    wakeup: Arc<Wakeup>,
    stop: Arc<Wakeup>,
    ctrl: Receiver<Out>,
    data: Receiver<Out>,
    /// Messages taken from the queues that the PUSH socket could not take yet.
    pending: VecDeque<[Vec<u8>; 2]>,
    inbound: Option<tokio::sync::mpsc::UnboundedSender<Frames>>,
    fast_path: FastPath,
    closing: bool,
    /// A task-output message taken from the queue while coalescing, to be sent next.
    held: Option<Out>,
}

/// Small output chunks that queue up behind a slow socket are merged into messages of up to
/// this size (fewer, larger messages for the agent); larger chunks are never copied.
const COALESCE_LIMIT: usize = 256 * 1024;

/// Only chunks smaller than this are merged into the message before them.
const COALESCE_CHUNK: usize = 64 * 1024;

impl SocketThread {
    fn run(&mut self) {
        crate::logging::mark_writer_thread();
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
                zmq::PollItem::from_fd(self.wakeup.0.as_raw_fd(), zmq::POLLIN),
                zmq::PollItem::from_fd(self.stop.0.as_raw_fd(), zmq::POLLIN),
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
