//! Starting a child, and the three ways the host runs one to completion: streamed to the
//! user ([`run`], for tasks), collected ([`capture`], for plugins), and collected within a
//! time limit ([`collect_within`] and [`output_within`], for service preparation and probes).
//!
//! Collected output is bounded: each stream keeps its first [`KEEP`] bytes and the rest is
//! still read (so the child never blocks on a full pipe) but discarded, and the result says
//! so. A command that prints gigabytes costs the host no more memory than one that prints
//! [`KEEP`] bytes.

use std::io;
use std::os::fd::OwnedFd;
use std::process::{ChildStderr, ChildStdin, ChildStdout, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::pump::{pump, Feeder, Sink};
use super::spawn::{command, Spawn};
use super::{exit, terminate, Group, Groups, Stream};
use crate::{messages, sys};

/// A started child: its process group and the pipes that were asked for.
pub(crate) struct Started {
    /// The child's process group.
    pub(crate) group: Arc<Group>,
    /// Its stdin, when piped.
    pub(crate) stdin: Option<ChildStdin>,
    /// Its stdout, when piped.
    pub(crate) stdout: Option<ChildStdout>,
    /// Its stderr, when piped.
    pub(crate) stderr: Option<ChildStderr>,
}

/// Starts `spawn` in a new process group.
pub(crate) fn start(spawn: &Spawn, stdin: Stdio) -> io::Result<Started> {
    let mut child = command(spawn, stdin).spawn()?;
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    Ok(Started {
        group: Group::new(child),
        stdin,
        stdout,
        stderr,
    })
}

/// Makes the feeder of a task's stdin from the pipe's write end and the task's pid.
pub(crate) type MakeFeeder<'a> = dyn Fn(OwnedFd, i32) -> io::Result<Box<dyn Feeder + 'a>> + 'a;

/// Standard input of a task subprocess.
#[derive(Clone, Copy)]
pub(crate) enum Stdin<'a> {
    /// `/dev/null`.
    Null,
    /// A pipe the host owns, fed by the feeder this makes.
    Fed(&'a MakeFeeder<'a>),
}

/// Runs `spawn` to completion as a process group of the running task, passing output chunks
/// to `sink` as they arrive. Returns the exit code, or the spawn error.
pub(crate) fn run(
    spawn: &Spawn,
    groups: &Groups,
    stdin: Stdin<'_>,
    sink: &mut Sink<'_>,
) -> io::Result<i32> {
    let (child_stdin, write_end) = match stdin {
        Stdin::Null => (Stdio::null(), None),
        Stdin::Fed(_) => {
            let (read, write) = sys::pipe()?;
            (Stdio::from(read), Some(write))
        }
    };
    // `command` holds our copy of the pipe's read end; it is dropped right after the spawn,
    // so only the task keeps one.
    let started = start(spawn, child_stdin)?;
    let group = started.group;
    groups.add_task(&group);
    let mut feeder = match (stdin, write_end) {
        (Stdin::Fed(make), Some(write)) => make(write, group.pid())
            .inspect_err(|e| tracing::warn!("{}", messages::input_unavailable(e)))
            .ok(),
        _ => None,
    };
    let result = pump(
        &group,
        started.stdout,
        started.stderr,
        sink,
        feeder.as_deref_mut(),
    );
    // Dropping the feeder closes our end of stdin: leftover background readers see EOF.
    drop(feeder);
    groups.remove_task(&group);
    finish(&group, result).map(exit::code)
}

/// Reaps the leader; on a failed pump, kills the group first so nothing is left behind.
fn finish(group: &Group, result: io::Result<ExitStatus>) -> io::Result<ExitStatus> {
    if result.is_err() {
        terminate::kill(group);
    }
    group.reap();
    result
}

/// How many bytes of each output stream a collected command keeps.
pub(crate) const KEEP: usize = 16 << 20;

