//! The plugin author's side: an idiomatic trait with defaults ([`Kernel`]), a handle to the
//! host ([`HostHandle`]), the long-lived processes it starts ([`Interpreter`]), and the glue
//! that turns a [`Kernel`] into the ABI objects while catching every panic at the boundary.
//!
//! abi_stable aborts the whole host process (exit 1) when a panic unwinds out of a plugin
//! function, so every entry point here runs inside `catch_unwind` and reports a panic as a
//! [`PluginError`] with [`crate::ErrorCode::PANIC`] instead.

mod export;
mod host;
mod interpreter;
mod temp_dir;

pub use export::{guard, info_json, root_module, root_module_of, KernelSet, Member, One};
pub use host::HostHandle;
pub use interpreter::{Event, Interpreter};
pub use temp_dir::TempDir;

use crate::error::PluginError;
use crate::payload::{
    Completeness, CompletionRequest, IsCompleteReply, IsCompleteRequest, PluginInfo, RunnerConfig,
    Sample, ServiceCommand, ServiceRequest,
};

/// The former name of [`Interpreter`], kept so that plugins written against it still build.
#[deprecated(note = "renamed to Interpreter")]
pub type SessionProcess = Interpreter;

/// How long a plugin's own wait for a completion should last at most: the host's
/// [`crate::abi::COMPLETE_DEADLINE`] less time for the answer's way back.
pub const COMPLETE_TIMEOUT: std::time::Duration =
    crate::abi::COMPLETE_DEADLINE.saturating_sub(std::time::Duration::from_millis(100));

/// The same for `is_complete`, under [`crate::abi::IS_COMPLETE_DEADLINE`].
pub const IS_COMPLETE_TIMEOUT: std::time::Duration =
    crate::abi::IS_COMPLETE_DEADLINE.saturating_sub(std::time::Duration::from_millis(500));

/// Result type of plugin methods.
pub type Result<T, E = PluginError> = std::result::Result<T, E>;

/// A language runner, written in plain Rust. Implement it and export the type with
/// [`crate::export_plugin!`]. Every method except [`Kernel::info`] and [`Kernel::new`] has a
/// default, so a plugin implements only what its language needs.
pub trait Kernel: Sized + Send + Sync + 'static {
    /// The plugin's description. `api_version` and `panic_unwind` are filled in by the SDK.
    fn info() -> PluginInfo;

    /// Creates a runner. `host` stays valid for the runner's lifetime.
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

    /// Called once when the host shuts down. A plugin that owns processes or sockets itself
    /// ends them here (see the crate docs, "When a plugin may own processes and sockets").
    fn shutdown(&self) {}

    /// An `event` from the agent (for example an out-of-memory notice).
    fn on_event(&self, _event: &serde_json::Value) {}

    /// Whether `request.code` is a complete snippet (for `krunner console`'s Enter key). By
    /// default the runner cannot tell ([`Completeness::Unknown`]): the frontend then ends a
    /// snippet at a blank line or Alt-Enter. Languages with a parser at hand answer
    /// `Complete`, `Incomplete` (with the next line's indentation) or `Invalid`.
    fn is_complete(&self, _request: &IsCompleteRequest) -> Result<IsCompleteReply> {
        Ok(IsCompleteReply::new(Completeness::Unknown))
    }

    /// Self-tests for `krunner plugins test`: hello-world in batch and query mode, say.
    fn samples() -> Vec<Sample> {
        Vec::new()
    }
}
