//! The environment of user processes ("child environment").
//!
//! Built once at startup from the runner's own environment, the container defaults the agent
//! expects, `<config-dir>/environ.txt` and `PATH` promotion, as the Backend.AI runtime contract
//! describes. Differences from the original runner are deliberate: a malformed `environ.txt`
//! line is skipped (not the rest of the file), and variables the runner does not have are not
//! invented as empty strings.

use std::collections::BTreeMap;
use std::path::Path;

/// The default `PATH` when the runner has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The session home in a Backend.AI container.
pub const WORK_HOME: &str = "/home/work";

/// A set of environment variables for children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildEnv {
    vars: BTreeMap<String, String>,
}

impl ChildEnv {
    /// Builds the child environment from `base` (usually the runner's environment) and the
    /// files in `config_dir`. Returns the environment and the warnings worth logging.
    pub fn build(
        base: impl IntoIterator<Item = (String, String)>,
        config_dir: &Path,
    ) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
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
        let environ = config_dir.join("environ.txt");
        match std::fs::read(&environ) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let (parsed, bad) = parse_environ(&text);
                for (lineno, line) in bad {
                    warnings.push(format!(
                        "{}:{lineno}: ignoring a line without '=': {line:?}",
                        environ.display()
                    ));
                }
                vars.extend(parsed);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => warnings.push(format!("cannot read {}: {e}", environ.display())),
        }
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

    /// The runner's own environment, skipping variables that are not UTF-8.
    pub fn process_env() -> impl Iterator<Item = (String, String)> {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
    }

    /// Moves `dir` to the front of `PATH`, removing other exact occurrences.
    pub fn promote_path(&mut self, dir: &str) {
        let path = self.vars.get("PATH").map(String::as_str).unwrap_or("");
        let mut parts: Vec<&str> = vec![dir];
        parts.extend(path.split(':').filter(|p| !p.is_empty() && *p != dir));
        let joined = parts.join(":");
        self.vars.insert("PATH".into(), joined);
    }

    /// Sets a variable.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(key.into(), value.into());
    }

    /// Looks a variable up.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// All variables.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    /// The variables as a JSON object.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.vars).unwrap_or_else(|_| "{}".into())
    }
}

/// A line of `environ.txt` that is not `KEY=VALUE`: its 1-based number and text.
pub type BadLine = (usize, String);

/// Parses `environ.txt`: `KEY=VALUE` per line, split at the first `=`. Returns the pairs and
/// the (1-based line number, line) of lines that have no `=`. Blank lines are ignored.
pub fn parse_environ(text: &str) -> (Vec<(String, String)>, Vec<BadLine>) {
    let mut pairs = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) if !k.is_empty() => pairs.push((k.to_owned(), v.to_owned())),
            _ => bad.push((i + 1, line.to_owned())),
        }
    }
    (pairs, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environ_splits_at_first_equals_and_skips_bad_lines() {
        let (pairs, bad) = parse_environ("A=1\nB=x=y\n\nBROKEN\nC=\n");
        assert_eq!(
            pairs,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "x=y".into()),
                ("C".into(), String::new())
            ]
        );
        assert_eq!(bad, vec![(4, "BROKEN".into())]);
    }

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
