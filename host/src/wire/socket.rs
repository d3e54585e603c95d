//! Binding the agent's two sockets and running the socket thread.
//!
//! The host binds a PULL socket for ops (port 2000 by default) and a PUSH socket for results
//! (2001), docs/protocol.md §1.1. [`Transport::start`] binds both and hands them to the socket
//! thread ([`super::socket_thread`]); the rest of the host only sees the [`super::Outbox`] and
//! the channel of inbound frames.

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use thiserror::Error;

use super::msg::Msg;
use super::outbox::{Outbox, DATA_QUEUE};
use super::socket_thread::SocketThread;
use crate::sys::EventFd;

/// Raw inbound frames.
pub(crate) type Frames = Vec<Vec<u8>>;

/// Answers a request on the socket thread, when it can be answered from memory.
pub(crate) type FastPath = Box<dyn Fn(&[Vec<u8>]) -> Option<Msg> + Send>;

/// How long queued messages may take to leave after shutdown starts.
pub(super) const LINGER: Duration = Duration::from_millis(500);

/// Could not set up the sockets.
#[derive(Debug, Error)]
pub(crate) enum TransportError {
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

/// Where to bind.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    /// Address part: `*` for all interfaces, or an IP.
    pub(crate) address: String,
    /// The PULL (ops in) port.
    pub(crate) repl_in: u16,
    /// The PUSH (results out) port.
    pub(crate) repl_out: u16,
}

/// The running socket thread.
pub(crate) struct Transport {
    outbox: Outbox,
    stop: Arc<EventFd>,
    thread: Option<JoinHandle<()>>,
}

fn bind(
    ctx: &zmq::Context,
    endpoints: &Endpoints,
) -> Result<(zmq::Socket, zmq::Socket), TransportError> {
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
    Ok((pull, push))
}

impl Transport {
    /// Binds both sockets and starts the socket thread. Inbound frames go to `inbound`, except
    /// those `fast_path` answers.
    pub(crate) fn start(
        endpoints: &Endpoints,
        inbound: tokio::sync::mpsc::UnboundedSender<Frames>,
        fast_path: FastPath,
    ) -> Result<Self, TransportError> {
        let ctx = zmq::Context::new();
        let (pull, push) = bind(&ctx, endpoints)?;
        let eventfd = || {
            EventFd::new()
                .map(Arc::new)
                .map_err(|e| TransportError::Os("create an eventfd", e))
        };
        let (wakeup, stop) = (eventfd()?, eventfd()?);
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
    pub(crate) fn outbox(&self) -> Outbox {
        self.outbox.clone()
    }

    /// Stops reading ops; already received ones are still delivered.
    pub(crate) fn stop_receiving(&self) {
        self.stop.notify();
    }

    /// Sends everything queued so far, then closes the sockets. Waits at most `budget`.
    pub(crate) fn flush_and_close(mut self, budget: Duration) {
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
