//! Starting a service process and following it until it exits.
//!
//! Services run in their own process group with the user processes' environment, their output
//! copied to the host's own stdout/stderr (the container log) with its last lines kept
//! ([`super::output`]), docs/protocol.md §6.3. A watcher
//! thread per service learns the exit and publishes it on a `watch` channel, which is what lets
//! a port wait stop the moment the service dies and lets a crashed service be started again.
//! Before it publishes the exit, the watcher stops whatever the leader left in its process
//! group ([`super::remnants`]), so a service is gone, children included, once its exit is
//! known. Stopping goes through the host's one terminate ladder ([`crate::process::terminate`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use krunner_plugin_api::util::{is_executable, which_in};
use thiserror::Error;
use tokio::sync::watch;

use super::output::{Stream, Tail};
use super::remnants;
use crate::process::{self, exit, Group, Spawn};

/// How long what a service's leader left behind may ignore SIGTERM.
pub(crate) const REMNANT_GRACE: Duration = Duration::from_secs(1);
/// How long the leaders may take to vanish after SIGKILL at shutdown.
const AFTER_KILL: Duration = Duration::from_secs(1);
/// How often shutdown looks at the watchers.
const RECHECK: Duration = Duration::from_millis(10);

/// Why a service process could not be started (docs/protocol.md §6.4).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub(crate) enum LaunchError {
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
#[derive(Clone)]
pub(crate) struct ServiceProcess {
    /// Its process group.
    pub(crate) group: Arc<Group>,
    /// `None` while it runs, then its exit status.
    pub(crate) exit: watch::Receiver<Option<ExitStatus>>,
    /// The last lines it printed.
    pub(crate) output: Tail,
}

impl ServiceProcess {
    /// Whether it is still running.
    pub(crate) fn alive(&self) -> bool {
        self.exit.borrow().is_none()
    }

    /// Its pid (also its process group id).
    pub(crate) fn pid(&self) -> i32 {
        self.group.pid()
    }

    /// Whether `other` is the same process.
    pub(crate) fn same(&self, other: &ServiceProcess) -> bool {
        Arc::ptr_eq(&self.group, &other.group)
    }
}

/// Finds `argv[0]` on `PATH` the way the service start reports it.
fn resolve_program(first: &str, path: &str) -> Result<PathBuf, LaunchError> {
    if let Some(p) = which_in(first, path) {
        return Ok(p);
    }
    let p = PathBuf::from(first);
    Err(
        if first.contains('/') && p.is_file() && !is_executable(&p) {
            LaunchError::NotExecutable(first.to_owned())
        } else {
            LaunchError::NotFound(first.to_owned())
        },
    )
}

/// The watcher thread's name: `service-<name>` without what a thread name cannot hold.
fn thread_name(name: &str) -> String {
    let shown: String = name.chars().filter(|c| !c.is_control()).take(48).collect();
    format!("service-{shown}")
}

/// Spawns `argv` with exactly `env`, in `cwd` (or the current directory), in a new process
/// group; `name` names the watcher thread. Whatever fails after the spawn stops the group.
pub(crate) fn spawn(
    name: &str,
    argv: &[String],
    env: &BTreeMap<String, String>,
    cwd: Option<&Path>,
) -> Result<ServiceProcess, LaunchError> {
    let (first, rest) = argv.split_first().ok_or(LaunchError::Empty)?;
    let path = env.get("PATH").map(String::as_str).unwrap_or_default();
    let spawn = Spawn {
        program: resolve_program(first, path)?,
        arg0: Some(first.clone()),
        args: rest.to_vec(),
        env: env.clone(),
        cwd: cwd.map(Path::to_path_buf),
    };
    let started = process::start(&spawn, Stdio::null()).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => LaunchError::NotExecutable(first.clone()),
        std::io::ErrorKind::NotFound => LaunchError::NotFound(first.clone()),
        _ => LaunchError::Os {
            program: first.clone(),
            reason: e.to_string(),
        },
    })?;
    let group = started.group;
    let output = Tail::default();
    if let Some(out) = started.stdout {
        output.follow(format!("{}-out", thread_name(name)), out, Stream::Stdout);
    }
    if let Some(err) = started.stderr {
        output.follow(format!("{}-err", thread_name(name)), err, Stream::Stderr);
    }
    let (tx, rx) = watch::channel(None);
    let watched = Arc::clone(&group);
    let label = name.to_owned();
    let watcher = std::thread::Builder::new()
        .name(thread_name(name))
        .spawn(move || watch_exit(&watched, &label, &tx));
    if let Err(e) = watcher {
        // Without a watcher the exit could never be observed; do not leave it running.
        process::kill(&group);
        group.reap();
        return Err(LaunchError::Os {
            program: first.clone(),
            reason: format!("cannot start its watcher thread: {e}"),
        });
    }
    Ok(ServiceProcess {
        group,
        exit: rx,
        output,
    })
}

