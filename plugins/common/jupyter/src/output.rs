//! What a kernel's iopub output becomes for the agent (docs/protocol.md §7.5):
//!
//! - `stream` → `stdout` or `stderr`, by its `name` (CRLF line ends as LF);
//! - `execute_result`, `display_data`, `update_display_data` → by MIME type, first match:
//!   `text/html` → `html`; `image/png`, `image/jpeg` → `media` with a data URI;
//!   `image/svg+xml` → `media` with the SVG text; `text/plain` → `stdout` (with a newline);
//! - `error` → the traceback on `stderr`, ANSI colours removed.

use serde_json::{json, Map, Value};

/// One message for the agent.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Standard output bytes.
    Stdout(Vec<u8>),
    /// Standard error bytes.
    Stderr(Vec<u8>),
    /// HTML text.
    Html(String),
    /// A media object (`{"type": ..., "data": ...}`).
    Media(Value),
}

/// What an iopub message of `msg_type` with `content` shows, if anything.
pub fn of_iopub(msg_type: &str, content: &Value) -> Option<Output> {
    match msg_type {
        "stream" => {
            // Kernels that drive their interpreter on a terminal (octave_kernel, bash_kernel)
            // send its CRLF line ends.
            let text = content["text"]
                .as_str()
                .unwrap_or_default()
                .replace("\r\n", "\n")
                .into_bytes();
            Some(if content["name"] == "stderr" {
                Output::Stderr(text)
            } else {
                Output::Stdout(text)
            })
        }
        "execute_result" | "display_data" | "update_display_data" => {
            content["data"].as_object().and_then(of_bundle)
        }
        "error" => Some(traceback(content))
            .filter(|t| !t.is_empty())
            .map(|t| Output::Stderr(t.into_bytes())),
        _ => None,
    }
}

/// The most preferred representation in a MIME bundle.
pub fn of_bundle(data: &Map<String, Value>) -> Option<Output> {
    let text = |mime: &str| data.get(mime).map(joined);
    if let Some(html) = text("text/html") {
        return Some(Output::Html(html));
    }
    for mime in ["image/png", "image/jpeg"] {
        if let Some(b64) = text(mime) {
            let b64: String = b64.split_whitespace().collect();
            return Some(Output::Media(
                json!({"type": mime, "data": format!("data:{mime};base64,{b64}")}),
            ));
        }
    }
    if let Some(svg) = text("image/svg+xml") {
        return Some(Output::Media(json!({"type": "image/svg+xml", "data": svg})));
    }
    text("text/plain").map(|mut t| {
        if !t.ends_with('\n') {
            t.push('\n');
        }
        Output::Stdout(t.into_bytes())
    })
}

/// A bundle entry's text: a string, or a list of lines (as notebooks store them).
fn joined(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        other => other.to_string(),
    }
}

/// An `error`'s traceback without colours, ending in a newline; `ename: evalue` when the
/// kernel sent no traceback, and nothing when it sent neither a traceback nor a name.
pub fn traceback(content: &Value) -> String {
    let lines: Vec<&str> = content["traceback"]
        .as_array()
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let ename = content["ename"].as_str().unwrap_or_default();
    let mut text = if lines.is_empty() && ename.is_empty() {
        // bash_kernel's failed command: the exit status is the exit code's business.
        return String::new();
    } else if lines.is_empty() {
        format!(
            "{ename}: {}",
            content["evalue"].as_str().unwrap_or_default()
        )
    } else {
        strip_ansi(&lines.join("\n"))
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// `text` without ANSI escape sequences (CSI sequences such as colours, OSC sequences, and
/// two-character escapes).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match chars.next() {
            // CSI: parameters and intermediates, then one final byte in @..~.
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC: up to BEL or ST (ESC \).
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(v: Value) -> Option<Output> {
        of_bundle(v.as_object().expect("object"))
    }

    #[test]
    fn mime_priority() {
        let all = json!({"text/plain": "p", "image/svg+xml": "<svg/>", "image/png": "iVBO\nRw==",
                         "text/html": "<table/>"});
        assert_eq!(bundle(all), Some(Output::Html("<table/>".into())));
        assert_eq!(
            bundle(json!({"text/plain": "p", "image/png": "iVBO\nRw==\n", "image/svg+xml": "s"})),
            Some(Output::Media(
                json!({"type": "image/png", "data": "data:image/png;base64,iVBORw=="})
            ))
        );
        assert_eq!(
            bundle(json!({"text/plain": "p", "image/jpeg": "/9j/"})),
            Some(Output::Media(
                json!({"type": "image/jpeg", "data": "data:image/jpeg;base64,/9j/"})
            ))
        );
        assert_eq!(
            bundle(json!({"text/plain": "p", "image/svg+xml": ["<svg>", "</svg>"]})),
            Some(Output::Media(
                json!({"type": "image/svg+xml", "data": "<svg></svg>"})
            ))
        );
        assert_eq!(
            bundle(json!({"text/plain": "[1] 2", "text/latex": "x"})),
            Some(Output::Stdout(b"[1] 2\n".to_vec()))
        );
        assert_eq!(bundle(json!({"application/json": {}})), None);
    }

    #[test]
    fn streams_and_errors() {
        assert_eq!(
            of_iopub("stream", &json!({"name": "stderr", "text": "e"})),
            Some(Output::Stderr(b"e".to_vec()))
        );
        assert_eq!(
            of_iopub("stream", &json!({"name": "stdout", "text": "o\r\np\rq"})),
            Some(Output::Stdout(b"o\np\rq".to_vec()))
        );
        let err = json!({"ename": "ZeroDivisionError", "evalue": "division by zero",
            "traceback": ["\u{1b}[0;31mZeroDivisionError\u{1b}[0m Traceback", "\u{1b}[1;32mx\u{1b}[0m = 1/0"]});
        assert_eq!(
            of_iopub("error", &err),
            Some(Output::Stderr(
                b"ZeroDivisionError Traceback\nx = 1/0\n".to_vec()
            ))
        );
        assert_eq!(
            traceback(&json!({"ename": "E", "evalue": "v", "traceback": []})),
            "E: v\n"
        );
        assert_eq!(of_iopub("status", &json!({})), None);
        assert_eq!(
            traceback(&json!({"ename": "", "evalue": "1", "traceback": []})),
            ""
        );
    }

    #[test]
    fn ansi_sequences_are_removed() {
        assert_eq!(strip_ansi("a\x1b[38;5;12mb\x1b[0mc"), "abc");
        assert_eq!(strip_ansi("\x1b]0;title\x07x\x1b]8;;u\x1b\\y"), "xy");
        assert_eq!(strip_ansi("tail\x1b"), "tail");
        assert_eq!(strip_ansi("ü\x1b(Bé"), "üBé");
    }
}
