//! Long-lived processes that plugins start through `Host::spawn` (an interpreter session for a
//! stateful query mode, for example).
//!
//! The host spawns them like task processes — child environment, own process group — but hands
//! their pipes to the plugin: a watcher thread turns stdout, stderr and the exit into events the
//! plugin reads with `next_event`. They are not interrupted with the task (the plugin decides),
//! and they are terminated when the runner shuts down.

use std::io::Write;
use std::process::{ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use abi_stable::std_types::{RResult, RSlice, RVec};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use krunner_plugin_api::abi::Process;
use krunner_plugin_api::{ErrorCode, EventKind, PluginError, ProcessEvent};

use crate::process::{self, signal_group, Groups, Spawn, Stream};

/// A running session process.
pub struct SessionProcess {
    pid: i32,
    stdin: Mutex<Option<ChildStdin>>,
    events: Receiver<ProcessEvent>,
    exit: Mutex<Option<i32>>,
    groups: Arc<Groups>,
    id: u64,
}

fn event(kind: EventKind, data: Vec<u8>, code: i32) -> ProcessEvent {
    ProcessEvent {
        kind,
        data: RVec::from(data),
        code,
    }
}

impl SessionProcess {
    /// Starts `spawn` with piped stdio in its own process group.
    pub fn start(spawn: &Spawn, groups: Arc<Groups>) -> std::io::Result<Self> {
        let mut child = process::command(spawn, Stdio::piped()).spawn()?;
        let pid = child.id() as i32;
        let stdin = child.stdin.take();
        let id = groups.add_session(pid);
        let (tx, rx) = crossbeam_channel::unbounded();
        let watcher_groups = Arc::clone(&groups);
        std::thread::Builder::new()
            .name("session-watch".into())
            .spawn(move || {
                let mut sink = |stream, data: Vec<u8>| {
                    let kind = match stream {
                        Stream::Stdout => EventKind::STDOUT,
                        Stream::Stderr => EventKind::STDERR,
                    };
                    let _ = tx.send(event(kind, data, 0));
                };
                let code = process::watch(&mut child, &mut sink).unwrap_or(-1);
                watcher_groups.remove_session(id);
                let _ = tx.send(event(EventKind::EXIT, Vec::new(), code));
            })?;
        Ok(Self {
            pid,
            stdin: Mutex::new(stdin),
            events: rx,
            exit: Mutex::new(None),
            groups,
            id,
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

    fn wait_exit(&self, budget: Duration) -> bool {
        let deadline = Instant::now() + budget;
        while self.exited().is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ev) => self.record(&ev),
                Err(RecvTimeoutError::Timeout) => return false,
                Err(RecvTimeoutError::Disconnected) => return true,
            }
        }
        true
    }
}

impl Process for SessionProcess {
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
        if self.exited().is_none() {
            signal_group(self.pid, signal);
        }
        RResult::ROk(())
    }

    fn pid(&self) -> i32 {
        self.pid
    }

    fn terminate(&self) {
        if self.exited().is_some() {
            return;
        }
        // Closing stdin lets a well-behaved REPL leave on its own.
        drop(self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take());
        signal_group(self.pid, libc::SIGTERM);
        signal_group(self.pid, libc::SIGCONT);
        if !self.wait_exit(Duration::from_millis(1000)) {
            signal_group(self.pid, libc::SIGKILL);
            self.wait_exit(Duration::from_millis(1000));
        }
        self.groups.remove_session(self.id);
    }
}

impl Drop for SessionProcess {
    fn drop(&mut self) {
        self.terminate();
    }
}
