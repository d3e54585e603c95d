//! Kernelspecs and where Jupyter looks for them.
//!
//! The data directories are Jupyter's own (`jupyter --paths`, jupyter_core's `jupyter_path`),
//! in its order: every entry of `JUPYTER_PATH`; the user's directory (`JUPYTER_DATA_DIR`, else
//! `$XDG_DATA_HOME/jupyter`, else `~/.local/share/jupyter`); the `share/jupyter` of each Python
//! environment (`sys.prefix`: the `python3` on `PATH`, `VIRTUAL_ENV`, `CONDA_PREFIX`), before
//! the user's directory when `JUPYTER_PREFER_ENV_PATH` is set; then `/usr/local/share/jupyter`
//! and `/usr/share/jupyter`. A kernelspec is `<data dir>/kernels/<name>/kernel.json`; its name
//! is the directory's, case-insensitively, and the first directory that has a name wins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// How a kernel wants to be interrupted (`interrupt_mode` in kernel.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InterruptMode {
    /// SIGINT to the kernel's process group (the default).
    #[default]
    Signal,
    /// An `interrupt_request` on the control channel.
    Message,
}

/// One installed kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelSpec {
    /// The kernel's name (its directory's name, lower case).
    pub name: String,
    /// Its directory (the `resource_dir`).
    pub dir: PathBuf,
    /// The command, with `{connection_file}` and friends still in it.
    pub argv: Vec<String>,
    /// What Jupyter shows.
    pub display_name: String,
    /// The language, as the kernel names it (`R`, `python`, `bash`, ...).
    pub language: String,
    /// How to interrupt it.
    pub interrupt_mode: InterruptMode,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
}

/// A kernelspec that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The kernel.json (or directory) concerned.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

#[derive(Deserialize)]
struct KernelJson {
    argv: Vec<String>,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    interrupt_mode: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

/// The largest kernel.json read.
const MAX_KERNEL_JSON: u64 = 1 << 20;

impl KernelSpec {
    /// Reads `<dir>/kernel.json`; the name is the directory's.
    pub fn load(dir: &Path) -> Result<Self, Problem> {
        let path = dir.join("kernel.json");
        let problem = |reason: String| Problem {
            path: path.clone(),
            reason,
        };
        let meta = std::fs::metadata(&path).map_err(|e| problem(e.to_string()))?;
        if !meta.is_file() || meta.len() > MAX_KERNEL_JSON {
            return Err(problem("not a regular file of at most 1 MiB".into()));
        }
        let text = std::fs::read(&path).map_err(|e| problem(e.to_string()))?;
        let json: KernelJson =
            serde_json::from_slice(&text).map_err(|e| problem(format!("not a kernelspec: {e}")))?;
        if json.argv.is_empty() {
            return Err(problem("its argv is empty".into()));
        }
        let interrupt_mode = match json.interrupt_mode.as_deref() {
            None | Some("signal") => InterruptMode::Signal,
            Some("message") => InterruptMode::Message,
            Some(other) => return Err(problem(format!("unknown interrupt_mode {other:?}"))),
        };
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        Ok(Self {
            display_name: if json.display_name.is_empty() {
                name.clone()
            } else {
                json.display_name
            },
            name,
            dir: dir.to_path_buf(),
            argv: json.argv,
            language: json.language,
            interrupt_mode,
            env: json.env,
        })
    }

