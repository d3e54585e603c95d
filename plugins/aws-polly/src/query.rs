//! The query a `code` op carries: `{"text": ..., "voiceId": ..., "textType": "text"|"ssml"}`,
//! checked before anything is sent, so a malformed one costs no request and says what is wrong.
//! The values themselves (a voice Polly does not have, SSML it cannot parse) are Polly's to
//! judge.

use serde_json::Value;

/// What a query asks Polly to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Speech {
    /// The text or SSML document.
    pub text: String,
    /// The voice, e.g. `Joanna`.
    pub voice_id: String,
    /// How Polly reads `text`.
    pub text_type: TextType,
}

/// Whether the text is plain text or SSML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextType {
    /// Plain text (the default).
    Text,
    /// An SSML document.
    Ssml,
}

impl TextType {
    /// The name Polly's API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Ssml => "ssml",
        }
    }
}

/// The shape of a query, for error messages.
pub const SHAPE: &str = r#"{"text": "...", "voiceId": "...", "textType": "text"}"#;

/// Why a query cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Not JSON at all.
    #[error("the query is not JSON ({0}); send {SHAPE}")]
    NotJson(#[source] serde_json::Error),
    /// JSON, but not an object.
    #[error("the query is not a JSON object; send {SHAPE}")]
    NotObject,
    /// A required field is absent.
    #[error("the query has no \"{0}\"; send {SHAPE}")]
    Missing(&'static str),
    /// A field is not a string.
    #[error("\"{0}\" must be a string")]
    NotString(&'static str),
    /// `textType` is neither `text` nor `ssml`.
    #[error("\"textType\" must be \"text\" or \"ssml\", not {0}")]
    TextType(String),
}

/// Parses a query.
pub fn parse(code: &str) -> Result<Speech, QueryError> {
    let value: Value = serde_json::from_str(code).map_err(QueryError::NotJson)?;
    let object = value.as_object().ok_or(QueryError::NotObject)?;
    let field = |name: &'static str| -> Result<Option<String>, QueryError> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(QueryError::NotString(name)),
        }
    };
    let text = field("text")?.ok_or(QueryError::Missing("text"))?;
    let voice_id = field("voiceId")?.ok_or(QueryError::Missing("voiceId"))?;
    let text_type = match field("textType")?.as_deref() {
        None | Some("text") => TextType::Text,
        Some("ssml") => TextType::Ssml,
        Some(other) => return Err(QueryError::TextType(format!("{other:?}"))),
    };
    Ok(Speech {
        text,
        voice_id,
        text_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_names_text_voice_and_type() {
        let speech =
            parse(r#"{"text": "<speak>Hi</speak>", "voiceId": "Seoyeon", "textType": "ssml"}"#)
                .expect("valid");
        assert_eq!(speech.text, "<speak>Hi</speak>");
        assert_eq!(speech.voice_id, "Seoyeon");
        assert_eq!(speech.text_type, TextType::Ssml);
        let plain = parse(r#"{"text": "Hi", "voiceId": "Joanna"}"#).expect("valid");
        assert_eq!(plain.text_type, TextType::Text);
    }

    #[test]
    fn malformed_queries_say_what_is_wrong() {
        let cases = [
            ("Hello", "not JSON"),
            ("[1]", "not a JSON object"),
            (r#"{"voiceId": "Joanna"}"#, "no \"text\""),
            (r#"{"text": "Hi"}"#, "no \"voiceId\""),
            (
                r#"{"text": 1, "voiceId": "Joanna"}"#,
                "\"text\" must be a string",
            ),
            (
                r#"{"text": "Hi", "voiceId": "Joanna", "textType": "xml"}"#,
                "not \"xml\"",
            ),
        ];
        for (query, expected) in cases {
            let message = parse(query).expect_err(query).to_string();
            assert!(message.contains(expected), "{query}: {message}");
        }
    }
}
