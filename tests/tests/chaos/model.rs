//! The checker: every message the runner sends is matched against what the soak is owed,
//! as it arrives.
//!
//! - Replies (`status`, `completion`, `service-result`, `apps-result`,
//!   `model-service-result`) are matched FIFO per type with the requests that owe them
//!   (docs/protocol.md §3.2); one with nothing owed is a violation.
//! - Task messages belong to the oldest task not finished yet (tasks run one at a time in
//!   arrival order, §4.1); its terminal message must be of its type, carry an allowed exit
//!   code, and follow its complete output (§3.3), or a prefix of it when an interrupt or
//!   shutdown cut it short. Lines the runner itself writes to the console (`<lang>-kernel:
//!   ...`, §5.9) may come at any time and are set aside.
//! - The failed-build gate (§4.4) and the input queue (§2.5) are followed from what is seen.

use std::collections::{BTreeMap, VecDeque};

use krunner_tests::Message;

use crate::expect::{ReplyExp, Stream, TaskExp, TaskOp, REPLY_KINDS};
use crate::inputs::Inputs;
use crate::replies;

/// A task sent and not finished yet.
#[derive(Debug)]
struct Pending {
    id: u64,
    exp: TaskExp,
    /// An interrupt was sent while it was pending.
    interruptible: bool,
    /// It was running when the runner was told to stop.
    terminated: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// What a message was, for the driver's reactions and figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Nothing,
    WaitingInput,
    /// A task ended with this exit code; `cut` when an interrupt or shutdown cut it short.
    Finished {
        label: &'static str,
        code: i64,
        cut: bool,
    },
    Reply(&'static str),
}

/// Everything the soak is owed by one runner.
pub struct Model {
    /// `<lang>-kernel: `, the prefix of the runner's own console lines.
    prefix: String,
    tasks: VecDeque<Pending>,
    next_id: u64,
    replies: BTreeMap<&'static str, VecDeque<ReplyExp>>,
    pub state: replies::State,
    gate: bool,
    pub inputs: Inputs,
    /// The runner was told to stop: queued tasks are dropped, owed replies may be.
    stopping: bool,
}

impl Model {
    pub fn new(lang: &str, state: replies::State) -> Self {
        Self {
            prefix: format!("{lang}-kernel: "),
            tasks: VecDeque::new(),
            next_id: 0,
            replies: REPLY_KINDS.iter().map(|k| (*k, VecDeque::new())).collect(),
            state,
            gate: false,
            inputs: Inputs::default(),
            stopping: false,
        }
    }

    /// Records a task op just sent.
    pub fn task(&mut self, exp: TaskExp) {
        self.next_id += 1;
        self.tasks.push_back(Pending {
            id: self.next_id,
            exp,
            interruptible: false,
            terminated: false,
            stdout: Vec::new(),
            stderr: Vec::new(),
        });
    }

    /// Records a request just sent.
    pub fn reply(&mut self, exp: ReplyExp) {
        self.replies.entry(exp.kind()).or_default().push_back(exp);
    }

    /// An interrupt was sent: it may reach any task sent before it that has not finished.
    pub fn interrupt(&mut self) {
        for t in &mut self.tasks {
            t.interruptible = true;
        }
    }

    /// The runner was told to stop (§5.11): the running task (the oldest pending one, which
    /// the caller knows to be running) may end by SIGTERM or SIGKILL; the others never run.
    pub fn stop(&mut self) {
        self.stopping = true;
        if let Some(t) = self.tasks.front_mut() {
            t.terminated = true;
        }
    }

    /// Tasks and replies still owed.
    pub fn outstanding(&self) -> usize {
        self.tasks.len() + self.replies.values().map(VecDeque::len).sum::<usize>()
    }

    pub fn pending_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// The stdout received so far of the oldest pending task.
    pub fn head_stdout(&self) -> Option<&[u8]> {
        self.tasks.front().map(|t| t.stdout.as_slice())
    }