/// The kept part of one collected output stream.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    /// The first bytes, at most the limit.
    pub(crate) bytes: Vec<u8>,
    /// How many bytes after them were read and discarded.
    pub(crate) dropped: u64,
}

impl Kept {
    fn push(&mut self, data: Vec<u8>, limit: usize) {
        let room = limit.saturating_sub(self.bytes.len());
        if data.len() <= room {
            if self.bytes.is_empty() {
                self.bytes = data;
            } else {
                self.bytes.extend_from_slice(&data);
            }
        } else {
            self.bytes.extend_from_slice(&data[..room]);
            self.dropped += (data.len() - room) as u64;
        }
    }

    /// The kept bytes, followed by a line saying what was discarded (if anything was).
    fn with_notice(mut self, stream: Stream) -> (Vec<u8>, Option<String>) {
        let notice = (self.dropped > 0)
            .then(|| messages::output_truncated(stream, self.bytes.len(), self.dropped));
        self.bytes.shrink_to_fit();
        (self.bytes, notice)
    }
}

/// The bounded output of a command run to completion.
#[derive(Debug)]
pub(crate) struct Collected {
    /// How it ended.
    pub(crate) status: ExitStatus,
    /// Its standard output.
    pub(crate) stdout: Kept,
    /// Its standard error.
    pub(crate) stderr: Kept,
}

impl Collected {
    /// Whether any output was discarded.
    pub(crate) fn truncated(&self) -> bool {
        self.stdout.dropped > 0 || self.stderr.dropped > 0
    }

    /// As a `std::process::Output`; a note on what was discarded ends stderr.
    pub(crate) fn into_output(self) -> Output {
        let (stdout, stderr) = noted(self.stdout, self.stderr);
        Output {
            status: self.status,
            stdout,
            stderr,
        }
    }
}

/// The kept bytes of both streams, with a line on what was discarded at the end of stderr.
fn noted(out: Kept, err: Kept) -> (Vec<u8>, Vec<u8>) {
    let (stdout, out_note) = out.with_notice(Stream::Stdout);
    let (mut stderr, err_note) = err.with_notice(Stream::Stderr);
    for note in [out_note, err_note].into_iter().flatten() {
        if !stderr.is_empty() && !stderr.ends_with(b"\n") {
            stderr.push(b'\n');
        }
        stderr.extend_from_slice(note.as_bytes());
        stderr.push(b'\n');
    }
    (stdout, stderr)
}

/// Runs `spawn` with stdin at `/dev/null` as a process group of the running task and collects
/// its output, [`KEEP`] bytes of each stream at most: a note on what was discarded ends
/// stderr.
pub(crate) fn capture(spawn: &Spawn, groups: &Groups) -> io::Result<(i32, Vec<u8>, Vec<u8>)> {
    let (mut out, mut err) = (Kept::default(), Kept::default());
    let code = run(
        spawn,
        groups,
        Stdin::Null,
        &mut |stream, data| match stream {
            Stream::Stdout => out.push(data, KEEP),
            Stream::Stderr => err.push(data, KEEP),
        },
    )?;
    let (out, err) = noted(out, err);
    Ok((code, out, err))
}

/// Where a command collected by [`collect_within`] is recorded while it runs, so that
/// shutdown can stop it.
pub(crate) trait Tracker {
    /// Records `group`; false when nothing may run any more (the group is then killed).
    fn add(&self, group: &Arc<Group>) -> bool;
    /// Forgets `group`: its leader has exited.
    fn remove(&self, group: &Arc<Group>);
}

/// A [`Tracker`] that records nothing (for commands that need no stopping at shutdown).
pub(crate) struct Untracked;

impl Tracker for Untracked {
    fn add(&self, _: &Arc<Group>) -> bool {
        true
    }
    fn remove(&self, _: &Arc<Group>) {}
}

