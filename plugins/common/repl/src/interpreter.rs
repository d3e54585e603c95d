//! One long-lived interpreter running a driver program, started through the host (so the host
//! owns its process group), and the thread that reads its records.
//!
//! The reader thread forwards output records to the user as they arrive and routes the rest:
//! input requests and the end of a query to the query waiting in [`Interpreter::run`],
//! completion results and is-complete verdicts to the calls waiting for them. When the interpreter dies, whoever
//! waits is told at once, so no query ever hangs on a dead interpreter.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use krunner_plugin_api::sdk::{self, Event, HostHandle, Result};
use krunner_plugin_api::{IsCompleteReply, PluginError, RunSpec};

use crate::records::{Parser, Record};

/// What the query in progress hears from the interpreter (and from its input helper).
enum QueryEvent {
    Input { prompt: String, password: bool },
    Answer(Result<String>),
    Done(i32),
    Died(i32),
}

#[derive(Default)]
struct Waiters {
    query: Mutex<Option<Sender<QueryEvent>>>,
    completions: Mutex<HashMap<u64, Sender<Vec<String>>>>,
    verdicts: Mutex<HashMap<u64, Sender<IsCompleteReply>>>,
    ready: Mutex<Option<Sender<()>>>,
}

/// A running interpreter and its driver.
pub struct Interpreter {
    process: Arc<sdk::Interpreter>,
    waiters: Arc<Waiters>,
    alive: Arc<AtomicBool>,
    busy: AtomicBool,
    interrupted: AtomicBool,
    next_id: AtomicU64,
    /// The id of the running query (0: none).
    current: Arc<AtomicU64>,
    /// Also send interrupts as a command on stdin (see [`Interpreter::interrupt_by_command`]).
    interrupt_command: bool,
}

/// How long an interpreter that takes interrupts as commands has to act on one before it gets
/// SIGINT (see [`Interpreter::interrupt_by_command`]).
pub const SIGINT_AFTER_COMMAND: Duration = Duration::from_millis(100);

/// How long a new interpreter may take to become ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);

impl Interpreter {
    /// Starts the driver described by `spec` and waits until it is ready. `name` (e.g.
    /// "Python") is used in messages.
    pub fn start(host: &HostHandle, spec: &RunSpec, name: &str) -> Result<Self> {
        let process = Arc::new(host.spawn(spec)?);
        let waiters = Arc::new(Waiters::default());
        let alive = Arc::new(AtomicBool::new(true));
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        *lock(&waiters.ready) = Some(ready_tx);
        let reader = Reader {
            process: Arc::clone(&process),
            waiters: Arc::clone(&waiters),
            alive: Arc::clone(&alive),
            host: host.clone(),
            parser: Parser::default(),
            startup_errors: Vec::new(),
        };
        let (died_tx, died_rx) = crossbeam_channel::bounded::<String>(1);
        std::thread::Builder::new()
            .name("interpreter-reader".into())
            .spawn(move || reader.run(&died_tx))
            .map_err(PluginError::from)?;
        crossbeam_channel::select! {
            recv(ready_rx) -> _ => {}
            recv(died_rx) -> why => {
                let why = why.unwrap_or_default();
                return Err(PluginError::internal(format!("the {name} interpreter failed to start: {why}")));
            }
            default(START_TIMEOUT) => {
                process.terminate();
                return Err(PluginError::internal(format!("the {name} interpreter did not start within 30 s")));
            }
        }
        Ok(Self {
            process,
            waiters,
            alive,
            busy: AtomicBool::new(false),
            interrupted: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            current: Arc::new(AtomicU64::new(0)),
            interrupt_command: false,
        })
    }

    /// Sends interrupts as `{"op":"interrupt","id":N}` on stdin, for drivers whose event loop
    /// can stop a waiting query itself, and SIGINT only to a query still running
    /// [`SIGINT_AFTER_COMMAND`] later (code that keeps the event loop busy). Node.js needs
    /// this: a SIGINT that lands while `breakOnSigint` is being set up or torn down can kill
    /// the process or interrupt the next snippet, and one that arrives as a snippet's
    /// synchronous part finishes can be swallowed.
    pub fn interrupt_by_command(mut self) -> Self {
        self.interrupt_command = true;
        self
    }

    /// Whether the interpreter is still running.
    pub fn alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    fn send(&self, command: &serde_json::Value) -> Result<()> {
        let mut line = command.to_string();
        line.push('\n');
        self.process.write(line.as_bytes())
    }

