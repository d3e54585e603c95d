//! What an ELF file asks of the system it runs on: its machine, the shared libraries it names
//! (`DT_NEEDED`), the symbol versions it needs from each (`.gnu.version_r`), and whether it
//! still carries a symbol table or debug information.

use object::elf;
use object::read::elf::{Dyn, FileHeader, SectionHeader};
use object::Endianness;

/// Why a file could not be read as ELF.
#[derive(Debug, thiserror::Error)]
#[error("not a readable 64-bit ELF file: {0}")]
pub(crate) struct ElfError(#[from] object::Error);

/// One needed symbol version, e.g. `GLIBC_2.17` from `libc.so.6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VersionNeed {
    /// The library it is needed from.
    pub(crate) library: String,
    /// The version name.
    pub(crate) version: String,
}

/// What the file needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Needs {
    /// `e_machine`.
    pub(crate) machine: u16,
    /// `DT_NEEDED`, in order.
    pub(crate) libraries: Vec<String>,
    /// Every needed version.
    pub(crate) versions: Vec<VersionNeed>,
    /// Whether a `.symtab` or `.debug_*` section is present.
    pub(crate) unstripped: bool,
}

/// Whether `data` starts like an ELF file.
pub(crate) fn is_elf(data: &[u8]) -> bool {
    data.starts_with(&elf::ELFMAG)
}

/// Reads what a 64-bit ELF file needs.
pub(crate) fn needs(data: &[u8]) -> Result<Needs, ElfError> {
    let header = elf::FileHeader64::<Endianness>::parse(data)?;
    let endian = header.endian()?;
    let sections = header.sections(endian, data)?;
    let mut libraries = Vec::new();
    if let Some((entries, link)) = sections.dynamic(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        for entry in entries {
            if entry.tag32(endian) == Some(elf::DT_NEEDED) {
                let name = entry.string(endian, strings)?;
                libraries.push(String::from_utf8_lossy(name).into_owned());
            }
        }
    }
    let mut versions = Vec::new();
    if let Some((mut needs, link)) = sections.gnu_verneed(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        while let Some((need, mut aux)) = needs.next()? {
            let library = String::from_utf8_lossy(need.file(endian, strings)?).into_owned();
            while let Some(version) = aux.next()? {
                versions.push(VersionNeed {
                    library: library.clone(),
                    version: String::from_utf8_lossy(version.name(endian, strings)?).into_owned(),
                });
            }
        }
    }
    let unstripped = sections.iter().any(|s| {
        s.sh_type(endian) == elf::SHT_SYMTAB
            || sections
                .section_name(endian, s)
                .is_ok_and(|n| n.starts_with(b".debug_"))
    });
    Ok(Needs {
        machine: header.e_machine(endian),
        libraries,
        versions,
        unstripped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_needs_of_this_test_binary() {
        let exe = std::env::current_exe().expect("current_exe");
        let data = std::fs::read(&exe).expect("read the test binary");
        assert!(is_elf(&data));
        let needs = needs(&data).expect("parse");
        assert_eq!(needs.machine, elf::EM_X86_64);
        assert!(
            needs.libraries.iter().any(|l| l == "libc.so.6"),
            "{needs:?}"
        );
        assert!(
            needs
                .versions
                .iter()
                .any(|v| v.library == "libc.so.6" && v.version.starts_with("GLIBC_2.")),
            "{needs:?}"
        );
        assert!(needs.unstripped, "a test binary keeps its symbol table");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(!is_elf(b"#!/bin/sh\n"));
        assert!(needs(b"\x7fELF\x02\x01\x01").is_err());
    }
}
