//! The soak's figures: what it sent, what came back, and what it measured. They are printed
//! at the end (and written to `KRUNNER_CHAOS_REPORT` when that is set, for CI).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Figures {
    pub rounds: u32,
    pub steps: u64,
    /// Messages sent to the runner, every kind.
    pub ops: u64,
    pub tasks: u64,
    /// Ops that owe a reply.
    pub requests: u64,
    /// Malformed messages (frame counts, op names, encodings, JSON, unknown ops).
    pub malformed: u64,
    /// Ops over `--max-message-size`.
    pub oversize: u64,
    pub floods: u64,
    pub flood_ops: u64,
    pub interrupts: u64,
    pub inputs: u64,
    pub events: u64,
    pub service_starts: u64,
    pub service_stops: u64,
    pub model_starts: u64,
    pub stalls: u64,
    pub stalled: Duration,
    /// Replies received.
    pub replies: u64,
    /// Replies owed while the runner served that never came (must be 0).
    pub replies_lost: u64,
    /// Replies owed when SIGTERM came (the runner may drop them, docs/protocol.md §5.11).
    pub owed_at_shutdown: u64,
    pub finished: u64,
    /// Tasks that ended with 130 (SIGINT).
    pub interrupted: u64,
    /// Tasks that ended with 137 (SIGKILL: their own, or after ignoring SIGINT).
    pub killed: u64,
    pub waiting_inputs: u64,
    /// Task output received (stdout and stderr).
    pub output_bytes: u64,
    pub peak_rss_kib: u64,
    pub rss_bound_kib: u64,
    /// Finished tasks by kind, and how many of them were cut short (130, 137 or by shutdown
    /// where that is not their own exit code).
    pub kinds: BTreeMap<&'static str, (u64, u64)>,
    /// The whole soak, from the first runner's start to the last one's exit.
    pub wall: Duration,
    /// SIGTERM to exit, per round.
    pub shutdowns: Vec<(String, Duration)>,
}

impl Figures {
    pub fn shutdown_max(&self) -> Duration {
        self.shutdowns
            .iter()
            .map(|(_, d)| *d)
            .max()
            .unwrap_or_default()
    }
}

impl Figures {
    fn sent(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "chaos figures: {} rounds, {} steps, {} ops sent, {:.1} s",
            self.rounds,
            self.steps,
            self.ops,
            self.wall.as_secs_f64()
        )?;
        writeln!(
            f,
            "  tasks {}, requests owing a reply {}, malformed {}, oversize {}, floods {} ({} ops)",
            self.tasks, self.requests, self.malformed, self.oversize, self.floods, self.flood_ops
        )?;
        writeln!(
            f,
            "  interrupts {}, inputs {}, events {}, service starts {}, service stops {}, \
             model starts {}",
            self.interrupts,
            self.inputs,
            self.events,
            self.service_starts,
            self.service_stops,
            self.model_starts
        )
    }

    fn seen(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  stalled reader {} times ({:.1} s); tasks finished {} (130: {}, 137: {}), \
             waiting-input {}, output {:.1} MiB",
            self.stalls,
            self.stalled.as_secs_f64(),
            self.finished,
            self.interrupted,
            self.killed,
            self.waiting_inputs,
            self.output_bytes as f64 / 1048576.0
        )?;
        let kinds: Vec<String> = self
            .kinds
            .iter()
            .map(|(k, (n, cut))| format!("{k} {n}/{cut}"))
            .collect();
        writeln!(
            f,
            "  tasks by kind (finished/cut short): {}",
            kinds.join(", ")
        )?;
        writeln!(
            f,
            "  replies received {}, replies lost {}, owed at SIGTERM {}",
            self.replies, self.replies_lost, self.owed_at_shutdown
        )
    }
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.sent(f)?;
        self.seen(f)?;
        let shutdowns: Vec<String> = self
            .shutdowns
            .iter()
            .map(|(how, d)| format!("{how} {:.2} s", d.as_secs_f64()))
            .collect();
        write!(
            f,
            "  peak runner RSS {:.1} MiB (bound {} MiB); shutdown {}",
            self.peak_rss_kib as f64 / 1024.0,
            self.rss_bound_kib / 1024,
            shutdowns.join(", ")
        )
    }
}
