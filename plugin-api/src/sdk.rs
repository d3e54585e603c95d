//! The plugin author's side: an idiomatic trait with defaults, a handle to the host, and the
//! glue that turns them into the ABI objects while catching every panic at the boundary.
//!
//! abi_stable aborts the whole host process (exit 1) when a panic unwinds out of a plugin
//! function, so every entry point here runs inside `catch_unwind` and reports a panic as a
//! [`PluginError`] with [`ErrorCode::PANIC`] instead.

use std::any::Any;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RResult, RStr, RString},
};

use crate::abi::{
    EventKind, HostBox, Host_TO, KernelPlugin, KernelPluginRef, LogLevel, ProcessBox, Runner,
    RunnerBox, Runner_TO, API_VERSION,
};
use crate::error::{ErrorCode, PluginError};
use crate::payload::{
    output, CaptureOutput, CompletionRequest, PluginInfo, RunSpec, RunnerConfig, Sample,
    ServiceCommand, ServiceRequest,
};

/// Result type of plugin methods.
pub type Result<T, E = PluginError> = std::result::Result<T, E>;

/// A language runner, written in plain Rust. Implement it and export the type with
/// [`crate::export_plugin!`]. Every method except [`Kernel::info`] and [`Kernel::new`] has a
/// default, so a plugin implements only what its language needs.
pub trait Kernel: Sized + Send + Sync + 'static {
    /// The plugin's description. `api_version` and `panic_unwind` are filled in by the SDK.
    fn info() -> PluginInfo;

    /// Creates the runner for one session. `host` stays valid for the runner's lifetime.
    fn new(config: RunnerConfig, host: HostHandle) -> Result<Self>;

    /// `clean *`: by default nothing to do.
    fn clean(&self) -> Result<i32> {
        Ok(0)
    }

    /// `build *` when there is no Makefile: by default nothing to do.
    fn build(&self) -> Result<i32> {
        Ok(0)
    }

    /// `exec *`: by default unsupported (the host reports it and answers 127).
    fn execute(&self) -> Result<i32> {
        Err(PluginError::unsupported(
            "this runner has no default exec command; send an explicit command",
        ))
    }

    /// `code`: by default unsupported (the host reports it and answers 127).
    fn query(&self, _code: &str) -> Result<i32> {
        Err(PluginError::unsupported(
            "query mode is not supported by this runner",
        ))
    }

    /// Completion suggestions: none by default.
    fn complete(&self, _request: &CompletionRequest) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// Interrupt in-plugin work. Subprocesses started through the host are interrupted by the
    /// host itself, so most plugins need nothing here.
    fn interrupt(&self) {}

    /// Legacy service hook: `Ok(None)` for services this runner does not know.
    fn start_service(&self, _request: &ServiceRequest) -> Result<Option<ServiceCommand>> {
        Ok(None)
    }

    /// Called once when the host shuts down.
    fn shutdown(&self) {}

    /// An `event` from the agent (for example an out-of-memory notice).
    fn on_event(&self, _event: &serde_json::Value) {}

    /// Self-tests for `krunner plugins test`: hello-world in batch and query mode, say.
    fn samples() -> Vec<Sample> {
        Vec::new()
    }
}

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

    /// Starts a long-lived session process (needs a host with plugin-api 1.2).
    pub fn spawn(&self, spec: &RunSpec) -> Result<SessionProcess> {
        let json = serde_json::to_string(spec)?;
        let process = self.0.spawn(RStr::from(json.as_str())).into_result()?;
        Ok(SessionProcess(process))
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

/// An event from a [`SessionProcess`].
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

/// A long-lived process started by the host for the plugin ([`HostHandle::spawn`]).
pub struct SessionProcess(ProcessBox);

impl SessionProcess {
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

/// Builds the root module for `K`. Used by [`crate::export_plugin!`]; not called directly.
#[doc(hidden)]
pub fn root_module<K: Kernel>() -> KernelPluginRef {
    use abi_stable::prefix_type::PrefixTypeTrait;
    KernelPlugin {
        info: info_shim::<K>,
        new_runner: new_runner_shim::<K>,
        samples: samples_shim::<K>,
    }
    .leak_into_prefix()
}

/// The plugin info as JSON, with the SDK-owned fields filled in.
#[doc(hidden)]
pub fn info_json<K: Kernel>(panic_unwind: bool) -> RString {
    let info = guard(|| {
        let mut info = K::info();
        info.api_version = API_VERSION.to_owned();
        info.panic_unwind = panic_unwind;
        Ok(info)
    })
    .unwrap_or_else(|e| PluginInfo {
        description: format!("plugin info failed: {}", e.message()),
        api_version: API_VERSION.to_owned(),
        ..PluginInfo::default()
    });
    RString::from(serde_json::to_string(&info).unwrap_or_default())
}

extern "C" fn info_shim<K: Kernel>() -> RString {
    info_json::<K>(cfg!(panic = "unwind"))
}

extern "C" fn samples_shim<K: Kernel>() -> RString {
    let samples = guard(|| Ok(K::samples())).unwrap_or_default();
    RString::from(serde_json::to_string(&samples).unwrap_or_else(|_| "[]".into()))
}

extern "C" fn new_runner_shim<K: Kernel>(
    config_json: RStr<'_>,
    host: HostBox,
) -> RResult<RunnerBox, PluginError> {
    guard(|| {
        let config: RunnerConfig = serde_json::from_str(config_json.as_str())?;
        let kernel = K::new(config, HostHandle::new(host))?;
        Ok(Runner_TO::from_value(Adapter(kernel), TD_Opaque))
    })
    .into()
}

/// Runs `f`, turning a panic into a [`PluginError`] with [`ErrorCode::PANIC`].
pub fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => Err(PluginError::new(
            ErrorCode::PANIC,
            format!("the plugin panicked: {}", panic_message(payload.as_ref())),
        )),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string panic payload)"
    }
}

