//! Every live process of the service subsystem, in one place shutdown can empty.
//!
//! - the running services, by name ([`ServiceProcess`]);
//! - the services being stopped by `shutdown-service` (a new start of the name waits for them);
//! - the commands that prepare services (prestart `run_command`s, the SSH key tools) while
//!   they run.
//!
//! A service is recorded the moment its spawn returns, before anything else can fail:
//! whatever fails later finds it here. Shutdown
//! [`Registry::close`]s the registry and stops what it held; anything that tries to start
//! after that is refused (a service is then not spawned at all, a preparing command is killed
//! at once), so nothing started during shutdown outlives the runner.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::error::StartError;
use super::launch::{LaunchError, ServiceProcess};
use crate::process::{self, Group};

/// The live processes (see the module docs).
#[derive(Default)]
pub(crate) struct Registry {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    closed: bool,
    running: HashMap<String, ServiceProcess>,
    stopping: HashMap<String, ServiceProcess>,
    helpers: Vec<Arc<Group>>,
}

/// What [`Registry::close`] took out.
pub(crate) struct Closed {
    /// Running and stopping services.
    pub(crate) services: Vec<ServiceProcess>,
    /// Preparing commands still running.
    pub(crate) helpers: Vec<Arc<Group>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spawns a service with `spawn` and records it under `name` as soon as it runs; refused
    /// once the registry is closed (a service spawned while it closed is killed at once).
    pub(crate) fn spawn(
        &self,
        name: &str,
        spawn: impl FnOnce() -> Result<ServiceProcess, LaunchError>,
    ) -> Result<ServiceProcess, StartError> {
        let closing = || StartError::Internal("the runner is shutting down".into());
        if self.lock().closed {
            return Err(closing());
        }
        // Not under the lock: looking the program up and starting it may take a while.
        let process = spawn()?;
        let mut inner = self.lock();
        if inner.closed {
            drop(inner);
            process::kill(&process.group);
            return Err(closing());
        }
        inner.running.insert(name.to_owned(), process.clone());
        Ok(process)
    }

    /// The instance of `name` recorded as running (it may have exited a moment ago).
    pub(crate) fn running(&self, name: &str) -> Option<ServiceProcess> {
        self.lock().running.get(name).cloned()
    }

    /// Forgets `process` as the running instance of `name` (not a newer one).
    pub(crate) fn forget(&self, name: &str, process: &ServiceProcess) {
        let mut inner = self.lock();
        if inner.running.get(name).is_some_and(|p| p.same(process)) {
            inner.running.remove(name);
        }
    }

    /// Moves the live instance of `name` from running to stopping; returns it.
    pub(crate) fn begin_stop(&self, name: &str) -> Option<ServiceProcess> {
        let mut inner = self.lock();
        let process = inner.running.remove(name).filter(ServiceProcess::alive)?;
        inner.stopping.insert(name.to_owned(), process.clone());
        Some(process)
    }

    /// Moves `process` from running to stopping under `name` (a start cut short stops what it
    /// spawned; a new start of the name meanwhile waits for it instead of finding it running).
    pub(crate) fn retire(&self, name: &str, process: &ServiceProcess) {
        let mut inner = self.lock();
        if inner.running.get(name).is_some_and(|p| p.same(process)) {
            inner.running.remove(name);
        }
        inner.stopping.insert(name.to_owned(), process.clone());
    }

    /// The instance of `name` being stopped, if any.
    pub(crate) fn stopping(&self, name: &str) -> Option<ServiceProcess> {
        self.lock().stopping.get(name).cloned()
    }

    /// Forgets `process` as the stopping instance of `name` (it is gone).
    pub(crate) fn end_stop(&self, name: &str, process: &ServiceProcess) {
        let mut inner = self.lock();
        if inner.stopping.get(name).is_some_and(|p| p.same(process)) {
            inner.stopping.remove(name);
        }
    }

    /// Refuses every later start and takes out everything recorded (shutdown).
    pub(crate) fn close(&self) -> Closed {
        let mut inner = self.lock();
        inner.closed = true;
        let mut services: Vec<ServiceProcess> = inner.running.drain().map(|(_, p)| p).collect();
        services.extend(inner.stopping.drain().map(|(_, p)| p));
        Closed {
            services,
            helpers: std::mem::take(&mut inner.helpers),
        }
    }
}

impl process::Tracker for Registry {
    fn add(&self, group: &Arc<Group>) -> bool {
        let mut inner = self.lock();
        if inner.closed {
            return false;
        }
        inner.helpers.push(Arc::clone(group));
        true
    }

    fn remove(&self, group: &Arc<Group>) {
        self.lock().helpers.retain(|g| !Arc::ptr_eq(g, group));
    }
}
