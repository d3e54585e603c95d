//! `krunner console`: an interactive console for any plugin, over a private runner started
//! like `krunner run`'s (with the console's private op enabled, docs/protocol.md §2.11).
//!
//! - [`link`]: the runner and the questions asked of it while the user types;
//! - [`editor`]: the line editor (keys, history, completion, what Enter does);
//! - [`snippet`]: running one snippet: output, interrupts, input requests ([`answer`]);
//! - [`screen`] and [`rich`]: what reaches the terminal, images and HTML included;
//! - [`commands`]: `:help`, `:reset`, `:save`, `:load`, `:quit`.

mod answer;
mod commands;
mod editor;
mod error;
mod link;
mod rich;
mod screen;
mod snippet;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use rustyline::error::ReadlineError;

use self::commands::Command;
use self::editor::{lock, ConsoleEditor, SharedLink};
use self::error::ConsoleError;
use self::link::Link;
use self::rich::Rich;
use self::screen::Screen;
use super::run::StartOptions;
use super::terminal;
use crate::cli::ConsoleArgs;
use crate::plugin::SearchPath;

/// The prompt.
const PROMPT: &str = ">>> ";

/// Runs the console until Ctrl-D or `:quit`; returns the exit status for the process.
pub(super) fn run(args: &ConsoleArgs) -> anyhow::Result<u8> {
    SearchPath::new(&args.plugin_dirs).find_or_explain(&args.language)?;
    terminal::catch_ctrl_c();
    let link: SharedLink = Arc::new(Mutex::new(Link::start(start_options(args))?));
    let answering = Arc::new(AtomicBool::new(false));
    let mut editor = editor::build(&link, &answering).map_err(ConsoleError::from)?;
    let history = editor::history_path(&args.language);
    if let Some(path) = &history {
        if path.exists() {
            if let Err(e) = editor.load_history(path) {
                eprintln!("krunner: cannot read the history {}: {e}", path.display());
            }
        }
    }
    let mut console = Console {
        link,
        editor,
        screen: Screen::new(),
        rich: Rich::new(),
        answering,
        history,
        inputs: Vec::new(),
    };
    console.prompt_loop()?;
    Ok(0)
}

/// How the private runner is started.
fn start_options(args: &ConsoleArgs) -> StartOptions {
    let mut env = Vec::new();
    // matplotlib's figures as PNG where the terminal can show them inline (SVG otherwise:
    // saved as files).
    if std::env::var_os("KRUNNER_MPL_FORMAT").is_none() && rich::environment_suggests_images() {
        env.push(("KRUNNER_MPL_FORMAT".to_owned(), "png".to_owned()));
    }
    StartOptions {
        plugin_dirs: args.plugin_dirs.clone(),
        language: args.language.clone(),
        runtime_path: args.runtime_path.clone(),
        config_dir: args.config_dir.clone(),
        cwd: None,
        verbose: args.verbose,
        extra_args: vec!["--console-ops".to_owned()],
        env,
    }
}

/// The console's state.
struct Console {
    link: SharedLink,
    editor: ConsoleEditor,
    screen: Screen,
    rich: Rich,
    answering: Arc<AtomicBool>,
    history: Option<std::path::PathBuf>,
    /// The snippets run since the start or the last `:reset` (for `:save`).
    inputs: Vec<String>,
}

impl Console {
    /// Reads and runs snippets until Ctrl-D or `:quit`.
    fn prompt_loop(&mut self) -> Result<(), ConsoleError> {
        loop {
            self.screen.end_line()?;
            let read = self.editor.readline(PROMPT);
            self.screen.line_done();
            let text = match read {
                Ok(text) => text,
                // Ctrl-C at the prompt clears the line.
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            let snippet = trim_blank_lines(&text);
            if snippet.trim().is_empty() {
                continue;
            }
            self.remember(snippet);
            match commands::parse(snippet) {
                Some(Command::Quit) => return Ok(()),
                Some(command) => self.command(command)?,
                None => self.run(snippet)?,
            }
        }
    }

    /// Runs a snippet and shows its exit code.
    fn run(&mut self, snippet: &str) -> Result<(), ConsoleError> {
        self.inputs.push(snippet.to_owned());
        let mut io = snippet::Io {
            link: &self.link,
            editor: &mut self.editor,
            screen: &mut self.screen,
            rich: &mut self.rich,
            answering: &self.answering,
        };
        if let Some(code) = snippet::run(&mut io, snippet)? {
            self.screen.exit_code(code)?;
        } else {
            self.inputs.clear();
        }
        Ok(())
    }

    /// Adds an entry to the history and its file.
    fn remember(&mut self, entry: &str) {
        if self.editor.add_history_entry(entry).unwrap_or(false) {
            if let Some(path) = &self.history {
                let saved = path
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .map_err(ReadlineError::from)
                    .and_then(|()| self.editor.append_history(path));
                if let Err(e) = saved {
                    let _ = self.screen.note(&format!(
                        "krunner: cannot write the history {}: {e}",
                        path.display()
                    ));
                    self.history = None;
                }
            }
        }
    }

    fn command(&mut self, command: Command) -> Result<(), ConsoleError> {
        match command {
            Command::Help => self.screen.text(commands::HELP)?,
            Command::Reset => {
                lock(&self.link).restart()?;
                self.inputs.clear();
                self.screen.note("[the runner was restarted]")?;
            }
            Command::Save(path) => {
                let text = commands::saved_text(&self.inputs);
                let note = match std::fs::write(&path, text) {
                    Ok(()) => format!(
                        "[{} input(s) saved to {}]",
                        self.inputs.len(),
                        path.display()
                    ),
                    Err(e) => format!("krunner: cannot write {}: {e}", path.display()),
                };
                self.screen.note(&note)?;
            }
            Command::Load(path) => match commands::read_loaded(&path) {
                Ok(code) => self.run(&code)?,
                Err(e) => self
                    .screen
                    .note(&format!("krunner: cannot read {}: {e}", path.display()))?,
            },
            Command::Unknown(text) => self.screen.note(&text)?,
            Command::Quit => {}
        }
        Ok(())
    }
}

/// `text` without the blank lines that ended it.
fn trim_blank_lines(text: &str) -> &str {
    let mut end = text.len();
    while let Some(at) = text[..end].rfind('\n') {
        if !text[at + 1..end].trim().is_empty() {
            break;
        }
        end = at;
    }
    if text[..end].trim().is_empty() {
        return "";
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_at_the_end_are_dropped() {
        assert_eq!(trim_blank_lines("x = 1"), "x = 1");
        assert_eq!(
            trim_blank_lines("def f():\n    return 1\n    \n"),
            "def f():\n    return 1"
        );
        assert_eq!(trim_blank_lines("  \n \n"), "");
    }
}
