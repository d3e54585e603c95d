//! In-container services: `start-service`, `shutdown-service`, `get-apps` and
//! `start-model-service` (PROTOCOL.md §6), plus the intrinsic `sshd` and `ttyd`.
//!
//! [`Services`] is the registry and supervisor. A start runs as a background task (the receive
//! loop never waits on a port), resolves the command (built-in, service-def file, then the
//! plugin's legacy hook), spawns it with the session's child environment, and waits for its
//! port while watching for an early exit. Starts of one name are serialized, starts of
//! different names run concurrently, and replies leave in request order ([`replies`]).
//! Exits are tracked, so a crashed service can be started again.

pub mod actions;
pub mod definition;
pub mod interpolate;
pub mod intrinsic;
pub mod launch;
pub mod model;
pub mod port;
pub mod replies;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use krunner_plugin_api::{capability, ServiceCommand, ServiceRequest};
use serde_json::Value;
use thiserror::Error;

use crate::logging::WIRE;
use crate::protocol::{Msg, ServiceResult};
use crate::runner::RunnerSlot;
use crate::session::Session;
use crate::transport::Outbox;
use definition::{Definition, DefinitionDir, DefinitionError, UserOptions};
use interpolate::Variables;
use launch::{LaunchError, ServiceProcess};
use port::PortWait;
use replies::{ReplyQueue, ReplySlot};

/// Grace between SIGTERM and SIGKILL when a service is stopped.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// Port-wait budget of the intrinsic services.
pub const INTRINSIC_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of the service subsystem.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Directory of service-definition files.
    pub def_dir: PathBuf,
    /// How long a service may take to open its port.
    pub timeout: Duration,
    /// How long one connection attempt may take.
    pub probe_timeout: Duration,
    /// The `runtime_path` template variable.
    pub runtime_path: String,
    /// The intrinsic services' binaries.
    pub binaries: intrinsic::Binaries,
    /// Where `intrinsic-ports.json` and `ssh/` are.
    pub config_dir: PathBuf,
    /// The session directory (services' working directory).
    pub work_dir: PathBuf,
}

/// Why a start failed; `Display` is the `error` of the reply.
#[derive(Debug, Error)]
pub enum StartError {
    /// The payload is unusable.
    #[error("invalid request: {0}")]
    BadRequest(String),
    /// `pty` services.
    #[error("not implemented yet")]
    NotImplemented,
    /// Nothing knows how to run this service.
    #[error("unsupported service: {0}")]
    Unsupported(String),
    /// The definition or the user's options are invalid.
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    /// Spawning failed.
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// The plugin's legacy hook failed.
    #[error("the runner's service hook failed: {0}")]
    Hook(String),
    /// The port did not open in time (the process was terminated).
    #[error("opening the service port timed out: {0}")]
    Timeout(String),
    /// The process exited before its port opened.
    #[error("the service exited with {status} before opening its port: {name}")]
    Exited {
        /// The service.
        name: String,
        /// How it ended.
        status: String,
    },
    /// Probing the port failed.
    #[error("cannot check the service port of {name}: {reason}")]
    Probe {
        /// The service.
        name: String,
        /// What failed.
        reason: String,
    },
    /// The model directory is missing.
    #[error("the model directory does not exist: {0}")]
    MissingCwd(String),
    /// The start task itself failed.
    #[error("the process did not start properly: {0}")]
    Internal(String),
    /// Preparing the service (prestart actions, the plugin hook) took too long.
    #[error("starting the service took too long: {0}")]
    Stuck(String),
}

/// A successful start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// Spawned (and its port is open), or nothing to spawn.
    Started,
    /// It was already running.
    Running,
}

/// One start request.
#[derive(Debug, Clone)]
struct Request {
    name: String,
    port: Option<u16>,
    ports: Vec<u16>,
    protocol: String,
    options: UserOptions,
    raw_options: Value,
}

