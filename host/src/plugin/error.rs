//! Every way loading a plugin can fail, each with a message that says what to do.
//!
//! `krunner plugins list/check` sort these into "broken" (the file) and "incompatible" (built
//! for another plugin-api), and serve mode reports them on every task.

use std::path::PathBuf;

use krunner_plugin_api::API_VERSION;
use thiserror::Error;

use super::preflight::PreflightError;

/// Why a plugin could not be loaded.
#[derive(Debug, Error)]
pub(crate) enum LoadError {
    /// The file failed the pre-flight check.
    #[error("{path}: {source}")]
    Preflight {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: PreflightError,
    },
    /// The dynamic loader refused it (often a missing dependency).
    #[error("{path}: cannot be loaded: {detail} (check its dependencies with `ldd`)")]
    Open {
        /// The file.
        path: PathBuf,
        /// dlerror text.
        detail: String,
    },
    /// A shared library without the plugin entry point.
    #[error("{path}: not a krunner plugin (no entry point; was it built with krunner_plugin_api::export_plugin!?)")]
    NotAPlugin {
        /// The file.
        path: PathBuf,
    },
    /// Built with an incompatible abi_stable.
    #[error("{path}: built with an incompatible abi_stable ({detail}); rebuild it against krunner-plugin-api {API_VERSION}")]
    AbiStable {
        /// The file.
        path: PathBuf,
        /// Details.
        detail: String,
    },
    /// Another major version of the plugin API.
    #[error("{path}: plugin targets plugin-api {plugin}; this host supports {host_major}.0–{host} — use a {host_major}.x build of the plugin or a matching host")]
    MajorMismatch {
        /// The file.
        path: PathBuf,
        /// The plugin's API version.
        plugin: String,
        /// The host's major.
        host_major: u32,
        /// The host's API version.
        host: &'static str,
    },
    /// The plugin needs a newer host.
    #[error("{path}: plugin requires plugin-api ≥ {major}.{needed}; this host provides {host} — upgrade krunner")]
    NeedsNewerHost {
        /// The file.
        path: PathBuf,
        /// Major.
        major: u32,
        /// Minimum minor.
        needed: u32,
        /// Host version.
        host: &'static str,
    },
    /// Its types do not match the version it claims.
    #[error("{path}: plugin claims plugin-api {plugin} but its types differ from this host's (interface changed without a major bump?): {summary}")]
    Layout {
        /// The file.
        path: PathBuf,
        /// Claimed version.
        plugin: String,
        /// The first lines of the mismatch.
        summary: String,
        /// The whole abi_stable report.
        full: String,
    },
    /// Its initialisation failed or panicked.
    #[error("{path}: plugin initialisation failed: {detail}")]
    Init {
        /// The file.
        path: PathBuf,
        /// Details.
        detail: String,
    },
    /// Its self-description is unusable.
    #[error("{path}: invalid plugin info: {detail}")]
    BadInfo {
        /// The file.
        path: PathBuf,
        /// Details.
        detail: String,
    },
    /// It reports another language than its file name says.
    #[error(
        "{path}: the file is named for '{expected}' but the plugin reports language '{reported}'"
    )]
    NameMismatch {
        /// The file.
        path: PathBuf,
        /// From the file name.
        expected: String,
        /// From the plugin.
        reported: String,
    },
    /// A file that serves several languages is named for none of them.
    #[error(
        "{path}: the file is named for '{expected}' but the plugin serves {}; it is installed \
         as libkernel_<language>.so for each of them",
        .served.join(", ")
    )]
    NotServed {
        /// The file.
        path: PathBuf,
        /// From the file name.
        expected: String,
        /// What the plugin serves.
        served: Vec<String>,
    },
}

impl LoadError {
    /// Whether the failure means "built for another ABI" rather than "broken file".
    pub(crate) fn is_incompatible(&self) -> bool {
        matches!(
            self,
            LoadError::MajorMismatch { .. }
                | LoadError::NeedsNewerHost { .. }
                | LoadError::Layout { .. }
                | LoadError::AbiStable { .. }
        )
    }

    /// The full abi_stable report for layout errors (for `--verbose`).
    pub(crate) fn details(&self) -> Option<&str> {
        match self {
            LoadError::Layout { full, .. } => Some(full),
            _ => None,
        }
    }
}