    /// The Python environment the kernelspec was installed into: `P` for
    /// `P/share/jupyter/kernels/<name>`.
    pub fn prefix(&self) -> Option<&Path> {
        let data = self.dir.parent()?.parent()?;
        let share = data.parent()?;
        (data.file_name()? == "jupyter" && share.file_name()? == "share")
            .then(|| share.parent())
            .flatten()
    }
}

fn truthy(v: Option<&String>) -> bool {
    v.is_some_and(|v| matches!(v.to_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

/// Jupyter's data directories for the environment `env`, with the Python environments
/// `prefixes` (each a `sys.prefix`).
pub fn data_dirs(env: &BTreeMap<String, String>, prefixes: &[PathBuf]) -> Vec<PathBuf> {
    let set = |k: &str| env.get(k).filter(|v| !v.is_empty());
    let mut dirs: Vec<PathBuf> = set("JUPYTER_PATH")
        .map(|p| {
            p.split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default();
    let user = match (set("JUPYTER_DATA_DIR"), set("XDG_DATA_HOME"), set("HOME")) {
        (Some(d), _, _) => Some(PathBuf::from(d)),
        (None, Some(x), _) => Some(Path::new(x).join("jupyter")),
        (None, None, Some(h)) => Some(Path::new(h).join(".local/share/jupyter")),
        _ => None,
    };
    let envs: Vec<PathBuf> = prefixes.iter().map(|p| p.join("share/jupyter")).collect();
    if truthy(env.get("JUPYTER_PREFER_ENV_PATH")) {
        dirs.extend(envs);
        dirs.extend(user);
    } else {
        dirs.extend(user);
        dirs.extend(envs);
    }
    dirs.push("/usr/local/share/jupyter".into());
    dirs.push("/usr/share/jupyter".into());
    let mut seen = Vec::new();
    dirs.retain(|d| {
        let new = !seen.contains(d);
        seen.push(d.clone());
        new
    });
    dirs
}

/// The Python environments of `env`: `VIRTUAL_ENV`, `CONDA_PREFIX`, and `python_prefix` (the
/// `sys.prefix` of the `python3` on `PATH`, when known).
pub fn prefixes(env: &BTreeMap<String, String>, python_prefix: Option<&str>) -> Vec<PathBuf> {
    ["VIRTUAL_ENV", "CONDA_PREFIX"]
        .iter()
        .filter_map(|k| env.get(*k))
        .map(String::as_str)
        .chain(python_prefix)
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// Every kernelspec in `dirs` (the first of each name), sorted by name, and the ones that
/// cannot be used.
pub fn find(dirs: &[PathBuf]) -> (Vec<KernelSpec>, Vec<Problem>) {
    let mut found: BTreeMap<String, KernelSpec> = BTreeMap::new();
    let mut problems = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir.join("kernels")) else {
            continue;
        };
        let mut kernels: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("kernel.json").exists())
            .collect();
        kernels.sort();
        for k in kernels {
            let name = k
                .file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            if found.contains_key(&name) {
                continue;
            }
            match KernelSpec::load(&k) {
                Ok(spec) => {
                    found.insert(name, spec);
                }
                Err(p) => problems.push(p),
            }
        }
    }
    (found.into_values().collect(), problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn data_dirs_follow_jupyters_order() {
        let prefixes = [PathBuf::from("/venv")];
        let dirs = data_dirs(
            &env(&[("JUPYTER_PATH", "/a:/b"), ("HOME", "/home/u")]),
            &prefixes,
        );
        let expected: Vec<PathBuf> = [
            "/a",
            "/b",
            "/home/u/.local/share/jupyter",
            "/venv/share/jupyter",
            "/usr/local/share/jupyter",
            "/usr/share/jupyter",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(dirs, expected);
        let dirs = data_dirs(
            &env(&[
                ("JUPYTER_DATA_DIR", "/data"),
                ("XDG_DATA_HOME", "/xdg"),
                ("JUPYTER_PREFER_ENV_PATH", "1"),
            ]),
            &prefixes,
        );
        assert_eq!(dirs[0], PathBuf::from("/venv/share/jupyter"));
        assert_eq!(dirs[1], PathBuf::from("/data"));
        let dirs = data_dirs(&env(&[("XDG_DATA_HOME", "/xdg")]), &[]);
        assert_eq!(dirs[0], PathBuf::from("/xdg/jupyter"));
    }

    #[test]
    fn the_first_directory_with_a_name_wins_and_bad_specs_are_reported() {
        let a = tempfile_dir("a");
        let b = tempfile_dir("b");
        let write = |root: &Path, name: &str, json: &str| {
            let d = root.join("kernels").join(name);
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(d.join("kernel.json"), json).expect("write");
        };
        write(
            &a,
            "K1",
            r#"{"argv": ["k", "{connection_file}"], "language": "x", "interrupt_mode": "message"}"#,
        );
        write(&b, "k1", r#"{"argv": ["other"]}"#);
        write(&b, "bad", r#"{"argv": []}"#);
        write(&b, "worse", "not json");
        let (found, problems) = find(&[a.clone(), b.clone()]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "k1");
        assert_eq!(found[0].argv[0], "k");
        assert_eq!(found[0].display_name, "k1");
        assert_eq!(found[0].interrupt_mode, InterruptMode::Message);
        assert_eq!(problems.len(), 2, "{problems:?}");
        std::fs::remove_dir_all(a).ok();
        std::fs::remove_dir_all(b).ok();
    }

    #[test]
    fn prefix_of_a_spec() {
        let spec = KernelSpec {
            name: "k".into(),
            dir: "/opt/env/share/jupyter/kernels/k".into(),
            argv: vec!["k".into()],
            display_name: "k".into(),
            language: "x".into(),
            interrupt_mode: InterruptMode::Signal,
            env: BTreeMap::new(),
        };
        assert_eq!(spec.prefix(), Some(Path::new("/opt/env")));
        let elsewhere = KernelSpec {
            dir: "/somewhere/kernels/k".into(),
            ..spec
        };
        assert_eq!(elsewhere.prefix(), None);
    }

    fn tempfile_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "krunner-jupyter-spec-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::remove_dir_all(&d).ok();
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }
}
