//! The files the agent leaves in the config directory (`/home/config` by default):
//! `intrinsic-ports.json` and `environ.txt` (docs/protocol.md §1.2, §5.3).
//!
//! Each is read once, at startup, here. `intrinsic-ports.json` has one policy for the whole
//! file: it must be valid JSON, and the protocol ports (`replin`, `replout`) must be valid,
//! because a runner listening on the wrong port is unreachable; a bad port of an intrinsic
//! service (`sshd`, `ttyd`) is reported and its default used, because a session without SSH
//! still works.

use std::path::{Path, PathBuf};

use serde_json::Value;
use thiserror::Error;

/// The file with the ports the agent assigned.
pub(crate) const PORTS_FILE: &str = "intrinsic-ports.json";

/// The file with extra environment variables for user processes.
pub(crate) const ENVIRON_FILE: &str = "environ.txt";

/// `intrinsic-ports.json` cannot be used.
#[derive(Debug, Error)]
pub(crate) enum ConfigError {
    /// The file is not JSON.
    #[error("{file} is not valid JSON: {source}")]
    NotJson {
        /// The file.
        file: PathBuf,
        /// The parser's complaint.
        source: serde_json::Error,
    },
    /// A protocol port is not a port number.
    #[error("{file}: \"{key}\" is not a port number: {value}")]
    BadPort {
        /// The file.
        file: PathBuf,
        /// The key.
        key: &'static str,
        /// What it holds.
        value: Value,
    },
}

/// The ports of `intrinsic-ports.json`, with the defaults for those it does not give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IntrinsicPorts {
    /// Ops in (PULL).
    pub(crate) replin: u16,
    /// Results out (PUSH).
    pub(crate) replout: u16,
    /// The intrinsic sshd.
    pub(crate) sshd: u16,
    /// The intrinsic ttyd.
    pub(crate) ttyd: u16,
}

impl Default for IntrinsicPorts {
    fn default() -> Self {
        Self {
            replin: 2000,
            replout: 2001,
            sshd: 2200,
            ttyd: 7681,
        }
    }
}

fn as_port(value: &Value) -> Option<u16> {
    let n = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.and_then(|n| u16::try_from(n).ok())
}

impl IntrinsicPorts {
    /// Reads `<config_dir>/intrinsic-ports.json`; a missing (or unreadable) file gives the
    /// defaults.
    pub(crate) fn read(config_dir: &Path) -> Result<Self, ConfigError> {
        let file = config_dir.join(PORTS_FILE);
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                tracing::warn!("cannot read {}: {e}", file.display());
                return Ok(Self::default());
            }
        };
        Self::parse(&text, &file)
    }

    /// Parses the text of `intrinsic-ports.json` (`file` names it in errors and warnings).
    pub(crate) fn parse(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let value: Value = serde_json::from_str(text).map_err(|source| ConfigError::NotJson {
            file: file.to_path_buf(),
            source,
        })?;
        Self::from_json(&value, file)
    }

    fn from_json(value: &Value, file: &Path) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let required = |key: &'static str, default: u16| match value.get(key) {
            None => Ok(default),
            Some(v) => as_port(v).ok_or_else(|| ConfigError::BadPort {
                file: file.to_path_buf(),
                key,
                value: v.clone(),
            }),
        };
        let optional = |key: &str, default: u16| match value.get(key) {
            None => default,
            Some(v) => as_port(v).unwrap_or_else(|| {
                tracing::warn!("{}: \"{key}\" is not a port number: {v}", file.display());
                default
            }),
        };
        Ok(Self {
            replin: required("replin", defaults.replin)?,
            replout: required("replout", defaults.replout)?,
            sshd: optional("sshd", defaults.sshd),
            ttyd: optional("ttyd", defaults.ttyd),
        })
    }
}

/// A line of `environ.txt` that is not `KEY=VALUE`: its 1-based number and text.
pub(crate) type BadLine = (usize, String);

/// Reads `<config_dir>/environ.txt`: the variables, and warnings worth logging (unreadable
/// file, malformed lines). A missing file is no variables and no warning.
pub(crate) fn read_environ(config_dir: &Path) -> (Vec<(String, String)>, Vec<String>) {
    let file = config_dir.join(ENVIRON_FILE);
    match std::fs::read(&file) {
        Ok(bytes) => {
            let (pairs, bad) = parse_environ(&String::from_utf8_lossy(&bytes));
            let warnings = bad
                .into_iter()
                .map(|(lineno, line)| {
                    format!(
                        "{}:{lineno}: ignoring a line without '=': {line:?}",
                        file.display()
                    )
                })
                .collect();
            (pairs, warnings)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), Vec::new()),
        Err(e) => (
            Vec::new(),
            vec![format!("cannot read {}: {e}", file.display())],
        ),
    }
}

/// Parses `environ.txt`: `KEY=VALUE` per line, split at the first `=`. Returns the pairs and
/// the lines that have no `=`. Blank lines are ignored.
pub(crate) fn parse_environ(text: &str) -> (Vec<(String, String)>, Vec<BadLine>) {
    let mut pairs = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) if !k.is_empty() => pairs.push((k.to_owned(), v.to_owned())),
            _ => bad.push((i + 1, line.to_owned())),
        }
    }
    (pairs, bad)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn environ_splits_at_first_equals_and_skips_bad_lines() {
        let (pairs, bad) = parse_environ("A=1\nB=x=y\n\nBROKEN\nC=\n");
        assert_eq!(
            pairs,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "x=y".into()),
                ("C".into(), String::new())
            ]
        );
        assert_eq!(bad, vec![(4, "BROKEN".into())]);
    }

    #[test]
    fn ports_from_file_with_one_policy() {
        let dir = tempfile_dir("ports");
        assert_eq!(
            IntrinsicPorts::read(&dir).unwrap(),
            IntrinsicPorts::default()
        );
        std::fs::write(
            dir.join(PORTS_FILE),
            r#"{"replin": 3000, "sshd": 3022, "ttyd": "7000"}"#,
        )
        .unwrap();
        let ports = IntrinsicPorts::read(&dir).unwrap();
        assert_eq!((ports.replin, ports.replout), (3000, 2001));
        assert_eq!((ports.sshd, ports.ttyd), (3022, 7000));
        std::fs::write(dir.join(PORTS_FILE), r#"{"sshd": "nope"}"#).unwrap();
        assert_eq!(IntrinsicPorts::read(&dir).unwrap().sshd, 2200);
        std::fs::write(dir.join(PORTS_FILE), r#"{"replin": 70000}"#).unwrap();
        assert!(matches!(
            IntrinsicPorts::read(&dir),
            Err(ConfigError::BadPort { key: "replin", .. })
        ));
        std::fs::write(dir.join(PORTS_FILE), "{").unwrap();
        assert!(matches!(
            IntrinsicPorts::read(&dir),
            Err(ConfigError::NotJson { .. })
        ));
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("krunner-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
