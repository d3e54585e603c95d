//! A query through a kernel: `execute_request`, the input requests it makes, its end (its
//! `execute_reply` and `status: idle`), its exit code; and the shell requests a console
//! asks between queries (completion, whether a snippet is complete).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use krunner_plugin_api::{Completeness, CompletionRequest, IsCompleteReply};
use serde_json::{json, Value};

use crate::kernel::Kernel;
use crate::routing::{lock, Event};
use crate::wire::Message;

/// How long the other half of a query's end (reply, idle) may lag behind the first.
const END_LAG: Duration = Duration::from_secs(5);

/// How long a kernel may go on after an interrupt before it is stopped.
pub const INTERRUPT_GRACE: Duration = Duration::from_secs(10);

/// How a query ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// With this exit code (and a line for stderr, if any).
    Exit(i32, Option<String>),
    /// The kernel died with this status.
    Died(i32),
    /// The kernel went on past [`INTERRUPT_GRACE`] after an interrupt and was stopped.
    Unresponsive,
}

/// How long to wait before sending a query the kernel aborted again.
const ABORT_RETRY_PAUSE: Duration = Duration::from_millis(300);

impl Kernel {
    /// Runs `code`. A query the kernel aborted without running it (tslab aborts what arrives
    /// within 200 ms of an error or an interrupt, whatever `stop_on_error` says) is sent once
    /// more after a pause, unless it was interrupted meanwhile.
    pub fn execute(&self, code: &str) -> Ended {
        *lock(&self.interrupted_at) = None;
        match self.execute_once(code) {
            Ended::Exit(_, _) if self.last_aborted() => {}
            other => return other,
        }
        let until = Instant::now() + ABORT_RETRY_PAUSE;
        while Instant::now() < until && lock(&self.interrupted_at).is_none() {
            std::thread::sleep(Duration::from_millis(10));
        }
        if lock(&self.interrupted_at).is_some() {
            return Ended::Exit(130, None);
        }
        self.execute_once(code)
    }

    fn last_aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    fn execute_once(&self, code: &str) -> Ended {
        self.aborted.store(false, Ordering::SeqCst);
        let (tx, rx) = crossbeam_channel::unbounded();
        let content = json!({
            "code": code,
            "silent": false,
            "store_history": true,
            "user_expressions": {},
            "allow_stdin": true,
            "stop_on_error": false,
        });
        let (id, frames) = self
            .shared
            .session
            .message("execute_request", &json!({}), &content);
        self.shared.begin_query(id, tx.clone());
        self.busy.store(true, Ordering::SeqCst);
        let ended = match self.shell.send(&frames) {
            Ok(()) => self.wait(&tx, &rx),
            Err(_) => self.died(&rx),
        };
        self.busy.store(false, Ordering::SeqCst);
        self.shared.end_query();
        ended
    }

