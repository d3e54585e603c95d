//! The console's connection to its private runner: ops out, messages in, and the two
//! questions the editor asks while the user types (`complete` and the private
//! `krunner/is-complete`, docs/protocol.md §2.7, §2.11).
//!
//! Replies are matched by order, as the agent matches them: a question that was not answered
//! in time is remembered, and its late answer is dropped when it comes. Messages that arrive
//! while a question waits (output of a snippet still running) are kept, up to
//! [`BACKLOG`], and handed out first by [`Link::next`].

use std::collections::VecDeque;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use krunner_agent_client::{LocalRunner, Message};
use krunner_plugin_api::{IsCompleteReply, IsCompleteRequest};

use super::error::ConsoleError;
use crate::commands::run::{start_runner, StartOptions};

/// Messages kept while a question waits; beyond that the rest waits in the socket.
const BACKLOG: usize = 4096;

/// How long the editor waits for completions (the runner answers within 1 s).
const COMPLETION_WAIT: Duration = Duration::from_millis(1500);

/// How long the editor waits to learn whether a snippet is complete (the runner answers
/// within 3 s).
const IS_COMPLETE_WAIT: Duration = Duration::from_millis(3500);

/// The reply type of `krunner/is-complete`.
const IS_COMPLETE_REPLY: &str = "krunner/is-complete-reply";

/// A private runner and what is in flight with it.
pub(super) struct Link {
    options: StartOptions,
    runner: LocalRunner,
    backlog: VecDeque<Message>,
    /// Answers still to come for `complete` requests given up on.
    stale_completions: usize,
    /// Answers still to come for `krunner/is-complete` requests given up on.
    stale_verdicts: usize,
}

impl Link {
    /// Starts a runner with `options` (which must include `--console-ops`).
    pub(super) fn start(options: StartOptions) -> Result<Self, ConsoleError> {
        let runner = start_runner(&options).map_err(ConsoleError::Start)?;
        let mut link = Self {
            options,
            runner,
            backlog: VecDeque::new(),
            stale_completions: 0,
            stale_verdicts: 0,
        };
        link.warm_up()?;
        Ok(link)
    }

    /// Asks once whether nothing is a complete snippet, without waiting: a plugin with an
    /// interpreter starts it now, while the user types, rather than at the first Enter.
    fn warm_up(&mut self) -> Result<(), ConsoleError> {
        self.send("krunner/is-complete", r#"{"code":""}"#)?;
        self.stale_verdicts += 1;
        Ok(())
    }

    /// Stops the runner and starts a fresh one (`:reset`, or after it died).
    pub(super) fn restart(&mut self) -> Result<(), ConsoleError> {
        self.runner.terminate();
        *self = Self::start(self.options.clone())?;
        Ok(())
    }

    /// How the runner exited, if it has.
    pub(super) fn exited(&mut self) -> Option<ExitStatus> {
        self.runner.try_wait().ok().flatten()
    }

    /// Sends an op.
    pub(super) fn send(&self, op: &str, payload: impl AsRef<[u8]>) -> Result<(), ConsoleError> {
        Ok(self.runner.client().send(op, payload)?)
    }

    /// The next message that is not a stale reply, waiting at most `timeout` (`None` also
    /// when a signal interrupts the wait).
    pub(super) fn next(&mut self, timeout: Duration) -> Result<Option<Message>, ConsoleError> {
        if let Some(m) = self.backlog.pop_front() {
            return Ok(Some(m));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(m) = self.runner.client().recv(left)? else {
                return Ok(None);
            };
            if !self.is_stale(&m) {
                return Ok(Some(m));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// Whether `m` answers a question given up on (and so is dropped).
    fn is_stale(&mut self, m: &Message) -> bool {
        let stale = match m.kind.as_str() {
            "completion" => &mut self.stale_completions,
            IS_COMPLETE_REPLY => &mut self.stale_verdicts,
            _ => return false,
        };
        // A reply nobody asked for is dropped as well.
        *stale = stale.saturating_sub(1);
        true
    }

    /// Completions for a `complete` request (JSON); none when the runner does not answer in
    /// time.
    pub(super) fn complete(&mut self, request: &serde_json::Value) -> Vec<String> {
        match self.ask(
            "complete",
            &request.to_string(),
            "completion",
            COMPLETION_WAIT,
        ) {
            Some(m) => m
                .try_json()
                .ok()
                .and_then(|v| serde_json::from_value(v["suggestions"].clone()).ok())
                .unwrap_or_default(),
            None => {
                self.stale_completions += 1;
                Vec::new()
            }
        }
    }

    /// Whether `code` is a complete snippet; `unknown` when the runner does not answer in
    /// time.
    pub(super) fn is_complete(&mut self, code: &str) -> IsCompleteReply {
        let request = IsCompleteRequest { code: code.into() };
        let json = serde_json::to_string(&request).unwrap_or_default();
        match self.ask(
            "krunner/is-complete",
            &json,
            IS_COMPLETE_REPLY,
            IS_COMPLETE_WAIT,
        ) {
            Some(m) => serde_json::from_slice(&m.payload).unwrap_or_default(),
            None => {
                self.stale_verdicts += 1;
                IsCompleteReply::default()
            }
        }
    }

    /// Sends `op` and waits for the first `reply` that is not stale, keeping other messages.
    fn ask(&mut self, op: &str, payload: &str, reply: &str, wait: Duration) -> Option<Message> {
        self.send(op, payload).ok()?;
        let deadline = Instant::now() + wait;
        while self.backlog.len() < BACKLOG {
            let left = deadline.checked_duration_since(Instant::now())?;
            let m = match self.runner.client().recv(left) {
                Ok(Some(m)) => m,
                Ok(None) => continue,
                Err(_) => return None,
            };
            if m.kind == reply && !self.is_stale_reply(reply) {
                return Some(m);
            }
            if m.kind != reply && !self.is_stale(&m) {
                self.backlog.push_back(m);
            }
        }
        None
    }

    /// For a reply of the kind being waited for: whether it answers an earlier request
    /// given up on (it is then dropped and counted off).
    fn is_stale_reply(&mut self, reply: &str) -> bool {
        let stale = if reply == IS_COMPLETE_REPLY {
            &mut self.stale_verdicts
        } else {
            &mut self.stale_completions
        };
        if *stale > 0 {
            *stale -= 1;
            return true;
        }
        false
    }
}
