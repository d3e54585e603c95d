//! The `python` runner.
//!
//! - Query mode keeps one interpreter (started on first use, replaced when it dies), so
//!   variables, imports and functions persist across `code` ops. Output streams as it
//!   is produced, including what C extensions and child processes write to fd 1/2; a trailing
//!   expression is displayed like IPython; `_repr_html_`/`_repr_png_`/... objects, pandas
//!   frames and matplotlib figures become `html` and `media` messages; `input()` and `getpass()`
//!   ask the user; `interrupt` raises KeyboardInterrupt; `exit()` does not end the interpreter.
//! - Batch mode: `build *` installs a `setup.py`/`pyproject.toml` project with pip, `exec *`
//!   runs `main.py`.
//! - With `KRUNNER_JUPYTER` set (`auto`, or a kernel's name such as `python3`), queries go to
//!   that Jupyter kernel instead of the runner's own interpreter.
//! - Services: the legacy hook knows jupyter (Notebook), jupyterlab, ipython and tensorboard;
//!   the Jupyter apps get a configuration for their version (`jupyter_config.py`).

use std::path::Path;
use std::sync::Arc;

use krunner_plugin_api::sdk::{
    HostHandle, Kernel, Result, TempDir, COMPLETE_TIMEOUT, IS_COMPLETE_TIMEOUT,
};
use krunner_plugin_api::{
    capability, CompletionRequest, IsCompleteReply, IsCompleteRequest, PluginInfo, RunSpec,
    RunnerConfig, Sample, ServiceCommand, ServiceRequest,
};

use krunner_jupyter::{LaunchEnv, QueryMode};
use krunner_repl::{Interpreter, Slot};

const DRIVER: &str = include_str!("driver.py");

/// The configuration of the Jupyter apps; `@MODULE@` and `@PORT@` are filled in per start.
const JUPYTER_CONFIG: &str = include_str!("jupyter_config.py");

/// The python runner.
pub struct Python {
    host: HostHandle,
    python: String,
    scratch: TempDir,
    driver: String,
    interpreter: Slot,
    kernel: QueryMode,
}

impl Python {
    /// The live interpreter, started if needed.
    fn interpreter(&self) -> Result<Arc<Interpreter>> {
        if self.host.which(&self.python).is_none() {
            return Err(krunner_plugin_api::PluginError::not_found(format!(
                "{}: command not found (the Python interpreter for this session)",
                self.python
            )));
        }
        self.interpreter.get_or_start(|| {
            let spec = RunSpec::argv([self.python.as_str(), "-u", self.driver.as_str()])
                .env("PYTHONUNBUFFERED", "1")
                .env("PYTHONIOENCODING", "utf-8");
            Interpreter::start(&self.host, &spec, "Python")
        })
    }

    /// Writes the configuration of a Jupyter app (`module`) listening on `port`.
    fn jupyter_config(&self, module: &str, port: u16) -> Result<String> {
        let path = self
            .scratch
            .path()
            .join(format!("jupyter-{module}-{port}.py"));
        let config = JUPYTER_CONFIG
            .replace("@MODULE@", module)
            .replace("@PORT@", &port.to_string());
        std::fs::write(&path, config)?;
        Ok(path.display().to_string())
    }
}

impl Kernel for Python {
    fn info() -> PluginInfo {
        PluginInfo {
            language: "python".into(),
            plugin_version: env!("CARGO_PKG_VERSION").into(),
            min_api_minor: 2,
            capabilities: vec![
                capability::BATCH.into(),
                capability::QUERY.into(),
                capability::COMPLETE.into(),
                capability::INPUT.into(),
                capability::SERVICES.into(),
            ],
            description: "Python: persistent query-mode interpreter, main.py, pip projects".into(),
            default_runtime: Some("python3".into()),
            ..PluginInfo::default()
        }
    }

