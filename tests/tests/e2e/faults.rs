//! Faults at the wire: an agent that stops reading, floods of ops, messages over the size
//! limit, and clients of the user-input socket that no task asked for (README "Faults and
//! limits", docs/protocol.md §1.4, §1.5, §5.6, §5.11).
//!
//! Memory is read from `/proc/<pid>/status` (`VmRSS`, `VmHWM`); the bounds are several times
//! what the runner is expected to hold, and far below what it held without the limits.

use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use krunner_agent_client::{
    Client, ClientOptions, InputSocket, KrunnerCommand, Ports, RunnerProcess,
};
use krunner_tests::{Options, Runner};

const MIB: usize = 1 << 20;

/// A runner started without the harness's client, so that a test decides who reads.
struct Bare {
    process: RunnerProcess,
    ports: Ports,
    work: tempfile::TempDir,
    config: tempfile::TempDir,
}

impl Bare {
    fn start(language: &str, args: &[&str]) -> Self {
        Self::start_with(language, args, |_| {})
    }

    /// Starts a runner (retrying on new ports if one was taken meanwhile) and waits until it
    /// answers `status` to a client that then disconnects.
    fn start_with(language: &str, args: &[&str], prepare: impl Fn(&mut Command)) -> Self {
        let art = krunner_tests::artifacts();
        let mut last_log = String::new();
        for _ in 0..3 {
            let work = tempfile::tempdir().unwrap();
            let config = tempfile::tempdir().unwrap();
            let ports = Ports::free().unwrap();
            let mut k = KrunnerCommand::new(&art.krunner, language);
            k.plugin_dirs = vec![art.plugin_dir.clone()];
            k.config_dir = config.path().to_path_buf();
            k.args = args.iter().map(Into::into).collect();
            if args.contains(&"--input-socket") {
                k.input_socket = InputSocket::AsArgsSay;
            }
            let log = File::create(config.path().join("runner.log")).unwrap();
            let mut cmd = k.command(ports);
            cmd.current_dir(work.path())
                .env_remove("KRUNNER_PLUGIN_PATH")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log);
            prepare(&mut cmd);
            let process = RunnerProcess::spawn(&mut cmd).unwrap();
            let mut bare = Bare {
                process,
                ports,
                work,
                config,
            };
            if bare.ready() {
                return bare;
            }
            last_log = bare.log();
        }
        panic!("the runner did not start; its log:\n{last_log}");
    }

    fn ready(&mut self) -> bool {
        let agent = self.agent(None);
        agent.send("status", b"").unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(m) = agent.recv(Duration::from_millis(100)).unwrap() {
                if m.kind == "status" {
                    return true;
                }
            }
            if self.process.try_wait().unwrap().is_some() {
                return false;
            }
        }
        false
    }

    /// A client as the agent connects one; `receive_hwm` limits what it buffers unread.
    fn agent(&self, receive_hwm: Option<i32>) -> Client {
        let mut options = ClientOptions::default()
            .linger(Duration::ZERO)
            .reconnect_interval(Duration::from_millis(50));
        options.receive_hwm = receive_hwm;
        Client::connect(self.ports, &options).unwrap()
    }

    /// A bare PUSH socket to the ops port, holding at most `hwm` unsent messages.
    fn pusher(&self, hwm: i32) -> (zmq::Context, zmq::Socket) {
        let ctx = zmq::Context::new();
        let push = ctx.socket(zmq::PUSH).unwrap();
        push.set_sndhwm(hwm).unwrap();
        push.set_linger(0).unwrap();
        push.connect(&format!("tcp://127.0.0.1:{}", self.ports.repl_in))
            .unwrap();
        (ctx, push)
    }

    fn pid(&self) -> i32 {
        self.process.pid().unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.config.path().join("runner.log")).unwrap_or_default()
    }

    /// SIGTERM; returns the exit code and how long it took (SIGKILL after 10 s).
    fn terminate(&mut self) -> (Option<i32>, Duration) {
        let end = self.process.terminate().unwrap();
        (end.code, end.took)
    }
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
fn memory_kib(pid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Whether `pid` is gone or a zombie.
fn dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// Waits until the process whose pid the task wrote to `writer.pid` has been sleeping in
/// `write` for a while: its output pipe is full, so everything between it and the agent is.
fn wait_blocked_writer(bare: &Bare) -> i32 {
    let pid_file = bare.work.path().join("writer.pid");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut streak = 0;
    while Instant::now() < deadline {
        let pid: Option<i32> = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|p| p.trim().parse().ok());
        if let Some(pid) = pid {
            let syscall =
                std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
            let nr = syscall.split_whitespace().next().unwrap_or("");
            streak = if nr == libc::SYS_write.to_string() {
                streak + 1
            } else {
                0
            };
            if streak >= 5 {
                return pid;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "the task never blocked writing; runner log:\n{}",
        bare.log()
    );
}

/// Waits until `progress` has not moved for `quiet`; returns its value.
fn wait_stalled(progress: &AtomicUsize, total: usize, quiet: Duration) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = (progress.load(Ordering::SeqCst), Instant::now());
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let now = progress.load(Ordering::SeqCst);
        if now == total {
            return now;
        }
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= quiet {
            return now;
        }
    }
    progress.load(Ordering::SeqCst)
}

