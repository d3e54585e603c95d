//! The one way the host stops process groups: SIGTERM (with SIGCONT, so a stopped group can
//! act on it), a grace period, then SIGKILL for the groups whose leader is still running.
//!
//! Shutdown, `shutdown-service`, a service whose port never opened, an interpreter the plugin
//! ends, and a prestart command that outlived its budget all stop their processes through
//! [`terminate`], so the rules are the same everywhere.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Group;

/// How long to wait for the leaders after SIGKILL (they normally die at once).
const AFTER_KILL: Duration = Duration::from_secs(1);

/// Stops `groups`: SIGTERM now, SIGKILL to those whose leader has not exited `grace` later.
/// Returns once every leader has exited, or about a second after the SIGKILL.
pub(crate) fn terminate(groups: &[Arc<Group>], grace: Duration, label: &str) {
    let live: Vec<&Arc<Group>> = groups.iter().filter(|g| !g.exited()).collect();
    if live.is_empty() {
        return;
    }
    for group in &live {
        group.signal(libc::SIGTERM);
        group.signal(libc::SIGCONT);
    }
    let deadline = Instant::now() + grace;
    let survivors = wait_all(&live, deadline);
    for group in &survivors {
        tracing::warn!(
            "{label} (process group {}) ignored SIGTERM for {grace:?}; sending SIGKILL",
            group.pid()
        );
        group.signal(libc::SIGKILL);
    }
    wait_all(&survivors, Instant::now() + AFTER_KILL);
}

/// Sends SIGKILL to `group` and waits briefly for its leader.
pub(crate) fn kill(group: &Group) {
    group.signal(libc::SIGKILL);
    group.wait_exit(AFTER_KILL);
}

/// Waits until every leader has exited or `deadline` passes; returns those still running.
fn wait_all<'a>(groups: &[&'a Arc<Group>], deadline: Instant) -> Vec<&'a Arc<Group>> {
    let mut running = Vec::new();
    for group in groups {
        let left = deadline.saturating_duration_since(Instant::now());
        if group.wait_exit(left).is_none() {
            running.push(*group);
        }
    }
    running
}
