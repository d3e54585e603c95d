//! The runner slot: the plugin's one live runner, and how its failures become protocol
//! answers.
//!
//! The runner is replaceable: after a plugin panics (caught by the SDK and reported as an
//! error) the host creates a fresh runner for the next task. When the plugin could not be
//! loaded at all, the slot stays empty and every task is answered with the reason
//! (docs/protocol.md §4.6).
//!
//! Interrupts and the agent's events reach the runner through [`Lane`]s: the dispatcher never
//! waits for them, and a runner whose `interrupt` or `on_event` hangs holds one thread each,
//! not one per call.

use std::sync::{Arc, OnceLock, RwLock};

use krunner_plugin_api::{
    capability, ErrorCode, IsCompleteReply, IsCompleteRequest, PluginError, PluginInfo, RunnerBox,
    RunnerConfig,
};
use thiserror::Error;

use super::callbacks::Callbacks;
use super::error::LoadError;
use super::lane::Lane;
use super::load::Plugin;
use crate::context::Context;
use crate::logging::WIRE;
use crate::messages;
use crate::process::exit;
use crate::wire::UNKNOWN_COMPLETENESS;

/// Why there is no runner.
#[derive(Debug, Clone, Error)]
pub(crate) enum Unavailable {
    /// The plugin could not be loaded.
    #[error("{}", messages::plugin_unusable(.language, .source))]
    Plugin {
        /// The language served.
        language: String,
        /// Why loading failed.
        source: Arc<LoadError>,
    },
    /// The plugin refused to create a runner.
    #[error("{}", messages::runner_failed_to_start(.language, .reason))]
    Runner {
        /// The language served.
        language: String,
        /// What the plugin said.
        reason: String,
    },
}

/// A new runner of `plugin`, or why there is none.
fn create(
    plugin: &Result<Plugin, Unavailable>,
    config: &RunnerConfig,
    context: &Arc<Context>,
) -> Result<Arc<RunnerBox>, Unavailable> {
    let plugin = plugin.as_ref().map_err(Clone::clone)?;
    plugin
        .new_runner(config, Callbacks::host_box(Arc::clone(context)))
        .map(Arc::new)
        .map_err(|e| {
            let unavailable = Unavailable::Runner {
                language: config.language.clone(),
                reason: e.message().to_owned(),
            };
            tracing::error!("{unavailable}");
            unavailable
        })
}

/// Events waiting for a runner that has not returned from the previous one; later ones are
/// dropped.
const EVENTS_WAITING: usize = 16;

/// An agent event on its way to a runner (as JSON).
type EventCall = (Arc<RunnerBox>, String);

/// An interrupt for the runner, and the task it was meant for.
type InterruptCall = (Arc<RunnerBox>, u64);

/// The plugin and its current runner.
pub(crate) struct RunnerSlot {
    plugin: Result<Plugin, Unavailable>,
    config: RunnerConfig,
    context: Arc<Context>,
    current: RwLock<Result<Arc<RunnerBox>, Unavailable>>,
    /// Where interrupts are handed to the runner (started on first use; `None` if it could not).
    interrupts: OnceLock<Option<Lane<InterruptCall>>>,
    /// Where agent events are handed to the runner.
    events: OnceLock<Option<Lane<EventCall>>>,
}

impl RunnerSlot {
    /// Creates the first runner (or records why there is none).
    pub(crate) fn new(
        plugin: Result<Plugin, Arc<LoadError>>,
        config: RunnerConfig,
        context: Arc<Context>,
    ) -> Self {
        let plugin = plugin.map_err(|source| Unavailable::Plugin {
            language: config.language.clone(),
            source,
        });
        let first = create(&plugin, &config, &context);
        Self {
            plugin,
            config,
            context,
            current: RwLock::new(first),
            interrupts: OnceLock::new(),
            events: OnceLock::new(),
        }
    }

    /// The plugin's description, when it loaded.
    pub(crate) fn info(&self) -> Option<&PluginInfo> {
        self.plugin.as_ref().ok().map(|p| &p.info)
    }

    /// Whether the plugin declares `cap`.
    pub(crate) fn has(&self, cap: &str) -> bool {
        self.info().is_some_and(|i| i.has(cap))
    }

    /// The current runner, or why there is none.
    pub(crate) fn get(&self) -> Result<Arc<RunnerBox>, Unavailable> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Creates a fresh runner, dropping the current one.
    pub(crate) fn replace(&self) {
        let fresh = create(&self.plugin, &self.config, &self.context);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
    }

    /// Calls the runner for a task and turns the outcome into an exit code, reporting failures
    /// to the user: unsupported or missing things give 127, internal errors -1, an interrupt
    /// 130. A panic also replaces the runner.
    pub(crate) fn call(
        &self,
        what: &str,
        f: impl FnOnce(&RunnerBox) -> Result<i32, PluginError>,
    ) -> i32 {
        let runner = match self.get() {
            Ok(r) => r,
            Err(reason) => {
                tracing::error!("{reason}");
                return exit::NOT_FOUND;
            }
        };
        match f(&runner) {
            Ok(code) => code,
            Err(e) => self.failed(what, &e),
        }
    }