const BLOCKED_WRITER: &str = "echo $$ > writer.pid; exec yes";

/// Row: a task streams output, the agent is connected but does not read, then SIGTERM.
#[test]
fn sigterm_with_a_connected_agent_that_does_not_read() {
    let mut r = Bare::start("app", &[]);
    let agent = r.agent(Some(1));
    agent.send("exec", BLOCKED_WRITER).unwrap();
    wait_blocked_writer(&r);
    let held_mib = memory_kib(r.pid(), "VmRSS") / 1024;
    eprintln!("measured: RSS {held_mib} MiB while the output waits");
    assert!(
        held_mib < 160,
        "the runner holds {held_mib} MiB of output for an agent that does not read"
    );
    let (code, took) = r.terminate();
    eprintln!("measured: shutdown took {took:?}");
    assert_eq!(code, Some(0), "log:\n{}", r.log());
    assert!(
        took < Duration::from_secs(6),
        "shutdown took {took:?}; log:\n{}",
        r.log()
    );
    let log = r.log();
    assert!(
        log.contains("were not delivered"),
        "undelivered output is not counted:\n{log}"
    );
    drop(agent);
}

/// Row: the same with nobody connected to the results port at all.
#[test]
fn sigterm_with_nobody_connected() {
    let mut r = Bare::start("app", &[]);
    let (_ctx, push) = r.pusher(1000);
    push.send_multipart(["exec", BLOCKED_WRITER], 0).unwrap();
    wait_blocked_writer(&r);
    let (code, took) = r.terminate();
    eprintln!("measured: shutdown took {took:?}");
    assert_eq!(code, Some(0), "log:\n{}", r.log());
    assert!(
        took < Duration::from_secs(6),
        "shutdown took {took:?}; log:\n{}",
        r.log()
    );
    assert!(r.log().contains("were not delivered"), "log:\n{}", r.log());
}

