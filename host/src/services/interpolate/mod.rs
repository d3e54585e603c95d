//! Template interpolation for service definitions.
//!
//! Service-def commands, arguments and environment use the upstream runner's two token forms
//! (`${{ expr }}` and `{ expr }`, the latter only when the `{` does not follow `$` or `{`, so
//! shell expansions like `${HOME}` pass through). Prestart-action arguments use Python
//! `str.format_map` rules instead. Both evaluate `expr` as a Python format field (indexing,
//! `!r`/`!s` conversions, format specs) over a small set of JSON variables.
//!
//! Unlike upstream, `{{` and `}}` are escapes for literal braces in commands too, so JSON
//! arguments (vLLM's `--hf-overrides '{{"a": 1}}'`) can be written at all. Upstream rejected
//! every `{{`, so no working definition changes meaning.

mod field;
mod format;
mod python;

use std::collections::BTreeMap;

use serde_json::Value;
use thiserror::Error;

use field::field;
#[cfg(feature = "fuzzing")]
pub(crate) use format::MAX_WIDTH;
pub(crate) use python::{py_repr, to_str};

/// Variables visible to templates: `runtime_path`, `ports`, and prestart `ref`s.
pub(crate) type Variables = BTreeMap<String, Value>;

/// Which token rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Commands, arguments and env: `${{ expr }}` and `{ expr }` (not after `$` or `{`).
    Command,
    /// Prestart-action arguments: Python `str.format_map` (`{expr}`; `{{`/`}}` escapes).
    Format,
}

/// Why a template could not be expanded.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub(crate) enum InterpolateError {
    /// A variable, key or index that does not exist.
    #[error("Cannot interpolate service argument {part}: undefined template variable {detail}.")]
    Undefined {
        /// The whole template (Python repr).
        part: String,
        /// What was missing (`'name'`, or `list index out of range`).
        detail: String,
    },
    /// A field that is not well-formed.
    #[error("Cannot interpolate service argument {part}: {detail}. Write literal braces as {{{{ and }}}}.")]
    Malformed {
        /// The whole template (Python repr).
        part: String,
        /// What is wrong with it.
        detail: String,
    },
}

/// Expands every token of `template`.
pub(crate) fn interpolate(
    template: &str,
    vars: &Variables,
    style: Style,
) -> Result<String, InterpolateError> {
    let malformed = |detail: &str| InterpolateError::Malformed {
        part: py_repr(template),
        detail: detail.to_owned(),
    };
    let chars: Vec<char> = template.chars().collect();
    let mut out = String::with_capacity(template.len());
    let mut i = 0;
    while i < chars.len() {
        // A field `start..end` (exclusive) and the index after its closing braces.
        let field_at = match token(&chars, i, style) {
            Token::Literal(text, len) => {
                out.push(text);
                i += len;
                continue;
            }
            Token::DollarField => {
                let start = i + 3;
                let end = find_seq(&chars, start, &['}', '}'])
                    .ok_or_else(|| malformed("unterminated '${{'"))?;
                (start, end, end + 2)
            }
            Token::Field => {
                let start = i + 1;
                let end = find_close(&chars, start)
                    .ok_or_else(|| malformed("expected '}' before end of string"))?;
                (start, end, end + 1)
            }
            Token::StrayClose => return Err(malformed("Single '}' encountered in format string")),
        };
        let (start, end, next) = field_at;
        let expr: String = chars[start..end].iter().collect();
        out.push_str(&field(&expr, template, vars)?);
        i = next;
    }
    Ok(out)
}

/// What starts at one position of a template.
enum Token {
    /// A character to copy (and how many template characters it takes: `{{` is one `{`).
    Literal(char, usize),
    /// `${{ expr }}` (command style).
    DollarField,
    /// `{ expr }`.
    Field,
    /// A `}` that closes nothing (format style).
    StrayClose,
}

fn token(chars: &[char], i: usize, style: Style) -> Token {
    let c = chars[i];
    let next = chars.get(i + 1).copied();
    let command = style == Style::Command;
    match (c, next) {
        ('$', Some('{')) if command && chars.get(i + 2) == Some(&'{') => Token::DollarField,
        ('{', Some('{')) => Token::Literal('{', 2),
        ('}', Some('}')) => Token::Literal('}', 2),
        // Shell expansions like `${HOME}` pass through.
        ('{', _) if command && i > 0 && chars[i - 1] == '$' => Token::Literal('{', 1),
        ('{', _) => Token::Field,
        ('}', _) if !command => Token::StrayClose,
        (c, _) => Token::Literal(c, 1),
    }
}

