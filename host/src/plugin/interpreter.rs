//! Interpreters: long-lived processes that plugins start through `Host::spawn` (the python
//! and nodejs runners' REPL processes, which keep the user's state between queries).
//!
//! The host starts them like task processes (child environment, own process group) but hands
//! their pipes to the plugin: a watcher thread turns stdout, stderr and the exit into events the
//! plugin reads with `next_event`. They are not interrupted with the task (the plugin decides),
//! and they are terminated when the host shuts down.
//!
//! Both directions are bounded. At most [`EVENTS_WAITING`] output events wait for the plugin;
//! then the watcher waits, and so does an interpreter that keeps writing. A write to the
//! interpreter's stdin waits for room in the pipe as long as the interpreter lives, but never
//! holds up [`Process::terminate`]: a write in progress gives up within [`WRITE_RECHECK_MS`].

use std::io;
use std::os::fd::AsRawFd;
use std::process::{ChildStdin, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use abi_stable::std_types::{RResult, RSlice, RVec};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use krunner_plugin_api::abi::Process;
use krunner_plugin_api::{ErrorCode, EventKind, PluginError, ProcessEvent};

use crate::process::{self, exit, Group, Groups, Spawn, Started, Stream};
use crate::sys;

/// How long an interpreter may take to leave after SIGTERM before it gets SIGKILL.
const TERMINATE_GRACE: Duration = Duration::from_secs(1);

/// Output events (each at most one pipe read, 1 MiB) waiting for the plugin to take them.
const EVENTS_WAITING: usize = 16;

/// How often a write waiting for room in the pipe checks whether to give up.
const WRITE_RECHECK_MS: i32 = 50;

/// A running interpreter (the ABI's `Process`).
pub(crate) struct Interpreter {
    group: Arc<Group>,
    stdin: Mutex<Option<ChildStdin>>,
    /// Set when the interpreter is being terminated: writes give up.
    closing: AtomicBool,
    events: Receiver<ProcessEvent>,
    exit: Mutex<Option<i32>>,
    groups: Arc<Groups>,
}

fn event(kind: EventKind, data: Vec<u8>, code: i32) -> ProcessEvent {
    ProcessEvent {
        kind,
        data: RVec::from(data),
        code,
    }
}

impl Interpreter {
    /// Starts `spawn` with piped stdio in its own process group.
    pub(crate) fn start(spawn: &Spawn, groups: Arc<Groups>) -> std::io::Result<Self> {
        let Started {
            group,
            stdin,
            stdout,
            stderr,
        } = process::start(spawn, Stdio::piped())?;
        groups.add_interpreter(&group);
        if let Some(pipe) = &stdin {
            sys::set_nonblocking(pipe.as_raw_fd());
        }
        let (tx, rx) = crossbeam_channel::bounded(EVENTS_WAITING);
        let watched = Arc::clone(&group);
        let registry = Arc::clone(&groups);
        let watcher = std::thread::Builder::new()
            .name("interpreter".into())
            .spawn(move || watch(&watched, &registry, stdout, stderr, &tx));
        if let Err(e) = watcher {
            // Without a watcher its exit could never be observed; do not leave it running.
            process::kill(&group);
            group.reap();
            groups.remove_interpreter(&group);
            return Err(e);
        }
        Ok(Self {
            group,
            stdin: Mutex::new(stdin),
            closing: AtomicBool::new(false),
            events: rx,
            exit: Mutex::new(None),
            groups,
        })
    }

    fn exited(&self) -> Option<i32> {
        *self.exit.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, ev: &ProcessEvent) {
        if ev.kind == EventKind::EXIT {
            *self.exit.lock().unwrap_or_else(|e| e.into_inner()) = Some(ev.code);
        }
    }

    /// Writes all of `data` to the (non-blocking) stdin pipe, waiting for room while the
    /// interpreter runs and nobody terminates it.
    fn write_all(&self, pipe: &ChildStdin, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.closing.load(Ordering::SeqCst) || self.group.exited() {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the interpreter has stopped",
                ));
            }
            match sys::write(pipe.as_raw_fd(), data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let mut fds = [sys::poll_fd(pipe.as_raw_fd(), libc::POLLOUT)];
                    let _ = sys::poll(&mut fds, WRITE_RECHECK_MS);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The watcher thread: output and exit as events; the observer that reaps the interpreter.
fn watch(
    group: &Arc<Group>,
    groups: &Groups,
    stdout: Option<std::process::ChildStdout>,
    stderr: Option<std::process::ChildStderr>,
    tx: &Sender<ProcessEvent>,
) {
    let mut sink = |stream, data: Vec<u8>| {
        let kind = match stream {
            Stream::Stdout => EventKind::STDOUT,
            Stream::Stderr => EventKind::STDERR,
        };
        let _ = tx.send(event(kind, data, 0));
    };
    let status = process::pump(group, stdout, stderr, &mut sink, None);
    if status.is_err() {
        process::kill(group);
    }
    let code = group.reap().map_or(exit::INTERNAL, exit::code);
    groups.remove_interpreter(group);
    let _ = tx.send(event(EventKind::EXIT, Vec::new(), code));
}

impl Process for Interpreter {
    fn write(&self, data: RSlice<'_, u8>) -> RResult<(), PluginError> {
        let stdin = self.stdin.lock().unwrap_or_else(|e| e.into_inner());
        let Some(pipe) = stdin.as_ref() else {
            return RResult::RErr(PluginError::new(ErrorCode::IO, "stdin is closed"));
        };
        self.write_all(pipe, data.as_slice())
            .map_err(PluginError::from)
            .into()
    }

    fn next_event(&self, timeout_ms: i64) -> RResult<ProcessEvent, PluginError> {
        if let Some(code) = self.exited() {
            return RResult::ROk(event(EventKind::EXIT, Vec::new(), code));
        }
        let received = if timeout_ms < 0 {
            self.events
                .recv()
                .map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            self.events
                .recv_timeout(Duration::from_millis(timeout_ms.unsigned_abs()))
        };
        let ev = match received {
            Ok(ev) => ev,
            Err(RecvTimeoutError::Timeout) => event(EventKind::TIMEOUT, Vec::new(), 0),
            Err(RecvTimeoutError::Disconnected) => event(EventKind::EXIT, Vec::new(), -1),
        };
        self.record(&ev);
        RResult::ROk(ev)
    }

    fn signal(&self, signal: i32) -> RResult<(), PluginError> {
        self.group.signal(signal);
        RResult::ROk(())
    }

    fn pid(&self) -> i32 {
        self.group.pid()
    }

    fn terminate(&self) {
        // A write waiting for room gives up (and lets go of stdin) within WRITE_RECHECK_MS;
        // closing stdin then lets a well-behaved REPL leave on its own.
        self.closing.store(true, Ordering::SeqCst);
        drop(self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take());
        process::terminate(
            std::slice::from_ref(&self.group),
            TERMINATE_GRACE,
            "an interpreter",
        );
        self.groups.remove_interpreter(&self.group);
    }
}

impl Drop for Interpreter {
    fn drop(&mut self) {
        self.terminate();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// A write blocked on a full pipe (the interpreter does not read) holds the stdin lock;
    /// terminating the interpreter must still go through at once.
    #[test]
    fn terminate_is_not_held_up_by_a_blocked_write() {
        let interpreter = Arc::new(
            Interpreter::start(&Spawn::shell("exec sleep 30"), Arc::default()).expect("start"),
        );
        let fd = interpreter
            .stdin
            .lock()
            .expect("lock")
            .as_ref()
            .map(AsRawFd::as_raw_fd)
            .expect("stdin");
        let writer = {
            let interpreter = Arc::clone(&interpreter);
            std::thread::spawn(move || {
                let big = vec![b'x'; 4 << 20];
                interpreter.write(RSlice::from_slice(&big)).into_result()
            })
        };
        // Wait until the writer holds the lock with the pipe full.
        let deadline = Instant::now() + Duration::from_secs(10);
        while interpreter.stdin.try_lock().is_ok() || sys::unread_bytes(fd) < 4096 {
            assert!(Instant::now() < deadline, "the write never filled the pipe");
            std::thread::yield_now();
        }
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let begun = Instant::now();
        {
            let interpreter = Arc::clone(&interpreter);
            std::thread::spawn(move || {
                interpreter.terminate();
                let _ = done_tx.send(());
            });
        }
        let finished = done_rx.recv_timeout(Duration::from_secs(10));
        if finished.is_err() {
            process::kill(&interpreter.group);
        }
        assert!(finished.is_ok(), "terminate() waited for the blocked write");
        assert!(
            begun.elapsed() < Duration::from_secs(5),
            "{:?}",
            begun.elapsed()
        );
        assert!(writer.join().expect("join").is_err(), "the write gave up");
    }

    /// Once the interpreter's leader has exited and been reaped, its group id may be reused:
    /// neither `signal` nor `terminate` may send anything to it. A process the interpreter
    /// left behind in the same group shows whether they did.
    #[test]
    fn a_reaped_interpreter_is_never_signalled() {
        let interpreter = Interpreter::start(
            &Spawn::shell("sleep 30 >/dev/null 2>&1 & echo $!"),
            Arc::default(),
        )
        .expect("start");
        let mut out = Vec::new();
        loop {
            let ev = interpreter.next_event(10_000).into_result().expect("event");
            match ev.kind {
                EventKind::STDOUT => out.extend_from_slice(ev.data.as_slice()),
                EventKind::EXIT => break,
                EventKind::TIMEOUT => panic!("the interpreter did not exit"),
                _ => {}
            }
        }
        let left_behind: i32 = String::from_utf8_lossy(&out).trim().parse().expect("pid");
        // Running or asleep, not a zombie (a container's init may not reap it at once).
        let alive = || {
            std::fs::read_to_string(format!("/proc/{left_behind}/stat"))
                .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|s| !s.contains(" Z ")))
        };
        assert!(alive());
        let _ = interpreter.signal(libc::SIGKILL);
        interpreter.terminate();
        // A signal would have been delivered by now; give a busy machine a moment.
        std::thread::sleep(Duration::from_millis(300));
        let survived = alive();
        let _ = sys::killpg(interpreter.group.pid(), libc::SIGKILL);
        assert!(survived, "a signal reached the reaped interpreter's group");
    }
}
