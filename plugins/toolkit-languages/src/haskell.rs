//! The `haskell` runner.
//!
//! - `build *`: `main.hs` (or `Main.hs`) → `ghc --make -o main <file>`; GHC finds the
//!   imported modules itself.
//! - `exec *`: `./main`.
//! - `code`: the snippet is compiled quietly (`-v0`) with all build products in a private
//!   temporary directory, and run from the session directory (so it can import the user's
//!   modules and read their files without writing anything there).
//!
//! Environment: the versioned toolchain directories `/opt/{ghc,cabal,happy,alex}/*/bin` and
//! `~/.cabal/bin`, `~/.ghcup/bin` go in front of `PATH`, as Haskell images lay them out.

use std::path::Path;

use krunner_plugin_api::sdk::{HostHandle, Kernel, Result, TempDir};
use krunner_plugin_api::{capability, PluginInfo, RunnerConfig, Sample};
use krunner_toolkit::{first_file, standard_samples, Lang};

/// The plugin.
pub struct HaskellKernel {
    lang: Lang,
}

const MAIN_FILES: [&str; 2] = ["main.hs", "Main.hs"];

impl HaskellKernel {
    fn ghc(&self) -> std::result::Result<String, i32> {
        self.lang
            .resolve(&["ghc"])
            .map_err(|missing| self.lang.missing_tool(&missing.name))
    }
}

impl Kernel for HaskellKernel {
    fn info() -> PluginInfo {
        PluginInfo {
            language: "haskell".into(),
            plugin_version: env!("CARGO_PKG_VERSION").into(),
            capabilities: vec![capability::BATCH.into(), capability::QUERY.into()],
            description: "Haskell: ghc --make main.hs into ./main; snippets compiled privately"
                .into(),
            default_runtime: Some("ghc".into()),
            ..PluginInfo::default()
        }
    }

    fn new(config: RunnerConfig, host: HostHandle) -> Result<Self> {
        let mut lang = Lang::new(host, config.runtime_path);
        if let Some(home) = lang.host.child_env().get("HOME") {
            for dir in [".cabal/bin", ".ghcup/bin"] {
                let bin = Path::new(home).join(dir);
                if bin.is_dir() {
                    lang.prepend_path(&bin.to_string_lossy());
                }
            }
        }
        for parent in ["/opt/ghc", "/opt/cabal", "/opt/happy", "/opt/alex"] {
            lang.prepend_versioned_bins(parent);
        }
        Ok(Self { lang })
    }

    fn build(&self) -> Result<i32> {
        let Some(main) = first_file(&MAIN_FILES) else {
            return Ok(self.lang.missing_file("main module", &MAIN_FILES));
        };
        match self.ghc() {
            Ok(ghc) => self.lang.run([ghc.as_str(), "--make", "-o", "main", main]),
            Err(code) => Ok(code),
        }
    }

    fn execute(&self) -> Result<i32> {
        self.lang.run_built_main()
    }

    fn query(&self, code: &str) -> Result<i32> {
        let ghc = match self.ghc() {
            Ok(g) => g,
            Err(code) => return Ok(code),
        };
        let dir = TempDir::new("haskell")?;
        let source = dir.path().join("Main.hs");
        std::fs::write(&source, code)?;
        let out = dir.path().join("build");
        let binary = dir.path().join("main").to_string_lossy().into_owned();
        let status = self.lang.run([
            ghc,
            "-v0".into(),
            "--make".into(),
            "-outputdir".into(),
            out.to_string_lossy().into_owned(),
            "-o".into(),
            binary.clone(),
            source.to_string_lossy().into_owned(),
        ])?;
        if status != 0 || self.lang.host.interrupted() {
            return Ok(status);
        }
        self.lang.run([binary])
    }

    fn samples() -> Vec<Sample> {
        standard_samples(
            "main.hs",
            "main :: IO ()\nmain = putStrLn \"hello, world\"\n",
            "import System.Exit\n\nmain :: IO ()\nmain = exitWith (ExitFailure 3)\n",
            "ghc",
        )
    }
}
