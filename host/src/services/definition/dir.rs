//! The service-definition directory (`/etc/backend.ai/service-defs` by default).
//!
//! Files are read when a service is started or listed, never at startup, so one bad file only
//! makes its own service fail. Names are file stems only: a request cannot reach outside the
//! directory. Only regular files of at most [`MAX_FILE`] bytes are read, and opening never
//! waits: a FIFO, a device or a link to one (`/dev/zero`) is refused with a reason instead of
//! blocking or exhausting memory. Listing stops at [`MAX_NAMES`] names.

use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use super::{Definition, DefinitionError};

/// The largest definition file read.
pub(crate) const MAX_FILE: u64 = 1 << 20;
/// The most definitions listed.
pub(crate) const MAX_NAMES: usize = 1000;

/// Whether `name` can be a file stem in the definitions directory.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The definitions directory.
#[derive(Debug, Clone)]
pub(crate) struct DefinitionDir(pub(crate) PathBuf);

impl DefinitionDir {
    /// The file that would define `name`.
    pub(crate) fn file(&self, name: &str) -> Option<PathBuf> {
        valid_name(name).then(|| self.0.join(format!("{name}.json")))
    }

    /// Whether a file (of any kind) defines `name`; does not open it.
    pub(crate) fn has_file(&self, name: &str) -> bool {
        self.file(name)
            .is_some_and(|f| std::fs::symlink_metadata(f).is_ok())
    }

    /// Loads `name`: `None` when there is no such file.
    pub(crate) fn load(&self, name: &str) -> Option<Result<Definition, DefinitionError>> {
        let file = self.file(name)?;
        match read_limited(&file) {
            Ok(text) => Some(Definition::parse(&text).map_err(|e| match e {
                DefinitionError::Invalid(msg) => {
                    DefinitionError::Invalid(format!("{}: {msg}", file.display()))
                }
                other => other,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(Err(DefinitionError::Invalid(format!(
                "cannot read {}: {e}",
                file.display()
            )))),
        }
    }

    /// Every service name with a definition file, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.0) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let path = e.path();
                (path.extension().and_then(|x| x.to_str()) == Some("json"))
                    .then(|| path.file_stem()?.to_str().map(str::to_owned))
                    .flatten()
            })
            .filter(|n| valid_name(n))
            .take(MAX_NAMES + 1)
            .collect();
        if names.len() > MAX_NAMES {
            tracing::warn!(
                "{} holds more than {MAX_NAMES} definitions; listing {MAX_NAMES}",
                self.0.display()
            );
            names.truncate(MAX_NAMES);
        }
        names.sort();
        names
    }
}

/// Reads `path` as text if it is a regular file of at most [`MAX_FILE`] bytes. Opening does
/// not wait (`O_NONBLOCK`: a FIFO without a writer opens at once, and is then refused).
fn read_limited(path: &Path) -> std::io::Result<String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let too_big = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE} bytes"),
        )
    };
    if meta.len() > MAX_FILE {
        return Err(too_big());
    }
    let mut text = String::new();
    file.take(MAX_FILE + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE {
        return Err(too_big());
    }
    Ok(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_small_regular_files_are_read() {
        let dir = std::env::temp_dir().join(format!("krunner-defs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let defs = DefinitionDir(dir.clone());
        std::fs::write(dir.join("good.json"), r#"{"command": ["true"]}"#).unwrap();
        std::fs::write(dir.join("huge.json"), vec![b' '; MAX_FILE as usize + 1]).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero.json")).unwrap();
        std::os::unix::fs::symlink(dir.join("good.json"), dir.join("alias.json")).unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(dir.join("fifo.json"))
            .status()
            .unwrap();
        assert!(fifo.success());
        assert!(defs.load("good").unwrap().is_ok());
        assert!(defs.load("alias").unwrap().is_ok());
        assert!(defs.load("missing").is_none());
        for (name, why) in [
            ("huge", "larger than"),
            ("zero", "not a regular file"),
            ("fifo", "not a regular file"),
        ] {
            let err = defs.load(name).unwrap().unwrap_err().to_string();
            assert!(err.contains(why), "{name}: {err}");
        }
        assert!(defs.has_file("fifo") && !defs.has_file("missing"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn names_are_file_stems_only() {
        assert!(valid_name("jupyter-lab_2"));
        assert!(!valid_name("../etc/passwd"));
        assert!(!valid_name(""));
        assert!(!valid_name(".hidden"));
    }
}
