//! Every process the host starts, and the only code that signals or stops one.
//!
//! - [`spawn`]: what to start ([`Spawn`]) and the one `Command` builder: exact environment,
//!   own process group.
//! - [`group`]: a started child's process group ([`Group`]); it holds the leader unreaped so a
//!   reused pid is never signalled.
//! - [`groups`]: the registry of the running task's groups and the interpreters' ([`Groups`]):
//!   interrupts and shutdown.
//! - [`terminate`]: the one SIGTERM → grace → SIGKILL ladder.
//! - [`pump`]: the poll loop that streams a child's output (and feeds its stdin through a
//!   [`Feeder`]); [`orphans`]: output of background processes after their task ended.
//! - [`run`](mod@run): start, run to completion streamed, captured, or within a time limit.
//! - [`exit`]: the shell's exit-code conventions.

pub(crate) mod exit;
mod group;
mod groups;
mod orphans;
mod pump;
mod run;
mod spawn;
mod terminate;

pub(crate) use group::Group;
pub(crate) use groups::Groups;
pub(crate) use pump::{pump, Feeder};
#[cfg(test)]
pub(crate) use run::Untracked;
pub(crate) use run::{
    capture, collect_within, output_within, run, start, Started, Stdin, Tracker, KEEP,
};
pub(crate) use spawn::Spawn;
pub(crate) use terminate::{kill, terminate};

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

#[cfg(test)]
mod tests;
