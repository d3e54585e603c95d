//! The line editor: rustyline with Emacs keys, bracketed paste, a history file per language,
//! Tab completion through the runner's `complete` op at the cursor, and an Enter key that
//! asks the runner whether the snippet is complete (`krunner/is-complete`): a complete (or
//! hopeless) snippet runs, an incomplete one gets a new line with the indentation the runner
//! suggests, and where the runner cannot tell a blank line ends the snippet. Alt-Enter runs
//! the snippet as it is.
//!
//! rustyline rather than reedline: it builds with the project's minimum Rust, 1.85 (reedline
//! 0.52 needs 1.95), brings fewer crates (reedline adds chrono and strum and works the
//! terminal through crossterm), and has everything the console needs: Emacs keys, bracketed
//! paste, history files with multi-line entries, completion and key bindings that can decide
//! per key press.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use krunner_plugin_api::Completeness;
use rustyline::completion::Completer;
use rustyline::config::Configurer as _;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{
    Cmd, CompletionType, ConditionalEventHandler, Config, EditMode, Editor, Event, EventContext,
    EventHandler, Helper, KeyCode, KeyEvent, Modifiers, RepeatCount,
};

use super::link::Link;

/// History entries kept per language.
const HISTORY_SIZE: usize = 10_000;

/// The console's editor.
pub(super) type ConsoleEditor = Editor<ConsoleHelper, FileHistory>;

/// The link, shared by the editor's callbacks and the console's loop (one thread uses it at
/// a time).
pub(super) type SharedLink = Arc<Mutex<Link>>;

/// Locks the link, whatever an earlier panic left behind.
pub(super) fn lock(link: &SharedLink) -> std::sync::MutexGuard<'_, Link> {
    link.lock().unwrap_or_else(|e| e.into_inner())
}

/// Builds the editor. `answering` is set while the editor reads an answer to an input
/// request, where Enter always accepts the line.
pub(super) fn build(
    link: &SharedLink,
    answering: &Arc<AtomicBool>,
) -> rustyline::Result<ConsoleEditor> {
    let config = Config::builder()
        .edit_mode(EditMode::Emacs)
        .completion_type(CompletionType::List)
        .max_history_size(HISTORY_SIZE)?
        .history_ignore_dups(true)?
        .history_ignore_space(true)
        .auto_add_history(false)
        .bracketed_paste(true)
        .build();
    let mut editor = ConsoleEditor::with_config(config)?;
    editor.set_helper(Some(ConsoleHelper {
        link: Arc::clone(link),
    }));
    let enter = Enter {
        link: Arc::clone(link),
        answering: Arc::clone(answering),
    };
    editor.bind_sequence(
        KeyEvent(KeyCode::Enter, Modifiers::NONE),
        EventHandler::Conditional(Box::new(enter)),
    );
    editor.bind_sequence(
        KeyEvent(KeyCode::Enter, Modifiers::ALT),
        EventHandler::Simple(Cmd::AcceptLine),
    );
    editor.set_edit_mode(EditMode::Emacs);
    Ok(editor)
}

/// `$XDG_STATE_HOME/krunner/history-<lang>` (`~/.local/state` when unset); `None` without a
/// home.
pub(super) fn history_path(language: &str) -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })?;
    let safe: String = language
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Some(state.join("krunner").join(format!("history-{safe}")))
}

/// What Enter does with `buffer`, given the runner's verdict.
fn on_enter(buffer: &str, link: &SharedLink) -> Cmd {
    let trimmed = buffer.trim();
    // Nothing, and console commands, are complete by definition.
    if trimmed.is_empty() || (trimmed.starts_with(':') && !buffer.contains('\n')) {
        return Cmd::AcceptLine;
    }
    let reply = lock(link).is_complete(buffer);
    match reply.status {
        Completeness::Complete | Completeness::Invalid => Cmd::AcceptLine,
        Completeness::Incomplete => Cmd::Insert(1, format!("\n{}", reply.indent)),
        Completeness::Unknown => {
            let last = buffer.rsplit('\n').next().unwrap_or_default();
            if buffer.contains('\n') && last.trim().is_empty() {
                Cmd::AcceptLine
            } else {
                Cmd::Insert(1, "\n".into())
            }
        }
    }
}

/// The Enter key.
struct Enter {
    link: SharedLink,
    answering: Arc<AtomicBool>,
}

impl ConditionalEventHandler for Enter {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext) -> Option<Cmd> {
        if self.answering.load(Ordering::SeqCst) {
            return Some(Cmd::AcceptLine);
        }
        let (line, pos) = (ctx.line(), ctx.pos());
        if pos < line.len() && line.contains('\n') {
            // Inside a multi-line snippet: a new line there, indented like the one the cursor
            // is on.
            let start = line[..pos].rfind('\n').map_or(0, |at| at + 1);
            let current = &line[start..];
            let indent = &current[..current.len() - current.trim_start().len()];
            return Some(Cmd::Insert(1, format!("\n{indent}")));
        }
        Some(on_enter(line, &self.link))
    }
}

/// Completion through the runner; no hints, highlighting or validation.
pub(super) struct ConsoleHelper {
    link: SharedLink,
}

impl Completer for ConsoleHelper {
    type Candidate = String;

    fn complete(
        &self,
        buffer: &str,
        pos: usize,
        _: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = &buffer[..pos];
        let line_start = before.rfind('\n').map_or(0, |at| at + 1);
        let line_end = buffer[pos..].find('\n').map_or(buffer.len(), |at| pos + at);
        let request = serde_json::json!({
            "code": buffer,
            "line": &buffer[line_start..line_end],
            "row": before.matches('\n').count(),
            "col": buffer[line_start..pos].chars().count(),
            "post": &buffer[pos..line_end],
        });
        let word_start = before[line_start..]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == '$')
            .last()
            .map_or(pos, |(at, _)| line_start + at);
        let word = &buffer[word_start..pos];
        let mut suggestions = lock(&self.link).complete(&request);
        suggestions.retain(|s| s.starts_with(word));
        suggestions.sort();
        suggestions.dedup();
        Ok((word_start, suggestions))
    }
}

impl Hinter for ConsoleHelper {
    type Hint = String;
}

impl Highlighter for ConsoleHelper {}

impl Validator for ConsoleHelper {}

impl Helper for ConsoleHelper {}
