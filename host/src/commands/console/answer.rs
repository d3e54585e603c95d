//! Answers to a snippet's input requests (`waiting-input`, docs/protocol.md §5.5): a line
//! read with the line editor, after the program's prompt, with Tab completing from the
//! runner while the snippet runs; or a password, read with echo off, a piece at a time
//! between the runner's messages so that Ctrl-C still interrupts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustyline::error::ReadlineError;

use super::editor::ConsoleEditor;
use super::error::ConsoleError;
use super::screen::Screen;
use crate::sys;

/// The longest password line kept.
const PASSWORD_MAX: usize = 1 << 20;

/// What the user answered.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Answer {
    /// A line (without its newline).
    Line(String),
    /// End of input (Ctrl-D).
    Eof,
    /// Ctrl-C: interrupt the snippet.
    Interrupt,
}

/// Reads an answer with the line editor, showing the program's prompt as the editor's.
pub(super) fn line(
    editor: &mut ConsoleEditor,
    screen: &mut Screen,
    answering: &Arc<AtomicBool>,
) -> Result<Answer, ConsoleError> {
    let prompt = screen.take_prompt()?;
    answering.store(true, Ordering::SeqCst);
    let read = editor.readline(&prompt);
    answering.store(false, Ordering::SeqCst);
    screen.line_done();
    match read {
        Ok(text) => Ok(Answer::Line(text)),
        Err(ReadlineError::Eof) => Ok(Answer::Eof),
        Err(ReadlineError::Interrupted) => Ok(Answer::Interrupt),
        Err(e) => Err(e.into()),
    }
}

/// A password being read from the terminal, with echo off until it is dropped.
pub(super) struct Password {
    _no_echo: Option<sys::NoEcho>,
    line: Vec<u8>,
}

impl Password {
    /// Turns echo off (when standard input is a terminal).
    pub(super) fn start() -> Self {
        Self {
            _no_echo: sys::stdin_is_tty().then(sys::NoEcho::start).flatten(),
            line: Vec::new(),
        }
    }

    /// Takes what the user typed so far, without waiting; the answer once the line is
    /// complete (Enter) or input ended (Ctrl-D).
    pub(super) fn poll(&mut self) -> Option<Answer> {
        let mut fds = [sys::poll_fd(0, libc::POLLIN)];
        if !matches!(sys::poll(&mut fds, 0), Ok(n) if n > 0) {
            return None;
        }
        let mut buf = [0u8; 4096];
        let n = match sys::read(0, &mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return None,
            Err(_) => return Some(Answer::Eof),
        };
        if n == 0 {
            return Some(if self.line.is_empty() {
                Answer::Eof
            } else {
                Answer::Line(self.take(self.line.len()))
            });
        }
        if self.line.len() + n <= PASSWORD_MAX {
            self.line.extend_from_slice(&buf[..n]);
        }
        let end = self.line.iter().position(|&b| b == b'\n')?;
        Some(Answer::Line(self.take(end)))
    }

    fn take(&mut self, end: usize) -> String {
        let text = String::from_utf8_lossy(&self.line[..end]);
        text.strip_suffix('\r').unwrap_or(&text).to_owned()
    }
}
