//! What the distribution is made of, as `cargo metadata` reports it: the workspace root and
//! target directory, the host's version and plugin-api version, and the shipped plugins (every
//! `plugins/<lang>` package with a `cdylib`; not `plugins/common`, the template or the test
//! fixtures, which are not there).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::tool::{self, ToolError};

/// The host's package.
pub(crate) const HOST_PACKAGE: &str = "krunner";
/// The plugin-api package.
pub(crate) const API_PACKAGE: &str = "krunner-plugin-api";

/// Why the workspace could not be described.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkspaceError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("cannot parse the output of `cargo metadata`")]
    Parse(#[source] serde_json::Error),
    #[error("`cargo metadata` does not list the package {0}")]
    NoPackage(&'static str),
    #[error("`cargo metadata` lists no plugin under plugins/<lang> with a cdylib target")]
    NoPlugins,
}

/// The workspace, for the distribution.
#[derive(Debug)]
pub(crate) struct Workspace {
    /// Its root directory.
    pub(crate) root: PathBuf,
    /// Cargo's target directory (honours `CARGO_TARGET_DIR`).
    pub(crate) target_dir: PathBuf,
    /// The host's version.
    pub(crate) version: String,
    /// The plugin-api version the host implements.
    pub(crate) api_version: String,
    /// The packages of the shipped plugins, sorted.
    pub(crate) plugins: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_root: PathBuf,
    target_directory: PathBuf,
}

#[derive(Debug, Deserialize)]
struct Package {
    name: String,
    version: String,
    manifest_path: PathBuf,
    targets: Vec<Target>,
}

#[derive(Debug, Deserialize)]
struct Target {
    kind: Vec<String>,
}

impl Workspace {
    /// Asks cargo about the workspace this tool was built in.
    pub(crate) fn load() -> Result<Self, WorkspaceError> {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut cmd = tool::cargo();
        cmd.args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(manifest);
        let out = tool::output("cargo metadata", &mut cmd)?;
        let meta: Metadata = serde_json::from_slice(&out).map_err(WorkspaceError::Parse)?;
        Self::from_metadata(meta)
    }

    fn from_metadata(meta: Metadata) -> Result<Self, WorkspaceError> {
        let version_of = |name: &'static str| {
            meta.packages
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.version.clone())
                .ok_or(WorkspaceError::NoPackage(name))
        };
        let version = version_of(HOST_PACKAGE)?;
        let api_version = version_of(API_PACKAGE)?;
        let plugins_dir = meta.workspace_root.join("plugins");
        let mut plugins: Vec<String> = meta
            .packages
            .iter()
            .filter(|p| is_shipped_plugin(p, &plugins_dir))
            .map(|p| p.name.clone())
            .collect();
        if plugins.is_empty() {
            return Err(WorkspaceError::NoPlugins);
        }
        plugins.sort();
        Ok(Self {
            root: meta.workspace_root,
            target_dir: meta.target_directory,
            version,
            api_version,
            plugins,
        })
    }
}

/// A package at `plugins/<name>/Cargo.toml` that builds a `cdylib`.
fn is_shipped_plugin(package: &Package, plugins_dir: &Path) -> bool {
    let in_plugins = package
        .manifest_path
        .parent()
        .and_then(Path::parent)
        .is_some_and(|d| d == plugins_dir);
    in_plugins
        && package
            .targets
            .iter()
            .any(|t| t.kind.iter().any(|k| k == "cdylib"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_plugins_are_every_plugins_lang_cdylib() {
        let ws = Workspace::load().expect("cargo metadata");
        assert!(
            ws.plugins.contains(&"kernel-toolkit-languages".to_owned()),
            "{:?}",
            ws.plugins
        );
        assert!(
            ws.plugins.contains(&"kernel-git".to_owned()),
            "{:?}",
            ws.plugins
        );
        for absent in [
            "kernel-panicky",
            "kernel-bash",
            "krunner-toolkit",
            "krunner-repl",
        ] {
            assert!(
                !ws.plugins.iter().any(|p| p == absent),
                "{absent} is not shipped"
            );
        }
        let dirs = std::fs::read_dir(ws.root.join("plugins"))
            .expect("plugins/")
            .flatten()
            .filter(|e| e.path().join("Cargo.toml").is_file())
            .filter(|e| !matches!(e.file_name().to_str(), Some("template")))
            .count();
        assert_eq!(
            ws.plugins.len(),
            dirs,
            "one shipped plugin per plugins/<lang>"
        );
    }
}
