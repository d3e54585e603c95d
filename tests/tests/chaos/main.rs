//! The chaos soak: real runners (the `app` runner and the python runner, in turns) over real
//! sockets, fed a seeded random mix of valid and malformed ops, floods, interrupts at random
//! moments, tasks whose programs fork, ignore SIGINT or kill themselves, input at random
//! times, service starts and stops, and a reader that stops reading for seconds at a time.
//! Every message is checked as it arrives (see `model`): each op that owes a reply gets
//! exactly one, in order; each task's output arrives complete and before its terminal
//! message; tasks end in the order they were sent. The runner's RSS stays under
//! [`RSS_BOUND_MIB`]; each round ends with SIGTERM, which must end the runner within the
//! shutdown budget and leave no process behind.
//!
//! `KRUNNER_CHAOS_SECONDS` (default 60) bounds the soak's time, `KRUNNER_CHAOS_STEPS`
//! (default 200 per second) its steps; `KRUNNER_CHAOS_SEED` replays a seed: the same steps
//! are drawn in the same order, with the same programs, sizes and payloads (the runner's
//! timing is the machine's, and so is which steps a full task queue or a stalled reader
//! skips). `KRUNNER_CHAOS_REPORT` names a file for the figures.

#![allow(clippy::unwrap_used)]

mod agent;
mod expect;
mod figures;
mod inputs;
mod model;
#[cfg(test)]
mod model_tests;
mod procs;
mod replies;
mod requests;
mod rng;
mod services;
mod shutdown;
mod snippets;
mod soak;
mod tasks;

use std::time::{Duration, Instant};

use krunner_tests::{Options, Runner};

use crate::agent::Agent;
use crate::figures::Figures;
use crate::model::Model;
use crate::rng::Rng;
use crate::soak::Soak;
use crate::tasks::Lang;

/// The bound on the runner's resident memory during the soak. What it may hold by design is
/// about 100 MiB: 16 MiB of task output queued and 64 messages of at most 1 MiB in ZeroMQ
/// outbound, twice `--max-message-size` (1 MiB here) of ops and as much queued input
/// inbound, plus its code and threads (about 20 MiB). It stays far below that in practice.
const RSS_BOUND_MIB: u64 = 128;

struct Config {
    seed: u64,
    seconds: f64,
    max_steps: u64,
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
    )
}

impl Config {
    fn from_env() -> Self {
        let seed = env_number("KRUNNER_CHAOS_SEED").unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            Rng::new(now.as_nanos() as u64 ^ u64::from(std::process::id())).next_u64() >> 1
        });
        let seconds: f64 = env_number("KRUNNER_CHAOS_SECONDS").unwrap_or(60.0);
        let max_steps = env_number("KRUNNER_CHAOS_STEPS").unwrap_or((seconds * 200.0) as u64);
        Self {
            seed,
            seconds,
            max_steps,
        }
    }

    fn replay(&self) -> String {
        format!(
            "KRUNNER_CHAOS_SEED={} KRUNNER_CHAOS_SECONDS={} cargo test -p krunner-tests --test chaos",
            self.seed, self.seconds
        )
    }
}

/// Kills what still carries a round's mark when the round ends, passed or failed.
struct MarkGuard(String);

impl Drop for MarkGuard {
    fn drop(&mut self) {
        procs::kill_marked(&self.0);
    }
}

#[test]
fn chaos_soak() {
    let cfg = Config::from_env();
    println!(
        "chaos seed: {} (replay with KRUNNER_CHAOS_SEED={})",
        cfg.seed, cfg.seed
    );
    if !krunner_tests::require("python3", krunner_tests::python_has("http.server")) {
        return;
    }
    let began = Instant::now();
    let rounds = ((cfg.seconds / 60.0).ceil() as u32).max(2);
    let mut figures = Figures {
        rss_bound_kib: RSS_BOUND_MIB * 1024,
        ..Figures::default()
    };
    let mut master = Rng::new(cfg.seed);
    for index in 0..rounds {
        let (plan, react) = (master.fork(), master.fork());
        round(&cfg, index, rounds, plan, react, &mut figures);
    }
    figures.wall = began.elapsed();
    println!("{figures}");
    if let Ok(path) = std::env::var("KRUNNER_CHAOS_REPORT") {
        let text = format!("chaos seed: {}\n{figures}\n", cfg.seed);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    assert_eq!(figures.replies_lost, 0, "replies lost; seed {}", cfg.seed);
    let worst = figures.shutdown_max();
    assert!(
        worst <= shutdown::SHUTDOWN_BOUND,
        "a shutdown took {worst:?}; seed {}",
        cfg.seed
    );
}

/// A runner for a round: `--max-message-size 1M` (so that ops over it are cheap), a short
/// interrupt grace and service timeout, the soak's service definitions, and the round's mark
/// in the environment of every process it starts.
fn start_runner(lang: Lang, mark: &str, defs: &std::path::Path) -> Runner {
    let args = [
        "--max-message-size",
        "1M",
        "--interrupt-grace",
        "0.5",
        "--service-timeout",
        &services::SERVICE_TIMEOUT.to_string(),
        "--service-def-dir",
        &defs.display().to_string(),
    ];
    Runner::start_with(
        lang.name(),
        Options {
            args: args.map(String::from).to_vec(),
            environ: Some(format!("KRUNNER_CHAOS_MARK={mark}\n")),
            ..Options::default()
        },
    )
}

/// One round: a fresh runner soaked until its share of the time is up, then SIGTERM (with
/// or without a reader); it must exit 0 and leave nothing behind.
fn round(cfg: &Config, index: u32, rounds: u32, plan: Rng, react: Rng, figures: &mut Figures) {
    let lang = [Lang::App, Lang::Python][index as usize % 2];
    let reader = index.div_ceil(2) % 2 == 0;
    let mark = format!("chaos-{}-{}-{index}", std::process::id(), cfg.seed);
    let _guard = MarkGuard(mark.clone());
    let defs = tempfile::tempdir().unwrap();
    let apps = services::write_defs(defs.path());
    let mut runner = start_runner(lang, &mark, defs.path());
    let context = format!(
        "seed {}, round {}/{rounds} ({} runner); replay with {}",
        cfg.seed,
        index + 1,
        lang.name(),
        cfg.replay()
    );
    let model = Model::new(lang.name(), replies::State::new(apps));
    let until = Instant::now() + Duration::from_secs_f64(cfg.seconds / f64::from(rounds));
    let took = {
        let agent = Agent::new(&runner, model, figures);
        let mut soak = Soak::new(agent, plan, react, lang, context.clone());
        soak.run(until, cfg.max_steps / u64::from(rounds));
        let took = match reader {
            true => shutdown::with_reader(&mut soak),
            false => shutdown::without_reader(&mut soak),
        };
        if took > shutdown::SHUTDOWN_BOUND {
            soak.fail(&format!("shutdown took {took:?}"));
        }
        took
    };
    let how = ["without a reader", "with a reader"][usize::from(reader)];
    figures.shutdowns.push((how.to_owned(), took));
    figures.rounds += 1;
    let (code, _) = runner.terminate();
    assert_eq!(
        code,
        Some(0),
        "{context}: exit code; log:\n{}",
        runner.log()
    );
    let left = procs::left_behind(&mark);
    assert!(
        left.is_empty(),
        "{context}: processes left behind: {left:#?}"
    );
}
