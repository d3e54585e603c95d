//! The process groups the host answers for: those of the running task, which `interrupt`
//! reaches, and the plugins' interpreters, which only shutdown ends.
//!
//! An interrupt sends SIGINT to every group of the task now and SIGKILL to those still
//! running after the grace period (`--interrupt-grace`); a subprocess the task starts after
//! the interrupt is interrupted as it registers. Shutdown terminates everything through the
//! one ladder ([`super::terminate`]).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{terminate, Group};
use crate::messages;

/// The registry of live process groups.
#[derive(Default)]
pub(crate) struct Groups {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    tasks: Vec<Arc<Group>>,
    interpreters: Vec<Arc<Group>>,
    interrupted: bool,
}

fn remove(list: &mut Vec<Arc<Group>>, group: &Arc<Group>) {
    list.retain(|g| !Arc::ptr_eq(g, group));
}

impl Groups {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a new task: clears the interrupted flag.
    pub(crate) fn begin_task(&self) {
        self.lock().interrupted = false;
    }

    /// Whether the current task was interrupted.
    pub(crate) fn interrupted(&self) -> bool {
        self.lock().interrupted
    }

    /// Records a group of the running task.
    pub(crate) fn add_task(&self, group: &Arc<Group>) {
        let mut inner = self.lock();
        inner.tasks.push(Arc::clone(group));
        if inner.interrupted {
            // The interrupt arrived while this process was being started.
            group.signal(libc::SIGINT);
        }
    }

    /// Forgets a group of the task (its leader has exited).
    pub(crate) fn remove_task(&self, group: &Arc<Group>) {
        remove(&mut self.lock().tasks, group);
    }

    /// Records an interpreter (terminated at shutdown, never interrupted).
    pub(crate) fn add_interpreter(&self, group: &Arc<Group>) {
        self.lock().interpreters.push(Arc::clone(group));
    }

    /// Forgets an interpreter.
    pub(crate) fn remove_interpreter(&self, group: &Arc<Group>) {
        remove(&mut self.lock().interpreters, group);
    }

    /// Interrupts the task: SIGINT to every group now, SIGKILL to those still running after
    /// `grace`. Later subprocesses of the same task are interrupted as they start. Returns how
    /// many groups were signalled.
    pub(crate) fn interrupt(self: &Arc<Self>, grace: Duration) -> usize {
        let targets = {
            let mut inner = self.lock();
            inner.interrupted = true;
            inner.tasks.clone()
        };
        for group in &targets {
            group.signal(libc::SIGINT);
        }
        let count = targets.len();
        if count > 0 {
            let groups = Arc::clone(self);
            let spawned = std::thread::Builder::new()
                .name("interrupt-grace".into())
                .spawn(move || {
                    std::thread::sleep(grace);
                    groups.kill_remaining(&targets);
                });
            if let Err(e) = spawned {
                tracing::warn!("cannot start the interrupt timer: {e}");
            }
        }
        count
    }

    fn kill_remaining(&self, targets: &[Arc<Group>]) {
        let still: Vec<Arc<Group>> = {
            let inner = self.lock();
            targets
                .iter()
                .filter(|t| inner.tasks.iter().any(|g| Arc::ptr_eq(g, t)))
                .cloned()
                .collect()
        };
        // Signalling a group whose leader was reaped meanwhile sends nothing (see Group).
        for group in still {
            tracing::warn!("{}", messages::interrupt_ignored(group.pid()));
            group.signal(libc::SIGKILL);
        }
    }

    /// Terminates every group, the task's and the interpreters (shutdown).
    pub(crate) fn terminate_all(&self, grace: Duration) {
        let all: Vec<Arc<Group>> = {
            let mut inner = self.lock();
            inner.interrupted = true;
            inner
                .tasks
                .iter()
                .chain(&inner.interpreters)
                .cloned()
                .collect()
        };
        terminate(&all, grace, "a process of the task");
    }
}
