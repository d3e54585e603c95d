//! The wire protocol: decoding inbound frames into [`Op`]s and encoding outbound [`Msg`]s.
//!
//! Pure functions over byte frames, no sockets, so every rule of the protocol (two frames,
//! ASCII op names, UTF-8 payloads, exact JSON shapes, msgpack `status`) is unit-tested here.

use serde::Serialize;
use thiserror::Error;

/// An inbound operation from the agent.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
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
    pub fn name(&self) -> &'static str {
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
pub enum ProtocolError {
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
    pub fn owed_reply(&self) -> Option<&Msg> {
        match self {
            ProtocolError::NeedsReply { reply, .. } => Some(reply),
            _ => None,
        }
    }
}

/// Decodes one inbound multipart message.
pub fn decode(frames: &[Vec<u8>]) -> Result<Op, ProtocolError> {
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

/// Which terminal message ends a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// `clean-finished`.
    Clean,
    /// `build-finished`.
    Build,
    /// `finished` (after `exec` or `code`).
    Exec,
}

/// The JSON body of `service-result` and `model-service-result`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceResult {
    /// `started`, `running` or `failed`.
    pub status: &'static str,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ServiceResult {
    /// `{"status": "started"}`.
    pub fn started() -> Self {
        Self {
            status: "started",
            error: None,
        }
    }

    /// `{"status": "running"}`.
    pub fn running() -> Self {
        Self {
            status: "running",
            error: None,
        }
    }

    /// `{"status": "failed", "error": ...}`.
    pub fn failed(error: impl Into<String>) -> Self {
        Self {
            status: "failed",
            error: Some(error.into()),
        }
    }
}

/// An outbound message to the agent.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// Raw bytes on the user's stdout.
    Stdout(Vec<u8>),
    /// Raw bytes on the user's stderr.
    Stderr(Vec<u8>),
    /// A media JSON object (already validated).
    Media(String),
    /// Raw HTML.
    Html(String),
    /// A console log item.
    Log(String),
    /// `waiting-input {"is_password": ...}`.
    WaitingInput {
        /// Whether the input should be hidden.
        is_password: bool,
    },
    /// A task's terminal message with its exit code (`None` encodes as `null`).
    Finished(Finish, Option<i32>),
    /// `completion {"suggestions": [...]}`.
    Completion(Vec<String>),
    /// `status` (msgpack `{"started_at": float}`).
    Status {
        /// The runner's monotonic start time in seconds.
        started_at: f64,
    },
    /// `service-result`.
    ServiceResult(ServiceResult),
    /// `apps-result {"status": "done", "data": [...]}`.
    AppsResult(Vec<serde_json::Value>),
    /// `model-service-result`.
    ModelServiceResult(ServiceResult),
    /// `model-service-status {"model_name": ..., "is_healthy": ...}`.
    ModelServiceStatus {
        /// The model's name.
        model_name: String,
        /// Its health.
        is_healthy: bool,
    },
}

impl Msg {
    /// Whether this is a reply on a side channel (matched FIFO by the agent) rather than part
    /// of a task's ordered output.
    pub fn is_reply(&self) -> bool {
        matches!(
            self,
            Msg::Completion(_)
                | Msg::Status { .. }
                | Msg::ServiceResult(_)
                | Msg::AppsResult(_)
                | Msg::ModelServiceResult(_)
                | Msg::ModelServiceStatus { .. }
        )
    }

    /// The type frame.
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::Stdout(_) => "stdout",
            Msg::Stderr(_) => "stderr",
            Msg::Media(_) => "media",
            Msg::Html(_) => "html",
            Msg::Log(_) => "log",
            Msg::WaitingInput { .. } => "waiting-input",
            Msg::Finished(Finish::Clean, _) => "clean-finished",
            Msg::Finished(Finish::Build, _) => "build-finished",
            Msg::Finished(Finish::Exec, _) => "finished",
            Msg::Completion(_) => "completion",
            Msg::Status { .. } => "status",
            Msg::ServiceResult(_) => "service-result",
            Msg::AppsResult(_) => "apps-result",
            Msg::ModelServiceResult(_) => "model-service-result",
            Msg::ModelServiceStatus { .. } => "model-service-status",
        }
    }

    /// Encodes the message as its two frames.
    pub fn encode(self) -> [Vec<u8>; 2] {
        let kind = self.kind().as_bytes().to_vec();
        let payload = match self {
            Msg::Stdout(b) | Msg::Stderr(b) => b,
            Msg::Media(s) | Msg::Html(s) | Msg::Log(s) => s.into_bytes(),
            Msg::WaitingInput { is_password } => {
                json(&serde_json::json!({ "is_password": is_password }))
            }
            Msg::Finished(_, code) => json(&serde_json::json!({ "exitCode": code })),
            Msg::Completion(s) => json(&serde_json::json!({ "suggestions": s })),
            Msg::Status { started_at } => status_msgpack(started_at),
            Msg::ServiceResult(r) | Msg::ModelServiceResult(r) => json(&r),
            Msg::AppsResult(data) => json(&serde_json::json!({ "status": "done", "data": data })),
            Msg::ModelServiceStatus {
                model_name,
                is_healthy,
            } => json(&serde_json::json!({ "model_name": model_name, "is_healthy": is_healthy })),
        };
        [kind, payload]
    }
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structures cannot fail.
    serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())
}

