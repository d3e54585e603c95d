//! Inbound ops: decoding the agent's two-frame messages into [`Op`]s.
//!
//! A pure function over byte frames, no sockets, so every rule of the inbound protocol (two
//! frames, ASCII op names, UTF-8 payloads, JSON where JSON is due, the size limit, and the
//! reply an op owes even when its payload is unusable) is unit-tested here (docs/protocol.md
//! §1.3, §1.4, §2).

use thiserror::Error;

use super::msg::{Msg, ServiceResult};
use super::receive::Body;

/// The payload of a task op: its text, or only the size of one over the size limit (the task
/// then reports that instead of running, docs/protocol.md §1.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Payload {
    /// The command or source text.
    Text(String),
    /// A payload over the size limit, dropped unread.
    TooLarge {
        /// Its size in bytes (the whole message).
        size: usize,
        /// The limit.
        limit: usize,
    },
}

#[cfg(test)]
impl From<&str> for Payload {
    fn from(text: &str) -> Self {
        Payload::Text(text.to_owned())
    }
}

/// An inbound operation from the agent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    /// `clean`: a shell command, `""` to skip, `"*"` for the plugin heuristic.
    Clean(Payload),
    /// `build`: as `clean`.
    Build(Payload),
    /// `exec`: as `clean`.
    Exec(Payload),
    /// `code`: query-mode source text.
    Code(Payload),
    /// `input`: text typed by the user.
    Input(String),
    /// `complete`: the raw JSON payload (parsed by the completion lane, which must reply even
    /// when it is malformed).
    Complete(String),
    /// `interrupt`.
    Interrupt,
    /// `status`.
    Status,
    /// `event`: JSON `{"type": ..., "data": ...}`.
    Event(serde_json::Value),
    /// `start-service`: the raw JSON payload (a reply is due even when it is malformed).
    StartService(String),
    /// `shutdown-service`: a JSON string with the service name.
    ShutdownService(String),
    /// `get-apps`: an optional service name to filter by.
    GetApps(String),
    /// `start-model-service`: the raw JSON payload (a reply is due even when it is malformed).
    StartModelService(String),
    /// `krunner/is-complete`, a private op of `krunner console` (docs/protocol.md §2.11): the
    /// raw JSON payload. Decoded only by [`decode_private`], never from the agent.
    IsComplete(String),
}

impl Op {
    /// The op's name on the wire.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Clean(_) => "clean",
            Op::Build(_) => "build",
            Op::Exec(_) => "exec",
            Op::Code(_) => "code",
            Op::Input(_) => "input",
            Op::Complete(_) => "complete",
            Op::Interrupt => "interrupt",
            Op::Status => "status",
            Op::Event(_) => "event",
            Op::StartService(_) => "start-service",
            Op::ShutdownService(_) => "shutdown-service",
            Op::GetApps(_) => "get-apps",
            Op::StartModelService(_) => "start-model-service",
            Op::IsComplete(_) => IS_COMPLETE,
        }
    }
}

/// Why an inbound message could not be decoded.
#[derive(Debug, Error, PartialEq)]
pub(crate) enum ProtocolError {
    /// Not exactly two frames.
    #[error("expected 2 frames, got {0}")]
    FrameCount(usize),
    /// The op name is not ASCII.
    #[error("op name is not ASCII ({0} bytes)")]
    OpNotAscii(usize),
    /// The op name is not one we know.
    #[error("unknown op {0:?}")]
    UnknownOp(String),
    /// The payload of a text op is not UTF-8.
    #[error("payload of {op:?} is not valid UTF-8: {detail}")]
    NotUtf8 {
        /// The op.
        op: &'static str,
        /// What the decoder said.
        detail: String,
    },
    /// The payload of a JSON op is not valid JSON.
    #[error("payload of {op:?} is not valid JSON: {detail}")]
    BadJson {
        /// The op.
        op: &'static str,
        /// What the parser said.
        detail: String,
    },
    /// A message over the size limit, dropped unread.
    #[error(
        "{op:?} of {size} bytes is larger than the limit of {limit} bytes (--max-message-size)"
    )]
    TooLarge {
        /// The op.
        op: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A decodable message whose op owes a reply but whose payload is unusable; the caller
    /// must still send that reply.
    #[error("{source}")]
    NeedsReply {
        /// The reply that is owed.
        reply: Box<Msg>,
        /// The underlying problem.
        source: Box<ProtocolError>,
    },
}

impl ProtocolError {
    /// Whether the message was over the size limit.
    pub(crate) fn is_too_large(&self) -> bool {
        match self {
            ProtocolError::TooLarge { .. } => true,
            ProtocolError::NeedsReply { source, .. } => source.is_too_large(),
            _ => false,
        }
    }

    /// The reply owed despite the error, if any.
    pub(crate) fn owed_reply(&self) -> Option<&Msg> {
        match self {
            ProtocolError::NeedsReply { reply, .. } => Some(reply),
            _ => None,
        }
    }
}

/// The ops, by name.
const OPS: [&str; 13] = [
    "clean",
    "build",
    "exec",
    "code",
    "input",
    "complete",
    "interrupt",
    "status",
    "event",
    "start-service",
    "shutdown-service",
    "get-apps",
    "start-model-service",
];

