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

use std::collections::BTreeMap;

use serde_json::Value;
use thiserror::Error;

/// Variables visible to templates: `runtime_path`, `ports`, and prestart `ref`s.
pub type Variables = BTreeMap<String, Value>;

/// Which token rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Commands, arguments and env: `${{ expr }}` and `{ expr }` (not after `$` or `{`).
    Command,
    /// Prestart-action arguments: Python `str.format_map` (`{expr}`; `{{`/`}}` escapes).
    Format,
}

/// Why a template could not be expanded.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum InterpolateError {
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
pub fn interpolate(
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
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if style == Style::Command
            && c == '$'
            && next == Some('{')
            && chars.get(i + 2) == Some(&'{')
        {
            // `${{ expr }}`
            let start = i + 3;
            let end = find_seq(&chars, start, &['}', '}'])
                .ok_or_else(|| malformed("unterminated '${{'"))?;
            let expr: String = chars[start..end].iter().collect();
            out.push_str(&field(&expr, template, vars)?);
            i = end + 2;
            continue;
        }
        if c == '{' && next == Some('{') {
            out.push('{');
            i += 2;
            continue;
        }
        if c == '}' && next == Some('}') {
            out.push('}');
            i += 2;
            continue;
        }
        if c == '{' {
            let after_dollar = i > 0 && chars[i - 1] == '$';
            if style == Style::Command && after_dollar {
                out.push('{');
                i += 1;
                continue;
            }
            let start = i + 1;
            let end = find_close(&chars, start)
                .ok_or_else(|| malformed("expected '}' before end of string"))?;
            let expr: String = chars[start..end].iter().collect();
            out.push_str(&field(&expr, template, vars)?);
            i = end + 1;
            continue;
        }
        if c == '}' && style == Style::Format {
            return Err(malformed("Single '}' encountered in format string"));
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
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

/// Evaluates one field: `name[index].attr!conv:spec`.
fn field(expr: &str, template: &str, vars: &Variables) -> Result<String, InterpolateError> {
    let malformed = |detail: String| InterpolateError::Malformed {
        part: py_repr(template),
        detail,
    };
    let undefined = |detail: String| InterpolateError::Undefined {
        part: py_repr(template),
        detail,
    };
    let expr = expr.trim();
    // Split off `!conv` and `:spec`, ignoring those characters inside brackets.
    let mut name_end = expr.len();
    let mut in_bracket = false;
    for (j, c) in expr.char_indices() {
        match c {
            '[' => in_bracket = true,
            ']' => in_bracket = false,
            '!' | ':' if !in_bracket => {
                name_end = j;
                break;
            }
            _ => {}
        }
    }
    let (name, rest) = expr.split_at(name_end);
    let (conversion, spec) = match rest.strip_prefix('!') {
        Some(r) => {
            let (conv, spec) = r.split_once(':').unwrap_or((r, ""));
            if conv.chars().count() != 1 {
                return Err(malformed("expected ':' after conversion specifier".into()));
            }
            (conv.chars().next(), spec)
        }
        None => (None, rest.strip_prefix(':').unwrap_or("")),
    };
    let base_end = name.find(['.', '[']).unwrap_or(name.len());
    let base = &name[..base_end];
    if base.is_empty() {
        return Err(malformed("Format string contains positional fields".into()));
    }
    if base.chars().all(|c| c.is_ascii_digit()) {
        return Err(undefined(format!("Replacement index {base} out of range")));
    }
    let mut value = vars
        .get(base)
        .ok_or_else(|| undefined(py_repr(base)))?
        .clone();
    let mut rest = &name[base_end..];
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let close = r
                .find(']')
                .ok_or_else(|| malformed("Missing ']' in format string".into()))?;
            let key = &r[..close];
            if key.is_empty() {
                return Err(malformed("Empty attribute in format string".into()));
            }
            value = index(&value, key).map_err(undefined)?;
            rest = &r[close + 1..];
            if !rest.is_empty() && !rest.starts_with(['.', '[']) {
                return Err(malformed(
                    "Only '.' or '[' may follow ']' in format field specifier".into(),
                ));
            }
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let attr = &r[..end];
            if attr.is_empty() {
                return Err(malformed("Empty attribute in format string".into()));
            }
            return Err(undefined(format!(
                "'{}' object has no attribute {}",
                py_type(&value),
                py_repr(attr)
            )));
        } else {
            return Err(malformed("invalid field name".into()));
        }
    }
    let text_value = match conversion {
        None => None,
        Some('r') | Some('a') => Some(repr(&value)),
        Some('s') => Some(to_str(&value)),
        Some(c) => return Err(malformed(format!("Unknown conversion specifier {c}"))),
    };
    match text_value {
        Some(s) => format_str(&s, spec).map_err(malformed),
        None => format_value(&value, spec).map_err(malformed),
    }
}