    fn new(config: RunnerConfig, host: HostHandle) -> Result<Self> {
        let python = config
            .runtime_path
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "python3".into());
        let scratch = TempDir::new("python")?;
        let driver = scratch.path().join("krunner_driver.py");
        std::fs::write(&driver, DRIVER)?;
        Ok(Self {
            host,
            python,
            driver: driver.display().to_string(),
            scratch,
            interpreter: Slot::default(),
            kernel: QueryMode::new("python"),
        })
    }

    fn build(&self) -> Result<i32> {
        if Path::new("setup.py").is_file() || Path::new("pyproject.toml").is_file() {
            return self.host.run(&RunSpec::argv([
                self.python.as_str(),
                "-m",
                "pip",
                "install",
                "--user",
                "-e",
                ".",
            ]));
        }
        self.host
            .info("no setup.py or pyproject.toml: nothing to build");
        Ok(0)
    }

    fn execute(&self) -> Result<i32> {
        if !Path::new("main.py").is_file() {
            self.host
                .error("cannot find the main script (main.py); add it or send an exec command");
            return Ok(127);
        }
        self.host
            .run(&RunSpec::argv([self.python.as_str(), "main.py"]))
    }

    fn query(&self, code: &str) -> Result<i32> {
        if let Some(exit) = self.kernel.query(&self.host, LaunchEnv::default(), code) {
            return Ok(exit);
        }
        let interpreter = match self.interpreter() {
            Ok(s) => s,
            Err(e) if e.code == krunner_plugin_api::ErrorCode::NOT_FOUND => {
                self.host.error(e.message());
                return Ok(127);
            }
            Err(e) => return Err(e),
        };
        Ok(krunner_repl::query(
            &self.host,
            &interpreter,
            code,
            "python-kernel",
            "Python",
        ))
    }

    fn complete(&self, request: &CompletionRequest) -> Result<Vec<String>> {
        if let Some(b) = self.kernel.bridge() {
            return Ok(b.complete(request, COMPLETE_TIMEOUT));
        }
        let interpreter = self.interpreter()?;
        let value = serde_json::to_value(request)?;
        Ok(interpreter.complete(&value, COMPLETE_TIMEOUT))
    }

    /// The kernel's answer once queries run in one; before that (and in the plugin's own
    /// query mode) `codeop`'s.
    fn is_complete(&self, request: &IsCompleteRequest) -> Result<IsCompleteReply> {
        if let Some(b) = self.kernel.bridge() {
            return Ok(b.is_complete(&request.code));
        }
        let interpreter = self.interpreter()?;
        Ok(interpreter.is_complete(&request.code, IS_COMPLETE_TIMEOUT))
    }

    fn interrupt(&self) {
        if let Some(b) = self.kernel.bridge() {
            b.interrupt();
        }
        if let Some(i) = self.interpreter.current() {
            i.interrupt();
        }
    }

    fn start_service(&self, request: &ServiceRequest) -> Result<Option<ServiceCommand>> {
        let py = self.python.clone();
        let port = request.port;
        let argv: Vec<String> = match request.name.as_str() {
            "jupyter" | "jupyterlab" => {
                let module = if request.name == "jupyter" {
                    "notebook"
                } else {
                    "jupyterlab"
                };
                let config = self.jupyter_config(module, port)?;
                vec![
                    py,
                    "-m".into(),
                    module.into(),
                    "--no-browser".into(),
                    "--config".into(),
                    config,
                ]
            }
            "ipython" => vec![py, "-m".into(), "IPython".into()],
            "tensorboard" => {
                // `logs` in the session directory (/home/work/logs in a session).
                let logs = std::env::current_dir()?.join("logs");
                std::fs::create_dir_all(&logs)?;
                vec![
                    py,
                    "-m".into(),
                    "tensorboard.main".into(),
                    "--logdir".into(),
                    logs.display().to_string(),
                    "--host".into(),
                    "0.0.0.0".into(),
                    "--port".into(),
                    port.to_string(),
                ]
            }
            _ => return Ok(None),
        };
        Ok(Some(ServiceCommand {
            argv,
            ..ServiceCommand::default()
        }))
    }

    fn shutdown(&self) {
        if let Some(b) = self.kernel.bridge() {
            b.shutdown();
        }
        if let Some(i) = self.interpreter.current() {
            i.terminate();
        }
    }

    fn samples() -> Vec<Sample> {
        vec![
            Sample {
                name: "hello-batch".into(),
                files: [("main.py".to_owned(), "print('hello, world')\n".to_owned())].into(),
                exec: Some("*".into()),
                expect_stdout: Some("hello, world\n".into()),
                requires: Some("python3".into()),
                ..Sample::default()
            },
            Sample {
                name: "hello-query".into(),
                code: Some("greeting = 'hello, ' + 'world'\nprint(greeting)".into()),
                expect_stdout: Some("hello, world\n".into()),
                requires: Some("python3".into()),
                ..Sample::default()
            },
            Sample {
                name: "input".into(),
                code: Some("name = input('name? ')\nprint('hi', name)".into()),
                input: vec!["Ada".into()],
                expect_stdout: Some("name? hi Ada\n".into()),
                requires: Some("python3".into()),
                ..Sample::default()
            },
        ]
    }
}

krunner_plugin_api::export_plugin!(Python);
