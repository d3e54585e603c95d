//! JSON payloads exchanged across the boundary.
//!
//! Everything that may grow travels as a JSON string rather than as a `#[repr(C)]` struct:
//! a minor version can then add optional fields (`#[serde(default)]`, unknown fields ignored)
//! without touching the layout-checked ABI surface.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Capability names a plugin may declare in [`PluginInfo::capabilities`].
pub mod capability {
    /// `clean`/`build`/`exec` heuristics (`*` commands).
    pub const BATCH: &str = "batch";
    /// `code` ops (query mode).
    pub const QUERY: &str = "query";
    /// `complete` ops return real suggestions.
    pub const COMPLETE: &str = "complete";
    /// The legacy `start_service` hook resolves some service names.
    pub const SERVICES: &str = "services";
    /// Query mode may ask for interactive input.
    pub const INPUT: &str = "input";
}

/// Output message types a plugin may emit through the host.
pub mod output {
    /// Raw bytes for the user's standard output (need not be UTF-8).
    pub const STDOUT: &str = "stdout";
    /// Raw bytes for the user's standard error (need not be UTF-8).
    pub const STDERR: &str = "stderr";
    /// A JSON object `{"type": <mime>, "data": ...}`.
    pub const MEDIA: &str = "media";
    /// Raw HTML (UTF-8).
    pub const HTML: &str = "html";
    /// A log line for the console (UTF-8).
    pub const LOG: &str = "log";
}

/// Static description of a plugin, returned by the root module's `info` function.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct PluginInfo {
    /// The runner name, as in `krunner <lang>` and the image label `ai.backend.runtime-type`.
    /// Must match the file name `libkernel_<language>.so`.
    pub language: String,
    /// The plugin's own version (its crate version, usually).
    pub plugin_version: String,
    /// The `krunner-plugin-api` version the plugin was compiled against (set by the SDK).
    pub api_version: String,
    /// The lowest `krunner-plugin-api` 1.x minor the plugin needs from the host.
    pub min_api_minor: u32,
    /// Capability names, see [`capability`].
    pub capabilities: Vec<String>,
    /// Whether the plugin was compiled with `panic = "unwind"` (needed to catch panics).
    pub panic_unwind: bool,
    /// One line for `krunner plugins list`.
    pub description: String,
    /// The default interpreter or compiler when no `runtime_path` is given.
    pub default_runtime: Option<String>,
}

impl PluginInfo {
    /// Whether the plugin declares `cap`.
    pub fn has(&self, cap: &str) -> bool {
        self.capabilities.iter().any(|c| c == cap)
    }
}

/// Configuration handed to `new_runner`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct RunnerConfig {
    /// The language the host was started for.
    pub language: String,
    /// The second positional argument of `krunner <lang> [runtime_path]`, if any.
    pub runtime_path: Option<String>,
    /// The working directory of the session (the host's current directory).
    pub work_dir: String,
    /// The configuration directory (`/home/config` by default).
    pub config_dir: String,
    /// `--debug` was given.
    pub debug: bool,
    /// The host's `krunner-plugin-api` version.
    pub api_version: String,
    /// The host program's version.
    pub host_version: String,
}

/// What to run: a shell command line or an argv.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Run with `/bin/sh -c <line>`.
    Shell(String),
    /// Exec the argv directly (`argv[0]` is looked up on the child's `PATH`).
    Argv(Vec<String>),
}

/// A request to the host to run a subprocess.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RunSpec {
    /// The command.
    #[serde(flatten)]
    pub command: Command,
    /// Variables added to (or overriding) the child environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Directories prepended to the child's `PATH`, in order.
    #[serde(default)]
    pub path_prepend: Vec<String>,
    /// Working directory; the session directory when absent.
    #[serde(default)]
    pub cwd: Option<String>,
}

impl RunSpec {
    /// A `/bin/sh -c` command.
    pub fn shell(line: impl Into<String>) -> Self {
        Self::from_command(Command::Shell(line.into()))
    }

    /// An argv command.
    pub fn argv<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::from_command(Command::Argv(argv.into_iter().map(Into::into).collect()))
    }

    fn from_command(command: Command) -> Self {
        Self {
            command,
            env: BTreeMap::new(),
            path_prepend: Vec::new(),
            cwd: None,
        }
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Sets the working directory.
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Prepends a directory to `PATH`.
    pub fn path_prepend(mut self, dir: impl Into<String>) -> Self {
        self.path_prepend.push(dir.into());
        self
    }
}

