//! One runner under chaos: steps drawn from the seeded plan, each followed by a pump that
//! checks every message as it arrives, barriers that wait until everything owed has come,
//! and the runner's memory sampled throughout.
//!
//! The soak reads the results socket like the agent, except during a stall: then it does not
//! read for a few seconds while it keeps sending, so the runner's outbound queues fill and
//! it must push back without losing anything. While a reader waits for input, the soak
//! answers its `waiting-input` after a random delay (or has sent the input ahead).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::agent::Agent;
use crate::model::Seen;
use crate::rng::Rng;
use crate::services::Slow;
use crate::tasks::{Lang, Made};
use crate::{procs, requests, services, snippets, tasks};

#[derive(Debug, Clone, Copy)]
enum Step {
    Task,
    Burst,
    Request,
    Flood,
    Malformed,
    Oversize,
    Interrupt,
    InputAhead,
    Event,
    Service,
    Model,
    Stall,
    Pause,
}

const STEPS: [(u32, Step); 13] = [
    (30, Step::Task),
    (4, Step::Burst),
    (10, Step::Request),
    (2, Step::Flood),
    (12, Step::Malformed),
    (2, Step::Oversize),
    (7, Step::Interrupt),
    (3, Step::InputAhead),
    (2, Step::Event),
    (6, Step::Service),
    (1, Step::Model),
    (1, Step::Stall),
    (5, Step::Pause),
];

/// Ops the soak may send while it does not read (far below what the runner and ZeroMQ hold
/// before the soak's own sends would block: 4096 held ops, 8 + 1000 queued in ZeroMQ).
const STALL_OPS: u64 = 1500;
/// Tasks queued before the soak waits for them to run.
const MAX_PENDING: usize = 16;
/// How long everything owed may take to arrive at a barrier.
const BARRIER: Duration = Duration::from_secs(90);

pub struct Soak<'r> {
    pub a: Agent<'r>,
    /// The seeded plan: each step draws from a stream of its own, forked from it.
    master: Rng,
    /// The current step's stream.
    plan: Rng,
    react: Rng,
    pub lang: Lang,
    pub pid: i32,
    /// Not reading until then.
    pub stall_until: Option<Instant>,
    stall_ops: u64,
    due_inputs: Vec<Instant>,
    next_id: u64,
    slow: Slow,
    work: PathBuf,
    rss_bound_kib: u64,
    /// Seed, round and replay command, for reports.
    pub context: String,
    pub steps: u64,
}

impl<'r> Soak<'r> {
    pub fn new(a: Agent<'r>, plan: Rng, react: Rng, lang: Lang, context: String) -> Self {
        let pid = a.runner.pid();
        let work = a.runner.work.path().to_path_buf();
        let rss_bound_kib = a.figures.rss_bound_kib;
        Self {
            a,
            plan: plan.clone(),
            master: plan,
            react,
            lang,
            pid,
            stall_until: None,
            stall_ops: 0,
            due_inputs: Vec::new(),
            next_id: 0,
            slow: Slow::new(krunner_tests::free_port()),
            work,
            rss_bound_kib,
            context,
            steps: 0,
        }
    }

