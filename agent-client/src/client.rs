//! The agent's two sockets (docs/protocol.md §1.1): a PUSH socket connected to the
//! runner's ops port and a PULL socket connected to its results port. Ops and messages are
//! two frames, `[type, payload]`; anything else from the runner is a [`ClientError`].

use std::time::Duration;

use crate::error::ClientError;
use crate::message::{Message, RawMessage};
use crate::ports::Ports;

/// How to connect.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The runner's address; loopback by default.
    pub host: String,
    /// How long unsent ops may delay closing the client (ZeroMQ's linger of the PUSH socket;
    /// unread messages are always dropped at once). 100 ms by default.
    pub linger: Duration,
    /// The PULL socket's receive high-water mark in messages (`Some(0)`: unlimited); ZeroMQ's
    /// default (1000) when `None`.
    pub receive_hwm: Option<i32>,
    /// Reconnect interval (and its maximum) of both sockets; ZeroMQ's back-off (100 ms and
    /// up) when `None`. A short one makes the first `status` answer measure the runner's
    /// startup, not ZeroMQ's retry timer.
    pub reconnect_interval: Option<Duration>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            linger: Duration::from_millis(100),
            receive_hwm: None,
            reconnect_interval: None,
        }
    }
}

impl ClientOptions {
    /// Sets [`ClientOptions::linger`].
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Sets [`ClientOptions::receive_hwm`].
    pub fn receive_hwm(mut self, messages: i32) -> Self {
        self.receive_hwm = Some(messages);
        self
    }

    /// Sets [`ClientOptions::reconnect_interval`].
    pub fn reconnect_interval(mut self, interval: Duration) -> Self {
        self.reconnect_interval = Some(interval);
        self
    }
}

/// A connection to a runner, as the agent makes it.
pub struct Client {
    push: zmq::Socket,
    pull: zmq::Socket,
    ops_endpoint: String,
    results_endpoint: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("ops", &self.ops_endpoint)
            .field("results", &self.results_endpoint)
            .finish()
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

fn socket(
    ctx: &zmq::Context,
    kind: zmq::SocketType,
    name: &'static str,
) -> Result<zmq::Socket, ClientError> {
    ctx.socket(kind).map_err(|source| ClientError::Socket {
        socket: name,
        step: "create",
        source,
    })
}

impl Client {
    /// Connects to a runner's ports. ZeroMQ connects in the background: the runner may start
    /// listening later, and ops sent before are delivered once it does.
    pub fn connect(ports: Ports, options: &ClientOptions) -> Result<Self, ClientError> {
        let ctx = zmq::Context::new();
        let push = socket(&ctx, zmq::PUSH, "PUSH")?;
        let pull = socket(&ctx, zmq::PULL, "PULL")?;
        configure(&push, "PUSH", options, millis(options.linger))?;
        configure(&pull, "PULL", options, 0)?;
        if let Some(hwm) = options.receive_hwm {
            pull.set_rcvhwm(hwm).map_err(|source| ClientError::Socket {
                socket: "PULL",
                step: "set the receive high-water mark",
                source,
            })?;
        }
        let ops_endpoint = format!("tcp://{}:{}", options.host, ports.repl_in);
        let results_endpoint = format!("tcp://{}:{}", options.host, ports.repl_out);
        for (s, endpoint) in [(&push, &ops_endpoint), (&pull, &results_endpoint)] {
            s.connect(endpoint).map_err(|source| ClientError::Connect {
                endpoint: endpoint.clone(),
                source,
            })?;
        }
        Ok(Self {
            push,
            pull,
            ops_endpoint,
            results_endpoint,
        })
    }

    /// Sends a two-frame op.
    pub fn send(&self, op: &str, payload: impl AsRef<[u8]>) -> Result<(), ClientError> {
        self.push
            .send_multipart([op.as_bytes(), payload.as_ref()], 0)
            .map_err(|source| ClientError::Send {
                what: format!("the {op:?} op"),
                endpoint: self.ops_endpoint.clone(),
                source,
            })
    }

    /// Sends arbitrary frames (to check how the runner handles malformed ops).
    pub fn send_frames(&self, frames: &[&[u8]]) -> Result<(), ClientError> {
        self.push
            .send_multipart(frames.iter().copied(), 0)
            .map_err(|source| ClientError::Send {
                what: format!("{} frame(s)", frames.len()),
                endpoint: self.ops_endpoint.clone(),
                source,
            })
    }

    /// Waits up to `timeout` for a message; `None` on timeout or when a signal interrupts the
    /// wait (so a Ctrl-C handler can run).
    pub fn recv(&self, timeout: Duration) -> Result<Option<Message>, ClientError> {
        match self.recv_raw(timeout)? {
            Some(raw) => raw.to_message().map(Some),
            None => Ok(None),
        }
    }

