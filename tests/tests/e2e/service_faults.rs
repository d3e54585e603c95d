//! Services under faults: prestart commands that print too much, definitions that are not
//! regular files, names no thread may carry, starts cut short by their deadline, services that
//! exit at once (reported with their last lines), leave children behind or ignore SIGTERM,
//! and prestart files behind symbolic links.
//!
//! "Nothing left behind" is checked the way an operator would: by looking in /proc for a
//! marker that only this test's processes carry on their command line.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use krunner_tests::{free_port, Options};
use serde_json::{json, Value};

use super::services::{expect_kind, port_closed_within, runner_with, service, start, web_def};

/// A string only this test's processes carry on their command line; whatever still carries
/// it when the test ends, passed or failed, is killed.
struct Mark(String);

impl std::ops::Deref for Mark {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Drop for Mark {
    fn drop(&mut self) {
        for (pid, _) in carrying(&self.0) {
            // SAFETY: kill has no memory effects.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

fn marker(tag: &str) -> Mark {
    Mark(format!("krunner-mark-{}-{tag}", std::process::id()))
}

/// A shell command that sleeps for five minutes carrying `mark`.
fn sleeper(mark: &str) -> String {
    format!("python3 -c 'import time; time.sleep(300)' {mark}")
}

/// Live processes whose command line contains `mark`, as (pid, command line).
fn carrying(mark: &str) -> Vec<(i32, String)> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()) && *name != me)
        .filter_map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let line = String::from_utf8_lossy(&raw).replace('\0', " ");
            line.contains(mark)
                .then(|| Some((pid.parse().ok()?, line.trim().to_owned())))
                .flatten()
        })
        .collect()
}

