//! Which binary `exec *` runs in a Cargo project: the one `cargo run` would pick, found in
//! `cargo metadata` (workspaces, `[[bin]]`, `default-run`, custom target directories) or, when
//! cargo is missing or fails, by reading `Cargo.toml` and the `src/` layout directly.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use krunner_plugin_api::serde_json::{self, Value};
use krunner_plugin_api::util::is_executable;
use krunner_toolkit::Lang;

/// Why no binary can be chosen.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// The manifest cannot be read (without cargo metadata).
    #[error("cannot read Cargo.toml: {0}")]
    Manifest(#[from] std::io::Error),
    /// The project has no binary target.
    #[error("the Cargo project has no binary target to run")]
    NoBinary,
    /// More than one binary, and nothing says which one `cargo run` would run.
    #[error(
        "cannot tell which binary to run ({}); set `default-run` in Cargo.toml or send an exec command",
        .0.join(", ")
    )]
    Ambiguous(Vec<String>),
}

/// The chosen binary target.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    /// The binary's name (its file name under `target/<profile>/`).
    pub name: String,
    /// Cargo's target directory.
    pub target_dir: PathBuf,
}

impl Target {
    /// Where the builds of the binary would be.
    pub fn candidates(&self) -> Vec<PathBuf> {
        ["debug", "release"]
            .iter()
            .map(|profile| self.target_dir.join(profile).join(&self.name))
            .collect()
    }

    /// The most recently built of the candidates.
    pub fn newest_build(&self) -> Option<PathBuf> {
        self.candidates()
            .into_iter()
            .filter(|p| is_executable(p))
            .max_by_key(|p| {
                std::fs::metadata(p)
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH)
            })
    }
}

/// What a package offers.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Package {
    /// The package name.
    pub name: String,
    /// `default-run`, if set.
    pub default_run: Option<String>,
    /// Its binary targets.
    pub bins: Vec<String>,
}

