//! Probing a plugin file in a child process.
//!
//! Loading a shared object runs its initialisers, and a broken file can crash the loading
//! process (SIGBUS on a truncated mapping, abi_stable's exit on a panic across the boundary).
//! `plugins list` and `plugins check` therefore load each file in a throwaway child
//! (`krunner __probe FILE`), which prints a JSON [`Report`]; a crash is reported with its signal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, RResult, RSlice, RStr, RString};
use krunner_plugin_api::abi::Host;
use krunner_plugin_api::{
    Host_TO, LogLevel, PluginError, PluginInfo, RunnerConfig, Sample, API_VERSION,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::callbacks::host_info_json;
use super::load::{load, Plugin};
use crate::process::{self, Spawn};

/// How long a probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// The verdict on one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// Loads and creates a runner.
    Ok,
    /// Built for another plugin ABI.
    Incompatible,
    /// Not a usable plugin file.
    Broken,
}

/// What probing a file found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Report {
    /// The file.
    pub(crate) file: PathBuf,
    /// The verdict.
    pub(crate) status: Status,
    /// Why, when not ok (one line).
    #[serde(default)]
    pub(crate) reason: String,
    /// The full abi_stable layout report, for layout mismatches.
    #[serde(default)]
    pub(crate) details: Option<String>,
    /// The plugin's self-description, when it could be read.
    #[serde(default)]
    pub(crate) info: Option<PluginInfo>,
    /// Every language the file serves (more than one for a file built with
    /// `export_plugins!`, installed once per language).
    #[serde(default)]
    pub(crate) languages: Vec<String>,
    /// The plugin-api version the plugin was built against.
    #[serde(default)]
    pub(crate) built_against: Option<String>,
    /// Declared samples (`None`: the plugin predates samples).
    #[serde(default)]
    pub(crate) samples: Option<Vec<Sample>>,
}

impl Report {
    fn failed(file: &Path, status: Status, reason: String) -> Self {
        Self {
            file: file.to_path_buf(),
            status,
            reason,
            details: None,
            info: None,
            languages: Vec::new(),
            built_against: None,
            samples: None,
        }
    }
}

/// Loads `file` in this process, creates a runner with a host that refuses to run anything,
/// and shuts it down again. Used by the `__probe` child.
pub(crate) fn here(file: &Path) -> Report {
    let plugin = match load(file) {
        Ok(p) => p,
        Err(e) => {
            let status = if e.is_incompatible() {
                Status::Incompatible
            } else {
                Status::Broken
            };
            let mut report = Report::failed(file, status, e.to_string());
            report.details = e.details().map(str::to_owned);
            return report;
        }
    };
    let mut report = Report {
        file: file.to_path_buf(),
        status: Status::Ok,
        reason: String::new(),
        details: None,
        info: Some(plugin.info.clone()),
        languages: plugin.languages.clone(),
        built_against: Some(plugin.built_against.clone()),
        samples: None,
    };
    if let Err(failure) = check_runner(file, &plugin, &mut report) {
        report.status = Status::Broken;
        report.reason = failure.to_string();
    }
    report
}

/// Why a plugin that loaded is still broken.
#[derive(Debug, Error)]
enum RunnerFailure {
    /// Its samples are not valid JSON.
    #[error("invalid samples: {0}")]
    Samples(serde_json::Error),
    /// It refused to create a runner.
    #[error("{}: plugin initialisation failed: {message}", .file.display())]
    Init {
        /// The file.
        file: PathBuf,
        /// What the plugin said.
        message: String,
    },
}

/// Reads the samples and creates (and shuts down) a runner with a host that refuses to run
/// anything; fills `report.samples`.
fn check_runner(file: &Path, plugin: &Plugin, report: &mut Report) -> Result<(), RunnerFailure> {
    match plugin.samples() {
        Some(Ok(samples)) => report.samples = Some(samples),
        Some(Err(e)) => return Err(RunnerFailure::Samples(e)),
        None => {}
    }
    let config = RunnerConfig {
        language: plugin.info.language.clone(),
        work_dir: std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        api_version: API_VERSION.to_owned(),
        host_version: env!("CARGO_PKG_VERSION").to_owned(),
        ..RunnerConfig::default()
    };
    let host = Host_TO::from_ptr(RArc::new(ProbeHost), TD_Opaque);
    let runner = plugin
        .new_runner(&config, host)
        .map_err(|e| RunnerFailure::Init {
            file: file.to_path_buf(),
            message: e.message().to_owned(),
        })?;
    runner.shutdown();
    Ok(())
}

/// Probes `file` in a child process (`krunner __probe FILE`).
pub(crate) fn in_child(file: &Path) -> Report {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return Report::failed(file, Status::Broken, format!("cannot find krunner: {e}")),
    };
    let mut env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    env.insert("KRUNNER_LOG".into(), "off".into());
    let spawn = Spawn {
        program: exe,
        args: vec!["__probe".into(), file.display().to_string()],
        env,
        ..Spawn::default()
    };
    let output = match process::output_within(&spawn, PROBE_TIMEOUT) {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            let reason = format!(
                "{}: loading did not finish within {PROBE_TIMEOUT:?}",
                file.display()
            );
            return Report::failed(file, Status::Broken, reason);
        }
        Err(e) => {
            return Report::failed(file, Status::Broken, format!("cannot start a probe: {e}"))
        }
    };
    match serde_json::from_slice::<Report>(&output.stdout) {
        Ok(report) => report,
        Err(_) => crashed(file, &output),
    }
}

/// The report for a probe that printed no report: it crashed, or exited early.
fn crashed(file: &Path, output: &std::process::Output) -> Report {
    use std::os::unix::process::ExitStatusExt;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let how = match output.status.signal() {
        Some(sig) => format!("crashed while loading (signal {sig}, {})", signal_name(sig)),
        None => format!("the probe exited with {}", output.status),
    };
    let reason = if last.is_empty() {
        format!("{}: {how}", file.display())
    } else {
        format!("{}: {how}: {last}", file.display())
    };
    Report::failed(file, Status::Broken, reason)
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGABRT => "SIGABRT",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        _ => "signal",
    }
}

/// The host a probed runner sees: it logs, and refuses to run or ask anything.
struct ProbeHost;

impl Host for ProbeHost {
    fn run(&self, _spec_json: RStr<'_>) -> RResult<i32, PluginError> {
        RResult::RErr(PluginError::unsupported("not available while probing"))
    }

    fn capture(&self, _spec_json: RStr<'_>) -> RResult<RString, PluginError> {
        RResult::RErr(PluginError::unsupported("not available while probing"))
    }

    fn emit(&self, _kind: RStr<'_>, _data: RSlice<'_, u8>) -> RResult<(), PluginError> {
        RResult::ROk(())
    }

    fn read_input(&self, _prompt: RStr<'_>, _is_password: bool) -> RResult<RString, PluginError> {
        RResult::RErr(PluginError::unsupported("not available while probing"))
    }

    fn log(&self, _level: LogLevel, message: RStr<'_>) {
        tracing::debug!("plugin: {message}");
    }

    fn interrupted(&self) -> bool {
        false
    }

    fn child_env(&self) -> RString {
        RString::from("{}")
    }

    fn host_info(&self) -> RString {
        RString::from(host_info_json())
    }
}