/// Waits until a process carrying `mark` runs.
fn wait_running(mark: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !carrying(mark).is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Asserts that no process carrying `mark` is left `within` from now.
fn assert_none_left(mark: &str, within: Duration, context: &str) {
    let deadline = Instant::now() + within;
    loop {
        let left = carrying(mark);
        if left.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("{context}: processes left behind: {left:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The runner's peak resident memory, in bytes.
fn peak_rss(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn a_prestart_command_that_prints_hundreds_of_megabytes_costs_little_memory() {
    let printed = 300_000_000u64;
    let def = json!({
        "command": ["true"],
        "noop": true,
        "prestart_actions": [
            {"action": "run_command", "ref": "big",
             "args": {"command": ["sh", "-c", format!("head -c {printed} /dev/zero; echo tail >&2")]}},
            {"action": "write_file",
             "args": {"filename": "big.txt", "body": ["{big[truncated]} {big[err]}"]}}
        ]
    });
    let r = runner_with(&[("big", def.to_string())], Options::default());
    let before = peak_rss(r.pid());
    assert_eq!(
        start(&r, service("big", free_port())),
        json!({"status": "started"})
    );
    let peak = peak_rss(r.pid());
    // 16 MiB kept per stream; the rest is read and dropped.
    assert!(
        peak < before + 100_000_000,
        "peak RSS grew from {before} to {peak} bytes for {printed} bytes of output"
    );
    let noted = std::fs::read_to_string(r.work.path().join("big.txt")).unwrap();
    assert_eq!(noted, "True tail\n\n");
}

#[test]
fn a_model_name_no_thread_can_carry_still_starts_and_stops_its_service() {
    let mark = marker("nul-name");
    let port = free_port();
    let mut r = runner_with(
        &[],
        Options {
            args: vec!["--service-timeout".into(), "2".into()],
            ..Options::default()
        },
    );
    let payload = json!({
        "name": "bad\u{0}name",
        "model_path": r.work.path().display().to_string(),
        "service": {"start_command": sleeper(&mark), "shell": "/bin/sh", "port": port},
    });
    r.send("start-model-service", payload.to_string());
    // A slow loader is reported started after the budget, and stays registered.
    let reply = expect_kind(&r, "model-service-result", Duration::from_secs(20)).json();
    assert_eq!(reply, json!({"status": "started"}), "log:\n{}", r.log());
    assert!(wait_running(&mark, Duration::from_secs(5)));
    let health = expect_kind(&r, "model-service-status", Duration::from_secs(5)).json();
    assert_eq!(
        health,
        json!({"model_name": "bad\u{0}name", "is_healthy": true})
    );
    let (code, _) = r.runner.terminate();
    assert_eq!(code, Some(0));
    assert_none_left(&mark, Duration::from_secs(3), "after the runner's shutdown");
}

fn mkfifo(path: &std::path::Path) {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

#[test]
fn definitions_that_are_not_small_regular_files_neither_block_nor_flood_the_runner() {
    let mut r = runner_with(&[("web", web_def())], Options::default());
    let defs = r.defs.path().to_path_buf();
    mkfifo(&defs.join("x.json"));
    std::os::unix::fs::symlink("/dev/zero", defs.join("z.json")).unwrap();
    std::fs::write(defs.join("huge.json"), vec![b' '; 2 << 20]).unwrap();
    for filter in ["", "web", "x"] {
        r.send("get-apps", filter);
    }
    let names = |m: Value| -> Vec<String> {
        m["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let lists: Vec<Vec<String>> = (0..3)
        .map(|_| names(expect_kind(&r, "apps-result", Duration::from_secs(5)).json()))
        .collect();
    assert_eq!(lists, [vec!["web"], vec!["web"], vec![]]);
    // The receive loop and the task thread are free.
    let exec = r.run("exec", "echo still here");
    assert_eq!(exec.stdout_text(), "still here\n");
    for (name, why) in [
        ("x", "not a regular file"),
        ("z", "not a regular file"),
        ("huge", "larger than"),
    ] {
        let reply = start(&r, service(name, free_port()));
        let error = reply["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with("InvalidServiceDefinition(") && error.contains(why),
            "{name}: {reply}"
        );
    }
    let (code, took) = r.runner.terminate();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
}

#[test]
fn a_start_cut_short_by_its_deadline_stops_what_it_spawned() {
    let mark = marker("stuck");
    // Three slow prestart steps while a `slow` file exists: each within --service-timeout (4 s),
    // together 5.1 s, so the deadline (4 + 4 s) passes during the port wait (4 s).
    let step = json!({"action": "run_command",
        "args": {"command": ["sh", "-c", "test -e slow && sleep 1.7; true"]}});
    let def = json!({
        "command": ["sh", "-c", format!("exec {}", sleeper(&mark))],
        "prestart_actions": [step, step, step],
    });
    let r = runner_with(
        &[("stuck", def.to_string())],
        Options {
            args: vec!["--service-timeout".into(), "4".into()],
            files: vec![("slow".into(), Vec::new())],
            ..Options::default()
        },
    );
    r.send("start-service", service("stuck", free_port()).to_string());
    assert!(
        wait_running(&mark, Duration::from_secs(15)),
        "the service was never spawned; log:\n{}",
        r.log()
    );
    let reply = expect_kind(&r, "service-result", Duration::from_secs(15)).json();
    assert_eq!(
        reply,
        json!({"status": "failed", "error": "starting the service took too long: stuck"})
    );
    assert_none_left(&mark, Duration::from_secs(5), "after the deadline");
    // It was forgotten too: the next start runs it again instead of answering `running`.
    std::fs::remove_file(r.work.path().join("slow")).unwrap();
    assert_eq!(
        start(&r, service("stuck", free_port())),
        json!({"status": "failed", "error": "opening the service port timed out: stuck"})
    );
    assert_none_left(&mark, Duration::from_secs(5), "after the port wait");
}

#[test]
fn a_service_that_exits_early_is_reported_with_its_last_lines() {
    // Twenty lines on two streams; the error keeps the last twelve the host read. The two
    // pipes are read apart, so only each stream's own order is certain.
    let script = "for i in $(seq 1 10); do echo out $i; echo err $i >&2; done; exit 2";
    let r = runner_with(
        &[(
            "chatty",
            json!({"command": ["sh", "-c", script]}).to_string(),
        )],
        Options::default(),
    );
    let reply = start(&r, service("chatty", free_port()));
    let error = reply["error"].as_str().unwrap();
    let (first, rest) = error.split_once('\n').unwrap();
    assert_eq!(
        first,
        "the service exited with exit code 2 before opening its port: chatty; its last output:"
    );
    let lines: Vec<&str> = rest.lines().collect();
    assert_eq!(lines.len(), 12, "{error}");
    for stream in ["out", "err"] {
        let numbers: Vec<u32> = lines
            .iter()
            .filter_map(|l| l.strip_prefix(stream)?.trim().parse().ok())
            .collect();
        assert_eq!(numbers.last(), Some(&10), "{error}");
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{error}");
    }
    // The output went to the container log as well.
    assert!(r.log().contains("err 1\n"), "{}", r.log());
}

#[test]
fn output_held_open_by_a_process_that_left_the_group_delays_the_error_only_briefly() {
    let mark = marker("held");
    let script = format!("echo why it stopped; setsid {} & exit 4", sleeper(&mark));
    let r = runner_with(
        &[("held", json!({"command": ["sh", "-c", script]}).to_string())],
        Options::default(),
    );
    let begun = Instant::now();
    let reply = start(&r, service("held", free_port()));
    assert_eq!(
        reply["error"],
        "the service exited with exit code 4 before opening its port: held; \
         its last output:\nwhy it stopped"
    );
    // The sleeper keeps the pipe open: the error waits half a second for the rest, no more.
    assert!(
        begun.elapsed() < Duration::from_secs(5),
        "{:?}",
        begun.elapsed()
    );
}

#[test]
fn a_service_that_exits_early_takes_its_background_children_along() {
    let mark = marker("early");
    let def = json!({"command": ["sh", "-c", format!("{} & exit 3", sleeper(&mark))]});
    let r = runner_with(&[("early", def.to_string())], Options::default());
    let reply = start(&r, service("early", free_port()));
    assert_eq!(
        reply["error"],
        "the service exited with exit code 3 before opening its port: early"
    );
    assert_none_left(&mark, Duration::from_secs(5), "after the failed start");
}

/// A web server whose background child ignores SIGTERM and carries `mark`.
fn stubborn_def(mark: &str) -> String {
    let script = format!(
        "(trap '' TERM; exec {}) & exec python3 -m http.server {{ports[0]}} --bind 127.0.0.1",
        sleeper(mark)
    );
    json!({"command": ["sh", "-c", script]}).to_string()
}

#[test]
fn stopping_services_and_the_runner_leaves_no_service_process_behind() {
    let (kept, stopped, preparing) = (marker("kept"), marker("stopped"), marker("preparing"));
    let prepare = json!({
        "command": ["true"],
        "prestart_actions": [{"action": "run_command",
            "args": {"command": ["sh", "-c", format!("exec {}", sleeper(&preparing))]}}],
    });
    let mut r = runner_with(
        &[
            ("kept", stubborn_def(&kept)),
            ("stopped", stubborn_def(&stopped)),
            ("preparing", prepare.to_string()),
        ],
        Options::default(),
    );
    let (kept_port, stopped_port) = (free_port(), free_port());
    assert_eq!(
        start(&r, service("kept", kept_port)),
        json!({"status": "started"})
    );
    assert_eq!(
        start(&r, service("stopped", stopped_port)),
        json!({"status": "started"})
    );
    assert!(wait_running(&stopped, Duration::from_secs(5)));
    r.send("shutdown-service", "\"stopped\"");
    assert!(port_closed_within(stopped_port, Duration::from_secs(5)));
    assert_none_left(&stopped, Duration::from_secs(6), "after shutdown-service");
    // A start still in its prestart command when the runner stops.
    r.send(
        "start-service",
        service("preparing", free_port()).to_string(),
    );
    assert!(wait_running(&preparing, Duration::from_secs(10)));
    assert!(wait_running(&kept, Duration::from_secs(5)));
    let (code, took) = r.runner.terminate();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    assert_none_left(&kept, Duration::from_secs(2), "after the runner's shutdown");
    assert_none_left(
        &preparing,
        Duration::from_secs(2),
        "after the runner's shutdown",
    );
}

/// The `IN_ATTRIB`/`IN_MODIFY` events of `path`, in order, from the moment this is called.
struct FileEvents(i32);

impl FileEvents {
    fn watch(path: &std::path::Path) -> Self {
        let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: plain syscalls on a descriptor this struct owns and a valid C string.
        unsafe {
            let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            assert!(fd >= 0);
            assert!(
                libc::inotify_add_watch(fd, c.as_ptr(), libc::IN_ATTRIB | libc::IN_MODIFY) >= 0
            );
            Self(fd)
        }
    }

    fn read(&self) -> Vec<&'static str> {
        let mut buf = [0u8; 4096];
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { libc::read(self.0, buf.as_mut_ptr().cast(), buf.len()) };
        let mut events = Vec::new();
        let mut at = 0usize;
        while n > 0 && at + 16 <= n as usize {
            let mask = u32::from_ne_bytes(buf[at + 4..at + 8].try_into().unwrap());
            let len = u32::from_ne_bytes(buf[at + 12..at + 16].try_into().unwrap()) as usize;
            if mask & libc::IN_ATTRIB != 0 {
                events.push("attrib");
            }
            if mask & libc::IN_MODIFY != 0 {
                events.push("modify");
            }
            at += 16 + len;
        }
        events
    }
}

impl Drop for FileEvents {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours.
        unsafe { libc::close(self.0) };
    }
}

#[test]
fn write_file_sets_the_mode_before_writing_and_never_follows_a_link() {
    let write = |file: &str| {
        json!({
            "command": ["true"], "noop": true,
            "prestart_actions": [{"action": "write_file",
                "args": {"filename": file, "body": ["s3cret"], "mode": "600"}}],
        })
        .to_string()
    };
    let r = runner_with(
        &[
            ("secret", write("secret.conf")),
            ("link", write("link.conf")),
        ],
        Options {
            files: vec![
                ("secret.conf".into(), b"old\n".to_vec()),
                ("victim.txt".into(), b"precious\n".to_vec()),
            ],
            ..Options::default()
        },
    );
    let secret = r.work.path().join("secret.conf");
    let victim = r.work.path().join("victim.txt");
    for file in [&secret, &victim] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::os::unix::fs::symlink(&victim, r.work.path().join("link.conf")).unwrap();
    let events = FileEvents::watch(&secret);
    assert_eq!(
        start(&r, service("secret", free_port())),
        json!({"status": "started"})
    );
    let seen = events.read();
    assert_eq!(seen.first(), Some(&"attrib"), "events: {seen:?}");
    assert!(seen.contains(&"modify"), "events: {seen:?}");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "s3cret\n");
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let reply = start(&r, service("link", free_port()));
    let error = reply["error"].as_str().unwrap_or_default();
    assert!(error.contains("symbolic link"), "{reply}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
}
