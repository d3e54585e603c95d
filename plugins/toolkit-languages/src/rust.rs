//! The `rust` runner.
//!
//! - `build *`: `Cargo.toml` → `cargo build`; else `main.rs` → `rustc --edition 2021 -o main
//!   main.rs`.
//! - `exec *`: for a Cargo project, the binary Cargo itself would run — the package's
//!   `default-run`, its only binary, or the binary named after the package — taken from
//!   `cargo metadata` (or, without cargo, from `Cargo.toml` itself), in the newer of
//!   `target/debug` and `target/release`. The original runner ran whichever executable file
//!   the directory listing of `target/` showed first. Otherwise `./main`.
//! - `code`: the snippet is compiled in a private temporary directory and run from the
//!   session directory; the user's `./main` is never touched.
//!
//! `runtime_path` is the `rustc` to use (cargo builds get it as `RUSTC`); `cargo` is looked up
//! next to it, then on `PATH` (with `~/.cargo/bin`, where rustup installs both, in front).

mod binary;

use std::path::Path;

use krunner_plugin_api::sdk::{HostHandle, Kernel, Result, TempDir};
use krunner_plugin_api::util::is_executable;
use krunner_plugin_api::{capability, PluginInfo, RunnerConfig, Sample};
use krunner_toolkit::{first_file, standard_samples, Lang};

/// The plugin.
pub struct RustKernel {
    lang: Lang,
}

impl RustKernel {
    fn rustc(&self) -> std::result::Result<String, i32> {
        self.lang
            .resolve(&["rustc"])
            .map_err(|missing| self.lang.missing_tool(&missing.name))
    }

    fn cargo(&self) -> Option<String> {
        self.lang.sibling("cargo")
    }
}

impl Kernel for RustKernel {
    fn info() -> PluginInfo {
        PluginInfo {
            language: "rust".into(),
            plugin_version: env!("CARGO_PKG_VERSION").into(),
            capabilities: vec![capability::BATCH.into(), capability::QUERY.into()],
            description:
                "Rust: cargo build (runs the package's binary) or rustc main.rs; snippets built privately"
                    .into(),
            default_runtime: Some("rustc".into()),
            ..PluginInfo::default()
        }
    }

    fn new(config: RunnerConfig, host: HostHandle) -> Result<Self> {
        let mut lang = Lang::new(host, config.runtime_path);
        let child_env = lang.host.child_env();
        // The host gives children HOME=/home/work in a container; a rustup installation
        // under the runner's own HOME would then look for its toolchains in the wrong place.
        let own_home = std::env::var("HOME").ok().filter(|h| !h.is_empty());
        let homes = child_env
            .get("HOME")
            .cloned()
            .into_iter()
            .chain(own_home.clone());
        for home in homes {
            let bin = Path::new(&home).join(".cargo/bin");
            if bin.is_dir() {
                lang.prepend_path(&bin.to_string_lossy());
            }
        }
        if let Some(own) = own_home.filter(|h| child_env.get("HOME") != Some(h)) {
            for (var, dir) in [("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")] {
                let path = Path::new(&own).join(dir);
                if !child_env.contains_key(var) && path.is_dir() {
                    lang.set_env(var, &path.to_string_lossy());
                }
            }
        }
        Ok(Self { lang })
    }

    fn build(&self) -> Result<i32> {
        match first_file(&["Cargo.toml", "main.rs"]) {
            Some("Cargo.toml") => {
                let Some(cargo) = self.cargo() else {
                    return Ok(self.lang.missing_tool("cargo"));
                };
                let mut spec = self.lang.spec([cargo.as_str(), "build"]);
                // A runtime path names the compiler: make cargo use it too.
                if self.lang.runtime_path.is_some() {
                    match self.rustc() {
                        Ok(rustc) => spec = spec.env("RUSTC", rustc),
                        Err(code) => return Ok(code),
                    }
                }
                self.lang.host.run(&spec)
            }
            Some(_) => match self.rustc() {
                Ok(rustc) => {
                    self.lang
                        .run([rustc.as_str(), "--edition", "2021", "-o", "main", "main.rs"])
                }
                Err(code) => Ok(code),
            },
            None => Ok(self
                .lang
                .missing_file("Rust project", &["Cargo.toml", "main.rs"])),
        }
    }

    fn execute(&self) -> Result<i32> {
        if Path::new("Cargo.toml").is_file() {
            let target = match binary::select(&self.lang, self.cargo().as_deref()) {
                Ok(t) => t,
                Err(why) => {
                    self.lang.host.error(&why.to_string());
                    return Ok(krunner_toolkit::NOT_FOUND);
                }
            };
            return match target.newest_build() {
                Some(path) => self.lang.run([path.to_string_lossy().into_owned()]),
                None => {
                    let looked: Vec<String> = target
                        .candidates()
                        .iter()
                        .map(|p| p.to_string_lossy().into_owned())
                        .collect();
                    let looked: Vec<&str> = looked.iter().map(String::as_str).collect();
                    Ok(self
                        .lang
                        .missing_file(&format!("binary `{}` (build first)", target.name), &looked))
                }
            };
        }
        if is_executable(Path::new("./main")) {
            return self.lang.run(["./main"]);
        }
        Ok(self
            .lang
            .missing_file("executable (build first)", &["Cargo.toml", "./main"]))
    }

    fn query(&self, code: &str) -> Result<i32> {
        let rustc = match self.rustc() {
            Ok(r) => r,
            Err(code) => return Ok(code),
        };
        let dir = TempDir::new("rust")?;
        let source = dir.path().join("main.rs");
        std::fs::write(&source, code)?;
        let binary = dir.path().join("main").to_string_lossy().into_owned();
        let status = self.lang.run_in(
            dir.path(),
            [
                rustc.as_str(),
                "--edition",
                "2021",
                "-o",
                &binary,
                "main.rs",
            ],
        )?;
        if status != 0 || self.lang.host.interrupted() {
            return Ok(status);
        }
        self.lang.run([binary])
    }

    fn samples() -> Vec<Sample> {
        let mut samples = standard_samples(
            "main.rs",
            "fn main() {\n    println!(\"hello, world\");\n}\n",
            "fn main() {\n    std::process::exit(3);\n}\n",
            "rustc",
        );
        samples.push(Sample {
            name: "cargo-project".into(),
            files: [
                (
                    "Cargo.toml".to_owned(),
                    "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n"
                        .to_owned(),
                ),
                (
                    "src/main.rs".to_owned(),
                    "fn main() {\n    println!(\"hello, world\");\n}\n".to_owned(),
                ),
            ]
            .into(),
            build: Some("*".into()),
            exec: Some("*".into()),
            expect_stdout: Some("hello, world\n".into()),
            requires: Some("cargo".into()),
            ..Sample::default()
        });
        samples
    }
}
