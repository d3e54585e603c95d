//! The `krunner` executable: parses the command line and hands over to serve mode, the client
//! or the plugin tools.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use krunner::cli::{Cli, Command, PluginsCommand};
use krunner::server::{self, ServeOptions};

fn main() -> ExitCode {
    // Serve mode hides its arguments (`pkill -f python` must not match the runner); the
    // subcommands are short-lived tools and keep theirs.
    let first = std::env::args_os().nth(1);
    let is_tool = matches!(
        first.as_ref().and_then(|a| a.to_str()),
        Some("run" | "plugins" | "__probe" | "help" | "-h" | "--help" | "-V" | "--version")
    );
    let args = krunner::proctitle::arguments(!is_tool);
    let cli = Cli::parse_from(std::iter::once("krunner".into()).chain(args));
    match cli.command {
        Some(Command::Run(args)) => {
            krunner::logging::init(args.verbose);
            match krunner::client::run(&args) {
                Ok(code) => ExitCode::from(code),
                Err(e) => {
                    eprintln!("krunner: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Some(Command::Plugins(command)) => {
            krunner::logging::init(false);
            let ok = match command {
                PluginsCommand::List { plugin_dirs, json } => {
                    krunner::plugins::list::print(&plugin_dirs, json)
                }
                PluginsCommand::Check {
                    plugin_dirs,
                    verbose,
                    target,
                } => krunner::plugins::list::check(&target, &plugin_dirs, verbose),
                PluginsCommand::Test {
                    plugin_dirs,
                    languages,
                } => {
                    // Every language is tested, even after a failure.
                    let results: Vec<bool> = languages
                        .iter()
                        .map(|l| krunner::plugins::samples::run(l, &plugin_dirs))
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
        Some(Command::Probe { file }) => {
            krunner::logging::init(false);
            let report = krunner::plugins::probe::here(&file);
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
            ExitCode::SUCCESS
        }
        None => {
            let serve = cli.serve;
            krunner::logging::init(serve.debug);
            let opts = ServeOptions {
                language: serve.language.unwrap_or_default(),
                runtime_path: serve.runtime_path,
                plugin_dirs: serve.plugin_dirs,
                config_dir: serve.config_dir,
                repl_in_port: serve.repl_in_port,
                repl_out_port: serve.repl_out_port,
                bind_address: serve.bind_address,
                interrupt_grace: Duration::try_from_secs_f64(serve.interrupt_grace)
                    .unwrap_or(Duration::from_secs(5)),
                debug: serve.debug,
                input_socket: (!serve.no_input_socket).then_some(serve.input_socket),
                input_tcp_port: serve.input_tcp_port,
                service_def_dir: serve.service_def_dir,
                service_timeout: Duration::try_from_secs_f64(serve.service_timeout)
                    .unwrap_or(Duration::from_secs(30)),
                sshd_binary: serve.sshd_binary,
                ttyd_binary: serve.ttyd_binary,
            };
            match server::serve(opts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("krunner: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