    fn failed(&self, what: &str, e: &PluginError) -> i32 {
        match e.code {
            ErrorCode::UNSUPPORTED => {
                tracing::warn!("{}", e.message());
                exit::NOT_FOUND
            }
            ErrorCode::NOT_FOUND => {
                tracing::error!("{}", e.message());
                exit::NOT_FOUND
            }
            ErrorCode::INTERRUPTED => exit::INTERRUPTED,
            ErrorCode::PANIC => {
                tracing::error!("{}", messages::runner_panicked(what, e.message()));
                self.replace();
                exit::INTERNAL
            }
            _ => {
                tracing::error!("{}", messages::runner_failed(what, e.message()));
                exit::INTERNAL
            }
        }
    }

    /// Completion suggestions; never fails (a broken request or plugin gives none).
    pub(crate) fn complete(&self, request_json: &str) -> Vec<String> {
        if serde_json::from_str::<serde_json::Value>(request_json).is_err() {
            tracing::debug!("ignoring a completion request that is not JSON");
            return Vec::new();
        }
        if !self.has(capability::COMPLETE) {
            return Vec::new();
        }
        let Ok(runner) = self.get() else {
            return Vec::new();
        };
        match runner.complete(request_json.into()).into_result() {
            Ok(json) => serde_json::from_str(json.as_str()).unwrap_or_else(|e| {
                tracing::warn!(target: WIRE, "the plugin returned invalid completions: {e}");
                Vec::new()
            }),
            Err(e) => {
                if e.code == ErrorCode::PANIC {
                    tracing::error!(target: WIRE, "completion: {}", e.message());
                } else {
                    tracing::debug!("completion failed: {e}");
                }
                Vec::new()
            }
        }
    }

    /// The runner's answer to the console's `krunner/is-complete` (an `IsCompleteReply` as
    /// JSON); never fails: a request that is not JSON, a runner that is unavailable, fails or
    /// answers nonsense gives `{"status":"unknown"}`.
    pub(crate) fn is_complete(&self, request_json: &str) -> String {
        let unknown = || UNKNOWN_COMPLETENESS.to_owned();
        if serde_json::from_str::<IsCompleteRequest>(request_json).is_err() {
            tracing::debug!("ignoring an is-complete request that is not JSON");
            return unknown();
        }
        let Ok(runner) = self.get() else {
            return unknown();
        };
        match runner.is_complete(request_json.into()).into_result() {
            Ok(json) => serde_json::from_str::<IsCompleteReply>(json.as_str())
                .ok()
                .and_then(|reply| serde_json::to_string(&reply).ok())
                .unwrap_or_else(|| {
                    tracing::warn!(target: WIRE, "the plugin returned an invalid is-complete answer: {json}");
                    unknown()
                }),
            Err(e) => {
                if e.code == ErrorCode::PANIC {
                    tracing::error!(target: WIRE, "is-complete: {}", e.message());
                } else {
                    tracing::debug!("is-complete failed: {e}");
                }
                unknown()
            }
        }
    }

    /// Forwards an interrupt of task `task` to the runner, without waiting for it. While the
    /// runner is still busy with an earlier interrupt, one more waits; further ones are merged
    /// into it. An interrupt whose task has ended by the time the lane gets to it is dropped,
    /// so it cannot stop the next task.
    pub(crate) fn interrupt(&self, task: u64) {
        let Ok(runner) = self.get() else {
            return;
        };
        let lane = self.interrupts.get_or_init(|| {
            let context = Arc::clone(&self.context);
            start_lane("runner-interrupt", 1, move |(r, task): InterruptCall| {
                if context.current_task() == Some(task) {
                    r.interrupt();
                } else {
                    tracing::debug!("dropped an interrupt: its task has ended");
                }
            })
        });
        if lane
            .as_ref()
            .is_some_and(|lane| !lane.offer((runner, task)))
        {
            tracing::debug!("the runner is still handling an interrupt; merged this one into it");
        }
    }

    /// Passes an agent `event` to the runner (plugins built against 1.0 ignore it), without
    /// waiting for it. Events wait in order while the runner handles an earlier one; beyond
    /// [`EVENTS_WAITING`] they are dropped.
    pub(crate) fn on_event(&self, event: &serde_json::Value) {
        let Ok(runner) = self.get() else {
            return;
        };
        let lane = self.events.get_or_init(|| {
            start_lane("runner-events", EVENTS_WAITING, |(r, json): EventCall| {
                r.on_event(json.as_str().into())
            })
        });
        if lane
            .as_ref()
            .is_some_and(|lane| !lane.offer((runner, event.to_string())))
        {
            tracing::warn!(
                "the runner has not taken the last {EVENTS_WAITING} events; dropped this one: {event}"
            );
        }
    }

    /// Tells the runner the host is shutting down.
    pub(crate) fn shutdown(&self) {
        if let Ok(r) = self.get() {
            r.shutdown();
        }
    }
}

/// Starts a lane for runner calls; logs and gives `None` when its thread cannot start (the
/// calls are then dropped).
fn start_lane<T: Send + 'static>(
    name: &str,
    capacity: usize,
    call: impl FnMut(T) + Send + 'static,
) -> Option<Lane<T>> {
    Lane::start(name, capacity, call)
        .inspect_err(|e| tracing::error!("cannot start the {name} thread: {e}"))
        .ok()
}
