//! The completion lane: `complete` requests are answered one at a time, in order, each within
//! a deadline, on their own lane so they never wait behind a running task (docs/protocol.md
//! §2.7). A request the plugin cannot answer in time gets an empty answer: the agent matches
//! completions FIFO, so every request gets exactly one. The console's private
//! `krunner/is-complete` (§2.11) is a question of the same kind and gets a lane of its own.
//!
//! The deadline runs from the request's arrival, so requests that queued behind a slow one are
//! not answered later for it. The plugin's method runs on the blocking pool, and a call that
//! missed its deadline is left to finish on its own. A plugin whose method hangs would leave a
//! blocked thread behind for every request, so at most [`CALLS`] calls per lane may run at
//! once: while that many hang, a request waits for one of them to return until its own
//! deadline, and is then answered empty without calling the plugin.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Semaphore};
use tokio::time::timeout_at;

use crate::logging::WIRE;
use crate::plugin::RunnerSlot;
use crate::wire::{Msg, Outbox, UNKNOWN_COMPLETENESS};

/// How many calls of the plugin's method may run at once on one lane (answered or not).
const CALLS: usize = 4;

/// What a lane asks the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Question {
    /// `complete` → `completion`.
    Complete,
    /// `krunner/is-complete` → `krunner/is-complete-reply` (the console's private op).
    IsComplete,
}

impl Question {
    /// How long an answer may take before the empty one is sent instead. Completion's second
    /// is the protocol's; the console's question may start an interpreter (its first use).
    fn deadline(self) -> Duration {
        match self {
            Question::Complete => krunner_plugin_api::abi::COMPLETE_DEADLINE,
            Question::IsComplete => krunner_plugin_api::abi::IS_COMPLETE_DEADLINE,
        }
    }

    /// The answer when the plugin cannot give one.
    fn empty(self) -> Msg {
        match self {
            Question::Complete => Msg::Completion(Vec::new()),
            Question::IsComplete => Msg::IsComplete(UNKNOWN_COMPLETENESS.into()),
        }
    }

    /// Asks the runner (blocking).
    fn ask(self, runner: &RunnerSlot, json: &str) -> Msg {
        match self {
            Question::Complete => Msg::Completion(runner.complete(json)),
            Question::IsComplete => Msg::IsComplete(runner.is_complete(json)),
        }
    }
}

/// A request as it arrived.
pub(super) struct Request {
    /// Its JSON payload, or `None` for one too malformed to pass on (it is still answered, in
    /// its place).
    json: Option<String>,
    /// When it arrived; its deadline runs from here.
    received: Instant,
}

impl Request {
    /// A request arriving now.
    pub(super) fn new(json: Option<String>) -> Self {
        Self {
            json,
            received: Instant::now(),
        }
    }
}

/// Answers `requests` with `question`'s answers until the channel closes.
pub(super) async fn lane(
    question: Question,
    runner: Arc<RunnerSlot>,
    outbox: Outbox,
    mut requests: mpsc::UnboundedReceiver<Request>,
) {
    let calls = Arc::new(Semaphore::new(CALLS));
    while let Some(request) = requests.recv().await {
        let deadline = request.received + question.deadline();
        let answer = match request.json {
            None => question.empty(),
            Some(json) => ask(question, &runner, &calls, json, deadline).await,
        };
        outbox.send(answer);
    }
}

async fn ask(
    question: Question,
    runner: &Arc<RunnerSlot>,
    calls: &Arc<Semaphore>,
    json: String,
    deadline: Instant,
) -> Msg {
    let deadline = tokio::time::Instant::from_std(deadline);
    if deadline <= tokio::time::Instant::now() {
        tracing::debug!("a {question:?} request waited past its deadline; answering empty");
        return question.empty();
    }
    let Ok(Ok(permit)) = timeout_at(deadline, Arc::clone(calls).acquire_owned()).await else {
        tracing::debug!("{CALLS} {question:?} calls are still running; answering empty");
        return question.empty();
    };
    let runner = Arc::clone(runner);
    let job = tokio::task::spawn_blocking(move || {
        let _running = permit;
        question.ask(&runner, &json)
    });
    match timeout_at(deadline, job).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => {
            tracing::warn!(target: WIRE, "{question:?} failed: {e}");
            question.empty()
        }
        Err(_) => {
            tracing::debug!("{question:?} took longer than {:?}", question.deadline());
            question.empty()
        }
    }
}
