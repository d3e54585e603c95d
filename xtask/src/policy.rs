//! The baseline every ELF in the distribution must meet to run in any image the agent mounts
//! it into: x86_64; glibc's own libraries only (no libstdc++, no libgcc_s: they are linked in
//! statically); symbol versions up to `GLIBC_2.17`; stripped.

use object::elf;

use crate::compile::GLIBC;
use crate::elf::Needs;

/// The libraries of glibc itself, present wherever glibc is.
pub(crate) const GLIBC_LIBRARIES: [&str; 7] = [
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "ld-linux-x86-64.so.2",
];

/// Everything about one file that breaks the baseline (empty: it meets it).
pub(crate) fn violations(needs: &Needs) -> Vec<String> {
    let mut found = Vec::new();
    if needs.machine != elf::EM_X86_64 {
        found.push(format!("built for machine {}, not x86_64", needs.machine));
    }
    for lib in &needs.libraries {
        if !GLIBC_LIBRARIES.contains(&lib.as_str()) {
            found.push(format!("needs {lib}, which is not part of glibc"));
        }
    }
    for need in &needs.versions {
        match glibc_version(&need.version) {
            Some(v) if v <= GLIBC => {}
            Some(_) => found.push(format!(
                "needs {} from {}, newer than GLIBC_{}.{}",
                need.version, need.library, GLIBC.0, GLIBC.1
            )),
            None => found.push(format!(
                "needs symbol version {} from {}, which is not a glibc release",
                need.version, need.library
            )),
        }
    }
    if needs.unstripped {
        found.push("not stripped (has a symbol table or debug information)".into());
    }
    found
}

/// `GLIBC_2.17` → (2, 17); `GLIBC_2.3.4` → (2, 3). `None` for anything else (`GLIBCXX_3.4`,
/// `GCC_3.0`, `GLIBC_PRIVATE`).
pub(crate) fn glibc_version(name: &str) -> Option<(u32, u32)> {
    let mut parts = name.strip_prefix("GLIBC_")?.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    parts
        .all(|p| p.parse::<u32>().is_ok())
        .then_some((major, minor))
}

/// The newest glibc version `needs` asks for.
pub(crate) fn newest_glibc(needs: &Needs) -> Option<(u32, u32)> {
    needs
        .versions
        .iter()
        .filter_map(|v| glibc_version(&v.version))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::VersionNeed;

    fn need(library: &str, version: &str) -> VersionNeed {
        VersionNeed {
            library: library.into(),
            version: version.into(),
        }
    }

    fn baseline() -> Needs {
        Needs {
            machine: elf::EM_X86_64,
            libraries: vec!["libc.so.6".into(), "ld-linux-x86-64.so.2".into()],
            versions: vec![
                need("libc.so.6", "GLIBC_2.2.5"),
                need("libc.so.6", "GLIBC_2.17"),
            ],
            unstripped: false,
        }
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert_eq!(glibc_version("GLIBC_2.17"), Some((2, 17)));
        assert_eq!(glibc_version("GLIBC_2.3.4"), Some((2, 3)));
        assert!(glibc_version("GLIBC_2.9") < glibc_version("GLIBC_2.17"));
        for other in [
            "GLIBCXX_3.4.30",
            "GCC_3.0",
            "GLIBC_PRIVATE",
            "CXXABI_1.3",
            "GLIBC_2",
        ] {
            assert_eq!(glibc_version(other), None, "{other}");
        }
    }

    #[test]
    fn the_baseline_passes() {
        assert_eq!(violations(&baseline()), Vec::<String>::new());
        assert_eq!(newest_glibc(&baseline()), Some((2, 17)));
    }

    #[test]
    fn each_way_of_breaking_it_is_named() {
        let mut n = baseline();
        n.versions.push(need("libc.so.6", "GLIBC_2.34"));
        n.versions.push(need("libstdc++.so.6", "GLIBCXX_3.4.30"));
        n.libraries.push("libstdc++.so.6".into());
        n.libraries.push("libgcc_s.so.1".into());
        n.unstripped = true;
        n.machine = elf::EM_AARCH64;
        let v = violations(&n);
        assert_eq!(v.len(), 6, "{v:#?}");
        for text in [
            "GLIBC_2.34",
            "GLIBCXX_3.4.30",
            "libstdc++.so.6",
            "libgcc_s.so.1",
            "stripped",
            "x86_64",
        ] {
            assert!(v.iter().any(|m| m.contains(text)), "{text} in {v:#?}");
        }
    }

    #[test]
    fn this_test_binary_from_the_normal_toolchain_is_refused() {
        let data = std::fs::read(std::env::current_exe().expect("exe")).expect("read");
        let needs = crate::elf::needs(&data).expect("parse");
        let v = violations(&needs);
        assert!(v.iter().any(|m| m.contains("stripped")), "{v:#?}");
    }
}
