//! The host's shared state, and the operations that tasks, plugin callbacks and services
//! build on.
//!
//! One [`Context`] exists per host process. It holds the outbound queue, the input queue, the
//! registry of process groups, the environment of user processes and the phase of the running
//! task, and it turns a plugin's [`RunSpec`] into a process run the way docs/protocol.md §5.7
//! describes: the child environment, a process group of its own, output streamed to the user
//! and stdin fed from `input` ops when the program blocks reading it.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use krunner_plugin_api::util::which_in;
use krunner_plugin_api::{CaptureOutput, Command, PluginError, RunSpec};

use crate::child_env::ChildEnv;
use crate::input::{Cancelled, InputQueue, StdinFeed};
use crate::messages;
use crate::process::{self, exit, Feeder, Groups, Spawn, Stdin, Stream};
use crate::wire::{Limits, Msg, Outbox, QUEUED_INPUTS};

/// Which kind of task is running (it decides details of the child environment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Phase {
    /// No task.
    Idle = 0,
    /// `clean`.
    Clean = 1,
    /// `build`.
    Build = 2,
    /// `exec`: children get `_BACKEND_BATCH_MODE=1`.
    Exec = 3,
    /// `code`.
    Query = 4,
}

/// The host's shared state.
pub(crate) struct Context {
    /// The runner's name in messages, e.g. `c-kernel`.
    pub(crate) name: String,
    /// Outbound messages.
    pub(crate) outbox: Outbox,
    /// Text from `input` ops.
    pub(crate) input: InputQueue,
    /// Process groups of the running task and the interpreters.
    pub(crate) groups: Arc<Groups>,
    /// The environment of user processes.
    pub(crate) child_env: ChildEnv,
    /// How long an interrupted process group may ignore SIGINT before SIGKILL.
    pub(crate) interrupt_grace: Duration,
    phase: AtomicU8,
    /// Counts tasks: the number of the running one (see [`Context::current_task`]).
    task: AtomicU64,
    stopping: AtomicBool,
}

impl Context {
    /// A new context.
    pub(crate) fn new(
        name: String,
        outbox: Outbox,
        child_env: ChildEnv,
        interrupt_grace: Duration,
        limits: &Limits,
    ) -> Self {
        Self {
            name,
            outbox,
            input: InputQueue::bounded(QUEUED_INPUTS, limits.input_bytes()),
            groups: Arc::new(Groups::default()),
            child_env,
            interrupt_grace,
            phase: AtomicU8::new(Phase::Idle as u8),
            task: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
        }
    }

    /// Marks the start (or end, with [`Phase::Idle`]) of a task.
    pub(crate) fn set_phase(&self, phase: Phase) {
        if phase != Phase::Idle && self.phase() == Phase::Idle {
            self.task.fetch_add(1, Ordering::SeqCst);
        }
        if phase != Phase::Idle {
            self.groups.begin_task();
        }
        self.phase.store(phase as u8, Ordering::SeqCst);
    }

    /// The number of the running task, `None` between tasks. An interrupt meant for one task
    /// must not reach the next one: whoever acts on it later checks that this is unchanged.
    pub(crate) fn current_task(&self) -> Option<u64> {
        (self.phase() != Phase::Idle).then(|| self.task.load(Ordering::SeqCst))
    }

    /// The running task's kind.
    pub(crate) fn phase(&self) -> Phase {
        match self.phase.load(Ordering::SeqCst) {
            1 => Phase::Clean,
            2 => Phase::Build,
            3 => Phase::Exec,
            4 => Phase::Query,
            _ => Phase::Idle,
        }
    }