/// Row: nobody reads; an OOM event (whose warning cannot reach the console: the task's many
/// small writes fill the outbound queue) and an interrupt still stop the task, including one
/// that ignores SIGINT (its SIGKILL comes with a warning too), and SIGTERM is still handled.
#[test]
fn interrupt_and_events_are_handled_while_nobody_reads() {
    let mut r = Bare::start("app", &["--interrupt-grace", "0.3"]);
    let (_ctx, push) = r.pusher(1000);
    let writer = "echo $$ > writer.pid; trap '' INT; while :; do echo x; done";
    push.send_multipart(["exec", writer], 0).unwrap();
    let writer = wait_blocked_writer(&r);
    push.send_multipart(["event", r#"{"type":"oom","data":{}}"#], 0)
        .unwrap();
    push.send_multipart(["interrupt", ""], 0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(8);
    while !dead(writer) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        dead(writer),
        "the task survived the interrupt; log:\n{}",
        r.log()
    );
    let (code, took) = r.terminate();
    eprintln!("measured: shutdown took {took:?}");
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(6), "shutdown took {took:?}");
    let log = r.log();
    assert!(log.contains("out-of-memory detected"), "{log}");
    assert!(log.contains("ignored SIGINT; sending SIGKILL"), "{log}");
    assert!(
        log.contains("warnings are not shown on the console"),
        "{log}"
    );
}

/// Row: 80 `exec` ops of 8 MiB queued behind a running task. The runner stops taking ops
/// once its budget is spent (the agent's socket pushes back), stays small, and runs every
/// one of them afterwards.
#[test]
fn a_flood_of_large_tasks_waits_in_the_agents_socket() {
    let r = Bare::start("app", &["--max-message-size", "16M"]);
    let agent = r.agent(None);
    agent
        .send(
            "exec",
            "echo started; while [ ! -e go ]; do sleep 0.05; done",
        )
        .unwrap();
    let m = agent
        .recv(Duration::from_secs(20))
        .unwrap()
        .expect("output");
    assert_eq!(m.text(), "started\n");
    let total = 80;
    let progress = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (ctx, push) = r.pusher(1);
        let progress = Arc::clone(&progress);
        std::thread::spawn(move || {
            let mut payload = b"true ".to_vec();
            payload.resize(8 * MIB, b'#');
            for i in 0..total {
                push.send_multipart([&b"exec"[..], &payload[..]], 0)
                    .unwrap();
                progress.store(i + 1, Ordering::SeqCst);
            }
            // What is still queued here must reach the runner.
            push.set_linger(60_000).unwrap();
            drop((push, ctx));
        })
    };
    let taken = wait_stalled(&progress, total, Duration::from_millis(1500));
    let rss_mib = memory_kib(r.pid(), "VmRSS") / 1024;
    eprintln!("measured: {taken} of {total} ops taken, RSS {rss_mib} MiB");
    assert!(
        taken < total,
        "the runner took all {total} ops while its queue was full"
    );
    assert!(
        rss_mib < 250,
        "the runner holds {rss_mib} MiB for queued ops"
    );
    std::fs::write(r.work.path().join("go"), b"").unwrap();
    let mut finished = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while finished < total + 1 && Instant::now() < deadline {
        if let Some(m) = agent.recv(Duration::from_millis(200)).unwrap() {
            finished += usize::from(m.kind == "finished");
        }
    }
    sender.join().unwrap();
    assert_eq!(
        finished,
        total + 1,
        "every queued task ran; log:\n{}",
        r.log()
    );
    let peak_mib = memory_kib(r.pid(), "VmHWM") / 1024;
    eprintln!("measured: peak RSS {peak_mib} MiB");
    assert!(peak_mib < 300, "peak RSS {peak_mib} MiB");
}

/// Row: 40 inputs of 8 MiB that nobody reads: the input queue keeps what fits (16 MiB here)
/// and refuses the rest with an error in the log.
#[test]
fn a_flood_of_large_inputs_is_bounded() {
    let r = Bare::start("app", &["--max-message-size", "16M"]);
    let agent = r.agent(None);
    let (_ctx, push) = r.pusher(2);
    let text = "x".repeat(8 * MIB);
    for _ in 0..40 {
        push.send_multipart(["input", &text], 0).unwrap();
    }
    // Ops are handled in order: the last input was handled when this task has run.
    push.send_multipart(["exec", "echo done"], 0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut done = false;
    while !done && Instant::now() < deadline {
        if let Some(m) = agent.recv(Duration::from_millis(200)).unwrap() {
            done = m.kind == "finished";
        }
    }
    assert!(done, "log:\n{}", r.log());
    let peak_mib = memory_kib(r.pid(), "VmHWM") / 1024;
    eprintln!("measured: peak RSS {peak_mib} MiB");
    assert!(peak_mib < 200, "peak RSS {peak_mib} MiB");
    let refused = r.log().matches("dropped an input of 8388608 bytes").count();
    assert_eq!(refused, 38, "log:\n{}", r.log());
    // What was kept is delivered.
    agent.send("exec", "head -c 3; echo").unwrap();
    let mut out = String::new();
    loop {
        let m = agent
            .recv(Duration::from_secs(20))
            .unwrap()
            .expect("a message");
        if m.kind == "finished" {
            break;
        }
        if m.kind == "stdout" {
            out.push_str(&m.text());
        }
    }
    assert_eq!(out, "xxx\n");
}

/// Row: hundreds of thousands of `status` and `complete` (600k and 30k here: completions are
/// answered one at a time by the plugin, which only makes the test slow) while the agent does
/// not read: the runner stops taking requests once it owes a bounded number of replies, and
/// answers every one of them once the agent reads.
#[test]
fn a_flood_of_requests_nobody_reads_is_bounded_and_answered() {
    let r = Bare::start("app", &[]);
    let agent = r.agent(None);
    let rounds = 300_000;
    let progress = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (ctx, push) = r.pusher(1000);
        let progress = Arc::clone(&progress);
        std::thread::spawn(move || {
            for i in 0..rounds {
                push.send_multipart(["status", ""], 0).unwrap();
                push.send_multipart(["status", ""], 0).unwrap();
                if i % 10 == 0 {
                    push.send_multipart(["complete", "{}"], 0).unwrap();
                }
                progress.store(i + 1, Ordering::SeqCst);
            }
            push.set_linger(5000).unwrap();
            drop((push, ctx));
        })
    };
    wait_stalled(&progress, rounds, Duration::from_millis(1500));
    let rss_mib = memory_kib(r.pid(), "VmRSS") / 1024;
    eprintln!("measured: RSS {rss_mib} MiB with unread replies");
    assert!(
        rss_mib < 25,
        "the runner holds {rss_mib} MiB of unread replies"
    );
    let (mut status, mut completion) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while (status < 2 * rounds || completion < rounds / 10) && Instant::now() < deadline {
        match agent.recv(Duration::from_millis(500)).unwrap() {
            Some(m) if m.kind == "status" => status += 1,
            Some(m) if m.kind == "completion" => completion += 1,
            _ => {}
        }
    }
    sender.join().unwrap();
    assert_eq!(
        (status, completion),
        (2 * rounds, rounds / 10),
        "log:\n{}",
        r.log()
    );
    let peak_mib = memory_kib(r.pid(), "VmHWM") / 1024;
    eprintln!("measured: peak RSS {peak_mib} MiB");
    assert!(peak_mib < 25, "peak RSS {peak_mib} MiB");
}

