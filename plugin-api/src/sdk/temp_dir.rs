//! [`TempDir`], because query modes compile and run snippets in a private directory so they
//! never touch the user's files, and every plugin would otherwise write its own.

use std::path::{Path, PathBuf};

use super::Result;
use crate::error::{ErrorCode, PluginError};

/// A private temporary directory, removed with its contents on drop. Query modes compile and
/// run in one so they never touch the user's files.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/krunner-<prefix>-<unique>` with mode 0700.
    pub fn new(prefix: &str) -> Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let base = std::env::temp_dir();
        for _ in 0..100 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = base.join(format!(
                "krunner-{prefix}-{}-{n}-{nanos:08x}",
                std::process::id()
            ));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(Self(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(PluginError::new(
                        ErrorCode::IO,
                        format!(
                            "cannot create a temporary directory in {}: {e}",
                            base.display()
                        ),
                    ))
                }
            }
        }
        Err(PluginError::internal(
            "cannot find a free temporary directory name",
        ))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The directory as a string (temporary paths are always UTF-8 here).
    pub fn path_str(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
