//! The texts that explain a task's outcome to the user.
//!
//! They reach the user's console as `stderr` lines named after the runner (`c-kernel: error:
//! ...`, see [`crate::logging`]), next to the exit code of docs/protocol.md §4.5 they explain.
//! Keeping them in one place keeps their wording consistent, in the style of a compiler's
//! messages: what happened, to what, and what to do when there is something to do. Errors
//! that are part of the wire contract (service replies) live with their `thiserror` enums.

use std::fmt::Display;
use std::path::Path;

/// The plugin could not be loaded at startup; every task reports this.
pub(crate) fn plugin_unusable(language: &str, reason: impl Display) -> String {
    format!("cannot use the {language} plugin: {reason}")
}

/// The plugin loaded but refused to create a runner.
pub(crate) fn runner_failed_to_start(language: &str, reason: &str) -> String {
    format!("the {language} runner failed to start: {reason}")
}

/// A runner method panicked (the SDK turned the panic into an error).
pub(crate) fn runner_panicked(what: &str, reason: &str) -> String {
    format!("{what}: {reason}; starting a fresh runner")
}

/// A runner method failed.
pub(crate) fn runner_failed(what: &str, reason: &str) -> String {
    format!("{what} failed: {reason}")
}

/// `code` for a plugin without query mode; written to the task's stderr.
pub(crate) fn query_unsupported(runner_name: &str, language: Option<&str>) -> String {
    let which = language.map_or_else(|| "this".to_owned(), |l| format!("the '{l}'"));
    format!("{runner_name}: query mode is not supported by {which} runner\n")
}

/// A command the plugin asked for is not on the child's `PATH`.
pub(crate) fn command_not_found(program: &str) -> String {
    format!("{program}: command not found")
}

/// A command could not be started.
pub(crate) fn cannot_run(program: &Path, reason: impl Display) -> String {
    format!("cannot run {}: {reason}", program.display())
}

/// A collected command printed more than is kept; the rest was read and discarded.
pub(crate) fn output_truncated(
    stream: crate::process::Stream,
    kept: usize,
    dropped: u64,
) -> String {
    let name = match stream {
        crate::process::Stream::Stdout => "stdout",
        crate::process::Stream::Stderr => "stderr",
    };
    format!("[{name} truncated: kept the first {kept} bytes, discarded {dropped} bytes]")
}

/// A task's process group survived SIGINT for the whole grace period.
pub(crate) fn interrupt_ignored(pgid: i32) -> String {
    format!("process group {pgid} ignored SIGINT; sending SIGKILL")
}

/// The agent reported that the kernel killed a process for lack of memory.
pub(crate) const OUT_OF_MEMORY: &str =
    "out-of-memory detected: a process in this session was killed";

/// A task op over the size limit (`--max-message-size`), which was not run; written to the
/// task's stderr.
pub(crate) fn op_too_large(runner_name: &str, op: &str, size: usize, limit: usize) -> String {
    format!(
        "{runner_name}: error: the {op} request ({}) is larger than this runner accepts ({}); \
         it was not run\n",
        human_size(size),
        human_size(limit)
    )
}

/// A size for people: `812 bytes`, `3.5 KiB`, `64 MiB`.
pub(crate) fn human_size(bytes: usize) -> String {
    const UNITS: [(usize, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (unit, name) in UNITS {
        if bytes >= unit {
            return if bytes % unit == 0 {
                format!("{} {name}", bytes / unit)
            } else {
                format!("{:.1} {name}", bytes as f64 / unit as f64)
            };
        }
    }
    format!("{bytes} bytes")
}

/// A task's stdin could not be made interactive (it still runs, reading an empty pipe).
pub(crate) fn input_unavailable(reason: impl Display) -> String {
    format!("interactive input is unavailable for this task: {reason}")
}

/// A plugin sent output the protocol does not allow.
pub(crate) fn invalid_plugin_output(reason: impl Display) -> String {
    format!("invalid media message: {reason}")
}
