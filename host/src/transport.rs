//! ZeroMQ sockets on their own threads.
//!
//! `zmq::Socket` is not `Sync` and its calls block, so each socket lives on a dedicated thread:
//! the PULL side feeds decoded-later frames into a tokio channel, and the PUSH side is the
//! single writer of every outbound message. Everything sent goes through one [`Outbox`], which
//! is what keeps a task's output ahead of its terminal message without any sleeps.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use thiserror::Error;

use crate::protocol::Msg;

/// Raw inbound frames.
pub type Frames = Vec<Vec<u8>>;

/// How many messages may wait for the PUSH socket before producers block (backpressure from a
/// slow agent reaches the child processes through their pipes).
const DATA_QUEUE: usize = 256;

/// How long queued messages may take to leave after shutdown starts.
const LINGER: Duration = Duration::from_millis(1000);

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
    /// A thread could not be started.
    #[error("cannot start the {0} thread: {1}")]
    Thread(&'static str, std::io::Error),
}

enum Out {
    Frames([Vec<u8>; 2]),
    Close,
}

/// The sending side of the outbound socket. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct Outbox {
    data: Sender<Out>,
    ctrl: Sender<Out>,
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
        // The writer only goes away at the very end of shutdown; late messages are dropped.
        let _ = lane.send(Out::Frames(msg.encode()));
    }

    /// Queues the end marker: the writer sends everything queued before it, then stops.
    fn close(&self) {
        let _ = self.data.send(Out::Close);
    }

    /// A detached outbox whose messages go to the returned receiver (for tests and capture).
    #[cfg(test)]
    pub fn detached() -> (Self, Receiver<[Vec<u8>; 2]>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (data_tx, data_rx) = crossbeam_channel::unbounded::<Out>();
        std::thread::spawn(move || {
            for out in data_rx {
                if let Out::Frames(f) = out {
                    let _ = tx.send(f);
                }
            }
        });
        (
            Self {
                data: data_tx.clone(),
                ctrl: data_tx,
            },
            rx,
        )
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

/// The running socket threads.
pub struct Transport {
    _ctx: zmq::Context,
    stop: zmq::Socket,
    outbox: Outbox,
    inbound: Option<JoinHandle<()>>,
    outbound: Option<JoinHandle<()>>,
}

impl Transport {
    /// Binds both sockets and starts their threads. Inbound frames go to `inbound_tx`.
    pub fn start(
        endpoints: &Endpoints,
        inbound_tx: tokio::sync::mpsc::Sender<Frames>,
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
        let stop = ctx.socket(zmq::PAIR).map_err(zmq_err("creating PAIR"))?;
        stop.bind("inproc://krunner-stop")
            .map_err(zmq_err("binding the stop socket"))?;
        let stop_rx = ctx.socket(zmq::PAIR).map_err(zmq_err("creating PAIR"))?;
        stop_rx
            .connect("inproc://krunner-stop")
            .map_err(zmq_err("connecting the stop socket"))?;

        let (data_tx, data_rx) = crossbeam_channel::bounded(DATA_QUEUE);
        let (ctrl_tx, ctrl_rx) = crossbeam_channel::unbounded();
        let inbound = std::thread::Builder::new()
            .name("zmq-in".into())
            .spawn(move || receive_loop(pull, stop_rx, inbound_tx))
            .map_err(|e| TransportError::Thread("receive", e))?;
        let outbound = std::thread::Builder::new()
            .name("zmq-out".into())
            .spawn(move || send_loop(push, ctrl_rx, data_rx))
            .map_err(|e| TransportError::Thread("send", e))?;
        Ok(Self {
            _ctx: ctx,
            stop,
            outbox: Outbox {
                data: data_tx,
                ctrl: ctrl_tx,
            },
            inbound: Some(inbound),
            outbound: Some(outbound),
        })
    }

    /// The outbound queue.
    pub fn outbox(&self) -> Outbox {
        self.outbox.clone()
    }

    /// Stops reading ops; already received ones are still delivered.
    pub fn stop_receiving(&mut self) {
        let _ = self.stop.send("stop", zmq::DONTWAIT);
        if let Some(t) = self.inbound.take() {
            let deadline = Instant::now() + Duration::from_millis(200);
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }

    /// Sends everything queued so far, then closes the PUSH socket. Waits at most `budget`.
    pub fn flush_and_close(mut self, budget: Duration) {
        self.stop_receiving();
        self.outbox.close();
        let deadline = Instant::now() + budget;
        if let Some(t) = self.outbound.take() {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                tracing::warn!("outbound messages still queued at exit; the agent is not reading");
                // Leave the thread; process exit ends it.
                std::mem::forget(self);
            }
        }
    }
}

fn receive_loop(pull: zmq::Socket, stop: zmq::Socket, tx: tokio::sync::mpsc::Sender<Frames>) {
    loop {
        let mut items = [
            pull.as_poll_item(zmq::POLLIN),
            stop.as_poll_item(zmq::POLLIN),
        ];
        if let Err(e) = zmq::poll(&mut items, -1) {
            if e == zmq::Error::EINTR {
                continue;
            }
            tracing::error!("polling the ops socket failed: {e}");
            return;
        }
        if items[1].is_readable() {
            tracing::debug!("stopped receiving ops");
            return;
        }
        if !items[0].is_readable() {
            continue;
        }
        loop {
            match pull.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => {
                    if tx.blocking_send(frames).is_err() {
                        tracing::debug!("the dispatcher is gone; stopped receiving ops");
                        return;
                    }
                }
                Err(zmq::Error::EAGAIN) => break,
                Err(zmq::Error::EINTR) => continue,
                Err(e) => {
                    tracing::error!("receiving an op failed: {e}");
                    break;
                }
            }
        }
    }
}

fn send_loop(push: zmq::Socket, ctrl: Receiver<Out>, data: Receiver<Out>) {
    crate::logging::mark_writer_thread();
    loop {
        let out = match ctrl.try_recv() {
            Ok(out) => out,
            Err(_) => crossbeam_channel::select! {
                recv(ctrl) -> out => match out { Ok(o) => o, Err(_) => continue },
                recv(data) -> out => match out { Ok(o) => o, Err(_) => break },
            },
        };
        match out {
            Out::Frames(frames) => send_frames(&push, frames),
            Out::Close => {
                while let Ok(Out::Frames(frames)) = ctrl.try_recv() {
                    send_frames(&push, frames);
                }
                break;
            }
        }
    }
}

fn send_frames(push: &zmq::Socket, frames: [Vec<u8>; 2]) {
    if let Err(e) = push.send_multipart(frames, 0) {
        tracing::error!("sending a message to the agent failed: {e}");
    }
}
