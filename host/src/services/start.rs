//! One service start, from request to answer: the resolution order of docs/protocol.md §6.2,
//! the spawn, and the port wait (§6.3).
//!
//! A start runs as a background task, so the receive loop never waits on a port. Starts of
//! one name are serialised (a second start of a running service answers `running`, and a start
//! waits for a stopping instance to be gone), starts of different names run concurrently, and
//! the whole start has a deadline so a stuck prestart action or plugin hook cannot withhold
//! the reply and every reply queued after it.
//!
//! A spawned service is recorded in the registry as it is spawned, and every way a start can
//! fail afterwards stops it: an early exit (its watcher stops what it left behind), a port
//! that never opens, a probe that fails, and the deadline (through [`Launched`], which the
//! deadline shares with the start it cuts short).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::error::{StartError, Started};
use super::launch::{self, ServiceProcess};
use super::port::{self, PortWait};
use super::request::Request;
use super::resolve::Resolved;
use super::{lock, Services, STOP_GRACE};
use crate::process::exit;

/// How long an exited service's output may take to end before its error is sent.
const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// How a start is done.
pub(crate) struct How {
    /// A model service's definition: its command is taken literally.
    pub(crate) model: Option<super::definition::Definition>,
    /// Port-wait budget (`None`: no wait).
    pub(crate) wait: Option<Duration>,
    /// Terminate the process when the wait times out (otherwise report it started).
    pub(crate) kill_on_timeout: bool,
    /// Working directory.
    pub(crate) cwd: Option<PathBuf>,
    /// What the start spawned, and whether its deadline passed.
    pub(crate) launched: Launched,
}

impl How {
    /// A start with a port wait of `wait`.
    pub(crate) fn new(wait: Option<Duration>, kill_on_timeout: bool) -> Self {
        Self {
            model: None,
            wait,
            kill_on_timeout,
            cwd: None,
            launched: Launched::default(),
        }
    }
}

/// The process a start spawned, shared with the start's deadline: once the deadline has
/// passed nothing may be spawned, and whatever was spawned is stopped.
#[derive(Clone, Default)]
pub(crate) struct Launched(Arc<Mutex<Slot>>);

#[derive(Default)]
struct Slot {
    cancelled: bool,
    process: Option<ServiceProcess>,
}

impl Launched {
    /// Whether the deadline has passed.
    fn cancelled(&self) -> bool {
        lock(&self.0).cancelled
    }

    /// Keeps `process`; gives it back if the deadline passed meanwhile.
    fn keep(&self, process: ServiceProcess) -> Result<(), ServiceProcess> {
        let mut slot = lock(&self.0);
        if slot.cancelled {
            return Err(process);
        }
        slot.process = Some(process);
        Ok(())
    }

    /// The deadline passed: nothing may be spawned any more; returns what was.
    fn cancel(&self) -> Option<ServiceProcess> {
        let mut slot = lock(&self.0);
        slot.cancelled = true;
        slot.process.take()
    }
}

impl Services {
    /// [`Self::start`] with an overall deadline; a start cut short stops what it spawned.
    pub(crate) async fn start_guarded(
        self: &Arc<Self>,
        request: Request,
        how: How,
    ) -> Result<Started, StartError> {
        let guard = how.wait.unwrap_or(self.config.timeout) + STOP_GRACE + Duration::from_secs(2);
        let launched = how.launched.clone();
        let name = request.name.clone();
        match tokio::time::timeout(guard, self.start(request, how)).await {
            Ok(r) => r,
            Err(_) => {
                if let Some(process) = launched.cancel() {
                    tracing::warn!("service {name} took too long to start; stopping it");
                    self.registry.retire(&name, &process);
                    launch::terminate(&process, STOP_GRACE).await;
                    self.registry.end_stop(&name, &process);
                }
                Err(StartError::Stuck(name))
            }
        }
    }

    async fn start(self: &Arc<Self>, request: Request, how: How) -> Result<Started, StartError> {
        if request.protocol == "preopen" {
            return Ok(Started::Started);
        }
        let name_lock = self.name_lock(&request.name);
        let _guard = name_lock.lock().await;
        if let Some(old) = self.registry.running(&request.name) {
            if !old.group.exited() {
                return Ok(Started::Running);
            }
            // Its main process is gone and what it left is being stopped: a new one follows.
            wait_gone(&old).await;
        }
        self.wait_until_stopped(&request.name).await;
        if request.name == "sshd" {
            let mut ready = self.sshd_ready.subscribe();
            let _ = tokio::time::timeout(self.config.timeout, ready.wait_for(|r| *r)).await;
        }
        if request.protocol == "pty" {
            return Err(StartError::NotImplemented);
        }
        if let Some(cwd) = how.cwd.as_ref().filter(|cwd| !cwd.is_dir()) {
            return Err(StartError::MissingCwd(cwd.display().to_string()));
        }
        let Some(process) = self.spawn(&request, &how).await? else {
            return Ok(Started::Started);
        };
        match (how.wait, request.port) {
            (Some(budget), Some(port)) => {
                self.wait_for_port(request, &how, process, port, budget)
                    .await
            }
            _ => Ok(Started::Started),
        }
    }