    /// What is still owed, for a report.
    pub fn describe_outstanding(&self) -> String {
        let mut parts: Vec<String> = self
            .tasks
            .iter()
            .map(|t| format!("task #{} ({} {})", t.id, t.exp.op.name(), t.exp.label))
            .collect();
        for (kind, q) in &self.replies {
            if !q.is_empty() {
                parts.push(format!("{} {kind}", q.len()));
            }
        }
        parts.join(", ")
    }

    /// Replies still owed (lost, when nothing more will come).
    pub fn owed_replies(&self) -> usize {
        self.replies.values().map(VecDeque::len).sum()
    }

    /// Checks one message.
    pub fn on_message(&mut self, m: &Message) -> Result<Seen, String> {
        match m.kind.as_str() {
            "stdout" | "stderr" | "waiting-input" => self.task_output(m),
            "finished" | "build-finished" | "clean-finished" => self.finished(m),
            "model-service-status" => self.state.model_status(m).map(|()| Seen::Nothing),
            kind => {
                let Some(kind) = REPLY_KINDS.iter().find(|k| **k == kind) else {
                    return Err(format!("unexpected message type {kind:?}: {:?}", m.text()));
                };
                let Some(exp) = self.replies.get_mut(kind).and_then(VecDeque::pop_front) else {
                    return Err(format!("a {kind} nobody asked for: {}", m.text()));
                };
                self.state.check(&exp, m)?;
                Ok(Seen::Reply(kind))
            }
        }
    }

    fn task_output(&mut self, m: &Message) -> Result<Seen, String> {
        let Some(head) = self.tasks.front_mut() else {
            let (rest, _) = split_console(&m.payload, &self.prefix);
            if m.kind == "stderr" && rest.is_empty() {
                return Ok(Seen::Nothing);
            }
            return Err(format!(
                "{} while no task is pending: {}",
                m.kind,
                excerpt(&m.payload)
            ));
        };
        match m.kind.as_str() {
            "stdout" => head.stdout.extend_from_slice(&m.payload),
            "stderr" => head.stderr.extend_from_slice(&m.payload),
            _ => {
                let Some(prompt) = &head.exp.reader else {
                    return Err(format!(
                        "waiting-input during task #{} ({}), which reads nothing",
                        head.id, head.exp.label
                    ));
                };
                // The prompt written before the read comes first (docs/protocol.md §5.5).
                if !head.stdout.starts_with(prompt) {
                    return Err(format!(
                        "waiting-input of task #{} before its prompt {}; stdout so far {}",
                        head.id,
                        excerpt(prompt),
                        excerpt(&head.stdout)
                    ));
                }
                if m.payload != br#"{"is_password":false}"# {
                    return Err(format!("waiting-input with payload {:?}", m.text()));
                }
                return Ok(Seen::WaitingInput);
            }
        }
        Ok(Seen::Nothing)
    }

    fn finished(&mut self, m: &Message) -> Result<Seen, String> {
        let Some(task) = self.tasks.pop_front() else {
            return Err(format!("{} {} with no task pending", m.kind, m.text()));
        };
        let what = format!(
            "task #{} ({} {})",
            task.id,
            task.exp.op.name(),
            task.exp.label
        );
        if self.stopping && !task.terminated {
            return Err(format!("{what} was queued at SIGTERM but ran: {}", m.kind));
        }
        if m.kind != task.exp.op.terminal() {
            return Err(format!("{what} ended with {} {}", m.kind, m.text()));
        }
        let code = m
            .try_json()
            .ok()
            .and_then(|v| v["exitCode"].as_i64())
            .ok_or_else(|| format!("{what}: malformed {} {:?}", m.kind, m.text()))?;
        let label = task.exp.label;
        let cut = self
            .check_task(&task, code)
            .map_err(|e| format!("{what}, exit code {code}: {e}"))?;
        Ok(Seen::Finished { label, code, cut })
    }