fn status_msgpack(started_at: f64) -> Vec<u8> {
    let mut buf = Vec::with_capacity(24);
    // Writing into a Vec cannot fail.
    let _ = rmp::encode::write_map_len(&mut buf, 1);
    let _ = rmp::encode::write_str(&mut buf, "started_at");
    let _ = rmp::encode::write_f64(&mut buf, started_at);
    buf
}

/// Checks that a `media` payload is a UTF-8 JSON object with a string `type` and a `data` key.
pub fn validate_media(payload: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(payload).map_err(|e| format!("not UTF-8: {e}"))?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let obj = value
        .as_object()
        .ok_or_else(|| "not a JSON object".to_owned())?;
    if !obj.get("type").is_some_and(serde_json::Value::is_string) {
        return Err("missing string field \"type\"".to_owned());
    }
    if !obj.contains_key("data") {
        return Err("missing field \"data\"".to_owned());
    }
    Ok(text.to_owned())
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

    #[test]
    fn encodes_terminal_messages_exactly() {
        let [k, p] = Msg::Finished(Finish::Exec, Some(0)).encode();
        assert_eq!(
            (k.as_slice(), p.as_slice()),
            (&b"finished"[..], &br#"{"exitCode":0}"#[..])
        );
        let [k, p] = Msg::Finished(Finish::Build, Some(127)).encode();
        assert_eq!(k, b"build-finished");
        assert_eq!(p, br#"{"exitCode":127}"#);
        let [k, p] = Msg::Finished(Finish::Clean, None).encode();
        assert_eq!(k, b"clean-finished");
        assert_eq!(p, br#"{"exitCode":null}"#);
    }

    #[test]
    fn encodes_side_channel_replies() {
        let [k, p] = Msg::Completion(vec!["print".into()]).encode();
        assert_eq!(k, b"completion");
        assert_eq!(p, br#"{"suggestions":["print"]}"#);
        let [_, p] = Msg::ServiceResult(ServiceResult::started()).encode();
        assert_eq!(p, br#"{"status":"started"}"#);
        let [_, p] = Msg::ServiceResult(ServiceResult::failed("x")).encode();
        assert_eq!(p, br#"{"status":"failed","error":"x"}"#);
        let [_, p] = Msg::AppsResult(vec![]).encode();
        let v: serde_json::Value = serde_json::from_slice(&p).expect("json");
        assert_eq!(v, serde_json::json!({"status": "done", "data": []}));
        let [_, p] = Msg::WaitingInput { is_password: true }.encode();
        assert_eq!(p, br#"{"is_password":true}"#);
    }

    #[test]
    fn status_is_msgpack_map_with_float() {
        let [k, p] = Msg::Status { started_at: 1.5 }.encode();
        assert_eq!(k, b"status");
        // fixmap(1), fixstr(10) "started_at", float64
        assert_eq!(p[0], 0x81);
        assert_eq!(p[1], 0xaa);
        assert_eq!(&p[2..12], b"started_at");
        assert_eq!(p[12], 0xcb);
        assert_eq!(
            f64::from_be_bytes(p[13..21].try_into().expect("8 bytes")),
            1.5
        );
    }

    #[test]
    fn stdout_passes_raw_bytes() {
        let [_, p] = Msg::Stdout(vec![0xff, 0x00, 0xc3]).encode();
        assert_eq!(p, vec![0xff, 0x00, 0xc3]);
    }

    #[test]
    fn media_validation() {
        assert!(validate_media(br#"{"type":"image/png","data":"data:..."}"#).is_ok());
        assert!(validate_media(br#"{"type":"x","data":[1,2]}"#).is_ok());
        assert!(validate_media(b"<b>html</b>").is_err());
        assert!(validate_media(br#"{"data":"x"}"#).is_err());
        assert!(validate_media(br#"{"type":"x"}"#).is_err());
        assert!(validate_media(b"\xff").is_err());
        assert!(validate_media(b"[1]").is_err());
    }
}
