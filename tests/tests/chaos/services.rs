//! Services under chaos (docs/protocol.md §6): a service-definition directory with a web
//! server, services that exit at once (one leaving children in its group), one that never
//! opens its port, a no-op and a malformed file; starts and stops at random, intrinsic
//! protocols, unknown names, and model services that fail or never open their port.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::agent::Agent;
use crate::expect::{ModelExp, ReplyExp, ServiceExp};
use crate::rng::Rng;

/// `--service-timeout` of the soak's runners, in seconds.
pub const SERVICE_TIMEOUT: u64 = 4;

/// Writes the definitions into `dir`; returns what `get-apps` lists for them, by name.
pub fn write_defs(dir: &Path) -> Vec<Value> {
    let web = json!({
        "command": ["python3", "-m", "http.server", "{ports[0]}", "--bind", "127.0.0.1"],
        "url_template": "http://{host}:{port}/",
        "allowed_arguments": ["--directory"],
        "allowed_envs": ["GREETING"]
    });
    let defs = [
        ("web", web.to_string()),
        (
            "quick-exit",
            json!({"command": ["sh", "-c", "exit 3"]}).to_string(),
        ),
        (
            "never-opens",
            json!({"command": ["sleep", "1000"]}).to_string(),
        ),
        (
            "forky",
            json!({"command": "sleep 1000 & sleep 1000 & exit 4", "shell": "sh"}).to_string(),
        ),
        (
            "noop",
            json!({"command": ["true"], "noop": true, "prestart_actions": [
                {"action": "write_file", "args": {"filename": "noop-ran.txt", "body": ["x"]}}
            ]})
            .to_string(),
        ),
        ("broken", "{\"command\": [\"true\"],".to_owned()),
    ];
    for (name, text) in defs {
        std::fs::write(dir.join(format!("{name}.json")), text).expect("write a definition");
    }
    vec![
        json!({"name": "forky"}),
        json!({"name": "never-opens"}),
        json!({"name": "noop"}),
        json!({"name": "quick-exit"}),
        json!({"name": "web", "url_template": "http://{host}:{port}/",
               "allowed_arguments": ["--directory"], "allowed_envs": ["GREETING"]}),
    ]
}

fn request(name: &str, port: u16, protocol: &str) -> Vec<u8> {
    json!({"name": name, "port": port, "ports": [port], "protocol": protocol, "options": {}})
        .to_string()
        .into_bytes()
}

/// Services in flight that take long (serialized per name, so they are spaced out).
pub struct Slow {
    pub web_port: u16,
    last_never: Option<Instant>,
    last_model: Option<Instant>,
    pub models: u32,
    /// A model service that never opens its port, to stop later.
    pub running_model: Option<String>,
}

impl Slow {
    pub fn new(web_port: u16) -> Self {
        Self {
            web_port,
            last_never: None,
            last_model: None,
            models: 0,
            running_model: None,
        }
    }

    fn free(last: Option<Instant>) -> bool {
        last.is_none_or(|t| t.elapsed() > Duration::from_secs(SERVICE_TIMEOUT + 2))
    }
}

/// A start of the web service (on the round's port), or a stop of it.
fn web(a: &mut Agent, rng: &mut Rng, slow: &Slow, stop: bool) {
    if stop {
        a.figures.service_stops += 1;
        a.model.state.web_stops += 1;
        let payload: &[u8] = rng.pick(&[&b"\"web\""[..], b"web", b" web\n"]);
        return a.send("shutdown-service", payload);
    }
    a.figures.service_starts += 1;
    let exp = ServiceExp::Web {
        stops: a.model.state.web_stops,
    };
    let payload = request("web", slow.web_port, "http");
    a.request("start-service", &payload, ReplyExp::Service(exp));
}

/// One `start-service` or `shutdown-service`.
pub fn service(a: &mut Agent, rng: &mut Rng, slow: &mut Slow, id: u64) {
    let failed = |e: &str| ReplyExp::Service(ServiceExp::Failed(e.into()));
    let port = krunner_tests::free_port();
    match rng.below(12) {
        0..=3 => web(a, rng, slow, false),
        4 | 5 => web(a, rng, slow, true),
        6 => {
            a.figures.service_starts += 1;
            let (name, code) = rng.pick(&[("quick-exit", 3), ("forky", 4)]);
            let error =
                format!("the service exited with exit code {code} before opening its port: {name}");
            a.request("start-service", &request(name, port, "tcp"), failed(&error));
        }
        7 if Slow::free(slow.last_never) => {
            a.figures.service_starts += 1;
            slow.last_never = Some(Instant::now());
            let exp = failed("opening the service port timed out: never-opens");
            a.request("start-service", &request("never-opens", port, "http"), exp);
        }
        8 => {
            let exp = ReplyExp::Service(ServiceExp::Exact(json!({"status": "started"})));
            let (name, protocol) = rng.pick(&[("noop", "http"), ("anything", "preopen")]);
            a.request("start-service", &request(name, port, protocol), exp);
        }
        9 => {
            let exp = ReplyExp::Service(ServiceExp::FailedWith("InvalidServiceDefinition(".into()));
            a.request("start-service", &request("broken", port, "http"), exp);
        }
        10 => {
            let name = format!("nosuch{id}");
            let exp = failed(&format!("unsupported service: {name}"));
            a.request("start-service", &request(&name, port, "http"), exp);
        }
        // (A running service's name would be answered `running` first, §6.2.)
        _ => {
            let exp = failed("not implemented yet");
            a.request("start-service", &request("term", port, "pty"), exp);
        }
    }
}

/// One `start-model-service` (or the stop of a model service that is running).
pub fn model(a: &mut Agent, rng: &mut Rng, slow: &mut Slow, work: &Path, id: u64) {
    if let Some(service) = slow.running_model.take().filter(|_| rng.chance(0.5)) {
        a.figures.service_stops += 1;
        a.send("shutdown-service", format!("\"{service}\"").as_bytes());
        a.model.state.models_stopped.insert(service);
        return;
    }
    let port = krunner_tests::free_port();
    let name = format!("m{id}");
    a.model
        .state
        .model_services
        .insert(format!("{name}-{port}"));
    let never_opens = rng.chance(0.5) && Slow::free(slow.last_model) && slow.models < 3;
    let (path, exp) = match never_opens {
        true => {
            slow.last_model = Some(Instant::now());
            slow.models += 1;
            let service = format!("{name}-{port}");
            slow.running_model = Some(service.clone());
            let exp = ModelExp::Started {
                name: name.clone(),
                service,
            };
            (work.display().to_string(), exp)
        }
        false => (
            "/nonexistent/chaos-model".to_owned(),
            ModelExp::Failed("the model directory does not exist".into()),
        ),
    };
    a.figures.model_starts += 1;
    let payload = json!({"name": name, "model_path": path,
        "service": {"start_command": "sleep 1000", "port": port}, "metadata": {}});
    a.request(
        "start-model-service",
        payload.to_string().as_bytes(),
        ReplyExp::Model(exp),
    );
}