    /// Checks a task's end; returns whether it was cut short.
    fn check_task(&mut self, t: &Pending, code: i64) -> Result<bool, String> {
        let (stderr, console) = split_console(&t.stderr, &self.prefix);
        if t.exp.op == TaskOp::Exec && std::mem::take(&mut self.gate) {
            // The exec after a failed build runs nothing (§4.4).
            if code != 127 || !t.stdout.is_empty() || !stderr.is_empty() {
                return Err(format!(
                    "the exec after a failed build ran: stdout {}, stderr {}",
                    excerpt(&t.stdout),
                    excerpt(&stderr)
                ));
            }
            return Ok(false);
        }
        let cut = (t.interruptible && t.exp.interrupted.contains(&code))
            || (t.terminated && [137, 143].contains(&code));
        if !t.exp.exit.contains(&code) && !cut {
            return Err(format!(
                "not among {:?} (interrupted: {:?} {}); stderr ends {}",
                t.exp.exit,
                t.exp.interrupted,
                t.interruptible,
                excerpt(&t.stderr[t.stderr.len().saturating_sub(80)..])
            ));
        }
        if let Some(line) = &t.exp.console {
            if !console.contains(line.as_str()) {
                return Err(format!("no {line:?} among the runner's lines {console:?}"));
            }
        }
        check_stream("stdout", &t.exp.stdout, &t.stdout, cut)?;
        if !((cut || t.interruptible) && t.exp.traceback) {
            check_stream("stderr", &t.exp.stderr, &stderr, cut)?;
        }
        if let Some(prompt) = &t.exp.reader {
            let answer = match t.stdout.strip_prefix(prompt.as_slice()) {
                Some(answer) => answer,
                None if cut && prompt.starts_with(&t.stdout) => &[],
                None => return Err(format!("stdout {} lacks the prompt", excerpt(&t.stdout))),
            };
            self.inputs.read(answer, cut)?;
        }
        match t.exp.op {
            TaskOp::Build => self.gate = code != 0,
            TaskOp::Clean => self.gate = false,
            _ => {}
        }
        Ok(cut && !t.exp.exit.contains(&code))
    }
}

fn check_stream(name: &str, exp: &Stream, got: &[u8], cut: bool) -> Result<(), String> {
    let (want, cut) = match exp {
        Stream::Exact(want) => (want, cut),
        Stream::Prefix(want) => (want, true),
        Stream::Reader | Stream::Any => return Ok(()),
    };
    if got == want.as_slice() || (cut && want.starts_with(got)) {
        return Ok(());
    }
    let at = got.iter().zip(want).take_while(|(a, b)| a == b).count();
    Err(format!(
        "{name}: {} bytes where {} were expected{}; they differ at byte {at}: got {}, expected {}",
        got.len(),
        want.len(),
        if cut { " (or a prefix)" } else { "" },
        excerpt(&got[at.saturating_sub(16)..]),
        excerpt(&want[at.saturating_sub(16)..]),
    ))
}

/// Splits the runner's own lines (`<prefix>...\n`) out of a stderr stream: (the rest, the
/// runner's lines).
pub fn split_console(stream: &[u8], prefix: &str) -> (Vec<u8>, String) {
    let (mut rest, mut console) = (Vec::new(), String::new());
    let mut at = 0;
    while let Some(found) = find(&stream[at..], prefix.as_bytes()) {
        let start = at + found;
        let end = find(&stream[start..], b"\n").map_or(stream.len(), |n| start + n + 1);
        rest.extend_from_slice(&stream[at..start]);
        console.push_str(&String::from_utf8_lossy(&stream[start..end]));
        at = end;
    }
    rest.extend_from_slice(&stream[at..]);
    (rest, console)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// At most 80 bytes of `bytes`, escaped.
pub fn excerpt(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(80)];
    let more = if bytes.len() > 80 { "..." } else { "" };
    format!("{:?}{more}", String::from_utf8_lossy(cut))
}
