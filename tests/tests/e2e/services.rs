//! Service ports: `start-service`, `shutdown-service`, `get-apps`, `start-model-service` and
//! the intrinsic sshd, with real programs (python3's http.server, dropbear and ssh).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use krunner_tests::{free_port, Message, Options, Runner};
use serde_json::{json, Value};

/// Longer than the runner's default 30-second port wait, like the agent's 35 s.
pub(crate) const REPLY: Duration = Duration::from_secs(35);

pub(crate) struct Fixture {
    pub(crate) runner: Runner,
    pub(crate) defs: tempfile::TempDir,
}

impl std::ops::Deref for Fixture {
    type Target = Runner;
    fn deref(&self) -> &Runner {
        &self.runner
    }
}

/// Starts an `app` runner whose service-def directory holds `defs` (name, JSON text).
pub(crate) fn runner_with(defs: &[(&str, String)], mut opts: Options) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in defs {
        std::fs::write(dir.path().join(format!("{name}.json")), text).unwrap();
    }
    opts.args.push("--service-def-dir".into());
    opts.args.push(dir.path().display().to_string());
    Fixture {
        runner: Runner::start_with("app", opts),
        defs: dir,
    }
}

/// The next message of `kind`, skipping console output; panics after `timeout`.
pub(crate) fn expect_kind(r: &Runner, kind: &str, timeout: Duration) -> Message {
    let deadline = Instant::now() + timeout;
    let mut skipped = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match r.recv(left) {
            Some(m) if m.kind == kind => return m,
            Some(m) => skipped.push(format!("{} {}", m.kind, m.text())),
            None => panic!(
                "no {kind} within {timeout:?} (got {skipped:?}); runner log:\n{}",
                r.log()
            ),
        }
    }
}

pub(crate) fn start(r: &Runner, payload: Value) -> Value {
    r.send("start-service", payload.to_string());
    expect_kind(r, "service-result", REPLY).json()
}

pub(crate) fn service(name: &str, port: u16) -> Value {
    json!({"name": name, "port": port, "ports": [port], "protocol": "http", "options": {}})
}

pub(crate) fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