struct Adapter<K>(K);

impl<K: Kernel> Runner for Adapter<K> {
    fn clean(&self) -> RResult<i32, PluginError> {
        guard(|| self.0.clean()).into()
    }

    fn build(&self) -> RResult<i32, PluginError> {
        guard(|| self.0.build()).into()
    }

    fn execute(&self) -> RResult<i32, PluginError> {
        guard(|| self.0.execute()).into()
    }

    fn query(&self, code: RStr<'_>) -> RResult<i32, PluginError> {
        guard(|| self.0.query(code.as_str())).into()
    }

    fn complete(&self, request_json: RStr<'_>) -> RResult<RString, PluginError> {
        guard(|| {
            let request: CompletionRequest = serde_json::from_str(request_json.as_str())?;
            let suggestions = self.0.complete(&request)?;
            Ok(RString::from(serde_json::to_string(&suggestions)?))
        })
        .into()
    }

    fn interrupt(&self) {
        let _ = guard(|| {
            self.0.interrupt();
            Ok(())
        });
    }

    fn start_service(&self, request_json: RStr<'_>) -> RResult<RString, PluginError> {
        guard(|| {
            let request: ServiceRequest = serde_json::from_str(request_json.as_str())?;
            let command = self.0.start_service(&request)?;
            Ok(RString::from(serde_json::to_string(&command)?))
        })
        .into()
    }

    fn shutdown(&self) {
        let _ = guard(|| {
            self.0.shutdown();
            Ok(())
        });
    }

    fn on_event(&self, event_json: RStr<'_>) {
        let _ = guard(|| {
            let event: serde_json::Value = serde_json::from_str(event_json.as_str())?;
            self.0.on_event(&event);
            Ok(())
        });
    }
}

/// A private temporary directory, removed with its contents on drop. Query modes compile and
/// run in one so they never touch the user's files.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/krunner-<prefix>-<unique>` with mode 0700.
    pub fn new(prefix: &str) -> Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let base = std::env::temp_dir();
        for _ in 0..100 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = base.join(format!(
                "krunner-{prefix}-{}-{n}-{nanos:08x}",
                std::process::id()
            ));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(Self(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(PluginError::new(
                        ErrorCode::IO,
                        format!(
                            "cannot create a temporary directory in {}: {e}",
                            base.display()
                        ),
                    ))
                }
            }
        }
        Err(PluginError::internal(
            "cannot find a free temporary directory name",
        ))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The directory as a string (temporary paths are always UTF-8 here).
    pub fn path_str(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
