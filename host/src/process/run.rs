//! Starting a child, and the three ways the host runs one to completion: streamed to the
//! user ([`run`], for tasks), collected ([`capture`], for plugins), and collected within a
//! time limit ([`output_within`], for service preparation).

use std::io;
use std::os::fd::OwnedFd;
use std::process::{ChildStderr, ChildStdin, ChildStdout, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::pump::{pump, Feeder, Sink};
use super::spawn::{command, Output as OutputMode, Spawn};
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
pub(crate) fn start(spawn: &Spawn, stdin: Stdio, output: OutputMode) -> io::Result<Started> {
    let mut child = command(spawn, stdin, output).spawn()?;
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
    let started = start(spawn, child_stdin, OutputMode::Piped)?;
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
fn finish(
    group: &Group,
    result: io::Result<std::process::ExitStatus>,
) -> io::Result<std::process::ExitStatus> {
    if result.is_err() {
        terminate::kill(group);
    }
    group.reap();
    result
}

/// Runs `spawn` with stdin at `/dev/null` as a process group of the running task and collects
/// its output.
pub(crate) fn capture(spawn: &Spawn, groups: &Groups) -> io::Result<(i32, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = run(
        spawn,
        groups,
        Stdin::Null,
        &mut |stream, data| match stream {
            Stream::Stdout => out.extend_from_slice(&data),
            Stream::Stderr => err.extend_from_slice(&data),
        },
    )?;
    Ok((code, out, err))
}

/// Runs `spawn` (not part of any task) and collects its output; kills its process group and
/// fails with `TimedOut` if it is still running after `timeout`.
pub(crate) fn output_within(spawn: &Spawn, timeout: Duration) -> io::Result<Output> {
    let started = start(spawn, Stdio::null(), OutputMode::Piped)?;
    let group = Arc::clone(&started.group);
    let timed_out = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (group, timed_out) = (Arc::clone(&group), Arc::clone(&timed_out));
        std::thread::Builder::new()
            .name("time-limit".into())
            .spawn(move || {
                if group.wait_exit(timeout).is_none() {
                    timed_out.store(true, Ordering::SeqCst);
                    terminate::kill(&group);
                }
            })
    };
    if let Err(e) = &watchdog {
        tracing::warn!(
            "cannot start a time limit for {}: {e}",
            spawn.program.display()
        );
    }
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let result = pump(
        &group,
        started.stdout,
        started.stderr,
        &mut |stream, data| match stream {
            Stream::Stdout => stdout.extend_from_slice(&data),
            Stream::Stderr => stderr.extend_from_slice(&data),
        },
        None,
    );
    let status = finish(&group, result)?;
    if let Ok(handle) = watchdog {
        let _ = handle.join();
    }
    if timed_out.load(Ordering::SeqCst) {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("still running after {timeout:?}; killed"),
        ));
    }
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}
