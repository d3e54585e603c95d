//! A ZeroMQ client for one TCP connection: ZMTP 3.0 with the NULL mechanism, as a DEALER or
//! SUB socket, which is all a Jupyter client needs (the kernel binds ROUTER, PUB and REP
//! sockets; the client connects one socket to each).
//!
//! Why not libzmq: every language plugin that serves queries through a kernel would carry its
//! own copy of libzmq and its C++ runtime (about 1 MB each, see the `git` plugin), and the
//! distribution tarball has a size budget. A client socket to a single peer that binds is a
//! small part of ZMTP (RFC 23): a 64-byte greeting, a READY command with the socket type and
//! identity, then length-prefixed frames. Reconnecting, queueing and fair-queueing over many
//! peers, which libzmq does, are not needed: when a connection to the kernel breaks, the
//! kernel is gone and the bridge starts a fresh one.
//!
//! Announcing version 3.0 makes every libzmq peer (4.x speaks 3.1) use the 3.0 rules, in which
//! a subscription is a message whose first byte is 1.
//!
//! Incoming messages are bounded: one larger than [`MAX_MESSAGE`] is read and discarded, not
//! kept, and reported as [`Received::Oversized`].

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The largest message kept (all frames together): 64 MiB, the agent's own default limit.
pub const MAX_MESSAGE: u64 = 64 << 20;

/// How long a write may block before the connection counts as broken.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

const FLAG_MORE: u8 = 0x01;
const FLAG_LONG: u8 = 0x02;
const FLAG_COMMAND: u8 = 0x04;

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ZmtpError {
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Nothing accepted the connection before the deadline.
    #[error("nothing accepted connections on {0} in time")]
    NotListening(SocketAddr),
    /// The peer does not speak ZMTP 3 with the NULL mechanism, or refused us.
    #[error("the peer at {addr} {why}")]
    Protocol {
        /// The peer.
        addr: SocketAddr,
        /// What it did wrong.
        why: String,
    },
    /// The connection was given up (the kernel died meanwhile).
    #[error("connecting was given up")]
    Cancelled,
}

/// A received message.
#[derive(Debug)]
pub enum Received {
    /// The frames of one message.
    Message(Vec<Vec<u8>>),
    /// A message of this many bytes (at least) that was larger than [`MAX_MESSAGE`] and was
    /// discarded.
    Oversized(u64),
}

/// The receiving half of a connection (owned by one reader thread).
pub struct Reader(BufReader<TcpStream>);

/// The sending half of a connection (shared; one message is written at a time).
pub struct Writer(Mutex<TcpStream>);

/// Connects a `socket_type` (`DEALER` or `SUB`) socket with `identity` to `addr`, retrying
/// refused connections until `deadline` or until `give_up` says so, and completes the ZMTP
/// handshake. Returns the halves and a handle to shut the connection down.
pub fn connect(
    addr: SocketAddr,
    socket_type: &str,
    identity: &[u8],
    deadline: Instant,
    give_up: &dyn Fn() -> bool,
) -> Result<(Reader, Writer, TcpStream), ZmtpError> {
    let stream = connect_tcp(addr, deadline, give_up)?;
    stream.set_nodelay(true)?;
    let remaining = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100));
    stream.set_read_timeout(Some(remaining))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream.try_clone()?);
    writer.write_all(&greeting())?;
    let protocol = |why: String| ZmtpError::Protocol { addr, why };
    let mut theirs = [0u8; 64];
    reader.read_exact(&mut theirs)?;
    check_greeting(&theirs).map_err(protocol)?;
    writer.write_all(&ready(socket_type, identity))?;
    match read_frame(&mut reader, MAX_MESSAGE)? {
        Frame::Command(body) if body.starts_with(b"\x05READY") => {}
        Frame::Command(body) if body.starts_with(b"\x05ERROR") => {
            let reason = body.get(7..).unwrap_or_default();
            return Err(protocol(format!(
                "refused the connection: {}",
                String::from_utf8_lossy(reason)
            )));
        }
        _ => return Err(protocol("did not send READY".into())),
    }
    stream.set_read_timeout(None)?;
    Ok((Reader(reader), Writer(Mutex::new(writer)), stream))
}

