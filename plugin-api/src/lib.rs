//! # krunner-plugin-api
//!
//! The stable plugin ABI of [krunner](https://github.com/krunner/krunner), the Backend.AI kernel
//! runner, and the SDK for writing language plugins.
//!
//! A plugin is a `cdylib` named `libkernel_<language>.so`. The host (`krunner <language>`)
//! finds it on its plugin search path, checks it, and drives it: the host owns the wire
//! protocol, the task queue, subprocesses and process groups, interrupts and interactive
//! input; the plugin only decides *what* to run for `clean *`, `build *`, `exec *` and `code`.
//! Languages that share most of their code can be one file ([`export_plugins!`], since 1.4),
//! installed under each language's `libkernel_<language>.so` name.
//!
//! ## Writing a plugin
//!
//! ```toml
//! # Cargo.toml
//! [package]
//! name = "kernel-ruby"
//! version = "0.1.0"
//! edition = "2021"
//!
//! [lib]
//! name = "kernel_ruby"          # gives libkernel_ruby.so
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! krunner-plugin-api = "1"
//!
//! [profile.release]
//! panic = "unwind"              # never "abort": the SDK catches panics at the boundary
//! ```
//!
//! ```no_run
//! use krunner_plugin_api::sdk::{HostHandle, Kernel, Result};
//! use krunner_plugin_api::{capability, PluginInfo, RunSpec, RunnerConfig};
//!
//! pub struct Ruby {
//!     host: HostHandle,
//!     ruby: String,
//! }
//!
//! impl Kernel for Ruby {
//!     fn info() -> PluginInfo {
//!         PluginInfo {
//!             language: "ruby".into(),
//!             plugin_version: env!("CARGO_PKG_VERSION").into(),
//!             capabilities: vec![capability::BATCH.into(), capability::QUERY.into()],
//!             description: "Ruby scripts (main.rb) and snippets".into(),
//!             default_runtime: Some("ruby".into()),
//!             ..PluginInfo::default()
//!         }
//!     }
//!
//!     fn new(config: RunnerConfig, host: HostHandle) -> Result<Self> {
//!         let ruby = config.runtime_path.unwrap_or_else(|| "ruby".into());
//!         Ok(Self { host, ruby })
//!     }
//!
//!     fn execute(&self) -> Result<i32> {
//!         if !std::path::Path::new("main.rb").exists() {
//!             self.host.error("cannot find the main script (\"main.rb\").");
//!             return Ok(127);
//!         }
//!         self.host.run(&RunSpec::argv([self.ruby.as_str(), "main.rb"]))
//!     }
//!
//!     fn query(&self, code: &str) -> Result<i32> {
//!         self.host.run(&RunSpec::argv([self.ruby.as_str(), "-e", code]))
//!     }
//! }
//!
//! krunner_plugin_api::export_plugin!(Ruby);
//! ```
//!
//! `cargo build --release` gives `target/release/libkernel_ruby.so`; put it in a directory on
//! the host's plugin path (`--plugin-dir DIR` or `KRUNNER_PLUGIN_PATH`) and run
//! `krunner run ruby --code 'puts 1+1'`.
//!
//! ## Rules of the road
//!
//! - Run subprocesses through [`sdk::HostHandle::run`], never `std::process` directly: the host
//!   puts them in their own process group, streams their output, and interrupts them. (The one
//!   exception is below, in "When a plugin may own processes and sockets".)
//! - Methods are synchronous; the host calls task methods on its task thread, and `complete` /
//!   `interrupt` on another thread, possibly while a task runs.
//! - Panics are caught by the SDK and reported as errors; the host then replaces the runner.
//! - Log with [`sdk::HostHandle::warn`] and friends: warnings and errors reach the user.
//!
//! ## Interpreters
//!
//! Since 1.2, [`sdk::HostHandle::spawn`] starts an interpreter: a long-lived process (the REPL
//! of a stateful query mode, which keeps its state between queries) whose stdin, stdout and
//! stderr the plugin drives itself through an [`sdk::Interpreter`], while the host still owns
//! its process group and terminates it at shutdown. (`sdk::SessionProcess` is its former name,
//! kept as a deprecated alias.)
//!
//! ## When a plugin may own processes and sockets
//!
//! The host owns processes and the agent's sockets: commands go through
//! [`sdk::HostHandle::run`] and [`sdk::HostHandle::capture`], interpreters through
//! [`sdk::HostHandle::spawn`], and the host puts each in a process group it interrupts and
//! ends at shutdown. A plugin may start a process or bind a socket itself only when the host
//! cannot provide it, because the plugin's child needs something the host's facilities do not
//! give, or the agent talks to the plugin through something the wire protocol has no notion
//! of. The `git` plugin is that case: its terminal is a shell on a pseudo-terminal (the host
//! gives children pipes, never a terminal), bridged to two ZeroMQ sockets of its own (by
//! default 2002 for keystrokes and 2003 for the terminal's output), which the agent's terminal
//! client uses directly; the protocol has no op for either.
//!
//! A plugin that does so must guarantee what the host would otherwise guarantee:
//!
//! - **Its own process group and POSIX session for its children** (`setsid`), never the
//!   host's, so the signals the host sends to its own groups never reach them, and the plugin
//!   can end them as a whole.
//! - **They end on [`sdk::Kernel::shutdown`]**, quickly (the host waits about 300 ms for a
//!   plugin before it exits): a hangup or SIGTERM first, then SIGKILL for every process still
//!   in their process groups or POSIX session, including jobs they left running.
//! - **They end when the runner is dropped** without a shutdown, unless a replacement runner
//!   (the host creates one after a panic, before dropping the old one) takes them over.
//! - **Its children die with the host** even when the host is killed outright
//!   (`PR_SET_PDEATHSIG`; the other processes on a pseudo-terminal then get its hangup), so
//!   nothing outlives the container's main process. Processes that leave their POSIX session
//!   on purpose (`setsid`, daemons) are out of reach, as they are out of the host's.
//! - **Its sockets bind only ports it documents and lets the operator move**, never the
//!   agent's: the wire protocol's ports and the intrinsic services' ports
//!   (`intrinsic-ports.json` in [`RunnerConfig::config_dir`]) are refused.
//! - **The work runs on the plugin's own threads**, so task methods and `interrupt` never
//!   block on a socket, and `shutdown` returns within the host's grace; the sockets close when
//!   those threads end.
//!
//! Everything else (the output of commands, input, interrupts of tasks) still goes through the
//! host.
//!
//! Outbound requests are not this case: a plugin may be a network client itself (the
//! `vendor.aws_polly` plugin calls Amazon Polly over HTTPS), as long as it binds nothing,
//! starts no process, bounds every wait with a timeout, and lets `interrupt` and `shutdown`
//! cancel what is in flight. Its module docs say where it connects.
//!
//! ## Self-tests
//!
//! Implement [`sdk::Kernel::samples`] to declare hello-world style [`Sample`]s (files to
//! create, ops to send, expected stdout and exit code). `krunner plugins test <lang>` runs them
//! over the real protocol, and image builds can run it to catch a broken toolchain early.
//!
//! ## Versioning
//!
//! The ABI is versioned by this crate's version, 1.4.0:
//!
//! - 1.1 added the root-module entry `samples`, `Runner::on_event` and `Host::host_info`;
//! - 1.2 added `Host::spawn` and `Process`;
//! - 1.3 added `Runner::is_complete` ([`sdk::Kernel::is_complete`]): whether a snippet typed
//!   at `krunner console` is complete, as JSON in ([`IsCompleteRequest`]) and out
//!   ([`IsCompleteReply`]). Runners built against 1.2 or older answer `complete` (the ABI's
//!   default body); the SDK's default for 1.3 runners is `unknown` (the frontend decides).
//! - 1.4 added the root-module entries `languages` and `samples_for`: one file may serve
//!   several languages ([`export_plugins!`]), installed once per language name.
//!
//! Within 1.x, plugins built against any 1.y keep loading in a host built against any 1.z:
//! the host checks layouts in the compatible direction, fields appended later read as absent,
//! and methods appended later fall back to their defaults. A plugin that relies on something
//! newer than the host may offer sets [`PluginInfo::min_api_minor`] and is then refused by
//! older hosts with a clear message. A 2.0 would be a new, incompatible ABI. The tests keep
//! frozen copies of 1.0 and 1.2 (`tests/fixtures/abi/api-1.0`, `api-1.2`) and plugins built
//! against them, and check that those load and that the methods added since answer with their
//! defaults.
//!
//! Rules for evolving 1.x: append root-module fields after the `last_prefix_field` marker
//! (with `missing_field(option)`), append trait methods with default bodies, add error-code
//! and log-level constants, add optional JSON fields. Anything else needs 2.0.

