//! The threads that listen to a kernel, and where what they hear goes.
//!
//! One thread per socket (shell, iopub, stdin, control) reads, checks and decodes messages,
//! and one reads the kernel process's own output and exit. While a query runs, iopub output
//! is sent to the user by the iopub thread itself, so it keeps the kernel's order, and the
//! query hears `status: idle` only after everything before it was sent. Replies go to whoever
//! waits for them by request id; input requests and the query's own reply go to the query.
//! When the kernel dies, every waiter is told at once, so nothing waits for a dead kernel.

use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_channel::Sender;
use krunner_plugin_api::sdk::{self, HostHandle};
use serde_json::Value;

use crate::connection::Channel;
use crate::output::{self, Output};
use crate::wire::{Message, Session};
use crate::zmtp::{Reader, Received, MAX_MESSAGE};

/// How much of the kernel's own output is kept for a startup failure's message.
const TAIL: usize = 8 << 10;

/// What the running query hears.
pub(crate) enum Event {
    /// Its `execute_reply`.
    Reply(Message),
    /// `status: idle` for it on iopub (all its output was sent).
    Idle,
    /// The kernel asks for input.
    Input {
        prompt: String,
        password: bool,
        request: Value,
    },
    /// The user's answer (from the helper thread that asked).
    Answer(sdk::Result<String>, Value),
    /// The kernel died with this status.
    Died(i32),
}

