//! Python's format-spec mini-language (`[[fill]align][sign][#][0][width][,|_][.precision][type]`)
//! for the values templates can hold: strings, integers and floats.

use serde_json::Value;

use super::field::FieldError;
use super::python::{py_type, to_str};

/// Largest width or precision a format spec may ask for (a template must not make the host
/// allocate gigabytes).
pub(crate) const MAX_WIDTH: usize = 4096;

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

/// Reads a format spec left to right.
struct Cursor {
    chars: Vec<char>,
    at: usize,
}

impl Cursor {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    /// Takes the next character if `wanted` accepts it.
    fn take(&mut self, wanted: impl Fn(char) -> bool) -> Option<char> {
        let c = self.peek(0).filter(|c| wanted(*c))?;
        self.at += 1;
        Some(c)
    }

    /// Takes a run of decimal digits (a number too large for `usize` is `usize::MAX`, which
    /// the width limit then rejects).
    fn digits(&mut self) -> Option<usize> {
        let start = self.at;
        while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        (start != self.at).then(|| {
            self.chars[start..self.at]
                .iter()
                .collect::<String>()
                .parse()
                .unwrap_or(usize::MAX)
        })
    }
}

fn parse_spec(spec: &str) -> Result<Spec, FieldError> {
    let mut c = Cursor {
        chars: spec.chars().collect(),
        at: 0,
    };
    let mut s = Spec::default();
    let is_align = |c: char| matches!(c, '<' | '>' | '^' | '=');
    if c.peek(1).is_some_and(is_align) {
        s.fill = c.take(|_| true);
        s.align = c.take(is_align);
    } else {
        s.align = c.take(is_align);
    }
    s.sign = c.take(|c| matches!(c, '+' | '-' | ' '));
    s.alternate = c.take(|c| c == '#').is_some();
    s.zero = c.take(|c| c == '0').is_some();
    s.width = c.digits().unwrap_or(0);
    s.grouping = c.take(|c| c == ',' || c == '_');
    if c.take(|c| c == '.').is_some() {
        let precision = c
            .digits()
            .ok_or_else(|| FieldError::Malformed("Format specifier missing precision".into()))?;
        s.precision = Some(precision);
    }
    s.kind = c.take(|_| true);
    if c.at != c.chars.len() {
        return Err(FieldError::Malformed("Invalid format specifier".into()));
    }
    if s.width > MAX_WIDTH || s.precision.is_some_and(|p| p > MAX_WIDTH) {
        return Err(FieldError::Malformed(format!(
            "width and precision are limited to {MAX_WIDTH}"
        )));
    }
    Ok(s)
}

pub(crate) fn format_value(value: &Value, spec: &str) -> Result<String, FieldError> {
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
                Err(FieldError::Malformed(format!(
                    "unsupported format string passed to {}.__format__",
                    py_type(other)
                )))
            }
        }
    }
}

pub(crate) fn format_str(s: &str, spec: &str) -> Result<String, FieldError> {
    let spec = parse_spec(spec)?;
    if !matches!(spec.kind, None | Some('s')) {
        return Err(FieldError::Malformed(format!(
            "Unknown format code '{}' for object of type 'str'",
            spec.kind.unwrap_or(' ')
        )));
    }
    if spec.sign.is_some() || spec.grouping.is_some() || spec.alternate {
        return Err(FieldError::Malformed(
            "Sign not allowed in string format specifier".into(),
        ));
    }
    let text: String = match spec.precision {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_owned(),
    };
    Ok(pad(&text, &spec, '<'))
}

fn format_int(v: i128, spec_text: &str) -> Result<String, FieldError> {
    let spec = parse_spec(spec_text)?;
    if let Some(k) = spec.kind {
        if matches!(k, 'e' | 'E' | 'f' | 'F' | 'g' | 'G' | '%') {
            return format_float(v as f64, spec_text);
        }
    }
    if spec.precision.is_some() {
        return Err(FieldError::Malformed(
            "Precision not allowed in integer format specifier".into(),
        ));
    }
    let magnitude = v.unsigned_abs();
    let (digits, prefix) = match spec.kind {
        None | Some('d') | Some('n') => (magnitude.to_string(), ""),
        Some('x') => (format!("{magnitude:x}"), "0x"),
        Some('X') => (format!("{magnitude:X}"), "0X"),
        Some('o') => (format!("{magnitude:o}"), "0o"),
        Some('b') => (format!("{magnitude:b}"), "0b"),
        Some('c') => (
            u32::try_from(v)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| FieldError::Malformed("%c arg not in range(0x110000)".into()))?
                .to_string(),
            "",
        ),
        Some(k) => {
            return Err(FieldError::Malformed(format!(
                "Unknown format code '{k}' for object of type 'int'"
            )))
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

fn format_float(v: f64, spec_text: &str) -> Result<String, FieldError> {
    let spec = parse_spec(spec_text)?;
    let precision = spec.precision.unwrap_or(6);
    let (body, suffix) = match spec.kind {
        Some('f') | Some('F') | None => (format!("{:.*}", precision, v.abs()), ""),
        Some('%') => (format!("{:.*}", precision, v.abs() * 100.0), "%"),
        Some('e') => (format!("{:.*e}", precision, v.abs()), ""),
        Some(k) => {
            return Err(FieldError::Malformed(format!(
                "Unknown format code '{k}' for object of type 'float'"
            )))
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
