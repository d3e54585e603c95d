//! File operations of the SSH key setup that never go through a symbolic link.
//!
//! The key setup may run as a more privileged user than the session's, in places the session
//! can write to (`/tmp`, `$HOME`). A chmod by path, or a directory reused because it "already
//! exists", could then be redirected by a link planted there. So the private directory is made
//! by `mkdir` with its final mode (which fails on anything already at that name), and modes of
//! existing files are set through a descriptor opened with `O_NOFOLLOW`.

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use super::ssh_keys::{file_error, KeyError};

/// Sets the mode of `path` through a descriptor; a symbolic link at `path` is left alone.
pub(super) fn set_mode(path: &Path, mode: u32) -> Result<(), KeyError> {
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    match opened {
        Ok(file) => file
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(file_error("chmod", path)),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            tracing::info!(
                "{} is a symbolic link; its mode is left alone",
                path.display()
            );
            Ok(())
        }
        Err(e) => Err(file_error("chmod", path)(e)),
    }
}

/// Makes the private directory `<base>/<name>` (mode 700) anew, or a fresh
/// `<base>/<name>-<n>` when `<base>/<name>` is taken by anything but a directory of ours.
pub(crate) fn private_dir(base: &Path, name: &str) -> Result<PathBuf, KeyError> {
    let fixed = base.join(name);
    if let Ok(meta) = std::fs::symlink_metadata(&fixed) {
        if meta.is_dir() && meta.uid() == crate::sys::uid() {
            // Ours, from an earlier start: its keys are not reused. remove_dir_all does not
            // follow links inside it.
            let _ = std::fs::remove_dir_all(&fixed);
        }
    }
    let mkdir = |path: &Path| std::fs::DirBuilder::new().mode(0o700).create(path);
    match mkdir(&fixed) {
        Ok(()) => return Ok(fixed),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            tracing::warn!("{} is taken; using a fresh directory", fixed.display());
        }
        Err(e) => return Err(file_error("create", &fixed)(e)),
    }
    let mut last = None;
    for n in 0..16u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = base.join(format!("{name}-{}-{:x}{n}", std::process::id(), nanos));
        match mkdir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(file_error("create", &path)(e)),
        }
    }
    Err(file_error("create", &fixed)(last.unwrap_or_else(|| {
        std::io::Error::from(std::io::ErrorKind::AlreadyExists)
    })))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn the_private_directory_is_never_reached_through_a_link() {
        let base = std::env::temp_dir().join(format!("krunner-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("victim")).unwrap();
        std::fs::set_permissions(base.join("victim"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::os::unix::fs::symlink(base.join("victim"), base.join("dropbear-x")).unwrap();
        let dir = private_dir(&base, "dropbear-x").unwrap();
        assert_ne!(dir, base.join("dropbear-x"));
        assert!(std::fs::symlink_metadata(&dir).unwrap().is_dir());
        assert_eq!(mode_of(&dir), 0o700);
        assert_eq!(mode_of(&base.join("victim")), 0o755);
        assert!(std::fs::symlink_metadata(base.join("dropbear-x"))
            .unwrap()
            .file_type()
            .is_symlink());
        // A directory of our own from an earlier start is made anew, with its mode.
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(base.join("dropbear-y"))
            .unwrap();
        std::fs::write(base.join("dropbear-y/old-key"), "x").unwrap();
        let dir = private_dir(&base, "dropbear-y").unwrap();
        assert_eq!(dir, base.join("dropbear-y"));
        assert_eq!(mode_of(&dir), 0o700);
        assert!(!dir.join("old-key").exists());
        // set_mode does not follow a link either.
        set_mode(&base.join("dropbear-x"), 0o700).unwrap();
        assert_eq!(mode_of(&base.join("victim")), 0o755);
        let _ = std::fs::remove_dir_all(base);
    }
}
