//! Checks a plugin file *before* `dlopen`: a truncated or foreign file can crash the process
//! inside the dynamic loader (SIGBUS), before any ABI check could report it. A plugin
//! directory may hold anything; only this check stands between it and the loader.

use std::io::{Read, Seek};
use std::path::Path;

use thiserror::Error;

/// What is wrong with the file.
#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum PreflightError {
    /// It is missing, a directory, or unreadable.
    #[error("{0}")]
    Unreadable(String),
    /// Not an ELF file at all.
    #[error("not an ELF shared object (the file starts with {0:?})")]
    NotElf(String),
    /// A 32-bit ELF, or the wrong byte order.
    #[error("built for another architecture ({0})")]
    WrongClass(&'static str),
    /// ELF for another machine.
    #[error(
        "built for machine type {found} ({found_name}); this host is {expected} ({expected_name})"
    )]
    WrongMachine {
        /// e_machine of the file.
        found: u16,
        /// Its name.
        found_name: &'static str,
        /// The host's e_machine.
        expected: u16,
        /// Its name.
        expected_name: &'static str,
    },
    /// An executable or object file, not a shared library.
    #[error("not a shared library (ELF type {0})")]
    NotShared(u16),
    /// Headers or segments extend past the end of the file.
    #[error("the file is truncated: {what} needs {needed} bytes but the file has {size} (incomplete copy?)")]
    Truncated {
        /// Which part.
        what: String,
        /// Bytes the part needs.
        needed: u64,
        /// Actual file size.
        size: u64,
    },
}

const ET_DYN: u16 = 3;
const PT_LOAD: u32 = 1;

/// The ELF machine number of this host.
pub(crate) const fn host_machine() -> u16 {
    if cfg!(target_arch = "x86_64") {
        62
    } else if cfg!(target_arch = "aarch64") {
        183
    } else if cfg!(target_arch = "riscv64") {
        243
    } else if cfg!(target_arch = "powerpc64") {
        21
    } else if cfg!(target_arch = "s390x") {
        22
    } else {
        0
    }
}

