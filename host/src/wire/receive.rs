//! Taking one message from the ops socket, with its size checked before anything is copied.
//!
//! A message over the maximum message size (`--max-message-size`, all frames together) is
//! not kept: only its first frame (the op name, when it is short), its frame count and its
//! size travel on, so that the dispatcher can still send the reply the op owes, or the
//! terminal message of a task op (docs/protocol.md §1.4). Frames far larger still never get
//! here: ZeroMQ refuses them ([`super::Limits::hard_cap`]).

use super::gate::Held;

/// Raw inbound frames.
pub(crate) type Frames = Vec<Vec<u8>>;

/// Op names longer than this are not kept for a message over the size limit (no op is).
const NAME_KEPT: usize = 64;

/// What an inbound message carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    /// Its frames.
    Frames(Frames),
    /// A message over the size limit, dropped unread.
    TooLarge {
        /// Its first frame when that is short (empty otherwise).
        name: Vec<u8>,
        /// How many frames it had.
        parts: usize,
        /// All frames together, in bytes.
        size: usize,
        /// The limit it exceeded.
        limit: usize,
    },
}

impl Body {
    /// The first frame (the op name), its frame count, and the bytes kept in memory.
    pub(crate) fn shape(&self) -> (&[u8], usize, usize) {
        match self {
            Body::Frames(frames) => (
                frames.first().map_or(&[][..], Vec::as_slice),
                frames.len(),
                frames.iter().map(Vec::len).sum(),
            ),
            Body::TooLarge { name, parts, .. } => (name, *parts, 0),
        }
    }
}

/// An op on its way to the dispatcher, with its share of the inbound budget (given back when
/// the op is done with; requests leave theirs with the socket thread until their reply leaves).
#[derive(Debug)]
pub(crate) struct Inbound {
    /// The message.
    pub(crate) body: Body,
    /// Its charge.
    pub(crate) held: Held,
}

/// Takes the next message without waiting; `None` when none is there.
pub(super) fn read(pull: &zmq::Socket, limit: usize) -> Result<Option<Body>, zmq::Error> {
    let first = match pull.recv_msg(zmq::DONTWAIT) {
        Ok(m) => m,
        Err(zmq::Error::EAGAIN) => return Ok(None),
        Err(e) => return Err(e),
    };
    // The parts of a message arrive together: the rest is there already.
    let mut parts = vec![first];
    while pull.get_rcvmore()? {
        parts.push(next_part(pull)?);
    }
    let size: usize = parts.iter().map(|p| p.len()).sum();
    if size > limit {
        let name = if parts[0].len() <= NAME_KEPT {
            parts[0].to_vec()
        } else {
            Vec::new()
        };
        return Ok(Some(Body::TooLarge {
            name,
            parts: parts.len(),
            size,
            limit,
        }));
    }
    // One copy each, freeing ZeroMQ's buffer as soon as it is copied.
    Ok(Some(Body::Frames(
        parts.into_iter().map(|p| p.to_vec()).collect(),
    )))
}

fn next_part(pull: &zmq::Socket) -> Result<zmq::Message, zmq::Error> {
    loop {
        match pull.recv_msg(0) {
            Err(zmq::Error::EINTR) => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (zmq::Context, zmq::Socket, zmq::Socket) {
        let ctx = zmq::Context::new();
        let pull = ctx.socket(zmq::PULL).expect("pull");
        let push = ctx.socket(zmq::PUSH).expect("push");
        pull.bind("inproc://receive-test").expect("bind");
        push.connect("inproc://receive-test").expect("connect");
        (ctx, pull, push)
    }

    fn wait(pull: &zmq::Socket, limit: usize) -> Body {
        let mut items = [pull.as_poll_item(zmq::POLLIN)];
        zmq::poll(&mut items, 5000).expect("poll");
        read(pull, limit).expect("read").expect("a message")
    }

    #[test]
    fn messages_within_the_limit_keep_their_frames() {
        let (_ctx, pull, push) = pair();
        assert_eq!(read(&pull, 100).expect("read"), None);
        push.send_multipart([&b"exec"[..], b"true"], 0)
            .expect("send");
        let body = wait(&pull, 100);
        assert_eq!(body.shape(), (&b"exec"[..], 2, 8));
        assert_eq!(body, Body::Frames(vec![b"exec".to_vec(), b"true".to_vec()]));
    }

    #[test]
    fn a_message_over_the_limit_keeps_only_its_shape() {
        let (_ctx, pull, push) = pair();
        push.send_multipart([&b"exec"[..], &[b'x'; 200][..]], 0)
            .expect("send");
        let body = wait(&pull, 100);
        assert_eq!(
            body,
            Body::TooLarge {
                name: b"exec".to_vec(),
                parts: 2,
                size: 204,
                limit: 100
            }
        );
        assert_eq!(body.shape(), (&b"exec"[..], 2, 0));
        push.send_multipart([&[b'n'; 300][..], b""], 0)
            .expect("send");
        assert!(
            matches!(wait(&pull, 100), Body::TooLarge { name, parts: 2, .. } if name.is_empty())
        );
    }
}
