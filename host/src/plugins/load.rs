//! Loading one plugin file: pre-flight, `dlopen`, the ABI version policy, and the plugin's
//! self-description.
//!
//! Version policy for `krunner-plugin-api` 1.x: a plugin built against an older or equal minor
//! is checked in the *reverse* direction (its layout must be a prefix of the host's) because
//! abi_stable's stock check refuses older plugins once the interface has grown; a plugin built
//! against a newer minor goes through the stock check and must not demand a newer host.

use std::path::{Path, PathBuf};

use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
use abi_stable::library::{lib_header_from_path, LibraryError};
use abi_stable::std_types::RStr;
use abi_stable::StableAbi;
use krunner_plugin_api::{
    HostBox, KernelPluginRef, PluginError, PluginInfo, RunnerBox, RunnerConfig, API_VERSION,
};
use thiserror::Error;

use super::preflight::{self, PreflightError};
use super::search::language_of;

/// Why a plugin could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
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
}

/// A loaded, checked plugin.
pub struct Plugin {
    /// The file it came from.
    pub path: PathBuf,
    /// The `krunner-plugin-api` version it was built against.
    pub built_against: String,
    /// Its self-description.
    pub info: PluginInfo,
    module: KernelPluginRef,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.path)
            .field("built_against", &self.built_against)
            .field("info", &self.info)
            .finish()
    }
}

impl Plugin {
    /// The plugin's declared samples; `None` for plugins built against plugin-api 1.0, which
    /// has no samples entry point.
    pub fn samples(&self) -> Option<Result<Vec<krunner_plugin_api::Sample>, String>> {
        let samples = self.module.samples()?;
        let json = samples();
        Some(serde_json::from_str(json.as_str()).map_err(|e| format!("invalid samples: {e}")))
    }

    /// Creates a runner.
    pub fn new_runner(
        &self,
        config: &RunnerConfig,
        host: HostBox,
    ) -> Result<RunnerBox, PluginError> {
        let json =
            serde_json::to_string(config).map_err(|e| PluginError::internal(e.to_string()))?;
        (self.module.new_runner())(RStr::from(json.as_str()), host).into_result()
    }
}

