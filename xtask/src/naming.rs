//! The name a plugin is shipped under: `libkernel_<language>.so`, after the language the plugin
//! reports. Cargo names a library `lib<[lib] name>.so`, and a Rust library name cannot hold
//! the `.` of a language such as `vendor.aws_polly`; such a plugin is built under a name that
//! is not a plugin file name, and the built host's probe (`krunner __probe FILE`, the child
//! `krunner plugins list` runs for each file) says which language it reports.

use std::path::Path;
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::tool::{self, ToolError};

/// Why a plugin's name could not be found.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NamingError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("cannot parse the probe of {0}")]
    Parse(String, #[source] serde_json::Error),
    #[error("the built krunner does not load {file}: {reason}")]
    Unloadable { file: String, reason: String },
}

/// What the probe says, as far as naming needs it.
#[derive(Debug, Deserialize)]
struct Probe {
    status: String,
    #[serde(default)]
    reason: String,
    info: Option<Info>,
}

#[derive(Debug, Deserialize)]
struct Info {
    language: String,
}

/// Whether `name` is a plugin file name (`libkernel_<language>.so`).
pub(crate) fn is_plugin_file(name: &str) -> bool {
    name.strip_prefix("libkernel_")
        .and_then(|n| n.strip_suffix(".so"))
        .is_some_and(|lang| !lang.is_empty())
}

/// The name `built` is shipped under: its own when cargo already gave it a plugin file name,
/// else `libkernel_<the language it reports to krunner>.so`.
pub(crate) fn shipped_name(krunner: &Path, built: &Path) -> Result<String, NamingError> {
    let name = built
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if is_plugin_file(&name) {
        return Ok(name);
    }
    let mut cmd = Command::new(krunner);
    cmd.arg("__probe")
        .arg(built)
        .env("KRUNNER_LOG", "off")
        .stdin(Stdio::null());
    let out = tool::output("krunner __probe", &mut cmd)?;
    let probe: Probe =
        serde_json::from_slice(&out).map_err(|e| NamingError::Parse(name.clone(), e))?;
    match probe.info {
        Some(info) if probe.status == "ok" => Ok(format!("libkernel_{}.so", info.language)),
        _ => Err(NamingError::Unloadable {
            file: name,
            reason: format!("{}: {}", probe.status, probe.reason),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_file_names() {
        assert!(is_plugin_file("libkernel_c.so"));
        assert!(is_plugin_file("libkernel_vendor.aws_polly.so"));
        assert!(!is_plugin_file("libkrunner_aws_polly.so"));
        assert!(!is_plugin_file("libkernel_.so"));
    }
}