    fn wait(&self, tx: &Sender<Event>, rx: &Receiver<Event>) -> Ended {
        let mut reply: Option<Value> = None;
        let mut idle = false;
        let mut lag_until: Option<Instant> = None;
        loop {
            let event = match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(e) => e,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Ended::Died(-1),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    if lag_until.is_some_and(|t| Instant::now() >= t) {
                        break;
                    }
                    if self.past_interrupt_grace() {
                        self.terminate();
                        return Ended::Unresponsive;
                    }
                    continue;
                }
            };
            match event {
                Event::Reply(m) => reply = Some(m.content),
                Event::Idle => idle = true,
                Event::Died(status) => return Ended::Died(status),
                Event::Input {
                    prompt,
                    password,
                    request,
                } => self.ask(tx, prompt, password, request),
                Event::Answer(Ok(text), request) => {
                    let (_, frames) = self.shared.session.message(
                        "input_reply",
                        &request,
                        &json!({"value": text, "status": "ok"}),
                    );
                    if self.stdin.send(&frames).is_err() {
                        return self.died(rx);
                    }
                }
                // Interrupted or shutting down: the interrupt ends the kernel's wait.
                Event::Answer(Err(_), _) => {}
            }
            if reply.is_some() && idle {
                break;
            }
            if reply.is_some() || idle {
                lag_until.get_or_insert_with(|| Instant::now() + END_LAG);
            }
        }
        let interrupted = lock(&self.interrupted_at).is_some();
        let status = reply.as_ref().and_then(|r| r["status"].as_str());
        let aborted = matches!(status, Some("abort" | "aborted")) && !interrupted;
        self.aborted.store(aborted, Ordering::SeqCst);
        let (code, line) = exit_code(reply.as_ref(), interrupted);
        Ended::Exit(code, line)
    }

    /// Asks the user on a helper thread, so that the end of the query (which may come first,
    /// after an interrupt) is never stuck behind a question nobody answers.
    fn ask(&self, tx: &Sender<Event>, prompt: String, password: bool, request: Value) {
        if lock(&self.interrupted_at).is_some() {
            return;
        }
        let (host, tx) = (self.shared.host.clone(), tx.clone());
        let asked = std::thread::Builder::new()
            .name("jupyter-input".into())
            .spawn(move || {
                let answer = host.read_input(&prompt, password);
                let _ = tx.send(Event::Answer(answer, request));
            });
        if asked.is_err() {
            self.shared.host.warn("could not ask for input");
        }
    }

    fn past_interrupt_grace(&self) -> bool {
        lock(&self.interrupted_at).is_some_and(|t| t.elapsed() >= INTERRUPT_GRACE)
    }

    fn died(&self, rx: &Receiver<Event>) -> Ended {
        let until = Instant::now() + Duration::from_secs(5);
        while let Ok(e) = rx.recv_deadline(until) {
            if let Event::Died(status) = e {
                return Ended::Died(status);
            }
        }
        self.terminate();
        Ended::Died(-1)
    }

    /// Completions at the cursor of `request`; empty when the kernel does not answer within
    /// `timeout` (a kernel busy with a query answers only after it).
    pub fn complete(&self, request: &CompletionRequest, timeout: Duration) -> Vec<String> {
        let (code, cursor_pos) = cursor(request);
        let content = json!({"code": code, "cursor_pos": cursor_pos});
        let Some(reply) = self.shell_request("complete_request", &content, timeout) else {
            return Vec::new();
        };
        reply.content["matches"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `code` is a complete snippet, by the kernel's `is_complete_request`; `unknown`
    /// at once while a query runs (kernels answer shell requests one at a time, so the answer
    /// would come after the query), and when the kernel does not answer within `timeout`.
    pub fn is_complete(&self, code: &str, timeout: Duration) -> IsCompleteReply {
        if self.busy.load(Ordering::SeqCst) {
            return IsCompleteReply::new(Completeness::Unknown);
        }
        self.shell_request("is_complete_request", &json!({ "code": code }), timeout)
            .map(|reply| completeness(&reply.content))
            .unwrap_or_else(|| IsCompleteReply::new(Completeness::Unknown))
    }

    /// Sends a `msg_type` request on the shell channel and waits at most `timeout` for its
    /// reply; a late reply is dropped.
    fn shell_request(&self, msg_type: &str, content: &Value, timeout: Duration) -> Option<Message> {
        let (id, frames) = self.shared.session.message(msg_type, &json!({}), content);
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.shared.await_reply(&id, tx);
        let reply = match self.shell.send(&frames) {
            Ok(()) => rx.recv_timeout(timeout).ok(),
            Err(_) => None,
        };
        self.shared.forget_reply(&id);
        reply
    }
}

/// An `is_complete_reply`'s content as krunner's answer: Jupyter's statuses are krunner's,
/// `indent` is kept for `incomplete` only, and anything else reads as `unknown`.
pub fn completeness(content: &Value) -> IsCompleteReply {
    match content["status"].as_str() {
        Some("complete") => IsCompleteReply::new(Completeness::Complete),
        Some("incomplete") => {
            IsCompleteReply::incomplete(content["indent"].as_str().unwrap_or_default())
        }
        Some("invalid") => IsCompleteReply::new(Completeness::Invalid),
        _ => IsCompleteReply::new(Completeness::Unknown),
    }
}

/// The code and the cursor offset (in characters, as the protocol counts them) of a
/// completion request: the whole buffer with the cursor at `row`/`col`, or the line alone
/// when the buffer is empty.
pub fn cursor(request: &CompletionRequest) -> (String, usize) {
    let col = usize::try_from(request.col).unwrap_or(0);
    if request.code.is_empty() {
        let line = &request.line;
        return (line.clone(), col.min(line.chars().count()));
    }
    let row = usize::try_from(request.row).unwrap_or(0);
    let mut offset = 0;
    for (i, line) in request.code.split('\n').enumerate() {
        let len = line.chars().count();
        if i == row {
            return (request.code.clone(), offset + col.min(len));
        }
        offset += len + 1;
    }
    (request.code.clone(), request.code.chars().count())
}

/// The exit code of a query from its `execute_reply` content, and a line to show when the
/// status needs one:
///
/// | reply | exit code |
/// |---|---|
/// | any, after an interrupt (kernels reply `ok`, `error` or `abort` to one) | 130 |
/// | `ok` | 0 |
/// | `error` | 1 |
/// | `abort`/`aborted` (the kernel did not run the code) | 1 with a line |
/// | none within 5 s of `status: idle` | 1 with a line |
/// | another status | 1 with a line |
pub fn exit_code(reply: Option<&Value>, interrupted: bool) -> (i32, Option<String>) {
    if interrupted && reply.is_some() {
        return (130, None);
    }
    let Some(reply) = reply else {
        return (
            1,
            Some("finished the query without an execute_reply".into()),
        );
    };
    match reply["status"].as_str().unwrap_or_default() {
        "ok" => (0, None),
        "error" => (1, None),
        "abort" | "aborted" => (
            1,
            Some(
                "aborted the query without running it (kernels abort what arrives just after \
                 an error; send it again)"
                    .into(),
            ),
        ),
        other => (1, Some(format!("ended the query with status {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(code: &str, line: &str, row: i64, col: i64) -> CompletionRequest {
        CompletionRequest {
            code: code.into(),
            line: line.into(),
            row,
            col,
            post: String::new(),
        }
    }

    #[test]
    fn cursor_offsets_count_characters() {
        assert_eq!(cursor(&request("ab\ncd", "cd", 1, 1)).1, 4);
        assert_eq!(cursor(&request("é\nx", "x", 1, 1)).1, 3);
        assert_eq!(cursor(&request("ab", "ab", 0, 99)).1, 2);
        assert_eq!(cursor(&request("ab", "ab", 5, 0)).1, 2);
        assert_eq!(cursor(&request("", "pri", 0, 3)), ("pri".to_owned(), 3));
    }

    #[test]
    fn is_complete_replies_map_to_krunner_answers() {
        let reply = |v: Value| completeness(&v);
        assert_eq!(
            reply(json!({"status": "incomplete", "indent": "    "})),
            IsCompleteReply::incomplete("    ")
        );
        assert_eq!(
            reply(json!({"status": "incomplete"})),
            IsCompleteReply::incomplete("")
        );
        assert_eq!(
            reply(json!({"status": "complete", "indent": "  "})),
            IsCompleteReply::new(Completeness::Complete)
        );
        assert_eq!(
            reply(json!({"status": "invalid"})).status,
            Completeness::Invalid
        );
        for other in [
            json!({"status": "unknown"}),
            json!({"status": "error"}),
            json!({}),
        ] {
            assert_eq!(reply(other).status, Completeness::Unknown);
        }
    }

    #[test]
    fn exit_codes() {
        let st = |s: &str| json!({ "status": s });
        assert_eq!(exit_code(Some(&st("ok")), true), (130, None));
        assert_eq!(exit_code(Some(&st("ok")), false), (0, None));
        assert_eq!(exit_code(Some(&st("error")), false), (1, None));
        assert_eq!(exit_code(Some(&st("error")), true), (130, None));
        assert_eq!(exit_code(Some(&st("abort")), true), (130, None));
        assert_eq!(exit_code(Some(&st("aborted")), false).0, 1);
        assert!(exit_code(Some(&st("aborted")), false).1.is_some());
        assert_eq!(exit_code(Some(&st("weird")), false).0, 1);
        assert_eq!(exit_code(None, false).0, 1);
    }
}
