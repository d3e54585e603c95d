//! What one op owes, as the soak records it when it sends the op: a task's terminal message,
//! exit codes and output (docs/protocol.md §3.3, §4), or a reply of a given type (§3.2).

use serde_json::Value;

/// A task op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOp {
    Clean,
    Build,
    Exec,
    Code,
}

impl TaskOp {
    pub fn name(self) -> &'static str {
        match self {
            TaskOp::Clean => "clean",
            TaskOp::Build => "build",
            TaskOp::Exec => "exec",
            TaskOp::Code => "code",
        }
    }

    /// The type of its terminal message.
    pub fn terminal(self) -> &'static str {
        match self {
            TaskOp::Clean => "clean-finished",
            TaskOp::Build => "build-finished",
            TaskOp::Exec | TaskOp::Code => "finished",
        }
    }
}

/// What a task writes on one stream.
#[derive(Debug, Clone)]
pub enum Stream {
    /// Exactly these bytes (a prefix of them when the task was cut short).
    Exact(Vec<u8>),
    /// A prefix of these bytes, whether or not the task was cut short (a background child's
    /// line, which may come after its task ended and is then discarded).
    Prefix(Vec<u8>),
    /// The prompt, then `got <input>\n` with the next input of the queue (stdout of a reader).
    Reader,
    /// Anything (tracebacks, messages of the shell).
    Any,
}

/// A task the soak sent.
#[derive(Debug, Clone)]
pub struct TaskExp {
    /// Which kind of task, for messages and figures.
    pub label: &'static str,
    pub op: TaskOp,
    pub stdout: Stream,
    pub stderr: Stream,
    /// Exit codes when nothing interrupts it.
    pub exit: Vec<i64>,
    /// Exit codes when an interrupt reaches it (its output is then a prefix).
    pub interrupted: Vec<i64>,
    /// A runner line its stderr must carry (`<lang>-kernel: ...`).
    pub console: Option<String>,
    /// Whether it reads one input, after writing this prompt on stdout.
    pub reader: Option<Vec<u8>>,
    /// Whether its stderr is unchecked when an interrupt may have reached it: a python
    /// snippet, which prints a traceback when it is cut short, and `Exception ignored in ...`
    /// when the interpreter swallowed the interrupt in a callback and went on.
    pub traceback: bool,
}

impl TaskExp {
    /// A task that prints `stdout` and exits with `exit`; an interrupt ends it with SIGINT.
    pub fn new(label: &'static str, op: TaskOp, stdout: Vec<u8>, exit: i64) -> Self {
        Self {
            label,
            op,
            stdout: Stream::Exact(stdout),
            stderr: Stream::Exact(Vec::new()),
            exit: vec![exit],
            interrupted: vec![130],
            console: None,
            reader: None,
            traceback: false,
        }
    }

    /// A task that runs nothing: an interrupt changes nothing about it.
    pub fn inert(label: &'static str, op: TaskOp, exit: i64) -> Self {
        Self {
            interrupted: Vec::new(),
            ..Self::new(label, op, Vec::new(), exit)
        }
    }

    pub fn stderr(mut self, stderr: Stream) -> Self {
        self.stderr = stderr;
        self
    }

    pub fn console(mut self, line: String) -> Self {
        self.console = Some(line);
        self
    }

    pub fn interrupted(mut self, codes: &[i64]) -> Self {
        self.interrupted = codes.to_vec();
        self
    }

    pub fn exits(mut self, codes: &[i64]) -> Self {
        self.exit = codes.to_vec();
        self
    }

    pub fn traceback(mut self) -> Self {
        self.traceback = true;
        self
    }

    /// A reader: it prints `prompt`, reads one input and prints `got <input>\n`.
    pub fn reader(mut self, prompt: &str) -> Self {
        self.reader = Some(prompt.into());
        self.stdout = Stream::Reader;
        self
    }
}

/// What a `start-service` must be answered with (docs/protocol.md §6.2–§6.4).
#[derive(Debug, Clone)]
pub enum ServiceExp {
    /// Exactly this reply.
    Exact(Value),
    /// `failed` with exactly this error.
    Failed(String),
    /// `failed` with an error starting with this.
    FailedWith(String),
    /// The web service: `started` or `running`; `failed` only when a `shutdown-service`
    /// sent after the request (the count of them then, here) stopped it while it started, or
    /// when the machine was too slow for its port to open in time.
    Web { stops: u64 },
}

/// What a `start-model-service` must be answered with (§6.13).
#[derive(Debug, Clone)]
pub enum ModelExp {
    /// `failed` with an error containing this.
    Failed(String),
    /// `started`: the model (its `name`) then reports its health. A `shutdown-service` of
    /// its service (`<name>-<port>`) sent meanwhile makes it fail instead.
    Started { name: String, service: String },
}

/// A reply the soak is owed.
#[derive(Debug, Clone)]
pub enum ReplyExp {
    Status,
    /// `completion`; `empty` when the request was malformed or the runner has no completion.
    Completion {
        empty: bool,
    },
    Service(ServiceExp),
    /// `apps-result` for this filter (trimmed; empty for all).
    Apps {
        filter: String,
        valid: bool,
    },
    Model(ModelExp),
}

impl ReplyExp {
    /// The type of the reply.
    pub fn kind(&self) -> &'static str {
        match self {
            ReplyExp::Status => "status",
            ReplyExp::Completion { .. } => "completion",
            ReplyExp::Service(_) => "service-result",
            ReplyExp::Apps { .. } => "apps-result",
            ReplyExp::Model(_) => "model-service-result",
        }
    }
}

/// The reply types, in a fixed order.
pub const REPLY_KINDS: [&str; 5] = [
    "status",
    "completion",
    "service-result",
    "apps-result",
    "model-service-result",
];