/// Runs `spawn` (not part of any task, recorded in `tracker`) and collects its output,
/// `limit` bytes of each stream at most; kills its process group and fails with `TimedOut` if
/// it is still running after `timeout`.
pub(crate) fn collect_within(
    spawn: &Spawn,
    timeout: Duration,
    limit: usize,
    tracker: &dyn Tracker,
) -> io::Result<Collected> {
    let started = start(spawn, Stdio::null())?;
    let group = Arc::clone(&started.group);
    if !tracker.add(&group) {
        let _ = finish(&group, Err(io::Error::other("not tracked")));
        return Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "not started: the runner is shutting down",
        ));
    }
    let timed_out = Arc::new(AtomicBool::new(false));
    let watchdog = time_limit(&group, timeout, &timed_out);
    if let Err(e) = &watchdog {
        tracing::warn!(
            "cannot start a time limit for {}: {e}",
            spawn.program.display()
        );
    }
    let (mut out, mut err) = (Kept::default(), Kept::default());
    let result = pump(
        &group,
        started.stdout,
        started.stderr,
        &mut |stream, data| match stream {
            Stream::Stdout => out.push(data, limit),
            Stream::Stderr => err.push(data, limit),
        },
        None,
    );
    let status = finish(&group, result);
    tracker.remove(&group);
    let status = status?;
    if let Ok(handle) = watchdog {
        let _ = handle.join();
    }
    if timed_out.load(Ordering::SeqCst) {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("still running after {timeout:?}; killed"),
        ));
    }
    Ok(Collected {
        status,
        stdout: out,
        stderr: err,
    })
}

/// A thread that kills `group` if its leader is still running after `timeout`.
fn time_limit(
    group: &Arc<Group>,
    timeout: Duration,
    timed_out: &Arc<AtomicBool>,
) -> io::Result<std::thread::JoinHandle<()>> {
    let (group, timed_out) = (Arc::clone(group), Arc::clone(timed_out));
    std::thread::Builder::new()
        .name("time-limit".into())
        .spawn(move || {
            if group.wait_exit(timeout).is_none() {
                timed_out.store(true, Ordering::SeqCst);
                terminate::kill(&group);
            }
        })
}

/// [`collect_within`] with [`KEEP`] bytes per stream, untracked, as a
/// `std::process::Output` (a note on what was discarded ends stderr).
pub(crate) fn output_within(spawn: &Spawn, timeout: Duration) -> io::Result<Output> {
    collect_within(spawn, timeout, KEEP, &Untracked).map(Collected::into_output)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kept_bytes_stop_at_the_limit_and_count_the_rest() {
        let mut kept = Kept::default();
        kept.push(b"abc".to_vec(), 5);
        kept.push(b"defg".to_vec(), 5);
        kept.push(b"hij".to_vec(), 5);
        assert_eq!(kept.bytes, b"abcde");
        assert_eq!(kept.dropped, 5);
        let (bytes, note) = kept.with_notice(Stream::Stdout);
        assert_eq!(bytes, b"abcde");
        assert!(note.unwrap().contains("5 bytes"));
    }

    #[test]
    fn captured_output_is_cut_at_the_limit_and_says_so() {
        let spawn = Spawn {
            program: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                format!("head -c {} /dev/zero; echo oops >&2", KEEP + 12_345),
            ],
            env: std::env::vars().collect(),
            ..Spawn::default()
        };
        let (code, out, err) = capture(&spawn, &Groups::default()).unwrap();
        assert_eq!((code, out.len()), (0, KEEP));
        let err = String::from_utf8(err).unwrap();
        assert!(err.starts_with("oops\n[stdout truncated: "), "{err}");
        assert!(err.contains("discarded 12345 bytes"), "{err}");
        let output = output_within(&spawn, Duration::from_secs(30)).unwrap();
        assert_eq!(output.stdout.len(), KEEP);
        assert!(output.stderr.ends_with(b"discarded 12345 bytes]\n"));
    }
}
