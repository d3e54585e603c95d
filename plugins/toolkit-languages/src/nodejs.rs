//! The `nodejs` runner: `main.js` in batch mode, and a stateful query mode — one long-lived
//! Node.js interpreter (the embedded `driver.js`, started through the host), in which
//! every `code` op runs in the same global context, so variables, functions and required
//! modules persist. `interrupt` stops the running snippet (synchronous code through V8's
//! SIGINT handling, pending promises by abandoning them) and keeps the state; `input(prompt)`
//! and `password(prompt)` return promises of the user's answer; completion comes from the live
//! global scope. With `KRUNNER_JUPYTER` set (`auto` or a kernel's name), queries go to a
//! Jupyter kernel instead (tslab's `jslab`, ijavascript), as for the other script languages.

use std::sync::Arc;

use krunner_plugin_api::sdk::{
    HostHandle, Kernel, Result, TempDir, COMPLETE_TIMEOUT, IS_COMPLETE_TIMEOUT,
};
use krunner_plugin_api::{
    CompletionRequest, IsCompleteReply, IsCompleteRequest, PluginInfo, RunnerConfig, Sample,
};
use krunner_repl::{Interpreter, Slot};
use krunner_toolkit::script::{no_prelude, no_setup, plain_argv, Flavor, ScriptRunner};
use krunner_toolkit::LanguageRunner;

const DRIVER: &str = include_str!("nodejs/driver.js");

static FLAVOR: Flavor = Flavor {
    language: "nodejs",
    interpreters: &["node", "nodejs"],
    main_files: &["main.js"],
    extension: "js",
    description: "Node.js: main.js, and a stateful query-mode interpreter",
    argv: plain_argv,
    prelude: no_prelude,
    setup: no_setup,
    hello: "console.log(\"hello, world\");\n",
    exit3: "process.exit(3);\n",
};

/// The nodejs runner.
pub struct Nodejs {
    script: ScriptRunner,
    host: HostHandle,
    _scratch: TempDir,
    driver: String,
    interpreter: Slot,
}

impl Nodejs {
    /// The live interpreter, started if needed; `Err` with the exit code when node is missing.
    fn interpreter(&self) -> Result<std::result::Result<Arc<Interpreter>, i32>> {
        let node = match self.script.lang().resolve(FLAVOR.interpreters) {
            Ok(n) => n,
            Err(missing) => return Ok(Err(self.script.lang().missing_tool(&missing.name))),
        };
        let spec = self.script.lang().spec([node, self.driver.clone()]);
        self.interpreter
            .get_or_start(|| {
                Interpreter::start(&self.host, &spec, "Node.js")
                    .map(Interpreter::interrupt_by_command)
            })
            .map(Ok)
    }
}

impl Kernel for Nodejs {
    fn info() -> PluginInfo {
        let mut info = ScriptRunner::info(&FLAVOR, env!("CARGO_PKG_VERSION"));
        info.min_api_minor = 2;
        info
    }

    fn new(config: RunnerConfig, host: HostHandle) -> Result<Self> {
        let scratch = TempDir::new("nodejs")?;
        let driver = scratch.path().join("krunner_driver.js");
        std::fs::write(&driver, DRIVER)?;
        Ok(Self {
            script: ScriptRunner::new(&FLAVOR, config, host.clone()),
            host,
            driver: driver.display().to_string(),
            _scratch: scratch,
            interpreter: Slot::default(),
        })
    }

    fn execute(&self) -> Result<i32> {
        self.script.execute()
    }

    fn query(&self, code: &str) -> Result<i32> {
        if let Some(exit) = self.script.query_in_kernel(code) {
            return Ok(exit);
        }
        match self.interpreter()? {
            Ok(interpreter) => Ok(krunner_repl::query(
                &self.host,
                &interpreter,
                code,
                "nodejs-kernel",
                "Node.js",
            )),
            Err(missing) => Ok(missing),
        }
    }

    fn complete(&self, request: &CompletionRequest) -> Result<Vec<String>> {
        if self.script.kernel().is_some() {
            return self.script.complete(request);
        }
        let Ok(interpreter) = self.interpreter()? else {
            return Ok(Vec::new());
        };
        Ok(interpreter.complete(&serde_json::to_value(request)?, COMPLETE_TIMEOUT))
    }

    /// The kernel's answer once queries run in one; before that (and in the plugin's own
    /// query mode) V8's parser's.
    fn is_complete(&self, request: &IsCompleteRequest) -> Result<IsCompleteReply> {
        if let Some(b) = self.script.kernel() {
            return Ok(b.is_complete(&request.code));
        }
        let Ok(interpreter) = self.interpreter()? else {
            return Ok(IsCompleteReply::default());
        };
        Ok(interpreter.is_complete(&request.code, IS_COMPLETE_TIMEOUT))
    }

    fn interrupt(&self) {
        self.script.interrupt();
        if let Some(i) = self.interpreter.current() {
            i.interrupt();
        }
    }

    fn shutdown(&self) {
        self.script.shutdown();
        if let Some(i) = self.interpreter.current() {
            i.terminate();
        }
    }

    fn samples() -> Vec<Sample> {
        let mut samples = ScriptRunner::samples(&FLAVOR);
        samples.push(Sample {
            name: "input".into(),
            code: Some("const name = await input('name? ');\nconsole.log('hi', name);".into()),
            input: vec!["Ada".into()],
            expect_stdout: Some("name? hi Ada\n".into()),
            requires: Some("node".into()),
            ..Sample::default()
        });
        samples
    }
}