    /// Whether shutdown has begun.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Begins shutdown: no new tasks, waiting input requests give up.
    pub(crate) fn begin_shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.input.shutdown();
    }

    /// Interrupts the running task's processes and input wait; returns how many process
    /// groups were signalled.
    pub(crate) fn interrupt(&self) -> usize {
        self.input.interrupt();
        self.groups.interrupt(self.interrupt_grace)
    }

    /// Sends raw output.
    pub(crate) fn output(&self, stream: Stream, bytes: Vec<u8>) {
        self.outbox.send(match stream {
            Stream::Stdout => Msg::Stdout(bytes),
            Stream::Stderr => Msg::Stderr(bytes),
        });
    }

    /// Resolves a [`RunSpec`] into a process to spawn, with the child environment.
    pub(crate) fn resolve(&self, spec: &RunSpec) -> Result<Spawn, PluginError> {
        let mut env = self.child_env.clone();
        if self.phase() == Phase::Exec {
            env.set("_BACKEND_BATCH_MODE", "1");
        }
        for dir in spec.path_prepend.iter().rev() {
            env.promote_path(dir);
        }
        for (k, v) in &spec.env {
            env.set(k.clone(), v.clone());
        }
        let (program, args) = match &spec.command {
            Command::Shell(line) => (
                PathBuf::from("/bin/sh"),
                vec!["-c".to_owned(), line.clone()],
            ),
            Command::Argv(argv) => {
                let Some((first, rest)) = argv.split_first() else {
                    return Err(PluginError::invalid_request("empty argv"));
                };
                let path = env.get("PATH").unwrap_or_default();
                let program = which_in(first, path)
                    .ok_or_else(|| PluginError::not_found(messages::command_not_found(first)))?;
                (program, rest.to_vec())
            }
        };
        Ok(Spawn {
            program,
            args,
            env: env.vars().clone(),
            cwd: spec.cwd.as_ref().map(PathBuf::from),
            arg0: None,
        })
    }

    /// Runs a command with its output streamed to the user and its stdin fed from `input` ops
    /// when it blocks reading (see [`crate::input`]); returns the exit code. Problems starting
    /// it are reported on the user's stderr and give the shell's codes (127, 126).
    pub(crate) fn run(&self, spec: &RunSpec) -> i32 {
        let spawn = match self.resolve(spec) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("{}", e.message());
                return exit::NOT_FOUND;
            }
        };
        let mut sink = |stream, data: Vec<u8>| self.output(stream, data);
        let announce = || self.outbox.send(Msg::WaitingInput { is_password: false });
        let make_feeder = |write: OwnedFd, pid: i32| -> std::io::Result<Box<dyn Feeder + '_>> {
            Ok(Box::new(StdinFeed::new(
                &self.input,
                &announce,
                write,
                pid,
            )?))
        };
        match process::run(&spawn, &self.groups, Stdin::Fed(&make_feeder), &mut sink) {
            Ok(code) => code,
            Err(e) => {
                tracing::error!("{}", messages::cannot_run(&spawn.program, &e));
                exit::for_spawn_error(&e).unwrap_or(exit::INTERNAL)
            }
        }
    }

    /// Runs a command and collects its output.
    pub(crate) fn capture(&self, spec: &RunSpec) -> Result<CaptureOutput, PluginError> {
        let spawn = self.resolve(spec)?;
        let (exit_code, out, err) = process::capture(&spawn, &self.groups)?;
        Ok(CaptureOutput {
            exit_code,
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
        })
    }

    /// Asks the user for input (see the `Host::read_input` contract).
    pub(crate) fn read_input(
        &self,
        prompt: &str,
        is_password: bool,
    ) -> Result<String, PluginError> {
        if self.phase() == Phase::Idle {
            return Err(PluginError::interrupted(
                "input can only be requested while a task runs",
            ));
        }
        if !prompt.is_empty() {
            self.outbox.send(Msg::Stdout(prompt.as_bytes().to_vec()));
        }
        self.input
            .take(|| self.outbox.send(Msg::WaitingInput { is_password }))
            .map_err(|c| match c {
                Cancelled::Interrupted => PluginError::interrupted("input was interrupted"),
                Cancelled::Shutdown => PluginError::interrupted("the runner is shutting down"),
            })
    }
}