/// Row: one frame of 600 MiB. It is far over the hard cap (4 × the 64 MiB default), so ZeroMQ
/// refuses it and drops that connection; the runner never holds it and keeps serving.
#[test]
fn a_frame_over_the_hard_cap_is_never_held() {
    let r = Bare::start("app", &[]);
    let agent = r.agent(None);
    let (ctx, push) = r.pusher(1);
    // Zeroed pages that are never written cost this process no memory, and the message
    // takes the buffer without a copy.
    let huge = zmq::Message::from(vec![0u8; 600 * MIB]);
    push.send("exec", zmq::SNDMORE).unwrap();
    push.send(huge, 0).unwrap();
    // The agent's other connection is served throughout.
    for _ in 0..20 {
        agent.send("status", b"").unwrap();
        let m = agent
            .recv(Duration::from_secs(10))
            .unwrap()
            .expect("status");
        assert_eq!(m.kind, "status");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop((push, ctx));
    agent.send("exec", "echo still here").unwrap();
    let m = agent
        .recv(Duration::from_secs(20))
        .unwrap()
        .expect("output");
    assert_eq!(m.text(), "still here\n");
    let peak_mib = memory_kib(r.pid(), "VmHWM") / 1024;
    eprintln!("measured: peak RSS {peak_mib} MiB");
    assert!(
        peak_mib < 100,
        "peak RSS {peak_mib} MiB: the frame was held"
    );
}

/// Every op over `--max-message-size` is rejected with a logged error and still gets what it
/// owes: a task its terminal message (126, with a line on stderr), a request its reply.
#[test]
fn ops_over_the_size_limit_get_what_they_owe() {
    let r = Runner::start_with(
        "app",
        Options {
            args: vec!["--max-message-size".into(), "1M".into()],
            ..Options::default()
        },
    );
    let big = "#".repeat(2 * MIB);
    // A rejected task counts as one that failed: the build fails the build gate, which the
    // clean after it clears.
    for (op, terminal) in [
        ("exec", "finished"),
        ("code", "finished"),
        ("build", "build-finished"),
        ("clean", "clean-finished"),
    ] {
        let out = r.run(op, &big);
        let last = out.messages.last().unwrap();
        assert_eq!(last.kind, terminal);
        assert_eq!(last.json(), serde_json::json!({"exitCode": 126}), "{op}");
        let stderr = out.stderr_text();
        assert!(
            stderr.contains(&format!(
                "the {op} request (2.0 MiB) is larger than this runner accepts (1 MiB)"
            )),
            "{op}: {stderr:?}"
        );
    }
    let replies = [
        ("complete", "completion"),
        ("start-service", "service-result"),
        ("get-apps", "apps-result"),
        ("start-model-service", "model-service-result"),
        ("status", "status"),
    ];
    for (op, reply) in replies {
        r.send(op, &big);
        let m = r.expect(Duration::from_secs(10));
        assert_eq!(m.kind, reply, "{op}");
        if reply == "service-result" || reply == "model-service-result" {
            assert_eq!(m.json()["status"], "failed");
            assert!(m.json()["error"]
                .as_str()
                .unwrap()
                .contains("more than the runner accepts"));
        }
    }
    // Dropped inputs and interrupts with big payloads change nothing.
    r.send("input", &big);
    r.send("interrupt", &big);
    let out = r.run("exec", "echo ok");
    assert_eq!(out.stdout_text(), "ok\n");
    let log = r.log();
    assert!(
        log.contains("\"input\" of 2097157 bytes is larger than the limit"),
        "{log}"
    );
    assert!(log.contains("rejected \"exec\" of 2097156 bytes"), "{log}");
}

/// A frame between the size limit and the hard cap is answered; one over the hard cap costs
/// its connection (the agent reconnects) and nothing else.
#[test]
fn a_frame_over_the_hard_cap_drops_only_its_connection() {
    let r = Runner::start_with(
        "app",
        Options {
            args: vec!["--max-message-size".into(), "1M".into()],
            ..Options::default()
        },
    );
    r.send("complete", "#".repeat(5 * MIB));
    assert!(
        r.recv(Duration::from_millis(500)).is_none(),
        "no reply without the request"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        r.send("status", b"");
        if let Some(m) = r.recv(Duration::from_millis(500)) {
            assert_eq!(m.kind, "status");
            break;
        }
        assert!(Instant::now() < deadline, "the agent could not reconnect");
    }
    let out = r.run("exec", "echo ok");
    assert_eq!(out.stdout_text(), "ok\n");
}

/// Row: a client of the user-input socket while no task runs is closed at once; it neither
/// makes the agent ask for input nor takes the input of the next task.
#[test]
fn the_input_socket_serves_only_running_tasks() {
    let r = Runner::start("app");
    let path = r.config.path().join("user-input.sock");
    let mut stray = std::os::unix::net::UnixStream::connect(&path).unwrap();
    stray
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let read = stray.read_to_end(&mut got);
    assert!(
        matches!(read, Ok(0)),
        "the stray connection was kept: {read:?}"
    );
    r.send("exec", "read x; echo got $x");
    r.send("input", "hello");
    let out = r.until_finished(Duration::from_secs(20));
    assert_eq!(out.stdout_text(), "got hello\n");
    assert!(
        r.recv(Duration::from_millis(300)).is_none(),
        "an unsolicited message followed"
    );
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("SKIPPED: needs root to act as two users");
    }
    root
}

