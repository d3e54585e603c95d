//! Every bound on what the host holds for the agent, in one place (docs/protocol.md §1.5,
//! README "Faults and limits").
//!
//! Inbound, one number is configurable, the maximum message size (`--max-message-size`); the
//! others follow from it or are fixed. Outbound, the bounds are fixed: they only decide how far
//! ahead of a slow agent the runner may run before producers wait.

use thiserror::Error;

/// `--max-message-size` when it is not given: far above any op the agent sends (code and
/// exec payloads of several MB), far below what would strain a session's memory.
pub(crate) const DEFAULT_MAX_MESSAGE: usize = 64 << 20;

/// The smallest `--max-message-size` accepted (every well-formed request is smaller).
pub(crate) const MIN_MAX_MESSAGE: usize = 4 << 10;

/// Ops received but not done with (queued tasks, requests whose reply has not left yet, ops
/// waiting for the dispatcher). At this count no further op is taken from ZeroMQ.
pub(crate) const HELD_OPS: usize = 4096;

/// Messages ZeroMQ itself may buffer on the ops socket while the host takes none (the PULL
/// socket's receive high-water mark); beyond them the agent's socket holds its ops.
pub(crate) const RECEIVE_HWM: i32 = 8;

/// Task-output messages that may wait for the socket thread before producers wait.
pub(crate) const DATA_QUEUE: usize = 256;

/// Bytes of task output that may wait for the socket thread before producers wait.
pub(crate) const DATA_BYTES: usize = 16 << 20;

/// Messages ZeroMQ may buffer on the results socket while the agent does not read (the PUSH
/// socket's send high-water mark). Task output reads are at most 1 MiB, so this bounds what
/// ZeroMQ holds to about 64 MiB.
pub(crate) const SEND_HWM: i32 = 64;

/// Replies and model-health messages that may wait for the socket thread. Replies never
/// reach it (each is owed to an op the budget counts, [`HELD_OPS`]); it only bounds
/// model-health messages that nobody reads.
pub(crate) const REPLY_QUEUE: usize = HELD_OPS + 256;

/// Inputs that may wait for a reader.
pub(crate) const QUEUED_INPUTS: usize = 1024;

/// The limits derived from `--max-message-size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Ops larger than this (all frames together) are rejected, with the reply they owe.
    pub(crate) max_message: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }
}

impl Limits {
    /// Frames larger than this are refused by ZeroMQ itself, which drops the connection (the
    /// agent reconnects); the host never allocates them. Four times the maximum message size,
    /// so every op in between is still answered.
    pub(crate) fn hard_cap(&self) -> i64 {
        i64::try_from(self.max_message.saturating_mul(4)).unwrap_or(i64::MAX)
    }

    /// Bytes of received ops the host holds before it stops taking more (twice the maximum
    /// message size, so one op of the largest size always fits).
    pub(crate) fn held_bytes(&self) -> usize {
        self.max_message.saturating_mul(2)
    }

    /// Bytes of input that may wait for a reader.
    pub(crate) fn input_bytes(&self) -> usize {
        self.max_message
    }
}

/// A size on the command line that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum SizeError {
    /// Not a number with an optional unit.
    #[error("{0:?} is not a size (a number of bytes, optionally with K, M or G)")]
    Syntax(String),
    /// Too small to be useful.
    #[error("{0} bytes is less than the minimum of {MIN_MAX_MESSAGE}")]
    TooSmall(usize),
    /// Does not fit the machine's address space.
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// Parses `--max-message-size`: bytes, or a number with `K`, `M` or `G` (binary units, an
/// optional `iB` or `B` after the letter).
pub(crate) fn parse_size(text: &str) -> Result<usize, SizeError> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(SizeError::Syntax(text.to_owned())),
    };
    let n: usize = number
        .parse()
        .map_err(|_| SizeError::Syntax(text.to_owned()))?;
    let bytes = n
        .checked_mul(1 << shift)
        .ok_or_else(|| SizeError::TooLarge(text.to_owned()))?;
    if bytes < MIN_MAX_MESSAGE {
        return Err(SizeError::TooSmall(bytes));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("16 KB"), Ok(16 << 10));
        assert_eq!(parse_size("10"), Err(SizeError::TooSmall(10)));
        assert!(matches!(parse_size("lots"), Err(SizeError::Syntax(_))));
        assert!(matches!(parse_size("5T"), Err(SizeError::Syntax(_))));
        assert!(matches!(
            parse_size("99999999999999999999G"),
            Err(SizeError::Syntax(_) | SizeError::TooLarge(_))
        ));
    }

    #[test]
    fn derived_limits() {
        let l = Limits::default();
        assert_eq!(l.hard_cap(), 256 << 20);
        assert_eq!(l.held_bytes(), 128 << 20);
        assert_eq!(l.input_bytes(), 64 << 20);
    }
}