    /// Runs one snippet; returns its exit code. `Err` with the exit status when the interpreter
    /// died while running it.
    pub fn run(&self, host: &HostHandle, code: &str) -> std::result::Result<i32, i32> {
        let (tx, rx) = crossbeam_channel::unbounded();
        *lock(&self.waiters.query) = Some(tx.clone());
        self.interrupted.store(false, Ordering::SeqCst);
        self.busy.store(true, Ordering::SeqCst);
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        self.current.store(id, Ordering::SeqCst);
        let result = match self.send(&serde_json::json!({"op": "exec", "id": id, "code": code})) {
            Ok(()) => self.wait(host, &tx, &rx),
            Err(_) => Err(self.exit_status(&rx)),
        };
        self.busy.store(false, Ordering::SeqCst);
        self.current.store(0, Ordering::SeqCst);
        *lock(&self.waiters.query) = None;
        result
    }

    /// Waits for the query's end. Input requests are asked on a helper thread, so the end of
    /// the query (which may come first, after an interrupt) is never stuck behind a question
    /// nobody will answer; the host gives up such a question when the task ends.
    fn wait(
        &self,
        host: &HostHandle,
        tx: &Sender<QueryEvent>,
        rx: &Receiver<QueryEvent>,
    ) -> std::result::Result<i32, i32> {
        loop {
            match rx.recv() {
                Ok(QueryEvent::Done(code)) => return Ok(code),
                Ok(QueryEvent::Died(status)) => return Err(status),
                Err(_) => return Err(-1),
                Ok(QueryEvent::Input { prompt, password }) => {
                    if self.interrupted.load(Ordering::SeqCst) {
                        // The user already interrupted this query: don't ask.
                        if self
                            .send(&serde_json::json!({"op": "input-cancel"}))
                            .is_err()
                        {
                            return Err(self.exit_status(rx));
                        }
                        continue;
                    }
                    let (host, tx) = (host.clone(), tx.clone());
                    let asked = std::thread::Builder::new()
                        .name("interpreter-input".into())
                        .spawn(move || {
                            let _ = tx.send(QueryEvent::Answer(host.read_input(&prompt, password)));
                        });
                    if asked.is_err() {
                        let _ = self.send(&serde_json::json!({"op": "input-cancel"}));
                    }
                }
                Ok(QueryEvent::Answer(answer)) => {
                    let command = match answer {
                        Ok(text) => serde_json::json!({"op": "input", "text": text}),
                        // Interrupted or shutting down: the waiting input() gives up.
                        Err(_) => serde_json::json!({"op": "input-cancel"}),
                    };
                    if self.send(&command).is_err() {
                        return Err(self.exit_status(rx));
                    }
                }
            }
        }
    }

