//! The distribution build: the host and the shipped plugins, compiled with cargo-zigbuild for
//! x86_64 Linux against glibc [`GLIBC`] (zig links libc++ and libunwind statically, so nothing
//! needs libstdc++ or libgcc_s). Paths of the build machine are mapped to fixed ones, so the
//! same sources give the same files wherever they are built.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::tool::{self, ToolError};
use crate::workspace::{Workspace, HOST_PACKAGE};

/// The Rust target of the distribution.
pub(crate) const TARGET: &str = "x86_64-unknown-linux-gnu";
/// The oldest glibc the distribution runs on.
pub(crate) const GLIBC: (u32, u32) = (2, 17);
/// The cargo profile of the host: the release profile, stripped.
const HOST_PROFILE: &str = "dist";
/// The cargo profile of the plugins.
const PLUGIN_PROFILE: &str = "dist-plugin";

const ZIGBUILD_HINT: &str = " (cargo-zigbuild is not installed: `pip install ziglang \
                             cargo-zigbuild` or `cargo install cargo-zigbuild` installs it)";

/// Why the build failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CompileError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("cannot read the output of cargo zigbuild")]
    Read(#[source] std::io::Error),
    #[error("cargo zigbuild did not report the krunner executable")]
    NoHost,
    #[error("cargo zigbuild reported {found} plugins for {expected} packages: {files:?}")]
    Plugins {
        expected: usize,
        found: usize,
        files: Vec<PathBuf>,
    },
}

/// The files the build made.
#[derive(Debug)]
pub(crate) struct Built {
    /// The `krunner` executable.
    pub(crate) host: PathBuf,
    /// The plugins (`libkernel_<lang>.so`).
    pub(crate) plugins: Vec<PathBuf>,
}

/// Builds the host and the plugins.
pub(crate) fn build(ws: &Workspace) -> Result<Built, CompileError> {
    check_zigbuild()?;
    let host = zigbuild(ws, HOST_PROFILE, &[HOST_PACKAGE.to_owned()])?
        .into_iter()
        .filter(|a| a.kind == Kind::Bin && a.name == HOST_PACKAGE)
        .map(|a| a.file)
        .next_back()
        .ok_or(CompileError::NoHost)?;
    let plugins: Vec<PathBuf> = zigbuild(ws, PLUGIN_PROFILE, &ws.plugins)?
        .into_iter()
        .filter(|a| a.kind == Kind::Cdylib)
        .map(|a| a.file)
        .collect();
    if plugins.len() != ws.plugins.len() {
        return Err(CompileError::Plugins {
            expected: ws.plugins.len(),
            found: plugins.len(),
            files: plugins,
        });
    }
    Ok(Built { host, plugins })
}

/// Builds one more plugin package the way the shipped plugins are built (for the tests: the
/// panicking fixture shows that unwinding works in a plugin from this toolchain).
pub(crate) fn build_plugin(ws: &Workspace, package: &str) -> Result<PathBuf, CompileError> {
    check_zigbuild()?;
    let files: Vec<PathBuf> = zigbuild(ws, PLUGIN_PROFILE, &[package.to_owned()])?
        .into_iter()
        .filter(|a| a.kind == Kind::Cdylib)
        .map(|a| a.file)
        .collect();
    match <[PathBuf; 1]>::try_from(files) {
        Ok([file]) => Ok(file),
        Err(files) => Err(CompileError::Plugins {
            expected: 1,
            found: files.len(),
            files,
        }),
    }
}

fn check_zigbuild() -> Result<(), CompileError> {
    let out = Command::new("cargo-zigbuild")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| tool::missing("cargo-zigbuild", ZIGBUILD_HINT, e))?;
    tool::check("cargo-zigbuild --version", out)?;
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Bin,
    Cdylib,
    Other,
}

/// A file cargo reported.
#[derive(Debug)]
struct Artifact {
    kind: Kind,
    name: String,
    file: PathBuf,
}

/// Runs `cargo zigbuild` for `packages` and returns the final artifacts it reported.
fn zigbuild(
    ws: &Workspace,
    profile: &str,
    packages: &[String],
) -> Result<Vec<Artifact>, CompileError> {
    let mut cmd = tool::cargo();
    cmd.arg("zigbuild")
        .arg("--manifest-path")
        .arg(ws.root.join("Cargo.toml"))
        .args(["--locked", "--profile", profile, "--target"])
        .arg(format!("{TARGET}.{}.{}", GLIBC.0, GLIBC.1))
        .arg("--message-format=json-render-diagnostics");
    for p in packages {
        cmd.args(["-p", p]);
    }
    reproducible_env(&mut cmd, &ws.root);
    let tool = format!("cargo zigbuild --profile {profile}");
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| tool::missing(&tool, ZIGBUILD_HINT, e))?;
    let stdout = tool::check(&tool, out)?;
    let mut artifacts = Vec::new();
    for line in stdout.lines() {
        let line = line.map_err(CompileError::Read)?;
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" {
            artifacts.extend(artifact(&msg));
        }
    }
    Ok(artifacts)
}

/// The final file of one `compiler-artifact` message.
fn artifact(msg: &serde_json::Value) -> Option<Artifact> {
    let kinds = msg["target"]["kind"].as_array()?;
    let kind = if kinds.iter().any(|k| k == "bin") {
        Kind::Bin
    } else if kinds.iter().any(|k| k == "cdylib") {
        Kind::Cdylib
    } else {
        Kind::Other
    };
    let file = match kind {
        Kind::Bin => msg["executable"].as_str()?,
        Kind::Cdylib => msg["filenames"]
            .as_array()?
            .iter()
            .filter_map(|f| f.as_str())
            .find(|f| f.ends_with(".so"))?,
        Kind::Other => return None,
    };
    Some(Artifact {
        kind,
        name: msg["target"]["name"].as_str()?.to_owned(),
        file: PathBuf::from(file),
    })
}

/// Maps the workspace to `/krunner` and cargo's home to `/cargo` in everything compiled (panic
/// locations in Rust, `__FILE__` in libzmq), and drops flags from the caller's environment.
fn reproducible_env(cmd: &mut Command, root: &Path) {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let mut maps = vec![(root.to_path_buf(), "/krunner")];
    maps.extend(cargo_home.map(|h| (h, "/cargo")));
    let rust: Vec<String> = maps
        .iter()
        .map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display()))
        .collect();
    let c: Vec<String> = maps
        .iter()
        .map(|(from, to)| format!("-ffile-prefix-map={}={to}", from.display()))
        .collect();
    let triple = TARGET.replace('-', "_");
    cmd.env_remove("RUSTFLAGS")
        .env("CARGO_ENCODED_RUSTFLAGS", rust.join("\x1f"))
        .env(format!("CFLAGS_{triple}"), c.join(" "))
        .env(format!("CXXFLAGS_{triple}"), c.join(" "));
}
