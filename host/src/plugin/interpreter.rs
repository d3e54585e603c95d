//! Interpreters: long-lived processes that plugins start through `Host::spawn` (the python
//! and nodejs runners' REPL processes, which keep the user's state between queries).
//!
//! The host starts them like task processes (child environment, own process group) but hands
//! their pipes to the plugin: a watcher thread turns stdout, stderr and the exit into events the
//! plugin reads with `next_event`. They are not interrupted with the task (the plugin decides),
//! and they are terminated when the host shuts down.

use std::io::Write;
use std::process::{ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use abi_stable::std_types::{RResult, RSlice, RVec};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use krunner_plugin_api::abi::Process;
use krunner_plugin_api::{ErrorCode, EventKind, PluginError, ProcessEvent};

use crate::process::{self, exit, Group, Groups, Output, Spawn, Started, Stream};

/// How long an interpreter may take to leave after SIGTERM before it gets SIGKILL.
const TERMINATE_GRACE: Duration = Duration::from_secs(1);

/// A running interpreter (the ABI's `Process`).
pub(crate) struct Interpreter {
    group: Arc<Group>,
    stdin: Mutex<Option<ChildStdin>>,
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
        } = process::start(spawn, Stdio::piped(), Output::Piped)?;
        groups.add_interpreter(&group);
        let (tx, rx) = crossbeam_channel::unbounded();
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
        let mut stdin = self.stdin.lock().unwrap_or_else(|e| e.into_inner());
        let Some(pipe) = stdin.as_mut() else {
            return RResult::RErr(PluginError::new(ErrorCode::IO, "stdin is closed"));
        };
        pipe.write_all(data.as_slice())
            .and_then(|()| pipe.flush())
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
        // Closing stdin lets a well-behaved REPL leave on its own.
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