    pub fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Reports a violation with everything needed to replay and understand it.
    pub fn fail(&self, what: &str) -> ! {
        let log = self.a.runner.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(60)..].join("\n");
        panic!(
            "chaos violation: {what}\n{} (step {})\nlast ops sent:\n{}\nrunner log (end):\n{tail}",
            self.context,
            self.steps,
            self.a.recent()
        );
    }

    /// Runs steps until `until` or `max_steps`, then waits for everything owed.
    pub fn run(&mut self, until: Instant, max_steps: u64) {
        while Instant::now() < until && self.steps < max_steps {
            self.steps += 1;
            self.a.figures.steps += 1;
            // A step draws as many numbers as it needs, and whether it runs at all depends on
            // timing; its own stream keeps every later step the seed's.
            self.plan = self.master.fork();
            self.step();
            let think = Duration::from_millis(self.plan.range(0, 30));
            self.pump(think);
            if self.steps % 40 == 0 {
                self.barrier();
            }
        }
        self.barrier();
        // Anything more now would be a second reply, or output of no task (the model fails
        // on either).
        self.pump(Duration::from_millis(300));
    }

    fn stalled(&self) -> bool {
        self.stall_until.is_some_and(|t| Instant::now() < t)
    }

    fn step(&mut self) {
        let step = self.plan.weighted(&STEPS);
        if self.stalled() && self.stall_ops >= STALL_OPS {
            return self.pump(Duration::from_millis(50));
        }
        let before = self.a.figures.ops;
        let tasks_full = self.a.model.pending_tasks() >= MAX_PENDING;
        if tasks_full && !self.stalled() {
            self.wait_tasks(4);
        }
        match step {
            Step::Task | Step::Burst if tasks_full && self.stalled() => {}
            Step::Task => self.task(),
            Step::Burst => {
                for _ in 0..self.plan.range(3, 11) {
                    self.task();
                }
            }
            Step::Request => requests::request(&mut self.a, &mut self.plan, self.lang),
            Step::Flood => {
                let first = self.next_id + 1;
                let n = requests::flood(&mut self.a, &mut self.plan, self.lang, first);
                self.next_id += n;
            }
            Step::Malformed => requests::malformed(&mut self.a, &mut self.plan),
            Step::Oversize => requests::oversize(&mut self.a, &mut self.plan, self.lang),
            Step::Interrupt => self.a.interrupt(b""),
            Step::InputAhead if self.a.model.inputs.queued() < 2 => self.a.input(),
            Step::InputAhead => {}
            Step::Event => requests::event(&mut self.a, &mut self.plan),
            Step::Service => {
                let id = self.id();
                services::service(&mut self.a, &mut self.plan, &mut self.slow, id);
            }
            Step::Model => {
                let id = self.id();
                let work = self.work.clone();
                services::model(&mut self.a, &mut self.plan, &mut self.slow, &work, id);
            }
            Step::Stall => self.stall(),
            Step::Pause => {
                let d = Duration::from_millis(self.plan.range(0, 500));
                self.pump(d);
            }
        }
        if self.stalled() {
            self.stall_ops += self.a.figures.ops - before;
        }
    }

    fn task(&mut self) {
        let id = self.id();
        let python = self.lang == Lang::Python && self.plan.chance(0.55);
        let Made { op, payload, exp } = match python {
            true => snippets::python(&mut self.plan, id),
            false => tasks::shell(&mut self.plan, id, self.lang),
        };
        let reader = exp.reader.is_some();
        // Input for a reader goes before it, right after it, or (most often) once it asks.
        let ahead = self.plan.below(10);
        if reader && ahead < 2 {
            self.a.input();
        }
        self.a.task(op, &payload, exp);
        if reader && (2..4).contains(&ahead) {
            self.a.input();
        }
    }

    fn stall(&mut self) {
        if self.stalled() {
            return;
        }
        let d = Duration::from_millis(self.plan.range(1000, 5000));
        self.stall_until = Some(Instant::now() + d);
        self.stall_ops = 0;
        self.a.figures.stalls += 1;
        self.a.figures.stalled += d;
    }

    /// Receives and checks messages for `d` (none while stalled); sends inputs that are due.
    pub fn pump(&mut self, d: Duration) {
        let end = Instant::now() + d;
        loop {
            self.send_due_inputs();
            let now = Instant::now();
            match self.stall_until {
                Some(until) if now < until => {
                    std::thread::sleep((until.min(end) - now).min(Duration::from_millis(20)));
                }
                _ => {
                    self.stall_until = None;
                    let wait = end
                        .saturating_duration_since(now)
                        .min(Duration::from_millis(20));
                    if let Some(m) = self.a.runner.recv(wait) {
                        self.handle(&m);
                        continue;
                    }
                }
            }
            if Instant::now() >= end {
                break;
            }
        }
        self.sample_rss();
    }

    fn handle(&mut self, m: &krunner_tests::Message) {
        if m.kind == "stdout" || m.kind == "stderr" {
            self.a.figures.output_bytes += m.payload.len() as u64;
        }
        match self.a.model.on_message(m) {
            Err(e) => self.fail(&e),
            Ok(Seen::WaitingInput) => {
                self.a.figures.waiting_inputs += 1;
                let delay = Duration::from_millis(self.react.range(0, 400));
                self.due_inputs.push(Instant::now() + delay);
            }
            Ok(Seen::Finished { label, code, cut }) => {
                self.a.figures.finished += 1;
                let kind = self.a.figures.kinds.entry(label).or_default();
                kind.0 += 1;
                kind.1 += u64::from(cut);
                self.a.figures.interrupted += u64::from(code == 130);
                self.a.figures.killed += u64::from(code == 137);
            }
            Ok(Seen::Reply(_)) => self.a.figures.replies += 1,
            Ok(Seen::Nothing) => {}
        }
    }

    fn send_due_inputs(&mut self) {
        let now = Instant::now();
        let due = self.due_inputs.iter().filter(|t| **t <= now).count();
        self.due_inputs.retain(|t| *t > now);
        for _ in 0..due {
            self.a.input();
        }
    }

    /// Checks the runner's peak resident memory so far (`VmHWM`, so that a spike between two
    /// samples counts too).
    fn sample_rss(&mut self) {
        let Some(rss) = procs::memory_kib(self.pid, "VmHWM") else {
            return;
        };
        let peak = &mut self.a.figures.peak_rss_kib;
        *peak = (*peak).max(rss);
        if rss > self.rss_bound_kib {
            self.fail(&format!(
                "the runner's RSS reached {} MiB, over the bound of {} MiB",
                rss / 1024,
                self.rss_bound_kib / 1024
            ));
        }
    }

    fn wait_tasks(&mut self, at_most: usize) {
        let deadline = Instant::now() + BARRIER;
        while self.a.model.pending_tasks() > at_most {
            if Instant::now() > deadline {
                self.lost();
            }
            self.pump(Duration::from_millis(50));
        }
    }

    /// Waits until everything owed has arrived.
    pub fn barrier(&mut self) {
        let deadline = self.stall_until.unwrap_or_else(Instant::now) + BARRIER;
        while self.a.model.outstanding() > 0 {
            if Instant::now() > deadline {
                self.lost();
            }
            self.pump(Duration::from_millis(50));
        }
    }

    fn lost(&mut self) -> ! {
        self.a.figures.replies_lost += self.a.model.owed_replies() as u64;
        let owed = self.a.model.describe_outstanding();
        self.fail(&format!(
            "nothing more came for {BARRIER:?}; still owed: {owed}"
        ))
    }
}