    /// Like [`Client::recv`], but leaves the frames in ZeroMQ's buffers: for counting the
    /// payload bytes of large streams without copying them.
    pub fn recv_raw(&self, timeout: Duration) -> Result<Option<RawMessage>, ClientError> {
        let mut items = [self.pull.as_poll_item(zmq::POLLIN)];
        // Rounded up: a wait of a fraction of a millisecond must not become a non-blocking poll.
        let ms = i64::try_from(timeout.as_nanos().div_ceil(1_000_000)).unwrap_or(i64::MAX);
        match zmq::poll(&mut items, ms) {
            Ok(_) => {}
            Err(zmq::Error::EINTR) => return Ok(None),
            Err(source) => return Err(self.recv_error(source)),
        }
        if !items[0].is_readable() {
            return Ok(None);
        }
        let kind = self.next_frame()?;
        if !self.more()? {
            return Err(ClientError::FrameCount { frames: 1 });
        }
        let payload = self.next_frame()?;
        let mut frames = 2;
        while self.more()? {
            self.next_frame()?;
            frames += 1;
        }
        if frames != 2 {
            return Err(ClientError::FrameCount { frames });
        }
        Ok(Some(RawMessage::new(kind, payload)))
    }

    fn next_frame(&self) -> Result<zmq::Message, ClientError> {
        self.pull.recv_msg(0).map_err(|e| self.recv_error(e))
    }

    fn more(&self) -> Result<bool, ClientError> {
        self.pull.get_rcvmore().map_err(|e| self.recv_error(e))
    }

    fn recv_error(&self, source: zmq::Error) -> ClientError {
        ClientError::Recv {
            endpoint: self.results_endpoint.clone(),
            source,
        }
    }
}

/// Linger and reconnect interval of one socket.
fn configure(
    s: &zmq::Socket,
    name: &'static str,
    options: &ClientOptions,
    linger_ms: i32,
) -> Result<(), ClientError> {
    let fail = |step| {
        move |source| ClientError::Socket {
            socket: name,
            step,
            source,
        }
    };
    s.set_linger(linger_ms).map_err(fail("set linger"))?;
    if let Some(interval) = options.reconnect_interval {
        let ms = millis(interval);
        s.set_reconnect_ivl(ms)
            .map_err(fail("set the reconnect interval"))?;
        s.set_reconnect_ivl_max(ms)
            .map_err(fail("set the maximum reconnect interval"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in runner's sockets, bound on free ports.
    fn stand_in() -> (Ports, zmq::Socket, zmq::Socket) {
        let ctx = zmq::Context::new();
        let pull = ctx.socket(zmq::PULL).expect("pull");
        let push = ctx.socket(zmq::PUSH).expect("push");
        pull.bind("tcp://127.0.0.1:*").expect("bind");
        push.bind("tcp://127.0.0.1:*").expect("bind");
        let port = |s: &zmq::Socket| {
            let endpoint = s.get_last_endpoint().expect("endpoint").expect("utf-8");
            endpoint
                .rsplit(':')
                .next()
                .expect("port")
                .parse()
                .expect("port")
        };
        let ports = Ports {
            repl_in: port(&pull),
            repl_out: port(&push),
        };
        (ports, pull, push)
    }

    const WAIT: Duration = Duration::from_secs(5);

    #[test]
    fn ops_and_messages_are_two_frames() {
        let (ports, pull, push) = stand_in();
        let client = Client::connect(ports, &ClientOptions::default()).expect("connect");
        client.send("exec", "echo hi").expect("send");
        assert_eq!(
            pull.recv_multipart(0).expect("op"),
            [b"exec".to_vec(), b"echo hi".to_vec()]
        );
        client.send_frames(&[b"a", b"b", b"c"]).expect("send");
        assert_eq!(pull.recv_multipart(0).expect("frames").len(), 3);
        push.send_multipart([&b"stdout"[..], b"hi\n"], 0)
            .expect("send");
        let m = client.recv(WAIT).expect("recv").expect("a message");
        assert_eq!(
            (m.kind.as_str(), m.payload.as_slice()),
            ("stdout", &b"hi\n"[..])
        );
        assert!(client
            .recv(Duration::from_millis(10))
            .expect("recv")
            .is_none());
    }

    #[test]
    fn other_frame_counts_are_errors() {
        let (ports, _pull, push) = stand_in();
        let client = Client::connect(ports, &ClientOptions::default()).expect("connect");
        push.send("status", 0).expect("send");
        push.send_multipart([&b"stdout"[..], b"x", b"y"], 0)
            .expect("send");
        push.send_multipart([&b"stdout"[..], b"ok"], 0)
            .expect("send");
        for frames in [1, 3] {
            let err = client.recv(WAIT).expect_err("malformed");
            assert!(
                matches!(err, ClientError::FrameCount { frames: n } if n == frames),
                "{err}"
            );
        }
        // The stream stays usable after a malformed message.
        let raw = client.recv_raw(WAIT).expect("recv").expect("a message");
        assert_eq!((raw.kind().as_ref(), raw.payload()), ("stdout", &b"ok"[..]));
    }

    #[test]
    fn options_apply() {
        let (ports, _pull, push) = stand_in();
        let options = ClientOptions::default()
            .linger(Duration::ZERO)
            .receive_hwm(0)
            .reconnect_interval(Duration::from_millis(1));
        let client = Client::connect(ports, &options).expect("connect");
        assert_eq!(client.pull.get_rcvhwm().expect("hwm"), 0);
        assert_eq!(client.push.get_linger().expect("linger"), 0);
        assert_eq!(client.pull.get_reconnect_ivl_max().expect("ivl"), 1);
        push.send_multipart([&b"finished"[..], b"{}"], 0)
            .expect("send");
        assert!(client
            .recv(WAIT)
            .expect("recv")
            .expect("a message")
            .is_terminal());
    }
}
