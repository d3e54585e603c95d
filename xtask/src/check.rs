//! `cargo xtask check-dist TARBALL`: the checks a tarball must pass before it ships. Every ELF
//! file in it meets the baseline of [`crate::policy`]; `SHA256SUMS` and `manifest.json` match
//! the files; the layout is one directory named like the tarball. Prints every file's size and
//! needs (a hard link's once, under the first name), and the tarball's compressed size.

use std::path::{Path, PathBuf};

use crate::archive::{self, ArchiveError, Entry};
use crate::elf;
use crate::manifest::{self, Manifest, MANIFEST, SUMS};
use crate::policy;

/// Why a tarball could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("cannot read the size of {}", .0.display())]
    Size(PathBuf, #[source] std::io::Error),
}

/// One ELF file of the tarball.
#[derive(Debug)]
pub(crate) struct Row {
    name: String,
    size: u64,
    newest_glibc: Option<(u32, u32)>,
    libraries: Vec<String>,
    /// The file it is a hard link to (stored once).
    link_to: Option<String>,
}

/// What the checks found.
#[derive(Debug)]
pub(crate) struct Report {
    /// The ELF files.
    pub(crate) rows: Vec<Row>,
    /// The tarball's size.
    pub(crate) compressed: u64,
    /// Everything that is wrong (empty: the tarball passes).
    pub(crate) problems: Vec<String>,
}

/// Checks the tarball at `path`.
pub(crate) fn check(path: &Path) -> Result<Report, CheckError> {
    let compressed = std::fs::metadata(path)
        .map_err(|e| CheckError::Size(path.to_path_buf(), e))?
        .len();
    let (top, entries) = archive::read(path)?;
    let mut problems = layout_problems(path, &top, &entries);
    let mut rows = Vec::new();
    for e in entries.iter().filter(|e| elf::is_elf(&e.data)) {
        if e.link_to.is_some() {
            // The same bytes as the file it links to, which is checked under its own name.
            rows.push(Row {
                name: e.name.clone(),
                size: e.data.len() as u64,
                newest_glibc: None,
                libraries: Vec::new(),
                link_to: e.link_to.clone(),
            });
            continue;
        }
        match elf::needs(&e.data) {
            Ok(needs) => {
                problems.extend(
                    policy::violations(&needs)
                        .into_iter()
                        .map(|v| format!("{}: {v}", e.name)),
                );
                rows.push(Row {
                    name: e.name.clone(),
                    size: e.data.len() as u64,
                    newest_glibc: policy::newest_glibc(&needs),
                    libraries: needs.libraries,
                    link_to: e.link_to.clone(),
                });
            }
            Err(err) => problems.push(format!("{}: {err}", e.name)),
        }
    }
    Ok(Report {
        rows,
        compressed,
        problems,
    })
}

/// The layout: `<top>/krunner`, at least one plugin, the manifest and the sums, each
/// consistent with the files and with the tarball's name.
fn layout_problems(path: &Path, top: &str, entries: &[Entry]) -> Vec<String> {
    let mut problems = Vec::new();
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    if file_name.as_deref() != Some(&format!("{top}.tar.gz")) {
        problems.push(format!(
            "the top directory {top}/ is not named like the tarball"
        ));
    }
    let find = |name: &str| entries.iter().find(|e| e.name == name);
    match find("krunner") {
        Some(e) if e.executable => {}
        Some(_) => problems.push("krunner is not executable".into()),
        None => problems.push("krunner is missing".into()),
    }
    if !entries.iter().any(|e| e.name.starts_with("libkernel_")) {
        problems.push("there is no plugin (libkernel_<lang>.so)".into());
    }
    match find(SUMS).map(|e| String::from_utf8_lossy(&e.data).into_owned()) {
        Some(text) => problems.extend(manifest::check_sums(&text, entries)),
        None => problems.push(format!("{SUMS} is missing")),
    }
    match find(MANIFEST).map(|e| serde_json::from_slice::<Manifest>(&e.data)) {
        Some(Ok(m)) => {
            if top != format!("{}-{}-{}", m.name, m.version, m.platform) {
                problems.push(format!(
                    "{MANIFEST} names another version or platform than {top}/"
                ));
            }
            problems.extend(manifest::check_manifest(&m, entries));
        }
        Some(Err(e)) => problems.push(format!("{MANIFEST} is not a valid manifest: {e}")),
        None => problems.push(format!("{MANIFEST} is missing")),
    }
    problems
}

impl Report {
    /// The sizes and needs as a Markdown table.
    pub(crate) fn table(&self) -> String {
        let mut out = String::from(
            "| file | size | newest glibc needed | libraries needed |\n|---|---:|---|---|\n",
        );
        let mut total = 0;
        for r in &self.rows {
            if let Some(first) = &r.link_to {
                out.push_str(&format!("| `{}` | hard link to `{first}` | | |\n", r.name));
                continue;
            }
            total += r.size;
            let glibc = r
                .newest_glibc
                .map_or_else(|| "none".to_owned(), |(a, b)| format!("GLIBC_{a}.{b}"));
            out.push_str(&format!(
                "| `{}` | {} | {glibc} | {} |\n",
                r.name,
                megabytes(r.size),
                r.libraries.join(", ")
            ));
        }
        out.push_str(&format!(
            "| all files, unpacked | {} | | |\n",
            megabytes(total)
        ));
        out.push_str(&format!(
            "| the tarball (gzip) | {} | | |\n",
            megabytes(self.compressed)
        ));
        out
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}
