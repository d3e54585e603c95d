//! `cargo test` does not build `cdylib` crates, so the harness builds the host and the plugins
//! through cargo itself (with `--message-format=json`, taking every path from cargo's own
//! report) and copies the plugins into a private plugin directory, each as
//! `libkernel_<language>.so`: a plugin whose language a Rust library name cannot hold
//! (`vendor.aws_polly`) is built under another name and named after the language it reports,
//! as `cargo xtask dist` names it.
//!
//! With `KRUNNER_TEST_DIST=<dir>` (an unpacked distribution tarball) the tests run that
//! directory's `krunner` instead, which finds the shipped plugins next to itself; only the
//! test fixtures (plugins no distribution ships) are built, with the normal toolchain, and
//! passed with `--plugin-dir` when a test starts one of them.

use std::ffi::OsString;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;

use crate::describe;

/// The environment variable naming an unpacked distribution to test.
pub const DIST_VAR: &str = "KRUNNER_TEST_DIST";

/// Where the built pieces are.
#[derive(Debug)]
pub struct Artifacts {
    /// The `krunner` executable.
    pub krunner: PathBuf,
    /// A directory holding every plugin `.so` built for the tests: the shipped plugins and
    /// the fixtures, or only the fixtures when a distribution is tested.
    pub plugin_dir: PathBuf,
    /// The unpacked distribution under test, if any (`KRUNNER_TEST_DIST`).
    pub dist: Option<PathBuf>,
}

impl Artifacts {
    /// The directory of the shipped plugins: the distribution's, or the test plugin directory.
    pub fn shipped_dir(&self) -> &Path {
        self.dist.as_deref().unwrap_or(&self.plugin_dir)
    }

    /// The file of the plugin for `language`.
    pub fn plugin(&self, language: &str) -> PathBuf {
        let file = format!("libkernel_{language}.so");
        match &self.dist {
            Some(dist) if dist.join(&file).is_file() => dist.join(file),
            _ => self.plugin_dir.join(file),
        }
    }

    /// The plugin directories to pass with `--plugin-dir` so that `language` is found: none
    /// for a plugin of the distribution under test (krunner finds it next to itself), else
    /// the test plugin directory.
    pub fn plugin_dirs(&self, language: &str) -> Vec<PathBuf> {
        match &self.dist {
            Some(dist) if dist.join(format!("libkernel_{language}.so")).is_file() => Vec::new(),
            _ => vec![self.plugin_dir.clone()],
        }
    }

    /// [`Self::plugin_dirs`] as command-line arguments.
    pub fn plugin_dir_args(&self, language: &str) -> Vec<String> {
        self.plugin_dirs(language)
            .iter()
            .flat_map(|d| ["--plugin-dir".to_owned(), d.display().to_string()])
            .collect()
    }
}

/// The shipped plugins' packages. `kernel-toolkit-languages` is one file that serves thirteen
/// languages, installed under each of their names.
const SHIPPED_PACKAGES: [&str; 6] = [
    "kernel-toolkit-languages",
    "kernel-app",
    "kernel-python",
    "kernel-git",
    "kernel-aws-polly",
    "kernel-jupyter",
];

/// The test fixtures' packages: plugins only the tests load.
const FIXTURE_PACKAGES: [&str; 1] = ["kernel-panicky"];