    /// A start of a name being stopped waits until that instance is gone (its port free).
    async fn wait_until_stopped(&self, name: &str) {
        let Some(old) = self.registry.stopping(name) else {
            return;
        };
        wait_gone(&old).await;
        self.registry.end_stop(name, &old);
    }

    /// Resolves the command, then spawns and records it (blocking work, off the runtime's
    /// thread).
    async fn spawn(
        self: &Arc<Self>,
        request: &Request,
        how: &How,
    ) -> Result<Option<ServiceProcess>, StartError> {
        let this = Arc::clone(self);
        let req = request.clone();
        let model = how.model.clone();
        let cwd = how.cwd.clone();
        let launched = how.launched.clone();
        tokio::task::spawn_blocking(move || -> Result<Option<ServiceProcess>, StartError> {
            match this.resolve(&req, model.as_ref(), cwd)? {
                Resolved::Noop => Ok(None),
                Resolved::Launch { .. } if launched.cancelled() => {
                    Err(StartError::Stuck(req.name.clone()))
                }
                Resolved::Launch { argv, env, cwd } => {
                    let mut full = this.context.child_env.vars().clone();
                    full.extend(env);
                    launch::strip_runner_libs(&mut full);
                    tracing::info!("starting service {}: {}", req.name, argv.join(" "));
                    let cwd = cwd.unwrap_or_else(|| this.config.work_dir.clone());
                    let process = this.registry.spawn(&req.name, || {
                        launch::spawn(&req.name, &argv, &full, Some(&cwd))
                    })?;
                    this.forget_on_exit(&req.name, &process);
                    if let Err(process) = launched.keep(process.clone()) {
                        this.registry.retire(&req.name, &process);
                        launch::terminate_blocking(&process, STOP_GRACE);
                        this.registry.end_stop(&req.name, &process);
                        return Err(StartError::Stuck(req.name.clone()));
                    }
                    Ok(Some(process))
                }
            }
        })
        .await
        .map_err(|e| StartError::Internal(e.to_string()))?
    }

    /// The answer comes when the port opens, the process exits, or the budget runs out.
    async fn wait_for_port(
        &self,
        request: Request,
        how: &How,
        process: ServiceProcess,
        port: u16,
        budget: Duration,
    ) -> Result<Started, StartError> {
        let outcome = port::wait_open(
            port,
            budget,
            self.config.probe_timeout,
            process.exit.clone(),
        )
        .await;
        match outcome {
            PortWait::Open => return Ok(Started::Started),
            PortWait::TimedOut if !how.kill_on_timeout => {
                tracing::info!(
                    "service {} has not opened port {port} yet; reporting it started",
                    request.name
                );
                return Ok(Started::Started);
            }
            PortWait::Exited(_) => {}
            PortWait::TimedOut | PortWait::Failed(_) => {
                launch::terminate(&process, STOP_GRACE).await;
            }
        }
        self.registry.forget(&request.name, &process);
        Err(match outcome {
            PortWait::Exited(status) => StartError::Exited {
                name: request.name,
                status: exit::describe(status),
                output: last_output(&process).await,
            },
            PortWait::Failed(e) => StartError::Probe {
                name: request.name,
                reason: e.to_string(),
            },
            _ => StartError::Timeout(request.name),
        })
    }

    /// Forgets a recorded service when it exits.
    fn forget_on_exit(self: &Arc<Self>, name: &str, process: &ServiceProcess) {
        let this = Arc::clone(self);
        let name = name.to_owned();
        let process = process.clone();
        tokio::spawn(async move {
            let mut exit = process.exit.clone();
            let _ = exit.wait_for(Option::is_some).await;
            this.registry.forget(&name, &process);
        });
    }

    fn name_lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(
            lock(&self.name_locks)
                .entry(name.to_owned())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(()))),
        )
    }
}

/// The last lines an exited service printed, once its streams have ended (a process that
/// left its group may hold them open: then what has arrived within [`OUTPUT_GRACE`]).
async fn last_output(process: &ServiceProcess) -> Vec<String> {
    let tail = process.output.clone();
    tokio::task::spawn_blocking(move || tail.wait_lines(OUTPUT_GRACE))
        .await
        .unwrap_or_default()
}

/// Waits (up to 5 s) until `process` and what it left in its group are gone.
async fn wait_gone(process: &ServiceProcess) {
    let mut exit = process.exit.clone();
    let _ = tokio::time::timeout(
        STOP_GRACE + launch::REMNANT_GRACE + Duration::from_secs(2),
        exit.wait_for(Option::is_some),
    )
    .await;
}