/// A world-writable sticky directory like `/tmp`.
fn sticky_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    dir
}

/// Whether uid 65534 can connect to the unix socket at `path`.
fn nobody_can_connect(path: &Path) -> bool {
    let script = format!(
        "import socket; s = socket.socket(socket.AF_UNIX); s.connect({:?})",
        path.display().to_string()
    );
    Command::new("python3")
        .args(["-c", &script])
        .uid(65534)
        .gid(65534)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// Suspicion: another user can use the socket. Even when the runner starts with umask 0, its
/// socket is its user's alone.
#[test]
fn the_input_socket_is_private_whatever_the_umask() {
    if !is_root() || !krunner_tests::require("python3", krunner_tests::python_has("socket")) {
        return;
    }
    let dir = sticky_dir();
    let path = dir.path().join("bai-user-input.sock");
    let socket = path.display().to_string();
    let mut r = Bare::start_with("app", &["--input-socket", &socket], |cmd| {
        // SAFETY: umask is async-signal-safe and cannot fail.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0);
                Ok(())
            })
        };
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    use std::os::unix::fs::MetadataExt;
    let mode = std::fs::symlink_metadata(&path).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o600, "socket mode {mode:o}");
    assert!(
        !nobody_can_connect(&path),
        "another user connected to the input socket"
    );
    r.terminate();
    assert!(!path.exists());
}

/// Suspicion: another user can squat the path. Confirmed for a path another user created
/// first in a sticky directory: the runner cannot take it over. It says so, naming the
/// owner, and keeps serving.
#[test]
fn a_squatted_input_socket_is_reported_and_left_alone() {
    if !is_root() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let dir = sticky_dir();
    let path = dir.path().join("bai-user-input.sock");
    let squatter = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let inode = std::fs::metadata(&path).unwrap().ino();
    let r = Runner::start_with(
        "app",
        Options {
            args: vec!["--input-socket".into(), path.display().to_string()],
            user: Some((65534, 65534)),
            ..Options::default()
        },
    );
    r.status();
    let log = r.log();
    assert!(
        log.contains("belongs to uid 0 and this runner (uid 65534) may not replace it"),
        "{log}"
    );
    assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
    let out = r.run("exec", "echo serving");
    assert_eq!(out.stdout_text(), "serving\n");
    drop(squatter);
}
