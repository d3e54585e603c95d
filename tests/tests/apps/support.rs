//! What the app tests share: a python runner with a home of its own, `start-service` as the
//! agent sends it, HTTP as the agent's proxy reaches an app, the helper scripts (running code
//! in a Jupyter kernel, loading a page in headless Chromium), and looking for processes left
//! behind.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use krunner_tests::{require, Message, Options, Runner};
use serde_json::{json, Value};

/// Longer than the runner's 30-second port wait, like the agent's 35 s.
pub(crate) const REPLY: Duration = Duration::from_secs(35);

/// Where Debian's Chromium is.
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";

/// A python runner whose services get a home directory of their own (Jupyter keeps its
/// settings, workspaces and runtime files there, not in the user's).
pub(crate) struct App {
    pub(crate) runner: Runner,
    _home: tempfile::TempDir,
    _defs: tempfile::TempDir,
}

impl std::ops::Deref for App {
    type Target = Runner;
    fn deref(&self) -> &Runner {
        &self.runner
    }
}

/// Starts `krunner python` with the service definitions `defs` (name, JSON text).
pub(crate) fn python_runner(defs: &[(&str, String)], mut opts: Options) -> App {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in defs {
        std::fs::write(dir.path().join(format!("{name}.json")), text).unwrap();
    }
    opts.environ = Some(format!("HOME={}\n", home.path().display()));
    opts.args.push("--service-def-dir".into());
    opts.args.push(dir.path().display().to_string());
    App {
        runner: Runner::start_with("python", opts),
        _home: home,
        _defs: dir,
    }
}

/// Whether `python3` has `module`; skips (or, in CI, fails) the test when not.
pub(crate) fn have(module: &str) -> bool {
    require(
        &format!("the python module {module}"),
        krunner_tests::python_has(module),
    )
}

/// The next message of `kind`, skipping console output; panics after `timeout`.
pub(crate) fn expect_kind(r: &Runner, kind: &str, timeout: Duration) -> Message {
    let deadline = Instant::now() + timeout;
    let mut skipped = Vec::new();
    loop {
        match r.recv(deadline.saturating_duration_since(Instant::now())) {
            Some(m) if m.kind == kind => return m,
            Some(m) => skipped.push(format!("{} {}", m.kind, m.text())),
            None => panic!(
                "no {kind} within {timeout:?} (got {skipped:?}); log:\n{}",
                r.log()
            ),
        }
    }
}

/// The `start-service` payload the agent sends for an app the user clicks.
pub(crate) fn service(name: &str, port: u16) -> Value {
    json!({"name": name, "port": port, "ports": [port], "protocol": "http", "options": {}})
}

/// Sends `start-service` and returns the reply and how long it took.
pub(crate) fn start(r: &Runner, payload: Value) -> (Value, Duration) {
    let begun = Instant::now();
    r.send("start-service", payload.to_string());
    let reply = expect_kind(r, "service-result", REPLY).json();
    (reply, begun.elapsed())
}

/// GETs `path` the way the agent's proxy does: at the container's port, with the proxy's
/// own `Host`. Returns the status line and the whole response.
pub(crate) fn proxied_get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: apps.example.org:443\r\nX-Forwarded-Proto: https\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.lines().next().unwrap_or_default().to_owned();
    (status, text)
}

/// A helper script next to this file.
fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/apps")
        .join(name)
}

/// Runs `code` in a new kernel of the Jupyter server at `port` (after loading `page` for its
/// XSRF cookie); returns the kernel id and what the code printed.
pub(crate) fn run_in_kernel(port: u16, page: &str, code: &str) -> (String, String) {
    let out = Command::new("python3")
        .arg(script("run_code.py"))
        .args([&format!("http://127.0.0.1:{port}"), page, code])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "run_code.py failed ({}): {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let (first, printed) = stdout.split_once('\n').unwrap_or((&stdout, ""));
    let kernel = first.strip_prefix("kernel ").unwrap_or_default().to_owned();
    assert!(!kernel.is_empty(), "no kernel id in {stdout:?}");
    (kernel, printed.to_owned())
}

/// The config file named by `--config` on the command line of the process running `module`
/// (`python -m <module>`) in `dir`.
pub(crate) fn config_file_of(dir: &Path, module: &str) -> PathBuf {
    let wanted = format!(" -m {module} ");
    let (_, cmdline) = processes_in(dir, 0)
        .into_iter()
        .find(|(_, c)| c.contains(&wanted))
        .unwrap_or_else(|| panic!("no {module} process in {}", dir.display()));
    let after = cmdline.split(" --config ").nth(1).unwrap_or_default();
    PathBuf::from(after.split(' ').next().unwrap_or_default())
}

/// The sections the Jupyter config file `path` sets when `versions` (distribution → version)
/// are what is installed.
pub(crate) fn config_under(path: &Path, versions: &Value) -> Value {
    let out = Command::new("python3")
        .arg(script("config_under.py"))
        .arg(path)
        .arg(versions.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "config_under.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Whether Debian's Chromium is installed; skips (or, in CI, fails) the check when not.
pub(crate) fn have_chromium() -> bool {
    require("chromium (Debian's package)", Path::new(CHROMIUM).exists())
}

/// Loads `url` in headless Chromium until `selector` shows; returns what `browse.py` printed
/// (the title and the element's text). Saves a screenshot to `shot` if given.
pub(crate) fn browse(url: &str, selector: &str, shot: Option<&Path>) -> String {
    let mut cmd = Command::new("python3");
    cmd.arg(script("browse.py")).args([CHROMIUM, url, selector]);
    if let Some(shot) = shot {
        cmd.arg(shot);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the browser did not find {selector} at {url}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Processes other than `except` whose working directory is `dir`, as (pid, command line).
pub(crate) fn processes_in(dir: &Path, except: i32) -> Vec<(i32, String)> {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != except)
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c == dir))
        .filter_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            // A zombie (already exited, not yet reaped) has an empty command line.
            (!cmdline.is_empty())
                .then(|| (pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")))
        })
        .collect()
}

/// Pids of live processes whose command line contains `text`.
pub(crate) fn processes_with(text: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(text))
        })
        .collect()
}

/// Waits until `check` returns an empty list, at most `timeout`; returns what is left.
pub(crate) fn gone_within<T>(timeout: Duration, mut check: impl FnMut() -> Vec<T>) -> Vec<T> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = check();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `shutdown-service` for `name`, then checks that nothing the app started is left: no
/// process working in the session directory but the runner (the app, its helpers, the
/// kernels in their own sessions), and nothing listening on `port`.
pub(crate) fn shut_down_leaving_nothing(app: &App, name: &str, port: u16) {
    app.send("shutdown-service", json!(name).to_string());
    let left = gone_within(Duration::from_secs(15), || {
        processes_in(app.work.path(), app.pid())
    });
    assert!(left.is_empty(), "left behind by {name}: {left:?}");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still open"
    );
}
