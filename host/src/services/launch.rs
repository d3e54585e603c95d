//! Spawning a service process and following it until it exits.
//!
//! Services run in their own process group with the session's child environment, their output
//! going to the runner's own stdout/stderr (container logs), as upstream. A watcher thread per
//! service waits for the exit and publishes it on a `watch` channel, which is what lets a port
//! wait stop the moment the service dies and lets a crashed service be started again.

use std::collections::BTreeMap;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use krunner_plugin_api::util::{is_executable, which_in};
use thiserror::Error;
use tokio::sync::watch;

/// Why a service process could not be started (wording of PROTOCOL.md §6.2).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum LaunchError {
    /// The program exists but cannot be executed.
    #[error("the target file is not executable: {0}")]
    NotExecutable(String),
    /// The program does not exist.
    #[error("the executable file is not found: {0}")]
    NotFound(String),
    /// Nothing to run.
    #[error("the service command is empty")]
    Empty,
    /// Any other operating-system failure.
    #[error("cannot start {program}: {reason}")]
    Os {
        /// The program.
        program: String,
        /// What the OS said.
        reason: String,
    },
}

/// A running (or exited) service process.
#[derive(Debug, Clone)]
pub struct ServiceProcess {
    /// Its pid, which is also its process group.
    pub pid: i32,
    /// `None` while it runs, then its exit status.
    pub exit: watch::Receiver<Option<ExitStatus>>,
}

impl ServiceProcess {
    /// Whether it is still running.
    pub fn alive(&self) -> bool {
        self.exit.borrow().is_none()
    }
}

/// Describes an exit status for humans: `exit code 3` or `signal 9`.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => "an unknown status".into(),
    }
}

/// Spawns `argv` with exactly `env`, in `cwd` (or the current directory), in a new process
/// group; `name` names the watcher thread.
pub fn spawn(
    name: &str,
    argv: &[String],
    env: &BTreeMap<String, String>,
    cwd: Option<&Path>,
) -> Result<ServiceProcess, LaunchError> {
    let (first, rest) = argv.split_first().ok_or(LaunchError::Empty)?;
    let path = env.get("PATH").map(String::as_str).unwrap_or_default();
    let program = match which_in(first, path) {
        Some(p) => p,
        None => {
            let p = PathBuf::from(first);
            return Err(
                if first.contains('/') && p.is_file() && !is_executable(&p) {
                    LaunchError::NotExecutable(first.clone())
                } else {
                    LaunchError::NotFound(first.clone())
                },
            );
        }
    };
    let mut command = std::process::Command::new(&program);
    command
        .arg0(first)
        .args(rest)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .process_group(0);
    if let Some(dir) = cwd {
        command.current_dir(dir);
    }
    let mut child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => LaunchError::NotExecutable(first.clone()),
        std::io::ErrorKind::NotFound => LaunchError::NotFound(first.clone()),
        _ => LaunchError::Os {
            program: first.clone(),
            reason: e.to_string(),
        },
    })?;
    let pid = i32::try_from(child.id()).unwrap_or(0);
    let (tx, rx) = watch::channel(None);
    let label = name.to_owned();
    let watcher = std::thread::Builder::new()
        .name(format!("service-{name}"))
        .spawn(move || match child.wait() {
            Ok(status) => {
                tracing::info!(
                    "service {label} (pid {pid}) exited with {}",
                    describe(status)
                );
                let _ = tx.send(Some(status));
            }
            Err(e) => {
                tracing::warn!("cannot wait for service {label} (pid {pid}): {e}");
                let _ = tx.send(Some(ExitStatus::from_raw(-1)));
            }
        });
    if let Err(e) = watcher {
        // Without a watcher the exit could never be observed; do not leave it running.
        signal_group(pid, libc::SIGKILL);
        return Err(LaunchError::Os {
            program: first.clone(),
            reason: format!("cannot start its watcher thread: {e}"),
        });
    }
    Ok(ServiceProcess { pid, exit: rx })
}

