//! Running the tools the tasks need (cargo, cargo-zigbuild, the built `krunner`), with errors
//! that name the tool and show the end of what it printed.

use std::process::{Command, ExitStatus, Output};

/// How much of a failing tool's stderr an error shows.
const STDERR_TAIL: usize = 4000;

/// A tool that could not be run or failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ToolError {
    #[error("cannot run {tool}{hint}")]
    Spawn {
        tool: String,
        hint: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{tool} failed ({status}){stderr}")]
    Failed {
        tool: String,
        status: ExitStatus,
        stderr: String,
    },
}

/// The cargo that runs this task (`$CARGO`), or `cargo`.
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `cmd` with stderr captured; returns its stdout when it succeeds.
pub(crate) fn output(tool: &str, cmd: &mut Command) -> Result<Vec<u8>, ToolError> {
    let out = cmd.output().map_err(|source| ToolError::Spawn {
        tool: tool.to_owned(),
        hint: "",
        source,
    })?;
    check(tool, out)
}

/// Turns a finished run into its stdout, or an error with the end of its stderr.
pub(crate) fn check(tool: &str, out: Output) -> Result<Vec<u8>, ToolError> {
    if out.status.success() {
        return Ok(out.stdout);
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let tail: String = if text.len() > STDERR_TAIL {
        let cut = text.len() - STDERR_TAIL;
        let start = (cut..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        format!("…{}", &text[start..])
    } else {
        text.into_owned()
    };
    let stderr = if tail.trim().is_empty() {
        String::new()
    } else {
        format!(":\n{}", tail.trim_end())
    };
    Err(ToolError::Failed {
        tool: tool.to_owned(),
        status: out.status,
        stderr,
    })
}

/// A `Spawn` error with an installation hint.
pub(crate) fn missing(tool: &str, hint: &'static str, source: std::io::Error) -> ToolError {
    ToolError::Spawn {
        tool: tool.to_owned(),
        hint,
        source,
    }
}
