//! Subprocesses: ordering, throughput, raw bytes, interrupts.

use std::time::{Duration, Instant};

use krunner_tests::{wait_for_process, Options, Runner};

#[test]
fn twenty_queued_execs_never_interleave() {
    let r = Runner::start("app");
    for i in 0..20 {
        r.send(
            "exec",
            format!("for j in $(seq 1 200); do echo task{i}-line$j; echo task{i}-err$j >&2; done"),
        );
    }
    for i in 0..20 {
        let out = r.until_finished(crate::TASK);
        assert_eq!(out.exit_code(), Some(0));
        let expected: String = (1..=200).map(|j| format!("task{i}-line{j}\n")).collect();
        assert_eq!(out.stdout_text(), expected, "task {i}");
        let expected_err: String = (1..=200).map(|j| format!("task{i}-err{j}\n")).collect();
        assert_eq!(out.stderr_text(), expected_err, "task {i}");
    }
}

#[test]
fn fifty_megabytes_arrive_byte_exact() {
    let mut data = Vec::with_capacity(50_000_000);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while data.len() < 50_000_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(50_000_000);
    let r = Runner::start_with(
        "app",
        Options {
            files: vec![("blob.bin".into(), data.clone())],
            ..Options::default()
        },
    );
    let out = r.run("exec", "cat blob.bin");
    assert_eq!(out.exit_code(), Some(0));
    let got = out.stdout();
    assert_eq!(got.len(), data.len());
    assert!(got == data, "50 MB output differs");
    assert!(
        out.of("stdout").len() < 50_000_000 / 4096,
        "output must come in large chunks"
    );
}

#[test]
fn raw_bytes_pass_through_stdout() {
    let r = Runner::start("app");
    let out = r.run("exec", r"printf '\377\376\000abc\303'");
    assert_eq!(out.stdout(), b"\xff\xfe\x00abc\xc3");
}

#[test]
fn interrupt_stops_a_compound_shell_command() {
    let r = Runner::start("app");
    r.send("exec", "echo started; sleep 30.0163; echo should-not-print");
    assert_eq!(r.expect(Duration::from_secs(10)).text(), "started\n");
    // An interrupt that lands while the shell is between fork and exec is the shell's to
    // lose; this test is about the running command.
    assert!(wait_for_process(
        &["sleep", "30.0163"],
        Duration::from_secs(10)
    ));
    let started = Instant::now();
    r.send("interrupt", "");
    let out = r.until_finished(Duration::from_secs(10));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.exit_code(), Some(130));
    assert!(!out.stdout_text().contains("should-not-print"));
}

#[test]
fn interrupt_escalates_to_sigkill_when_ignored() {
    let r = Runner::start_with(
        "app",
        Options {
            args: vec!["--interrupt-grace".into(), "0.5".into()],
            ..Options::default()
        },
    );
    r.send("exec", "trap '' INT; echo started; sleep 30");
    assert_eq!(r.expect(Duration::from_secs(10)).text(), "started\n");
    let started = Instant::now();
    r.send("interrupt", "");
    let out = r.until_finished(Duration::from_secs(10));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.exit_code(), Some(137));
}

#[test]
fn interrupt_reaches_a_compiled_program_in_query_mode() {
    let r = Runner::start("c");
    r.send("code", "#include <unistd.h>\n#include <stdio.h>\nint main(void){ puts(\"started\"); fflush(stdout); for(;;) sleep(1); }");
    let first = r.expect(Duration::from_secs(30));
    assert_eq!(first.text(), "started\n");
    r.send("interrupt", "");
    let out = r.until_finished(Duration::from_secs(10));
    assert_eq!(out.exit_code(), Some(130));
}

#[test]
fn status_and_complete_are_answered_while_a_task_runs() {
    let r = Runner::start("panicky");
    r.send("code", "sh echo running; sleep 3");
    assert_eq!(r.expect(Duration::from_secs(10)).text(), "running\n");
    let started = Instant::now();
    r.send("status", "");
    assert_eq!(r.expect(Duration::from_secs(2)).kind, "status");
    let status_latency = started.elapsed();
    r.send("complete", r#"{"line":"be"}"#);
    let m = r.expect(Duration::from_secs(2));
    assert_eq!(m.json()["suggestions"], serde_json::json!(["beta"]));
    assert!(
        status_latency < Duration::from_millis(100),
        "{status_latency:?}"
    );
    let out = r.until_finished(crate::TASK);
    assert_eq!(out.exit_code(), Some(0));
}

#[test]
fn background_processes_do_not_hold_the_task() {
    let r = Runner::start("app");
    let started = Instant::now();
    let out = r.run("exec", "sleep 20 & echo started-background");
    assert_eq!(out.stdout_text(), "started-background\n");
    assert!(started.elapsed() < Duration::from_secs(5));
}