pub(crate) fn port_closed_within(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn process_exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

pub(crate) fn web_def() -> String {
    json!({
        "command": ["python3", "-m", "http.server", "{ports[0]}", "--bind", "127.0.0.1"],
        "url_template": "{protocol}://{host}:{port}/",
        "allowed_arguments": ["--directory"],
        "allowed_envs": ["GREETING", "PATH"]
    })
    .to_string()
}

#[test]
fn http_server_is_started_fetched_listed_and_stopped() {
    let r = runner_with(
        &[("web", web_def())],
        Options {
            files: vec![("index.html".into(), b"hello from a service\n".to_vec())],
            ..Options::default()
        },
    );
    let port = free_port();
    assert_eq!(
        start(&r, service("web", port)),
        json!({"status": "started"})
    );
    // The reply came only once the port accepts connections.
    let page = http_get(port, "/index.html").unwrap();
    assert!(page.starts_with("HTTP/1.0 200"), "{page}");
    assert!(page.contains("hello from a service"), "{page}");

    r.send("get-apps", "");
    let apps = expect_kind(&r, "apps-result", Duration::from_secs(5)).json();
    assert_eq!(
        apps,
        json!({"status": "done", "data": [{
            "name": "web",
            "url_template": "{protocol}://{host}:{port}/",
            "allowed_arguments": ["--directory"],
            "allowed_envs": ["GREETING", "PATH"]
        }]})
    );
    r.send("get-apps", "nothing-like-this");
    let apps = expect_kind(&r, "apps-result", Duration::from_secs(5)).json();
    assert_eq!(apps, json!({"status": "done", "data": []}));

    // Started twice: the second start finds it running.
    assert_eq!(
        start(&r, service("web", port)),
        json!({"status": "running"})
    );

    r.send("shutdown-service", "\"web\"");
    assert!(port_closed_within(port, Duration::from_secs(5)));
    // Stopped services can be started again.
    assert_eq!(
        start(&r, service("web", port)),
        json!({"status": "started"})
    );
    assert!(http_get(port, "/").unwrap().starts_with("HTTP/1.0 200"));
    // A start right after a stop waits for the old process to free the port.
    r.send("shutdown-service", "\"web\"");
    assert_eq!(
        start(&r, service("web", port)),
        json!({"status": "started"})
    );
    assert!(http_get(port, "/").unwrap().starts_with("HTTP/1.0 200"));
}

#[test]
fn runner_shutdown_stops_its_services() {
    let mut r = runner_with(&[("web", web_def())], Options::default());
    let port = free_port();
    assert_eq!(
        start(&r, service("web", port)),
        json!({"status": "started"})
    );
    let (code, took) = r.runner.terminate();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    assert!(port_closed_within(port, Duration::from_secs(2)));
}

#[test]
fn the_plugin_hook_is_the_fallback_after_definition_files() {
    let r = Runner::start_with(
        "panicky",
        Options {
            files: vec![("page.txt".into(), b"served by the hook\n".to_vec())],
            ..Options::default()
        },
    );
    let port = free_port();
    assert_eq!(
        start(&r, service("fixture-web", port)),
        json!({"status": "started"})
    );
    assert!(http_get(port, "/page.txt")
        .unwrap()
        .contains("served by the hook"));
    assert_eq!(
        start(&r, service("fixture-web", port)),
        json!({"status": "running"})
    );
    assert_eq!(
        start(&r, service("other", free_port())),
        json!({"status": "failed", "error": "unsupported service: other"})
    );
    // Hook services are not apps.
    r.send("get-apps", "");
    let apps = expect_kind(&r, "apps-result", Duration::from_secs(5)).json();
    assert_eq!(apps, json!({"status": "done", "data": []}));
}

#[test]
fn a_port_that_never_opens_times_out_without_blocking_the_runner() {
    let r = runner_with(
        &[(
            "sleeper",
            json!({"command": ["sh", "-c", "echo $$ > sleeper.pid; exec sleep 600"]}).to_string(),
        )],
        Options {
            args: vec!["--service-timeout".into(), "3".into()],
            ..Options::default()
        },
    );
    let started = Instant::now();
    r.send("start-service", service("sleeper", free_port()).to_string());
    // While the service waits for its port, status and interrupt are answered at once.
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        let t = Instant::now();
        r.send("interrupt", "");
        r.send("status", "");
        let m = r.expect(Duration::from_secs(2));
        assert_eq!(m.kind, "status");
        assert!(
            t.elapsed() < Duration::from_millis(50),
            "status took {:?}",
            t.elapsed()
        );
    }
    let reply = expect_kind(&r, "service-result", REPLY).json();
    assert_eq!(
        reply,
        json!({"status": "failed", "error": "opening the service port timed out: sleeper"})
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(8),
        "{took:?}"
    );
    let pid: i32 = std::fs::read_to_string(r.work.path().join("sleeper.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        !process_exists(pid),
        "the timed-out service is still running"
    );
}

#[test]
fn a_service_that_exits_is_reported_at_once_and_can_be_retried() {
    let r = runner_with(
        &[(
            "crash",
            json!({"command": ["sh", "-c", "exit 3"]}).to_string(),
        )],
        Options::default(),
    );
    for _ in 0..2 {
        let started = Instant::now();
        let reply = start(&r, service("crash", free_port()));
        assert_eq!(reply["status"], "failed");
        assert_eq!(
            reply["error"],
            "the service exited with exit code 3 before opening its port: crash"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn user_arguments_and_envs_follow_the_definition() {
    let r = runner_with(&[("web", web_def())], Options::default());
    let port = free_port();
    let mut bad_arg = service("web", port);
    bad_arg["options"] = json!({"arguments": {"--bind": "0.0.0.0"}});
    assert_eq!(
        start(&r, bad_arg),
        json!({"status": "failed", "error": "DisallowedArgument('Argument --bind not allowed for service web')"})
    );
    let mut bad_env = service("web", port);
    bad_env["options"] = json!({"envs": {"SECRET": "x"}});
    assert_eq!(
        start(&r, bad_env),
        json!({"status": "failed", "error": "DisallowedEnvironment('Environment variable SECRET not allowed for service web')"})
    );
    let mut frozen = service("web", port);
    frozen["options"] = json!({"envs": {"PATH": "/nowhere"}});
    assert_eq!(
        start(&r, frozen),
        json!({"status": "failed", "error": "DisallowedEnvironment(\"Environment variable PATH can't be overwritten\")"})
    );
    // Allowed ones work.
    let dir = r.work.path().join("public");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("x.txt"), "from the directory argument").unwrap();
    let mut ok = service("web", port);
    ok["options"] = json!({"arguments": {"--directory": dir.display().to_string()}, "envs": {"GREETING": "hi"}});
    assert_eq!(start(&r, ok), json!({"status": "started"}));
    assert!(http_get(port, "/x.txt")
        .unwrap()
        .contains("from the directory argument"));
}

#[test]
fn json_arguments_with_braces_reach_the_program_intact() {
    // The service echoes its arguments into a file, then listens on the port from its JSON.
    let script = "import json, os, socket, sys, time\n\
                  open('argv.json', 'w').write(json.dumps(sys.argv[1:]))\n\
                  keys = ['LD_LIBRARY_PATH', 'SVC_PORT', 'FROM_ENVIRON']\n\
                  open('env.json', 'w').write(json.dumps({{k: os.environ.get(k) for k in keys}}))\n\
                  cfg = json.loads(sys.argv[1])\n\
                  s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
                  s.bind(('127.0.0.1', cfg['port'])); s.listen()\n\
                  time.sleep(600)\n";
    let def = json!({
        "command": ["python3", "-c", script, "{{\"port\": {ports[0]}, \"nested\": {{\"a\": [1, 2]}}}}"],
        "allowed_arguments": ["--hf-overrides"],
        "default_arguments": {"--label": "${{ ports[0] }}"},
        "env": {"SVC_PORT": "{ports[0]}"}
    });
    let r = runner_with(
        &[("jsonish", def.to_string())],
        Options {
            environ: Some(
                "LD_LIBRARY_PATH=/opt/backend.ai/lib:/usr/local/lib\nFROM_ENVIRON=yes\n".into(),
            ),
            ..Options::default()
        },
    );
    let port = free_port();
    let mut req = service("jsonish", port);
    req["options"] =
        json!({"arguments": {"--hf-overrides": "{\"rope_scaling\": {\"factor\": 2}}"}});
    assert_eq!(start(&r, req), json!({"status": "started"}));
    let argv: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(r.work.path().join("argv.json")).unwrap())
            .unwrap();
    assert_eq!(
        argv,
        [
            format!("{{\"port\": {port}, \"nested\": {{\"a\": [1, 2]}}}}"),
            "--label".to_owned(),
            port.to_string(),
            "--hf-overrides".to_owned(),
            "{\"rope_scaling\": {\"factor\": 2}}".to_owned(),
        ]
    );
    // The session environment, minus the runner's own libraries, plus the service's env.
    let env: Value =
        serde_json::from_str(&std::fs::read_to_string(r.work.path().join("env.json")).unwrap())
            .unwrap();
    assert_eq!(
        env,
        json!({"LD_LIBRARY_PATH": "/usr/local/lib", "SVC_PORT": port.to_string(), "FROM_ENVIRON": "yes"})
    );
}

#[test]
fn resolution_order_and_bad_definitions() {
    let r = runner_with(
        &[
            ("broken", "{\"command\": [\"x\"], \"colour\": 1}".to_owned()),
            ("notjson", "{oops".to_owned()),
            (
                "quiet",
                json!({"command": ["false"], "noop": true}).to_string(),
            ),
            ("web", web_def()),
        ],
        Options::default(),
    );
    let port = free_port();
    let mut pre = service("anything", port);
    pre["protocol"] = json!("preopen");
    assert_eq!(start(&r, pre), json!({"status": "started"}));
    let mut pty = service("web", port);
    pty["protocol"] = json!("pty");
    assert_eq!(
        start(&r, pty),
        json!({"status": "failed", "error": "not implemented yet"})
    );
    assert_eq!(
        start(&r, service("nosuch", port)),
        json!({"status": "failed", "error": "unsupported service: nosuch"})
    );
    assert_eq!(
        start(&r, service("quiet", port)),
        json!({"status": "started"})
    );
    let broken = start(&r, service("broken", port));
    assert_eq!(broken["status"], "failed");
    let error = broken["error"].as_str().unwrap();
    assert!(
        error.starts_with("InvalidServiceDefinition(") && error.contains("colour"),
        "{error}"
    );
    let notjson = start(&r, service("notjson", port));
    assert!(
        notjson["error"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{notjson}"
    );
    // Bad files do not hide the good ones.
    r.send("get-apps", "");
    let apps = expect_kind(&r, "apps-result", Duration::from_secs(5)).json();
    let names: Vec<&str> = apps["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["quiet", "web"]);
    // A malformed request is still answered, in order.
    r.send("start-service", "{not json");
    r.send("start-service", service("nosuch", port).to_string());
    let first = expect_kind(&r, "service-result", REPLY).json();
    assert_eq!(first["status"], "failed");
    assert!(first["error"]
        .as_str()
        .unwrap()
        .starts_with("invalid request"));
    let second = expect_kind(&r, "service-result", REPLY).json();
    assert_eq!(second["error"], "unsupported service: nosuch");
}

#[test]
fn replies_keep_request_order_while_starts_run_concurrently() {
    let r = runner_with(
        &[
            ("sleeper", json!({"command": ["sleep", "600"]}).to_string()),
            ("web", web_def()),
        ],
        Options {
            args: vec!["--service-timeout".into(), "4".into()],
            ..Options::default()
        },
    );
    let web_port = free_port();
    r.send("start-service", service("sleeper", free_port()).to_string());
    r.send("start-service", service("web", web_port).to_string());
    // The second service comes up while the first is still waiting for its port.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut up = false;
    while Instant::now() < deadline && !up {
        up = http_get(web_port, "/").is_ok_and(|p| p.starts_with("HTTP/1.0 200"));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(up, "web did not start while sleeper was waiting");
    let first = expect_kind(&r, "service-result", REPLY).json();
    let second = expect_kind(&r, "service-result", REPLY).json();
    assert_eq!(
        first,
        json!({"status": "failed", "error": "opening the service port timed out: sleeper"})
    );
    assert_eq!(second, json!({"status": "started"}));
}

const HEALTH_SERVER: &str = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            code = int(open('health-status').read().strip())
        except Exception:
            code = 200
        self.send_response(code)
        self.send_header('Content-Length', '0')
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
"#;

#[test]
fn model_service_reports_health_transitions() {
    let r = runner_with(&[], Options::default());
    let model_dir = r.work.path().join("model");
    std::fs::create_dir(&model_dir).unwrap();
    std::fs::write(model_dir.join("server.py"), HEALTH_SERVER).unwrap();
    let port = free_port();
    let payload = json!({
        "name": "tiny",
        "model_path": model_dir.display().to_string(),
        "service": {
            "pre_start_actions": [{"action": "write_file", "args": {"filename": model_dir.join("health-status").display().to_string(), "body": ["200"]}}],
            "start_command": format!("python3 server.py {port}"),
            "shell": null,
            "port": port,
            "health_check": {"enable": true, "interval": 0.2, "path": "/health", "max_retries": 2,
                             "max_wait_time": 1.0, "expected_status_code": 200, "initial_delay": 0.0}
        },
        "metadata": {}
    });
    r.send("start-model-service", payload.to_string());
    let result = expect_kind(&r, "model-service-result", REPLY).json();
    assert_eq!(result, json!({"status": "started"}));
    let status = expect_kind(&r, "model-service-status", Duration::from_secs(10)).json();
    assert_eq!(status, json!({"model_name": "tiny", "is_healthy": true}));

    std::fs::write(model_dir.join("health-status"), "503").unwrap();
    let status = expect_kind(&r, "model-service-status", Duration::from_secs(10)).json();
    assert_eq!(status, json!({"model_name": "tiny", "is_healthy": false}));
    std::fs::write(model_dir.join("health-status"), "200").unwrap();
    let status = expect_kind(&r, "model-service-status", Duration::from_secs(10)).json();
    assert_eq!(status, json!({"model_name": "tiny", "is_healthy": true}));

    r.send("get-apps", "");
    let apps = expect_kind(&r, "apps-result", Duration::from_secs(5)).json();
    assert_eq!(
        apps,
        json!({"status": "done", "data": [{"name": format!("tiny-{port}")}]})
    );
    // Stopping it makes it unhealthy.
    r.send(
        "shutdown-service",
        json!(format!("tiny-{port}")).to_string(),
    );
    let status = expect_kind(&r, "model-service-status", Duration::from_secs(10)).json();
    assert_eq!(status, json!({"model_name": "tiny", "is_healthy": false}));

    // A failure carries its reason.
    let mut missing = payload.clone();
    missing["model_path"] = json!("/no/such/model/dir");
    r.send("start-model-service", missing.to_string());
    let result = expect_kind(&r, "model-service-result", REPLY).json();
    assert_eq!(
        result,
        json!({"status": "failed", "error": "service failed to start: the model directory does not exist: /no/such/model/dir"})
    );
}

/// An administration tool, also when `/usr/sbin` is not on `PATH`.
fn sbin(tool: &str) -> PathBuf {
    let path = Path::new("/usr/sbin").join(tool);
    if path.exists() {
        path
    } else {
        PathBuf::from(tool)
    }
}

/// A system user for the SSH test: dropbear, like the runner in a container, serves the user
/// it runs as, and refuses root logins.
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl TestUser {
    fn create(home: &Path) -> Self {
        let name = format!("krsvc{}", std::process::id());
        let status = std::process::Command::new(sbin("useradd"))
            .args([
                "--system",
                "--no-create-home",
                "--user-group",
                "--shell",
                "/bin/sh",
                "--home-dir",
            ])
            .arg(home)
            .arg(&name)
            .status()
            .expect("useradd (the ssh test needs root and the passwd tools)");
        assert!(status.success(), "useradd failed");
        let id = |flag: &str| -> u32 {
            let out = std::process::Command::new("id")
                .args([flag, &name])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        Self {
            uid: id("-u"),
            gid: id("-g"),
            name,
        }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = std::process::Command::new(sbin("userdel"))
            .arg(&self.name)
            .status();
    }
}

fn dropbear() -> PathBuf {
    let found = ["/usr/sbin/dropbear", "/usr/bin/dropbear"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    found.unwrap_or_else(|| {
        panic!("dropbear is not installed (Debian: apt-get install dropbear-bin openssh-client)")
    })
}

#[test]
fn intrinsic_sshd_accepts_a_login_with_the_generated_key() {
    let dropbear = dropbear();
    assert!(
        Path::new("/usr/bin/ssh").exists(),
        "ssh is not installed (Debian: apt-get install openssh-client)"
    );
    // SAFETY: geteuid cannot fail.
    assert_eq!(unsafe { libc::geteuid() }, 0, "the ssh test needs root");
    let home = tempfile::tempdir().unwrap();
    let user = TestUser::create(home.path());
    std::os::unix::fs::chown(home.path(), Some(user.uid), Some(user.gid)).unwrap();
    let port = free_port();
    let r = Runner::start_with(
        "app",
        Options {
            args: vec![
                "--sshd-binary".into(),
                dropbear.display().to_string(),
                "--ttyd-binary".into(),
                "/nonexistent/ttyd".into(),
            ],
            environ: Some(format!("HOME={}\n", home.path().display())),
            config_files: vec![(
                "intrinsic-ports.json".into(),
                json!({"sshd": port}).to_string().into_bytes(),
            )],
            user: Some((user.uid, user.gid)),
            ..Options::default()
        },
    );
    // Key generation and the port wait happen in the background after startup.
    let key = home.path().join("id_container");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline
        && (!key.exists() || TcpStream::connect(("127.0.0.1", port)).is_err())
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(key.exists(), "no id_container; runner log:\n{}", r.log());
    let authorized = std::fs::read_to_string(home.path().join(".ssh/authorized_keys")).unwrap();
    assert!(authorized.starts_with("ssh-rsa "), "{authorized}");
    // The agent's start-service for sshd finds it running.
    let reply = start(&r, json!({"name": "sshd", "port": port, "protocol": "tcp"}));
    assert_eq!(reply, json!({"status": "running"}), "log:\n{}", r.log());

    let private = tempfile::tempdir().unwrap();
    let key_copy = private.path().join("id");
    std::fs::copy(&key, &key_copy).unwrap();
    std::fs::set_permissions(
        &key_copy,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let out = std::process::Command::new("ssh")
        .args(["-i"])
        .arg(&key_copy)
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "ConnectTimeout=10",
            "-p",
            &port.to_string(),
        ])
        .arg(format!("{}@127.0.0.1", user.name))
        .arg("echo logged in as $(id -un) in $HOME")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ssh failed: {}\n{}\nrunner log:\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr),
        r.log()
    );
    assert_eq!(
        stdout.trim(),
        format!("logged in as {} in {}", user.name, home.path().display())
    );
}

#[test]
fn intrinsic_ttyd_starts_on_its_configured_port() {
    // ttyd is not packaged for Debian; a stand-in records its command line and serves HTTP on
    // the port it is given, which is what the runner checks.
    let bin = tempfile::tempdir().unwrap();
    let ttyd = bin.path().join("ttyd");
    std::fs::write(
        &ttyd,
        "#!/bin/sh\necho \"$@\" > \"$0.args\"\nexec python3 -m http.server \"$3\" --bind 127.0.0.1\n",
    )
    .unwrap();
    std::fs::set_permissions(&ttyd, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let port = free_port();
    let r = Runner::start_with(
        "app",
        Options {
            args: vec![
                "--ttyd-binary".into(),
                ttyd.display().to_string(),
                "--sshd-binary".into(),
                "/nonexistent/dropbear".into(),
            ],
            config_files: vec![(
                "intrinsic-ports.json".into(),
                json!({"ttyd": port}).to_string().into_bytes(),
            )],
            ..Options::default()
        },
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline && TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        http_get(port, "/").is_ok_and(|p| p.starts_with("HTTP/1.0 200")),
        "log:\n{}",
        r.log()
    );
    let args = std::fs::read_to_string(bin.path().join("ttyd.args")).unwrap();
    assert!(args.starts_with(&format!("-W -p {port} /bin/")), "{args}");
    assert!(args.contains("tmux -2 attach"), "{args}");
    let reply = start(
        &r,
        json!({"name": "ttyd", "port": port, "protocol": "http"}),
    );
    assert_eq!(reply, json!({"status": "running"}));
}
