//! The console's own commands, typed at the prompt with a leading colon.

use std::path::PathBuf;

/// The text `:help` shows.
pub(super) const HELP: &str = "\
Enter runs the snippet when it is complete, else it opens another line; where the runner
cannot tell, a blank line ends the snippet. Alt-Enter runs it as it is.
Tab completes at the cursor. Ctrl-C interrupts a running snippet, and at the prompt clears
the line. Ctrl-D at an empty prompt exits. Emacs keys; Ctrl-R searches the history.

:help        this text
:reset       restart the runner (its state is lost)
:save FILE   write the inputs since the start (or the last :reset) to FILE
:load FILE   run FILE as one snippet
:quit        exit (as Ctrl-D does)";

/// A console command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Command {
    /// `:help`.
    Help,
    /// `:reset`.
    Reset,
    /// `:save FILE`.
    Save(PathBuf),
    /// `:load FILE`.
    Load(PathBuf),
    /// `:quit`.
    Quit,
    /// Anything else with a leading colon: what to tell the user.
    Unknown(String),
}

/// The command in `input`, if it is one (a single line starting with `:`).
pub(super) fn parse(input: &str) -> Option<Command> {
    let line = input.trim();
    let rest = line.strip_prefix(':')?;
    if line.contains('\n') {
        return None;
    }
    let (name, arg) = rest
        .split_once(char::is_whitespace)
        .map_or((rest, ""), |(n, a)| (n, a.trim()));
    let file = |what: &str| {
        if arg.is_empty() {
            Command::Unknown(format!(":{name} needs a file: :{name} FILE ({what})"))
        } else {
            let path = PathBuf::from(arg);
            if name == "save" {
                Command::Save(path)
            } else {
                Command::Load(path)
            }
        }
    };
    Some(match name {
        "help" | "h" | "?" => Command::Help,
        "reset" => Command::Reset,
        "save" => file("the inputs are written to it"),
        "load" => file("it is run as one snippet"),
        "quit" | "q" | "exit" => Command::Quit,
        _ => Command::Unknown(format!("unknown command :{name}; :help lists the commands")),
    })
}

/// The largest file `:load` runs: the runner's default limit on one message.
pub(super) const LOAD_MAX: u64 = crate::wire::DEFAULT_MAX_MESSAGE as u64;

/// The text of a file for `:load`; an error for one over [`LOAD_MAX`] or not UTF-8.
pub(super) fn read_loaded(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(LOAD_MAX + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > LOAD_MAX {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB",
            LOAD_MAX >> 20
        )));
    }
    Ok(text)
}

/// The inputs as `:save` writes them: each followed by a blank line.
pub(super) fn saved_text(inputs: &[String]) -> String {
    let mut text = String::new();
    for input in inputs {
        text.push_str(input.trim_end());
        text.push_str("\n\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(parse(":help"), Some(Command::Help));
        assert_eq!(parse("  :reset "), Some(Command::Reset));
        assert_eq!(
            parse(":save  my file.py"),
            Some(Command::Save("my file.py".into()))
        );
        assert_eq!(parse(":load x.py"), Some(Command::Load("x.py".into())));
        assert!(matches!(parse(":load"), Some(Command::Unknown(_))));
        assert!(matches!(parse(":frobnicate"), Some(Command::Unknown(_))));
        assert_eq!(parse("x = {1: 2}"), None);
        assert_eq!(parse(":x\ny"), None);
    }

    #[test]
    fn saved_inputs_are_separated_by_blank_lines() {
        let inputs = ["x = 1".to_owned(), "def f():\n    return x\n".to_owned()];
        assert_eq!(saved_text(&inputs), "x = 1\n\ndef f():\n    return x\n\n");
    }
}
