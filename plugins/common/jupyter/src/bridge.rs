//! A plugin's query mode through one kernelspec: the kernel is started on the first query,
//! every query runs in it, and a kernel that died (or never started) is replaced by a fresh
//! one on the next query. What went wrong is said on the user's stderr as
//! `<runner>: the kernel '<name>' ...`, and no query waits for a dead kernel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use krunner_plugin_api::sdk::{HostHandle, Result, TempDir};
use krunner_plugin_api::{CompletionRequest, IsCompleteReply};

use crate::kernel::Kernel;
use crate::launch::{LaunchEnv, StartError};
use crate::query::{Ended, INTERRUPT_GRACE};
use crate::routing::lock;
use crate::spec::KernelSpec;

/// The variable that sets how long a kernel may take to start, in seconds.
pub const TIMEOUT_VARIABLE: &str = "KRUNNER_JUPYTER_TIMEOUT";

/// How long a kernel may take to start by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a kernel may take to say whether a snippet is complete (the host's deadline is
/// 3 s; an idle kernel answers in milliseconds).
pub const IS_COMPLETE_TIMEOUT: Duration = Duration::from_secs(1);

/// How many times a start is tried when the kernel's ports were taken meanwhile.
const PORT_ATTEMPTS: usize = 3;

/// Query mode through a kernel.
pub struct Bridge {
    host: HostHandle,
    spec: KernelSpec,
    runner: String,
    env: LaunchEnv,
    scratch: TempDir,
    current: Mutex<Option<Arc<Kernel>>>,
    /// Held while a kernel starts, so that two callers never start two kernels.
    starting: Mutex<()>,
}

impl Bridge {
    /// A bridge to `spec` for the runner named `runner` in messages (`r-kernel`); kernels get
    /// `env` (the plugin's environment additions and `PATH` directories).
    pub fn new(
        host: HostHandle,
        spec: KernelSpec,
        runner: &str,
        mut env: LaunchEnv,
    ) -> Result<Self> {
        if env.child.is_empty() {
            env.child = host.child_env();
        }
        Ok(Self {
            scratch: TempDir::new("jupyter")?,
            host,
            spec,
            runner: runner.to_owned(),
            env,
            current: Mutex::new(None),
            starting: Mutex::new(()),
        })
    }

    /// The kernelspec.
    pub fn spec(&self) -> &KernelSpec {
        &self.spec
    }

    /// The live kernel, if any.
    pub fn current(&self) -> Option<Arc<Kernel>> {
        lock(&self.current).clone().filter(|k| k.alive())
    }

    fn timeout(&self) -> Duration {
        self.env
            .child
            .get(TIMEOUT_VARIABLE)
            .and_then(|s| s.trim().parse::<f64>().ok())
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_TIMEOUT)
    }

    /// The live kernel, or a fresh one; `Err` with the exit code after telling the user why
    /// none could be started.
    pub fn kernel(&self) -> std::result::Result<Arc<Kernel>, i32> {
        let _starting = lock(&self.starting);
        if let Some(k) = self.current() {
            return Ok(k);
        }
        if let Some(old) = lock(&self.current).take() {
            old.terminate();
        }
        let mut attempt = 1;
        let started = loop {
            match Kernel::start(
                &self.host,
                &self.spec,
                self.scratch.path(),
                &self.env,
                self.timeout(),
            ) {
                Err(e) if e.port_taken() && attempt < PORT_ATTEMPTS => attempt += 1,
                other => break other,
            }
        };
        match started {
            Ok(k) => {
                let k = Arc::new(k);
                *lock(&self.current) = Some(Arc::clone(&k));
                Ok(k)
            }
            Err(e) => Err(self.cannot_start(&e)),
        }
    }

    fn cannot_start(&self, e: &StartError) -> i32 {
        self.say(&format!("cannot start: {e}"));
        e.exit_code()
    }

    fn say(&self, what: &str) {
        let _ = self.host.stderr(format!(
            "{}: the kernel '{}' {what}\n",
            self.runner, self.spec.name
        ));
    }

    /// Runs `code` in the kernel; returns the exit code.
    pub fn query(&self, code: &str) -> i32 {
        let kernel = match self.kernel() {
            Ok(k) => k,
            Err(code) => return code,
        };
        match kernel.execute(code) {
            Ended::Exit(code, line) => {
                if let Some(line) = line {
                    self.say(&line);
                }
                code
            }
            Ended::Died(status) => {
                let how = if status > 128 {
                    format!("was killed by signal {}", status - 128)
                } else {
                    format!("exited with status {status}")
                };
                self.say(&format!(
                    "{how}; its state is lost and a fresh kernel starts with the next query"
                ));
                if status == 0 {
                    1
                } else {
                    status
                }
            }
            Ended::Unresponsive => {
                self.say(&format!(
                    "was still busy {} s after the interrupt, so it was stopped; its state is \
                     lost and a fresh kernel starts with the next query",
                    INTERRUPT_GRACE.as_secs()
                ));
                130
            }
        }
    }

    /// Completions from the live kernel (none before the first query).
    pub fn complete(&self, request: &CompletionRequest, timeout: Duration) -> Vec<String> {
        self.current()
            .map(|k| k.complete(request, timeout))
            .unwrap_or_default()
    }

    /// Whether `code` is a complete snippet, by the live kernel; `unknown` before the first
    /// query started one (no kernel is started for this: that may take longer than the
    /// console waits), while a query runs, and when it does not answer within
    /// [`IS_COMPLETE_TIMEOUT`].
    pub fn is_complete(&self, code: &str) -> IsCompleteReply {
        self.current()
            .map(|k| k.is_complete(code, IS_COMPLETE_TIMEOUT))
            .unwrap_or_default()
    }

    /// Interrupts the running query.
    pub fn interrupt(&self) {
        if let Some(k) = self.current() {
            k.interrupt();
        }
    }

    /// Stops the kernel.
    pub fn shutdown(&self) {
        if let Some(k) = lock(&self.current).take() {
            k.terminate();
        }
    }
}
