//! Test harness for krunner's end-to-end tests.
//!
//! [`artifacts`] builds the host and the plugins through cargo (`cargo test` does not build
//! `cdylib` crates), or takes them from an unpacked distribution (`KRUNNER_TEST_DIST`). [`Runner`] starts a real `krunner` process on free loopback ports in a
//! scratch working directory and talks to it over real ZeroMQ sockets, exactly like the
//! Backend.AI agent does, through `krunner_agent_client`; [`Message`] and [`Outcome`] are
//! that crate's. Everything here panics instead of returning errors: it is for tests.

mod artifacts;
pub mod pty;
mod runner;
pub mod tmux;

use std::process::{Command, Stdio};

pub use artifacts::{artifacts, build_external_plugin, workspace, Artifacts, DIST_VAR};
pub use krunner_agent_client::{Message, Outcome};
pub use runner::{Options, Runner};

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

/// CPU seconds (user + system) process `pid` has used so far, from `/proc/<pid>/stat` (in clock
/// ticks, usually 10 ms).
pub fn cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/stat: {e}"));
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<f64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // utime and stime, fields 14 and 15 of stat, are the 12th and 13th after the name.
    let ticks = fields[11] + fields[12];
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// How many threads process `pid` has now.
pub fn thread_count(pid: i32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no thread count in /proc/{pid}/status"))
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    krunner_agent_client::free_port().unwrap_or_else(|e| panic!("{}", describe(&e)))
}

/// Decodes the msgpack `status` payload, checking its exact shape.
pub fn decode_status(payload: &[u8]) -> f64 {
    krunner_agent_client::decode_status(payload)
        .unwrap_or_else(|e| panic!("malformed status reply ({e}): {payload:?}"))
}

/// An error and its sources, `: `-separated (panic messages show the whole chain).
pub(crate) fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// Waits until a process whose command line is exactly `argv` exists (at most `timeout`);
/// whether it appeared. Tests use it to act only once a program has really started, not
/// while the shell that starts it is between `fork` and `exec`.
pub fn wait_for_process(argv: &[&str], timeout: std::time::Duration) -> bool {
    let wanted: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        let found = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == wanted));
        if found {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    false
}
