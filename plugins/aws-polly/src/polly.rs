//! The two Polly operations the runner uses, as Polly's REST API defines them:
//! `SynthesizeSpeech` (`POST /v1/speech`, the audio in the response body) and
//! `DescribeVoices` (`GET /v1/voices`). Each request is signed ([`crate::sign`]) and sent
//! through its own agent ([`crate::http`]), and every answer is read up to a limit.

use std::time::SystemTime;

use serde_json::{json, Value};

use crate::http::{self, TlsError};
use crate::query::Speech;
use crate::settings::{Settings, SettingsError};
use crate::sign::{self, SignError, Unsigned};

/// The largest audio accepted (Polly's longest synthesis, 6000 characters, is a few MB).
pub const MAX_AUDIO: u64 = 16 << 20;
/// The largest voice list accepted (Polly's is about 40 KB).
const MAX_VOICES: u64 = 1 << 20;
/// How much of an error response is read.
const MAX_ERROR: u64 = 64 << 10;
/// How many pages of voices are read at most.
const MAX_PAGES: usize = 10;
/// The audio format asked for.
pub const OUTPUT_FORMAT: &str = "ogg_vorbis";

/// Synthesised speech.
#[derive(Debug)]
pub struct Audio {
    /// Its media type, as Polly gave it (`audio/ogg`).
    pub content_type: String,
    /// The audio.
    pub bytes: Vec<u8>,
}

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The environment does not allow a request.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// HTTPS is impossible here.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The signer refused the request.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// No answer.
    #[error("cannot reach Polly at {endpoint}: {reason}")]
    Network {
        /// The endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// AWS answered with an error.
    #[error("{operation} failed: {code}: {message} (HTTP {status}{request_id})")]
    Aws {
        /// The operation.
        operation: &'static str,
        /// The HTTP status.
        status: u16,
        /// AWS's error code, e.g. `ValidationException`.
        code: String,
        /// AWS's message.
        message: String,
        /// `, request id ...` when AWS gave one.
        request_id: String,
    },
    /// The answer is larger than the limit.
    #[error("{operation}: the answer is larger than {limit} bytes; it was discarded")]
    TooLarge {
        /// The operation.
        operation: &'static str,
        /// The limit.
        limit: u64,
    },
    /// The answer is not what the API promises.
    #[error("{operation}: unexpected answer: {detail}")]
    BadAnswer {
        /// The operation.
        operation: &'static str,
        /// What was wrong.
        detail: String,
    },
}

/// A client for one request (or one paginated listing) with the settings of the moment.
pub struct Polly {
    settings: Settings,
    agent: ureq::Agent,
}

type Response = ureq::http::Response<ureq::Body>;

impl Polly {
    /// A client for `settings`.
    pub fn new(settings: Settings) -> Result<Self, CallError> {
        let agent = http::agent(settings.is_https().then_some(&settings.trust))?;
        Ok(Self { settings, agent })
    }

