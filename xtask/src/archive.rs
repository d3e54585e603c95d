//! The tarball: written the same way every time (entries sorted by name, one fixed time, owner
//! root, modes 0755 for executables and 0644 for the rest, gzip without a name or time), and
//! read back into memory with a bound on its size for the checks. An entry that is a hard link
//! to another (a plugin file that serves several languages, shipped under each of their names)
//! is stored as a link, so the file's bytes are in the tarball once.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

/// The most the checks read from a tarball, unpacked.
const MAX_UNPACKED: u64 = 512 << 20;

/// Why writing or reading a tarball failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ArchiveError {
    #[error("cannot write {}", .0.display())]
    Write(PathBuf, #[source] std::io::Error),
    #[error("cannot read {}", .0.display())]
    Read(PathBuf, #[source] std::io::Error),
    #[error("{}: unpacks to more than {} MiB", .0.display(), MAX_UNPACKED >> 20)]
    TooLarge(PathBuf),
    #[error("{}: {}", .0.display(), .1)]
    Layout(PathBuf, String),
}

/// One file of a tarball.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Its name inside the top directory.
    pub(crate) name: String,
    /// Whether it is executable.
    pub(crate) executable: bool,
    /// Its content.
    pub(crate) data: Vec<u8>,
    /// The file it is a hard link to (same content), if it is one. That file's name sorts
    /// before this one's, so it comes first in the tarball.
    pub(crate) link_to: Option<String>,
}

/// Writes `entries` under the directory `top` into a gzip-compressed tarball at `path`, with
/// every time set to `mtime`.
pub(crate) fn write(
    path: &Path,
    top: &str,
    entries: &[Entry],
    mtime: u64,
) -> Result<(), ArchiveError> {
    let err = |e| ArchiveError::Write(path.to_path_buf(), e);
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let gz = GzEncoder::new(Vec::new(), Compression::best());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut dir = header(tar::EntryType::Directory, 0o755, 0, mtime);
    tar.append_data(&mut dir, format!("{top}/"), std::io::empty())
        .map_err(err)?;
    for e in sorted {
        let mode = if e.executable { 0o755 } else { 0o644 };
        let path = format!("{top}/{}", e.name);
        match &e.link_to {
            Some(first) => {
                let mut h = header(tar::EntryType::Link, mode, 0, mtime);
                tar.append_link(&mut h, path, format!("{top}/{first}"))
                    .map_err(err)?;
            }
            None => {
                let mut h = header(tar::EntryType::Regular, mode, e.data.len() as u64, mtime);
                tar.append_data(&mut h, path, e.data.as_slice())
                    .map_err(err)?;
            }
        }
    }
    let gz = tar.into_inner().map_err(err)?;
    let bytes = gz.finish().map_err(err)?;
    let mut file = std::fs::File::create(path).map_err(err)?;
    file.write_all(&bytes).map_err(err)?;
    Ok(())
}

fn header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Reads a tarball written by [`write`]: its top directory and its files.
pub(crate) fn read(path: &Path) -> Result<(String, Vec<Entry>), ArchiveError> {
    let err = |e| ArchiveError::Read(path.to_path_buf(), e);
    let layout = |m: String| ArchiveError::Layout(path.to_path_buf(), m);
    let file = std::fs::File::open(path).map_err(err)?;
    let mut tar = tar::Archive::new(GzDecoder::new(file));
    let mut top: Option<String> = None;
    let mut entries = Vec::new();
    let mut total = 0u64;
    for entry in tar.entries().map_err(err)? {
        let mut entry = entry.map_err(err)?;
        let name = entry.path().map_err(err)?.to_string_lossy().into_owned();
        let (dir, rest) = name
            .trim_end_matches('/')
            .split_once('/')
            .unwrap_or((&name, ""));
        let dir = dir.trim_end_matches('/').to_owned();
        match &top {
            None => top = Some(dir.clone()),
            Some(t) if *t != dir => {
                return Err(layout(format!("{name} is outside the top directory {t}/")))
            }
            Some(_) => {}
        }
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Directory if rest.is_empty() => continue,
            tar::EntryType::Regular | tar::EntryType::Link
                if !rest.is_empty() && !rest.contains('/') => {}
            other => return Err(layout(format!("unexpected entry {name} ({other:?})"))),
        }
        let executable = entry.header().mode().map_err(err)? & 0o111 != 0;
        let (data, link_to) = if kind == tar::EntryType::Link {
            let target = link_target(&entry, &dir).map_err(err)?;
            let Some(first) = entries.iter().find(|e: &&Entry| e.name == target) else {
                return Err(layout(format!(
                    "{name} is a hard link to {target}, which comes before it nowhere"
                )));
            };
            (first.data.clone(), Some(target))
        } else {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).map_err(err)?;
            (data, None)
        };
        total += data.len() as u64;
        if total > MAX_UNPACKED {
            return Err(ArchiveError::TooLarge(path.to_path_buf()));
        }
        entries.push(Entry {
            name: rest.to_owned(),
            executable,
            data,
            link_to,
        });
    }
    let top = top.ok_or_else(|| layout("the tarball is empty".into()))?;
    Ok((top, entries))
}

/// The file a hard-link entry links to, by its name inside the top directory `dir`.
fn link_target<R: Read>(entry: &tar::Entry<'_, R>, dir: &str) -> std::io::Result<String> {
    let target = entry
        .link_name()?
        .map(|t| t.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(target
        .strip_prefix(&format!("{dir}/"))
        .unwrap_or(&target)
        .to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, executable: bool, data: &[u8]) -> Entry {
        Entry {
            name: name.into(),
            executable,
            data: data.to_vec(),
            link_to: None,
        }
    }

    fn entries() -> Vec<Entry> {
        vec![
            Entry {
                link_to: Some("b.so".into()),
                ..entry("c.so", false, &[1; 3000])
            },
            entry("b.so", false, &[1; 3000]),
            entry("a", true, b"#!"),
        ]
    }

    #[test]
    fn the_same_files_give_the_same_bytes_and_read_back() {
        let dir = std::env::temp_dir().join(format!("xtask-archive-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let (one, two) = (dir.join("one.tar.gz"), dir.join("two.tar.gz"));
        write(&one, "top-1", &entries(), 1_700_000_000).expect("write");
        let mut reversed = entries();
        reversed.reverse();
        write(&two, "top-1", &reversed, 1_700_000_000).expect("write");
        let bytes = std::fs::read(&one).expect("read");
        assert_eq!(bytes, std::fs::read(&two).expect("read"));
        let (top, back) = read(&one).expect("read back");
        assert_eq!(top, "top-1");
        let mut expected = entries();
        expected.sort_by(|a, b| a.name.cmp(&b.name));
        // c.so, a hard link to b.so, reads back with b.so's bytes.
        assert_eq!(back, expected);
        let stored = std::process::Command::new("tar")
            .arg("tvzf")
            .arg(&one)
            .output()
            .expect("tar");
        let listing = String::from_utf8_lossy(&stored.stdout);
        assert!(
            listing.contains("top-1/c.so link to top-1/b.so"),
            "{listing}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