    fn exit_status(&self, rx: &Receiver<QueryEvent>) -> i32 {
        loop {
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(QueryEvent::Died(status)) => return status,
                Ok(_) => continue,
                Err(_) => return -1,
            }
        }
    }

    /// Interrupts the running query (KeyboardInterrupt in user code, SIGINT to its children).
    pub fn interrupt(&self) {
        if !self.busy.load(Ordering::SeqCst) {
            return;
        }
        self.interrupted.store(true, Ordering::SeqCst);
        let query = self.current.load(Ordering::SeqCst);
        if !self.interrupt_command || query == 0 {
            let _ = self.process.signal(libc::SIGINT);
            return;
        }
        let _ = self.send(&serde_json::json!({"op": "interrupt", "id": query}));
        // Code that keeps the event loop busy never reads the command: it gets SIGINT, but
        // only if it is still running a moment later, so that no signal lands while the
        // driver starts or ends a snippet.
        let (process, current) = (Arc::clone(&self.process), Arc::clone(&self.current));
        let fallback = std::thread::Builder::new()
            .name("interpreter-interrupt".into())
            .spawn(move || {
                std::thread::sleep(SIGINT_AFTER_COMMAND);
                if current.load(Ordering::SeqCst) == query {
                    let _ = process.signal(libc::SIGINT);
                }
            });
        if fallback.is_err() {
            let _ = self.process.signal(libc::SIGINT);
        }
    }

    /// Asks the live namespace for completions; empty after `timeout`.
    pub fn complete(&self, request: &serde_json::Value, timeout: Duration) -> Vec<String> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = crossbeam_channel::bounded(1);
        lock(&self.waiters.completions).insert(id, tx);
        let mut command = request.clone();
        if let Some(obj) = command.as_object_mut() {
            obj.insert("op".into(), "complete".into());
            obj.insert("id".into(), id.into());
        }
        let suggestions = match self.send(&command) {
            Ok(()) => rx.recv_timeout(timeout).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        lock(&self.waiters.completions).remove(&id);
        suggestions
    }

    /// Asks the driver whether `code` is a complete snippet; `Unknown` after `timeout` or
    /// when the interpreter is gone.
    pub fn is_complete(&self, code: &str, timeout: Duration) -> IsCompleteReply {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = crossbeam_channel::bounded(1);
        lock(&self.waiters.verdicts).insert(id, tx);
        let command = serde_json::json!({"op": "is-complete", "id": id, "code": code});
        let reply = match self.send(&command) {
            Ok(()) => rx.recv_timeout(timeout).ok(),
            Err(_) => None,
        };
        lock(&self.waiters.verdicts).remove(&id);
        reply.unwrap_or_default()
    }

    /// Ends the interpreter.
    pub fn terminate(&self) {
        self.process.terminate();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Reader {
    process: Arc<sdk::Interpreter>,
    waiters: Arc<Waiters>,
    alive: Arc<AtomicBool>,
    host: HostHandle,
    parser: Parser,
    startup_errors: Vec<u8>,
}

impl Reader {
    /// Reads events until the interpreter exits, then tells whoever waits. A panic in here
    /// (a bug) ends the interpreter the same way, so no query is left waiting for a reader
    /// that is gone.
    fn run(mut self, died: &Sender<String>) {
        let status = match catch_unwind(AssertUnwindSafe(|| self.read_events())) {
            Ok(status) => status,
            Err(_) => {
                self.host
                    .error("the interpreter's reader failed; restarting the interpreter");
                self.process.terminate();
                -1
            }
        };
        self.finish(status, died);
    }

    /// Handles events until the exit; returns the exit status.
    fn read_events(&mut self) -> i32 {
        let mut corrupt = false;
        loop {
            match self.process.next_event(None) {
                // After a corrupt record nothing in the stream can be trusted: skip the rest
                // until the interpreter has gone.
                Ok(Event::Stdout(_)) if corrupt => {}
                Ok(Event::Stdout(data)) => {
                    if let Err(why) = self.handle(&data) {
                        corrupt = true;
                        self.host.error(&format!(
                            "the interpreter sent unexpected output ({}); restarting it",
                            why.0
                        ));
                        self.process.terminate();
                    }
                }
                Ok(Event::Stderr(data)) => {
                    // The interpreter's own stderr (before the driver took over fd 2, or a
                    // fatal error): show it, and keep it for a startup failure message.
                    if lock(&self.waiters.ready).is_some() {
                        self.startup_errors.extend_from_slice(&data);
                    } else {
                        let _ = self.host.stderr(&data);
                    }
                }
                Ok(Event::Timeout) => continue,
                Ok(Event::Exit(status)) => return status,
                Err(_) => return -1,
            }
        }
    }

    fn finish(&mut self, status: i32, died: &Sender<String>) {
        self.alive.store(false, Ordering::SeqCst);
        if lock(&self.waiters.ready).take().is_some() {
            let text = String::from_utf8_lossy(&self.startup_errors)
                .trim()
                .to_owned();
            let _ = died.send(if text.is_empty() {
                format!("the interpreter exited with {status}")
            } else {
                text
            });
        }
        if let Some(q) = lock(&self.waiters.query).as_ref() {
            let _ = q.send(QueryEvent::Died(status));
        }
        lock(&self.waiters.completions).clear();
        lock(&self.waiters.verdicts).clear();
    }

    fn handle(&mut self, data: &[u8]) -> std::result::Result<(), crate::records::Corrupt> {
        for record in self.parser.feed(data)? {
            match record {
                Record::Out(b) => {
                    let _ = self.host.stdout(b);
                }
                Record::Err(b) => {
                    let _ = self.host.stderr(b);
                }
                Record::Media(b) => {
                    let _ = self.host.emit("media", &b);
                }
                Record::Html(b) => {
                    let _ = self.host.emit("html", &b);
                }
                Record::Input { prompt, password } => {
                    if let Some(q) = lock(&self.waiters.query).as_ref() {
                        let _ = q.send(QueryEvent::Input { prompt, password });
                    }
                }
                Record::Done { exit } => {
                    if let Some(q) = lock(&self.waiters.query).as_ref() {
                        let _ = q.send(QueryEvent::Done(exit));
                    }
                }
                Record::Completion { id, suggestions } => {
                    if let Some(tx) = lock(&self.waiters.completions).remove(&id) {
                        let _ = tx.send(suggestions);
                    }
                }
                Record::IsComplete { id, reply } => {
                    if let Some(tx) = lock(&self.waiters.verdicts).remove(&id) {
                        let _ = tx.send(reply);
                    }
                }
                Record::Ready => {
                    if let Some(tx) = lock(&self.waiters.ready).take() {
                        let _ = tx.send(());
                    }
                }
            }
        }
        Ok(())
    }
}
