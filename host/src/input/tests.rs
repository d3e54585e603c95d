//! Tests of the stdin watcher with real processes and threads.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::watch::{StdinWatch, Wait};
use crate::sys;

/// A watch of this process's tree for readers of a fresh pipe: (watch, read end, write end).
fn watch_own_pipe(root: i32) -> (StdinWatch, std::fs::File, std::fs::File) {
    let (read, write) = sys::pipe().expect("pipe");
    let meta = std::fs::metadata(format!("/proc/self/fd/{}", write.as_raw_fd())).expect("stat");
    (
        StdinWatch::new(root, meta.dev(), meta.ino()),
        std::fs::File::from(read),
        std::fs::File::from(write),
    )
}

/// A real reader: `sh -c 'read x'` with our pipe as stdin is found; a sleeping shell
/// with the same stdin is not.
#[test]
fn finds_a_blocked_reader_and_ignores_a_sleeper() {
    use std::os::unix::process::CommandExt;
    let watch_for = |script: &str| -> Wait {
        let (read, write) = sys::pipe().expect("pipe");
        let meta =
            std::fs::metadata(format!("/proc/self/fd/{}", write.as_raw_fd())).expect("stat pipe");
        let mut child = Command::new("/bin/sh")
            .args(["-c", script])
            .stdin(Stdio::from(read))
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn sh");
        let mut watch = StdinWatch::new(child.id() as i32, meta.dev(), meta.ino());
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut found = Wait::No;
        while Instant::now() < deadline && found != Wait::Sure {
            std::thread::sleep(Duration::from_millis(20));
            found = watch.reader_blocked();
        }
        drop(write);
        let _ = sys::killpg(child.id() as i32, libc::SIGKILL);
        let _ = child.wait();
        found
    };
    assert_eq!(watch_for("read x"), Wait::Sure);
    assert_eq!(watch_for("sleep 0.01; cat >/dev/null"), Wait::Sure);
    assert_eq!(watch_for("x=$(sleep 3)"), Wait::No);
    if std::path::Path::new("/bin/bash").exists() {
        assert_eq!(watch_for("exec /bin/bash -c 'read -t 5 x'"), Wait::Maybe);
    }
}

/// With a thousand idle threads, one look examines only a slice of them (it stays far cheaper
/// than examining all), and a thread that wakes up and reads the pipe is still found.
#[test]
fn a_look_at_a_thousand_threads_is_bounded() {
    let me = std::process::id() as i32;
    let (mut watch, mut read, mut write) = watch_own_pipe(me);
    let (idle_tx, idle_rx) = crossbeam_channel::bounded::<()>(0);
    let idle: Vec<_> = (0..1000)
        .map(|_| {
            let rx = idle_rx.clone();
            std::thread::spawn(move || {
                let _ = rx.recv();
            })
        })
        .collect();
    let (go_tx, go_rx) = crossbeam_channel::bounded::<()>(0);
    let reader = std::thread::spawn(move || {
        let _ = go_rx.recv();
        let mut byte = [0u8; 1];
        read.read_exact(&mut byte).map(|()| byte[0])
    });
    // Looks while nobody reads: each one is a slice, so the median stays small even on a
    // noisy machine, where examining 1000 threads takes several milliseconds.
    let mut costs: Vec<Duration> = (0..60)
        .map(|_| {
            let t = Instant::now();
            assert_ne!(watch.reader_blocked(), Wait::Sure, "nobody reads yet");
            t.elapsed()
        })
        .collect();
    costs.sort();
    let median = costs[costs.len() / 2];
    assert!(median < Duration::from_millis(2), "median look {median:?}");
    // The reader slept on a channel (a lock), so it is found when the walk comes round.
    go_tx.send(()).expect("wake the reader");
    let begun = Instant::now();
    let mut looks = 0;
    while watch.reader_blocked() != Wait::Sure {
        looks += 1;
        assert!(
            begun.elapsed() < Duration::from_secs(20),
            "not found in {looks} looks"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    write.write_all(b"x").expect("answer");
    assert_eq!(reader.join().expect("join").expect("read"), b'x');
    drop(idle_tx);
    for t in idle {
        t.join().expect("join");
    }
}

/// Prints what one look costs for a given pid (KRUNNER_WATCH_PID). Run with `KRUNNER_WATCH_PID=<pid>
/// cargo test -p krunner --release --lib input::tests::cost -- --ignored --nocapture`.
#[test]
#[ignore = "measurement"]
fn cost_of_one_look() {
    let Some(pid) = std::env::var("KRUNNER_WATCH_PID")
        .ok()
        .and_then(|p| p.parse().ok())
    else {
        return;
    };
    let mut w = StdinWatch::new(pid, 0, 0);
    let n = 2000;
    let t = std::time::Instant::now();
    for _ in 0..n {
        w.reader_blocked();
    }
    println!("one look at {pid}: {:?}", t.elapsed() / n);
}
