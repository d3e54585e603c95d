//! The `krunner` command line: serve mode and the tools for people and image builds.
//!
//! - no subcommand: serve a language ([`crate::serve`]);
//! - [`run`]: `krunner run`, a client for people at a terminal;
//! - [`console`]: `krunner console`, an interactive console over a private runner;
//! - [`plugins`]: `krunner plugins list|check` and the `__probe` child they use;
//! - [`samples`]: `krunner plugins test`;
//! - [`kernels`]: `krunner kernels`, the installed Jupyter kernels.

mod console;
mod kernels;
mod plugins;
mod run;
mod samples;
mod terminal;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, PluginsCommand};
use crate::{glibc, logging, proctitle, serve};

/// Subcommands that are short-lived tools: they keep their command line visible.
const TOOLS: [&str; 10] = [
    "run",
    "console",
    "kernels",
    "plugins",
    "__probe",
    "help",
    "-h",
    "--help",
    "-V",
    "--version",
];

/// The `krunner` executable.
pub fn main() -> ExitCode {
    if let Err(e) = glibc::check() {
        eprintln!("krunner: {e}");
        return ExitCode::from(2);
    }
    // Serve mode hides its arguments (`pkill -f python` must not match the host).
    let first = std::env::args_os().nth(1);
    let is_tool = first
        .as_ref()
        .and_then(|a| a.to_str())
        .is_some_and(|a| TOOLS.contains(&a));
    let args = proctitle::arguments(!is_tool);
    let cli = Cli::parse_from(std::iter::once("krunner".into()).chain(args));
    match cli.command {
        Some(Command::Run(args)) => {
            logging::init(args.verbose);
            report(run::run(&args).map(ExitCode::from))
        }
        Some(Command::Console(args)) => {
            logging::init(args.verbose);
            report(console::run(&args).map(ExitCode::from))
        }
        Some(Command::Plugins(command)) => {
            logging::init(false);
            plugins_command(command)
        }
        Some(Command::Kernels { config_dir, json }) => {
            logging::init(false);
            kernels::list(&config_dir, json);
            ExitCode::SUCCESS
        }
        Some(Command::Probe { file }) => {
            logging::init(false);
            plugins::probe_here(&file);
            ExitCode::SUCCESS
        }
        None => {
            logging::init(cli.serve.debug);
            report(serve::serve(&cli.serve).map(|()| ExitCode::SUCCESS))
        }
    }
}

/// Prints a fatal error the way every krunner command does, and exits 2.
fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|e| {
        eprintln!("krunner: {e:#}");
        ExitCode::from(2)
    })
}

fn plugins_command(command: PluginsCommand) -> ExitCode {
    let ok = match command {
        PluginsCommand::List { plugin_dirs, json } => plugins::list(&plugin_dirs, json),
        PluginsCommand::Check {
            plugin_dirs,
            verbose,
            target,
        } => plugins::check(&target, &plugin_dirs, verbose),
        PluginsCommand::Test {
            plugin_dirs,
            languages,
        } => {
            // Every language is tested, even after a failure.
            let results: Vec<bool> = languages
                .iter()
                .map(|l| samples::run(l, &plugin_dirs))
                .collect();
            results.into_iter().all(|ok| ok)
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
