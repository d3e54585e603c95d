//! In-container services: `start-service`, `shutdown-service`, `get-apps` and
//! `start-model-service` (docs/protocol.md §6), plus the intrinsic `sshd` and `ttyd`.
//!
//! [`Services`] is the registry and supervisor; each step of a start lives in its own module:
//!
//! - [`request`]: the payload; [`error`]: how a start ends and the reply's wording;
//! - [`start`]: the start itself (serialised per name, with a deadline) and the port wait
//!   ([`port`]); [`resolve`]: which command runs; [`launch`]: spawning and stopping it;
//!   [`remnants`]: what a service's leader leaves in its process group; [`registry`]: every
//!   live process, which shutdown stops;
//! - [`definition`], [`interpolate`] and [`actions`]: service-definition files, their
//!   templates and their prestart actions;
//! - [`model`] and [`health`]: model services; [`intrinsic`]: `sshd` and `ttyd`;
//! - [`apps`]: `get-apps`, read off the dispatcher's thread;
//! - [`replies`]: replies in request order although starts finish in any order.

mod actions;
mod apps;
mod definition;
mod error;
mod health;
mod interpolate;
pub(crate) mod intrinsic;
mod launch;
mod model;
mod output;
mod port;
mod registry;
mod remnants;
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
use registry::Registry;
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
    registry: Registry,
    name_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    models: Mutex<BTreeMap<String, Definition>>,
    host_key: Mutex<Option<PathBuf>>,
    sshd_ready: tokio::sync::watch::Sender<bool>,
    service_replies: ReplyQueue,
    model_replies: ReplyQueue,
    apps_replies: ReplyQueue,
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
            apps_replies: ReplyQueue::start(outbox.clone()),
            outbox,
            registry: Registry::default(),
            name_locks: Mutex::new(HashMap::new()),
            models: Mutex::new(BTreeMap::new()),
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
        let Some(p) = self.registry.begin_stop(&name) else {
            tracing::info!("shutdown-service {name}: not running");
            return;
        };
        tracing::info!("stopping service {name} (pid {})", p.pid());
        // A later start of the same name waits until this one is gone (its port free).
        let this = Arc::clone(self);
        tokio::spawn(async move {
            launch::terminate(&p, STOP_GRACE).await;
            this.registry.end_stop(&name, &p);
        });
    }

    /// Shutdown: SIGTERM to every service and preparing command now; SIGKILL to the survivors
    /// at `deadline`. Nothing can be started afterwards.
    pub(crate) fn stop_all(&self, deadline: Instant) {
        let closed = self.registry.close();
        let count = closed.services.len() + closed.helpers.len();
        if count > 0 {
            tracing::info!("stopping {count} service process(es)");
        }
        launch::stop_all_blocking(&closed.services, &closed.helpers, deadline);
    }
}