/// The watcher: waits for the exit, stops what the leader left in its group, reaps the
/// leader, and publishes the exit.
fn watch_exit(group: &Group, label: &str, tx: &watch::Sender<Option<ExitStatus>>) {
    let pid = group.pid();
    let status = match group.wait_exit_forever() {
        Ok(status) => {
            tracing::info!(
                "service {label} (pid {pid}) exited with {}",
                exit::describe(status)
            );
            status
        }
        Err(e) => {
            tracing::warn!("cannot wait for service {label} (pid {pid}): {e}");
            std::os::unix::process::ExitStatusExt::from_raw(-1)
        }
    };
    let left = remnants::sweep(group, label, REMNANT_GRACE);
    if left > 0 {
        tracing::info!("stopped {left} process(es) service {label} left behind");
    }
    group.reap();
    let _ = tx.send(Some(status));
}

/// Stops a service: SIGTERM to its group, SIGKILL after `grace` if it is still running.
pub(crate) async fn terminate(process: &ServiceProcess, grace: Duration) {
    if !process.alive() {
        return;
    }
    let group = Arc::clone(&process.group);
    let ladder = tokio::task::spawn_blocking(move || {
        process::terminate(std::slice::from_ref(&group), grace, "a service");
    });
    let _ = ladder.await;
    // The watcher publishes the exit once the leader and what it left are gone.
    let mut exit = process.exit.clone();
    let _ = tokio::time::timeout(
        REMNANT_GRACE + AFTER_KILL + Duration::from_secs(1),
        exit.wait_for(Option::is_some),
    )
    .await;
}

/// [`terminate`] without a runtime, for a start that lost its process.
pub(crate) fn terminate_blocking(process: &ServiceProcess, grace: Duration) {
    process::terminate(std::slice::from_ref(&process.group), grace, "a service");
    let watcher_done = Instant::now() + REMNANT_GRACE + AFTER_KILL + Duration::from_secs(1);
    wait_watchers(std::slice::from_ref(process), watcher_done);
}

/// Stops services and preparing commands without a runtime (shutdown): SIGTERM to all now,
/// SIGKILL to the leaders still running at `deadline`; then SIGKILL to every service group
/// whose watcher has not finished by then (what a leader left behind), and a last wait.
pub(crate) fn stop_all_blocking(
    services: &[ServiceProcess],
    helpers: &[Arc<Group>],
    deadline: Instant,
) {
    let groups: Vec<Arc<Group>> = services
        .iter()
        .map(|p| Arc::clone(&p.group))
        .chain(helpers.iter().cloned())
        .collect();
    let grace = deadline.saturating_duration_since(Instant::now());
    process::terminate(&groups, grace, "a service");
    let unfinished = wait_watchers(services, deadline);
    for p in &unfinished {
        // Sends nothing once the watcher has reaped the leader (the group is then empty).
        p.group.signal(libc::SIGKILL);
    }
    let left = wait_watchers(&unfinished, Instant::now() + AFTER_KILL);
    if !left.is_empty() {
        tracing::warn!("{} service(s) were still being stopped at exit", left.len());
    }
}

/// Waits until every watcher has published its service's exit, at most until `deadline`;
/// returns the services whose watcher has not.
fn wait_watchers(services: &[ServiceProcess], deadline: Instant) -> Vec<ServiceProcess> {
    loop {
        let pending: Vec<ServiceProcess> = services.iter().filter(|p| p.alive()).cloned().collect();
        if pending.is_empty() || Instant::now() >= deadline {
            return pending;
        }
        std::thread::sleep(RECHECK);
    }
}

/// Removes every `/opt/backend.ai/lib:` from `LD_LIBRARY_PATH` (the host's own libraries
/// must not leak into apps).
pub(crate) fn strip_runner_libs(env: &mut BTreeMap<String, String>) {
    if let Some(v) = env.get_mut("LD_LIBRARY_PATH") {
        *v = v.replace("/opt/backend.ai/lib:", "");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Waits for the service's exit, as its watcher reports it; its exit code.
    fn exit_code(p: &ServiceProcess) -> Option<i32> {
        let mut exit = p.exit.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let status = rt.block_on(async { exit.wait_for(Option::is_some).await.map(|s| *s) });
        status.ok().flatten().and_then(|s| s.code())
    }

    #[test]
    fn spawn_errors_use_upstream_wording() {
        let env: BTreeMap<String, String> =
            [("PATH".to_owned(), "/bin:/usr/bin".to_owned())].into();
        let err = spawn("x", &["no-such-program-here".into()], &env, None)
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "the executable file is not found: no-such-program-here"
        );
        let dir = std::env::temp_dir().join(format!("krunner-launch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("not-exec");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        let name = file.display().to_string();
        let err = spawn("x", std::slice::from_ref(&name), &env, None)
            .err()
            .unwrap();
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
        assert_eq!(exit_code(&p), Some(3));
        assert!(!p.alive());
    }

    #[test]
    fn any_name_makes_a_thread_name() {
        assert_eq!(thread_name("web"), "service-web");
        assert_eq!(thread_name("a\0b\nc"), "service-abc");
        let env: BTreeMap<String, String> =
            [("PATH".to_owned(), "/bin:/usr/bin".to_owned())].into();
        let p = spawn("nul\0name", &["true".into()], &env, None).unwrap();
        assert_eq!(exit_code(&p), Some(0));
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
