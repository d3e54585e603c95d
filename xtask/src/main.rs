//! krunner's build tasks, run as `cargo xtask <task>` (an alias in `.cargo/config.toml`):
//!
//! - `dist`: the distribution tarball, `target/dist/krunner-<version>-x86_64-linux-gnu.tar.gz`:
//!   the host and every shipped plugin built for glibc 2.17 and up, with `manifest.json` and
//!   `SHA256SUMS`; checked like `check-dist` before it is reported done.
//! - `check-dist TARBALL`: the checks a tarball must pass (every ELF needs at most
//!   `GLIBC_2.17`, only glibc's libraries, and is stripped; the sums and the manifest match).
//!   Prints each file's size and needs, and exits 1 when anything fails.

mod archive;
mod check;
mod compile;
mod dist;
mod elf;
mod manifest;
mod policy;
mod tool;
mod workspace;

use std::path::PathBuf;
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
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result =
        match args.task {
            Task::Dist => dist::dist().map(|(tarball, report)| {
                print!("{}", report.table());
                println!("\nwrote {}", tarball.display());
                true
            }),
            Task::CheckDist { tarball } => check::check(&tarball)
                .map_err(dist::DistError::from)
                .map(|report| {
                    print!("{}", report.table());
                    for p in &report.problems {
                        println!("FAIL: {p}");
                    }
                    let ok = report.problems.is_empty();
                    if ok {
                        println!("\n{}: every check passed", tarball.display());
                    }
                    ok
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