impl Request {
    fn parse(payload: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(payload).map_err(|e| e.to_string())?;
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .ok_or("\"name\" is missing")?
            .to_owned();
        let as_port = |x: &Value| x.as_u64().and_then(|n| u16::try_from(n).ok());
        let ports: Vec<u16> = match v.get("ports") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|p| as_port(p).ok_or_else(|| format!("invalid port {p}")))
                .collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        let port = match v.get("port") {
            Some(p) if !p.is_null() => Some(as_port(p).ok_or_else(|| format!("invalid port {p}"))?),
            _ => ports.first().copied(),
        };
        let ports = if ports.is_empty() {
            port.into_iter().collect()
        } else {
            ports
        };
        let raw_options = v.get("options").cloned().unwrap_or(Value::Null);
        // Parsed again from the text (not the Value) so argument order survives.
        #[derive(serde::Deserialize)]
        struct WithOptions {
            #[serde(default)]
            options: Option<UserOptions>,
        }
        let options = serde_json::from_str::<WithOptions>(payload)
            .map_err(|e| format!("invalid options: {e}"))?
            .options
            .unwrap_or_default();
        Ok(Self {
            name,
            port,
            ports,
            protocol: v
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("tcp")
                .to_owned(),
            options,
            raw_options,
        })
    }
}

/// How a start is done.
struct How {
    /// A definition given directly (model services): its command is taken literally.
    model: Option<Definition>,
    /// Port-wait budget (`None`: no wait).
    wait: Option<Duration>,
    /// Terminate the process when the wait times out (otherwise report it started).
    kill_on_timeout: bool,
    /// Working directory.
    cwd: Option<PathBuf>,
    /// Set when the requester gave up: nothing may be spawned any more.
    cancelled: Arc<AtomicBool>,
}

