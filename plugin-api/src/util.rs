//! Small helpers most language plugins need: quoting for `/bin/sh`, `PATH` lookup, and a
//! deterministic source-file walk.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Quotes `s` for `/bin/sh` (single quotes, with embedded quotes escaped).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Looks `program` up in the colon-separated `path`. A program containing `/` is checked as a
/// path. Returns the first executable regular file.
pub fn which_in(program: &str, path: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_executable(&p).then_some(p);
    }
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a regular file with an execute bit set.
pub fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// All files under `root` whose extension is `ext`, recursively, sorted by path, skipping
/// hidden directories (`.git`, `.cache`, …). Paths are relative to `root` when `root` is `.`.
pub fn find_sources(root: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            let path = path
                .strip_prefix("./")
                .map(Path::to_path_buf)
                .unwrap_or(path);
            if kind.is_dir() {
                if !name.to_string_lossy().starts_with('.') {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == ext) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("main.c"), "main.c");
        assert_eq!(shell_quote("my file.c"), "'my file.c'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(rm -rf)"), "'$(rm -rf)'");
    }

    #[test]
    fn which_finds_sh() {
        assert!(which_in("sh", "/nonexistent:/bin:/usr/bin").is_some());
        assert!(which_in("definitely-not-a-program", "/bin").is_none());
    }
}
