//! The plugin-api version policy, applied to a plugin's library header before anything in it
//! is called.
//!
//! For `krunner-plugin-api` 1.x: a plugin built against an older or equal minor is checked in
//! the *reverse* direction (its layout must be a prefix of the host's), because abi_stable's
//! stock check refuses older plugins once the interface has grown; fields added later read as
//! absent. A plugin built against a newer minor goes through the stock check (and must not
//! demand a newer host, which [`super::load`] checks from its info). Another major is refused.

use std::path::Path;

use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
use abi_stable::library::{LibHeader, LibraryError};
use abi_stable::StableAbi;
use krunner_plugin_api::{KernelPluginRef, API_VERSION};

use super::error::LoadError;

/// The host's plugin-api (major, minor).
pub(crate) fn host_version() -> (u32, u32) {
    let mut parts = API_VERSION
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The root module of a checked plugin, with the version it was built against.
pub(crate) struct Checked {
    /// The root module.
    pub(crate) module: KernelPluginRef,
    /// The plugin-api version string it was built against.
    pub(crate) version: String,
    /// Its minor version.
    pub(crate) minor: u32,
}

/// Applies the version policy to `header` and returns the root module.
pub(crate) fn check(path: &Path, header: &'static LibHeader) -> Result<Checked, LoadError> {
    let version = header.version_strings().version.as_str().to_owned();
    let parsed = header
        .version_strings()
        .parsed()
        .map_err(|e| LoadError::BadInfo {
            path: path.to_path_buf(),
            detail: format!("unparsable plugin-api version {version:?}: {e}"),
        })?;
    let (host_major, host_minor) = host_version();
    if parsed.major != host_major {
        return Err(LoadError::MajorMismatch {
            path: path.to_path_buf(),
            plugin: version,
            host_major,
            host: API_VERSION,
        });
    }
    let module = if parsed.minor <= host_minor {
        older_or_equal(path, header, &version)?
    } else {
        header
            .init_root_module::<KernelPluginRef>()
            .map_err(|e| classify(path, e))?
    };
    Ok(Checked {
        module,
        version,
        minor: parsed.minor,
    })
}

/// The reverse layout check for plugins built against this minor or an older one.
fn older_or_equal(
    path: &Path,
    header: &'static LibHeader,
    version: &str,
) -> Result<KernelPluginRef, LoadError> {
    let Some(plugin_layout) = header.layout() else {
        return Err(LoadError::BadInfo {
            path: path.to_path_buf(),
            detail: "the plugin carries no layout information to check".into(),
        });
    };
    check_layout_compatibility(plugin_layout, <KernelPluginRef as StableAbi>::LAYOUT).map_err(
        |errors| {
            let full = errors.to_string();
            LoadError::Layout {
                path: path.to_path_buf(),
                plugin: version.to_owned(),
                summary: summarize_layout_error(&full),
                full,
            }
        },
    )?;
    // SAFETY: the plugin's root-module layout was just checked to be a prefix of ours, so
    // every field it has is read with the right type and the rest read as absent.
    unsafe { header.unchecked_layout::<KernelPluginRef>() }.map_err(|e| LoadError::Init {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// Sorts abi_stable's loading errors into ours.
pub(crate) fn classify(path: &Path, err: LibraryError) -> LoadError {
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
pub(crate) fn summarize_layout_error(full: &str) -> String {
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
