//! The layout-checked ABI: the root module and the two trait objects.
//!
//! Evolution rules for 1.x (see the crate docs): append root-module fields after the
//! `last_prefix_field` marker, append trait methods *with default bodies*, add newtype
//! constants, add optional JSON fields. Anything else needs plugin-api 2.0.

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RArc, RBox, RResult, RSlice, RStr, RString, RVec},
    StableAbi,
};

use crate::error::PluginError;

/// How long the host waits for [`Runner::complete`] before it answers the agent with no
/// suggestions (an answer that comes later is dropped). The agent's protocol allows a second.
pub const COMPLETE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(1);

/// How long the host waits for [`Runner::is_complete`] before it answers `unknown`. Longer
/// than completion's: the first question may start the interpreter that answers it.
pub const IS_COMPLETE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3);

/// Severity of a log line sent to the host.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct LogLevel(pub u8);

impl LogLevel {
    /// Very detailed diagnostics.
    pub const TRACE: Self = Self(0);
    /// Diagnostics shown with `--debug`.
    pub const DEBUG: Self = Self(1);
    /// Normal operation.
    pub const INFO: Self = Self(2);
    /// Something the user should know; also shown on the user's console.
    pub const WARN: Self = Self(3);
    /// A failure; also shown on the user's console.
    pub const ERROR: Self = Self(4);
}