fn host_version() -> (u32, u32) {
    let mut parts = API_VERSION
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Loads and checks the plugin at `path`. The library stays mapped for the life of the process
/// (plugins are never unloaded).
pub fn load(path: &Path) -> Result<Plugin, LoadError> {
    let owned = || path.to_path_buf();
    preflight::check(path).map_err(|source| LoadError::Preflight {
        path: owned(),
        source,
    })?;
    bind_now(path).map_err(|detail| LoadError::Open {
        path: owned(),
        detail,
    })?;
    let header = lib_header_from_path(path).map_err(|e| classify(path, e))?;
    let version = header.version_strings().version.as_str().to_owned();
    let parsed = header
        .version_strings()
        .parsed()
        .map_err(|e| LoadError::BadInfo {
            path: owned(),
            detail: format!("unparsable plugin-api version {version:?}: {e}"),
        })?;
    let (host_major, host_minor) = host_version();
    if parsed.major != host_major {
        return Err(LoadError::MajorMismatch {
            path: owned(),
            plugin: version,
            host_major,
            host: API_VERSION,
        });
    }
    let module = if parsed.minor <= host_minor {
        let Some(plugin_layout) = header.layout() else {
            return Err(LoadError::BadInfo {
                path: owned(),
                detail: "the plugin carries no layout information to check".into(),
            });
        };
        check_layout_compatibility(plugin_layout, <KernelPluginRef as StableAbi>::LAYOUT).map_err(
            |errors| {
                let full = errors.to_string();
                LoadError::Layout {
                    path: owned(),
                    plugin: version.clone(),
                    summary: summarize_layout_error(&full),
                    full,
                }
            },
        )?;
        // SAFETY: the plugin's root-module layout was just checked to be a prefix of ours, so
        // every field it has is read with the right type and the rest read as absent.
        unsafe { header.unchecked_layout::<KernelPluginRef>() }.map_err(|e| LoadError::Init {
            path: owned(),
            detail: e.to_string(),
        })?
    } else {
        header
            .init_root_module::<KernelPluginRef>()
            .map_err(|e| classify(path, e))?
    };
    let info_json = (module.info())();
    let info: PluginInfo =
        serde_json::from_str(info_json.as_str()).map_err(|e| LoadError::BadInfo {
            path: owned(),
            detail: e.to_string(),
        })?;
    if info.language.is_empty() {
        return Err(LoadError::BadInfo {
            path: owned(),
            detail: if info.description.is_empty() {
                "it reports no language".into()
            } else {
                info.description.clone()
            },
        });
    }
    if parsed.minor > host_minor && info.min_api_minor > host_minor {
        return Err(LoadError::NeedsNewerHost {
            path: owned(),
            major: host_major,
            needed: info.min_api_minor,
            host: API_VERSION,
        });
    }
    if let Some(expected) = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(language_of)
    {
        if expected != info.language {
            return Err(LoadError::NameMismatch {
                path: owned(),
                expected: expected.to_owned(),
                reported: info.language,
            });
        }
    }
    if !info.panic_unwind {
        tracing::warn!(
            "{}: built with panic=abort; a panic in it will stop the runner",
            path.display()
        );
    }
    Ok(Plugin {
        path: owned(),
        built_against: version,
        info,
        module,
    })
}

/// dlopen with `RTLD_NOW` so missing dependencies are reported now, with the loader's text.
/// The handle is kept, so the later load by abi_stable reuses it.
fn bind_now(path: &Path) -> Result<(), String> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    // SAFETY: loading a library runs its initialisers; the file passed the pre-flight check
    // and plugins are trusted code by design (they run the user's programs).
    match unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) } {
        Ok(lib) => {
            std::mem::forget(lib);
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

fn classify(path: &Path, err: LibraryError) -> LoadError {
    let owned = path.to_path_buf();
    match err {
        LibraryError::OpenError { err, .. } => LoadError::Open {
            path: owned,
            detail: err.to_string(),
        },
        LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin { path: owned },
        LibraryError::InvalidAbiHeader(h) => LoadError::AbiStable {
            path: owned,
            detail: format!("{h:?}"),
        },
        LibraryError::InvalidCAbi { .. } => LoadError::AbiStable {
            path: owned,
            detail: "the C ABI self-test failed".into(),
        },
        LibraryError::AbiInstability(e) => {
            let full = e.to_string();
            LoadError::Layout {
                path: owned,
                plugin: String::new(),
                summary: summarize_layout_error(&full),
                full,
            }
        }
        LibraryError::RootModule { err, .. } => LoadError::Init {
            path: owned,
            detail: err.to_string(),
        },
        other => LoadError::Init {
            path: owned,
            detail: other.to_string(),
        },
    }
}

/// The few lines of an abi_stable layout report that say what differs: each `Error:` with
/// the nearest type named before it and the expected/found values after it.
pub fn summarize_layout_error(full: &str) -> String {
    let lines: Vec<&str> = full.lines().map(str::trim).collect();
    let value_after = |from: usize, label: &str| -> Option<String> {
        let at = (from..lines.len().min(from + 8)).find(|&k| lines[k].starts_with(label))?;
        let inline = lines[at][label.len()..].trim();
        if !inline.is_empty() {
            return Some(inline.to_owned());
        }
        lines.get(at + 1).map(|v| (*v).to_owned())
    };
    let mut found: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(error) = line.strip_prefix("Error:") else {
            continue;
        };
        let ty = lines[..i]
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("type:"))
            .unwrap_or("?");
        let mut item = format!("{} in {ty}", error.trim());
        if let (Some(e), Some(f)) = (value_after(i, "Expected:"), value_after(i, "Found:")) {
            item.push_str(&format!(" (expected {e}, found {f})"));
        }
        if !found.contains(&item) {
            found.push(item);
        }
    }
    if found.is_empty() {
        return lines
            .iter()
            .take(3)
            .copied()
            .collect::<Vec<_>>()
            .join(" / ");
    }
    found.truncate(3);
    found.join("; ")
}

impl LoadError {
    /// Whether the failure means "built for another ABI" rather than "broken file".
    pub fn is_incompatible(&self) -> bool {
        matches!(
            self,
            LoadError::MajorMismatch { .. }
                | LoadError::NeedsNewerHost { .. }
                | LoadError::Layout { .. }
                | LoadError::AbiStable { .. }
        )
    }

    /// The full abi_stable report for layout errors (for `--verbose`).
    pub fn details(&self) -> Option<&str> {
        match self {
            LoadError::Layout { full, .. } => Some(full),
            _ => None,
        }
    }
}
