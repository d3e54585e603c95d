//! The dispatcher: every decoded op goes where it is handled, and the receive loop never waits
//! on a task, a plugin or a subprocess (docs/protocol.md §2.2).
//!
//! Queued ops go to the task thread, completions to their own lane, service ops to the
//! service supervisor (which answers in request order), and `status`, `input` and `interrupt`
//! are answered or applied on the spot. A malformed message is logged and skipped, and the
//! reply it owes is still sent, in its place; so is a message over the size limit, except that
//! a task op over it still becomes a task, which reports the problem in its place.
//!
//! The dispatcher never waits: nothing it does sends task output, and the thread it runs on
//! drops rather than waits for room in the outbound queue ([`crate::wire::never_block_here`]),
//! so an agent that stops reading cannot keep it from handling `interrupt` or a signal.

use std::sync::Arc;

use anyhow::Context as _;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use super::completion::{self, Question};
use crate::context::Context;
use crate::logging::WIRE;
use crate::messages;
use crate::plugin::RunnerSlot;
use crate::services::Services;
use crate::tasks::{Task, Tasks};
use crate::wire::{self, Held, Inbound, Msg, Op, Outbox};

/// Routes ops until SIGTERM or SIGINT.
pub(super) struct Dispatcher {
    pub(super) context: Arc<Context>,
    pub(super) runner: Arc<RunnerSlot>,
    pub(super) services: Arc<Services>,
    pub(super) outbox: Outbox,
    pub(super) started_at: f64,
    /// Whether the console's private op is accepted (`--console-ops`, docs/protocol.md §2.11).
    pub(super) console_ops: bool,
}

/// Where the dispatcher hands questions for the plugin.
struct Lanes {
    complete: mpsc::UnboundedSender<completion::Request>,
    is_complete: mpsc::UnboundedSender<completion::Request>,
}

impl Dispatcher {
    /// Receives ops from `inbound` until a termination signal arrives or the socket thread
    /// stops.
    pub(super) async fn run(
        &self,
        mut inbound: mpsc::UnboundedReceiver<Inbound>,
        tasks: &Tasks,
    ) -> anyhow::Result<()> {
        let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let lanes = Lanes {
            complete: self.start_lane(Question::Complete),
            is_complete: self.start_lane(Question::IsComplete),
        };
        loop {
            tokio::select! {
                frames = inbound.recv() => match frames {
                    Some(op) => self.dispatch(op, tasks, &lanes),
                    None => break,
                },
                _ = sigterm.recv() => {
                    tracing::info!("SIGTERM received; shutting down");
                    break;
                }
                _ = sigint.recv() => {
                    tracing::info!("SIGINT received; shutting down");
                    break;
                }
            }
        }
        Ok(())
    }

    /// Starts the lane that answers `question`; returns where its requests go.
    fn start_lane(&self, question: Question) -> mpsc::UnboundedSender<completion::Request> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(completion::lane(
            question,
            Arc::clone(&self.runner),
            self.outbox.clone(),
            rx,
        ));
        tx
    }

    /// Hands one op on. Its share of the inbound budget (`held`) goes with a task, and is
    /// given back here for everything else.
    fn dispatch(&self, Inbound { body, held }: Inbound, tasks: &Tasks, lanes: &Lanes) {
        let decoded = if self.console_ops {
            wire::decode_private(body)
        } else {
            wire::decode(body)
        };
        let op = match decoded {
            Ok(op) => op,
            Err(e) if e.is_too_large() => {
                tracing::error!(target: WIRE, "rejected a message: {e}");
                if let Some(reply) = e.owed_reply() {
                    self.answer_malformed(reply.clone(), lanes);
                }
                return;
            }
            Err(e) => {
                tracing::warn!(target: WIRE, "ignoring a malformed message: {e}");
                if let Some(reply) = e.owed_reply() {
                    self.answer_malformed(reply.clone(), lanes);
                }
                return;
            }
        };
        tracing::debug!("op {}", op.name());
        match op {
            Op::Clean(c) => tasks.submit(Task::Clean(c), held),
            Op::Build(c) => tasks.submit(Task::Build(c), held),
            Op::Exec(c) => tasks.submit(Task::Exec(c), held),
            Op::Code(c) => tasks.submit(Task::Code(c), held),
            Op::Input(text) => {
                if let Err(e) = self.context.input.push(text) {
                    tracing::error!(target: WIRE, "{e}");
                }
            }
            Op::Complete(json) => {
                let _ = lanes.complete.send(completion::Request::new(Some(json)));
            }
            Op::IsComplete(json) => {
                let _ = lanes.is_complete.send(completion::Request::new(Some(json)));
            }
            Op::Interrupt => self.interrupt(held),
            Op::Status => self.outbox.send(Msg::Status {
                started_at: self.started_at,
            }),
            Op::Event(event) => self.event(event, held),
            Op::StartService(payload) => self.services.start_service(payload),
            Op::ShutdownService(payload) => self.services.shutdown_service(&payload),
            Op::GetApps(filter) => self.services.get_apps(filter),
            Op::StartModelService(payload) => self.services.start_model_service(payload),
        }
    }

    /// Sends the reply a malformed request owes, through the lane that keeps its order.
    fn answer_malformed(&self, reply: Msg, lanes: &Lanes) {
        match reply {
            Msg::Completion(_) => {
                let _ = lanes.complete.send(completion::Request::new(None));
            }
            Msg::IsComplete(_) => {
                let _ = lanes.is_complete.send(completion::Request::new(None));
            }
            reply @ Msg::ServiceResult(_) => self.services.answer_start_service(reply),
            reply @ Msg::ModelServiceResult(_) => self.services.answer_start_model_service(reply),
            reply @ Msg::AppsResult(_) => self.services.answer_get_apps(reply),
            reply => self.outbox.send(reply),
        }
    }

    /// Interrupts the task and tells the plugin through its interrupt lane.
    fn interrupt(&self, _held: Held) {
        let signalled = self.context.interrupt();
        tracing::debug!("interrupt: signalled {signalled} process group(s)");
        if let Some(task) = self.context.current_task() {
            // The runner's interrupt lane is bounded and never waits, so the op's charge ends
            // here.
            self.runner.interrupt(task);
        }
    }

    /// Logs an event and passes it to the plugin through its events lane.
    fn event(&self, event: serde_json::Value, _held: Held) {
        if event.get("type").and_then(|t| t.as_str()) == Some("oom") {
            tracing::warn!("{}", messages::OUT_OF_MEMORY);
        } else {
            tracing::info!("agent-notified event: {event}");
        }
        // The events lane is bounded and never waits.
        self.runner.on_event(&event);
    }
}
