//! Model services of inference sessions (`start-model-service`) and their health loop.
//!
//! A model config becomes an in-memory service definition named `<name>-<port>`, started in
//! the model directory. Fixed upstream bugs: a failure is reported with its real reason (not
//! only "service failed to start"); the start command is taken literally (it is final text,
//! so JSON arguments work); the health loop counts consecutive failures, so successes reset it;
//! any expected status code can match; and a service that dies is reported unhealthy at once.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitStatus;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::watch;

use super::definition::{ActionSpec, CommandSpec, Definition, Ordered};
use crate::protocol::Msg;
use crate::transport::Outbox;

/// `ModelConfig` as the agent sends it (unknown fields are ignored: the agent owns the type).
#[derive(Debug, Clone, Deserialize)]
pub struct ModelConfig {
    /// The model's name.
    pub name: String,
    /// Where the model is mounted (the service's working directory).
    pub model_path: String,
    /// How to serve it.
    pub service: ModelService,
}

/// `ModelConfig.service`.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelService {
    /// Actions run before the start.
    #[serde(default)]
    pub pre_start_actions: Vec<Value>,
    /// A script (since 2026-07) or an argv (before).
    pub start_command: CommandSpec,
    /// The shell for a script (`null`: split it like a shell would).
    #[serde(default)]
    pub shell: Option<String>,
    /// The port it listens on.
    pub port: u16,
    /// Health checking.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
}

/// `ModelConfig.service.health_check`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HealthCheck {
    /// Whether to check at all.
    pub enable: bool,
    /// Seconds between checks.
    pub interval: f64,
    /// The HTTP path to GET.
    pub path: String,
    /// Consecutive failures tolerated before reporting unhealthy.
    pub max_retries: u32,
    /// Seconds one check may take.
    pub max_wait_time: f64,
    /// The status code that means healthy.
    pub expected_status_code: u16,
    /// Seconds before the first check.
    pub initial_delay: f64,
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
    pub fn service_name(&self) -> String {
        format!("{}-{}", self.name, self.service.port)
    }

    /// The service definition this model is started from.
    pub fn definition(&self) -> Result<Definition, String> {
        let mut actions = Vec::new();
        for (i, a) in self.service.pre_start_actions.iter().enumerate() {
            let action = a
                .get("action")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("pre_start_actions[{i}] has no action"))?;
            let args = match a.get("args") {
                None | Some(Value::Null) => serde_json::Map::new(),
                Some(Value::Object(m)) => m.clone(),
                Some(_) => return Err(format!("pre_start_actions[{i}].args is not an object")),
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

/// One HTTP GET of `http://127.0.0.1:<port><path>`: the status code.
pub fn http_status(port: u16, path: &str, timeout: Duration) -> std::io::Result<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nUser-Agent: krunner-health\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))
}

/// Checks the model's health until its process exits, sending `model-service-status` on every
/// transition (and unhealthy when the process dies).
pub async fn health_loop(
    outbox: Outbox,
    model_name: String,
    port: u16,
    check: HealthCheck,
    mut exit: watch::Receiver<Option<ExitStatus>>,
) {
    let secs = |s: f64| Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::ZERO);
    let interval = secs(check.interval).max(Duration::from_millis(50));
    let wait = secs(check.max_wait_time).max(Duration::from_millis(50));
    let mut healthy: Option<bool> = None;
    let mut failures: u32 = 0;
    let report = |is_healthy: bool, healthy: &mut Option<bool>| {
        if *healthy != Some(is_healthy) {
            *healthy = Some(is_healthy);
            tracing::info!(
                "model {model_name} is {}",
                if is_healthy { "healthy" } else { "unhealthy" }
            );
            outbox.send(Msg::ModelServiceStatus {
                model_name: model_name.clone(),
                is_healthy,
            });
        }
    };
    let mut delay = secs(check.initial_delay);
    loop {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = exit.wait_for(Option::is_some) => {
                report(false, &mut healthy);
                return;
            }
        }
        delay = interval;
        let path = check.path.clone();
        let probe = tokio::task::spawn_blocking(move || http_status(port, &path, wait));
        let ok = match tokio::time::timeout(wait + Duration::from_millis(100), probe).await {
            Ok(Ok(Ok(code))) => code == check.expected_status_code,
            _ => false,
        };
        if ok {
            failures = 0;
            report(true, &mut healthy);
        } else {
            failures = failures.saturating_add(1);
            if failures > check.max_retries {
                report(false, &mut healthy);
            }
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

    #[test]
    fn http_status_reads_the_status_line() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            s.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
        });
        assert_eq!(
            http_status(port, "/health", Duration::from_secs(2)).unwrap(),
            503
        );
        server.join().unwrap();
    }
}
