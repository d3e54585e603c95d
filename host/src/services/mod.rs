//! In-container services: `start-service`, `shutdown-service`, `get-apps` and
//! `start-model-service` (docs/protocol.md §6), plus the intrinsic `sshd` and `ttyd`.
//!
//! [`Services`] is the registry and supervisor; each step of a start lives in its own module:
//!
//! - [`request`]: the payload; [`error`]: how a start ends and the reply's wording;
//! - [`start`]: the start itself (serialised per name, with a deadline) and the port wait
//!   ([`port`]); [`resolve`]: which command runs; [`launch`]: spawning and stopping it;
//! - [`definition`], [`interpolate`] and [`actions`]: service-definition files, their
//!   templates and their prestart actions;
//! - [`model`] and [`health`]: model services; [`intrinsic`]: `sshd` and `ttyd`;
//! - [`replies`]: replies in request order although starts finish in any order.

mod actions;
mod definition;
mod error;
mod health;
mod interpolate;
pub(crate) mod intrinsic;
mod launch;
mod model;
mod port;
mod replies;
mod request;
mod resolve;
mod start;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::context::Context;
use crate::logging::WIRE;
use crate::plugin::RunnerSlot;
use crate::wire::{Msg, Outbox, ServiceResult};
pub(crate) use definition::Definition;
use definition::DefinitionDir;
use error::{log_outcome, to_result, StartError};
use launch::ServiceProcess;
use replies::ReplyQueue;
pub(crate) use request::Request;
use start::How;

// The parsers the fuzz targets reach through `crate::fuzz`.
#[cfg(feature = "fuzzing")]
pub(crate) use definition::{prepare, UserOptions};
#[cfg(feature = "fuzzing")]
pub(crate) use interpolate::{interpolate, Style, Variables, MAX_WIDTH};

/// Grace between SIGTERM and SIGKILL when a service is stopped.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Settings of the service subsystem.
#[derive(Debug, Clone)]
pub(crate) struct ServiceConfig {
    /// Directory of service-definition files.
    pub(crate) def_dir: PathBuf,
    /// How long a service may take to open its port.
    pub(crate) timeout: Duration,
    /// How long one connection attempt may take.
    pub(crate) probe_timeout: Duration,
    /// The `runtime_path` template variable.
    pub(crate) runtime_path: String,
    /// The intrinsic services' binaries and ports.
    pub(crate) intrinsic: intrinsic::Settings,
    /// Where `ssh/` is.
    pub(crate) config_dir: PathBuf,
    /// The session directory (services' working directory).
    pub(crate) work_dir: PathBuf,
}

/// The service registry and supervisor.
pub(crate) struct Services {
    config: ServiceConfig,
    defs: DefinitionDir,
    context: Arc<Context>,
    runner: Arc<RunnerSlot>,
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
    pub(crate) fn new(
        config: ServiceConfig,
        context: Arc<Context>,
        runner: Arc<RunnerSlot>,
        outbox: Outbox,
    ) -> Arc<Self> {
        Arc::new(Self {
            defs: DefinitionDir(config.def_dir.clone()),
            config,
            context,
            runner,
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
    pub(crate) fn start_service(self: &Arc<Self>, payload: String) {
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
    pub(crate) fn answer_start_service(&self, reply: Msg) {
        let slot = self.service_replies.reserve(reply.clone());
        slot.send(reply);
    }

    /// Answers a `start-model-service` whose payload could not even be decoded.
    pub(crate) fn answer_start_model_service(&self, reply: Msg) {
        let slot = self.model_replies.reserve(reply.clone());
        slot.send(reply);
    }

    /// `shutdown-service`: stops the named service in the background (no reply).
    pub(crate) fn shutdown_service(self: &Arc<Self>, payload: &str) {
        let name = match serde_json::from_str::<Value>(payload) {
            Ok(Value::String(s)) => s,
            _ => payload.trim().to_owned(),
        };
        let process = lock(&self.running).remove(&name);
        let Some(p) = process.filter(ServiceProcess::alive) else {
            tracing::info!("shutdown-service {name}: not running");
            return;
        };
        tracing::info!("stopping service {name} (pid {})", p.pid());
        // A later start of the same name waits until this one is gone (its port free).
        lock(&self.stopping).insert(name.clone(), p.clone());
        let this = Arc::clone(self);
        tokio::spawn(async move {
            launch::terminate(&p, STOP_GRACE).await;
            let mut stopping = lock(&this.stopping);
            if stopping.get(&name).is_some_and(|s| s.same(&p)) {
                stopping.remove(&name);
            }
        });
    }

    /// `get-apps`: the services with a definition (files and model services), optionally only
    /// `filter`. A malformed definition file is skipped and logged.
    pub(crate) fn get_apps(&self, filter: &str) -> Msg {
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

    /// Shutdown: SIGTERM to every service now; SIGKILL to the survivors at `deadline`.
    pub(crate) fn stop_all(&self, deadline: Instant) {
        let mut all: Vec<ServiceProcess> = lock(&self.running).drain().map(|(_, p)| p).collect();
        // Services being stopped: their termination tasks no longer run after the dispatcher.
        all.extend(lock(&self.stopping).drain().map(|(_, p)| p));
        if !all.is_empty() {
            tracing::info!("stopping {} service(s)", all.len());
        }
        launch::terminate_all_blocking(&all, deadline);
    }
}
