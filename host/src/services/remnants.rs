//! What is left of a service's process group once its leader has exited.
//!
//! A service is its whole process group: a shell's background jobs, a server's workers. When
//! the leader exits (it crashed, it was stopped, or it was a shell that started something in
//! the background and returned) the rest of the group would live on unseen, holding ports and
//! memory, and outlive the runner. So a service's watcher [`sweep`]s the group before it reaps
//! the leader: SIGTERM (with SIGCONT) to the group, SIGKILL to whatever is still there after a
//! grace period. The leader is not reaped yet, so its zombie keeps the group id reserved and
//! the signals cannot reach an unrelated process (see [`crate::process::Group`]).
//!
//! Members are found through `/proc/<pid>/stat` (its process-group field); zombies do not
//! count. A process that left the group (`setsid`, `setpgid`) is out of reach, as for every
//! process-group based stop.

use std::time::{Duration, Instant};

use crate::process::Group;

/// How often the group is looked at while it empties.
const RECHECK: Duration = Duration::from_millis(20);
/// How long the group may take to vanish after SIGKILL.
const AFTER_KILL: Duration = Duration::from_secs(1);

/// Live members of process group `pgid` other than its leader; `None` when `/proc` cannot be
/// read.
pub(crate) fn members(pgid: i32) -> Option<usize> {
    let entries = std::fs::read_dir("/proc").ok()?;
    let count = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != pgid && in_group(pid, pgid))
        .count();
    Some(count)
}

/// Whether `pid` is a live (not zombie) member of `pgid`.
fn in_group(pid: i32, pgid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The command name may contain anything, even ") "; the fields start after the last ')'.
    let Some((_, fields)) = stat.rsplit_once(')') else {
        return false;
    };
    let mut fields = fields.split_whitespace();
    let state = fields.next().unwrap_or("Z");
    let group = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
    group == Some(pgid) && !matches!(state, "Z" | "X" | "x")
}

/// Waits until `pgid` has no live member other than its leader, at most until `deadline`.
fn wait_empty(pgid: i32, deadline: Instant) -> bool {
    loop {
        match members(pgid) {
            Some(0) => return true,
            None => return false,
            Some(_) if Instant::now() >= deadline => return false,
            Some(_) => std::thread::sleep(RECHECK),
        }
    }
}

/// Stops what is left of `group` once its leader has exited (and before it is reaped):
/// SIGTERM, then SIGKILL after `grace`. Returns how many processes were left.
pub(crate) fn sweep(group: &Group, label: &str, grace: Duration) -> usize {
    let pgid = group.pid();
    let left = members(pgid);
    if left == Some(0) {
        return 0;
    }
    group.signal(libc::SIGTERM);
    group.signal(libc::SIGCONT);
    if wait_empty(pgid, Instant::now() + grace) {
        return left.unwrap_or(0);
    }
    tracing::warn!(
        "processes of service {label} (process group {pgid}) outlived it and ignored SIGTERM \
         for {grace:?}; sending SIGKILL"
    );
    group.signal(libc::SIGKILL);
    wait_empty(pgid, Instant::now() + AFTER_KILL);
    left.unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::process::{self, Spawn};
    use std::process::Stdio;

    #[test]
    fn a_sweep_stops_what_the_leader_left_even_if_it_ignores_sigterm() {
        let started = process::start(
            &Spawn::shell("(trap '' TERM; exec sleep 60) & sleep 60 & exit 0"),
            Stdio::null(),
        )
        .unwrap();
        let group = started.group;
        group.wait_exit(Duration::from_secs(10)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while members(group.pid()) != Some(2) && Instant::now() < deadline {
            std::thread::sleep(RECHECK);
        }
        assert_eq!(members(group.pid()), Some(2));
        let begun = Instant::now();
        assert_eq!(sweep(&group, "test", Duration::from_millis(300)), 2);
        assert_eq!(members(group.pid()), Some(0));
        assert!(begun.elapsed() < Duration::from_secs(5));
        group.reap();
    }

    #[test]
    fn a_lone_leader_needs_no_sweep() {
        let started = process::start(&Spawn::shell("exit 0"), Stdio::null()).unwrap();
        let group = started.group;
        group.wait_exit(Duration::from_secs(10)).unwrap();
        let begun = Instant::now();
        assert_eq!(sweep(&group, "test", Duration::from_secs(5)), 0);
        assert!(begun.elapsed() < Duration::from_secs(1));
        group.reap();
    }
}
