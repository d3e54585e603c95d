//! Outbound messages: what the host sends the agent, and their exact encodings.
//!
//! Pure functions, no sockets: the frame names, JSON shapes and the msgpack `status` payload
//! are unit-tested here (docs/protocol.md §3).

use serde::Serialize;
use thiserror::Error;

/// The type of the reply to the console's private `krunner/is-complete` op.
pub(crate) const IS_COMPLETE_REPLY: &str = "krunner/is-complete-reply";

/// Which terminal message ends a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    /// `clean-finished`.
    Clean,
    /// `build-finished`.
    Build,
    /// `finished` (after `exec` or `code`).
    Exec,
}

/// The JSON body of `service-result` and `model-service-result`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ServiceResult {
    /// `started`, `running` or `failed`.
    pub(crate) status: &'static str,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

impl ServiceResult {
    /// `{"status": "started"}`.
    pub(crate) fn started() -> Self {
        Self {
            status: "started",
            error: None,
        }
    }

    /// `{"status": "running"}`.
    pub(crate) fn running() -> Self {
        Self {
            status: "running",
            error: None,
        }
    }

    /// `{"status": "failed", "error": ...}`.
    pub(crate) fn failed(error: impl Into<String>) -> Self {
        Self {
            status: "failed",
            error: Some(error.into()),
        }
    }
}

/// An outbound message to the agent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Msg {
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
    /// `krunner/is-complete-reply`: the answer to the console's private `krunner/is-complete`
    /// (docs/protocol.md §2.11), an `IsCompleteReply` as JSON text.
    IsComplete(String),
    /// `status` (msgpack `{"started_at": float}`).
    Status {
        /// The host's monotonic start time in seconds.
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
    pub(crate) fn is_reply(&self) -> bool {
        matches!(
            self,
            Msg::Completion(_)
                | Msg::IsComplete(_)
                | Msg::Status { .. }
                | Msg::ServiceResult(_)
                | Msg::AppsResult(_)
                | Msg::ModelServiceResult(_)
                | Msg::ModelServiceStatus { .. }
        )
    }

    /// The type frame.
    pub(crate) fn kind(&self) -> &'static str {
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
            Msg::IsComplete(_) => IS_COMPLETE_REPLY,
            Msg::Status { .. } => "status",
            Msg::ServiceResult(_) => "service-result",
            Msg::AppsResult(_) => "apps-result",
            Msg::ModelServiceResult(_) => "model-service-result",
            Msg::ModelServiceStatus { .. } => "model-service-status",
        }
    }

    /// Encodes the message as its two frames.
    pub(crate) fn encode(self) -> [Vec<u8>; 2] {
        let kind = self.kind().as_bytes().to_vec();
        let payload = match self {
            Msg::Stdout(b) | Msg::Stderr(b) => b,
            Msg::Media(s) | Msg::Html(s) | Msg::Log(s) | Msg::IsComplete(s) => s.into_bytes(),
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

/// Why a `media` payload was refused.
#[derive(Debug, Error)]
pub(crate) enum MediaError {
    /// Not UTF-8.
    #[error("not UTF-8: {0}")]
    NotUtf8(#[from] std::str::Utf8Error),
    /// Not JSON.
    #[error("not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    /// JSON, but not an object.
    #[error("not a JSON object")]
    NotAnObject,
    /// No string `type`.
    #[error("missing string field \"type\"")]
    NoType,
    /// No `data`.
    #[error("missing field \"data\"")]
    NoData,
}

/// Checks that a `media` payload is a UTF-8 JSON object with a string `type` and a `data` key.
pub(crate) fn validate_media(payload: &[u8]) -> Result<String, MediaError> {
    let text = std::str::from_utf8(payload)?;
    let value: serde_json::Value = serde_json::from_str(text)?;
    let obj = value.as_object().ok_or(MediaError::NotAnObject)?;
    if !obj.get("type").is_some_and(serde_json::Value::is_string) {
        return Err(MediaError::NoType);
    }
    if !obj.contains_key("data") {
        return Err(MediaError::NoData);
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

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
