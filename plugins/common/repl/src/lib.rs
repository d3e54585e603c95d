//! Stateful query modes: a long-lived interpreter running a driver program, started through the
//! host, speaking a small protocol — JSON-line commands on its stdin, framed records on its
//! stdout ([`records`]) — managed by an [`interpreter::Interpreter`] in the runner's [`Slot`].
//!
//! The python and nodejs plugins share this; each only brings its driver program.
//!
//! Commands: `{"op":"exec","id":N,"code":...}`, `{"op":"input","text":...}`,
//! `{"op":"input-cancel"}` (the pending input request is abandoned: the driver raises an
//! interrupt in it), `{"op":"interrupt","id":N}` (for drivers that asked for it: interrupt
//! query N if it still runs), `{"op":"complete","id":N,...completion request...}`,
//! `{"op":"is-complete","id":N,"code":...}` (whether the code is a complete snippet).
//! Records: `out`/`err` (user output), `media` (JSON), `html`, `input` (`{"prompt","password"}`),
//! `completion` (`{"id","suggestions"}`), `is-complete` (`{"id","status","indent"}`),
//! `done` (`{"id","exit"}`), `ready`.

pub mod interpreter;
pub mod records;

pub use interpreter::Interpreter;

use std::sync::{Arc, Mutex};

use krunner_plugin_api::sdk::{HostHandle, Result};

/// A runner's interpreter: started on first use, replaced after it dies.
#[derive(Default)]
pub struct Slot(Mutex<Option<Arc<Interpreter>>>);

impl Slot {
    /// The live interpreter, or a new one from `start`.
    pub fn get_or_start(
        &self,
        start: impl FnOnce() -> Result<Interpreter>,
    ) -> Result<Arc<Interpreter>> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slot.as_ref().filter(|s| s.alive()) {
            return Ok(Arc::clone(s));
        }
        let fresh = Arc::new(start()?);
        *slot = Some(Arc::clone(&fresh));
        Ok(fresh)
    }

    /// The current interpreter, alive or not.
    pub fn current(&self) -> Option<Arc<Interpreter>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Runs `code` in `interpreter`; when the interpreter dies meanwhile, tells the user (as
/// `<runner>: the <name> session ...`, the wording users know) and returns its exit status.
pub fn query(
    host: &HostHandle,
    interpreter: &Interpreter,
    code: &str,
    runner: &str,
    name: &str,
) -> i32 {
    match interpreter.run(host, code) {
        Ok(exit) => exit,
        Err(status) => {
            let how = if status > 128 {
                format!("was killed by signal {}", status - 128)
            } else {
                format!("exited with status {status}")
            };
            let _ = host.stderr(format!(
                "{runner}: the {name} session {how}; its state is lost and a fresh session \
                 starts with the next query\n"
            ));
            if status == 0 {
                1
            } else {
                status
            }
        }
    }
}