/// Sends `sig` to the service's process group.
pub fn signal_group(pid: i32, sig: i32) {
    if pid <= 0 {
        return;
    }
    // SAFETY: killpg has no memory-safety preconditions.
    unsafe { libc::killpg(pid, sig) };
}

/// Terminates a service: SIGTERM to its group, SIGKILL after `grace` if it is still running.
pub async fn terminate(process: &ServiceProcess, grace: Duration) {
    if !process.alive() {
        return;
    }
    signal_group(process.pid, libc::SIGTERM);
    signal_group(process.pid, libc::SIGCONT);
    let mut exit = process.exit.clone();
    let exited = tokio::time::timeout(grace, exit.wait_for(Option::is_some))
        .await
        .is_ok();
    if !exited {
        tracing::warn!(
            "service pid {} ignored SIGTERM for {grace:?}; sending SIGKILL",
            process.pid
        );
        signal_group(process.pid, libc::SIGKILL);
        let _ = tokio::time::timeout(Duration::from_secs(1), exit.wait_for(Option::is_some)).await;
    }
}

/// Terminates many services without a runtime (shutdown): SIGTERM to all now, SIGKILL to the
/// survivors once `deadline` passes.
pub fn terminate_all_blocking(processes: &[ServiceProcess], deadline: std::time::Instant) {
    let alive: Vec<&ServiceProcess> = processes.iter().filter(|p| p.alive()).collect();
    for p in &alive {
        signal_group(p.pid, libc::SIGTERM);
        signal_group(p.pid, libc::SIGCONT);
    }
    while std::time::Instant::now() < deadline && alive.iter().any(|p| p.alive()) {
        std::thread::sleep(Duration::from_millis(10));
    }
    for p in alive.iter().filter(|p| p.alive()) {
        tracing::warn!("service pid {} ignored SIGTERM; sending SIGKILL", p.pid);
        signal_group(p.pid, libc::SIGKILL);
    }
}

/// Removes every `/opt/backend.ai/lib:` from `LD_LIBRARY_PATH` (the runner's own libraries
/// must not leak into apps).
pub fn strip_runner_libs(env: &mut BTreeMap<String, String>) {
    if let Some(v) = env.get_mut("LD_LIBRARY_PATH") {
        *v = v.replace("/opt/backend.ai/lib:", "");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn spawn_errors_use_upstream_wording() {
        let env: BTreeMap<String, String> =
            [("PATH".to_owned(), "/bin:/usr/bin".to_owned())].into();
        let err = spawn("x", &["no-such-program-here".into()], &env, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the executable file is not found: no-such-program-here"
        );
        let dir = std::env::temp_dir().join(format!("krunner-launch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("not-exec");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        let name = file.display().to_string();
        let err = spawn("x", std::slice::from_ref(&name), &env, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("the target file is not executable: {name}")
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn exits_are_observed() {
        let env: BTreeMap<String, String> =
            [("PATH".to_owned(), "/bin:/usr/bin".to_owned())].into();
        let p = spawn(
            "x",
            &["sh".into(), "-c".into(), "exit 3".into()],
            &env,
            None,
        )
        .unwrap();
        let mut exit = p.exit.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let status = rt.block_on(async { exit.wait_for(Option::is_some).await.map(|s| *s) });
        assert_eq!(status.ok().flatten().and_then(|s| s.code()), Some(3));
        assert!(!p.alive());
    }

    #[test]
    fn runner_libs_are_stripped() {
        let mut env: BTreeMap<String, String> = [(
            "LD_LIBRARY_PATH".to_owned(),
            "/opt/backend.ai/lib:/usr/lib:/opt/backend.ai/lib:/x".to_owned(),
        )]
        .into();
        strip_runner_libs(&mut env);
        assert_eq!(env["LD_LIBRARY_PATH"], "/usr/lib:/x");
    }
}
