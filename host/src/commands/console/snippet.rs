//! Running one snippet: the `code` op, then the runner's messages as they stream until its
//! `finished`, with Ctrl-C turned into `interrupt` and input requests answered from the
//! terminal. A runner that dies meanwhile is reported and replaced.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use krunner_agent_client::Message;

use super::answer::{self, Answer, Password};
use super::editor::{lock, ConsoleEditor, SharedLink};
use super::error::ConsoleError;
use super::rich::Rich;
use super::screen::Screen;
use crate::commands::terminal;
use crate::input::EOF_MARK;

/// How long one wait for a message lasts (Ctrl-C and passwords are looked at in between).
const TICK: Duration = Duration::from_millis(20);

/// Ctrl-C presses during one snippet after which the runner is restarted.
const PRESSES_TO_RESTART: usize = 3;

/// What the console needs while a snippet runs.
pub(super) struct Io<'a> {
    pub(super) link: &'a SharedLink,
    pub(super) editor: &'a mut ConsoleEditor,
    pub(super) screen: &'a mut Screen,
    pub(super) rich: &'a mut Rich,
    pub(super) answering: &'a Arc<AtomicBool>,
}

/// Runs `code` and shows everything it produces; returns its exit code (`None` when the
/// runner had to be restarted).
pub(super) fn run(io: &mut Io<'_>, code: &str) -> Result<Option<i64>, ConsoleError> {
    lock(io.link).send("code", code)?;
    let pressed_before = terminal::ctrl_c_presses();
    let mut interrupts = 0;
    let mut password: Option<Password> = None;
    loop {
        let presses = terminal::ctrl_c_presses() - pressed_before;
        if presses > interrupts {
            interrupts = presses;
            password = None;
            if presses >= PRESSES_TO_RESTART {
                return restart(io, "the snippet does not stop");
            }
            lock(io.link).send("interrupt", b"")?;
        }
        if let Some(answer) = password.as_mut().and_then(Password::poll) {
            password = None;
            io.screen.stdout(b"\n")?;
            send_answer(io, answer)?;
        }
        let message = lock(io.link).next(TICK)?;
        let Some(message) = message else {
            let exited = lock(io.link).exited();
            if let Some(status) = exited {
                return restart(io, &format!("the runner exited ({status})"));
            }
            continue;
        };
        if message.is_terminal() {
            let json = message.try_json().unwrap_or_default();
            return Ok(Some(json["exitCode"].as_i64().unwrap_or(-1)));
        }
        if message.kind == "waiting-input" {
            let json = message.try_json().unwrap_or_default();
            if json["is_password"].as_bool().unwrap_or(false) {
                password = Some(Password::start());
            } else {
                let answer = answer::line(io.editor, io.screen, io.answering)?;
                send_answer(io, answer)?;
            }
            continue;
        }
        show(io, &message)?;
    }
}

/// Sends the user's answer to an input request (Ctrl-D: the end-of-file mark; Ctrl-C: an
/// interrupt).
fn send_answer(io: &mut Io<'_>, answer: Answer) -> Result<(), ConsoleError> {
    let link = lock(io.link);
    match answer {
        Answer::Line(text) => link.send("input", text),
        Answer::Eof => link.send("input", EOF_MARK.to_string()),
        Answer::Interrupt => link.send("interrupt", b""),
    }
}

/// Writes one output message.
fn show(io: &mut Io<'_>, message: &Message) -> Result<(), ConsoleError> {
    let payload = &message.payload;
    match message.kind.as_str() {
        "stdout" => io.screen.stdout(payload)?,
        "stderr" => io.screen.stderr(payload)?,
        "media" => io.rich.media(io.screen, payload)?,
        "html" => io.rich.html(io.screen, payload)?,
        "log" => io.screen.note(&message.text())?,
        _ => {}
    }
    Ok(())
}

/// Replaces the runner after `why`, telling the user that its state is lost.
fn restart(io: &mut Io<'_>, why: &str) -> Result<Option<i64>, ConsoleError> {
    io.screen.note(&format!(
        "krunner: {why}; restarting the runner (its state is lost)"
    ))?;
    lock(io.link).restart()?;
    Ok(None)
}