/// Picks the binary for the session directory's `Cargo.toml`.
pub fn select(lang: &Lang, cargo: Option<&str>) -> Result<Target, SelectError> {
    if let Some(cargo) = cargo {
        let metadata = lang.capture([
            cargo,
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ]);
        match metadata {
            Ok(out) if out.exit_code == 0 => {
                if let Some(found) = from_metadata(&out.stdout) {
                    return found;
                }
            }
            Ok(out) => lang
                .host
                .warn(&format!("cargo metadata failed: {}", out.stderr.trim())),
            Err(e) => lang
                .host
                .warn(&format!("cannot run cargo metadata: {}", e.message())),
        }
    }
    let manifest = std::fs::read_to_string("Cargo.toml")?;
    let package = from_manifest(&manifest, Path::new("."));
    let target_dir = lang
        .host
        .child_env()
        .get("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from("target"), PathBuf::from);
    Ok(Target {
        name: choose(Some(&package), &package.bins)?,
        target_dir,
    })
}

/// Reads `cargo metadata --format-version 1` output. `None` when it is not understood.
pub fn from_metadata(json: &str) -> Option<Result<Target, SelectError>> {
    let value: Value = serde_json::from_str(json).ok()?;
    let target_dir = PathBuf::from(value["target_directory"].as_str()?);
    let here = std::fs::canonicalize("Cargo.toml").ok();
    let mut root = None;
    let mut all_bins = Vec::new();
    for pkg in value["packages"].as_array()? {
        let package = Package {
            name: pkg["name"].as_str().unwrap_or_default().to_owned(),
            default_run: pkg["default_run"].as_str().map(str::to_owned),
            bins: pkg["targets"]
                .as_array()
                .map(|targets| {
                    targets
                        .iter()
                        .filter(|t| {
                            t["kind"]
                                .as_array()
                                .is_some_and(|k| k.iter().any(|k| k == "bin"))
                        })
                        .filter_map(|t| t["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        };
        all_bins.extend(package.bins.iter().cloned());
        let manifest = pkg["manifest_path"].as_str().map(Path::new);
        let is_root = match (&here, manifest) {
            (Some(here), Some(m)) => std::fs::canonicalize(m).is_ok_and(|m| &m == here),
            _ => false,
        };
        if is_root {
            root = Some(package);
        }
    }
    Some(choose(root.as_ref(), &all_bins).map(|name| Target { name, target_dir }))
}

/// Reads the package name, `default-run` and binaries from a manifest and the `src/` layout
/// under `dir` (Cargo's automatic binary discovery).
pub fn from_manifest(manifest: &str, dir: &Path) -> Package {
    let mut package = Package::default();
    let mut section = String::new();
    for line in manifest.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.starts_with('[') {
            section = line.replace(' ', "");
            if section == "[[bin]]" {
                package.bins.push(String::new());
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let value = value
            .trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_owned();
        match (section.as_str(), key) {
            ("[package]", "name") => package.name = value,
            ("[package]", "default-run") => package.default_run = Some(value),
            ("[[bin]]", "name") => {
                if let Some(last) = package.bins.last_mut() {
                    *last = value;
                }
            }
            _ => {}
        }
    }
    package.bins.retain(|b| !b.is_empty());
    if dir.join("src/main.rs").is_file() && !package.name.is_empty() {
        package.bins.push(package.name.clone());
    }
    if let Ok(entries) = std::fs::read_dir(dir.join("src/bin")) {
        let mut found: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let path = e.path();
                if path.extension().is_some_and(|x| x == "rs") {
                    path.file_stem().map(|s| s.to_string_lossy().into_owned())
                } else if path.join("main.rs").is_file() {
                    Some(e.file_name().to_string_lossy().into_owned())
                } else {
                    None
                }
            })
            .collect();
        found.sort();
        package.bins.extend(found);
    }
    let mut seen = std::collections::BTreeSet::new();
    package.bins.retain(|b| seen.insert(b.clone()));
    package
}

/// Cargo's choice: `default-run`, the package's only binary, the binary named after the
/// package, or the workspace's only binary.
pub fn choose(root: Option<&Package>, all_bins: &[String]) -> Result<String, SelectError> {
    if let Some(root) = root {
        if let Some(d) = &root.default_run {
            return Ok(d.clone());
        }
        if let [only] = root.bins.as_slice() {
            return Ok(only.clone());
        }
        if root.bins.contains(&root.name) {
            return Ok(root.name.clone());
        }
    }
    match all_bins {
        [only] => Ok(only.clone()),
        [] => Err(SelectError::NoBinary),
        many => Err(SelectError::Ambiguous(many.to_vec())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, default_run: Option<&str>, bins: &[&str]) -> Package {
        Package {
            name: name.into(),
            default_run: default_run.map(Into::into),
            bins: bins.iter().map(|b| (*b).to_owned()).collect(),
        }
    }

    #[test]
    fn choice_follows_cargo_run() {
        let all = |p: &Package| p.bins.clone();
        let p = pkg("app", None, &["tool"]);
        assert_eq!(choose(Some(&p), &all(&p)).ok(), Some("tool".into()));
        let p = pkg("app", Some("b"), &["a", "b"]);
        assert_eq!(choose(Some(&p), &all(&p)).ok(), Some("b".into()));
        let p = pkg("app", None, &["aaa", "app", "zzz"]);
        assert_eq!(choose(Some(&p), &all(&p)).ok(), Some("app".into()));
        let p = pkg("app", None, &["x", "y"]);
        assert!(choose(Some(&p), &all(&p)).is_err_and(|e| e.to_string().contains("x, y")));
        assert_eq!(choose(None, &["member".into()]).ok(), Some("member".into()));
        assert!(choose(None, &[]).is_err());
    }

    #[test]
    fn manifest_parsing() {
        let dir = std::env::temp_dir().join(format!("krunner-rust-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src/bin")).expect("mkdir");
        std::fs::write(dir.join("src/main.rs"), "fn main() {}").expect("write");
        std::fs::write(dir.join("src/bin/extra.rs"), "fn main() {}").expect("write");
        let manifest = "[package]\nname = \"my-app\" # comment\ndefault-run = \"my-app\"\n\n[[bin]]\nname = \"other\"\npath = \"x.rs\"\n\n[dependencies]\nname = \"not-this\"\n";
        let p = from_manifest(manifest, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(p.name, "my-app");
        assert_eq!(p.default_run.as_deref(), Some("my-app"));
        assert_eq!(p.bins, vec!["other", "my-app", "extra"]);
    }
}
