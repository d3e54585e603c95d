//! The service-definition directory (`/etc/backend.ai/service-defs` by default).
//!
//! Files are read when a service is started or listed, never at startup, so one bad file only
//! makes its own service fail. Names are file stems only: a request cannot reach outside the
//! directory.

use std::path::PathBuf;

use super::{Definition, DefinitionError};

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

    /// Loads `name`: `None` when there is no such file.
    pub(crate) fn load(&self, name: &str) -> Option<Result<Definition, DefinitionError>> {
        let file = self.file(name)?;
        match std::fs::read_to_string(&file) {
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
            .collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_file_stems_only() {
        assert!(valid_name("jupyter-lab_2"));
        assert!(!valid_name("../etc/passwd"));
        assert!(!valid_name(""));
        assert!(!valid_name(".hidden"));
    }
}
