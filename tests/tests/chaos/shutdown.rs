//! The end of a round (docs/protocol.md §5.11): SIGTERM while the soak reads, with a task
//! running whose processes ignore SIGTERM and SIGINT, tasks queued behind it and requests
//! in flight; or while the soak does not read, with a task whose output fills every queue.
//! The runner must exit within its budget; with a reader, the running task's terminal
//! message must arrive; no queued task may run; what arrives must still be in order.

use std::time::{Duration, Instant};

use crate::expect::{ReplyExp, TaskExp, TaskOp};
use crate::procs;
use crate::soak::Soak;
use crate::tasks::pattern;

/// The bound asserted on SIGTERM-to-exit: the documented budget (about 3.5 s) plus a margin
/// for a loaded machine.
pub const SHUTDOWN_BOUND: Duration = Duration::from_secs(5);

fn queue_more(s: &mut Soak, id: u64) {
    for n in 0..2 {
        let out = format!("queued{id}-{n}\n").into_bytes();
        let cmd = format!("echo queued{id}-{n}");
        s.a.task(
            TaskOp::Exec,
            cmd.as_bytes(),
            TaskExp::new("queued", TaskOp::Exec, out, 0),
        );
    }
    for _ in 0..3 {
        s.a.request("status", b"", ReplyExp::Status);
    }
    let empty = s.lang == crate::tasks::Lang::App;
    s.a.request("complete", b"{}", ReplyExp::Completion { empty });
}

/// SIGTERM while the soak reads.
pub fn with_reader(s: &mut Soak) -> Duration {
    let id = s.id();
    let first = format!("final{id}\n");
    let cmd = format!("echo final{id}; trap '' TERM INT; sleep 1000 & sleep 1000");
    // It ends only by shutdown (SIGTERM, then SIGKILL): no exit code of its own is allowed.
    // A `clean`, because an `exec` right after a failed build runs nothing (§4.4).
    let exp = TaskExp::new("final", TaskOp::Clean, first.clone().into_bytes(), 0).exits(&[]);
    s.a.task(TaskOp::Clean, cmd.as_bytes(), exp);
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.a.model.head_stdout() != Some(first.as_bytes()) {
        if Instant::now() > deadline {
            s.fail("the last task did not start");
        }
        s.pump(Duration::from_millis(20));
    }
    queue_more(s, id);
    s.a.model.stop();
    let took = sigterm(s, true);
    // What ZeroMQ already holds.
    s.pump(Duration::from_millis(300));
    if s.a.model.pending_tasks() != 2 {
        s.fail("the running task's terminal message did not come before the runner exited");
    }
    s.a.figures.owed_at_shutdown += s.a.model.owed_replies() as u64;
    took
}

/// SIGTERM while the soak does not read.
pub fn without_reader(s: &mut Soak) -> Duration {
    let id = s.id();
    let (tag, n) = (format!("w{id}"), 32 << 20);
    s.stall_until = Some(Instant::now() + Duration::from_secs(3600));
    let cmd = format!("yes '{tag}' | head -c {n}; sleep 1000");
    let exp = TaskExp::new("unread", TaskOp::Exec, pattern(&tag, n), 0).exits(&[]);
    s.a.task(TaskOp::Exec, cmd.as_bytes(), exp);
    queue_more(s, id);
    // The output fills the runner's queues and ZeroMQ's while nobody reads.
    s.pump(Duration::from_millis(1500));
    s.a.model.stop();
    let took = sigterm(s, false);
    // What reached the soak's socket before the runner exited must still be in order.
    s.stall_until = None;
    s.pump(Duration::from_millis(1000));
    s.a.figures.owed_at_shutdown += s.a.model.owed_replies() as u64;
    took
}

/// SIGTERM; returns how long the runner took to exit.
fn sigterm(s: &mut Soak, read: bool) -> Duration {
    let t0 = Instant::now();
    // SAFETY: the runner is the test's child and not reaped, so its pid is its own.
    unsafe { libc::kill(s.pid, libc::SIGTERM) };
    loop {
        if procs::exited(s.pid) {
            return t0.elapsed();
        }
        if t0.elapsed() > Duration::from_secs(30) {
            s.fail("the runner did not exit within 30 s of SIGTERM");
        }
        match read {
            true => s.pump(Duration::from_millis(5)),
            false => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}
