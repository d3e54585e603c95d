//! Jupyter kernels as krunner query modes: one bridge from the agent's protocol to the Jupyter
//! messaging protocol, so that every installed kernel (IRkernel, IJulia, octave_kernel,
//! bash_kernel, ipykernel, xeus kernels, tslab, ...) serves stateful queries with rich
//! output, input, interrupts and completion.
//!
//! - [`spec`]: kernelspecs and Jupyter's data directories;
//! - [`select`]: which kernel serves which plugin (`KRUNNER_JUPYTER`);
//! - [`launch`] and [`connection`]: the command and the connection file a kernel starts with;
//! - [`zmtp`]: the ZeroMQ client (ZMTP 3.0 over TCP, no libzmq); [`wire`]: signed messages;
//! - [`kernel`], [`routing`] and [`query`]: a running kernel, the threads listening to it,
//!   and a query through it; [`output`]: what its output becomes for the agent;
//! - [`bridge`]: a plugin's query mode through one kernelspec, restarted when it dies;
//! - [`QueryMode`]: what a language plugin uses: a kernel of its language when there is one
//!   (and `KRUNNER_JUPYTER` allows it), else the plugin's own query mode.
//!
//! The kernel process is started through the host (`Host::spawn`), which owns its process
//! group; the bridge only connects client sockets to the ports the kernel binds on loopback
//! (see the plugin-api crate docs, "When a plugin may own processes and sockets").

pub mod bridge;
pub mod clock;
pub mod connection;
pub mod kernel;
pub mod launch;
pub mod output;
pub mod query;
pub mod routing;
pub mod select;
pub mod spec;
pub mod wire;
pub mod zmtp;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use krunner_plugin_api::sdk::HostHandle;
use krunner_plugin_api::RunSpec;

pub use bridge::Bridge;
pub use launch::LaunchEnv;
pub use select::{Choice, Selected};
pub use spec::KernelSpec;

/// The installed kernels as the child environment `env` sees them.
#[derive(Debug, Clone, Default)]
pub struct Installed {
    /// Jupyter's data directories, in order.
    pub dirs: Vec<PathBuf>,
    /// The usable kernelspecs, by name.
    pub kernels: Vec<KernelSpec>,
    /// The unusable ones.
    pub problems: Vec<spec::Problem>,
}

impl Installed {
    /// Looks for kernels; `python_prefix` is the `sys.prefix` of the `python3` on the child's
    /// `PATH`, when known.
    pub fn find(env: &BTreeMap<String, String>, python_prefix: Option<&str>) -> Self {
        let dirs = spec::data_dirs(env, &spec::prefixes(env, python_prefix));
        let (kernels, problems) = spec::find(&dirs);
        Self {
            dirs,
            kernels,
            problems,
        }
    }

    /// Looks for kernels in the child environment, asking its `python3` for `sys.prefix`
    /// (through the host; about 20 ms, once).
    pub fn find_with(host: &HostHandle, env: &BTreeMap<String, String>) -> Self {
        let prefix = host.which("python3").and_then(|_| {
            let spec = RunSpec::argv(["python3", "-c", "import sys; print(sys.prefix)"]);
            host.capture(&spec).ok().filter(|o| o.exit_code == 0)
        });
        Self::find(env, prefix.as_ref().map(|o| o.stdout.as_str()))
    }
}

/// What serves a language plugin's queries, decided at its first query.
pub enum Decision {
    /// A kernel.
    Kernel(Box<Bridge>),
    /// The plugin's own query mode.
    Own,
    /// `KRUNNER_JUPYTER` names a kernel that is not installed: queries fail with this text.
    Missing(String),
}

/// A language plugin's choice between a kernel and its own query mode.
pub struct QueryMode {
    plugin: &'static str,
    runner: String,
    decided: OnceLock<Decision>,
}

impl QueryMode {
    /// For `plugin` (its language, e.g. `r`), naming itself `<plugin>-kernel` in messages.
    pub fn new(plugin: &'static str) -> Self {
        Self {
            plugin,
            runner: format!("{plugin}-kernel"),
            decided: OnceLock::new(),
        }
    }

    /// The decision, made now if not yet: `KRUNNER_JUPYTER` in the child environment and the
    /// installed kernels. Kernels get the plugin's environment (`env`).
    pub fn decide(&self, host: &HostHandle, env: LaunchEnv) -> &Decision {
        self.decided.get_or_init(|| {
            let child = host.child_env();
            let choice = Choice::for_plugin(self.plugin, &child);
            if choice == Choice::Off {
                return Decision::Own;
            }
            let installed = Installed::find_with(host, &child);
            match select::select(self.plugin, &choice, &installed.kernels) {
                Selected::Own => Decision::Own,
                Selected::Missing(why) => Decision::Missing(format!("{}: {why}\n", self.runner)),
                Selected::Kernel(spec) => {
                    let env = LaunchEnv { child, ..env };
                    match Bridge::new(host.clone(), spec, &self.runner, env) {
                        Ok(b) => Decision::Kernel(Box::new(b)),
                        Err(e) => Decision::Missing(format!("{}: {}\n", self.runner, e.message())),
                    }
                }
            }
        })
    }

    /// The bridge, once the first query chose a kernel.
    pub fn bridge(&self) -> Option<&Bridge> {
        match self.decided.get() {
            Some(Decision::Kernel(b)) => Some(b),
            _ => None,
        }
    }

    /// Runs `code` through the kernel when one was chosen; `None` when the plugin's own query
    /// mode serves it.
    pub fn query(&self, host: &HostHandle, env: LaunchEnv, code: &str) -> Option<i32> {
        match self.decide(host, env) {
            Decision::Kernel(b) => Some(b.query(code)),
            Decision::Own => None,
            Decision::Missing(why) => {
                let _ = host.stderr(why);
                Some(127)
            }
        }
    }
}
