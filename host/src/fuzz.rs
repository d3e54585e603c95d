//! Entry points for the fuzz targets in `fuzz/` (compiled only with the `fuzzing` feature).
//!
//! The host's parsers are private to the crate; these functions hand each one a fuzzer's input
//! the way the host gets it (frames from the agent, a definition file's text, the config
//! directory's files, a plugin file's bytes) and do with the result what the host does (show
//! the error, encode the reply a malformed op owes, prepare a definition's command line). None
//! of them returns anything: a panic, a hang or a runaway allocation is the bug they look for.

use std::io::Cursor;
use std::path::Path;

use serde_json::json;

use crate::services::{interpolate as expand, prepare, Definition, Request, Style, UserOptions};
use crate::services::{Variables, MAX_WIDTH};

/// Decodes `data` as one inbound message: its frames are the pieces between NUL bytes (so
/// `b"exec\0echo hi"` is the op `exec` with the payload `echo hi`). Errors are shown and the
/// reply a malformed op owes is encoded; a `start-service` payload is parsed as the service
/// registry parses it.
pub fn decode_frames(data: &[u8]) {
    let frames: Vec<Vec<u8>> = data.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
    match crate::wire::decode(crate::wire::Body::Frames(frames)) {
        Ok(crate::wire::Op::StartService(payload)) => {
            if let Err(e) = Request::parse(&payload) {
                let _ = e.to_string();
            }
        }
        Ok(op) => {
            let _ = op.name();
        }
        Err(e) => {
            let _ = e.to_string();
            if let Some(reply) = e.owed_reply() {
                let _ = reply.clone().encode();
            }
        }
    }
}

/// The variables templates see when a service starts (two ports, the runtime path) plus a
/// nested value for the indexing rules.
fn variables() -> Variables {
    let mut vars = Variables::new();
    vars.insert("ports".into(), json!([8080, 8081]));
    vars.insert("runtime_path".into(), json!("/usr/bin/python3"));
    vars.insert(
        "cfg".into(),
        json!({"out": "OUT", "n": -12, "f": 2.5, "big": 1e300, "list": ["a", null, true]}),
    );
    vars
}

/// Parses a service-definition file's text; a definition that parses is prepared for a start
/// with the usual variables and no user options, and its `get-apps` entry is built.
pub fn parse_definition(text: &str) {
    match Definition::parse(text) {
        Ok(def) => {
            let _ = def.app_entry("fuzz");
            let prepared = prepare(
                "fuzz",
                &def,
                &UserOptions::default(),
                &variables(),
                &|_| false,
                "",
            );
            if let Err(e) = prepared {
                let _ = e.to_string();
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Expands `template` in both styles (commands, and prestart-action arguments) over the usual
/// variables. Checks the bound on what a template may make the host allocate: no field gives
/// more than the longest value's text, or [`MAX_WIDTH`] characters of padding or precision
/// plus a float's integer digits.
pub fn interpolate(template: &str) {
    let vars = variables();
    let longest_value = vars.values().map(|v| v.to_string().len()).max();
    let per_field = MAX_WIDTH + 400 + longest_value.unwrap_or(0);
    let bound = template.chars().count().saturating_mul(per_field);
    for style in [Style::Command, Style::Format] {
        match expand(template, &vars, style) {
            Ok(out) => {
                let chars = out.chars().count();
                assert!(chars <= bound, "{chars} characters from {template:?}");
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
}

/// Parses `environ.txt` from its bytes (read lossily, as the host reads it); every pair has a
/// non-empty key and neither half holds a newline.
pub fn parse_environ(bytes: &[u8]) {
    let (pairs, _bad) = crate::config::parse_environ(&String::from_utf8_lossy(bytes));
    for (key, value) in pairs {
        assert!(!key.is_empty() && !key.contains('\n') && !value.contains('\n'));
    }
}

/// Parses the text of `intrinsic-ports.json`.
pub fn intrinsic_ports(text: &str) {
    match crate::config::IntrinsicPorts::parse(text, Path::new("intrinsic-ports.json")) {
        Ok(ports) => {
            let _ = ports.replin;
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Checks `bytes` as a plugin file's content, as the loader's preflight does before `dlopen`.
pub fn preflight(bytes: &[u8]) {
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if let Err(e) = crate::plugin::preflight::check_image(&mut Cursor::new(bytes), size) {
        let _ = e.to_string();
    }
}
