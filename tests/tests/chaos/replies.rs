//! Checks of the replies (docs/protocol.md §2.7, §2.8, §6.4, §6.11, §6.13) against what each
//! request was owed, and of `model-service-status` (§6.14).

use std::collections::BTreeSet;

use krunner_tests::Message;
use serde_json::{json, Value};

use crate::expect::{ModelExp, ReplyExp, ServiceExp};

/// What the replies depend on.
#[derive(Debug, Default)]
pub struct State {
    /// `started_at` of the first `status` reply; every later one must equal it.
    started_at: Option<u64>,
    /// `shutdown-service` ops sent for the web service so far.
    pub web_stops: u64,
    /// The `get-apps` entries of the definition files, sorted by name.
    pub apps: Vec<Value>,
    /// Model services requested (`<name>-<port>`), which `get-apps` may list.
    pub model_services: BTreeSet<String>,
    /// Models whose `started` reply has arrived (their health may be reported).
    models_started: BTreeSet<String>,
    /// Model services (`<name>-<port>`) a `shutdown-service` was sent for.
    pub models_stopped: BTreeSet<String>,
    /// The web service's `started` or `running` replies, and failures.
    pub web_up: u64,
    pub web_failed: u64,
}

impl State {
    /// The state of a fresh runner whose definition files list `apps`.
    pub fn new(apps: Vec<Value>) -> Self {
        Self {
            apps,
            ..Self::default()
        }
    }

    pub fn check(&mut self, exp: &ReplyExp, m: &Message) -> Result<(), String> {
        let fail = |e: String| format!("{}: {e}", m.kind);
        if let ReplyExp::Status = exp {
            return self.status(&m.payload).map_err(fail);
        }
        let v = m.try_json().map_err(|e| fail(e.to_string()))?;
        match exp {
            ReplyExp::Status => Ok(()),
            ReplyExp::Completion { empty } => completion(&v, *empty),
            ReplyExp::Service(s) => self.service(s, &v),
            ReplyExp::Apps { filter, valid } => self.apps(filter, *valid, &v),
            ReplyExp::Model(e) => self.model(e, &v),
        }
        .map_err(|e| fail(format!("{e}; got {v}")))
    }

    fn status(&mut self, payload: &[u8]) -> Result<(), String> {
        let at = krunner_agent_client::decode_status(payload)
            .map_err(|e| format!("malformed ({e}): {payload:?}"))?;
        let first = *self.started_at.get_or_insert(at.to_bits());
        if at.to_bits() != first {
            return Err(format!(
                "started_at changed from {} to {at}",
                f64::from_bits(first)
            ));
        }
        Ok(())
    }

    fn service(&mut self, exp: &ServiceExp, v: &Value) -> Result<(), String> {
        let failed = |error: &str| json!({"status": "failed", "error": error});
        let error = v["error"].as_str().unwrap_or("");
        let ok = match exp {
            ServiceExp::Exact(want) => v == want,
            ServiceExp::Failed(e) => *v == failed(e),
            ServiceExp::FailedWith(e) => v["status"] == "failed" && error.starts_with(e.as_str()),
            ServiceExp::Web { stops } => match v["status"].as_str() {
                Some("started" | "running") if v.as_object().is_some_and(|o| o.len() == 1) => {
                    self.web_up += 1;
                    true
                }
                Some("failed") => {
                    self.web_failed += 1;
                    let stopped = self.web_stops > *stops
                        && error.starts_with("the service exited with ")
                        && exited_before_its_port(error, "web");
                    stopped || error == "opening the service port timed out: web"
                }
                _ => false,
            },
        };
        ok.then_some(()).ok_or_else(|| format!("expected {exp:?}"))
    }

    fn apps(&self, filter: &str, valid: bool, v: &Value) -> Result<(), String> {
        let data = v["data"]
            .as_array()
            .filter(|_| v["status"] == "done" && v.as_object().is_some_and(|o| o.len() == 2))
            .ok_or("not {\"status\":\"done\",\"data\":[...]}")?;
        let named = |e: &Value| e["name"].as_str().unwrap_or("").to_owned();
        if !valid {
            return data
                .is_empty()
                .then_some(())
                .ok_or("expected no apps".into());
        }
        let defs: Vec<&Value> = self
            .apps
            .iter()
            .filter(|a| filter.is_empty() || named(a) == filter)
            .collect();
        let listed_defs: Vec<&Value> = data.iter().take(defs.len()).collect();
        if listed_defs != defs {
            return Err(format!("expected the definitions {defs:?} first"));
        }
        // Then model services, each at most once, only those requested.
        let models: Vec<String> = data[defs.len()..].iter().map(named).collect();
        let distinct: BTreeSet<&String> = models.iter().collect();
        let known = models.iter().all(|n| {
            self.model_services.contains(n) && (filter.is_empty() || n.as_str() == filter)
        });
        (known && distinct.len() == models.len())
            .then_some(())
            .ok_or_else(|| format!("unexpected model services {models:?}"))
    }

    fn model(&mut self, exp: &ModelExp, v: &Value) -> Result<(), String> {
        let error = v["error"].as_str().unwrap_or("");
        match exp {
            ModelExp::Failed(part) if v["status"] == "failed" && error.contains(part.as_str()) => {
                Ok(())
            }
            ModelExp::Started { name, .. } if *v == json!({"status": "started"}) => {
                self.models_started.insert(name.clone());
                Ok(())
            }
            ModelExp::Started { service, .. }
                if self.models_stopped.contains(service)
                    && exited_before_its_port(error, service) =>
            {
                Ok(())
            }
            _ => Err(format!("expected {exp:?}")),
        }
    }

    /// `model-service-status` comes only after its model's `started` reply (§6.14).
    pub fn model_status(&self, m: &Message) -> Result<(), String> {
        let v = m.try_json().map_err(|e| e.to_string())?;
        let name = v["model_name"].as_str().unwrap_or("");
        if self.models_started.contains(name) && v["is_healthy"].is_boolean() {
            return Ok(());
        }
        Err(format!("model-service-status {v} before its model started"))
    }
}

fn completion(v: &Value, empty: bool) -> Result<(), String> {
    let list = v["suggestions"]
        .as_array()
        .filter(|_| v.as_object().is_some_and(|o| o.len() == 1))
        .ok_or("not {\"suggestions\":[...]}")?;
    if !list.iter().all(Value::is_string) || (empty && !list.is_empty()) {
        return Err(format!(
            "expected {} suggestions",
            if empty { "no" } else { "string" }
        ));
    }
    Ok(())
}

/// Whether `error` says the service `name` exited before its port opened; the last lines it
/// printed may follow (docs/protocol.md §6.3).
fn exited_before_its_port(error: &str, name: &str) -> bool {
    let said = format!(" before opening its port: {name}");
    error.ends_with(&said) || error.contains(&format!("{said}; its last output:\n"))
}
