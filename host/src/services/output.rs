//! What a service prints: copied to the container log as it comes, with its last lines kept.
//!
//! A service that exits before opening its port is reported with its exit status and the last
//! lines it printed (docs/protocol.md §6.4), because that is where an app says why: Python's
//! `No module named jupyterlab`, a traceback, a config error. One thread per stream copies
//! the bytes to the host's own stdout or stderr (where inherited output used to go) and keeps
//! the last [`TAIL_LINES`] lines of both streams, each cut at [`LINE_BYTES`]. The threads end
//! when every process holding the pipe has closed it: the service, its children, and the
//! kernels a Jupyter server starts in sessions of their own.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Lines kept of a service's output.
pub(crate) const TAIL_LINES: usize = 12;
/// Bytes kept of one line; a longer line is kept in pieces of this size.
pub(crate) const LINE_BYTES: usize = 400;
/// Bytes read at a time.
const CHUNK: usize = 8 << 10;

/// Which of the host's streams a service stream is copied to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    /// The host's stdout.
    Stdout,
    /// The host's stderr.
    Stderr,
}

#[derive(Default)]
struct State {
    lines: VecDeque<String>,
    /// Streams still open.
    open: usize,
}

/// The last lines of a service's output, shared by its copier threads and its start.
#[derive(Clone, Default)]
pub(crate) struct Tail {
    inner: Arc<(Mutex<State>, Condvar)>,
}

impl Tail {
    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\r', '\n']);
        let mut state = self.state();
        if state.lines.len() == TAIL_LINES {
            state.lines.pop_front();
        }
        state.lines.push_back(text.to_owned());
    }

    fn close_one(&self) {
        let mut state = self.state();
        state.open = state.open.saturating_sub(1);
        self.inner.1.notify_all();
    }

    /// Waits until every stream has ended, at most `timeout`, and returns the kept lines.
    pub(crate) fn wait_lines(&self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        while state.open > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = match self.inner.1.wait_timeout(state, left) {
                Ok((s, _)) => s,
                Err(e) => e.into_inner().0,
            };
        }
        state.lines.iter().cloned().collect()
    }

    /// Starts a thread named `name` copying `from` to `to` and keeping its lines; when the
    /// thread cannot start, the stream is dropped (the service then writes to a closed pipe).
    pub(crate) fn follow(&self, name: String, from: impl Read + Send + 'static, to: Stream) {
        self.state().open += 1;
        let tail = self.clone();
        let copier = tail.clone();
        let started = std::thread::Builder::new()
            .name(name)
            .spawn(move || copy(from, to, &copier));
        if let Err(e) = started {
            tracing::warn!("cannot follow a service's output: {e}");
            tail.close_one();
        }
    }
}

/// Copies until end of file, splitting lines as they complete.
fn copy(mut from: impl Read, to: Stream, tail: &Tail) {
    let mut buf = vec![0u8; CHUNK];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        forward(to, &buf[..n]);
        for &b in &buf[..n] {
            if b == b'\n' {
                tail.push(&line);
                line.clear();
            } else if line.len() < LINE_BYTES {
                line.push(b);
            }
        }
    }
    if !line.is_empty() {
        tail.push(&line);
    }
    tail.close_one();
}

/// Writes to the container log; a log nobody can write to loses the bytes, not the service.
fn forward(to: Stream, bytes: &[u8]) {
    let _ = match to {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|()| out.flush())
        }
        Stream::Stderr => std::io::stderr().lock().write_all(bytes),
    };
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_of_both_streams() {
        let tail = Tail::default();
        let many: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        tail.follow("t-out".into(), std::io::Cursor::new(many), Stream::Stdout);
        let lines = tail.wait_lines(Duration::from_secs(5));
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines.first().map(String::as_str), Some("line 9"));
        assert_eq!(lines.last().map(String::as_str), Some("line 20"));
        tail.follow(
            "t-err".into(),
            std::io::Cursor::new("no newline at the end"),
            Stream::Stderr,
        );
        let lines = tail.wait_lines(Duration::from_secs(5));
        assert_eq!(
            lines.last().map(String::as_str),
            Some("no newline at the end")
        );
    }

    #[test]
    fn long_lines_are_cut() {
        let tail = Tail::default();
        let long = format!("{}\nshort\n", "x".repeat(10 * LINE_BYTES));
        tail.follow("t-long".into(), std::io::Cursor::new(long), Stream::Stdout);
        let lines = tail.wait_lines(Duration::from_secs(5));
        assert_eq!(lines, vec!["x".repeat(LINE_BYTES), "short".to_owned()]);
    }
}
