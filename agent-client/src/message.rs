//! What a runner sends back: two-frame messages `[type, payload]` (docs/protocol.md §1.3
//! and §3). [`Message`] owns its payload; [`RawMessage`] keeps ZeroMQ's buffers so
//! large stdout streams can be measured without copying; [`Outcome`] is the messages of one
//! task, whose last one is the terminal `finished`/`build-finished`/`clean-finished`.

use std::borrow::Cow;

use crate::error::ClientError;

/// Whether a message type ends a task.
pub fn is_terminal_kind(kind: &str) -> bool {
    matches!(kind, "finished" | "build-finished" | "clean-finished")
}

/// One message from the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The type frame.
    pub kind: String,
    /// The payload frame.
    pub payload: Vec<u8>,
}

impl Message {
    /// The payload as lossy text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    /// The payload as JSON, or why it is not.
    pub fn try_json(&self) -> Result<serde_json::Value, ClientError> {
        serde_json::from_slice(&self.payload).map_err(|source| ClientError::NotJson {
            kind: self.kind.clone(),
            text: self.text(),
            source,
        })
    }

    /// The payload as JSON, for callers that assert what the runner sends (tests).
    ///
    /// # Panics
    ///
    /// When the payload is not JSON; the message names the type and shows the payload. Use
    /// [`Message::try_json`] to handle that case.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or_else(|e| {
            panic!(
                "the {} payload is not JSON ({e}): {:?}",
                self.kind,
                self.text()
            )
        })
    }

    /// Whether this ends a task.
    pub fn is_terminal(&self) -> bool {
        is_terminal_kind(&self.kind)
    }
}

/// One message from the runner, still in ZeroMQ's buffers (no copy of the payload).
#[derive(Debug)]
pub struct RawMessage {
    kind: zmq::Message,
    payload: zmq::Message,
}

impl RawMessage {
    pub(crate) fn new(kind: zmq::Message, payload: zmq::Message) -> Self {
        Self { kind, payload }
    }

    /// The type frame as text (borrowed when it is UTF-8, as it always is from krunner).
    pub fn kind(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.kind)
    }

    /// The payload frame.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Copies it into a [`Message`]; the type frame must be UTF-8.
    pub fn to_message(&self) -> Result<Message, ClientError> {
        let kind = match std::str::from_utf8(&self.kind) {
            Ok(kind) => kind.to_owned(),
            Err(_) => {
                return Err(ClientError::KindNotUtf8 {
                    kind: self.kind().into_owned(),
                })
            }
        };
        Ok(Message {
            kind,
            payload: self.payload.to_vec(),
        })
    }
}

/// The messages of one task.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Everything received, terminal message last.
    pub messages: Vec<Message>,
}

impl Outcome {
    /// The terminal message's exit code (`None` without one, or when it is not JSON).
    pub fn exit_code(&self) -> Option<i64> {
        let last = self.messages.last()?;
        last.try_json().ok()?["exitCode"].as_i64()
    }

    /// The terminal message's type.
    pub fn terminal(&self) -> &str {
        self.messages.last().map_or("", |m| m.kind.as_str())
    }

    /// All stdout bytes.
    pub fn stdout(&self) -> Vec<u8> {
        self.concat("stdout")
    }

    /// All stderr bytes.
    pub fn stderr(&self) -> Vec<u8> {
        self.concat("stderr")
    }

    /// All stdout as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout()).into_owned()
    }

    /// All stderr as text.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr()).into_owned()
    }

    fn concat(&self, kind: &str) -> Vec<u8> {
        self.messages
            .iter()
            .filter(|m| m.kind == kind)
            .flat_map(|m| m.payload.iter().copied())
            .collect()
    }

    /// Messages of one type.
    pub fn of(&self, kind: &str) -> Vec<&Message> {
        self.messages.iter().filter(|m| m.kind == kind).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: &str, payload: &[u8]) -> Message {
        Message {
            kind: kind.into(),
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn terminal_kinds() {
        for kind in ["finished", "build-finished", "clean-finished"] {
            assert!(is_terminal_kind(kind));
            assert!(message(kind, b"{}").is_terminal());
        }
        for kind in ["stdout", "stderr", "status", "waiting-input", ""] {
            assert!(!is_terminal_kind(kind));
        }
    }

    #[test]
    fn text_and_json() {
        let m = message("finished", br#"{"exitCode": 3}"#);
        assert_eq!(m.text(), r#"{"exitCode": 3}"#);
        assert_eq!(m.json()["exitCode"], 3);
        assert_eq!(message("stdout", b"a\xffb").text(), "a\u{fffd}b");
    }

    #[test]
    fn try_json_names_the_type_and_payload() {
        let err = message("service-result", b"{broken")
            .try_json()
            .expect_err("not JSON");
        let text = err.to_string();
        assert!(text.contains("service-result"), "{text}");
        assert!(text.contains("{broken"), "{text}");
    }

    #[test]
    #[should_panic(expected = "the finished payload is not JSON")]
    fn json_panics_on_other_payloads() {
        message("finished", b"nope").json();
    }

    #[test]
    fn outcome_helpers() {
        let out = Outcome {
            messages: vec![
                message("stdout", b"a"),
                message("stderr", b"x"),
                message("stdout", b"b"),
                message("finished", br#"{"exitCode": 0}"#),
            ],
        };
        assert_eq!(out.stdout(), b"ab");
        assert_eq!(out.stderr_text(), "x");
        assert_eq!(out.stdout_text(), "ab");
        assert_eq!(out.exit_code(), Some(0));
        assert_eq!(out.terminal(), "finished");
        assert_eq!(out.of("stdout").len(), 2);
        assert!(out.of("media").is_empty());
    }

    #[test]
    fn outcome_without_a_usable_terminal_message() {
        assert_eq!(Outcome::default().exit_code(), None);
        assert_eq!(Outcome::default().terminal(), "");
        let out = Outcome {
            messages: vec![message("finished", b"garbage")],
        };
        assert_eq!(out.exit_code(), None);
    }

    #[test]
    fn raw_message_converts() {
        let raw = RawMessage::new(zmq::Message::from("stdout"), zmq::Message::from(&b"hi"[..]));
        assert_eq!(raw.kind(), "stdout");
        assert_eq!(raw.payload(), b"hi");
        assert_eq!(raw.to_message().expect("utf-8"), message("stdout", b"hi"));
        let bad = RawMessage::new(zmq::Message::from(&b"\xff"[..]), zmq::Message::new());
        assert!(matches!(
            bad.to_message(),
            Err(ClientError::KindNotUtf8 { .. })
        ));
    }
}