/// The private op of `krunner console` (docs/protocol.md §2.11).
pub(crate) const IS_COMPLETE: &str = "krunner/is-complete";

/// Which ops a runner accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accept {
    /// The agent's protocol.
    Agent,
    /// The agent's protocol and the console's private op.
    Console,
}

/// Checks the frame count and the op name; returns the op's name.
fn op_name(name: &[u8], parts: usize, accept: Accept) -> Result<&'static str, ProtocolError> {
    if parts != 2 {
        return Err(ProtocolError::FrameCount(parts));
    }
    if !name.is_ascii() {
        return Err(ProtocolError::OpNotAscii(name.len()));
    }
    let name = std::str::from_utf8(name).unwrap_or_default();
    if accept == Accept::Console && name == IS_COMPLETE {
        return Ok(IS_COMPLETE);
    }
    OPS.iter()
        .find(|op| **op == name)
        .copied()
        .ok_or_else(|| ProtocolError::UnknownOp(name.to_owned()))
}

/// The reply an op owes, when its payload cannot be used; `reason` says why.
fn owed_reply(op: &str, reason: &str) -> Option<Msg> {
    Some(match op {
        "complete" => Msg::Completion(Vec::new()),
        "start-service" => Msg::ServiceResult(ServiceResult::failed(reason)),
        "get-apps" => Msg::AppsResult(Vec::new()),
        "start-model-service" => Msg::ModelServiceResult(ServiceResult::failed(reason)),
        IS_COMPLETE => Msg::IsComplete(UNKNOWN_COMPLETENESS.into()),
        _ => return None,
    })
}

/// Attaches the reply `op` owes, if any, to `error`.
fn with_owed_reply(op: &str, reason: &str, error: ProtocolError) -> ProtocolError {
    match owed_reply(op, reason) {
        Some(reply) => ProtocolError::NeedsReply {
            reply: Box::new(reply),
            source: Box::new(error),
        },
        None => error,
    }
}

/// The answer to a `krunner/is-complete` that cannot be asked.
pub(crate) const UNKNOWN_COMPLETENESS: &str = r#"{"status":"unknown"}"#;

/// Decodes one inbound message of the agent's protocol.
pub(crate) fn decode(body: Body) -> Result<Op, ProtocolError> {
    decode_as(body, Accept::Agent)
}

/// Decodes one inbound message for a runner `krunner console` started: the agent's protocol
/// and the console's private op.
pub(crate) fn decode_private(body: Body) -> Result<Op, ProtocolError> {
    decode_as(body, Accept::Console)
}

fn decode_as(body: Body, accept: Accept) -> Result<Op, ProtocolError> {
    match body {
        Body::Frames(frames) => decode_frames(frames, accept),
        Body::TooLarge {
            name,
            parts,
            size,
            limit,
        } => too_large(op_name(&name, parts, accept)?, size, limit),
    }
}

/// An op whose message was over the size limit: task ops still run (to report it), requests
/// get the reply they owe, `status` and `interrupt` (whose payload is ignored) are served.
fn too_large(op: &'static str, size: usize, limit: usize) -> Result<Op, ProtocolError> {
    let payload = Payload::TooLarge { size, limit };
    Ok(match op {
        "clean" => Op::Clean(payload),
        "build" => Op::Build(payload),
        "exec" => Op::Exec(payload),
        "code" => Op::Code(payload),
        "status" => Op::Status,
        "interrupt" => Op::Interrupt,
        _ => {
            let reason = format!(
                "the request is {size} bytes, more than the runner accepts ({limit} bytes)"
            );
            let error = ProtocolError::TooLarge { op, size, limit };
            return Err(with_owed_reply(op, &reason, error));
        }
    })
}

fn decode_frames(mut frames: Vec<Vec<u8>>, accept: Accept) -> Result<Op, ProtocolError> {
    let op = op_name(
        frames.first().map_or(&[][..], Vec::as_slice),
        frames.len(),
        accept,
    )?;
    let payload = frames.pop().unwrap_or_default();
    let text = String::from_utf8(payload).map_err(|e| {
        let error = ProtocolError::NotUtf8 {
            op,
            detail: e.utf8_error().to_string(),
        };
        with_owed_reply(op, "the request is not valid UTF-8", error)
    });
    let task = |text: Result<String, ProtocolError>| text.map(Payload::Text);
    Ok(match op {
        "clean" => Op::Clean(task(text)?),
        "build" => Op::Build(task(text)?),
        "exec" => Op::Exec(task(text)?),
        "code" => Op::Code(task(text)?),
        "input" => Op::Input(text?),
        "complete" => Op::Complete(text?),
        "interrupt" => Op::Interrupt,
        "status" => Op::Status,
        "event" => Op::Event(
            serde_json::from_str(&text?).map_err(|e| ProtocolError::BadJson {
                op: "event",
                detail: e.to_string(),
            })?,
        ),
        "start-service" => Op::StartService(text?),
        "shutdown-service" => Op::ShutdownService(text?),
        "get-apps" => Op::GetApps(text?),
        IS_COMPLETE => Op::IsComplete(text?),
        _ => Op::StartModelService(text?),
    })
}

#[cfg(test)]
mod tests;
