//! The environment of user processes ("child environment").
//!
//! Built once at startup from the host's own environment, the container defaults the agent
//! expects, `<config-dir>/environ.txt` and `PATH` promotion (docs/protocol.md §5.3).
//! Deliberately unlike the upstream runner, a malformed `environ.txt` line is skipped (not the
//! rest of the file), and variables the host does not have are not invented as empty strings.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config;

/// The default `PATH` when the host has none.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The session home in a Backend.AI container.
pub(crate) const WORK_HOME: &str = "/home/work";

/// A set of environment variables for children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ChildEnv {
    vars: BTreeMap<String, String>,
}

impl ChildEnv {
    /// Builds the child environment from `base` (usually the host's environment) and the
    /// files in `config_dir`. Returns the environment and the warnings worth logging.
    pub(crate) fn build(
        base: impl IntoIterator<Item = (String, String)>,
        config_dir: &Path,
    ) -> (Self, Vec<String>) {
        let mut vars: BTreeMap<String, String> = base.into_iter().collect();
        vars.insert("LANG".into(), "C.UTF-8".into());
        vars.insert("TERM".into(), "xterm".into());
        // HOME is the session directory inside a container; elsewhere (a developer running
        // `krunner run` on a laptop) the user's own HOME is kept so toolchains keep working.
        if Path::new(WORK_HOME).is_dir() {
            vars.insert("HOME".into(), WORK_HOME.into());
        }
        vars.entry("PATH".into())
            .or_insert_with(|| DEFAULT_PATH.to_owned());
        if !vars.contains_key("SHELL") {
            let shell = if Path::new("/bin/ash").exists() {
                "/bin/ash"
            } else {
                "/bin/bash"
            };
            vars.insert("SHELL".into(), shell.into());
        }
        let (environ, warnings) = config::read_environ(config_dir);
        vars.extend(environ);
        let mut env = Self { vars };
        for dir in ["/usr/local/cuda/bin", "/usr/local/nvidia/bin"] {
            if Path::new(dir).is_dir() {
                env.promote_path(dir);
            }
        }
        if Path::new("/home/linuxbrew/.linuxbrew").is_dir() {
            env.promote_path("/home/linuxbrew/.linuxbrew/bin");
        }
        env.promote_path("/home/work/.local/bin");
        (env, warnings)
    }

    /// The host's own environment, skipping variables that are not UTF-8.
    pub(crate) fn process_env() -> impl Iterator<Item = (String, String)> {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
    }

    /// Moves `dir` to the front of `PATH`, removing other exact occurrences.
    pub(crate) fn promote_path(&mut self, dir: &str) {
        let path = self.vars.get("PATH").map(String::as_str).unwrap_or("");
        let mut parts: Vec<&str> = vec![dir];
        parts.extend(path.split(':').filter(|p| !p.is_empty() && *p != dir));
        let joined = parts.join(":");
        self.vars.insert("PATH".into(), joined);
    }

    /// Sets a variable.
    pub(crate) fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(key.into(), value.into());
    }

    /// Looks a variable up.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// All variables.
    pub(crate) fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    /// The variables as a JSON object.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(&self.vars).unwrap_or_else(|_| "{}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_applies_defaults_environ_and_promotion() {
        let dir = std::env::temp_dir().join(format!("krunner-env-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("environ.txt"),
            "FOO=bar\nnope\nPATH=/opt/x:/home/work/.local/bin\n",
        )
        .expect("write");
        let (env, warnings) = ChildEnv::build([("SHELL".to_owned(), "/bin/zsh".to_owned())], &dir);
        assert_eq!(env.get("FOO"), Some("bar"));
        assert_eq!(env.get("LANG"), Some("C.UTF-8"));
        assert_eq!(env.get("SHELL"), Some("/bin/zsh"));
        assert!(env
            .get("PATH")
            .is_some_and(|p| p.starts_with("/home/work/.local/bin:") && p.contains("/opt/x")));
        assert_eq!(
            env.get("PATH")
                .map(|p| p.matches("/home/work/.local/bin").count()),
            Some(1)
        );
        assert_eq!(warnings.len(), 1);
        let _ = std::fs::remove_dir_all(dir);
    }
}
