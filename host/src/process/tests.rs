//! Unit tests of process handling, with real subprocesses.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

#[test]
fn exit_codes_follow_the_shell() {
    let groups = Groups::default();
    assert_eq!(
        capture(&Spawn::shell("exit 3"), &groups).map(|r| r.0).ok(),
        Some(3)
    );
    assert_eq!(
        capture(&Spawn::shell("kill -TERM $$"), &groups)
            .map(|r| r.0)
            .ok(),
        Some(143)
    );
}

#[test]
fn output_is_complete_and_separated() {
    let groups = Groups::default();
    let (code, out, err) = capture(
        &Spawn::shell("head -c 3000000 /dev/zero; echo oops >&2"),
        &groups,
    )
    .expect("run");
    assert_eq!(code, 0);
    assert_eq!(out.len(), 3_000_000);
    assert_eq!(err, b"oops\n");
}

#[test]
fn background_children_do_not_hold_the_task() {
    let groups = Groups::default();
    let start = Instant::now();
    let (code, out, _) = capture(&Spawn::shell("sleep 5 & echo done"), &groups).expect("run");
    assert_eq!((code, out.as_slice()), (0, &b"done\n"[..]));
    assert!(start.elapsed() < Duration::from_secs(4));
}

#[test]
fn missing_program_is_not_found() {
    let groups = Groups::default();
    let spawn = Spawn {
        program: "/nonexistent/program".into(),
        ..Spawn::shell("")
    };
    let err = capture(&spawn, &groups).expect_err("must fail");
    assert_eq!(exit::for_spawn_error(&err), Some(127));
}

#[test]
fn a_reaped_group_is_never_signalled() {
    let started = start(&Spawn::shell("exit 0"), Stdio::null()).expect("start");
    let group = started.group;
    assert!(group.wait_exit(Duration::from_secs(5)).is_some());
    // Exited but not reaped: the zombie still holds the id, signalling is harmless.
    group.reap();
    assert!(!group.signal(libc::SIGKILL));
}

#[test]
fn the_ladder_kills_what_ignores_sigterm() {
    let started = start(
        &Spawn::shell("trap '' TERM; echo ready; sleep 30"),
        Stdio::null(),
    )
    .expect("start");
    let group = Arc::clone(&started.group);
    let watcher = std::thread::spawn(move || {
        let mut ready = Vec::new();
        let status = pump(
            &started.group,
            started.stdout,
            started.stderr,
            &mut |_, data| ready.extend_from_slice(&data),
            None,
        );
        started.group.reap();
        status.ok().map(exit::code)
    });
    std::thread::sleep(Duration::from_millis(200));
    let begun = Instant::now();
    terminate(&[group], Duration::from_millis(300), "a test process");
    assert!(begun.elapsed() < Duration::from_secs(3));
    assert_eq!(watcher.join().expect("join"), Some(137));
}

#[test]
fn a_time_limit_kills_the_process() {
    let begun = Instant::now();
    let err =
        output_within(&Spawn::shell("sleep 30"), Duration::from_millis(300)).expect_err("limit");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert!(begun.elapsed() < Duration::from_secs(5));
    let out = output_within(
        &Spawn::shell("echo hi; echo there >&2"),
        Duration::from_secs(10),
    )
    .expect("quick command");
    assert_eq!(
        (out.stdout.as_slice(), out.stderr.as_slice()),
        (&b"hi\n"[..], &b"there\n"[..])
    );
}
