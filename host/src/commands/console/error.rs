//! Everything that can end `krunner console` with an error.

use krunner_agent_client::ClientError;
use rustyline::error::ReadlineError;
use thiserror::Error;

/// Why the console stopped.
#[derive(Debug, Error)]
pub(super) enum ConsoleError {
    /// Talking to the private runner failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The private runner could not be started.
    #[error("cannot start the runner: {0:#}")]
    Start(anyhow::Error),
    /// The line editor failed (not Ctrl-C or Ctrl-D, which are input).
    #[error("the line editor failed: {0}")]
    Editor(#[from] ReadlineError),
    /// Writing to the terminal failed.
    #[error("cannot write to the terminal: {0}")]
    Terminal(#[from] std::io::Error),
}
