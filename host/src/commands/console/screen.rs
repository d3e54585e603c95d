//! What the console writes to the terminal: a snippet's output as it streams (stderr in red
//! when stdout is a terminal), exit codes other than 0, and the console's own notes. It keeps
//! the text of the line the cursor is on, so an input request can show the program's prompt
//! in the line editor, and a new prompt starts on a line of its own.

use std::io::{IsTerminal, Write};

/// The longest partial line kept as an input prompt.
const PROMPT_MAX: usize = 256;

const RED: &str = "\x1b[31m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// The terminal, as the console writes to it.
pub(super) struct Screen {
    colour: bool,
    /// The text after the last newline written; `None` when it is too long or not plain
    /// text to be shown again as a prompt.
    partial: Option<String>,
    /// Whether the cursor is at the start of a line.
    at_line_start: bool,
}

impl Screen {
    /// Colours only when stdout is a terminal.
    pub(super) fn new() -> Self {
        Self {
            colour: std::io::stdout().is_terminal(),
            partial: Some(String::new()),
            at_line_start: true,
        }
    }

    /// Whether stdout is a terminal.
    pub(super) fn is_terminal(&self) -> bool {
        self.colour
    }

    /// A chunk of the snippet's stdout.
    pub(super) fn stdout(&mut self, data: &[u8]) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(data)?;
        out.flush()?;
        self.track(data);
        Ok(())
    }

    /// A chunk of the snippet's stderr: red on a terminal.
    pub(super) fn stderr(&mut self, data: &[u8]) -> std::io::Result<()> {
        // Both streams usually reach the same terminal: what is on stdout goes first.
        std::io::stdout().flush()?;
        let mut err = std::io::stderr().lock();
        if self.colour {
            err.write_all(RED.as_bytes())?;
            err.write_all(data)?;
            err.write_all(RESET.as_bytes())?;
        } else {
            err.write_all(data)?;
        }
        err.flush()?;
        self.track(data);
        Ok(())
    }

    /// A line of the console's own (dim on a terminal), on a line of its own.
    pub(super) fn note(&mut self, text: &str) -> std::io::Result<()> {
        self.end_line()?;
        let mut out = std::io::stdout().lock();
        if self.colour {
            writeln!(out, "{DIM}{text}{RESET}")?;
        } else {
            writeln!(out, "{text}")?;
        }
        out.flush()
    }

    /// Plain text of the console's own (rendered HTML), on lines of its own.
    pub(super) fn text(&mut self, text: &str) -> std::io::Result<()> {
        self.end_line()?;
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            out.write_all(b"\n")?;
        }
        out.flush()
    }

    /// Shows an exit code other than 0, briefly.
    pub(super) fn exit_code(&mut self, code: i64) -> std::io::Result<()> {
        if code != 0 {
            self.note(&format!("[exit {code}]"))?;
        }
        Ok(())
    }

    /// Moves to the start of a new line unless the cursor is at one.
    pub(super) fn end_line(&mut self) -> std::io::Result<()> {
        if !self.at_line_start {
            let mut out = std::io::stdout().lock();
            out.write_all(b"\n")?;
            out.flush()?;
            self.track(b"\n");
        }
        Ok(())
    }

    /// Takes the partial line the cursor is on (a program's input prompt) off the screen, so
    /// the line editor can show it as its own prompt; when it cannot be (it is too long, or
    /// not plain text), the answer is read on the next line, after an empty prompt.
    pub(super) fn take_prompt(&mut self) -> std::io::Result<String> {
        if self.at_line_start {
            return Ok(String::new());
        }
        match self.partial.take() {
            Some(prompt) if self.colour => {
                let mut out = std::io::stdout().lock();
                out.write_all(b"\r\x1b[K")?;
                out.flush()?;
                self.at_line_start = true;
                Ok(prompt)
            }
            _ => {
                self.end_line()?;
                Ok(String::new())
            }
        }
    }

    /// After the line editor returned: the cursor is at the start of a line.
    pub(super) fn line_done(&mut self) {
        self.partial = Some(String::new());
        self.at_line_start = true;
    }

    fn track(&mut self, data: &[u8]) {
        let Some(&last) = data.last() else {
            return;
        };
        let tail = match data.iter().rposition(|&b| b == b'\n') {
            Some(at) => {
                self.partial = Some(String::new());
                &data[at + 1..]
            }
            None => data,
        };
        self.at_line_start = last == b'\n';
        if tail.is_empty() {
            return;
        }
        let usable = std::str::from_utf8(tail)
            .ok()
            .filter(|t| !t.contains(['\r', '\x1b']));
        self.partial = match (self.partial.take(), usable) {
            (Some(mut line), Some(text)) if line.len() + text.len() <= PROMPT_MAX => {
                line.push_str(text);
                Some(line)
            }
            _ => None,
        };
    }
}