fn index(value: &Value, key: &str) -> Result<Value, String> {
    let numeric = key.chars().all(|c| c.is_ascii_digit());
    match value {
        Value::Array(items) if numeric => key
            .parse::<usize>()
            .ok()
            .and_then(|i| items.get(i))
            .cloned()
            .ok_or_else(|| "list index out of range".to_owned()),
        Value::Array(_) => Err("list indices must be integers or slices, not str".into()),
        Value::Object(map) if !numeric => map.get(key).cloned().ok_or_else(|| py_repr(key)),
        Value::Object(_) => Err(key.to_owned()),
        Value::String(s) if numeric => key
            .parse::<usize>()
            .ok()
            .and_then(|i| s.chars().nth(i))
            .map(|c| Value::String(c.to_string()))
            .ok_or_else(|| "string index out of range".to_owned()),
        other => Err(format!("'{}' object is not subscriptable", py_type(other))),
    }
}

fn py_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Python `str()` of a JSON value.
pub fn to_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => repr(other),
    }
}

/// Python `repr()` of a JSON value.
pub fn repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => py_repr(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr(k), repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// Python `repr()` of a string: single quotes unless the text has `'` and no `"`.
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Largest width or precision a format spec may ask for (a template must not make the runner
/// allocate gigabytes).
const MAX_WIDTH: usize = 4096;

/// A parsed format spec: `[[fill]align][sign][#][0][width][,|_][.precision][type]`.
#[derive(Debug, Default)]
struct Spec {
    fill: Option<char>,
    align: Option<char>,
    sign: Option<char>,
    alternate: bool,
    zero: bool,
    width: usize,
    grouping: Option<char>,
    precision: Option<usize>,
    kind: Option<char>,
}

fn parse_spec(spec: &str) -> Result<Spec, String> {
    let chars: Vec<char> = spec.chars().collect();
    let mut s = Spec::default();
    let mut i = 0;
    let is_align = |c: char| matches!(c, '<' | '>' | '^' | '=');
    if chars.len() >= 2 && is_align(chars[1]) {
        s.fill = Some(chars[0]);
        s.align = Some(chars[1]);
        i = 2;
    } else if chars.first().copied().is_some_and(is_align) {
        s.align = Some(chars[0]);
        i = 1;
    }
    if let Some(&c) = chars.get(i) {
        if matches!(c, '+' | '-' | ' ') {
            s.sign = Some(c);
            i += 1;
        }
    }
    if chars.get(i) == Some(&'#') {
        s.alternate = true;
        i += 1;
    }
    if chars.get(i) == Some(&'0') {
        s.zero = true;
        i += 1;
    }
    let digits = |i: &mut usize| -> Option<usize> {
        let start = *i;
        while chars.get(*i).is_some_and(char::is_ascii_digit) {
            *i += 1;
        }
        (start != *i).then(|| {
            chars[start..*i]
                .iter()
                .collect::<String>()
                .parse()
                .unwrap_or(0)
        })
    };
    s.width = digits(&mut i).unwrap_or(0);
    if let Some(&c) = chars.get(i) {
        if c == ',' || c == '_' {
            s.grouping = Some(c);
            i += 1;
        }
    }
    if chars.get(i) == Some(&'.') {
        i += 1;
        s.precision = Some(digits(&mut i).ok_or("Format specifier missing precision")?);
    }
    if let Some(&c) = chars.get(i) {
        s.kind = Some(c);
        i += 1;
    }
    if i != chars.len() {
        return Err("Invalid format specifier".into());
    }
    if s.width > MAX_WIDTH || s.precision.is_some_and(|p| p > MAX_WIDTH) {
        return Err(format!("width and precision are limited to {MAX_WIDTH}"));
    }
    Ok(s)
}

fn format_value(value: &Value, spec: &str) -> Result<String, String> {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            let v = n
                .as_i64()
                .map(i128::from)
                .or(n.as_u64().map(i128::from))
                .unwrap_or(0);
            format_int(v, spec)
        }
        Value::Number(n) => {
            if spec.is_empty() {
                Ok(n.to_string())
            } else {
                format_float(n.as_f64().unwrap_or(0.0), spec)
            }
        }
        Value::String(s) => format_str(s, spec),
        other => {
            if spec.is_empty() {
                Ok(to_str(other))
            } else {
                Err(format!(
                    "unsupported format string passed to {}.__format__",
                    py_type(other)
                ))
            }
        }
    }
}

