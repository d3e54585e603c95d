//! The `golang` runner.
//!
//! - `build *`: a module (`go.mod`) is built with `go build -o main .`; otherwise, when
//!   `main.go` exists, the `.go` files of the session directory (tests excluded; Go wants named
//!   files in one directory) are built into `./main`.
//! - `exec *`: `./main`.
//! - `code`: the snippet is built in a private temporary directory and the binary is run from
//!   the session directory.
//!
//! Environment: `GOPATH=/home/work` in a container, and `/home/work/bin`, `/go/bin`,
//! `/usr/local/go/bin` in front of `PATH` (where the Go images install the toolchain).

use std::path::Path;

use krunner_plugin_api::sdk::{HostHandle, Kernel, Result, TempDir};
use krunner_plugin_api::{capability, PluginInfo, RunnerConfig, Sample};
use krunner_toolkit::{first_file, in_container, standard_samples, Lang, WORK_HOME};

/// The plugin.
pub struct GoKernel {
    lang: Lang,
}

impl GoKernel {
    fn go(&self) -> std::result::Result<String, i32> {
        self.lang
            .resolve(&["go"])
            .map_err(|missing| self.lang.missing_tool(&missing.name))
    }

    /// The non-test `.go` files of the session directory, sorted.
    fn top_level_sources() -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(".")
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".go") && !n.ends_with("_test.go"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }
}

impl Kernel for GoKernel {
    fn info() -> PluginInfo {
        PluginInfo {
            language: "golang".into(),
            plugin_version: env!("CARGO_PKG_VERSION").into(),
            capabilities: vec![capability::BATCH.into(), capability::QUERY.into()],
            description: "Go: go.mod or main.go built into ./main; snippets built privately".into(),
            default_runtime: Some("go".into()),
            ..PluginInfo::default()
        }
    }

    fn new(config: RunnerConfig, host: HostHandle) -> Result<Self> {
        let mut lang = Lang::new(host, config.runtime_path);
        lang.prepend_path("/home/work/bin");
        for dir in ["/go/bin", "/usr/local/go/bin"] {
            if Path::new(dir).is_dir() {
                lang.prepend_path(dir);
            }
        }
        if in_container() {
            lang.set_env("GOPATH", WORK_HOME);
        }
        Ok(Self { lang })
    }

    fn build(&self) -> Result<i32> {
        let Some(found) = first_file(&["go.mod", "main.go"]) else {
            return Ok(self
                .lang
                .missing_file("Go module or main package", &["go.mod", "main.go"]));
        };
        let go = match self.go() {
            Ok(go) => go,
            Err(code) => return Ok(code),
        };
        let mut argv = vec![go, "build".into(), "-o".into(), "main".into()];
        if found == "go.mod" {
            argv.push(".".into());
        } else {
            argv.extend(Self::top_level_sources());
        }
        self.lang.run(argv)
    }

    fn execute(&self) -> Result<i32> {
        self.lang.run_built_main()
    }

    fn query(&self, code: &str) -> Result<i32> {
        let go = match self.go() {
            Ok(go) => go,
            Err(code) => return Ok(code),
        };
        let dir = TempDir::new("golang")?;
        std::fs::write(dir.path().join("main.go"), code)?;
        let binary = dir.path().join("main").to_string_lossy().into_owned();
        let status = self
            .lang
            .run_in(dir.path(), [go.as_str(), "build", "-o", &binary, "main.go"])?;
        if status != 0 || self.lang.host.interrupted() {
            return Ok(status);
        }
        self.lang.run([binary])
    }

    fn samples() -> Vec<Sample> {
        standard_samples(
            "main.go",
            "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hello, world\")\n}\n",
            "package main\n\nimport \"os\"\n\nfunc main() {\n\tos.Exit(3)\n}\n",
            "go",
        )
    }
}
