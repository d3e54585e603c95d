//! Probing a plugin file in a child process.
//!
//! Loading a shared object runs its initialisers, and a broken file can crash the loading
//! process (SIGBUS on a truncated mapping, abi_stable's exit on a panic across the boundary).
//! `plugins list` and `plugins check` therefore load each file in a throwaway child
//! (`krunner __probe FILE`), which prints a JSON [`Report`]; a crash is reported with its signal.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, RResult, RSlice, RStr, RString};
use krunner_plugin_api::abi::Host;
use krunner_plugin_api::{
    Host_TO, LogLevel, PluginError, PluginInfo, RunnerConfig, Sample, API_VERSION,
};
use serde::{Deserialize, Serialize};

use super::load::load;

/// How long a probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// The verdict on one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Loads and creates a runner.
    Ok,
    /// Built for another plugin ABI.
    Incompatible,
    /// Not a usable plugin file.
    Broken,
}

/// What probing a file found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The file.
    pub file: PathBuf,
    /// The verdict.
    pub status: Status,
    /// Why, when not ok (one line).
    #[serde(default)]
    pub reason: String,
    /// The full abi_stable layout report, for layout mismatches.
    #[serde(default)]
    pub details: Option<String>,
    /// The plugin's self-description, when it could be read.
    #[serde(default)]
    pub info: Option<PluginInfo>,
    /// The plugin-api version the plugin was built against.
    #[serde(default)]
    pub built_against: Option<String>,
    /// Declared samples (`None`: the plugin predates samples).
    #[serde(default)]
    pub samples: Option<Vec<Sample>>,
}

impl Report {
    fn failed(file: &Path, status: Status, reason: String) -> Self {
        Self {
            file: file.to_path_buf(),
            status,
            reason,
            details: None,
            info: None,
            built_against: None,
            samples: None,
        }
    }
}

/// Loads `file` in this process, creates a runner with a host that refuses to run anything,
/// and shuts it down again. Used by the `__probe` child.
pub fn here(file: &Path) -> Report {
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
        built_against: Some(plugin.built_against.clone()),
        samples: None,
    };
    match plugin.samples() {
        Some(Ok(samples)) => report.samples = Some(samples),
        Some(Err(e)) => {
            report.status = Status::Broken;
            report.reason = e;
            return report;
        }
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
    match plugin.new_runner(&config, host) {
        Ok(runner) => runner.shutdown(),
        Err(e) => {
            report.status = Status::Broken;
            report.reason = format!(
                "{}: plugin initialisation failed: {}",
                file.display(),
                e.message()
            );
        }
    }
    report
}

/// Probes `file` in a child process (`krunner __probe FILE`).
pub fn in_child(file: &Path) -> Report {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return Report::failed(file, Status::Broken, format!("cannot find krunner: {e}")),
    };
    let child = Command::new(exe)
        .arg("__probe")
        .arg(file)
        .env("KRUNNER_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return Report::failed(file, Status::Broken, format!("cannot start a probe: {e}"))
        }
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > PROBE_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Report::failed(
                    file,
                    Status::Broken,
                    format!(
                        "{}: loading did not finish within {PROBE_TIMEOUT:?}",
                        file.display()
                    ),
                );
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Report::failed(file, Status::Broken, e.to_string()),
        }
    }
    let output = match child.wait_with_output() {
        Ok(o) => o,
        Err(e) => return Report::failed(file, Status::Broken, e.to_string()),
    };
    if let Ok(report) = serde_json::from_slice::<Report>(&output.stdout) {
        return report;
    }
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
        RString::from(crate::callbacks::host_info_json())
    }
}
