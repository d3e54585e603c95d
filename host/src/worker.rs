//! The task queue: `clean`, `build`, `exec` and `code` run one at a time, in arrival order, on
//! one thread, so the output of consecutive tasks never interleaves.
//!
//! Batch rules (the runtime contract): an empty command is skipped but still answered with
//! exit 0; `*` asks the plugin's heuristic, except that `build *` runs `make` wherever a
//! Makefile exists; an `exec` that follows a failed `build` is answered with 127 without
//! running. The failed-build gate is cleared by the next `clean` (each batch the agent sends
//! starts with one), so a stale failure cannot swallow an unrelated later `exec`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use abi_stable::std_types::RStr;
use crossbeam_channel::{Receiver, Sender};
use krunner_plugin_api::{capability, RunSpec};

use crate::process::{self, Stream};
use crate::protocol::{Finish, Msg};
use crate::runner::RunnerSlot;
use crate::session::{Phase, Session};

/// A queued task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// `clean`.
    Clean(String),
    /// `build`.
    Build(String),
    /// `exec`.
    Exec(String),
    /// `code`.
    Code(String),
    /// The session's `bootstrap.sh`, run once before anything else; its output goes to the
    /// runner's own stdout/stderr (the container log), not to the user.
    Bootstrap(PathBuf),
}

/// The task thread.
pub struct Worker {
    tx: Option<Sender<Task>>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts the task thread.
    pub fn start(session: Arc<Session>, runners: Arc<RunnerSlot>) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let handle = std::thread::Builder::new()
            .name("tasks".into())
            .spawn(move || {
                let mut state = State {
                    session,
                    runners,
                    failed_build: false,
                };
                state.serve(rx);
            })?;
        Ok(Self {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    /// Queues a task.
    pub fn submit(&self, task: Task) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(task);
        }
    }

    /// Stops taking tasks and waits up to `budget` for the current one to finish. Returns
    /// whether it did.
    pub fn stop(&mut self, budget: Duration) -> bool {
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

struct State {
    session: Arc<Session>,
    runners: Arc<RunnerSlot>,
    failed_build: bool,
}

impl State {
    fn serve(&mut self, rx: Receiver<Task>) {
        for task in rx {
            if self.session.stopping() {
                break;
            }
            self.handle(task);
            self.session.set_phase(Phase::Idle);
            // An input request of a plugin thread that outlived its task must not wait on.
            self.session.input.cancel_waiters();
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
                    self.finish(Finish::Exec, 127);
                    return;
                }
                let code = self.batch(Phase::Exec, &cmd);
                self.finish(Finish::Exec, code);
            }
            Task::Code(text) => {
                self.session.set_phase(Phase::Query);
                // Without a loaded plugin, `call` reports why the plugin is unavailable.
                let code = if self.runners.info().is_none() || self.runners.has(capability::QUERY) {
                    self.runners.call("query", |r| {
                        r.query(RStr::from(text.as_str())).into_result()
                    })
                } else {
                    let name = self
                        .runners
                        .info()
                        .map_or_else(|| "this".to_owned(), |i| format!("the '{}'", i.language));
                    self.session.output(
                        Stream::Stderr,
                        format!(
                            "{}: query mode is not supported by {name} runner\n",
                            self.session.name
                        )
                        .into_bytes(),
                    );
                    127
                };
                self.finish(Finish::Exec, code);
            }
            Task::Bootstrap(path) => self.bootstrap(&path),
        }
    }

    fn batch(&self, phase: Phase, cmd: &str) -> i32 {
        self.session.set_phase(phase);
        match cmd {
            "" => 0,
            "*" => match phase {
                Phase::Build if Path::new("Makefile").is_file() => {
                    self.session.run(&RunSpec::shell("make"))
                }
                Phase::Clean => self.runners.call("clean", |r| r.clean().into_result()),
                Phase::Build => self.runners.call("build", |r| r.build().into_result()),
                _ => self.runners.call("exec", |r| r.execute().into_result()),
            },
            line => self.session.run(&RunSpec::shell(line)),
        }
    }

    fn finish(&self, kind: Finish, code: i32) {
        self.session.outbox.send(Msg::Finished(kind, Some(code)));
    }

    fn bootstrap(&self, path: &Path) {
        tracing::info!("running {}", path.display());
        self.session.set_phase(Phase::Clean);
        let spec = RunSpec::argv(["/bin/sh".to_owned(), path.display().to_string()]);
        let result = self.session.resolve(&spec).and_then(|spawn| {
            use std::io::Write;
            let mut sink = |stream, data: Vec<u8>| {
                let _ = match stream {
                    Stream::Stdout => std::io::stdout().write_all(&data),
                    Stream::Stderr => std::io::stderr().write_all(&data),
                };
            };
            Ok(process::run(&spawn, &self.session.groups, &mut sink)?)
        });
        match result {
            Ok(0) => tracing::info!("{} finished", path.display()),
            Ok(code) => tracing::info!("{} exited with {code}", path.display()),
            Err(e) => tracing::info!("{} could not run: {e}", path.display()),
        }
    }
}