/// State the listening threads and the kernel's users share.
pub(crate) struct Shared {
    pub(crate) host: HostHandle,
    pub(crate) process: Arc<sdk::Interpreter>,
    pub(crate) session: Session,
    alive: AtomicBool,
    exit_status: Mutex<Option<i32>>,
    /// The running query: its request id and its events.
    query: Mutex<Option<(String, Sender<Event>)>>,
    /// Waiters for shell and control replies, by request id.
    replies: Mutex<HashMap<String, Sender<Message>>>,
    /// Waiters for any iopub message answering a request (the startup handshake).
    iopub_seen: Mutex<HashMap<String, Sender<()>>>,
    /// The kernel's own output outside queries (its end).
    tail: Mutex<Vec<u8>>,
    /// The connections, to shut them down.
    streams: Mutex<Vec<TcpStream>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn new(host: HostHandle, process: Arc<sdk::Interpreter>, session: Session) -> Self {
        Self {
            host,
            process,
            session,
            alive: AtomicBool::new(true),
            exit_status: Mutex::new(None),
            query: Mutex::new(None),
            replies: Mutex::new(HashMap::new()),
            iopub_seen: Mutex::new(HashMap::new()),
            tail: Mutex::new(Vec::new()),
            streams: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// The exit status once the kernel died.
    pub(crate) fn exit_status(&self) -> Option<i32> {
        *lock(&self.exit_status)
    }

    /// The end of the kernel's own output, as text.
    pub(crate) fn tail(&self) -> String {
        String::from_utf8_lossy(&lock(&self.tail)).into_owned()
    }

    pub(crate) fn add_stream(&self, stream: TcpStream) {
        lock(&self.streams).push(stream);
    }

    /// Closes every connection (the listening threads end).
    pub(crate) fn close(&self) {
        for s in lock(&self.streams).drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    pub(crate) fn begin_query(&self, id: String, events: Sender<Event>) {
        *lock(&self.query) = Some((id, events));
    }

    pub(crate) fn end_query(&self) {
        *lock(&self.query) = None;
    }

    fn query_running(&self) -> bool {
        lock(&self.query).is_some()
    }

    fn to_query(&self, event: Event) {
        if let Some((_, tx)) = lock(&self.query).as_ref() {
            let _ = tx.send(event);
        }
    }

    fn is_query(&self, id: &str) -> bool {
        lock(&self.query).as_ref().is_some_and(|(q, _)| q == id)
    }

    pub(crate) fn await_reply(&self, id: &str, tx: Sender<Message>) {
        lock(&self.replies).insert(id.to_owned(), tx);
    }

    pub(crate) fn forget_reply(&self, id: &str) {
        lock(&self.replies).remove(id);
    }

    pub(crate) fn await_iopub(&self, id: &str, tx: Sender<()>) {
        lock(&self.iopub_seen).insert(id.to_owned(), tx);
    }

    pub(crate) fn forget_iopub(&self, id: &str) {
        lock(&self.iopub_seen).remove(id);
    }

    /// Sends output to the user.
    fn show(&self, out: Output) {
        let _ = match out {
            Output::Stdout(b) => self.host.stdout(b),
            Output::Stderr(b) => self.host.stderr(b),
            Output::Html(h) => self.host.html(&h),
            Output::Media(m) => self.host.emit("media", m.to_string().as_bytes()),
        };
    }

    /// Records the kernel's death and tells everyone waiting.
    fn died(&self, status: i32) {
        *lock(&self.exit_status) = Some(status);
        self.alive.store(false, Ordering::SeqCst);
        self.to_query(Event::Died(status));
        lock(&self.replies).clear();
        lock(&self.iopub_seen).clear();
        self.close();
    }
}

/// Starts the thread that follows the kernel process: its own output and its exit.
pub(crate) fn watch_process(shared: &Arc<Shared>) -> std::io::Result<()> {
    let shared = Arc::clone(shared);
    std::thread::Builder::new()
        .name("jupyter-kernel".into())
        .spawn(move || loop {
            match shared.process.next_event(None) {
                Ok(sdk::Event::Stdout(b)) | Ok(sdk::Event::Stderr(b))
                    if !shared.query_running() =>
                {
                    let mut tail = lock(&shared.tail);
                    tail.extend_from_slice(&b);
                    let excess = tail.len().saturating_sub(TAIL);
                    tail.drain(..excess);
                }
                // Output a kernel writes to its own descriptors (R's `system()`, say) while a
                // query runs belongs to the query.
                Ok(sdk::Event::Stdout(b)) => shared.show(Output::Stdout(b)),
                Ok(sdk::Event::Stderr(b)) => shared.show(Output::Stderr(b)),
                Ok(sdk::Event::Timeout) => {}
                Ok(sdk::Event::Exit(status)) => return shared.died(status),
                Err(_) => return shared.died(-1),
            }
        })
        .map(drop)
}

/// Starts the thread that reads `channel`.
pub(crate) fn listen(
    shared: &Arc<Shared>,
    channel: Channel,
    mut reader: Reader,
) -> std::io::Result<()> {
    let shared = Arc::clone(shared);
    std::thread::Builder::new()
        .name(format!("jupyter-{}", channel.name()))
        .spawn(move || {
            while let Ok(received) = reader.recv() {
                match received {
                    Received::Message(frames) => match shared.session.decode(&frames) {
                        Ok(m) => route(&shared, channel, m),
                        Err(e) => shared.host.warn(&format!(
                            "dropped a message on the kernel's {} channel: {e}",
                            channel.name()
                        )),
                    },
                    Received::Oversized(n) => shared.host.warn(&format!(
                        "dropped a message of {} MiB from the kernel (the limit is {} MiB)",
                        n >> 20,
                        MAX_MESSAGE >> 20
                    )),
                }
            }
            // The kernel closed a connection: it is exiting, or broken beyond use.
            if shared.alive() {
                shared.process.terminate();
            }
        })
        .map(drop)
}

fn route(shared: &Shared, channel: Channel, m: Message) {
    let parent = m.parent_id().to_owned();
    match channel {
        Channel::Iopub => {
            if let Some(tx) = lock(&shared.iopub_seen).remove(&parent) {
                let _ = tx.send(());
            }
            if !shared.query_running() {
                return;
            }
            if m.msg_type() == "status" {
                if m.content["execution_state"] == "idle" && shared.is_query(&parent) {
                    shared.to_query(Event::Idle);
                }
            } else if let Some(out) = output::of_iopub(m.msg_type(), &m.content) {
                shared.show(out);
            }
        }
        Channel::Stdin if m.msg_type() == "input_request" => shared.to_query(Event::Input {
            prompt: m.content["prompt"].as_str().unwrap_or_default().to_owned(),
            password: m.content["password"].as_bool().unwrap_or(false),
            request: m.header.clone(),
        }),
        Channel::Shell if m.msg_type() == "execute_reply" && shared.is_query(&parent) => {
            shared.to_query(Event::Reply(m));
        }
        Channel::Shell | Channel::Control => {
            if let Some(tx) = lock(&shared.replies).remove(&parent) {
                let _ = tx.send(m);
            }
        }
        Channel::Stdin | Channel::Heartbeat => {}
    }
}
