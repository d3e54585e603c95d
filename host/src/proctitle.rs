//! Keeps serve mode's arguments out of `/proc/<pid>/cmdline` (docs/protocol.md §5.14).
//!
//! Agents start the host as `krunner python /usr/bin/python3`, and users clean up with
//! `pkill -f python`, which would kill the session. So serve mode re-executes itself (same PID)
//! with a neutral command line and passes the real arguments through the environment, from
//! which they are removed again at once.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::sys;

const ARGS_VAR: &str = "KRUNNER_HIDDEN_ARGS";

/// The command line shown after hiding.
pub(crate) const TITLE: &str = "krunner";

/// Returns the real arguments (without argv\[0\]): either recovered after a re-exec, or the
/// process's own when hiding is not needed or not possible. May not return: it re-executes
/// the process when `hide` is true and this is the first start.
pub(crate) fn arguments(hide: bool) -> Vec<OsString> {
    if let Some(encoded) = std::env::var_os(ARGS_VAR) {
        // Single-threaded at this point: nothing else reads the environment concurrently.
        std::env::remove_var(ARGS_VAR);
        // After a re-exec through /proc/self/exe the process would be called `exe`.
        sys::set_process_name(TITLE);
        if let Some(args) = encoded
            .to_str()
            .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
        {
            return args.into_iter().map(OsString::from).collect();
        }
    }
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if hide {
        reexec(&args);
    }
    args
}

/// Re-executes `/proc/self/exe` as `krunner`; returns only if that is impossible.
fn reexec(args: &[OsString]) {
    let Some(strings) = args
        .iter()
        .map(|a| a.to_str().map(str::to_owned))
        .collect::<Option<Vec<String>>>()
    else {
        return;
    };
    let Ok(encoded) = serde_json::to_string(&strings) else {
        return;
    };
    let Ok(exe) = CString::new(
        std::path::Path::new("/proc/self/exe")
            .as_os_str()
            .as_bytes(),
    ) else {
        return;
    };
    let Ok(title) = CString::new(TITLE) else {
        return;
    };
    std::env::set_var(ARGS_VAR, encoded);
    let err = sys::execv(&exe, &title);
    tracing::debug!("cannot hide the command line: {err}");
    std::env::remove_var(ARGS_VAR);
}