impl How {
    fn new(wait: Option<Duration>, kill_on_timeout: bool) -> Self {
        Self {
            model: None,
            wait,
            kill_on_timeout,
            cwd: None,
            cancelled: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// What resolving a request produced.
enum Resolved {
    /// Nothing to spawn.
    Noop,
    /// A command.
    Launch {
        argv: Vec<String>,
        env: BTreeMap<String, String>,
        cwd: Option<PathBuf>,
    },
}

/// The service registry and supervisor of one session.
pub struct Services {
    config: ServiceConfig,
    defs: DefinitionDir,
    session: Arc<Session>,
    runners: Arc<RunnerSlot>,
    outbox: Outbox,
    running: Mutex<HashMap<String, ServiceProcess>>,
    name_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    models: Mutex<BTreeMap<String, Definition>>,
    stopping: Mutex<HashMap<String, ServiceProcess>>,
    host_key: Mutex<Option<PathBuf>>,
    sshd_ready: tokio::sync::watch::Sender<bool>,
    service_replies: ReplyQueue,
    model_replies: ReplyQueue,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Services {
    /// Creates the registry; must be called inside the tokio runtime (it starts the reply
    /// queues).
    pub fn new(
        config: ServiceConfig,
        session: Arc<Session>,
        runners: Arc<RunnerSlot>,
        outbox: Outbox,
    ) -> Arc<Self> {
        Arc::new(Self {
            defs: DefinitionDir(config.def_dir.clone()),
            config,
            session,
            runners,
            service_replies: ReplyQueue::start(outbox.clone()),
            model_replies: ReplyQueue::start(outbox.clone()),
            outbox,
            running: Mutex::new(HashMap::new()),
            name_locks: Mutex::new(HashMap::new()),
            models: Mutex::new(BTreeMap::new()),
            stopping: Mutex::new(HashMap::new()),
            host_key: Mutex::new(None),
            sshd_ready: tokio::sync::watch::Sender::new(true),
        })
    }

    /// `start-service`: answered later, in request order, with exactly one `service-result`.
    pub fn start_service(self: &Arc<Self>, payload: String) {
        let slot = self
            .service_replies
            .reserve(Msg::ServiceResult(ServiceResult::failed(
                StartError::Internal("start-service".into()).to_string(),
            )));
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let result = match Request::parse(&payload) {
                Ok(request) => {
                    let how = How::new(Some(this.config.timeout), true);
                    let name = request.name.clone();
                    let r = this.start_guarded(request, how).await;
                    log_outcome(&name, &r);
                    r
                }
                Err(e) => {
                    tracing::warn!(target: WIRE, "start-service: invalid request: {e}");
                    Err(StartError::BadRequest(e))
                }
            };
            slot.send(Msg::ServiceResult(to_result(result)));
        });
    }

    /// Answers a `start-service` whose payload could not even be decoded, keeping its place.
    pub fn answer_start_service(&self, reply: Msg) {
        let slot = self.service_replies.reserve(reply.clone());
        slot.send(reply);
    }

    /// Answers a `start-model-service` whose payload could not even be decoded.
    pub fn answer_start_model_service(&self, reply: Msg) {
        let slot = self.model_replies.reserve(reply.clone());
        slot.send(reply);
    }

    /// `shutdown-service`: stops the named service in the background (no reply).
    pub fn shutdown_service(self: &Arc<Self>, payload: &str) {
        let name = match serde_json::from_str::<Value>(payload) {
            Ok(Value::String(s)) => s,
            _ => payload.trim().to_owned(),
        };
        let process = lock(&self.running).remove(&name);
        match process {
            Some(p) if p.alive() => {
                tracing::info!("stopping service {name} (pid {})", p.pid);
                // A later start of the same name waits until this one is gone (its port free).
                lock(&self.stopping).insert(name.clone(), p.clone());
                let this = Arc::clone(self);
                tokio::spawn(async move {
                    launch::terminate(&p, STOP_GRACE).await;
                    let mut stopping = lock(&this.stopping);
                    if stopping.get(&name).is_some_and(|s| s.pid == p.pid) {
                        stopping.remove(&name);
                    }
                });
            }
            _ => tracing::info!("shutdown-service {name}: not running"),
        }
    }

    /// `get-apps`: the services with a definition (files and model services), optionally only
    /// `filter`. A malformed definition file is skipped and logged.
    pub fn get_apps(&self, filter: &str) -> Msg {
        let filter = filter.trim();
        let mut apps = Vec::new();
        let names = if filter.is_empty() {
            self.defs.names()
        } else {
            vec![filter.to_owned()]
        };
        for name in names {
            match self.defs.load(&name) {
                Some(Ok(def)) => apps.push(def.app_entry(&name)),
                Some(Err(e)) => {
                    tracing::warn!(target: WIRE, "get-apps: service {name} is not listed: {e}")
                }
                None => {}
            }
        }
        for (name, def) in lock(&self.models).iter() {
            if (filter.is_empty() || filter == name)
                && self.defs.file(name).is_none_or(|f| !f.exists())
            {
                apps.push(def.app_entry(name));
            }
        }
        Msg::AppsResult(apps)
    }

    /// `start-model-service`: one `model-service-result` (in request order), then
    /// `model-service-status` messages.
    pub fn start_model_service(self: &Arc<Self>, payload: String) {
        let slot = self
            .model_replies
            .reserve(Msg::ModelServiceResult(ServiceResult::failed(
                "service failed to start",
            )));
        let this = Arc::clone(self);
        tokio::spawn(async move { this.run_model_service(&payload, slot).await });
    }

    async fn run_model_service(self: Arc<Self>, payload: &str, slot: ReplySlot) {
        let failed = |reason: String| {
            Msg::ModelServiceResult(ServiceResult::failed(format!(
                "service failed to start: {reason}"
            )))
        };
        let cfg: model::ModelConfig = match serde_json::from_str(payload) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(target: WIRE, "start-model-service: invalid request: {e}");
                slot.send(failed(format!("invalid request: {e}")));
                return;
            }
        };
        let def = match cfg.definition() {
            Ok(d) => d,
            Err(e) => {
                slot.send(failed(e));
                return;
            }
        };
        let name = cfg.service_name();
        lock(&self.models).insert(name.clone(), def.clone());
        let port = cfg.service.port;
        let request = Request {
            name: name.clone(),
            port: Some(port),
            ports: vec![port],
            protocol: "http".into(),
            options: UserOptions::default(),
            raw_options: Value::Null,
        };
        let mut how = How::new(Some(self.config.timeout), false);
        how.model = Some(def);
        how.cwd = Some(PathBuf::from(&cfg.model_path));
        let result = self.start_guarded(request, how).await;
        log_outcome(&name, &result);
        match result {
            Ok(Started::Started) => {
                let sent = slot.send_confirmed(Msg::ModelServiceResult(ServiceResult::started()));
                let _ = sent.await;
                let check = cfg.service.health_check.clone().unwrap_or_default();
                let exit = lock(&self.running).get(&name).map(|p| p.exit.clone());
                match exit {
                    Some(exit) if check.enable => {
                        tokio::spawn(model::health_loop(
                            self.outbox.clone(),
                            cfg.name.clone(),
                            port,
                            check,
                            exit,
                        ));
                    }
                    _ => self.outbox.send(Msg::ModelServiceStatus {
                        model_name: cfg.name.clone(),
                        is_healthy: true,
                    }),
                }
            }
            Ok(Started::Running) => {
                slot.send(Msg::ModelServiceResult(ServiceResult::running()));
            }
            Err(e) => {
                slot.send(failed(e.to_string()));
            }
        }
    }

