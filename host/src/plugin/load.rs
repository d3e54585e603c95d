//! Loading one plugin file: pre-flight, `dlopen`, the version policy, and the plugin's
//! self-description.
//!
//! Each step can only fail with a [`LoadError`] that names the file and says what to do. The
//! library stays mapped for the life of the process: plugins are never unloaded (their
//! threads and statics may outlive any runner).

use std::path::{Path, PathBuf};

use abi_stable::library::lib_header_from_path;
use abi_stable::std_types::RStr;
use krunner_plugin_api::{
    HostBox, KernelPluginRef, PluginError, PluginInfo, RunnerBox, RunnerConfig, Sample, API_VERSION,
};

use super::error::LoadError;
use super::search::language_of;
use super::{preflight, version};

/// A loaded, checked plugin.
pub(crate) struct Plugin {
    /// The file it came from.
    pub(crate) path: PathBuf,
    /// The `krunner-plugin-api` version it was built against.
    pub(crate) built_against: String,
    /// Its self-description, for the language its file is named for.
    pub(crate) info: PluginInfo,
    /// Every language the file serves (one, unless it was built with `export_plugins!`).
    pub(crate) languages: Vec<String>,
    module: KernelPluginRef,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.path)
            .field("built_against", &self.built_against)
            .field("info", &self.info)
            .field("languages", &self.languages)
            .finish()
    }
}

impl Plugin {
    /// The plugin's declared samples; `None` for plugins built against plugin-api 1.0, which
    /// has no samples entry point.
    pub(crate) fn samples(&self) -> Option<Result<Vec<Sample>, serde_json::Error>> {
        let json = match self.module.samples_for() {
            Some(samples_for) => samples_for(RStr::from(self.info.language.as_str())),
            None => (self.module.samples()?)(),
        };
        Some(serde_json::from_str(json.as_str()))
    }

    /// Creates a runner.
    pub(crate) fn new_runner(
        &self,
        config: &RunnerConfig,
        host: HostBox,
    ) -> Result<RunnerBox, PluginError> {
        let json =
            serde_json::to_string(config).map_err(|e| PluginError::internal(e.to_string()))?;
        (self.module.new_runner())(RStr::from(json.as_str()), host).into_result()
    }
}

/// Loads and checks the plugin at `path`.
pub(crate) fn load(path: &Path) -> Result<Plugin, LoadError> {
    preflight::check(path).map_err(|source| LoadError::Preflight {
        path: path.to_path_buf(),
        source,
    })?;
    bind_now(path).map_err(|e| LoadError::Open {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let header = lib_header_from_path(path).map_err(|e| version::classify(path, e))?;
    let checked = version::check(path, header)?;
    let served = read_infos(path, &checked.module)?;
    let languages = served.iter().map(|i| i.language.clone()).collect();
    // The language the file is named for (`libkernel_<language>.so`), if it has such a name.
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(language_of);
    let info = pick_info(path, named, served)?;
    check_info(path, named, &info, checked.minor)?;
    Ok(Plugin {
        path: path.to_path_buf(),
        built_against: checked.version,
        info,
        languages,
        module: checked.module,
    })
}

/// dlopen with `RTLD_NOW` so missing dependencies are reported now, with the loader's text.
/// The handle is kept, so the later load by abi_stable reuses it.
fn bind_now(path: &Path) -> Result<(), libloading::Error> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    // SAFETY: loading a library runs its initialisers; the file passed the pre-flight check
    // and plugins are trusted code by design (they run the user's programs).
    let lib = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }?;
    std::mem::forget(lib);
    Ok(())
}

/// The plugin's self-descriptions: one per language it serves (plugin-api 1.4's `languages`),
/// or the one `info` of older plugins.
fn read_infos(path: &Path, module: &KernelPluginRef) -> Result<Vec<PluginInfo>, LoadError> {
    let bad = |detail: String| LoadError::BadInfo {
        path: path.to_path_buf(),
        detail,
    };
    let infos: Vec<PluginInfo> = match module.languages() {
        Some(languages) => {
            serde_json::from_str(languages().as_str()).map_err(|e| bad(e.to_string()))?
        }
        None => {
            vec![serde_json::from_str((module.info())().as_str()).map_err(|e| bad(e.to_string()))?]
        }
    };
    if infos.is_empty() {
        return Err(bad("it serves no language".into()));
    }
    if let Some(info) = infos.iter().find(|i| i.language.is_empty()) {
        return Err(bad(if info.description.is_empty() {
            "it reports no language".into()
        } else {
            info.description.clone()
        }));
    }
    Ok(infos)
}

/// The info for the language the file is named for; the first when the name names none
/// (a file probed under the name cargo gave it). A file of one language keeps its info
/// whatever its name, so that [`check_info`] says what is wrong.
fn pick_info(
    path: &Path,
    named: Option<&str>,
    mut served: Vec<PluginInfo>,
) -> Result<PluginInfo, LoadError> {
    let index = match named {
        Some(expected) if served.len() > 1 => served
            .iter()
            .position(|i| i.language == expected)
            .ok_or_else(|| LoadError::NotServed {
                path: path.to_path_buf(),
                expected: expected.to_owned(),
                served: served.iter().map(|i| i.language.clone()).collect(),
            })?,
        _ => 0,
    };
    Ok(served.swap_remove(index))
}

/// What the info must agree with: the host's version and the language the file is `named` for.
fn check_info(
    path: &Path,
    named: Option<&str>,
    info: &PluginInfo,
    plugin_minor: u32,
) -> Result<(), LoadError> {
    let (host_major, host_minor) = version::host_version();
    if plugin_minor > host_minor && info.min_api_minor > host_minor {
        return Err(LoadError::NeedsNewerHost {
            path: path.to_path_buf(),
            major: host_major,
            needed: info.min_api_minor,
            host: API_VERSION,
        });
    }
    if let Some(expected) = named.filter(|e| *e != info.language) {
        return Err(LoadError::NameMismatch {
            path: path.to_path_buf(),
            expected: expected.to_owned(),
            reported: info.language.clone(),
        });
    }
    if !info.panic_unwind {
        tracing::warn!(
            "{}: built with panic=abort; a panic in it will stop the runner",
            path.display()
        );
    }
    Ok(())
}
