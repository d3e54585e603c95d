//! Binding the agent's two sockets and running the socket thread.
//!
//! The host binds a PULL socket for ops (port 2000 by default) and a PUSH socket for results
//! (2001), docs/protocol.md §1.1. [`Transport::start`] binds both and hands them to the socket
//! thread ([`super::socket_thread`]); the rest of the host only sees the [`super::Outbox`] and
//! the channel of inbound frames.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use thiserror::Error;

use super::gate::{Gate, Owed};
use super::limits::{Limits, HELD_OPS, RECEIVE_HWM, REPLY_QUEUE, SEND_HWM};
use super::outbox::{self, Outbox};
use super::receive::Inbound;
use super::socket_thread::SocketThread;
use crate::sys::EventFd;

/// How long queued messages may take to leave after shutdown starts, when the main thread does
/// not say otherwise.
const LINGER: Duration = Duration::from_millis(500);

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
    close_at: Arc<Mutex<Option<Instant>>>,
    thread: Option<JoinHandle<()>>,
}

fn bind(
    ctx: &zmq::Context,
    endpoints: &Endpoints,
    limits: &Limits,
) -> Result<(zmq::Socket, zmq::Socket), TransportError> {
    let zmq_err = |action| move |source| TransportError::Zmq { action, source };
    let pull = ctx.socket(zmq::PULL).map_err(zmq_err("creating PULL"))?;
    let push = ctx.socket(zmq::PUSH).map_err(zmq_err("creating PUSH"))?;
    // Options first: they apply to the connections accepted after them.
    pull.set_rcvhwm(RECEIVE_HWM)
        .map_err(zmq_err("setting RCVHWM"))?;
    pull.set_maxmsgsize(limits.hard_cap())
        .map_err(zmq_err("setting MAXMSGSIZE"))?;
    push.set_sndhwm(SEND_HWM)
        .map_err(zmq_err("setting SNDHWM"))?;
    push.set_linger(LINGER.as_millis() as i32)
        .map_err(zmq_err("setting LINGER"))?;
    for (socket, port) in [(&pull, endpoints.repl_in), (&push, endpoints.repl_out)] {
        let endpoint = format!("tcp://{}:{}", endpoints.address, port);
        socket
            .bind(&endpoint)
            .map_err(|source| TransportError::Bind { endpoint, source })?;
    }
    Ok((pull, push))
}

impl Transport {
    /// Binds both sockets and starts the socket thread, which answers `status` with
    /// `started_at` itself and sends every other op to `inbound`. `private_ops`: whether the
    /// console's private op is accepted, so that its requests are charged until answered.
    pub(crate) fn start(
        endpoints: &Endpoints,
        limits: &Limits,
        inbound: tokio::sync::mpsc::UnboundedSender<Inbound>,
        started_at: f64,
        private_ops: bool,
    ) -> Result<Self, TransportError> {
        let ctx = zmq::Context::new();
        let (pull, push) = bind(&ctx, endpoints, limits)?;
        let eventfd = || {
            EventFd::new()
                .map(Arc::new)
                .map_err(|e| TransportError::Os("create an eventfd", e))
        };
        let (wakeup, stop) = (eventfd()?, eventfd()?);
        let (outbox, data, ctrl) = outbox::channels(Arc::clone(&wakeup), REPLY_QUEUE);
        let close_at = Arc::new(Mutex::new(None));
        let mut thread = SocketThread {
            pull,
            push,
            gate: Arc::new(Gate::new(
                HELD_OPS,
                limits.held_bytes(),
                Arc::clone(&wakeup),
            )),
            wakeup,
            stop: Arc::clone(&stop),
            close_at: Arc::clone(&close_at),
            ctrl,
            data,
            data_bytes: Arc::clone(&outbox.bytes),
            owed: Owed::new(private_ops),
            max_message: limits.max_message,
            started_at,
            pending: VecDeque::new(),
            inbound: Some(inbound),
            closing: None,
            held: None,
            lingering: None,
        };
        let thread = std::thread::Builder::new()
            .name("zmq".into())
            .spawn(move || {
                thread.run();
                thread.close();
            })
            .map_err(|e| TransportError::Os("start the socket thread", e))?;
        Ok(Self {
            outbox,
            stop,
            close_at,
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

    /// Sends what is queued for at most `budget`, then closes the sockets; what the agent did
    /// not take by then is dropped and said in the log. Never waits longer than `budget`
    /// (and a few milliseconds).
    pub(crate) fn flush_and_close(mut self, budget: Duration) {
        let deadline = Instant::now() + budget;
        *self.close_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(deadline);
        self.stop.notify();
        let Some(thread) = self.thread.take() else {
            return;
        };
        // The thread gives up at the deadline itself; the margin covers closing the sockets.
        let hard = deadline + Duration::from_millis(50);
        while !thread.is_finished() && Instant::now() < hard {
            std::thread::sleep(Duration::from_millis(2));
        }
        if thread.is_finished() {
            let _ = thread.join();
        } else {
            tracing::warn!(target: crate::logging::WIRE, "the socket thread did not stop in time");
        }
    }
}