    /// Starts `sshd` and `ttyd` when their binaries exist; results are only logged.
    pub fn start_intrinsic(self: &Arc<Self>) {
        let (sshd_port, ttyd_port) = intrinsic::ports(&self.config.config_dir);
        let bins = self.config.binaries.clone();
        if bins.sshd.is_file() {
            // A start-service for sshd waits until its keys are ready.
            self.sshd_ready.send_replace(false);
            let this = Arc::clone(self);
            tokio::spawn(async move {
                let init = Arc::clone(&this);
                let prepared = tokio::task::spawn_blocking(move || {
                    let env = init.session.child_env.vars().clone();
                    let home = env
                        .get("HOME")
                        .map(PathBuf::from)
                        .filter(|h| h.is_dir())
                        .unwrap_or_else(|| init.config.work_dir.clone());
                    intrinsic::init_sshd(
                        &init.config.binaries.sshd,
                        &home,
                        &init.config.config_dir,
                        &env,
                    )
                })
                .await;
                match prepared {
                    Ok(Ok(key)) => *lock(&this.host_key) = Some(key),
                    Ok(Err(e)) => tracing::warn!("sshd: key setup failed: {e}"),
                    Err(e) => tracing::warn!("sshd: key setup failed: {e}"),
                }
                this.sshd_ready.send_replace(true);
                this.start_intrinsic_one("sshd", "tcp", sshd_port).await;
            });
        } else {
            tracing::debug!("no sshd: {} does not exist", bins.sshd.display());
        }
        if bins.ttyd.is_file() {
            let this = Arc::clone(self);
            tokio::spawn(async move { this.start_intrinsic_one("ttyd", "http", ttyd_port).await });
        } else {
            tracing::debug!("no ttyd: {} does not exist", bins.ttyd.display());
        }
    }

    async fn start_intrinsic_one(self: &Arc<Self>, name: &str, protocol: &str, port: u16) {
        let request = Request {
            name: name.to_owned(),
            port: Some(port),
            ports: vec![port],
            protocol: protocol.to_owned(),
            options: UserOptions::default(),
            raw_options: Value::Null,
        };
        let wait = INTRINSIC_TIMEOUT.min(self.config.timeout.max(Duration::from_secs(1)));
        match self
            .start_guarded(request, How::new(Some(wait), true))
            .await
        {
            Ok(_) => tracing::info!("intrinsic service {name} started on port {port}"),
            Err(e) => tracing::warn!("intrinsic service {name} did not start: {e}"),
        }
    }

