//! What to start, and the one place a `std::process::Command` is built from it.
//!
//! Every process the host starts for the user (tasks, interpreters, services, prestart
//! commands, the intrinsic services' key tools) is described by a [`Spawn`] and built by
//! [`command`], so they all get exactly the environment they were given (nothing inherited
//! by accident) and a process group of their own, which is what interrupts and shutdown
//! signal.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A fully resolved command to spawn.
#[derive(Debug, Clone, Default)]
pub(crate) struct Spawn {
    /// The program (a path, or a name looked up on the child's `PATH`).
    pub(crate) program: PathBuf,
    /// What the program sees as `argv[0]` when it differs from `program` (a service started
    /// as `jupyter` keeps that name although it was found at `/usr/local/bin/jupyter`).
    pub(crate) arg0: Option<String>,
    /// Its arguments (without `argv[0]`).
    pub(crate) args: Vec<String>,
    /// The complete environment.
    pub(crate) env: BTreeMap<String, String>,
    /// Working directory, or the host's current one.
    pub(crate) cwd: Option<PathBuf>,
}

#[cfg(test)]
impl Spawn {
    /// `/bin/sh -c line` with the test's environment.
    pub(crate) fn shell(line: &str) -> Spawn {
        Spawn {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), line.into()],
            env: std::env::vars().collect(),
            ..Spawn::default()
        }
    }
}

/// The command for `spawn`: exactly its environment, the given stdin, stdout and stderr on
/// pipes the host reads, and a process group of its own.
pub(crate) fn command(spawn: &Spawn, stdin: Stdio) -> Command {
    let mut command = Command::new(&spawn.program);
    if let Some(arg0) = &spawn.arg0 {
        command.arg0(arg0);
    }
    command
        .args(&spawn.args)
        .env_clear()
        .envs(&spawn.env)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(cwd) = &spawn.cwd {
        command.current_dir(cwd);
    }
    command
}
