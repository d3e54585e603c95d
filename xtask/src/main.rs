//! krunner's build tasks, run as `cargo xtask <task>` (an alias in `.cargo/config.toml`):
//!
//! - `dist`: the distribution tarball, `target/dist/krunner-<version>-x86_64-linux-gnu.tar.gz`:
//!   the host and every shipped plugin built for glibc 2.17 and up, with `manifest.json` and
//!   `SHA256SUMS`; checked like `check-dist` before it is reported done.
//! - `check-dist TARBALL`: the checks a tarball must pass (every ELF needs at most
//!   `GLIBC_2.17`, only glibc's libraries, and is stripped; the sums and the manifest match).
//!   Prints each file's size and needs, and exits 1 when anything fails.
//! - `link-plugins [DIR]`: links the plugins of a plain `cargo build` in DIR (default
//!   `target/release`) under their plugin file names (see [`link`]).
//! - `dist-fixture DIR`: builds the panicking test plugin like the shipped plugins and copies
//!   it into DIR (a copy of an unpacked tarball), for the tests that show unwinding works in
//!   plugins from the distribution's toolchain.

mod archive;
mod check;
mod compile;
mod dist;
mod elf;
mod link;
mod manifest;
mod naming;
mod policy;
mod tool;
mod workspace;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// krunner's build tasks.
#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Build the distribution tarball (needs cargo-zigbuild and zig).
    Dist,
    /// Check a distribution tarball.
    CheckDist {
        /// The tarball.
        tarball: PathBuf,
    },
    /// Name the plugins of a `cargo build` in DIR (default: target/release) after the
    /// languages they serve (symbolic links), so that DIR's krunner finds them.
    LinkPlugins {
        /// The cargo output directory holding krunner and the plugins.
        dir: Option<PathBuf>,
    },
    /// Build the panicking test plugin like the shipped plugins, into DIR.
    DistFixture {
        /// The directory to copy it into.
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let result = match Args::parse().task {
        Task::Dist => dist::dist().map(|(tarball, report)| {
            print!("{}", report.table());
            println!("\nwrote {}", tarball.display());
            true
        }),
        Task::CheckDist { tarball } => check_dist(&tarball),
        Task::LinkPlugins { dir } => link_plugins(dir),
        Task::DistFixture { dir } => dist::fixture(&dir).map(|file| {
            println!("wrote {}", file.display());
            true
        }),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// Checks a tarball and prints the report; returns whether it passed.
fn check_dist(tarball: &Path) -> Result<bool, dist::DistError> {
    let report = check::check(tarball)?;
    print!("{}", report.table());
    for p in &report.problems {
        println!("FAIL: {p}");
    }
    let ok = report.problems.is_empty();
    if ok {
        println!("\n{}: every check passed", tarball.display());
    }
    Ok(ok)
}

/// Links the plugins in `dir` (default `<target>/release`) and says what it did.
fn link_plugins(dir: Option<PathBuf>) -> Result<bool, dist::DistError> {
    let dir = match dir {
        Some(dir) => dir,
        None => workspace::Workspace::load()?.target_dir.join("release"),
    };
    for (link, file) in link::link_plugins(&dir)? {
        println!(
            "{} -> {}",
            link.display(),
            file.file_name().unwrap_or_default().to_string_lossy()
        );
    }
    Ok(true)
}

/// An error and its sources, `: `-separated.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
