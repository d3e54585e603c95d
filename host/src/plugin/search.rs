//! Where plugins are looked for, and which file wins for each language.
//!
//! The order is the same for every subcommand: each `--plugin-dir`, then the directories of
//! `KRUNNER_PLUGIN_PATH` (colon-separated), then the directory of the `krunner` executable,
//! then [`SYSTEM_DIR`]. The first `libkernel_<lang>.so` found for a language wins; later ones
//! are shadowed.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// The system-wide plugin directory.
pub(crate) const SYSTEM_DIR: &str = "/usr/lib/krunner/plugins";

/// The environment variable with extra plugin directories.
pub(crate) const PATH_VAR: &str = "KRUNNER_PLUGIN_PATH";

/// A plugin file found on the search path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// The language from the file name.
    pub(crate) language: String,
    /// The file.
    pub(crate) path: PathBuf,
    /// The file that wins over this one, if this one is shadowed.
    pub(crate) shadowed_by: Option<PathBuf>,
}

/// The ordered list of plugin directories.
#[derive(Debug, Clone)]
pub(crate) struct SearchPath {
    dirs: Vec<PathBuf>,
}

impl SearchPath {
    /// The search path for the given `--plugin-dir` values and the process environment.
    pub(crate) fn new(cli_dirs: &[PathBuf]) -> Self {
        let env = std::env::var_os(PATH_VAR);
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        Self::from_parts(cli_dirs, env.as_deref(), exe_dir)
    }

    fn from_parts(
        cli_dirs: &[PathBuf],
        env: Option<&std::ffi::OsStr>,
        exe_dir: Option<PathBuf>,
    ) -> Self {
        let mut dirs: Vec<PathBuf> = cli_dirs.to_vec();
        if let Some(env) = env {
            dirs.extend(std::env::split_paths(env).filter(|p| !p.as_os_str().is_empty()));
        }
        dirs.extend(exe_dir);
        dirs.push(PathBuf::from(SYSTEM_DIR));
        let mut seen = HashSet::new();
        dirs.retain(|d| seen.insert(std::fs::canonicalize(d).unwrap_or_else(|_| d.clone())));
        Self { dirs }
    }

    /// The directories, in order.
    pub(crate) fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Every `libkernel_*.so` on the path, in search order, with shadowing resolved.
    pub(crate) fn candidates(&self) -> Vec<Candidate> {
        let mut winners: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut found = Vec::new();
        for dir in &self.dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut files: Vec<(String, PathBuf)> = entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    let lang = language_of(&name)?;
                    Some((lang.to_owned(), e.path()))
                })
                .collect();
            files.sort();
            for (language, path) in files {
                let shadowed_by = winners.get(&language).cloned();
                if shadowed_by.is_none() {
                    winners.insert(language.clone(), path.clone());
                }
                found.push(Candidate {
                    language,
                    path,
                    shadowed_by,
                });
            }
        }
        found
    }

    /// The file that serves `language`, or `None`.
    pub(crate) fn find(&self, language: &str) -> Option<Candidate> {
        self.candidates()
            .into_iter()
            .find(|c| c.language == language && c.shadowed_by.is_none())
    }

    /// The languages available (unique, sorted).
    pub(crate) fn languages(&self) -> Vec<String> {
        let mut langs: Vec<String> = self
            .candidates()
            .into_iter()
            .filter(|c| c.shadowed_by.is_none())
            .map(|c| c.language)
            .collect();
        langs.sort();
        langs
    }

    /// The plugin serving `language`, or a one-paragraph explanation of why there is none.
    pub(crate) fn find_or_explain(&self, language: &str) -> Result<Candidate, NotFound> {
        self.find(language)
            .ok_or_else(|| NotFound(self.not_found_message(language)))
    }

    /// A one-paragraph explanation for a language that is not found.
    fn not_found_message(&self, language: &str) -> String {
        let langs = self.languages();
        let dirs: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        format!(
            "no plugin for language '{language}': looked for {} in {}; languages found: {}. \
             Add a directory with --plugin-dir DIR or {PATH_VAR}.",
            file_name_for(language),
            dirs.join(", "),
            if langs.is_empty() {
                "none".to_owned()
            } else {
                langs.join(", ")
            }
        )
    }
}

/// No plugin serves a language; the message names the file looked for, every directory
/// searched, the languages found, and what to do.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NotFound(String);

/// `libkernel_<lang>.so` → `<lang>`.
pub(crate) fn language_of(file_name: &str) -> Option<&str> {
    let lang = file_name.strip_prefix("libkernel_")?.strip_suffix(".so")?;
    (!lang.is_empty()).then_some(lang)
}

/// The file name for `language` (`.` and `-` are not valid in a Rust library name, so a
/// language such as `vendor.aws_polly` is looked up as written).
pub(crate) fn file_name_for(language: &str) -> String {
    format!("libkernel_{language}.so")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(language_of("libkernel_c.so"), Some("c"));
        assert_eq!(language_of("libkernel_.so"), None);
        assert_eq!(language_of("libfoo.so"), None);
        assert_eq!(language_of("libkernel_c.so.1"), None);
    }

    #[test]
    fn first_directory_wins_and_later_ones_are_shadowed() {
        let base = std::env::temp_dir().join(format!("krunner-search-{}", std::process::id()));
        let (a, b) = (base.join("a"), base.join("b"));
        for d in [&a, &b] {
            std::fs::create_dir_all(d).expect("mkdir");
            std::fs::write(d.join("libkernel_c.so"), b"x").expect("write");
        }
        std::fs::write(b.join("libkernel_go.so"), b"x").expect("write");
        std::fs::write(b.join("README"), b"x").expect("write");
        let sp = SearchPath::from_parts(std::slice::from_ref(&a), Some(b.as_os_str()), None);
        assert_eq!(sp.dirs()[..2], [a.clone(), b.clone()]);
        let cands = sp.candidates();
        assert_eq!(cands.len(), 3);
        assert_eq!(sp.find("c").map(|c| c.path), Some(a.join("libkernel_c.so")));
        assert!(cands
            .iter()
            .any(|c| c.path == b.join("libkernel_c.so") && c.shadowed_by.is_some()));
        assert_eq!(sp.languages(), vec!["c".to_owned(), "go".to_owned()]);
        let msg = sp.not_found_message("ruby");
        assert!(
            msg.contains("libkernel_ruby.so") && msg.contains("c, go"),
            "{msg}"
        );
        let _ = std::fs::remove_dir_all(base);
    }
}