pub mod abi;
pub mod error;
pub mod payload;
pub mod sdk;
pub mod util;

pub use abi_stable;
pub use serde_json;

pub use abi::{
    EventKind, HostBox, Host_TO, KernelPlugin, KernelPluginRef, LogLevel, ProcessBox, ProcessEvent,
    Process_TO, RunnerBox, Runner_TO, API_VERSION, ENTRY_SYMBOL,
};
pub use error::{ErrorCode, PluginError};
pub use payload::{
    capability, output, CaptureOutput, Command, Completeness, CompletionRequest, IsCompleteReply,
    IsCompleteRequest, PluginInfo, RunSpec, RunnerConfig, Sample, ServiceCommand, ServiceRequest,
};

/// Exports a [`sdk::Kernel`] implementation as the plugin's root module.
///
/// Use it exactly once, at the crate root of a `cdylib`. It emits abi_stable's `LibHeader`
/// symbol so the host can check the plugin's ABI before calling anything, and wires every entry
/// point through the SDK's panic guard.
#[macro_export]
macro_rules! export_plugin {
    ($kernel:ty) => {
        $crate::__export_root_module!($crate::sdk::root_module::<$kernel>());
    };
}

/// Exports several [`sdk::Kernel`] implementations, one per language, as one plugin file.
///
/// The file is installed once per language, as `libkernel_<language>.so` (hard links), and the
/// host picks the kernel its file name names (plugin-api 1.4; older hosts refuse the file with
/// a message asking for a newer host). It answers `info` and `samples` with the first kernel.
/// Languages that share most of their code ship this way at the size of one plugin. Use it
/// exactly once, at the crate root of a `cdylib`, instead of [`export_plugin!`]:
///
/// ```ignore
/// krunner_plugin_api::export_plugins!(lua::LuaKernel, r::RKernel, php::PhpKernel);
/// ```
#[macro_export]
macro_rules! export_plugins {
    ($($kernel:ty),+ $(,)?) => {
        #[doc(hidden)]
        pub struct __KrunnerKernels;

        impl $crate::sdk::KernelSet for __KrunnerKernels {
            const MEMBERS: &'static [$crate::sdk::Member] =
                &[$($crate::sdk::Member::of::<$kernel>()),+];
        }

        $crate::__export_root_module!($crate::sdk::root_module_of::<__KrunnerKernels>());
    };
}

/// The root module loader and abi_stable's `LibHeader` symbol, shared by [`export_plugin!`]
/// and [`export_plugins!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __export_root_module {
    ($root:expr) => {
        #[doc(hidden)]
        pub extern "C" fn __krunner_root_module_loader(
        ) -> $crate::abi_stable::library::RootModuleResult {
            $crate::abi_stable::library::__call_root_module_loader(
                || -> $crate::KernelPluginRef { $root },
            )
        }

        /// The plugin's entry point (abi_stable's library header).
        #[no_mangle]
        #[doc(hidden)]
        pub static _1as_0lib_1header_0root_bmodule_bloader:
            $crate::abi_stable::library::LibHeader = unsafe {
            $crate::abi_stable::library::LibHeader::from_constructor::<$crate::KernelPluginRef>(
                __krunner_root_module_loader,
                $crate::abi_stable::library::CheckTypeLayout::Yes,
            )
        };
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn entry_symbol_matches_the_exported_static() {
        assert_eq!(
            super::ENTRY_SYMBOL,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }
}
