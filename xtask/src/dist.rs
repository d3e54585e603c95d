//! `cargo xtask dist`: builds the host and the shipped plugins for glibc 2.17 and packs them
//! with `manifest.json` and `SHA256SUMS` into
//! `target/dist/krunner-<version>-x86_64-linux-gnu.tar.gz`, then checks the tarball. The
//! directory it was packed from stays next to it, as the tarball unpacks.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::archive::{self, ArchiveError, Entry};
use crate::check::{self, CheckError, Report};
use crate::compile::{self, CompileError, GLIBC};
use crate::manifest::{self, FileInfo, Manifest, MANIFEST, SUMS};
use crate::naming::{self, NamingError};
use crate::tool::{self, ToolError};
use crate::workspace::{Workspace, WorkspaceError, HOST_PACKAGE};

/// The platform part of the tarball's name.
pub(crate) const PLATFORM: &str = "x86_64-linux-gnu";

/// Why the distribution could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DistError {
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Check(#[from] CheckError),
    #[error(transparent)]
    Naming(#[from] NamingError),
    #[error(transparent)]
    Link(#[from] crate::link::LinkError),
    #[error("{}", .0.display())]
    Io(PathBuf, #[source] std::io::Error),
    #[error("cannot parse the output of `krunner plugins list --json`")]
    Probe(#[source] serde_json::Error),
    #[error("the built krunner does not load {file}: {status}: {reason}")]
    Unloadable {
        file: String,
        status: String,
        reason: String,
    },
    #[error("SOURCE_DATE_EPOCH is not a number of seconds: {0:?}")]
    Epoch(String),
    #[error("the tarball {} fails its checks:\n  {}", .0.display(), .1.join("\n  "))]
    Failed(PathBuf, Vec<String>),
}

/// Makes the tarball; returns its path and the check's report.
pub(crate) fn dist() -> Result<(PathBuf, Report), DistError> {
    let ws = Workspace::load()?;
    let built = compile::build(&ws)?;
    let top = format!("{HOST_PACKAGE}-{}-{PLATFORM}", ws.version);
    let out = ws.target_dir.join("dist");
    let stage = out.join(&top);
    let mut entries = stage_files(&stage, &built)?;
    let manifest = describe(&ws, &stage, &entries)?;
    let json = serde_json::to_vec_pretty(&manifest).map_err(DistError::Probe)?;
    entries.push(Entry {
        name: MANIFEST.into(),
        executable: false,
        data: json,
        link_to: None,
    });
    entries.push(Entry {
        name: SUMS.into(),
        executable: false,
        data: manifest::sums(&entries).into_bytes(),
        link_to: None,
    });
    for e in &entries[entries.len() - 2..] {
        let path = stage.join(&e.name);
        std::fs::write(&path, &e.data).map_err(|err| DistError::Io(path, err))?;
    }
    let tarball = out.join(format!("{top}.tar.gz"));
    archive::write(&tarball, &top, &entries, source_date(&ws.root)?)?;
    let report = check::check(&tarball)?;
    if !report.problems.is_empty() {
        return Err(DistError::Failed(tarball, report.problems));
    }
    Ok((tarball, report))
}

/// The test plugin that panics on request.
const FIXTURE_PACKAGE: &str = "kernel-panicky";

/// Builds [`FIXTURE_PACKAGE`] like the shipped plugins and copies it into `dir`.
pub(crate) fn fixture(dir: &Path) -> Result<PathBuf, DistError> {
    let ws = Workspace::load()?;
    let built = compile::build_plugin(&ws, FIXTURE_PACKAGE)?;
    let name = built.file_name().unwrap_or_default();
    let to = dir.join(name);
    std::fs::copy(&built, &to).map_err(|e| DistError::Io(to.clone(), e))?;
    Ok(to)
}

/// Copies the built files into a fresh `stage` directory, each plugin under the names it is
/// shipped under ([`naming`]; the later names of a file are hard links to the first); returns
/// them as tarball entries.
fn stage_files(stage: &Path, built: &compile::Built) -> Result<Vec<Entry>, DistError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| DistError::Io(p, e)
    };
    if stage.exists() {
        std::fs::remove_dir_all(stage).map_err(io(stage))?;
    }
    std::fs::create_dir_all(stage).map_err(io(stage))?;
    let files =
        std::iter::once((&built.host, true)).chain(built.plugins.iter().map(|p| (p, false)));
    let mut entries = Vec::new();
    for (from, executable) in files {
        // The host comes first, so it is staged by the time a plugin needs its probe.
        let mut names = if executable {
            vec![HOST_PACKAGE.to_owned()]
        } else {
            naming::shipped_names(&stage.join(HOST_PACKAGE), from)?
        };
        names.sort();
        let data = std::fs::read(from).map_err(io(from))?;
        let first = stage.join(&names[0]);
        std::fs::write(&first, &data).map_err(io(&first))?;
        let mode = if executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&first, std::fs::Permissions::from_mode(mode))
            .map_err(io(&first))?;
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                let to = stage.join(name);
                std::fs::hard_link(&first, &to).map_err(io(&to))?;
            }
            entries.push(Entry {
                name: name.clone(),
                executable,
                data: data.clone(),
                link_to: (i > 0).then(|| names[0].clone()),
            });
        }
    }
    Ok(entries)
}

