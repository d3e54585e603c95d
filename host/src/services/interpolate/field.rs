//! One template field: `name[index]!conversion:spec`, evaluated like Python's `str.format`
//! over the template variables.

use serde_json::Value;

use super::format::{format_str, format_value};
use super::python::{py_repr, py_type, repr, to_str};
use super::{InterpolateError, Variables};

/// Why a field could not be evaluated (made into an [`InterpolateError`] with the template).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldError {
    /// The field is not well-formed.
    Malformed(String),
    /// A variable, key or index that does not exist.
    Undefined(String),
}

impl FieldError {
    fn into_error(self, template: &str) -> InterpolateError {
        let part = py_repr(template);
        match self {
            FieldError::Malformed(detail) => InterpolateError::Malformed { part, detail },
            FieldError::Undefined(detail) => InterpolateError::Undefined { part, detail },
        }
    }
}

/// Evaluates one field of `template`.
pub(crate) fn field(
    expr: &str,
    template: &str,
    vars: &Variables,
) -> Result<String, InterpolateError> {
    evaluate(expr.trim(), vars).map_err(|e| e.into_error(template))
}

fn evaluate(expr: &str, vars: &Variables) -> Result<String, FieldError> {
    let (name, conversion, spec) = split(expr)?;
    let value = lookup(name, vars)?;
    let converted = match conversion {
        None => None,
        Some('r') | Some('a') => Some(repr(&value)),
        Some('s') => Some(to_str(&value)),
        Some(c) => {
            return Err(FieldError::Malformed(format!(
                "Unknown conversion specifier {c}"
            )))
        }
    };
    match converted {
        Some(s) => format_str(&s, spec),
        None => format_value(&value, spec),
    }
}

/// Splits `name!conv:spec` (ignoring `!` and `:` inside brackets).
fn split(expr: &str) -> Result<(&str, Option<char>, &str), FieldError> {
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
    match rest.strip_prefix('!') {
        Some(r) => {
            let (conv, spec) = r.split_once(':').unwrap_or((r, ""));
            if conv.chars().count() != 1 {
                return Err(FieldError::Malformed(
                    "expected ':' after conversion specifier".into(),
                ));
            }
            Ok((name, conv.chars().next(), spec))
        }
        None => Ok((name, None, rest.strip_prefix(':').unwrap_or(""))),
    }
}

/// The value `name` (`base[key][key]...`) refers to.
fn lookup(name: &str, vars: &Variables) -> Result<Value, FieldError> {
    let malformed = |detail: &str| FieldError::Malformed(detail.to_owned());
    let base_end = name.find(['.', '[']).unwrap_or(name.len());
    let base = &name[..base_end];
    if base.is_empty() {
        return Err(malformed("Format string contains positional fields"));
    }
    if base.chars().all(|c| c.is_ascii_digit()) {
        return Err(FieldError::Undefined(format!(
            "Replacement index {base} out of range"
        )));
    }
    let mut value = vars
        .get(base)
        .ok_or_else(|| FieldError::Undefined(py_repr(base)))?
        .clone();
    let mut rest = &name[base_end..];
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let close = r
                .find(']')
                .ok_or_else(|| malformed("Missing ']' in format string"))?;
            let key = &r[..close];
            if key.is_empty() {
                return Err(malformed("Empty attribute in format string"));
            }
            value = index(&value, key)?;
            rest = &r[close + 1..];
            if !rest.is_empty() && !rest.starts_with(['.', '[']) {
                return Err(malformed(
                    "Only '.' or '[' may follow ']' in format field specifier",
                ));
            }
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let attr = &r[..end];
            if attr.is_empty() {
                return Err(malformed("Empty attribute in format string"));
            }
            return Err(FieldError::Undefined(format!(
                "'{}' object has no attribute {}",
                py_type(&value),
                py_repr(attr)
            )));
        } else {
            return Err(malformed("invalid field name"));
        }
    }
    Ok(value)
}

fn index(value: &Value, key: &str) -> Result<Value, FieldError> {
    let undefined = |detail: String| FieldError::Undefined(detail);
    let numeric = key.chars().all(|c| c.is_ascii_digit());
    match value {
        Value::Array(items) if numeric => key
            .parse::<usize>()
            .ok()
            .and_then(|i| items.get(i))
            .cloned()
            .ok_or_else(|| undefined("list index out of range".to_owned())),
        Value::Array(_) => Err(undefined(
            "list indices must be integers or slices, not str".into(),
        )),
        Value::Object(map) if !numeric => {
            map.get(key).cloned().ok_or_else(|| undefined(py_repr(key)))
        }
        Value::Object(_) => Err(undefined(key.to_owned())),
        Value::String(s) if numeric => key
            .parse::<usize>()
            .ok()
            .and_then(|i| s.chars().nth(i))
            .map(|c| Value::String(c.to_string()))
            .ok_or_else(|| undefined("string index out of range".to_owned())),
        other => Err(undefined(format!(
            "'{}' object is not subscriptable",
            py_type(other)
        ))),
    }
}