/// Why building the pieces failed.
#[derive(Debug, thiserror::Error)]
enum BuildError {
    #[error("cannot run cargo")]
    Cargo(#[source] std::io::Error),
    #[error("cargo build failed ({0})")]
    Failed(ExitStatus),
    #[error("cargo did not report the krunner executable")]
    NoKrunner,
    #[error("cannot create the plugin directory {}", .0.display())]
    PluginDir(PathBuf, #[source] std::io::Error),
    #[error("plugin without a file name: {}", .0.display())]
    NoFileName(PathBuf),
    #[error("copying {}", .0.display())]
    Copy(PathBuf, #[source] std::io::Error),
    #[error("cannot probe {}", .0.display())]
    Probe(PathBuf, #[source] std::io::Error),
    #[error("krunner does not load {}: {}", .0.display(), .1)]
    Unloadable(PathBuf, String),
    #[error("expected {expected} plugins, cargo reported {found:?}")]
    Missing {
        expected: usize,
        found: Vec<PathBuf>,
    },
    #[error("{DIST_VAR}={}: there is no krunner executable in it", .0.display())]
    NoDist(PathBuf),
}

/// Builds (once per test binary) the host and the plugins, returning their locations.
pub fn artifacts() -> &'static Artifacts {
    static ARTIFACTS: OnceLock<Artifacts> = OnceLock::new();
    ARTIFACTS.get_or_init(|| {
        let dist = std::env::var_os(DIST_VAR)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from);
        build(dist)
            .unwrap_or_else(|e| panic!("building krunner and its plugins failed: {}", describe(&e)))
    })
}

fn build(dist: Option<PathBuf>) -> Result<Artifacts, BuildError> {
    let mut args: Vec<OsString> = vec![
        "--manifest-path".into(),
        workspace().join("Cargo.toml").into(),
    ];
    let mut packages = FIXTURE_PACKAGES.to_vec();
    if dist.is_none() {
        packages.push("krunner");
        packages.extend(SHIPPED_PACKAGES);
    }
    for p in &packages {
        args.extend(["-p".into(), p.into()]);
    }
    let reported = cargo_build(&args)?;
    let krunner = match &dist {
        Some(dir) => {
            let krunner = dir.join("krunner");
            if !krunner.is_file() {
                return Err(BuildError::NoDist(dir.clone()));
            }
            eprintln!(
                "testing the distribution in {}: its krunner finds its plugins next to itself; \
                 fixture plugins ({}) are built by cargo",
                dir.display(),
                FIXTURE_PACKAGES.join(", ")
            );
            krunner
        }
        None => reported
            .iter()
            .filter(|m| has_kind(m, "bin") && m["target"]["name"] == "krunner")
            .map(|m| m["executable"].as_str().map(PathBuf::from))
            .next_back()
            .flatten()
            .ok_or(BuildError::NoKrunner)?,
    };
    let plugins: Vec<PathBuf> = reported
        .iter()
        .filter(|m| has_kind(m, "cdylib"))
        .filter_map(first_file)
        .collect();
    remove_stale_plugin_dirs();
    let plugin_dir =
        std::env::temp_dir().join(format!("{PLUGIN_DIR_PREFIX}{}", std::process::id()));
    copy_plugins(&krunner, &plugins, &plugin_dir)?;
    let expected = packages.len() - usize::from(dist.is_none());
    if plugins.len() < expected {
        return Err(BuildError::Missing {
            expected,
            found: plugins,
        });
    }
    Ok(Artifacts {
        krunner,
        plugin_dir,
        dist,
    })
}

/// Each test binary's private plugin directory is `<tmp>/krunner-test-plugins-<pid>`.
const PLUGIN_DIR_PREFIX: &str = "krunner-test-plugins-";

/// Removes the plugin directories of test binaries that are no longer running (a test binary
/// has no chance to clean up after itself: it exits from inside the test framework).
fn remove_stale_plugin_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PLUGIN_DIR_PREFIX))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Puts the plugins in `dir`, each under its plugin file names ([`plugin_file_names`]): hard
/// links where the file system allows (the debug plugins are about 20 MB each), copies
/// otherwise.
fn copy_plugins(krunner: &Path, plugins: &[PathBuf], dir: &Path) -> Result<(), BuildError> {
    std::fs::create_dir_all(dir).map_err(|e| BuildError::PluginDir(dir.to_path_buf(), e))?;
    for p in plugins {
        for name in plugin_file_names(krunner, p)? {
            let target = dir.join(name);
            let _ = std::fs::remove_file(&target);
            if std::fs::hard_link(p, &target).is_err() {
                std::fs::copy(p, &target).map_err(|e| BuildError::Copy(p.clone(), e))?;
            }
        }
    }
    Ok(())
}

/// The names `plugin` is installed under: cargo's when that is already `libkernel_<lang>.so`,
/// else `libkernel_<language>.so` for each language it serves, as the host's probe
/// (`krunner __probe`) reads them (`cargo xtask dist` names them the same way).
fn plugin_file_names(krunner: &Path, plugin: &Path) -> Result<Vec<String>, BuildError> {
    let name = plugin
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| BuildError::NoFileName(plugin.to_path_buf()))?;
    if name.starts_with("libkernel_") && name.ends_with(".so") {
        return Ok(vec![name.to_owned()]);
    }
    let out = Command::new(krunner)
        .arg("__probe")
        .arg(plugin)
        .env("KRUNNER_LOG", "off")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BuildError::Probe(plugin.to_path_buf(), e))?;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let languages: Vec<&str> = report["languages"]
        .as_array()
        .map(|l| l.iter().filter_map(|l| l.as_str()).collect())
        .unwrap_or_default();
    if report["status"] != "ok" || languages.is_empty() {
        return Err(BuildError::Unloadable(
            plugin.to_path_buf(),
            format!("{report}{}", String::from_utf8_lossy(&out.stderr)),
        ));
    }
    Ok(languages
        .iter()
        .map(|l| format!("libkernel_{l}.so"))
        .collect())
}

/// Runs `cargo build ARGS` (with `--release` when the tests are a release build) and returns
/// the artifacts cargo reported, in its order.
fn cargo_build(args: &[OsString]) -> Result<Vec<serde_json::Value>, BuildError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .args(args)
        .arg("--message-format=json-render-diagnostics");
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let output = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(BuildError::Cargo)?;
    if !output.status.success() {
        return Err(BuildError::Failed(output.status));
    }
    Ok(output
        .stdout
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .collect())
}

fn has_kind(artifact: &serde_json::Value, kind: &str) -> bool {
    artifact["target"]["kind"]
        .as_array()
        .is_some_and(|k| k.iter().any(|x| x == kind))
}

fn first_file(artifact: &serde_json::Value) -> Option<PathBuf> {
    artifact["filenames"][0].as_str().map(PathBuf::from)
}

/// Builds a plugin crate that lives outside the workspace (the template, the frozen-ABI
/// fixtures) with cargo, sharing the workspace's target directory, and returns its `.so`.
pub fn build_external_plugin(manifest: &Path) -> PathBuf {
    // target/<profile>/deps/<test binary> → target/external: a separate target directory, so
    // these plugins never land next to krunner (where the executable-directory search finds
    // them).
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("target directory")
        .join("external");
    let args = [
        "--manifest-path".into(),
        manifest.into(),
        "--target-dir".into(),
        target.into(),
    ];
    cargo_build(&args)
        .unwrap_or_else(|e| panic!("building {} failed: {}", manifest.display(), describe(&e)))
        .iter()
        .filter(|m| has_kind(m, "cdylib"))
        .find_map(first_file)
        .unwrap_or_else(|| panic!("cargo reported no cdylib for {}", manifest.display()))
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
