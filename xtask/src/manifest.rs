//! `manifest.json` (every file with its language, plugin version, plugin-api version, size and
//! sha256) and `SHA256SUMS` (the `sha256sum -c` format), written into the tarball and checked
//! against its files.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::archive::Entry;

/// The manifest's file name.
pub(crate) const MANIFEST: &str = "manifest.json";
/// The checksum file's name.
pub(crate) const SUMS: &str = "SHA256SUMS";

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// `krunner`.
    pub(crate) name: String,
    /// The host's version.
    pub(crate) version: String,
    /// The platform, as in the tarball's name.
    pub(crate) platform: String,
    /// The oldest glibc it runs on.
    pub(crate) glibc: String,
    /// The host and the plugins, sorted by file name.
    pub(crate) files: Vec<FileInfo>,
}

/// One file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileInfo {
    /// Its name in the tarball.
    pub(crate) file: String,
    /// `host` or `plugin`.
    pub(crate) kind: String,
    /// The plugin's language (`null` for the host).
    pub(crate) language: Option<String>,
    /// The plugin's version (`null` for the host).
    pub(crate) plugin_version: Option<String>,
    /// The plugin-api version the plugin was built against, or the host implements.
    pub(crate) plugin_api_version: String,
    /// Size in bytes.
    pub(crate) size: u64,
    /// Lower-case hex.
    pub(crate) sha256: String,
    /// The file this one is a hard link to in the tarball: a plugin file that serves several
    /// languages is shipped once, under each of their names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) same_file_as: Option<String>,
}

/// The sha256 of `data`, in lower-case hex.
pub(crate) fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `SHA256SUMS` for `entries` (all but a `SHA256SUMS` among them), sorted by name.
pub(crate) fn sums(entries: &[Entry]) -> String {
    let mut lines: Vec<String> = entries
        .iter()
        .filter(|e| e.name != SUMS)
        .map(|e| format!("{}  {}\n", sha256(&e.data), e.name))
        .collect();
    lines.sort_by(|a, b| a[66..].cmp(&b[66..]));
    lines.concat()
}

/// Checks `SHA256SUMS` against `entries`: every other file listed once, with its checksum.
/// Returns what is wrong.
pub(crate) fn check_sums(text: &str, entries: &[Entry]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut listed = Vec::new();
    for line in text.lines() {
        let Some((sum, name)) = line.split_once("  ") else {
            problems.push(format!("{SUMS}: malformed line {line:?}"));
            continue;
        };
        listed.push(name);
        match entries.iter().find(|e| e.name == name) {
            None => problems.push(format!("{SUMS} lists {name}, which is not in the tarball")),
            Some(e) if sha256(&e.data) != sum => {
                problems.push(format!("{name}: its sha256 differs from {SUMS}"))
            }
            Some(_) => {}
        }
    }
    for e in entries.iter().filter(|e| e.name != SUMS) {
        if listed.iter().filter(|&&n| n == e.name).count() != 1 {
            problems.push(format!("{}: not listed exactly once in {SUMS}", e.name));
        }
    }
    problems
}

/// Checks the manifest against `entries`: every ELF file described once, with its size and
/// sha256, and nothing else. Returns what is wrong.
pub(crate) fn check_manifest(manifest: &Manifest, entries: &[Entry]) -> Vec<String> {
    let mut problems = Vec::new();
    for info in &manifest.files {
        match entries.iter().find(|e| e.name == info.file) {
            None => problems.push(format!(
                "{MANIFEST} lists {}, which is not in the tarball",
                info.file
            )),
            Some(e) if sha256(&e.data) != info.sha256 || e.data.len() as u64 != info.size => {
                problems.push(format!(
                    "{}: its size or sha256 differs from {MANIFEST}",
                    info.file
                ))
            }
            Some(e) if e.link_to != info.same_file_as => problems.push(format!(
                "{}: {MANIFEST} says it is the same file as {:?}, the tarball {:?}",
                info.file, info.same_file_as, e.link_to
            )),
            Some(_) => {}
        }
    }
    for e in entries.iter().filter(|e| crate::elf::is_elf(&e.data)) {
        if manifest.files.iter().filter(|f| f.file == e.name).count() != 1 {
            problems.push(format!(
                "{}: not described exactly once in {MANIFEST}",
                e.name
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, data: &[u8]) -> Entry {
        Entry {
            name: name.into(),
            executable: false,
            data: data.to_vec(),
            link_to: None,
        }
    }

    #[test]
    fn sums_are_in_sha256sum_format_and_checked() {
        let entries = vec![entry("b", b"b"), entry("a", b"")];
        let text = sums(&entries);
        assert_eq!(
            text.lines().next(),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a")
        );
        assert_eq!(check_sums(&text, &entries), Vec::<String>::new());
        let changed = vec![entry("b", b"B"), entry("a", b""), entry("c", b"")];
        let problems = check_sums(&text, &changed);
        assert_eq!(problems.len(), 2, "{problems:#?}");
    }
}
