//! One language's view of the host, because every plugin must find its compiler or
//! interpreter the way the child process will (the `runtime_path` the agent gave, or the usual
//! names on the child's `PATH` plus the language's own directories), tell the user plainly when
//! it is missing (exit code 127, naming the executable) or when the main file is missing
//! (naming the files looked for), and run commands as argv vectors with the language's
//! environment. [`Lang`] holds that.

use std::collections::BTreeMap;
use std::path::Path;

use krunner_plugin_api::sdk::{HostHandle, Result};
use krunner_plugin_api::util::{is_executable, which_in};
use krunner_plugin_api::{CaptureOutput, RunSpec};

/// The exit code for "not found" (a missing toolchain or main file), as the shell uses it.
pub const NOT_FOUND: i32 = 127;

/// The home directory of the user of a Backend.AI session (inside its container).
pub const WORK_HOME: &str = "/home/work";

/// A compiler, interpreter or tool that cannot be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: command not found")]
pub struct MissingTool {
    /// The name to report: the runtime path when one was given, else the usual name.
    pub name: String,
}

/// One language's view of the host: its environment additions and how to run things.
#[derive(Clone)]
pub struct Lang {
    /// The host.
    pub host: HostHandle,
    /// Variables added to every child of this language.
    pub env: BTreeMap<String, String>,
    /// Directories put in front of the child's `PATH`, first one first.
    pub path_prepend: Vec<String>,
    /// The `runtime_path` the runner was started with (empty means none).
    pub runtime_path: Option<String>,
}

impl Lang {
    /// A language with no environment additions.
    pub fn new(host: HostHandle, runtime_path: Option<String>) -> Self {
        Self {
            host,
            env: BTreeMap::new(),
            path_prepend: Vec::new(),
            runtime_path: runtime_path.filter(|p| !p.trim().is_empty()),
        }
    }

    /// Adds a variable to the language's environment.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.insert(key.to_owned(), value.to_owned());
    }

    /// Adds a directory in front of `PATH` (after the ones added before).
    pub fn prepend_path(&mut self, dir: &str) {
        if !self.path_prepend.iter().any(|d| d == dir) {
            self.path_prepend.push(dir.to_owned());
        }
    }

    /// Adds every directory matching `parent/*/bin` (sorted) in front of `PATH`: the layout of
    /// versioned toolchains under `/opt` (`/opt/ghc/9.4.7/bin`).
    pub fn prepend_versioned_bins(&mut self, parent: &str) {
        let Ok(entries) = std::fs::read_dir(parent) else {
            return;
        };
        let mut dirs: Vec<String> = entries
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|p| p.is_dir())
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        dirs.sort();
        for d in dirs {
            self.prepend_path(&d);
        }
    }

    /// A [`RunSpec`] for `argv` with the language's environment.
    pub fn spec<I, S>(&self, argv: I) -> RunSpec
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut spec = RunSpec::argv(argv);
        spec.env.clone_from(&self.env);
        spec.path_prepend.clone_from(&self.path_prepend);
        spec
    }

    /// Runs `argv` in the session directory with streamed output.
    pub fn run<I, S>(&self, argv: I) -> Result<i32>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.host.run(&self.spec(argv))
    }

    /// Runs `argv` in `dir` with streamed output.
    pub fn run_in<I, S>(&self, dir: &Path, argv: I) -> Result<i32>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.host
            .run(&self.spec(argv).cwd(dir.to_string_lossy().into_owned()))
    }

    /// Runs `argv` in the session directory and collects its output.
    pub fn capture<I, S>(&self, argv: I) -> Result<CaptureOutput>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.host.capture(&self.spec(argv))
    }

    /// Looks `program` up the way the child will: the language's own directories first, then
    /// the child environment's `PATH`. A program containing `/` is checked as a path.
    pub fn which(&self, program: &str) -> Option<String> {
        if program.contains('/') {
            return is_executable(Path::new(program)).then(|| program.to_owned());
        }
        let path = self
            .host
            .child_env()
            .get("PATH")
            .cloned()
            .unwrap_or_default();
        let mut dirs = self.path_prepend.join(":");
        dirs.push(':');
        dirs.push_str(&path);
        which_in(program, &dirs).map(|p| p.to_string_lossy().into_owned())
    }

    /// Finds the tool: the `runtime_path` when one was given, else the first of `candidates`
    /// that exists. On failure, names the tool to report (the runtime path, or the first
    /// candidate).
    pub fn resolve(&self, candidates: &[&str]) -> std::result::Result<String, MissingTool> {
        if let Some(rt) = &self.runtime_path {
            return self
                .which(rt)
                .ok_or_else(|| MissingTool { name: rt.clone() });
        }
        candidates
            .iter()
            .find_map(|c| self.which(c))
            .ok_or_else(|| MissingTool {
                name: candidates.first().copied().unwrap_or("?").to_owned(),
            })
    }

    /// Finds a companion tool of the runtime: `name` next to the `runtime_path` when it is a
    /// path (`/opt/go/bin/go` → `/opt/go/bin/gofmt`), else `name` on the `PATH`.
    pub fn sibling(&self, name: &str) -> Option<String> {
        if let Some(rt) = &self.runtime_path {
            if let Some(dir) = Path::new(rt).parent().filter(|d| !d.as_os_str().is_empty()) {
                let candidate = dir.join(name);
                if is_executable(&candidate) {
                    return Some(candidate.to_string_lossy().into_owned());
                }
            }
        }
        self.which(name)
    }

    /// Reports a missing tool on the user's stderr and returns 127.
    pub fn missing_tool(&self, program: &str) -> i32 {
        self.host.error(&format!(
            "{program}: command not found; install it in the image or pass its path as the \
             runtime path (exit code {NOT_FOUND})"
        ));
        NOT_FOUND
    }

    /// Reports a missing main file on the user's stderr and returns 127.
    pub fn missing_file(&self, what: &str, files: &[&str]) -> i32 {
        let list = files
            .iter()
            .map(|f| format!("\"{f}\""))
            .collect::<Vec<_>>()
            .join(", ");
        self.host.error(&format!(
            "cannot find the {what} (looked for {list}); add it or send an explicit command"
        ));
        NOT_FOUND
    }

    /// `exec *` of a compiled language: runs `./main`, or says it must be built first.
    pub fn run_built_main(&self) -> Result<i32> {
        if is_executable(Path::new("./main")) {
            return self.run(["./main"]);
        }
        Ok(self.missing_file("executable (build first)", &["./main"]))
    }
}

/// The first of `files` that exists as a regular file in the session directory.
pub fn first_file<'a>(files: &[&'a str]) -> Option<&'a str> {
    files.iter().copied().find(|f| Path::new(f).is_file())
}

/// Whether this is a Backend.AI container (its [`WORK_HOME`] exists).
pub fn in_container() -> bool {
    Path::new(WORK_HOME).is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_file_finds_existing() {
        assert_eq!(
            first_file(&["/nonexistent-xyz", "Cargo.toml"]),
            Some("Cargo.toml")
        );
        assert_eq!(first_file(&["/nonexistent-xyz"]), None);
    }
}