fn find_seq(chars: &[char], from: usize, seq: &[char]) -> Option<usize> {
    (from..chars.len().saturating_sub(seq.len() - 1)).find(|&j| chars[j..].starts_with(seq))
}

/// The `}` closing a field that starts at `from` (brackets may contain anything but `]`).
fn find_close(chars: &[char], from: usize) -> Option<usize> {
    let mut in_bracket = false;
    for (j, &c) in chars.iter().enumerate().skip(from) {
        match c {
            '[' if !in_bracket => in_bracket = true,
            ']' if in_bracket => in_bracket = false,
            '}' if !in_bracket => return Some(j),
            '{' if !in_bracket => return None,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::python::repr;
    use super::*;
    use serde_json::json;

    fn vars() -> Variables {
        let mut v = Variables::new();
        v.insert("ports".into(), json!([8080, 8081]));
        v.insert("runtime_path".into(), json!("/usr/bin/python3"));
        v.insert("cfg".into(), json!({"out": "OUT", "err": ""}));
        v
    }

    fn cmd(s: &str) -> Result<String, InterpolateError> {
        interpolate(s, &vars(), Style::Command)
    }

    #[test]
    fn observed_upstream_results() {
        assert_eq!(cmd("{ports[0]}").unwrap(), "8080");
        assert_eq!(cmd("${{ ports[1] }}").unwrap(), "8081");
        assert_eq!(cmd("${HOME}").unwrap(), "${HOME}");
        assert_eq!(cmd("${VAR:-x}").unwrap(), "${VAR:-x}");
        assert_eq!(cmd("$HOME").unwrap(), "$HOME");
        assert_eq!(cmd("--x={runtime_path}").unwrap(), "--x=/usr/bin/python3");
        assert_eq!(cmd("{ cfg[out] }").unwrap(), "OUT");
        assert_eq!(
            cmd("echo ${{ports[0]}} ${PORT} {ports}").unwrap(),
            "echo 8080 ${PORT} [8080, 8081]"
        );
        assert_eq!(cmd("{ports[0]:05d}").unwrap(), "08080");
        assert_eq!(cmd("a } b").unwrap(), "a } b");
        assert_eq!(cmd("{runtime_path!r}").unwrap(), "'/usr/bin/python3'");
        assert_eq!(
            cmd("{ports[0]:>6}|{runtime_path:.4}").unwrap(),
            "  8080|/usr"
        );
    }

    #[test]
    fn errors_match_upstream_wording() {
        assert_eq!(
            cmd("{nope}").unwrap_err().to_string(),
            "Cannot interpolate service argument '{nope}': undefined template variable 'nope'."
        );
        assert_eq!(
            cmd("{ports[5]}").unwrap_err().to_string(),
            "Cannot interpolate service argument '{ports[5]}': undefined template variable list index out of range."
        );
        assert!(matches!(cmd("{}"), Err(InterpolateError::Malformed { .. })));
        // Unescaped JSON is still an error (the key is taken as a variable name).
        assert!(matches!(
            cmd(r#"{"a": 1}"#),
            Err(InterpolateError::Undefined { .. })
        ));
        assert!(matches!(
            cmd("{ports[0]"),
            Err(InterpolateError::Malformed { .. })
        ));
        assert!(matches!(
            cmd("{ports[0]:999999999999}"),
            Err(InterpolateError::Malformed { .. })
        ));
        // Wider than a usize is not "no width".
        for spec in ["99999999999999999999999", ".99999999999999999999999"] {
            assert!(matches!(
                cmd(&format!("{{runtime_path:{spec}}}")),
                Err(InterpolateError::Malformed { .. })
            ));
        }
    }

    #[test]
    fn doubled_braces_are_literal() {
        assert_eq!(cmd("{{literal}}").unwrap(), "{literal}");
        assert_eq!(
            cmd(r#"{{"rope_scaling": {{"factor": {ports[0]}}}}}"#).unwrap(),
            r#"{"rope_scaling": {"factor": 8080}}"#
        );
        assert_eq!(cmd("${{ports[0]}}}}").unwrap(), "8080}");
    }

    #[test]
    fn format_style_follows_format_map() {
        let f = |s| interpolate(s, &vars(), Style::Format);
        assert_eq!(f("c.port = {ports[0]}").unwrap(), "c.port = 8080");
        assert_eq!(f("${ports[0]}").unwrap(), "$8080");
        assert_eq!(f("{{x}}").unwrap(), "{x}");
        assert!(f("a } b").is_err());
    }

    #[test]
    fn python_reprs() {
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a'\"b"), "'a\\'\"b'");
        assert_eq!(
            repr(&json!({"a": [1, "x"], "b": null})),
            "{'a': [1, 'x'], 'b': None}"
        );
    }
}
