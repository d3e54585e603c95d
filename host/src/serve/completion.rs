//! The completion lane: `complete` requests are answered one at a time, in order, each within
//! a deadline, on their own lane so they never wait behind a running task (docs/protocol.md
//! §2.7). A request the plugin cannot answer in time gets an empty answer: the agent matches
//! completions FIFO, so every request gets exactly one.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::logging::WIRE;
use crate::plugin::RunnerSlot;
use crate::wire::{Msg, Outbox};

/// How long a completion may take before an empty answer is sent instead.
const DEADLINE: Duration = Duration::from_secs(1);

/// A completion request: its JSON payload, or `None` for one too malformed to pass on (it
/// is still answered, in its place).
pub(super) type Request = Option<String>;

/// Answers `requests` until the channel closes.
pub(super) async fn lane(
    runner: Arc<RunnerSlot>,
    outbox: Outbox,
    mut requests: mpsc::UnboundedReceiver<Request>,
) {
    while let Some(request) = requests.recv().await {
        let suggestions = match request {
            None => Vec::new(),
            Some(json) => complete(&runner, json).await,
        };
        outbox.send(Msg::Completion(suggestions));
    }
}

async fn complete(runner: &Arc<RunnerSlot>, json: String) -> Vec<String> {
    let runner = Arc::clone(runner);
    let job = tokio::task::spawn_blocking(move || runner.complete(&json));
    match tokio::time::timeout(DEADLINE, job).await {
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