    /// Shutdown: SIGTERM to every service now; SIGKILL to the survivors at `deadline`.
    pub fn stop_all(&self, deadline: Instant) {
        let mut all: Vec<ServiceProcess> = lock(&self.running).drain().map(|(_, p)| p).collect();
        // Services being stopped: their termination tasks no longer run after the dispatcher.
        all.extend(lock(&self.stopping).drain().map(|(_, p)| p));
        if !all.is_empty() {
            tracing::info!("stopping {} service(s)", all.len());
        }
        launch::terminate_all_blocking(&all, deadline);
    }

    fn name_lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(
            lock(&self.name_locks)
                .entry(name.to_owned())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(()))),
        )
    }

    /// [`Self::start`] with an overall deadline, so a stuck prestart action or plugin hook
    /// cannot withhold the reply (and every reply queued after it).
    async fn start_guarded(
        self: &Arc<Self>,
        request: Request,
        how: How,
    ) -> Result<Started, StartError> {
        let guard = how.wait.unwrap_or(self.config.timeout) + STOP_GRACE + Duration::from_secs(2);
        let cancelled = Arc::clone(&how.cancelled);
        let name = request.name.clone();
        match tokio::time::timeout(guard, self.start(request, how)).await {
            Ok(r) => r,
            Err(_) => {
                cancelled.store(true, Ordering::SeqCst);
                Err(StartError::Stuck(name))
            }
        }
    }

    /// The resolution algorithm of PROTOCOL.md §6.2.
    async fn start(self: &Arc<Self>, request: Request, how: How) -> Result<Started, StartError> {
        if request.protocol == "preopen" {
            return Ok(Started::Started);
        }
        let name_lock = self.name_lock(&request.name);
        let _guard = name_lock.lock().await;
        if lock(&self.running)
            .get(&request.name)
            .is_some_and(ServiceProcess::alive)
        {
            return Ok(Started::Running);
        }
        let stopping = lock(&self.stopping).get(&request.name).cloned();
        if let Some(old) = stopping {
            let mut exit = old.exit.clone();
            let _ = tokio::time::timeout(
                STOP_GRACE + Duration::from_secs(2),
                exit.wait_for(Option::is_some),
            )
            .await;
            let mut stopping = lock(&self.stopping);
            if stopping
                .get(&request.name)
                .is_some_and(|p| p.pid == old.pid)
            {
                stopping.remove(&request.name);
            }
        }
        if request.name == "sshd" {
            let mut ready = self.sshd_ready.subscribe();
            let _ = tokio::time::timeout(self.config.timeout, ready.wait_for(|r| *r)).await;
        }
        if request.protocol == "pty" {
            return Err(StartError::NotImplemented);
        }
        if let Some(cwd) = &how.cwd {
            if !cwd.is_dir() {
                return Err(StartError::MissingCwd(cwd.display().to_string()));
            }
        }
        let this = Arc::clone(self);
        let req = request.clone();
        let model = how.model.clone();
        let cwd = how.cwd.clone();
        let cancelled = Arc::clone(&how.cancelled);
        let spawned =
            tokio::task::spawn_blocking(move || -> Result<Option<ServiceProcess>, StartError> {
                match this.resolve(&req, model.as_ref(), cwd)? {
                    Resolved::Noop => Ok(None),
                    Resolved::Launch { .. } if cancelled.load(Ordering::SeqCst) => {
                        Err(StartError::Stuck(req.name.clone()))
                    }
                    Resolved::Launch { argv, env, cwd } => {
                        let mut full = this.session.child_env.vars().clone();
                        full.extend(env);
                        launch::strip_runner_libs(&mut full);
                        tracing::info!("starting service {}: {}", req.name, argv.join(" "));
                        let cwd = cwd.unwrap_or_else(|| this.config.work_dir.clone());
                        Ok(Some(launch::spawn(&req.name, &argv, &full, Some(&cwd))?))
                    }
                }
            })
            .await
            .map_err(|e| StartError::Internal(e.to_string()))??;
        let Some(process) = spawned else {
            return Ok(Started::Started);
        };
        self.register(&request.name, &process);
        let (Some(budget), Some(port)) = (how.wait, request.port) else {
            return Ok(Started::Started);
        };
        match port::wait_open(
            port,
            budget,
            self.config.probe_timeout,
            process.exit.clone(),
        )
        .await
        {
            PortWait::Open => Ok(Started::Started),
            PortWait::Exited(status) => {
                self.forget(&request.name, process.pid);
                Err(StartError::Exited {
                    name: request.name,
                    status: launch::describe(status),
                })
            }
            PortWait::TimedOut if !how.kill_on_timeout => {
                tracing::info!(
                    "service {} has not opened port {port} yet; reporting it started",
                    request.name
                );
                Ok(Started::Started)
            }
            PortWait::TimedOut => {
                launch::terminate(&process, STOP_GRACE).await;
                self.forget(&request.name, process.pid);
                Err(StartError::Timeout(request.name))
            }
            PortWait::Failed(e) => {
                launch::terminate(&process, STOP_GRACE).await;
                self.forget(&request.name, process.pid);
                Err(StartError::Probe {
                    name: request.name,
                    reason: e.to_string(),
                })
            }
        }
    }

    fn register(self: &Arc<Self>, name: &str, process: &ServiceProcess) {
        lock(&self.running).insert(name.to_owned(), process.clone());
        let this = Arc::clone(self);
        let name = name.to_owned();
        let pid = process.pid;
        let mut exit = process.exit.clone();
        tokio::spawn(async move {
            let _ = exit.wait_for(Option::is_some).await;
            this.forget(&name, pid);
        });
    }

    fn forget(&self, name: &str, pid: i32) {
        let mut running = lock(&self.running);
        if running.get(name).is_some_and(|p| p.pid == pid) {
            running.remove(name);
        }
    }

    /// Finds the command for a request (blocking: reads files, runs prestart actions, calls
    /// the plugin).
    fn resolve(
        &self,
        request: &Request,
        model: Option<&Definition>,
        cwd: Option<PathBuf>,
    ) -> Result<Resolved, StartError> {
        let child_env = self.session.child_env.vars();
        let path = child_env
            .get("PATH")
            .map(String::as_str)
            .unwrap_or_default();
        let mut action_env = child_env.clone();
        launch::strip_runner_libs(&mut action_env);
        if let Some(def) = model {
            let mut vars = self.variables(request);
            actions::run_all(
                &def.prestart_actions,
                &mut vars,
                &action_env,
                cwd.as_deref(),
                self.config.timeout,
            )?;
            return Ok(Resolved::Launch {
                argv: def.base_argv(path)?,
                env: BTreeMap::new(),
                cwd,
            });
        }
        let port = request.port.unwrap_or_default();
        match request.name.as_str() {
            "sshd" => {
                let key = lock(&self.host_key).clone();
                return Ok(Resolved::Launch {
                    argv: intrinsic::sshd_argv(
                        &self.config.binaries.sshd,
                        key.as_deref(),
                        port,
                        path,
                    ),
                    env: BTreeMap::new(),
                    cwd,
                });
            }
            "ttyd" => {
                return Ok(Resolved::Launch {
                    argv: intrinsic::ttyd_argv(&self.config.binaries.ttyd, port),
                    env: BTreeMap::new(),
                    cwd,
                });
            }
            _ => {}
        }
        if let Some(def) = self.defs.load(&request.name) {
            let def = def?;
            let mut vars = self.variables(request);
            actions::run_all(
                &def.prestart_actions,
                &mut vars,
                &action_env,
                cwd.as_deref(),
                self.config.timeout,
            )?;
            if def.noop {
                return Ok(Resolved::Noop);
            }
            let frozen = |n: &str| child_env.contains_key(n);
            let prepared =
                definition::prepare(&request.name, &def, &request.options, &vars, &frozen, path)?;
            return Ok(Resolved::Launch {
                argv: prepared.argv,
                env: prepared.env,
                cwd,
            });
        }
        match self.legacy_hook(request)? {
            Some(cmd) if !cmd.argv.is_empty() => Ok(Resolved::Launch {
                argv: cmd.argv,
                env: cmd.env,
                cwd: cmd.cwd.map(PathBuf::from).or(cwd),
            }),
            _ => Err(StartError::Unsupported(request.name.clone())),
        }
    }

    fn variables(&self, request: &Request) -> Variables {
        let mut vars = Variables::new();
        vars.insert(
            "runtime_path".into(),
            Value::String(self.config.runtime_path.clone()),
        );
        vars.insert(
            "ports".into(),
            Value::Array(request.ports.iter().map(|p| Value::from(*p)).collect()),
        );
        vars
    }

    fn legacy_hook(&self, request: &Request) -> Result<Option<ServiceCommand>, StartError> {
        if !self.runners.has(capability::SERVICES) {
            return Ok(None);
        }
        let Ok(runner) = self.runners.get() else {
            return Ok(None);
        };
        let payload = ServiceRequest {
            name: request.name.clone(),
            port: request.port.unwrap_or_default(),
            ports: request.ports.clone(),
            protocol: request.protocol.clone(),
            options: request.raw_options.clone(),
        };
        let json = serde_json::to_string(&payload).map_err(|e| StartError::Hook(e.to_string()))?;
        let answer = runner
            .start_service(json.as_str().into())
            .into_result()
            .map_err(|e| StartError::Hook(e.message().to_owned()))?;
        let value: Value = serde_json::from_str(answer.as_str())
            .map_err(|e| StartError::Hook(format!("invalid answer: {e}")))?;
        if value.is_null() {
            return Ok(None);
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| StartError::Hook(format!("invalid answer: {e}")))
    }
}

