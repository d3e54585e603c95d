//! Startup and shutdown.

use std::time::Duration;

use krunner_tests::{Options, Runner};

fn process_exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[test]
fn sigterm_stops_the_task_flushes_and_exits_zero() {
    let mut r = Runner::start("app");
    r.send("exec", "echo before; sleep 30");
    let first = r.expect(Duration::from_secs(5));
    assert_eq!(first.text(), "before\n");
    let pid_file = r.work.path().join("child.pid");
    // The task's process group must be gone after shutdown: find the sleeping child.
    let children = std::fs::read_to_string(format!("/proc/{}/task/{}/children", r.pid(), r.pid()))
        .unwrap_or_default();
    let _ = std::fs::write(&pid_file, &children);
    let (code, took) = r.terminate();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    // The running task was answered before exit.
    let mut saw_finished = false;
    while let Some(m) = r.recv(Duration::from_millis(200)) {
        if m.kind == "finished" {
            saw_finished = true;
        }
    }
    assert!(
        saw_finished,
        "the interrupted task must still get its finished message"
    );
    for pid in children
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        assert!(!process_exists(pid), "child {pid} survived shutdown");
    }
}

#[test]
fn idle_runner_exits_quickly_on_sigint_too() {
    let mut r = Runner::start("c");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(r.pid(), libc::SIGINT) };
    let (code, took) = r.terminate();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(3));
}

#[test]
fn command_line_hides_runtime_path() {
    let r = Runner::start_with(
        "c",
        Options {
            runtime_path: Some("/usr/bin/python3".into()),
            ..Options::default()
        },
    );
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", r.pid())).unwrap();
    let shown = String::from_utf8_lossy(&cmdline);
    assert!(
        !shown.contains("python"),
        "`pkill -f python` would match: {shown:?}"
    );
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", r.pid())).unwrap();
    assert_eq!(comm.trim(), "krunner");
    r.status();
}

#[test]
fn missing_language_lists_what_exists() {
    let art = krunner_tests::artifacts();
    let out = std::process::Command::new(&art.krunner)
        .args(art.plugin_dir_args("c"))
        .arg("--repl-in-port")
        .arg(krunner_tests::free_port().to_string())
        .arg("--repl-out-port")
        .arg(krunner_tests::free_port().to_string())
        .arg("cobol")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("libkernel_cobol.so"), "{err}");
    assert!(
        err.contains("languages found: app, ") && err.contains(", cpp,"),
        "{err}"
    );
    assert!(
        err.contains(&art.shipped_dir().display().to_string()),
        "{err}"
    );
}

#[test]
fn run_client_drives_a_runner_and_returns_the_exit_code() {
    let art = krunner_tests::artifacts();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.c"),
        "#include <stdio.h>\nint main(void){ printf(\"client ok\\n\"); return 5; }\n",
    )
    .unwrap();
    let out = std::process::Command::new(&art.krunner)
        .current_dir(dir.path())
        .arg("run")
        .args(art.plugin_dir_args("c"))
        .args(["c", "--build", "*", "--exec", "*"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "client ok\n");
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn run_client_answers_input_from_its_stdin() {
    use std::io::Write;
    let art = krunner_tests::artifacts();
    let mut child = std::process::Command::new(&art.krunner)
        .arg("run")
        .args(art.plugin_dir_args("panicky"))
        .args(["panicky", "--code", "ask name? "])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"world\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "name? hello world\n");
    assert_eq!(out.status.code(), Some(0));
}
