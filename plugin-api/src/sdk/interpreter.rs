//! [`Interpreter`]: a plugin's long-lived process (a stateful query mode's REPL, say), started
//! by the host ([`super::HostHandle::spawn`]) and driven by the plugin, in plain Rust types over
//! the ABI's [`crate::abi::Process`].

use super::Result;
use crate::abi::{EventKind, ProcessBox};

/// An event from an [`Interpreter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Bytes from its stdout.
    Stdout(Vec<u8>),
    /// Bytes from its stderr.
    Stderr(Vec<u8>),
    /// It exited with this code (shell convention: 128+N after signal N).
    Exit(i32),
    /// Nothing happened within the timeout.
    Timeout,
}

/// A plugin's long-lived process, started by the host ([`super::HostHandle::spawn`]). It keeps
/// its state between queries; the plugin drives its stdin, stdout and stderr, and the host owns
/// its process group and ends it when it shuts down.
pub struct Interpreter(pub(super) ProcessBox);

impl Interpreter {
    /// Writes to its stdin.
    pub fn write(&self, data: &[u8]) -> Result<()> {
        self.0.write(data.into()).into_result()
    }

    /// Waits for the next event (`None`: no limit).
    pub fn next_event(&self, timeout: Option<std::time::Duration>) -> Result<Event> {
        let ms = timeout.map_or(-1, |t| i64::try_from(t.as_millis()).unwrap_or(i64::MAX));
        let ev = self.0.next_event(ms).into_result()?;
        Ok(match ev.kind {
            EventKind::STDOUT => Event::Stdout(ev.data.into_vec()),
            EventKind::STDERR => Event::Stderr(ev.data.into_vec()),
            EventKind::EXIT => Event::Exit(ev.code),
            _ => Event::Timeout,
        })
    }

    /// Signals its process group.
    pub fn signal(&self, signal: i32) -> Result<()> {
        self.0.signal(signal).into_result()
    }

    /// Its process id.
    pub fn pid(&self) -> i32 {
        self.0.pid()
    }

    /// Ends it (SIGTERM, then SIGKILL) and waits.
    pub fn terminate(&self) {
        self.0.terminate();
    }
}
