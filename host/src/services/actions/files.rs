//! The prestart actions that write files: `write_file` and `write_tempfile`.
//!
//! Prestart actions may run as a more privileged user than the session's, on paths inside the
//! session's reach, so `write_file` does not follow a symbolic link at its path, opens without
//! waiting (a FIFO without a reader fails instead of blocking), writes only to a regular file,
//! and sets the mode through the open descriptor before the first byte is written: a secret is
//! never readable under an older, wider mode, and no chmod by path can be redirected.

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::PathBuf;

use serde_json::Value;

use super::{io_error, Args};
use crate::services::definition::DefinitionError;

/// `write_file`: one line per body item, mode 644 unless given; `append` appends. A symbolic
/// link at `filename` is not followed, only a regular file is written, and its mode is set
/// before anything is written to it.
pub(super) fn write_file(a: &Args<'_>) -> Result<Value, DefinitionError> {
    a.only(&["filename", "body", "mode", "append"])?;
    let filename = a.string("filename")?;
    let body = a.lines("body")?;
    let mode = a.mode()?;
    let append = a.flag("append")?;
    let fail = |e| io_error("write_file", &filename, e);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&filename)
        .map_err(|e| fail(explain_open(e)))?;
    only_regular(&file).map_err(fail)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(fail)?;
    if !append {
        file.set_len(0).map_err(fail)?;
    }
    for line in body {
        file.write_all(line.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .map_err(fail)?;
    }
    Ok(Value::Null)
}

/// Names what `O_NOFOLLOW | O_NONBLOCK` refused: a symbolic link, or a FIFO without a reader.
fn explain_open(e: std::io::Error) -> std::io::Error {
    let why = match e.raw_os_error() {
        Some(libc::ELOOP) => "is a symbolic link, which is not followed",
        Some(libc::ENXIO) => "not a regular file",
        _ => return e,
    };
    std::io::Error::new(std::io::ErrorKind::InvalidInput, why)
}

/// Refuses anything but a regular file (a FIFO, a device).
fn only_regular(file: &File) -> std::io::Result<()> {
    if file.metadata()?.is_file() {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ))
    }
}

/// `write_tempfile`: the body as given into a new `.py` file (mode set before writing);
/// returns its path.
pub(super) fn write_tempfile(a: &Args<'_>) -> Result<Value, DefinitionError> {
    a.only(&["body", "mode"])?;
    let body = a.lines("body")?;
    let mode = a.mode()?;
    let path = tempfile_path();
    let shown = path.display().to_string();
    let fail = |e| io_error("write_tempfile", &shown, e);
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(fail)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(fail)?;
    for line in body {
        file.write_all(line.as_bytes()).map_err(fail)?;
    }
    Ok(Value::String(shown))
}

fn tempfile_path() -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("tmp{}{:x}{n}.py", std::process::id(), nanos))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::run_all;
    use super::super::tests::{action, path_env, setting, tempfile_dir};
    use super::*;
    use crate::services::interpolate::Variables;
    use serde_json::json;

    #[test]
    fn write_file_neither_follows_links_nor_opens_strange_files() {
        let dir = tempfile_dir();
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let fifo = dir.join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        for (path, why) in [(&link, "symbolic link"), (&fifo, "not a regular file")] {
            let err = run_all(
                &[action(json!({"action": "write_file",
                    "args": {"filename": path.display().to_string(), "body": ["x"], "mode": "666"}}))],
                &mut Variables::new(),
                &setting(&path_env(), 10_000),
            )
            .unwrap_err();
            assert!(err.to_string().contains(why), "{err}");
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let _ = std::fs::remove_dir_all(dir);
    }
}
