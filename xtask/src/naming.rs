//! The names a plugin is shipped under: `libkernel_<language>.so`, after the languages the
//! plugin reports. Cargo names a library `lib<[lib] name>.so`, and a Rust library name cannot
//! hold the `.` of a language such as `vendor.aws_polly`, nor name the several languages of a
//! file that serves more than one; such a plugin is built under a name that is not a plugin
//! file name, and the built host's probe (`krunner __probe FILE`, the child `krunner plugins
//! list` runs for each file) says which languages it serves. A file that serves several is
//! shipped under each of their names.

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
    #[serde(default)]
    languages: Vec<String>,
}

/// Whether `name` is a plugin file name (`libkernel_<language>.so`).
pub(crate) fn is_plugin_file(name: &str) -> bool {
    name.strip_prefix("libkernel_")
        .and_then(|n| n.strip_suffix(".so"))
        .is_some_and(|lang| !lang.is_empty())
}

/// The names `built` is shipped under: its own when cargo already gave it a plugin file name,
/// else `libkernel_<language>.so` for each language it serves, as the built host reports them.
pub(crate) fn shipped_names(krunner: &Path, built: &Path) -> Result<Vec<String>, NamingError> {
    let name = built
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if is_plugin_file(&name) {
        return Ok(vec![name]);
    }
    let mut cmd = Command::new(krunner);
    cmd.arg("__probe")
        .arg(built)
        .env("KRUNNER_LOG", "off")
        .stdin(Stdio::null());
    let out = tool::output("krunner __probe", &mut cmd)?;
    let probe: Probe =
        serde_json::from_slice(&out).map_err(|e| NamingError::Parse(name.clone(), e))?;
    if probe.status != "ok" || probe.languages.is_empty() {
        return Err(NamingError::Unloadable {
            file: name,
            reason: format!("{}: {}", probe.status, probe.reason),
        });
    }
    Ok(probe
        .languages
        .iter()
        .map(|l| format!("libkernel_{l}.so"))
        .collect())
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
