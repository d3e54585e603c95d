//! `cargo xtask link-plugins [DIR]`: gives the plugins of a plain `cargo build` their plugin
//! file names, so that the `krunner` next to them finds every language.
//!
//! Cargo names a library after its crate, and two shipped plugins cannot have a plugin file
//! name there: `vendor.aws_polly` (a Rust library name cannot hold its `.`) and the
//! toolkit languages' file, which serves thirteen languages. This links each such file in DIR
//! under `libkernel_<language>.so` for every language it serves, as `cargo xtask dist` names
//! them in the tarball, asking DIR's own `krunner` which languages those are. The links are
//! symbolic and relative, so they follow the file when cargo rebuilds it (cargo replaces its
//! outputs rather than rewriting them, which would leave hard links on the old build).

use std::path::{Path, PathBuf};

use crate::naming::{self, NamingError};

/// Why the plugins could not be linked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    #[error("{}: there is no krunner here; build first (`cargo build --workspace`)", .0.display())]
    NoHost(PathBuf),
    #[error("{}", .0.display())]
    Io(PathBuf, #[source] std::io::Error),
    #[error(transparent)]
    Naming(#[from] NamingError),
}

/// Links every plugin in `dir` that cargo named `libkrunner_*.so` (not a plugin file name);
/// returns the links made, as `(link, file)`.
pub(crate) fn link_plugins(dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>, LinkError> {
    let krunner = dir.join("krunner");
    if !krunner.is_file() {
        return Err(LinkError::NoHost(dir.to_path_buf()));
    }
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| LinkError::Io(p, e)
    };
    let mut built: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with("libkrunner_") && name.ends_with(".so")
        })
        .collect();
    built.sort();
    let mut made = Vec::new();
    for file in built {
        for name in naming::shipped_names(&krunner, &file)? {
            let link = dir.join(name);
            match std::fs::remove_file(&link) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&link)(e)),
                _ => {}
            }
            let target = file.file_name().unwrap_or_default();
            std::os::unix::fs::symlink(target, &link).map_err(io(&link))?;
            made.push((link, file.clone()));
        }
    }
    Ok(made)
}
