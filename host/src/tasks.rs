//! The task queue: `clean`, `build`, `exec` and `code` run one at a time, in arrival order, on
//! one thread, so the output of consecutive tasks never interleaves (docs/protocol.md §4).
//!
//! Batch rules: an empty command is skipped but still answered with
//! exit 0; `*` asks the plugin's heuristic, except that `build *` runs `make` wherever a
//! Makefile exists; an `exec` that follows a failed `build` is answered with 127 without
//! running. The failed-build gate is cleared by the next `clean` (each batch the agent sends
//! starts with one), so a stale failure cannot swallow an unrelated later `exec`. A task whose
//! op was over the size limit runs as a command that fails with 126 after saying why on
//! stderr (docs/protocol.md §1.4).
//!
//! The queue needs no bound of its own: each queued task holds its op's share of the inbound
//! budget ([`Held`]) until it has run, and the host takes no more ops while that is spent.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use abi_stable::std_types::RStr;
use crossbeam_channel::{Receiver, Sender};
use krunner_plugin_api::{capability, RunSpec};

use crate::context::{Context, Phase};
use crate::logging::WIRE;
use crate::messages;
use crate::plugin::RunnerSlot;
use crate::process::{self, exit, Stdin, Stream};
use crate::wire::{Finish, Held, Msg, Payload};

/// A queued task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Task {
    /// `clean`.
    Clean(Payload),
    /// `build`.
    Build(Payload),
    /// `exec`.
    Exec(Payload),
    /// `code`.
    Code(Payload),
    /// The session's `bootstrap.sh`, run once before anything else; its output goes to the
    /// host's own stdout/stderr (the container log), not to the user.
    Bootstrap(PathBuf),
}

/// The task thread.
pub(crate) struct Tasks {
    tx: Option<Sender<(Task, Held)>>,
    handle: Option<JoinHandle<()>>,
}

impl Tasks {
    /// Starts the task thread.
    pub(crate) fn start(context: Arc<Context>, runner: Arc<RunnerSlot>) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let handle = std::thread::Builder::new()
            .name("tasks".into())
            .spawn(move || {
                let mut state = State {
                    context,
                    runner,
                    failed_build: false,
                };
                state.serve(rx);
            })?;
        Ok(Self {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    /// Queues a task; `held` (its op's share of the inbound budget) is given back once it has
    /// run.
    pub(crate) fn submit(&self, task: Task, held: Held) {
        if let Some(tx) = &self.tx {
            let _ = tx.send((task, held));
        }
    }

    /// Stops taking tasks and waits up to `budget` for the current one to finish. Returns
    /// whether it did.
    pub(crate) fn stop(&mut self, budget: Duration) -> bool {
        self.tx = None;
        let deadline = Instant::now() + budget;
        let Some(handle) = self.handle.take() else {
            return true;
        };
        while !handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if handle.is_finished() {
            let _ = handle.join();
            true
        } else {
            false
        }
    }
}

/// The op a batch phase runs.
fn op_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Clean => "clean",
        Phase::Build => "build",
        Phase::Query => "code",
        Phase::Exec | Phase::Idle => "exec",
    }
}

struct State {
    context: Arc<Context>,
    runner: Arc<RunnerSlot>,
    failed_build: bool,
}

impl State {
    fn serve(&mut self, rx: Receiver<(Task, Held)>) {
        for (task, held) in rx {
            if self.context.stopping() {
                break;
            }
            self.handle(task);
            drop(held);
            self.context.set_phase(Phase::Idle);
            // An input request of a plugin thread that outlived its task must not wait on.
            self.context.input.cancel_waiters();
        }
    }

    fn handle(&mut self, task: Task) {
        match task {
            Task::Clean(cmd) => {
                self.failed_build = false;
                let code = self.batch(Phase::Clean, &cmd);
                self.finish(Finish::Clean, code);
            }
            Task::Build(cmd) => {
                let code = self.batch(Phase::Build, &cmd);
                self.failed_build = code != 0;
                self.finish(Finish::Build, code);
            }
            Task::Exec(cmd) => {
                if std::mem::take(&mut self.failed_build) {
                    tracing::info!("skipping exec because the build failed");
                    self.finish(Finish::Exec, exit::NOT_FOUND);
                    return;
                }
                let code = self.batch(Phase::Exec, &cmd);
                self.finish(Finish::Exec, code);
            }
            Task::Code(text) => {
                let code = self.query(&text);
                self.finish(Finish::Exec, code);
            }
            Task::Bootstrap(path) => self.bootstrap(&path),
        }
    }

    fn query(&self, payload: &Payload) -> i32 {
        self.context.set_phase(Phase::Query);
        let text = match payload {
            Payload::Text(text) => text.as_str(),
            too_large => return self.refuse("code", too_large),
        };
        // Without a loaded plugin, `call` reports why the plugin is unavailable.
        if self.runner.info().is_none() || self.runner.has(capability::QUERY) {
            return self
                .runner
                .call("query", |r| r.query(RStr::from(text)).into_result());
        }
        let language = self.runner.info().map(|i| i.language.as_str());
        let text = messages::query_unsupported(&self.context.name, language);
        self.context.output(Stream::Stderr, text.into_bytes());
        exit::NOT_FOUND
    }

    fn batch(&self, phase: Phase, payload: &Payload) -> i32 {
        self.context.set_phase(phase);
        let cmd = match payload {
            Payload::Text(cmd) => cmd.as_str(),
            too_large => return self.refuse(op_name(phase), too_large),
        };
        match cmd {
            "" => 0,
            "*" => match phase {
                Phase::Build if Path::new("Makefile").is_file() => {
                    self.context.run(&RunSpec::shell("make"))
                }
                Phase::Clean => self.runner.call("clean", |r| r.clean().into_result()),
                Phase::Build => self.runner.call("build", |r| r.build().into_result()),
                _ => self.runner.call("exec", |r| r.execute().into_result()),
            },
            line => self.context.run(&RunSpec::shell(line)),
        }
    }

    /// A task whose op was over the size limit: says so on stderr, and fails like a command
    /// too large to execute.
    fn refuse(&self, op: &str, payload: &Payload) -> i32 {
        if let Payload::TooLarge { size, limit } = payload {
            tracing::error!(
                target: WIRE,
                "rejected {op:?} of {size} bytes: larger than the limit of {limit} bytes \
                 (--max-message-size)"
            );
            let line = messages::op_too_large(&self.context.name, op, *size, *limit);
            self.context.output(Stream::Stderr, line.into_bytes());
        }
        exit::NOT_EXECUTABLE
    }

    fn finish(&self, kind: Finish, code: i32) {
        self.context.outbox.send(Msg::Finished(kind, Some(code)));
    }

    fn bootstrap(&self, path: &Path) {
        tracing::info!("running {}", path.display());
        self.context.set_phase(Phase::Clean);
        let spec = RunSpec::argv(["/bin/sh".to_owned(), path.display().to_string()]);
        let result = self.context.resolve(&spec).and_then(|spawn| {
            use std::io::Write;
            let mut sink = |stream, data: Vec<u8>| {
                let _ = match stream {
                    Stream::Stdout => std::io::stdout().write_all(&data),
                    Stream::Stderr => std::io::stderr().write_all(&data),
                };
            };
            Ok(process::run(
                &spawn,
                &self.context.groups,
                Stdin::Null,
                &mut sink,
            )?)
        });
        match result {
            Ok(0) => tracing::info!("{} finished", path.display()),
            Ok(code) => tracing::info!("{} exited with {code}", path.display()),
            Err(e) => tracing::info!("{} could not run: {e}", path.display()),
        }
    }
}