    /// The agent, whose `shutdown` cancels the request in flight.
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// `SynthesizeSpeech` in [`OUTPUT_FORMAT`].
    pub fn synthesize(&self, speech: &Speech) -> Result<Audio, CallError> {
        const OP: &str = "SynthesizeSpeech";
        let body = json!({
            "OutputFormat": OUTPUT_FORMAT,
            "Text": speech.text,
            "TextType": speech.text_type.as_str(),
            "VoiceId": speech.voice_id,
        })
        .to_string();
        let mut response = self.send(OP, "POST", "/v1/speech", body.as_bytes())?;
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| CallError::BadAnswer {
                operation: OP,
                detail: "no Content-Type".into(),
            })?;
        let bytes = self.read(&mut response, OP, MAX_AUDIO)?;
        Ok(Audio {
            content_type,
            bytes,
        })
    }

    /// `DescribeVoices`: every voice id, sorted.
    pub fn voice_ids(&self) -> Result<Vec<String>, CallError> {
        const OP: &str = "DescribeVoices";
        let mut ids = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let path = match &next {
                Some(token) => format!("/v1/voices?NextToken={}", http::query_encode(token)),
                None => "/v1/voices".to_owned(),
            };
            let mut response = self.send(OP, "GET", &path, b"")?;
            let page: Value = serde_json::from_slice(&self.read(&mut response, OP, MAX_VOICES)?)
                .map_err(|e| CallError::BadAnswer {
                    operation: OP,
                    detail: e.to_string(),
                })?;
            let voices = page["Voices"].as_array().into_iter().flatten();
            ids.extend(voices.filter_map(|v| v["Id"].as_str().map(str::to_owned)));
            next = page["NextToken"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if next.is_none() {
                break;
            }
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Signs and sends a request; an AWS error answer becomes [`CallError::Aws`].
    fn send(
        &self,
        operation: &'static str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<Response, CallError> {
        let url = self.settings.url(path);
        let content: &[(&str, &str)] = if method == "POST" {
            &[("content-type", "application/json")]
        } else {
            &[]
        };
        let request = Unsigned {
            method,
            url: &url,
            headers: content,
            body,
        };
        let credentials = self.settings.credentials()?;
        let signed = sign::headers(
            &request,
            credentials,
            &self.settings.region,
            SystemTime::now(),
        )?;
        let headers = content
            .iter()
            .map(|&(n, v)| (n, v))
            .chain(signed.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let sent = if method == "POST" {
            let mut builder = self.agent.post(&url);
            for (name, value) in headers {
                builder = builder.header(name, value);
            }
            builder.send(body)
        } else {
            let mut builder = self.agent.get(&url);
            for (name, value) in headers {
                builder = builder.header(name, value);
            }
            builder.call()
        };
        let mut response = sent.map_err(|e| CallError::Network {
            endpoint: self.settings.endpoint.clone(),
            reason: http::failure(&e),
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.aws_failure(&mut response, operation))
    }

    /// What an AWS error answer says: its status, code, message and request id.
    fn aws_failure(&self, response: &mut Response, operation: &'static str) -> CallError {
        let status = response.status().as_u16();
        let body = self
            .read(response, operation, MAX_ERROR)
            .unwrap_or_default();
        let (code, message) = aws_error(response, &body);
        let request_id = header(response, "x-amzn-requestid")
            .map(|id| format!(", request id {id}"))
            .unwrap_or_default();
        CallError::Aws {
            operation,
            status,
            code,
            message,
            request_id,
        }
    }

    /// Reads a body of at most `limit` bytes.
    fn read(
        &self,
        response: &mut Response,
        operation: &'static str,
        limit: u64,
    ) -> Result<Vec<u8>, CallError> {
        response
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => CallError::TooLarge { operation, limit },
                other => CallError::Network {
                    endpoint: self.settings.endpoint.clone(),
                    reason: http::failure(&other),
                },
            })
    }
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// The code and message of an AWS error answer (REST-JSON: the code in `x-amzn-ErrorType` or
/// the body's `__type`/`code`, the message in `message`/`Message`).
fn aws_error(response: &Response, body: &[u8]) -> (String, String) {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    error_parts(
        header(response, "x-amzn-errortype"),
        &json,
        body,
        response.status().canonical_reason(),
    )
}

fn error_parts(
    type_header: Option<&str>,
    json: &Value,
    body: &[u8],
    reason: Option<&str>,
) -> (String, String) {
    let text = String::from_utf8_lossy(body);
    let from_body = ["__type", "code", "Code"]
        .iter()
        .find_map(|k| json[k].as_str())
        .or_else(|| xml_element(&text, "Code"));
    let code = type_header
        .or(from_body)
        .map(|c| {
            // `Code:http://internal.amazon.com/...` in the header, `prefix#Code` in the body.
            let c = c.split(':').next().unwrap_or(c);
            c.rsplit('#').next().unwrap_or(c).to_owned()
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| reason.unwrap_or("error").to_owned());
    let message = ["message", "Message"]
        .iter()
        .find_map(|k| json[k].as_str())
        .or_else(|| xml_element(&text, "Message"))
        .unwrap_or_else(|| text.trim());
    let message = if message.is_empty() {
        "no message".to_owned()
    } else {
        message.chars().take(500).collect()
    };
    (code, message)
}

/// The text of the first `<name>` element of an XML error document (the shape AWS's
/// query-protocol services, and some gateways in front of Polly, answer with).
fn xml_element<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{name}>"))? + start;
    Some(text[start..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_come_from_the_header_or_the_body() {
        let json = serde_json::json!({"message": "Voice Bob is not available"});
        let (code, message) = error_parts(
            Some("ValidationException:http://internal.amazon.com/coral/com.amazon.coral.validate/"),
            &json,
            b"",
            Some("Bad Request"),
        );
        assert_eq!(code, "ValidationException");
        assert_eq!(message, "Voice Bob is not available");

        let json = serde_json::json!({"__type": "com.amazonaws.polly#TextLengthExceededException", "Message": "Too long"});
        let (code, message) = error_parts(None, &json, b"", None);
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("TextLengthExceededException", "Too long")
        );

        let (code, message) = error_parts(
            None,
            &Value::Null,
            b"<html>gateway</html>",
            Some("Bad Gateway"),
        );
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("Bad Gateway", "<html>gateway</html>")
        );
        let xml = b"<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code>\
                    <Message>The request signature we calculated does not match</Message>\
                    </Error></ErrorResponse>";
        let (code, message) = error_parts(None, &Value::Null, xml, Some("Forbidden"));
        assert_eq!(code, "SignatureDoesNotMatch");
        assert_eq!(
            message,
            "The request signature we calculated does not match"
        );
    }
}