/// A self-test a plugin declares: files to create, the ops to send, and what must come back.
/// `krunner plugins test <lang>` runs every sample over the real protocol.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Sample {
    /// A short name, e.g. `hello-batch`.
    pub name: String,
    /// Files (relative path → content) created in a fresh working directory first.
    pub files: BTreeMap<String, String>,
    /// A `code` op (query mode). When set, the batch fields are ignored.
    pub code: Option<String>,
    /// The `clean` command (batch mode).
    pub clean: Option<String>,
    /// The `build` command (batch mode).
    pub build: Option<String>,
    /// The `exec` command (batch mode).
    pub exec: Option<String>,
    /// Input lines answered, in order, when the runner asks for input.
    pub input: Vec<String>,
    /// The exact standard output expected from the last task.
    pub expect_stdout: Option<String>,
    /// The exit code expected from the last task.
    pub expect_exit: i32,
    /// A program the sample needs; the sample is skipped (and says so) when it is missing.
    pub requires: Option<String>,
    /// Environment variables the sample needs (credentials for a remote service, say); the
    /// sample is skipped (and says so) when one is unset or empty in the environment of
    /// `krunner plugins test`. Older hosts ignore this field and run the sample.
    pub requires_env: Vec<String>,
}

/// The result of [`crate::abi::Host::capture`]: output is collected, not streamed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct CaptureOutput {
    /// Exit code, shell convention (128+N when killed by signal N).
    pub exit_code: i32,
    /// Standard output, decoded lossily as UTF-8.
    pub stdout: String,
    /// Standard error, decoded lossily as UTF-8.
    pub stderr: String,
}

/// The payload of a `complete` op.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct CompletionRequest {
    /// The whole code buffer.
    pub code: String,
    /// The line the cursor is on.
    pub line: String,
    /// Cursor row (0-based).
    pub row: i64,
    /// Cursor column (0-based).
    pub col: i64,
    /// Text after the cursor on that line.
    pub post: String,
}

/// What [`crate::abi::Runner::is_complete`] is asked: the source typed so far.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct IsCompleteRequest {
    /// The whole source, lines separated by `\n`.
    pub code: String,
}

/// Whether a snippet is complete (Jupyter's `is_complete_reply` vocabulary, so a bridge to a
/// Jupyter kernel can pass its answers on).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Completeness {
    /// Ready to run as it is.
    Complete,
    /// More lines are needed (an open block, bracket or string).
    Incomplete,
    /// It can never become valid by adding lines: run it, so the user sees the error.
    Invalid,
    /// The runner cannot tell; the frontend decides (a blank line or Alt-Enter ends the
    /// snippet). Also what any status this version does not know reads as.
    #[default]
    #[serde(other)]
    Unknown,
}

/// What [`crate::abi::Runner::is_complete`] answers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct IsCompleteReply {
    /// The verdict.
    pub status: Completeness,
    /// With [`Completeness::Incomplete`]: the indentation the next line should start with.
    pub indent: String,
}

impl IsCompleteReply {
    /// The answer of runners built against plugin-api 1.2 or older (the ABI's default).
    pub const DEFAULT_JSON: &'static str = r#"{"status":"complete"}"#;

    /// An answer without indentation.
    pub fn new(status: Completeness) -> Self {
        Self {
            status,
            indent: String::new(),
        }
    }

    /// More lines are needed; the next one starts with `indent`.
    pub fn incomplete(indent: impl Into<String>) -> Self {
        Self {
            status: Completeness::Incomplete,
            indent: indent.into(),
        }
    }
}

/// The payload of a `start-service` op, as the agent sends it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct ServiceRequest {
    /// Service name, e.g. `jupyter`.
    pub name: String,
    /// The primary container port.
    pub port: u16,
    /// All container ports of the service.
    pub ports: Vec<u16>,
    /// `http`, `tcp`, `preopen`, `vnc`, `rdp` or `pty`.
    pub protocol: String,
    /// `{"arguments": {...}, "envs": {...}}` from the user.
    pub options: serde_json::Value,
}

/// What a legacy `start_service` hook returns for a service it knows.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct ServiceCommand {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Extra environment for the service.
    pub env: BTreeMap<String, String>,
    /// Working directory, if not the session directory.
    pub cwd: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_spec_json_shape() {
        let spec = RunSpec::shell("make").env("A", "1");
        let json = serde_json::to_value(&spec).expect("serialize");
        assert_eq!(json["shell"], "make");
        assert_eq!(json["env"]["A"], "1");
        let back: RunSpec = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, spec);
        let argv: RunSpec =
            serde_json::from_str(r#"{"argv": ["gcc", "-v"], "unknown": 1}"#).expect("argv");
        assert_eq!(argv.command, Command::Argv(vec!["gcc".into(), "-v".into()]));
    }

    #[test]
    fn is_complete_replies_grow_without_breaking() {
        let default: IsCompleteReply =
            serde_json::from_str(IsCompleteReply::DEFAULT_JSON).expect("default");
        assert_eq!(default, IsCompleteReply::new(Completeness::Complete));
        let future: IsCompleteReply =
            serde_json::from_str(r#"{"status": "maybe", "hint": 1}"#).expect("future");
        assert_eq!(future.status, Completeness::Unknown);
        let json = serde_json::to_value(IsCompleteReply::incomplete("    ")).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"status": "incomplete", "indent": "    "})
        );
    }

    #[test]
    fn info_tolerates_unknown_and_missing_fields() {
        let info: PluginInfo =
            serde_json::from_str(r#"{"language": "c", "from_the_future": true}"#).expect("info");
        assert_eq!(info.language, "c");
        assert!(info.capabilities.is_empty());
    }
}
