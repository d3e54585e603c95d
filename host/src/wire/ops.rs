//! Inbound ops: decoding the agent's two-frame messages into [`Op`]s.
//!
//! A pure function over byte frames, no sockets, so every rule of the inbound protocol (two
//! frames, ASCII op names, UTF-8 payloads, JSON where JSON is due, and the reply an op owes
//! even when its payload is unusable) is unit-tested here (docs/protocol.md §1.3, §1.4, §2).

use thiserror::Error;

use super::msg::{Msg, ServiceResult};

/// An inbound operation from the agent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    /// `clean`: a shell command, `""` to skip, `"*"` for the plugin heuristic.
    Clean(String),
    /// `build`: as `clean`.
    Build(String),
    /// `exec`: as `clean`.
    Exec(String),
    /// `code`: query-mode source text.
    Code(String),
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
    /// The reply owed despite the error, if any.
    pub(crate) fn owed_reply(&self) -> Option<&Msg> {
        match self {
            ProtocolError::NeedsReply { reply, .. } => Some(reply),
            _ => None,
        }
    }
}

/// Decodes one inbound multipart message.
pub(crate) fn decode(frames: &[Vec<u8>]) -> Result<Op, ProtocolError> {
    if frames.len() != 2 {
        return Err(ProtocolError::FrameCount(frames.len()));
    }
    let name = &frames[0];
    if !name.is_ascii() {
        return Err(ProtocolError::OpNotAscii(name.len()));
    }
    let name = std::str::from_utf8(name).unwrap_or_default();
    let payload = frames[1].as_slice();
    let text = |op: &'static str| {
        String::from_utf8(payload.to_vec()).map_err(|e| ProtocolError::NotUtf8 {
            op,
            detail: e.utf8_error().to_string(),
        })
    };
    // Ops that owe a reply must produce it even when their payload is unusable.
    let owed = |reply: Msg| {
        move |e: ProtocolError| -> ProtocolError {
            ProtocolError::NeedsReply {
                reply: Box::new(reply),
                source: Box::new(e),
            }
        }
    };
    Ok(match name {
        "clean" => Op::Clean(text("clean")?),
        "build" => Op::Build(text("build")?),
        "exec" => Op::Exec(text("exec")?),
        "code" => Op::Code(text("code")?),
        "input" => Op::Input(text("input")?),
        "complete" => Op::Complete(text("complete").map_err(owed(Msg::Completion(Vec::new())))?),
        "interrupt" => Op::Interrupt,
        "status" => Op::Status,
        "event" => {
            let t = text("event")?;
            Op::Event(
                serde_json::from_str(&t).map_err(|e| ProtocolError::BadJson {
                    op: "event",
                    detail: e.to_string(),
                })?,
            )
        }
        "start-service" => Op::StartService(text("start-service").map_err(owed(
            Msg::ServiceResult(ServiceResult::failed("the request is not valid UTF-8")),
        ))?),
        "shutdown-service" => Op::ShutdownService(text("shutdown-service")?),
        "get-apps" => Op::GetApps(text("get-apps").map_err(owed(Msg::AppsResult(Vec::new())))?),
        "start-model-service" => {
            Op::StartModelService(text("start-model-service").map_err(owed(
                Msg::ModelServiceResult(ServiceResult::failed("the request is not valid UTF-8")),
            ))?)
        }
        other => return Err(ProtocolError::UnknownOp(other.to_owned())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(op: &str, payload: &[u8]) -> Vec<Vec<u8>> {
        vec![op.as_bytes().to_vec(), payload.to_vec()]
    }

    #[test]
    fn decodes_every_op() {
        assert_eq!(
            decode(&frames("exec", b"echo hi")),
            Ok(Op::Exec("echo hi".into()))
        );
        assert_eq!(decode(&frames("clean", b"")), Ok(Op::Clean(String::new())));
        assert_eq!(decode(&frames("build", b"*")), Ok(Op::Build("*".into())));
        assert_eq!(decode(&frames("code", b"x")), Ok(Op::Code("x".into())));
        assert_eq!(
            decode(&frames("input", b"a\n")),
            Ok(Op::Input("a\n".into()))
        );
        assert_eq!(decode(&frames("interrupt", b"")), Ok(Op::Interrupt));
        assert_eq!(decode(&frames("status", b"")), Ok(Op::Status));
        assert_eq!(
            decode(&frames("complete", b"{}")),
            Ok(Op::Complete("{}".into()))
        );
        assert_eq!(
            decode(&frames("event", br#"{"type":"oom","data":{}}"#)),
            Ok(Op::Event(serde_json::json!({"type": "oom", "data": {}})))
        );
        assert_eq!(
            decode(&frames("get-apps", b"")),
            Ok(Op::GetApps(String::new()))
        );
    }

    #[test]
    fn rejects_malformed_frames() {
        assert_eq!(
            decode(&[b"status".to_vec()]),
            Err(ProtocolError::FrameCount(1))
        );
        assert_eq!(
            decode(&[b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]),
            Err(ProtocolError::FrameCount(3))
        );
        assert_eq!(
            decode(&frames("\u{e9}", b"")),
            Err(ProtocolError::OpNotAscii(2))
        );
        assert_eq!(
            decode(&frames("launch", b"")),
            Err(ProtocolError::UnknownOp("launch".into()))
        );
        assert!(matches!(
            decode(&frames("exec", b"\xff")),
            Err(ProtocolError::NotUtf8 { op: "exec", .. })
        ));
        assert!(matches!(
            decode(&frames("event", b"{")),
            Err(ProtocolError::BadJson { op: "event", .. })
        ));
    }

    #[test]
    fn malformed_requests_still_owe_their_reply() {
        let err = decode(&frames("complete", b"\xff\xfe")).expect_err("not utf-8");
        assert_eq!(err.owed_reply(), Some(&Msg::Completion(Vec::new())));
        let err = decode(&frames("start-service", b"\xff")).expect_err("not utf-8");
        assert!(matches!(err.owed_reply(), Some(Msg::ServiceResult(_))));
        assert!(decode(&frames("exec", b"\xff"))
            .expect_err("not utf-8")
            .owed_reply()
            .is_none());
    }
}
