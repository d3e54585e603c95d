//! Binding the user-input socket at its well-known path so that no other user can hold it or
//! talk to it (docs/protocol.md §5.6).
//!
//! The path (`/tmp/bai-user-input.sock`) is fixed by the images' input hooks and lives in a
//! world-writable directory. Removing a stale file and then binding would leave a moment in
//! which another user could create the path, and a socket bound with a permissive umask could
//! be connected to by any user, who would then receive the input meant for the task. So the
//! socket is bound in a private directory (mode 0700), restricted to its owner (mode 0600), and
//! renamed into place, which atomically replaces a stale file. A path that another user holds
//! in a sticky directory such as `/tmp` cannot be replaced; that is reported with the owner's
//! uid and the socket is not served.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::sys;

/// Why the socket could not be bound.
#[derive(Debug, Error)]
pub(crate) enum BindError {
    /// Another user's file is at the path and may not be replaced.
    #[error(
        "{path} belongs to uid {owner} and this runner (uid {me}) may not replace it; input \
         hooks in this session would talk to that user's process"
    )]
    HeldByOtherUser {
        /// The path.
        path: PathBuf,
        /// The file's owner.
        owner: u32,
        /// This process's uid.
        me: u32,
    },
    /// Anything else.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Binds a unix socket at `path` that only this user can connect to, replacing a stale file.
pub(crate) fn bind_private(path: &Path) -> Result<UnixListener, BindError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or(path.as_os_str());
    let dir = private_dir(parent, &name.to_string_lossy())?;
    let staged = dir.join("socket");
    let result = stage_and_move(&staged, path);
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&dir);
    result
}

fn stage_and_move(staged: &Path, path: &Path) -> Result<UnixListener, BindError> {
    let listener = UnixListener::bind(staged)?;
    std::fs::set_permissions(staged, std::fs::Permissions::from_mode(0o600))?;
    match std::fs::rename(staged, path) {
        Ok(()) => Ok(listener),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.uid() != sys::uid() => Err(BindError::HeldByOtherUser {
                    path: path.to_path_buf(),
                    owner: meta.uid(),
                    me: sys::uid(),
                }),
                _ => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates a directory only this user can enter, next to the socket's path.
fn private_dir(parent: &Path, name: &str) -> std::io::Result<PathBuf> {
    let mut last = None;
    for attempt in 0..8u32 {
        let dir = parent.join(format!(".{name}.{}.{attempt}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no private directory")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_is_private_and_replaces_a_stale_file() {
        let dir = tempfile_dir();
        let path = dir.join("in.sock");
        std::fs::write(&path, b"stale").expect("write");
        let listener = bind_private(&path).expect("bind");
        let meta = std::fs::symlink_metadata(&path).expect("socket");
        assert_eq!(meta.mode() & 0o777, 0o600);
        std::os::unix::net::UnixStream::connect(&path).expect("connect");
        assert!(listener.accept().is_ok());
        let left: Vec<_> = std::fs::read_dir(&dir).expect("dir").flatten().collect();
        assert_eq!(
            left.len(),
            1,
            "the private directory was left behind: {left:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "krunner-socket-path-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("mkdir");
        dir
    }
}
