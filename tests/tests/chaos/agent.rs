//! The soak's side of the wire: every op goes out through [`Agent`], which records at the
//! same moment what the op owes ([`Model`]) and counts it ([`Figures`]). It keeps the last
//! ops sent, for the report of a violation.

use std::collections::VecDeque;
use std::time::Instant;

use krunner_tests::Runner;

use crate::expect::{ReplyExp, TaskExp, TaskOp};
use crate::figures::Figures;
use crate::model::Model;

/// How many recent ops a violation report shows.
const RECENT: usize = 40;

pub struct Agent<'r> {
    pub runner: &'r Runner,
    pub model: Model,
    pub figures: &'r mut Figures,
    /// (seconds since the start, the op, how many times in a row).
    recent: VecDeque<(f64, String, u64)>,
    began: Instant,
}

/// A short, printable form of a payload.
fn show(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(&payload[..payload.len().min(60)]);
    match payload.len() {
        n if n > 60 => format!("{text:?}... ({n} bytes)"),
        _ => format!("{text:?}"),
    }
}

impl<'r> Agent<'r> {
    pub fn new(runner: &'r Runner, model: Model, figures: &'r mut Figures) -> Self {
        Self {
            runner,
            model,
            figures,
            recent: VecDeque::new(),
            began: Instant::now(),
        }
    }

    fn note(&mut self, what: String) {
        self.figures.ops += 1;
        let at = self.began.elapsed().as_secs_f64();
        if let Some((_, _, times)) = self.recent.back_mut().filter(|(_, w, _)| *w == what) {
            *times += 1;
            return;
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((at, what, 1));
    }

    /// The last ops sent, one a line (repeats counted).
    pub fn recent(&self) -> String {
        let lines: Vec<String> = self
            .recent
            .iter()
            .map(|(at, what, times)| match times {
                1 => format!("{at:8.3} s  {what}"),
                n => format!("{at:8.3} s  {what} (x{n})"),
            })
            .collect();
        lines.join("\n")
    }

    /// Sends a task op that becomes a task.
    pub fn task(&mut self, op: TaskOp, payload: &[u8], exp: TaskExp) {
        self.note(format!("{} {} {}", op.name(), exp.label, show(payload)));
        self.figures.tasks += 1;
        self.runner.send(op.name(), payload);
        self.model.task(exp);
    }

    /// Sends an op that owes a reply.
    pub fn request(&mut self, op: &str, payload: &[u8], exp: ReplyExp) {
        self.note(format!("{op} {}", show(payload)));
        self.figures.requests += 1;
        self.runner.send(op, payload);
        self.model.reply(exp);
    }

    /// Sends an op that owes nothing (input, event, shutdown-service, a dropped op).
    pub fn send(&mut self, op: &str, payload: &[u8]) {
        self.note(format!("{op} {}", show(payload)));
        self.runner.send(op, payload);
    }

    /// Sends an `interrupt` (its payload is ignored, whatever it is).
    pub fn interrupt(&mut self, payload: &[u8]) {
        self.note(format!("interrupt {}", show(payload)));
        self.figures.interrupts += 1;
        self.runner.send("interrupt", payload);
        self.model.interrupt();
    }

    /// Sends a malformed message that owes nothing.
    pub fn frames(&mut self, frames: &[&[u8]]) {
        let shown: Vec<String> = frames.iter().map(|f| show(f)).collect();
        self.note(format!("frames [{}]", shown.join(", ")));
        self.runner.send_frames(frames);
    }

    /// Sends a new input (the next of the queue, `in-N`).
    pub fn input(&mut self) {
        let token = self.model.inputs.token();
        self.figures.inputs += 1;
        self.send("input", token.as_bytes());
    }
}
