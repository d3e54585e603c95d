//! Test harness for krunner's end-to-end tests.
//!
//! `cargo test` does not build `cdylib` crates, so [`artifacts`] builds the host and the
//! plugins through cargo itself (with `--message-format=json`, taking every path from cargo's
//! own report) and copies the plugins into a private plugin directory. [`Runner`] starts a real
//! `krunner` process on free loopback ports in a scratch working directory and talks to it
//! over real ZeroMQ sockets, exactly like the Backend.AI agent does.

use std::io::BufRead;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where the built pieces are.
#[derive(Debug)]
pub struct Artifacts {
    /// The `krunner` executable.
    pub krunner: PathBuf,
    /// A directory holding every plugin `.so` built for the tests.
    pub plugin_dir: PathBuf,
}

/// The packages the tests load.
const PLUGIN_PACKAGES: [&str; 17] = [
    "kernel-c",
    "kernel-cpp",
    "kernel-app",
    "kernel-python",
    "kernel-panicky",
    "kernel-golang",
    "kernel-rust",
    "kernel-java",
    "kernel-haskell",
    "kernel-julia",
    "kernel-lua",
    "kernel-nodejs",
    "kernel-octave",
    "kernel-php",
    "kernel-r",
    "kernel-scheme",
    "kernel-git",
];

/// Builds (once per test binary) the host and the plugins, returning their locations.
pub fn artifacts() -> &'static Artifacts {
    static ARTIFACTS: OnceLock<Artifacts> = OnceLock::new();
    ARTIFACTS.get_or_init(|| {
        build().unwrap_or_else(|e| panic!("building krunner and its plugins failed: {e}"))
    })
}

fn build() -> Result<Artifacts, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--message-format=json-render-diagnostics")
        .arg("-p")
        .arg("krunner");
    for p in PLUGIN_PACKAGES {
        cmd.arg("-p").arg(p);
    }
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let output = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo build failed ({})", output.status));
    }
    let mut krunner = None;
    let mut plugins = Vec::new();
    for line in output.stdout.lines() {
        let Ok(line) = line else { continue };
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let kinds: Vec<&str> = msg["target"]["kind"]
            .as_array()
            .map(|a| a.iter().filter_map(|k| k.as_str()).collect())
            .unwrap_or_default();
        if kinds.contains(&"bin") && msg["target"]["name"] == "krunner" {
            krunner = msg["executable"].as_str().map(PathBuf::from);
        }
        if kinds.contains(&"cdylib") {
            if let Some(f) = msg["filenames"]
                .as_array()
                .and_then(|f| f.first())
                .and_then(|f| f.as_str())
            {
                plugins.push(PathBuf::from(f));
            }
        }
    }
    let krunner = krunner.ok_or("cargo did not report the krunner executable")?;
    let plugin_dir =
        std::env::temp_dir().join(format!("krunner-test-plugins-{}", std::process::id()));
    std::fs::create_dir_all(&plugin_dir).map_err(|e| e.to_string())?;
    for p in &plugins {
        let name = p.file_name().ok_or("plugin without a file name")?;
        std::fs::copy(p, plugin_dir.join(name))
            .map_err(|e| format!("copying {}: {e}", p.display()))?;
    }
    if plugins.len() < PLUGIN_PACKAGES.len() {
        return Err(format!(
            "expected {} plugins, cargo reported {:?}",
            PLUGIN_PACKAGES.len(),
            plugins
        ));
    }
    Ok(Artifacts {
        krunner,
        plugin_dir,
    })
}

/// Builds a plugin crate that lives outside the workspace (the template, the frozen-ABI
/// fixtures) with cargo, sharing the workspace's target directory, and returns its `.so`.
pub fn build_external_plugin(manifest: &Path) -> PathBuf {
    let art = artifacts();
    // target/<profile>/krunner → target/external: a separate target directory, so these
    // plugins never land next to krunner (where the executable-directory search finds them).
    let target = art
        .krunner
        .parent()
        .and_then(Path::parent)
        .expect("target directory")
        .join("external");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(&target)
        .arg("--message-format=json-render-diagnostics");
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let output = cmd.stderr(Stdio::inherit()).output().expect("run cargo");
    assert!(
        output.status.success(),
        "building {} failed",
        manifest.display()
    );
    output
        .stdout
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|x| x == "cdylib"))
        })
        .find_map(|m| m["filenames"][0].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo reported no cdylib for {}", manifest.display()))
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `krunner` with `args`; returns (exit code, stdout, stderr).
pub fn krunner(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(&artifacts().krunner)
        .args(args)
        .env_remove("KRUNNER_PLUGIN_PATH")
        .stdin(Stdio::null())
        .output()
        .expect("run krunner");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether a tool the test needs is present. When it is not, the test is skipped with a
/// message naming it — unless `KRUNNER_REQUIRE_TOOLCHAINS=1` (set in CI), where that fails.
pub fn require(tool: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if std::env::var("KRUNNER_REQUIRE_TOOLCHAINS").as_deref() == Ok("1") {
        panic!("{tool} is required (KRUNNER_REQUIRE_TOOLCHAINS=1) but missing");
    }
    eprintln!("SKIPPED: {tool} is not installed");
    false
}

/// Whether `python3` can import `module`.
pub fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// One message from the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The type frame.
    pub kind: String,
    /// The payload frame.
    pub payload: Vec<u8>,
}

impl Message {
    /// The payload as lossy text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    /// The payload as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or_else(|e| {
            panic!("{} payload is not JSON ({e}): {:?}", self.kind, self.text())
        })
    }

    /// Whether this ends a task.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "finished" | "build-finished" | "clean-finished"
        )
    }
}

