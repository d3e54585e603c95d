//! [`HostHandle`]: the host's callbacks in plain Rust types, because the ABI passes JSON and
//! abi_stable strings that plugin authors should not have to handle.

use std::collections::BTreeMap;
use std::path::PathBuf;

use abi_stable::std_types::{RStr, RString};

use super::{Interpreter, Result};
use crate::abi::{HostBox, Host_TO, LogLevel};
use crate::payload::{output, CaptureOutput, RunSpec};

/// The host's callbacks, as plugin authors use them. Cheap to clone and usable from any thread.
pub struct HostHandle(HostBox);

impl Clone for HostHandle {
    fn clone(&self) -> Self {
        Self(Host_TO::from_sabi(self.0.obj.shallow_clone()))
    }
}

impl HostHandle {
    /// Wraps the raw host object.
    pub fn new(host: HostBox) -> Self {
        Self(host)
    }

    /// Runs a subprocess with streamed output; returns its exit code.
    pub fn run(&self, spec: &RunSpec) -> Result<i32> {
        let json = serde_json::to_string(spec)?;
        self.0.run(RStr::from(json.as_str())).into_result()
    }

    /// Runs `/bin/sh -c line` with streamed output.
    pub fn run_shell(&self, line: &str) -> Result<i32> {
        self.run(&RunSpec::shell(line))
    }

    /// Runs an argv with streamed output.
    pub fn run_argv<S: AsRef<str>>(&self, argv: &[S]) -> Result<i32> {
        self.run(&RunSpec::argv(argv.iter().map(|s| s.as_ref().to_owned())))
    }

    /// Runs a subprocess and collects its output instead of streaming it.
    pub fn capture(&self, spec: &RunSpec) -> Result<CaptureOutput> {
        let json = serde_json::to_string(spec)?;
        let out = self.0.capture(RStr::from(json.as_str())).into_result()?;
        Ok(serde_json::from_str(out.as_str())?)
    }

    /// Sends a raw output message (see [`output`]).
    pub fn emit(&self, kind: &str, data: &[u8]) -> Result<()> {
        self.0.emit(RStr::from(kind), data.into()).into_result()
    }

    /// Writes to the user's standard output.
    pub fn stdout(&self, data: impl AsRef<[u8]>) -> Result<()> {
        self.emit(output::STDOUT, data.as_ref())
    }

    /// Writes to the user's standard error.
    pub fn stderr(&self, data: impl AsRef<[u8]>) -> Result<()> {
        self.emit(output::STDERR, data.as_ref())
    }

    /// Shows HTML.
    pub fn html(&self, html: &str) -> Result<()> {
        self.emit(output::HTML, html.as_bytes())
    }

    /// Shows media: `data` is a data URI string, SVG text, or any JSON value the MIME type needs.
    pub fn media(&self, mime: &str, data: serde_json::Value) -> Result<()> {
        let body = serde_json::json!({ "type": mime, "data": data });
        self.emit(output::MEDIA, body.to_string().as_bytes())
    }

    /// Asks the user for input (see [`crate::abi::Host::read_input`]).
    pub fn read_input(&self, prompt: &str, is_password: bool) -> Result<String> {
        self.0
            .read_input(RStr::from(prompt), is_password)
            .into_result()
            .map(RString::into_string)
    }

    /// Logs a line under the runner's name.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.0.log(level, RStr::from(message));
    }

    /// Logs at debug level.
    pub fn debug(&self, message: &str) {
        self.log(LogLevel::DEBUG, message);
    }

    /// Logs at info level.
    pub fn info(&self, message: &str) {
        self.log(LogLevel::INFO, message);
    }

    /// Logs a warning; it also reaches the user's console.
    pub fn warn(&self, message: &str) {
        self.log(LogLevel::WARN, message);
    }

    /// Logs an error; it also reaches the user's console.
    pub fn error(&self, message: &str) {
        self.log(LogLevel::ERROR, message);
    }

    /// Whether the current task was interrupted.
    pub fn interrupted(&self) -> bool {
        self.0.interrupted()
    }

    /// Starts an interpreter: a long-lived process the plugin drives itself, in a process
    /// group the host owns (needs a host with plugin-api 1.2).
    pub fn spawn(&self, spec: &RunSpec) -> Result<Interpreter> {
        let json = serde_json::to_string(spec)?;
        let process = self.0.spawn(RStr::from(json.as_str())).into_result()?;
        Ok(Interpreter(process))
    }

    /// The host's versions (`{}` from hosts older than plugin-api 1.1).
    pub fn host_info(&self) -> serde_json::Value {
        serde_json::from_str(self.0.host_info().as_str()).unwrap_or_default()
    }

    /// The child environment the host uses for subprocesses.
    pub fn child_env(&self) -> BTreeMap<String, String> {
        serde_json::from_str(self.0.child_env().as_str()).unwrap_or_default()
    }

    /// Looks `program` up on the child environment's `PATH` (or checks it as a path when it
    /// contains a `/`); returns the executable's path.
    pub fn which(&self, program: &str) -> Option<PathBuf> {
        let path = self.child_env().get("PATH").cloned().unwrap_or_default();
        crate::util::which_in(program, &path)
    }
}