fn format_str(s: &str, spec: &str) -> Result<String, String> {
    let spec = parse_spec(spec)?;
    if !matches!(spec.kind, None | Some('s')) {
        return Err(format!(
            "Unknown format code '{}' for object of type 'str'",
            spec.kind.unwrap_or(' ')
        ));
    }
    if spec.sign.is_some() || spec.grouping.is_some() || spec.alternate {
        return Err("Sign not allowed in string format specifier".into());
    }
    let text: String = match spec.precision {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_owned(),
    };
    Ok(pad(&text, &spec, '<'))
}

fn format_int(v: i128, spec_text: &str) -> Result<String, String> {
    let spec = parse_spec(spec_text)?;
    if let Some(k) = spec.kind {
        if matches!(k, 'e' | 'E' | 'f' | 'F' | 'g' | 'G' | '%') {
            return format_float(v as f64, spec_text);
        }
    }
    if spec.precision.is_some() {
        return Err("Precision not allowed in integer format specifier".into());
    }
    let magnitude = v.unsigned_abs();
    let (digits, prefix) = match spec.kind {
        None | Some('d') | Some('n') => (magnitude.to_string(), ""),
        Some('x') => (format!("{magnitude:x}"), "0x"),
        Some('X') => (format!("{magnitude:X}"), "0X"),
        Some('o') => (format!("{magnitude:o}"), "0o"),
        Some('b') => (format!("{magnitude:b}"), "0b"),
        Some('c') => (
            char::from_u32(u32::try_from(v).map_err(|_| "%c arg not in range(0x110000)")?)
                .ok_or("%c arg not in range(0x110000)")?
                .to_string(),
            "",
        ),
        Some(k) => {
            return Err(format!(
                "Unknown format code '{k}' for object of type 'int'"
            ))
        }
    };
    let digits = match spec.grouping {
        Some(sep) => group(
            &digits,
            sep,
            if spec.kind.is_some_and(|k| "xXob".contains(k)) {
                4
            } else {
                3
            },
        ),
        None => digits,
    };
    let sign = match (v < 0, spec.sign) {
        (true, _) => "-",
        (false, Some('+')) => "+",
        (false, Some(' ')) => " ",
        _ => "",
    };
    let prefix = if spec.alternate { prefix } else { "" };
    Ok(pad_number(sign, prefix, &digits, &spec))
}

fn format_float(v: f64, spec_text: &str) -> Result<String, String> {
    let spec = parse_spec(spec_text)?;
    let precision = spec.precision.unwrap_or(6);
    let (body, suffix) = match spec.kind {
        Some('f') | Some('F') | None => (format!("{:.*}", precision, v.abs()), ""),
        Some('%') => (format!("{:.*}", precision, v.abs() * 100.0), "%"),
        Some('e') => (format!("{:.*e}", precision, v.abs()), ""),
        Some(k) => {
            return Err(format!(
                "Unknown format code '{k}' for object of type 'float'"
            ))
        }
    };
    let sign = match (v < 0.0, spec.sign) {
        (true, _) => "-",
        (false, Some('+')) => "+",
        (false, Some(' ')) => " ",
        _ => "",
    };
    Ok(pad_number(sign, "", &format!("{body}{suffix}"), &spec))
}

fn group(digits: &str, sep: char, every: usize) -> String {
    let chars: Vec<char> = digits.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        if i > 0 && (chars.len() - i) % every == 0 {
            out.push(sep);
        }
        out.push(*c);
    }
    out
}

fn pad_number(sign: &str, prefix: &str, digits: &str, spec: &Spec) -> String {
    let len = sign.chars().count() + prefix.len() + digits.chars().count();
    let zero_fill = spec.zero && spec.align.is_none() && spec.fill.is_none();
    if (zero_fill || spec.align == Some('=')) && spec.width > len {
        let fill = if zero_fill {
            '0'
        } else {
            spec.fill.unwrap_or(' ')
        };
        let pad: String = std::iter::repeat_n(fill, spec.width - len).collect();
        return format!("{sign}{prefix}{pad}{digits}");
    }
    pad(&format!("{sign}{prefix}{digits}"), spec, '>')
}

fn pad(text: &str, spec: &Spec, default_align: char) -> String {
    let len = text.chars().count();
    if spec.width <= len {
        return text.to_owned();
    }
    let fill = spec.fill.unwrap_or(if spec.zero { '0' } else { ' ' });
    let total = spec.width - len;
    let (left, right) = match spec.align.unwrap_or(default_align) {
        '<' => (0, total),
        '^' => (total / 2, total - total / 2),
        _ => (total, 0),
    };
    let l: String = std::iter::repeat_n(fill, left).collect();
    let r: String = std::iter::repeat_n(fill, right).collect();
    format!("{l}{text}{r}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
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
