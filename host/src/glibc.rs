//! The oldest glibc the host runs on, checked before anything else. The distribution is built
//! against glibc 2.17, so on an older system the dynamic loader normally refuses it first
//! ("version `GLIBC_2.17' not found"); where the loader lets it start, this check says the
//! same in krunner's words instead of failing later in an obscure way.

use crate::sys;

/// The oldest glibc supported, (major, minor).
pub(crate) const OLDEST: (u32, u32) = (2, 17);

/// The running glibc is older than [`OLDEST`].
#[derive(Debug, thiserror::Error)]
#[error(
    "needs glibc {}.{} or newer (x86_64 Linux); this system has glibc {found}",
    OLDEST.0,
    OLDEST.1
)]
pub(crate) struct TooOld {
    found: String,
}

/// Checks the running glibc.
pub(crate) fn check() -> Result<(), TooOld> {
    check_version(&sys::glibc_version())
}

/// Checks a glibc version string such as `2.31` (an unparsable one passes: glibc's own
/// symbol versions are then the only check).
fn check_version(found: &str) -> Result<(), TooOld> {
    let mut parts = found.split('.').map(|p| p.parse::<u32>());
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) if (major, minor) < OLDEST => Err(TooOld {
            found: found.to_owned(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_versions_are_refused_with_both_versions_named() {
        let err = check_version("2.12").expect_err("2.12 is too old");
        let text = err.to_string();
        assert!(
            text.contains("needs glibc 2.17 or newer") && text.contains("has glibc 2.12"),
            "{text}"
        );
        assert!(check_version("2.9").is_err(), "2.9 is older than 2.17");
        assert!(check_version("1.99").is_err());
    }

    #[test]
    fn this_and_newer_versions_pass() {
        for ok in ["2.17", "2.27", "2.31", "2.100", "3.0", "weird"] {
            assert!(check_version(ok).is_ok(), "{ok}");
        }
        assert!(
            check().is_ok(),
            "the build machine's glibc {}",
            sys::glibc_version()
        );
    }
}
