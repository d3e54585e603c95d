//! The session's plugin runner, and how plugin failures are turned into protocol answers.
//!
//! The runner is replaceable: after a plugin panics (caught by the SDK and reported as an
//! error) the host creates a fresh runner for the next task. When the plugin could not be
//! loaded at all, the slot stays empty and every task is answered with the reason.

use std::sync::{Arc, RwLock};

use krunner_plugin_api::{capability, ErrorCode, PluginError, PluginInfo, RunnerBox, RunnerConfig};

use crate::callbacks::Callbacks;
use crate::logging::WIRE;
use crate::plugins::Plugin;
use crate::session::Session;

/// The plugin and its current runner.
pub struct RunnerSlot {
    plugin: Result<Plugin, String>,
    config: RunnerConfig,
    session: Arc<Session>,
    current: RwLock<Result<Arc<RunnerBox>, String>>,
}

impl RunnerSlot {
    /// Creates the first runner (or records why there is none).
    pub fn new(
        plugin: Result<Plugin, String>,
        config: RunnerConfig,
        session: Arc<Session>,
    ) -> Self {
        let current = RwLock::new(Err("not started".to_owned()));
        let slot = Self {
            plugin,
            config,
            session,
            current,
        };
        slot.replace();
        slot
    }

    /// The plugin's description, when it loaded.
    pub fn info(&self) -> Option<&PluginInfo> {
        self.plugin.as_ref().ok().map(|p| &p.info)
    }

    /// Whether the plugin declares `cap`.
    pub fn has(&self, cap: &str) -> bool {
        self.info().is_some_and(|i| i.has(cap))
    }

    /// The current runner, or why there is none.
    pub fn get(&self) -> Result<Arc<RunnerBox>, String> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Creates a fresh runner, dropping the current one.
    pub fn replace(&self) {
        let fresh = match &self.plugin {
            Ok(plugin) => plugin
                .new_runner(&self.config, Callbacks::host_box(Arc::clone(&self.session)))
                .map(Arc::new)
                .map_err(|e| {
                    let msg = format!(
                        "the {} runner failed to start: {}",
                        self.config.language,
                        e.message()
                    );
                    tracing::error!("{msg}");
                    msg
                }),
            Err(reason) => Err(reason.clone()),
        };
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
    }

    /// Calls the runner for a task and turns the outcome into an exit code, reporting failures
    /// to the user: unsupported or missing things give 127, internal errors -1, an interrupt
    /// 130. A panic also replaces the runner.
    pub fn call(&self, what: &str, f: impl FnOnce(&RunnerBox) -> Result<i32, PluginError>) -> i32 {
        let runner = match self.get() {
            Ok(r) => r,
            Err(reason) => {
                tracing::error!("{reason}");
                return 127;
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
                127
            }
            ErrorCode::NOT_FOUND => {
                tracing::error!("{}", e.message());
                127
            }
            ErrorCode::INTERRUPTED => 130,
            ErrorCode::PANIC => {
                tracing::error!("{what}: {}; starting a fresh runner", e.message());
                self.replace();
                -1
            }
            _ => {
                tracing::error!("{what} failed: {}", e.message());
                -1
            }
        }
    }

    /// Completion suggestions; never fails (a broken request or plugin gives none).
    pub fn complete(&self, request_json: &str) -> Vec<String> {
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

    /// Forwards an interrupt to the runner.
    pub fn interrupt(&self) {
        if let Ok(r) = self.get() {
            r.interrupt();
        }
    }

    /// Passes an agent `event` to the runner (plugins built against 1.0 ignore it).
    pub fn on_event(&self, event: &serde_json::Value) {
        if let Ok(r) = self.get() {
            r.on_event(event.to_string().as_str().into());
        }
    }

    /// Tells the runner the host is shutting down.
    pub fn shutdown(&self) {
        if let Ok(r) = self.get() {
            r.shutdown();
        }
    }
}
