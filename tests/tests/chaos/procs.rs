//! What the soak reads from /proc: the runner's memory, whether it has exited, and the
//! processes it left behind.
//!
//! Every process the runner starts for the soak (tasks, their children, services,
//! interpreters) carries `KRUNNER_CHAOS_MARK=<mark>` in its environment, through
//! `environ.txt`. Background children that a task leaves running on purpose also carry
//! `CHAOS_LINGER=<seconds>`: they may outlive their task, and the runner, by that long.

use std::time::{Duration, Instant};

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`); `None` once it is gone.
pub fn memory_kib(pid: i32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Whether `pid` has exited (gone, or a zombie waiting for its parent).
pub fn exited(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// A live process carrying the mark.
#[derive(Debug)]
pub struct Marked {
    pub pid: i32,
    pub cmdline: String,
    /// Its `CHAOS_LINGER`, if it has one.
    pub linger: Option<f64>,
    /// Seconds since it started.
    pub age: f64,
}

fn env_value<'a>(environ: &'a [u8], key: &str) -> Option<&'a str> {
    environ
        .split(|b| *b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok())
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

fn uptime() -> f64 {
    let text = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
    text.split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0)
}

/// Seconds since boot at which `pid` started.
fn started(pid: i32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    // starttime is field 22 of stat: the 20th after the name.
    let ticks: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    Some(ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64)
}

/// Live (not zombie) processes whose environment carries `KRUNNER_CHAOS_MARK=<mark>`.
pub fn marked(mark: &str) -> Vec<Marked> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let now = uptime();
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            if env_value(&environ, "KRUNNER_CHAOS_MARK") != Some(mark) || exited(pid) {
                return None;
            }
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            Some(Marked {
                pid,
                cmdline: String::from_utf8_lossy(&raw).replace('\0', " "),
                linger: env_value(&environ, "CHAOS_LINGER").and_then(|v| v.parse().ok()),
                age: now - started(pid).unwrap_or(now),
            })
        })
        .collect()
}

/// Slack on top of a lingering child's own lifetime (a loaded machine runs it late).
const LINGER_SLACK: f64 = 5.0;

/// After the runner exited: what it left behind that it should not have. Children that
/// linger on purpose are waited for (they must end on their own within their lifetime);
/// anything else is reported after a short grace for processes being killed right now.
pub fn left_behind(mark: &str) -> Vec<String> {
    let grace = Instant::now() + Duration::from_secs(2);
    loop {
        let left = marked(mark);
        if left.is_empty() {
            return Vec::new();
        }
        let wrong: Vec<String> = left
            .iter()
            .filter(|p| p.linger.is_none_or(|l| p.age > l + LINGER_SLACK))
            .map(|p| format!("pid {} ({:.1} s old): {}", p.pid, p.age, p.cmdline))
            .collect();
        if !wrong.is_empty() && Instant::now() >= grace {
            return wrong;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills whatever still carries `mark` (after a failure, so that nothing outlives the test).
pub fn kill_marked(mark: &str) {
    for p in marked(mark) {
        // SAFETY: kill has no memory effects.
        unsafe { libc::kill(p.pid, libc::SIGKILL) };
    }
}
