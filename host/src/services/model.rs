//! Model services of inference sessions (`start-model-service`, docs/protocol.md §6.13).
//!
//! A model config becomes an in-memory service definition named `<name>-<port>`, started in
//! the model directory. Fixed upstream bugs: a failure is reported with its real reason (not
//! only "service failed to start"); the start command is taken literally (it is final text,
//! so JSON arguments work); the health loop counts consecutive failures, so successes reset it;
//! any expected status code can match; and a service that dies is reported unhealthy at once.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use super::definition::{ActionSpec, CommandSpec, Definition, Ordered};
use super::error::{log_outcome, Started};
use super::replies::ReplySlot;
use super::request::Request;
use super::start::How;
use super::{health, lock, Services};
use crate::logging::WIRE;
use crate::wire::{Msg, ServiceResult};

/// Why a model config cannot be started.
#[derive(Debug, Error)]
pub(crate) enum ModelError {
    /// A pre-start action without a name.
    #[error("pre_start_actions[{0}] has no action")]
    NoAction(usize),
    /// A pre-start action whose arguments are not an object.
    #[error("pre_start_actions[{0}].args is not an object")]
    ArgsNotObject(usize),
}

/// `ModelConfig` as the agent sends it (unknown fields are ignored: the agent owns the type).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ModelConfig {
    /// The model's name.
    pub(crate) name: String,
    /// Where the model is mounted (the service's working directory).
    pub(crate) model_path: String,
    /// How to serve it.
    pub(crate) service: ModelService,
}

/// `ModelConfig.service`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ModelService {
    /// Actions run before the start.
    #[serde(default)]
    pub(crate) pre_start_actions: Vec<Value>,
    /// A script (since 2026-07) or an argv (before).
    pub(crate) start_command: CommandSpec,
    /// The shell for a script (`null`: split it like a shell would).
    #[serde(default)]
    pub(crate) shell: Option<String>,
    /// The port it listens on.
    pub(crate) port: u16,
    /// Health checking.
    #[serde(default)]
    pub(crate) health_check: Option<HealthCheck>,
}

/// `ModelConfig.service.health_check`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct HealthCheck {
    /// Whether to check at all.
    pub(crate) enable: bool,
    /// Seconds between checks.
    pub(crate) interval: f64,
    /// The HTTP path to GET.
    pub(crate) path: String,
    /// Consecutive failures tolerated before reporting unhealthy.
    pub(crate) max_retries: u32,
    /// Seconds one check may take.
    pub(crate) max_wait_time: f64,
    /// The status code that means healthy.
    pub(crate) expected_status_code: u16,
    /// Seconds before the first check.
    pub(crate) initial_delay: f64,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            enable: false,
            interval: 10.0,
            path: "/".into(),
            max_retries: 10,
            max_wait_time: 15.0,
            expected_status_code: 200,
            initial_delay: 60.0,
        }
    }
}

impl ModelConfig {
    /// The service name: `<name>-<port>`.
    pub(crate) fn service_name(&self) -> String {
        format!("{}-{}", self.name, self.service.port)
    }

    /// The service definition this model is started from.
    pub(crate) fn definition(&self) -> Result<Definition, ModelError> {
        let mut actions = Vec::new();
        for (i, a) in self.service.pre_start_actions.iter().enumerate() {
            let action = a
                .get("action")
                .and_then(Value::as_str)
                .ok_or(ModelError::NoAction(i))?;
            let args = match a.get("args") {
                None | Some(Value::Null) => serde_json::Map::new(),
                Some(Value::Object(m)) => m.clone(),
                Some(_) => return Err(ModelError::ArgsNotObject(i)),
            };
            actions.push(ActionSpec {
                action: action.to_owned(),
                args,
                r#ref: None,
            });
        }
        Ok(Definition {
            command: self.service.start_command.clone(),
            shell: self.service.shell.clone(),
            noop: false,
            url_template: String::new(),
            prestart_actions: actions,
            env: Ordered::default(),
            allowed_envs: Vec::new(),
            allowed_arguments: Vec::new(),
            default_arguments: Ordered::default(),
        })
    }
}

fn failed(reason: impl std::fmt::Display) -> Msg {
    Msg::ModelServiceResult(ServiceResult::failed(format!(
        "service failed to start: {reason}"
    )))
}

impl Services {
    /// `start-model-service` (docs/protocol.md §6.13): one `model-service-result` in request
    /// order, then `model-service-status` messages.
    pub(crate) fn start_model_service(self: &Arc<Self>, payload: String) {
        let slot = self
            .model_replies
            .reserve(Msg::ModelServiceResult(ServiceResult::failed(
                "service failed to start",
            )));
        let this = Arc::clone(self);
        tokio::spawn(async move { this.run_model_service(&payload, slot).await });
    }

    async fn run_model_service(self: Arc<Self>, payload: &str, slot: ReplySlot) {
        let cfg: ModelConfig = match serde_json::from_str(payload) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(target: WIRE, "start-model-service: invalid request: {e}");
                slot.send(failed(format_args!("invalid request: {e}")));
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
        let request = Request::internal(&name, cfg.service.port, "http");
        let mut how = How::new(Some(self.config.timeout), false);
        how.model = Some(def);
        how.cwd = Some(PathBuf::from(&cfg.model_path));
        let result = self.start_guarded(request, how).await;
        log_outcome(&name, &result);
        match result {
            Ok(Started::Started) => {
                let sent = slot.send_confirmed(Msg::ModelServiceResult(ServiceResult::started()));
                let _ = sent.await;
                self.watch_health(&cfg, &name);
            }
            Ok(Started::Running) => slot.send(Msg::ModelServiceResult(ServiceResult::running())),
            Err(e) => slot.send(failed(e)),
        }
    }

    /// Starts the health loop, or reports the model healthy when it has no health check.
    fn watch_health(&self, cfg: &ModelConfig, name: &str) {
        let check = cfg.service.health_check.clone().unwrap_or_default();
        let exit = self.registry.running(name).map(|p| p.exit.clone());
        match exit {
            Some(exit) if check.enable => {
                tokio::spawn(health::health_loop(
                    self.outbox.clone(),
                    cfg.name.clone(),
                    cfg.service.port,
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
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_agent_payload() {
        let cfg: ModelConfig = serde_json::from_str(
            r#"{"name": "m", "model_path": "/models/m",
                "service": {"pre_start_actions": [{"action": "run_command", "args": {"command": ["true"]}}],
                            "start_command": "serve --port 8000 --x '{\"a\": 1}'", "shell": "/bin/bash", "port": 8000,
                            "health_check": {"enable": true, "interval": 10.0, "path": "/health", "max_retries": 10,
                                             "max_wait_time": 15.0, "expected_status_code": 200, "initial_delay": 60.0}},
                "metadata": {"anything": 1}}"#,
        )
        .unwrap();
        assert_eq!(cfg.service_name(), "m-8000");
        let def = cfg.definition().unwrap();
        assert_eq!(def.prestart_actions.len(), 1);
        assert_eq!(
            def.base_argv("").unwrap(),
            ["/bin/bash", "-c", "serve --port 8000 --x '{\"a\": 1}'"]
        );
        let old: ModelConfig = serde_json::from_str(
            r#"{"name": "m", "model_path": "/m", "service": {"start_command": ["a", "b"], "port": 1}}"#,
        )
        .unwrap();
        assert_eq!(old.definition().unwrap().base_argv("").unwrap(), ["a", "b"]);
    }
}