/// The messages of one task.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Everything received, terminal message last.
    pub messages: Vec<Message>,
}

impl Outcome {
    /// The terminal message's exit code.
    pub fn exit_code(&self) -> Option<i64> {
        self.messages
            .last()
            .and_then(|m| m.json()["exitCode"].as_i64())
    }

    /// The terminal message's type.
    pub fn terminal(&self) -> &str {
        self.messages.last().map_or("", |m| m.kind.as_str())
    }

    /// All stdout bytes.
    pub fn stdout(&self) -> Vec<u8> {
        self.concat("stdout")
    }

    /// All stderr bytes.
    pub fn stderr(&self) -> Vec<u8> {
        self.concat("stderr")
    }

    /// All stdout as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout()).into_owned()
    }

    /// All stderr as text.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr()).into_owned()
    }

    fn concat(&self, kind: &str) -> Vec<u8> {
        self.messages
            .iter()
            .filter(|m| m.kind == kind)
            .flat_map(|m| m.payload.iter().copied())
            .collect()
    }

    /// Messages of one type.
    pub fn of(&self, kind: &str) -> Vec<&Message> {
        self.messages.iter().filter(|m| m.kind == kind).collect()
    }
}

/// How to start a runner.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Second positional argument.
    pub runtime_path: Option<String>,
    /// Extra flags.
    pub args: Vec<String>,
    /// Content of `environ.txt`.
    pub environ: Option<String>,
    /// Files to create in the working directory before start.
    pub files: Vec<(String, Vec<u8>)>,
    /// Files to create in the config directory before start (e.g. `intrinsic-ports.json`).
    pub config_files: Vec<(String, Vec<u8>)>,
    /// Run the runner as this (uid, gid), as in a container; the working and config
    /// directories are handed to that user. Needs root.
    pub user: Option<(u32, u32)>,
}

/// A copy of the krunner executable that any user can run (the build directory may be
/// private to root).
fn shared_krunner() -> PathBuf {
    static SHARED: OnceLock<PathBuf> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let art = artifacts();
            let copy = art.plugin_dir.join("krunner");
            std::fs::copy(&art.krunner, &copy).expect("copy krunner");
            copy
        })
        .clone()
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("read_dir").flatten() {
            chown_tree(&entry.path(), uid, gid);
        }
    }
}

/// A running krunner with a connected client.
pub struct Runner {
    child: Option<Child>,
    /// The runner's working directory.
    pub work: tempfile::TempDir,
    /// Its config directory (and log file).
    pub config: tempfile::TempDir,
    _ctx: zmq::Context,
    push: zmq::Socket,
    pull: zmq::Socket,
}

impl Runner {
    /// Starts `krunner <language>` with default options.
    pub fn start(language: &str) -> Self {
        Self::start_with(language, Options::default())
    }