fn machine_name(m: u16) -> &'static str {
    match m {
        3 => "x86",
        8 => "MIPS",
        20 => "PowerPC",
        21 => "PowerPC64",
        22 => "s390x",
        40 => "ARM",
        62 => "x86-64",
        183 => "AArch64",
        243 => "RISC-V",
        _ => "unknown",
    }
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    b.get(off..off + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// Checks that `path` is a 64-bit little-endian ELF shared object for this machine whose
/// headers and loadable segments all lie inside the file.
pub(crate) fn check(path: &Path) -> Result<(), PreflightError> {
    let unreadable =
        |what: &str, e: std::io::Error| PreflightError::Unreadable(format!("{what}: {e}"));
    let meta = std::fs::metadata(path).map_err(|e| unreadable("cannot read", e))?;
    if !meta.is_file() {
        return Err(PreflightError::Unreadable("not a regular file".into()));
    }
    let mut file = std::fs::File::open(path).map_err(|e| unreadable("cannot open", e))?;
    check_image(&mut file, meta.len())
}

/// The checks of [`check`] on an image of `size` bytes read from `image` (the open file, or
/// bytes in memory).
pub(crate) fn check_image(image: &mut (impl Read + Seek), size: u64) -> Result<(), PreflightError> {
    let head = read_header(image, size)?;
    check_identity(&head)?;
    check_header_tables(&head, size)?;
    check_segments(image, &head, size)
}

/// Reads the first 64 bytes (the ELF header).
fn read_header(image: &mut impl Read, size: u64) -> Result<Vec<u8>, PreflightError> {
    let mut head = vec![0u8; 64];
    let n = read_up_to(image, &mut head)
        .map_err(|e| PreflightError::Unreadable(format!("cannot read: {e}")))?;
    head.truncate(n);
    if n < 4 || &head[..4] != b"\x7fELF" {
        let shown = String::from_utf8_lossy(&head[..n.min(16)]).into_owned();
        return Err(PreflightError::NotElf(shown));
    }
    if n < 64 {
        return Err(PreflightError::Truncated {
            what: "the ELF header".into(),
            needed: 64,
            size,
        });
    }
    Ok(head)
}

/// Class, byte order, machine and type.
fn check_identity(head: &[u8]) -> Result<(), PreflightError> {
    if head[4] != 2 {
        return Err(PreflightError::WrongClass("32-bit ELF"));
    }
    if head[5] != 1 {
        return Err(PreflightError::WrongClass("big-endian ELF"));
    }
    let e_type = u16_at(head, 16);
    let e_machine = u16_at(head, 18);
    if e_machine != host_machine() {
        return Err(PreflightError::WrongMachine {
            found: e_machine,
            found_name: machine_name(e_machine),
            expected: host_machine(),
            expected_name: machine_name(host_machine()),
        });
    }
    if e_type != ET_DYN {
        return Err(PreflightError::NotShared(e_type));
    }
    Ok(())
}

/// The program and section header tables lie inside the file.
fn check_header_tables(head: &[u8], size: u64) -> Result<(), PreflightError> {
    let table_end = |off: usize, entsize: usize, num: usize| {
        let count = u64::from(u16_at(head, num));
        u64_at(head, off).saturating_add(u64::from(u16_at(head, entsize)).saturating_mul(count))
    };
    let ph_end = table_end(32, 54, 56);
    if ph_end > size {
        return Err(PreflightError::Truncated {
            what: "the program headers".into(),
            needed: ph_end,
            size,
        });
    }
    let sh_end = table_end(40, 58, 60);
    if u64_at(head, 40) != 0 && sh_end > size {
        return Err(PreflightError::Truncated {
            what: "the section headers".into(),
            needed: sh_end,
            size,
        });
    }
    Ok(())
}

/// Every loadable segment lies inside the file (a truncated copy would SIGBUS when mapped).
fn check_segments(
    image: &mut (impl Read + Seek),
    head: &[u8],
    size: u64,
) -> Result<(), PreflightError> {
    let phoff = u64_at(head, 32);
    let phentsize = u64::from(u16_at(head, 54));
    let phnum = u64::from(u16_at(head, 56));
    let ph_len = usize::try_from(phentsize.saturating_mul(phnum)).unwrap_or(0);
    let mut ph = vec![0u8; ph_len];
    image
        .seek(std::io::SeekFrom::Start(phoff))
        .and_then(|_| image.read_exact(&mut ph))
        .map_err(|e| PreflightError::Unreadable(format!("cannot read program headers: {e}")))?;
    let entsize = usize::try_from(phentsize).unwrap_or(0).max(1);
    for (i, entry) in ph.chunks(entsize).enumerate() {
        if u32_at(entry, 0) != PT_LOAD {
            continue;
        }
        let end = u64_at(entry, 8).saturating_add(u64_at(entry, 32));
        if end > size {
            return Err(PreflightError::Truncated {
                what: format!("loadable segment {i}"),
                needed: end,
                size,
            });
        }
    }
    Ok(())
}

fn read_up_to(image: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut total = 0;
    while total < buf.len() {
        match image.read(&mut buf[total..])? {
            0 => break,
            n => total += n,
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("krunner-preflight-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let p = dir.join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    }

    fn own_executable_bytes() -> Vec<u8> {
        std::fs::read(std::env::current_exe().expect("exe")).expect("read exe")
    }

    #[test]
    fn text_file_is_not_elf() {
        let p = scratch("text.so", b"hello, I am not a library\n");
        assert!(matches!(check(&p), Err(PreflightError::NotElf(_))));
    }

    #[test]
    fn truncated_elf_is_reported() {
        let bytes = own_executable_bytes();
        let p = scratch("trunc.so", &bytes[..4096.min(bytes.len())]);
        assert!(
            matches!(check(&p), Err(PreflightError::Truncated { .. })),
            "{:?}",
            check(&p)
        );
    }

    #[test]
    fn bytes_in_memory_get_the_files_verdict() {
        let bytes = own_executable_bytes();
        for len in [0, 3, 63, 64, 4096, bytes.len()] {
            let part = &bytes[..len.min(bytes.len())];
            let size = u64::try_from(part.len()).expect("size");
            assert_eq!(
                check_image(&mut std::io::Cursor::new(part), size),
                check(&scratch(&format!("part-{len}.so"), part)),
                "first {len} bytes"
            );
        }
    }

    #[test]
    fn directory_is_unreadable() {
        assert!(matches!(
            check(&std::env::temp_dir()),
            Err(PreflightError::Unreadable(_))
        ));
    }
}
