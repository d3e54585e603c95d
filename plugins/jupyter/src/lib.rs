//! The `jupyter` runner: `krunner jupyter [KERNEL]` serves queries through any installed
//! Jupyter kernel. The runtime path names the kernelspec (`ir`, `bash`, `xpython`, or a
//! kernelspec directory); without one, `KRUNNER_JUPYTER` may name it, else the only installed
//! kernel is used, and with several the query says which there are.
//!
//! Batch mode runs `main.*` with the interpreter of the kernel's language where that is
//! obvious (`main.py` with the kernel's Python, `main.R` with `Rscript`, `main.sh` with bash,
//! ...), and otherwise says it is unsupported.

use std::path::Path;
use std::sync::{Arc, Mutex};

use krunner_jupyter::select::{batch_command, by_name, names, Choice};
use krunner_jupyter::{Bridge, Installed, KernelSpec, LaunchEnv};
use krunner_plugin_api::sdk::{HostHandle, Kernel, Result, COMPLETE_TIMEOUT};
use krunner_plugin_api::{
    capability, CompletionRequest, IsCompleteReply, IsCompleteRequest, PluginInfo, RunSpec,
    RunnerConfig,
};

/// The exit code of a query or exec with no kernel to serve it.
const NOT_FOUND: i32 = 127;

/// The jupyter runner.
pub struct Jupyter {
    host: HostHandle,
    /// The runtime path: a kernel name or a kernelspec directory.
    named: Option<String>,
    bridge: Mutex<Option<Arc<Bridge>>>,
}

/// Why no kernel serves the runner.
#[derive(Debug, thiserror::Error)]
enum NoKernel {
    /// The runtime path is a kernelspec directory that cannot be used.
    #[error("{path}: {reason}")]
    BadSpec { path: String, reason: String },
    /// The named kernel is not installed.
    #[error("no Jupyter kernel named {name:?} is installed (installed: {installed})")]
    NotInstalled { name: String, installed: String },
    /// No kernel is installed.
    #[error(
        "no Jupyter kernel is installed (looked in {dirs}); install one, or pass a kernelspec \
         directory as the runtime path"
    )]
    NoneInstalled { dirs: String },
    /// Several are, and none was named.
    #[error(
        "several Jupyter kernels are installed; name one as the runtime path (krunner jupyter \
         KERNEL) or in KRUNNER_JUPYTER: {installed}"
    )]
    Several { installed: String },
}

impl Jupyter {
    /// The kernelspec to use, or why there is none.
    fn spec(&self) -> std::result::Result<KernelSpec, NoKernel> {
        let env = self.host.child_env();
        let named = self.named.clone().or_else(|| match Choice::from_env(&env) {
            Some(Choice::Kernel(name)) => Some(name),
            _ => None,
        });
        if let Some(dir) = named.as_deref().filter(|n| n.contains('/')) {
            return KernelSpec::load(Path::new(dir)).map_err(|p| NoKernel::BadSpec {
                path: p.path.display().to_string(),
                reason: p.reason,
            });
        }
        let installed = Installed::find_with(&self.host, &env);
        match (named, installed.kernels.as_slice()) {
            (Some(name), found) => {
                by_name(found, &name)
                    .cloned()
                    .ok_or_else(|| NoKernel::NotInstalled {
                        name,
                        installed: names(found),
                    })
            }
            (None, []) => Err(NoKernel::NoneInstalled {
                dirs: installed
                    .dirs
                    .iter()
                    .map(|d| d.join("kernels").display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
            (None, [only]) => Ok(only.clone()),
            (None, several) => Err(NoKernel::Several {
                installed: names(several),
            }),
        }
    }

    /// The bridge to the chosen kernel, or the exit code after saying why there is none.
    fn bridge(&self) -> std::result::Result<Arc<Bridge>, i32> {
        let mut slot = self.bridge.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = slot.as_ref() {
            return Ok(Arc::clone(b));
        }
        let spec = self.spec().map_err(|why| {
            let _ = self.host.stderr(format!("jupyter-kernel: {why}\n"));
            NOT_FOUND
        })?;
        let bridge = Bridge::new(
            self.host.clone(),
            spec,
            "jupyter-kernel",
            LaunchEnv::default(),
        )
        .map_err(|e| {
            let _ = self
                .host
                .stderr(format!("jupyter-kernel: {}\n", e.message()));
            1
        })?;
        let bridge = Arc::new(bridge);
        *slot = Some(Arc::clone(&bridge));
        Ok(bridge)
    }

    fn current(&self) -> Option<Arc<Bridge>> {
        self.bridge
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Kernel for Jupyter {
    fn info() -> PluginInfo {
        PluginInfo {
            language: "jupyter".into(),
            plugin_version: env!("CARGO_PKG_VERSION").into(),
            min_api_minor: 2,
            capabilities: vec![
                capability::BATCH.into(),
                capability::QUERY.into(),
                capability::COMPLETE.into(),
                capability::INPUT.into(),
            ],
            description: "any installed Jupyter kernel (RUNTIME_PATH names it): stateful \
                          queries with rich output, input, interrupts and completion"
                .into(),
            default_runtime: None,
            ..PluginInfo::default()
        }
    }

    fn new(config: RunnerConfig, host: HostHandle) -> Result<Self> {
        Ok(Self {
            host,
            named: config.runtime_path.filter(|p| !p.trim().is_empty()),
            bridge: Mutex::new(None),
        })
    }

    fn execute(&self) -> Result<i32> {
        let spec = match self.spec() {
            Ok(s) => s,
            Err(why) => {
                self.host.error(&why.to_string());
                return Ok(NOT_FOUND);
            }
        };
        let Some((mains, interpreter)) = batch_command(&spec) else {
            self.host.error(&format!(
                "exec * is not supported for the kernel {:?} (language {:?}); send an explicit \
                 command",
                spec.name, spec.language
            ));
            return Ok(NOT_FOUND);
        };
        let Some(main) = mains.iter().find(|f| Path::new(f).is_file()) else {
            self.host.error(&format!(
                "cannot find the main script (looked for {}); add it or send an explicit command",
                mains.join(", ")
            ));
            return Ok(NOT_FOUND);
        };
        let mut argv = interpreter;
        argv.push((*main).to_owned());
        self.host.run(&RunSpec::argv(argv))
    }

    fn query(&self, code: &str) -> Result<i32> {
        Ok(match self.bridge() {
            Ok(b) => b.query(code),
            Err(exit) => exit,
        })
    }

    fn complete(&self, request: &CompletionRequest) -> Result<Vec<String>> {
        Ok(self
            .current()
            .map(|b| b.complete(request, COMPLETE_TIMEOUT))
            .unwrap_or_default())
    }

    /// The kernel's `is_complete_reply`; `unknown` before the first query started the kernel.
    fn is_complete(&self, request: &IsCompleteRequest) -> Result<IsCompleteReply> {
        Ok(self
            .current()
            .map(|b| b.is_complete(&request.code))
            .unwrap_or_default())
    }

    fn interrupt(&self) {
        if let Some(b) = self.current() {
            b.interrupt();
        }
    }

    fn shutdown(&self) {
        if let Some(b) = self.current() {
            b.shutdown();
        }
    }
}

krunner_plugin_api::export_plugin!(Jupyter);
