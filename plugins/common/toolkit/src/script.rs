//! Plugins for the languages that are "an interpreter and a main file": julia, lua, nodejs,
//! octave, php, r and scheme differ only in names, command shapes and environment, so each is
//! a [`Flavor`] for the [`ScriptRunner`] and one [`crate::language_kernel!`] line.
//!
//! - `build *`: nothing to compile; 0 (the host runs `make` itself when there is a Makefile).
//! - `exec *`: the first main file found, run with the interpreter; 127 naming the files
//!   looked for when there is none.
//! - `code`: through an installed Jupyter kernel of the language when there is one (and
//!   `KRUNNER_JUPYTER` allows it; see `krunner_jupyter::select`), so state persists and rich
//!   output, input, interrupts, completion and `is_complete` work; otherwise the snippet is
//!   written to a private temporary directory and run from there by path, with the session
//!   directory as working directory, so it can read the user's files but never overwrites any.
//! - A missing interpreter is reported by name with exit code 127.

use krunner_jupyter::{LaunchEnv, QueryMode};
use krunner_plugin_api::sdk::{HostHandle, Result, TempDir, COMPLETE_TIMEOUT};
use krunner_plugin_api::{
    capability, CompletionRequest, IsCompleteReply, IsCompleteRequest, PluginInfo, RunnerConfig,
    Sample,
};

use crate::{first_file, Lang, LanguageRunner};

/// What distinguishes one interpreted language.
pub struct Flavor {
    /// Runner name.
    pub language: &'static str,
    /// Interpreter names tried in order when no runtime path is given.
    pub interpreters: &'static [&'static str],
    /// Main files `exec *` looks for, in order.
    pub main_files: &'static [&'static str],
    /// Extension of the query's temporary file.
    pub extension: &'static str,
    /// One line for `plugins list`.
    pub description: &'static str,
    /// The argv running `file` with `interpreter`.
    pub argv: fn(lang: &Lang, interpreter: &str, file: &str) -> Vec<String>,
    /// Turns a query snippet into a source file.
    pub prelude: fn(code: &str) -> String,
    /// Adds the language's environment.
    pub setup: fn(lang: &mut Lang),
    /// A program printing `hello, world` (used for the samples).
    pub hello: &'static str,
    /// A program that exits with status 3 (a sample checks exit codes come through).
    pub exit3: &'static str,
}

/// Runs `file` as `interpreter file`.
pub fn plain_argv(_lang: &Lang, interpreter: &str, file: &str) -> Vec<String> {
    vec![interpreter.to_owned(), file.to_owned()]
}

/// Leaves the snippet as it is.
pub fn no_prelude(code: &str) -> String {
    code.to_owned()
}

/// No environment additions.
pub fn no_setup(_lang: &mut Lang) {}

/// A runner for an interpreted language.
pub struct ScriptRunner {
    flavor: &'static Flavor,
    lang: Lang,
    kernel: QueryMode,
}

impl ScriptRunner {
    /// The language view (environment, lookup).
    pub fn lang(&self) -> &Lang {
        &self.lang
    }

    /// The environment a kernel of this language gets: the language's own.
    fn launch_env(&self) -> LaunchEnv {
        LaunchEnv {
            env: self.lang.env.clone(),
            path_prepend: self.lang.path_prepend.clone(),
            ..LaunchEnv::default()
        }
    }

    /// Runs `code` in the language's kernel when queries go to one (`None`: they do not).
    pub fn query_in_kernel(&self, code: &str) -> Option<i32> {
        self.kernel.query(&self.lang.host, self.launch_env(), code)
    }

    /// The kernel's bridge, once a query chose a kernel.
    pub fn kernel(&self) -> Option<&krunner_jupyter::Bridge> {
        self.kernel.bridge()
    }

    fn run_file(&self, file: &str) -> Result<i32> {
        let interpreter = match self.lang.resolve(self.flavor.interpreters) {
            Ok(i) => i,
            Err(missing) => return Ok(self.lang.missing_tool(&missing.name)),
        };
        self.lang
            .run((self.flavor.argv)(&self.lang, &interpreter, file))
    }
}

impl LanguageRunner for ScriptRunner {
    type Flavor = Flavor;

    fn info(flavor: &Flavor, version: &str) -> PluginInfo {
        PluginInfo {
            language: flavor.language.into(),
            plugin_version: version.into(),
            capabilities: vec![
                capability::BATCH.into(),
                capability::QUERY.into(),
                capability::COMPLETE.into(),
                capability::INPUT.into(),
            ],
            description: flavor.description.into(),
            default_runtime: flavor.interpreters.first().map(|s| (*s).to_owned()),
            // Kernels are started with `Host::spawn`.
            min_api_minor: 2,
            ..PluginInfo::default()
        }
    }

    /// Hello-world as the main file and as a snippet, and an exit code.
    fn samples(flavor: &Flavor) -> Vec<Sample> {
        crate::standard_samples(
            flavor.main_files.first().copied().unwrap_or("main"),
            flavor.hello,
            flavor.exit3,
            flavor.interpreters.first().copied().unwrap_or_default(),
        )
    }

    /// Uses `config.runtime_path` as the interpreter when given.
    fn new(flavor: &'static Flavor, config: RunnerConfig, host: HostHandle) -> Self {
        let mut lang = Lang::new(host, config.runtime_path);
        (flavor.setup)(&mut lang);
        Self {
            flavor,
            lang,
            kernel: QueryMode::new(flavor.language),
        }
    }

    /// The first main file found, run with the interpreter.
    fn execute(&self) -> Result<i32> {
        match first_file(self.flavor.main_files) {
            Some(file) => self.run_file(file),
            None => Ok(self
                .lang
                .missing_file("main script", self.flavor.main_files)),
        }
    }

    /// The snippet, through the language's kernel or from a private temporary file.
    fn query(&self, code: &str) -> Result<i32> {
        if let Some(exit) = self.query_in_kernel(code) {
            return Ok(exit);
        }
        let dir = TempDir::new(self.flavor.language)?;
        let file = dir
            .path()
            .join(format!("snippet.{}", self.flavor.extension));
        std::fs::write(&file, (self.flavor.prelude)(code))?;
        self.run_file(&file.to_string_lossy())
    }

    /// Completions from the kernel, when queries run in one.
    fn complete(&self, request: &CompletionRequest) -> Result<Vec<String>> {
        Ok(self
            .kernel
            .bridge()
            .map(|b| b.complete(request, COMPLETE_TIMEOUT))
            .unwrap_or_default())
    }

    /// The kernel's answer once a query started it; `unknown` before and without one.
    fn is_complete(&self, request: &IsCompleteRequest) -> Result<IsCompleteReply> {
        Ok(self
            .kernel
            .bridge()
            .map(|b| b.is_complete(&request.code))
            .unwrap_or_default())
    }

    fn interrupt(&self) {
        if let Some(b) = self.kernel.bridge() {
            b.interrupt();
        }
    }

    fn shutdown(&self) {
        if let Some(b) = self.kernel.bridge() {
            b.shutdown();
        }
    }
}