/// Services the host offers to a plugin. Implemented by the host; called by plugins from any
/// thread. Methods block until done.
#[sabi_trait]
pub trait Host: Send + Sync {
    /// Runs the [`crate::RunSpec`] given as JSON with the child environment, in a new process
    /// group owned by the host, streaming its output to the user as it arrives. Returns the exit
    /// code (shell convention: 128+N when killed by signal N; 127 when the program is missing).
    fn run(&self, spec_json: RStr<'_>) -> RResult<i32, PluginError>;

    /// Like [`Host::run`] but collects the output instead of streaming it; returns a
    /// [`crate::CaptureOutput`] as JSON.
    fn capture(&self, spec_json: RStr<'_>) -> RResult<RString, PluginError>;

    /// Sends an output message to the user: `stdout`, `stderr` (raw bytes), `media` (a JSON
    /// object with `type` and `data`), `html` or `log` (UTF-8). Invalid messages are refused.
    fn emit(&self, kind: RStr<'_>, data: RSlice<'_, u8>) -> RResult<(), PluginError>;

    /// Asks the user for a line of input: shows `prompt` on stdout, sends `waiting-input`, and
    /// blocks until the next `input` op. Fails with `INTERRUPTED` on interrupt or shutdown.
    /// Input sent before the request is returned at once, without asking. The text is returned
    /// as sent; a text ending with U+0004 means the user ended the input (end of file).
    fn read_input(&self, prompt: RStr<'_>, is_password: bool) -> RResult<RString, PluginError>;

    /// Logs a line under the runner's name; warnings and errors also reach the user.
    fn log(&self, level: LogLevel, message: RStr<'_>);

    /// Whether the task currently running has been interrupted.
    fn interrupted(&self) -> bool;

    /// The child environment as a JSON object of strings.
    #[sabi(last_prefix_field)]
    fn child_env(&self) -> RString;

    /// Since 1.1: the host's versions as JSON `{"host_version", "api_version"}`. Hosts older
    /// than 1.1 answer `{}` (this default).
    fn host_info(&self) -> RString {
        RString::from("{}")
    }

    /// Since 1.2: starts an interpreter (a long-lived process, such as a stateful query mode's
    /// REPL) described by a
    /// [`crate::RunSpec`] (JSON), with the child environment, in its own process group, with
    /// piped stdin, stdout and stderr. Unlike [`Host::run`] its output is not shown to the user:
    /// the plugin reads it through the returned [`Process`]. The host terminates it when it
    /// shuts down. Hosts older than 1.2 answer `UNSUPPORTED` (this default).
    fn spawn(&self, _spec_json: RStr<'_>) -> RResult<ProcessBox, PluginError> {
        RResult::RErr(PluginError::unsupported(
            "this krunner is too old to start interpreters (needs plugin-api 1.2)",
        ))
    }
}

/// What a [`ProcessEvent`] reports.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct EventKind(pub u8);

impl EventKind {
    /// Bytes from the process's stdout (`data`).
    pub const STDOUT: Self = Self(1);
    /// Bytes from the process's stderr (`data`).
    pub const STDERR: Self = Self(2);
    /// The process exited; `code` is its exit code (shell convention). Always the last event.
    pub const EXIT: Self = Self(3);
    /// Nothing happened within the timeout.
    pub const TIMEOUT: Self = Self(4);
}

/// One event from a [`Process`].
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct ProcessEvent {
    /// What happened.
    pub kind: EventKind,
    /// Output bytes, for `STDOUT` and `STDERR`.
    pub data: RVec<u8>,
    /// Exit code, for `EXIT`.
    pub code: i32,
}

/// An interpreter: a long-lived process started with [`Host::spawn`]. Implemented by the host.
#[sabi_trait]
pub trait Process: Send + Sync {
    /// Writes to the process's stdin.
    fn write(&self, data: RSlice<'_, u8>) -> RResult<(), PluginError>;

    /// The next event, waiting at most `timeout_ms` milliseconds (negative: no limit).
    /// After `EXIT`, every call returns `EXIT` again.
    fn next_event(&self, timeout_ms: i64) -> RResult<ProcessEvent, PluginError>;

    /// Sends `signal` to the process's group (e.g. SIGINT to interrupt a REPL).
    fn signal(&self, signal: i32) -> RResult<(), PluginError>;

    /// The process id.
    fn pid(&self) -> i32;

    /// Ends the process group: SIGTERM, then SIGKILL, and waits for the exit.
    #[sabi(last_prefix_field)]
    fn terminate(&self);
}

/// An interpreter ([`Process`]) as plugins receive it.
pub type ProcessBox = Process_TO<'static, RBox<()>>;

/// A language runner. Implemented by plugins (through [`crate::sdk::Kernel`]); called by the
/// host. Task methods run one at a time on the host's task thread; `complete` and `interrupt`
/// may run concurrently with them on another thread.
#[sabi_trait]
pub trait Runner: Send + Sync {
    /// The `clean *` heuristic; returns an exit code.
    fn clean(&self) -> RResult<i32, PluginError>;

    /// The `build *` heuristic (the host already ran `make` when a Makefile exists).
    fn build(&self) -> RResult<i32, PluginError>;

    /// The `exec *` heuristic.
    fn execute(&self) -> RResult<i32, PluginError>;

    /// Query mode: runs a snippet; returns an exit code.
    fn query(&self, code: RStr<'_>) -> RResult<i32, PluginError>;

    /// Completion for a [`crate::CompletionRequest`] (JSON); returns a JSON array of strings.
    fn complete(&self, request_json: RStr<'_>) -> RResult<RString, PluginError>;

    /// The user interrupted the current task. The host signals process groups it owns itself;
    /// this is for in-plugin work (an interpreter, a loop).
    fn interrupt(&self);

    /// Legacy service hook for a [`crate::ServiceRequest`] (JSON); returns JSON `null` for an
    /// unknown service or a [`crate::ServiceCommand`].
    fn start_service(&self, request_json: RStr<'_>) -> RResult<RString, PluginError>;

    /// The host is shutting down: stop background work, and end every process the plugin owns
    /// itself (see the crate docs, "When a plugin may own processes and sockets").
    #[sabi(last_prefix_field)]
    fn shutdown(&self);

    /// Since 1.1: an `event` op from the agent, as JSON `{"type": ..., "data": ...}` (for
    /// example `{"type": "oom"}`). Plugins built against 1.0 ignore events (this default).
    fn on_event(&self, _event_json: RStr<'_>) {}

    /// Since 1.3: whether the source in an [`crate::IsCompleteRequest`] (JSON) is a complete
    /// snippet or needs more lines, for a frontend deciding what Enter does; returns an
    /// [`crate::IsCompleteReply`] as JSON. Plugins built against 1.2 or older answer
    /// `{"status":"complete"}` (this default): every Enter runs what was typed.
    fn is_complete(&self, _request_json: RStr<'_>) -> RResult<RString, PluginError> {
        RResult::ROk(RString::from(crate::payload::IsCompleteReply::DEFAULT_JSON))
    }
}

/// The host object as plugins receive it.
pub type HostBox = Host_TO<'static, RArc<()>>;

/// The runner object as the host receives it.
pub type RunnerBox = Runner_TO<'static, RBox<()>>;

/// The root module every plugin exports (through [`crate::export_plugin!`]).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = KernelPluginRef)))]
#[sabi(missing_field(panic))]
pub struct KernelPlugin {
    /// Returns the plugin's [`crate::PluginInfo`] as JSON.
    pub info: extern "C" fn() -> RString,

    /// Creates a runner for a [`crate::RunnerConfig`] (JSON), with the host's callbacks.
    #[sabi(last_prefix_field)]
    pub new_runner:
        extern "C" fn(config_json: RStr<'_>, host: HostBox) -> RResult<RunnerBox, PluginError>,

    /// Since 1.1: the plugin's self-test samples, a JSON array of [`crate::Sample`]. Absent
    /// in plugins built against 1.0 (the accessor returns `None`).
    #[sabi(missing_field(option))]
    pub samples: extern "C" fn() -> RString,

    /// Since 1.4: every language this file serves, a JSON array of [`crate::PluginInfo`], one
    /// per language. A file that serves several is installed once per language, as
    /// `libkernel_<language>.so` (hard links), and the host takes the entry its file name
    /// names; `info` answers for the first. Absent in older plugins (they serve `info`'s).
    #[sabi(missing_field(option))]
    pub languages: extern "C" fn() -> RString,

    /// Since 1.4: the samples of one of the [`Self::languages`], as `samples` returns them
    /// (an empty array for a language the file does not serve).
    #[sabi(missing_field(option))]
    pub samples_for: extern "C" fn(language: RStr<'_>) -> RString,
}

impl RootModule for KernelPluginRef {
    declare_root_module_statics! {KernelPluginRef}
    const BASE_NAME: &'static str = "kernel";
    const NAME: &'static str = "krunner kernel plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// The `krunner-plugin-api` version this crate is (and plugins built with it target).
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The name of the symbol every plugin exports (abi_stable's `LibHeader`).
pub const ENTRY_SYMBOL: &str = abi_stable::library::ROOT_MODULE_LOADER_NAME;
