//! The completion lane: `complete` requests are answered one at a time, in order, each within
//! a deadline, on their own lane so they never wait behind a running task (docs/protocol.md
//! §2.7). A request the plugin cannot answer in time gets an empty answer: the agent matches
//! completions FIFO, so every request gets exactly one.
//!
//! The deadline runs from the request's arrival, so requests that queued behind a slow one are
//! not answered later for it. The plugin's `complete` runs on the blocking pool, and a call that
//! missed its deadline is left to finish on its own. A plugin whose `complete` hangs would
//! leave a blocked thread behind for every request, so at most [`CALLS`] calls may run at once:
//! while that many hang, a request waits for one of them to return until its own deadline, and
//! is then answered empty without calling the plugin.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Semaphore};
use tokio::time::timeout_at;

use crate::logging::WIRE;
use crate::plugin::RunnerSlot;
use crate::wire::{Msg, Outbox};

/// How long a completion may take before an empty answer is sent instead.
const DEADLINE: Duration = Duration::from_secs(1);

/// How many calls of the plugin's `complete` may run at once (answered or not).
const CALLS: usize = 4;

/// A completion request as it arrived.
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

/// Answers `requests` until the channel closes.
pub(super) async fn lane(
    runner: Arc<RunnerSlot>,
    outbox: Outbox,
    mut requests: mpsc::UnboundedReceiver<Request>,
) {
    let calls = Arc::new(Semaphore::new(CALLS));
    while let Some(request) = requests.recv().await {
        let deadline = request.received + DEADLINE;
        let suggestions = match request.json {
            None => Vec::new(),
            Some(json) => complete(&runner, &calls, json, deadline).await,
        };
        outbox.send(Msg::Completion(suggestions));
    }
}

async fn complete(
    runner: &Arc<RunnerSlot>,
    calls: &Arc<Semaphore>,
    json: String,
    deadline: Instant,
) -> Vec<String> {
    let deadline = tokio::time::Instant::from_std(deadline);
    if deadline <= tokio::time::Instant::now() {
        tracing::debug!("a completion request waited past its deadline; answering empty");
        return Vec::new();
    }
    let Ok(Ok(permit)) = timeout_at(deadline, Arc::clone(calls).acquire_owned()).await else {
        tracing::debug!("{CALLS} completion calls are still running; answering empty");
        return Vec::new();
    };
    let runner = Arc::clone(runner);
    let job = tokio::task::spawn_blocking(move || {
        let _running = permit;
        runner.complete(&json)
    });
    match timeout_at(deadline, job).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::warn!(target: WIRE, "completion failed: {e}");
            Vec::new()
        }
        Err(_) => {
            tracing::debug!("completion took longer than {DEADLINE:?}");
            Vec::new()
        }
    }
}