/// A row of `krunner plugins list --json`.
#[derive(Debug, Deserialize)]
struct Listed {
    file: PathBuf,
    language: String,
    plugin_version: String,
    api_version: String,
    status: String,
    reason: String,
}

/// The manifest, with each plugin's language and versions as the staged `krunner` reports
/// them after loading it from its own directory (which also proves that it loads every one).
fn describe(ws: &Workspace, stage: &Path, entries: &[Entry]) -> Result<Manifest, DistError> {
    let mut cmd = Command::new(stage.join("krunner"));
    cmd.args(["plugins", "list", "--json"])
        .env_remove("KRUNNER_PLUGIN_PATH")
        .stdin(Stdio::null());
    let listed: Vec<Listed> =
        serde_json::from_slice(&tool::output("krunner plugins list --json", &mut cmd)?)
            .map_err(DistError::Probe)?;
    let mut files = Vec::new();
    for e in entries {
        let info = FileInfo {
            file: e.name.clone(),
            kind: "host".into(),
            language: None,
            plugin_version: None,
            plugin_api_version: ws.api_version.clone(),
            size: e.data.len() as u64,
            sha256: manifest::sha256(&e.data),
            same_file_as: e.link_to.clone(),
        };
        if e.executable {
            files.push(info);
            continue;
        }
        let row = listed
            .iter()
            .find(|r| r.file == stage.join(&e.name))
            .ok_or_else(|| DistError::Unloadable {
                file: e.name.clone(),
                status: "missing".into(),
                reason: "not on krunner's search path".into(),
            })?;
        if row.status != "ok" {
            return Err(DistError::Unloadable {
                file: e.name.clone(),
                status: row.status.clone(),
                reason: row.reason.clone(),
            });
        }
        files.push(FileInfo {
            kind: "plugin".into(),
            language: Some(row.language.clone()),
            plugin_version: Some(row.plugin_version.clone()),
            plugin_api_version: row.api_version.clone(),
            ..info
        });
    }
    files.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(Manifest {
        name: HOST_PACKAGE.into(),
        version: ws.version.clone(),
        platform: PLATFORM.into(),
        glibc: format!("{}.{}", GLIBC.0, GLIBC.1),
        files,
    })
}

/// The time stamped on the tarball's entries: `SOURCE_DATE_EPOCH`, else the time of the
/// checked-out commit.
fn source_date(root: &Path) -> Result<u64, DistError> {
    if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        return epoch.trim().parse().map_err(|_| DistError::Epoch(epoch));
    }
    let mut git = Command::new("git");
    git.arg("-C").arg(root).args(["log", "-1", "--format=%ct"]);
    let out = tool::output(
        "git log (set SOURCE_DATE_EPOCH outside a git checkout)",
        &mut git,
    )?;
    let text = String::from_utf8_lossy(&out).trim().to_owned();
    text.parse().map_err(|_| DistError::Epoch(text))
}