    /// Starts a runner and waits until it answers `status`.
    pub fn start_with(language: &str, opts: Options) -> Self {
        let art = artifacts();
        let mut last = String::new();
        for _ in 0..3 {
            let work = tempfile::tempdir().expect("tempdir");
            let config = tempfile::tempdir().expect("tempdir");
            for (name, content) in &opts.files {
                let path = work.path().join(name);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).expect("mkdir");
                }
                std::fs::write(path, content).expect("write file");
            }
            if let Some(environ) = &opts.environ {
                std::fs::write(config.path().join("environ.txt"), environ).expect("environ");
            }
            for (name, content) in &opts.config_files {
                let path = config.path().join(name);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).expect("mkdir");
                }
                std::fs::write(path, content).expect("write config file");
            }
            let (pin, pout) = (free_port(), free_port());
            let log = std::fs::File::create(config.path().join("runner.log")).expect("log");
            let mut cmd = match opts.user {
                Some((uid, gid)) => {
                    chown_tree(work.path(), uid, gid);
                    chown_tree(config.path(), uid, gid);
                    let mut cmd = Command::new(shared_krunner());
                    std::os::unix::process::CommandExt::uid(&mut cmd, uid);
                    std::os::unix::process::CommandExt::gid(&mut cmd, gid);
                    cmd
                }
                None => Command::new(&art.krunner),
            };
            cmd.arg("--plugin-dir")
                .arg(&art.plugin_dir)
                .arg("--bind-address")
                .arg("127.0.0.1")
                .arg("--repl-in-port")
                .arg(pin.to_string())
                .arg("--repl-out-port")
                .arg(pout.to_string())
                .arg("--config-dir")
                .arg(config.path());
            // Every runner gets a private user-input socket unless the test picks one.
            if !opts.args.iter().any(|a| a.starts_with("--input-socket")) {
                cmd.arg("--input-socket")
                    .arg(config.path().join("user-input.sock"));
            }
            cmd.args(&opts.args).arg(language);
            if let Some(rt) = &opts.runtime_path {
                cmd.arg(rt);
            }
            cmd.current_dir(work.path())
                .env_remove("KRUNNER_PLUGIN_PATH")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log);
            let child = cmd.spawn().expect("spawn krunner");
            let ctx = zmq::Context::new();
            let push = ctx.socket(zmq::PUSH).expect("push");
            let pull = ctx.socket(zmq::PULL).expect("pull");
            push.set_linger(50).expect("linger");
            pull.set_linger(0).expect("linger");
            push.connect(&format!("tcp://127.0.0.1:{pin}"))
                .expect("connect");
            pull.connect(&format!("tcp://127.0.0.1:{pout}"))
                .expect("connect");
            let mut runner = Runner {
                child: Some(child),
                work,
                config,
                _ctx: ctx,
                push,
                pull,
            };
            runner.send("status", b"");
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Some(m) = runner.recv(Duration::from_millis(50)) {
                    if m.kind == "status" {
                        return runner;
                    }
                }
                if let Some(Ok(Some(status))) = runner.child.as_mut().map(Child::try_wait) {
                    last = format!("krunner exited during startup ({status}): {}", runner.log());
                    break;
                }
            }
            if last.is_empty() {
                last = format!("krunner did not answer status: {}", runner.log());
            }
        }
        panic!("{last}");
    }

    /// The runner's own log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.config.path().join("runner.log")).unwrap_or_default()
    }

    /// The runner's pid.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Sends a two-frame op.
    pub fn send(&self, op: &str, payload: impl AsRef<[u8]>) {
        self.push
            .send_multipart([op.as_bytes(), payload.as_ref()], 0)
            .expect("send");
    }

    /// Sends arbitrary frames.
    pub fn send_frames(&self, frames: &[&[u8]]) {
        self.push
            .send_multipart(frames.iter().copied(), 0)
            .expect("send");
    }

    /// Receives one message, or `None` after `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<Message> {
        let mut items = [self.pull.as_poll_item(zmq::POLLIN)];
        zmq::poll(&mut items, timeout.as_millis() as i64).ok()?;
        if !items[0].is_readable() {
            return None;
        }
        let frames = self.pull.recv_multipart(0).expect("recv");
        assert_eq!(frames.len(), 2, "the runner sent {} frames", frames.len());
        let mut it = frames.into_iter();
        let kind = String::from_utf8(it.next().unwrap_or_default()).expect("type frame is ASCII");
        Some(Message {
            kind,
            payload: it.next().unwrap_or_default(),
        })
    }

    /// Receives one message or panics after `timeout`.
    pub fn expect(&self, timeout: Duration) -> Message {
        self.recv(timeout)
            .unwrap_or_else(|| panic!("no message within {timeout:?}; runner log:\n{}", self.log()))
    }

    /// Receives until a terminal message.
    pub fn until_finished(&self, timeout: Duration) -> Outcome {
        let deadline = Instant::now() + timeout;
        let mut messages = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(m) = self.recv(left) else {
                panic!(
                    "no terminal message within {timeout:?}; got {:?}; runner log:\n{}",
                    messages,
                    self.log()
                );
            };
            let done = m.is_terminal();
            messages.push(m);
            if done {
                return Outcome { messages };
            }
        }
    }

    /// Sends an op and collects its messages up to the terminal one.
    pub fn run(&self, op: &str, payload: impl AsRef<[u8]>) -> Outcome {
        self.send(op, payload);
        self.until_finished(Duration::from_secs(60))
    }

    /// Sends `status` and returns `started_at` from the msgpack reply. Log lines the runner
    /// printed on its own (`stderr`) may come first; anything else is an error.
    pub fn status(&self) -> f64 {
        self.send("status", b"");
        loop {
            let m = self.expect(Duration::from_secs(5));
            if m.kind == "stderr" {
                continue;
            }
            assert_eq!(m.kind, "status");
            return decode_status(&m.payload);
        }
    }

    /// Sends SIGTERM and waits for the exit; returns the exit code and how long it took.
    pub fn terminate(&mut self) -> (Option<i32>, Duration) {
        let started = Instant::now();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let mut child = self.child.take().expect("running");
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return (status.code(), started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                let _ = child.wait();
                return (None, started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.terminate();
        }
    }
}

/// Decodes the msgpack `status` payload, checking its exact shape.
pub fn decode_status(payload: &[u8]) -> f64 {
    let mut rd = payload;
    let len = rmp::decode::read_map_len(&mut rd).expect("status is a msgpack map");
    assert_eq!(len, 1);
    let mut key = [0u8; 32];
    let key = rmp::decode::read_str(&mut rd, &mut key).expect("string key");
    assert_eq!(key, "started_at");
    let value = rmp::decode::read_f64(&mut rd).expect("float value");
    assert!(rd.is_empty(), "trailing bytes in status");
    value
}
