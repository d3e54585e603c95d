//! The C and C++ plugins differ only in compiler, file extensions and names, so both are this
//! one runner with a [`Flavor`], made a plugin kernel by [`crate::language_kernel!`].
//!
//! Batch: `build *` compiles and links every source file under the session directory (sorted,
//! each passed as its own argument, so paths with spaces work) into `./main`; `exec *` runs
//! `./main` or `./a.out`; `clean *` runs `make clean` when there is a Makefile. Query mode
//! writes the snippet into a private temporary directory, compiles it there, and runs the
//! binary from the session directory — the user's own `./main` is never touched.

use std::path::{Path, PathBuf};

use krunner_plugin_api::sdk::{HostHandle, Result, TempDir};
use krunner_plugin_api::util::find_sources;
use krunner_plugin_api::{capability, PluginInfo, RunSpec, RunnerConfig, Sample};

use crate::LanguageRunner;

/// Libraries every program is linked with (as the original runner did).
pub const LINK_FLAGS: [&str; 4] = ["-lrt", "-lm", "-pthread", "-ldl"];

/// What distinguishes one language of the family.
pub struct Flavor {
    /// Runner name.
    pub language: &'static str,
    /// Default compiler when no runtime path is given.
    pub compiler: &'static str,
    /// The file whose presence means "this is a project of this language".
    pub main_file: &'static str,
    /// Source extensions compiled by `build *`.
    pub extensions: &'static [&'static str],
    /// One line for `plugins list`.
    pub description: &'static str,
    /// A program that prints `hello, world` (for the plugin's samples).
    pub hello: &'static str,
}

/// A C-family runner.
pub struct CFamilyRunner {
    flavor: &'static Flavor,
    host: HostHandle,
    compiler: String,
}

impl CFamilyRunner {
    fn compile(&self, sources: &[PathBuf], output: &Path) -> Result<i32> {
        let mut argv = vec![self.compiler.clone(), "-Wall".into(), "-o".into()];
        argv.push(output.display().to_string());
        argv.extend(sources.iter().map(|s| s.display().to_string()));
        argv.extend(LINK_FLAGS.iter().map(|s| (*s).to_owned()));
        self.host.run(&RunSpec::argv(argv))
    }
}

impl LanguageRunner for CFamilyRunner {
    type Flavor = Flavor;

    fn info(flavor: &Flavor, version: &str) -> PluginInfo {
        PluginInfo {
            language: flavor.language.into(),
            plugin_version: version.into(),
            capabilities: vec![capability::BATCH.into(), capability::QUERY.into()],
            description: flavor.description.into(),
            default_runtime: Some(flavor.compiler.into()),
            ..PluginInfo::default()
        }
    }

    /// Hello-world built with the heuristics, and as a snippet.
    fn samples(flavor: &Flavor) -> Vec<Sample> {
        let expect = Some("hello, world\n".to_owned());
        vec![
            Sample {
                name: "hello-batch".into(),
                files: [(flavor.main_file.to_owned(), flavor.hello.to_owned())].into(),
                build: Some("*".into()),
                exec: Some("*".into()),
                expect_stdout: expect.clone(),
                requires: Some(flavor.compiler.into()),
                ..Sample::default()
            },
            Sample {
                name: "hello-query".into(),
                code: Some(flavor.hello.to_owned()),
                expect_stdout: expect,
                requires: Some(flavor.compiler.into()),
                ..Sample::default()
            },
        ]
    }

    /// Uses `config.runtime_path` as the compiler when given.
    fn new(flavor: &'static Flavor, config: RunnerConfig, host: HostHandle) -> Self {
        let compiler = config
            .runtime_path
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| flavor.compiler.to_owned());
        Self {
            flavor,
            host,
            compiler,
        }
    }

    /// `make clean` when there is a Makefile.
    fn clean(&self) -> Result<i32> {
        if Path::new("Makefile").is_file() {
            return self.host.run_argv(&["make", "clean"]);
        }
        Ok(0)
    }

    /// Every source file of the flavor's extensions into `./main` (the host runs `make`
    /// itself when there is a Makefile).
    fn build(&self) -> Result<i32> {
        if !Path::new(self.flavor.main_file).is_file() {
            self.host.error(&format!(
                "cannot find the main source file ({}); add it, a Makefile, or send a build command",
                self.flavor.main_file
            ));
            return Ok(127);
        }
        let mut sources: Vec<PathBuf> = self
            .flavor
            .extensions
            .iter()
            .flat_map(|ext| find_sources(Path::new("."), ext))
            .collect();
        sources.sort();
        self.compile(&sources, Path::new("./main"))
    }

    /// `./main` or `./a.out`.
    fn execute(&self) -> Result<i32> {
        for candidate in ["./main", "./a.out"] {
            if krunner_plugin_api::util::is_executable(Path::new(candidate)) {
                return self.host.run_argv(&[candidate]);
            }
        }
        self.host.error(
            "cannot find the executable (./main or ./a.out); build first or send an exec command",
        );
        Ok(127)
    }

    /// Compiles the snippet privately and runs it.
    fn query(&self, code: &str) -> Result<i32> {
        let dir = TempDir::new(self.flavor.language)?;
        let ext = self.flavor.extensions.first().copied().unwrap_or("c");
        let source = dir.path().join(format!("main.{ext}"));
        std::fs::write(&source, code)?;
        let binary = dir.path().join("main");
        let code = self.compile(&[source], &binary)?;
        if code != 0 || self.host.interrupted() {
            return Ok(code);
        }
        self.host
            .run(&RunSpec::argv([binary.display().to_string()]))
    }
}