fn to_result(r: Result<Started, StartError>) -> ServiceResult {
    match r {
        Ok(Started::Started) => ServiceResult::started(),
        Ok(Started::Running) => ServiceResult::running(),
        Err(e) => ServiceResult::failed(e.to_string()),
    }
}

fn log_outcome(name: &str, r: &Result<Started, StartError>) {
    match r {
        Ok(Started::Started) => tracing::info!("service {name} started"),
        Ok(Started::Running) => tracing::info!("service {name} is already running"),
        Err(e) => tracing::warn!(target: WIRE, "service {name} failed to start: {e}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn request_parsing() {
        let r = Request::parse(r#"{"name":"sshd","port":2200,"protocol":"tcp"}"#).unwrap();
        assert_eq!((r.port, r.ports.clone()), (Some(2200), vec![2200]));
        let r = Request::parse(
            r#"{"name":"j","port":8070,"ports":[8070,8071],"protocol":"http","options":{"arguments":{"--a":"1"},"envs":{}}}"#,
        )
        .unwrap();
        assert_eq!(r.ports, vec![8070, 8071]);
        assert_eq!(r.options.arguments.0.len(), 1);
        let r = Request::parse(
            r#"{"name":"j","port":1,"options":{"arguments":{"--z":null,"--a":"1"}}}"#,
        )
        .unwrap();
        let order: Vec<&str> = r
            .options
            .arguments
            .0
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(order, ["--z", "--a"]);
        assert!(Request::parse("{oops").is_err());
        assert!(Request::parse(r#"{"port": 1}"#).is_err());
        assert!(Request::parse(r#"{"name":"x","port":70000}"#).is_err());
    }

    #[test]
    fn error_wording() {
        assert_eq!(
            StartError::Timeout("jupyter".into()).to_string(),
            "opening the service port timed out: jupyter"
        );
        assert_eq!(
            StartError::Unsupported("x".into()).to_string(),
            "unsupported service: x"
        );
        assert_eq!(
            StartError::NotImplemented.to_string(),
            "not implemented yet"
        );
    }
}