fn connect_tcp(
    addr: SocketAddr,
    deadline: Instant,
    give_up: &dyn Fn() -> bool,
) -> Result<TcpStream, ZmtpError> {
    let mut pause = Duration::from_millis(5);
    loop {
        if give_up() {
            return Err(ZmtpError::Cancelled);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ZmtpError::NotListening(addr));
        }
        match TcpStream::connect_timeout(&addr, left.min(Duration::from_secs(1))) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                std::thread::sleep(pause.min(left));
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Our greeting: signature, version 3.0, NULL mechanism, not a server.
fn greeting() -> [u8; 64] {
    let mut g = [0u8; 64];
    g[0] = 0xff;
    g[9] = 0x7f;
    g[10] = 3;
    g[11] = 0;
    g[12..16].copy_from_slice(b"NULL");
    g
}

fn check_greeting(g: &[u8; 64]) -> Result<(), String> {
    if g[0] != 0xff || g[9] & 1 != 1 {
        return Err("does not speak ZeroMQ".into());
    }
    if g[10] < 3 {
        return Err(format!("speaks ZMTP {}, older than 3.0", g[10]));
    }
    let mechanism = &g[12..32];
    if !mechanism.starts_with(b"NULL\0") {
        let name = String::from_utf8_lossy(mechanism);
        return Err(format!(
            "wants the {} security mechanism; only NULL is supported",
            name.trim_end_matches('\0')
        ));
    }
    Ok(())
}

/// The READY command with our socket type and identity.
fn ready(socket_type: &str, identity: &[u8]) -> Vec<u8> {
    let mut body = b"\x05READY".to_vec();
    let mut property = |name: &str, value: &[u8]| {
        body.push(name.len() as u8);
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(&(value.len() as u32).to_be_bytes());
        body.extend_from_slice(value);
    };
    property("Socket-Type", socket_type.as_bytes());
    if !identity.is_empty() {
        property("Identity", identity);
    }
    let mut frame = Vec::with_capacity(body.len() + 9);
    push_header(&mut frame, FLAG_COMMAND, body.len());
    frame.extend_from_slice(&body);
    frame
}

fn push_header(out: &mut Vec<u8>, flags: u8, len: usize) {
    if len > 255 {
        out.push(flags | FLAG_LONG);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    } else {
        out.push(flags);
        out.push(len as u8);
    }
}

enum Frame {
    Data {
        body: Vec<u8>,
        more: bool,
    },
    /// A data frame over the limit, skipped.
    Skipped {
        len: u64,
        more: bool,
    },
    Command(Vec<u8>),
}

fn read_frame(r: &mut impl Read, limit: u64) -> std::io::Result<Frame> {
    let mut flags = [0u8; 1];
    r.read_exact(&mut flags)?;
    let len = if flags[0] & FLAG_LONG != 0 {
        let mut l = [0u8; 8];
        r.read_exact(&mut l)?;
        u64::from_be_bytes(l)
    } else {
        let mut l = [0u8; 1];
        r.read_exact(&mut l)?;
        u64::from(l[0])
    };
    let more = flags[0] & FLAG_MORE != 0;
    if len > limit {
        let skipped = std::io::copy(&mut r.take(len), &mut std::io::sink())?;
        if skipped < len {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        return Ok(Frame::Skipped { len, more });
    }
    // Grows with what arrives, so a length announced but never sent costs nothing.
    let mut body = Vec::new();
    r.take(len).read_to_end(&mut body)?;
    if (body.len() as u64) < len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(if flags[0] & FLAG_COMMAND != 0 {
        Frame::Command(body)
    } else {
        Frame::Data { body, more }
    })
}

impl Reader {
    /// The next message; `Err` when the connection ends.
    pub fn recv(&mut self) -> std::io::Result<Received> {
        let mut frames = Vec::new();
        let mut total: u64 = 0;
        let mut oversized = false;
        loop {
            let limit = MAX_MESSAGE.saturating_sub(total);
            match read_frame(&mut self.0, if oversized { 0 } else { limit })? {
                // Commands between messages (3.1 heartbeats) carry nothing for us.
                Frame::Command(_) => continue,
                Frame::Data { body, more } => {
                    total += body.len() as u64;
                    if !oversized {
                        frames.push(body);
                    }
                    if !more {
                        break;
                    }
                }
                Frame::Skipped { len, more } => {
                    total += len;
                    oversized = true;
                    frames = Vec::new();
                    if !more {
                        break;
                    }
                }
            }
        }
        Ok(if oversized {
            Received::Oversized(total)
        } else {
            Received::Message(frames)
        })
    }

    /// Waits at most `timeout` for the next message (the heartbeat's answer).
    pub fn recv_timeout(&mut self, timeout: Duration) -> std::io::Result<Received> {
        self.0.get_ref().set_read_timeout(Some(timeout))?;
        let got = self.recv();
        self.0.get_ref().set_read_timeout(None)?;
        got
    }
}

impl Writer {
    /// Sends one message of `frames`.
    pub fn send<F: AsRef<[u8]>>(&self, frames: &[F]) -> std::io::Result<()> {
        let size: usize = frames.iter().map(|f| f.as_ref().len() + 9).sum();
        let mut out = Vec::with_capacity(size);
        for (i, f) in frames.iter().enumerate() {
            let more = if i + 1 < frames.len() { FLAG_MORE } else { 0 };
            push_header(&mut out, more, f.as_ref().len());
            out.extend_from_slice(f.as_ref());
        }
        let mut stream = self.0.lock().unwrap_or_else(|e| e.into_inner());
        stream.write_all(&out)
    }

    /// Subscribes a SUB socket to every message.
    pub fn subscribe_all(&self) -> std::io::Result<()> {
        self.send(&[[1u8]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames_of(bytes: &[u8]) -> Received {
        Reader(BufReader::new(loopback(bytes)))
            .recv()
            .expect("recv")
    }

    /// A TCP stream whose peer wrote `bytes` and closed.
    fn loopback(bytes: &[u8]) -> TcpStream {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let bytes = bytes.to_vec();
        let t = std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.write_all(&bytes).expect("write");
        });
        let (s, _) = listener.accept().expect("accept");
        t.join().expect("writer");
        s
    }

    #[test]
    fn short_and_long_frames_and_commands_between_messages() {
        let mut bytes = vec![FLAG_COMMAND, 5, 4, b'P', b'I', b'N', b'G'];
        bytes.extend([FLAG_MORE, 1, b'a']);
        bytes.extend([FLAG_LONG]);
        bytes.extend(300u64.to_be_bytes());
        bytes.extend(vec![b'x'; 300]);
        match frames_of(&bytes) {
            Received::Message(f) => {
                assert_eq!(f.len(), 2);
                assert_eq!(f[0], b"a");
                assert_eq!(f[1].len(), 300);
            }
            Received::Oversized(n) => panic!("oversized {n}"),
        }
    }

    #[test]
    fn a_message_over_the_limit_is_skipped_without_being_kept() {
        let len = MAX_MESSAGE + 1;
        let mut header = vec![FLAG_LONG];
        header.extend(len.to_be_bytes());
        // The body is not sent: the reader skips what arrives and reports the end.
        let mut r = Reader(BufReader::new(loopback(&header)));
        assert!(r.recv().is_err(), "a truncated skip ends the connection");
        let mut bytes = vec![FLAG_MORE | FLAG_LONG];
        bytes.extend((MAX_MESSAGE - 1).to_be_bytes());
        let mut r = Reader(BufReader::new(loopback(&bytes)));
        assert!(r.recv().is_err());
    }

    #[test]
    fn greetings_are_checked() {
        assert!(check_greeting(&greeting()).is_ok());
        let mut curve = greeting();
        curve[12..17].copy_from_slice(b"CURVE");
        assert!(check_greeting(&curve).expect_err("curve").contains("CURVE"));
        let mut old = greeting();
        old[10] = 2;
        assert!(check_greeting(&old).is_err());
        assert!(check_greeting(&[0u8; 64]).is_err());
    }

    #[test]
    fn ready_names_the_socket_type_and_identity() {
        let r = ready("DEALER", b"abc");
        assert_eq!(r[0], FLAG_COMMAND);
        assert_eq!(usize::from(r[1]), r.len() - 2);
        let body = &r[2..];
        assert!(body.starts_with(b"\x05READY\x0bSocket-Type\0\0\0\x06DEALER"));
        assert!(body.ends_with(b"\x08Identity\0\0\0\x03abc"));
    }
}
