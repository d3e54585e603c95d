//! Exit codes, as the agent and the user see them: the shell's conventions.
//!
//! A normal exit gives its status; death by signal N gives 128+N (130 after an interrupt,
//! 137 after SIGKILL, 143 after SIGTERM); a program that cannot be found gives 127 and one
//! that cannot be executed 126 (docs/protocol.md §4.5). Every place that invents an exit code
//! uses the constants here.

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;

/// A program, a main file or an operation that does not exist (also "unsupported").
pub(crate) const NOT_FOUND: i32 = 127;
/// A program that exists but cannot be executed.
pub(crate) const NOT_EXECUTABLE: i32 = 126;
/// A task stopped by `interrupt` (128 + SIGINT).
pub(crate) const INTERRUPTED: i32 = 130;
/// An internal error or a plugin panic.
pub(crate) const INTERNAL: i32 = -1;

/// Converts an exit status to the shell convention.
pub(crate) fn code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => INTERNAL,
    }
}

/// Describes an exit status for people: `exit code 3` or `signal 9`.
pub(crate) fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => "an unknown status".into(),
    }
}

/// The shell's exit code for a failure to start a program, if it has one.
pub(crate) fn for_spawn_error(err: &std::io::Error) -> Option<i32> {
    match err.kind() {
        ErrorKind::NotFound => Some(NOT_FOUND),
        ErrorKind::PermissionDenied => Some(NOT_EXECUTABLE),
        _ => None,
    }
}
