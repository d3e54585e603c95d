//! Jupyter messages on the wire (the messaging protocol 5.x, "The Wire Protocol"): the
//! `<IDS|MSG>` delimiter, the HMAC-SHA256 signature over the four JSON parts, and the headers
//! a client writes.
//!
//! Contents stay `serde_json::Value`s: the bridge reads a handful of fields from a handful of
//! message types, and kernels differ in what else they send.

use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const DELIMITER: &[u8] = b"<IDS|MSG>";

/// The protocol version the bridge speaks.
pub const PROTOCOL_VERSION: &str = "5.3";

/// Why a received message was dropped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// No `<IDS|MSG>` delimiter, or fewer than five frames after it.
    #[error("not a Jupyter message")]
    Malformed,
    /// The signature does not match the key.
    #[error("bad signature")]
    BadSignature,
    /// A part is not a JSON object.
    #[error("the {0} is not a JSON object")]
    BadJson(&'static str),
}

/// One message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `msg_id`, `msg_type`, `session`, ...
    pub header: Value,
    /// The header of the request this message answers (`{}` when none).
    pub parent_header: Value,
    /// Metadata.
    pub metadata: Value,
    /// Content.
    pub content: Value,
}

impl Message {
    /// `header.msg_type`.
    pub fn msg_type(&self) -> &str {
        self.header["msg_type"].as_str().unwrap_or_default()
    }

    /// `parent_header.msg_id`.
    pub fn parent_id(&self) -> &str {
        self.parent_header["msg_id"].as_str().unwrap_or_default()
    }
}

/// A client session: its id, the signing key, and the message counter.
pub struct Session {
    id: String,
    key: Vec<u8>,
    counter: AtomicU64,
}

impl Session {
    /// A session `id` signing with `key` (no signatures when the key is empty).
    pub fn new(id: String, key: &[u8]) -> Self {
        Self {
            id,
            key: key.to_vec(),
            counter: AtomicU64::new(0),
        }
    }

    fn mac(&self) -> Option<Hmac<Sha256>> {
        if self.key.is_empty() {
            return None;
        }
        Hmac::<Sha256>::new_from_slice(&self.key).ok()
    }

    /// A new message of `msg_type` answering `parent` (a header, or `{}`); returns its id and
    /// its frames.
    pub fn message(
        &self,
        msg_type: &str,
        parent: &Value,
        content: &Value,
    ) -> (String, Vec<Vec<u8>>) {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let msg_id = format!("{}_{}", self.id, n);
        let header = json!({
            "msg_id": msg_id,
            "msg_type": msg_type,
            "session": self.id,
            "username": "krunner",
            "date": crate::clock::iso8601_now(),
            "version": PROTOCOL_VERSION,
        });
        let parts = [
            header.to_string().into_bytes(),
            parent.to_string().into_bytes(),
            b"{}".to_vec(),
            content.to_string().into_bytes(),
        ];
        let signature = match self.mac() {
            Some(mut mac) => {
                for p in &parts {
                    mac.update(p);
                }
                hex(&mac.finalize().into_bytes())
            }
            None => String::new(),
        };
        let mut frames = Vec::with_capacity(6);
        frames.push(DELIMITER.to_vec());
        frames.push(signature.into_bytes());
        frames.extend(parts);
        (msg_id, frames)
    }

    /// Checks and parses received frames (identities and topics before the delimiter are
    /// skipped; binary buffers after the content are ignored).
    pub fn decode(&self, frames: &[Vec<u8>]) -> Result<Message, WireError> {
        let at = frames
            .iter()
            .position(|f| f == DELIMITER)
            .ok_or(WireError::Malformed)?;
        let rest = &frames[at + 1..];
        if rest.len() < 5 {
            return Err(WireError::Malformed);
        }
        if let Some(mut mac) = self.mac() {
            for p in &rest[1..5] {
                mac.update(p);
            }
            let signature = unhex(&rest[0]).ok_or(WireError::BadSignature)?;
            mac.verify_slice(&signature)
                .map_err(|_| WireError::BadSignature)?;
        }
        // Some kernels (xeus) send `null` for an empty parent header or metadata.
        let part = |i: usize, name: &'static str| -> Result<Value, WireError> {
            match serde_json::from_slice::<Value>(&rest[i]) {
                Ok(Value::Null) if i != 1 => Ok(Value::Object(serde_json::Map::new())),
                Ok(v) if v.is_object() => Ok(v),
                _ => Err(WireError::BadJson(name)),
            }
        };
        Ok(Message {
            header: part(1, "header")?,
            parent_header: part(2, "parent header")?,
            metadata: part(3, "metadata")?,
            content: part(4, "content")?,
        })
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| char::from(c).to_digit(16);
    text.chunks(2)
        .map(|p| Some((digit(p[0])? * 16 + digit(p[1])?) as u8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_signatures_are_checked() {
        let a = Session::new("s".into(), b"secret");
        let (id, mut frames) = a.message("execute_request", &json!({}), &json!({"code": "1"}));
        assert_eq!(id, "s_0");
        // A router's identity frame before the delimiter is skipped.
        frames.insert(0, b"client".to_vec());
        let m = a.decode(&frames).expect("decode");
        assert_eq!(m.msg_type(), "execute_request");
        assert_eq!(m.content["code"], "1");
        let other = Session::new("s".into(), b"other key");
        assert_eq!(other.decode(&frames), Err(WireError::BadSignature));
        frames[5] = br#"{"code": "2"}"#.to_vec();
        assert_eq!(a.decode(&frames), Err(WireError::BadSignature));
    }

    /// The signature is the HMAC-SHA256 of the four parts as the spec's example computes it
    /// (Python: `hmac.new(key, digestmod=sha256)` updated with each part in order).
    #[test]
    fn signature_matches_a_known_value() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").expect("key");
        mac.update(b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            hex(&mac.finalize().into_bytes()),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn unsigned_sessions_and_malformed_frames() {
        let s = Session::new("x".into(), b"");
        let (_, frames) = s.message("kernel_info_request", &json!({}), &json!({}));
        assert!(frames[1].is_empty());
        assert!(s.decode(&frames).is_ok());
        assert_eq!(s.decode(&frames[..4]), Err(WireError::Malformed));
        let mut bad = frames.clone();
        bad[2] = b"[]".to_vec();
        assert_eq!(s.decode(&bad), Err(WireError::BadJson("header")));
        let mut null_parent = frames.clone();
        null_parent[3] = b"null".to_vec();
        assert_eq!(s.decode(&null_parent).expect("null parent").parent_id(), "");
        assert_eq!(unhex(b"0aff"), Some(vec![10, 255]));
        assert_eq!(unhex(b"0g"), None);
    }
}
