//! Command-line interface.
//!
//! Serve mode keeps the positional arguments of `python -m ai.backend.kernel`
//! (`krunner [--debug] <lang> [runtime_path]`) so images and agents can swap the command
//! without other changes. `run` is the built-in client for people at a terminal.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::wire::{self, Limits};

/// The Backend.AI kernel runner: serves a language plugin over the agent's ZeroMQ protocol.
#[derive(Debug, Parser)]
#[command(
    name = "krunner",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:\n  krunner python /usr/bin/python3      serve the python plugin (container CMD)\n  krunner run c --exec '*' --build '*'  build and run ./main.c here\n  krunner run c --code 'int main(){puts(\"hi\");}'\n  krunner console python                an interactive python console"
)]
pub(crate) struct Cli {
    /// A subcommand; without one, krunner serves the given language.
    #[command(subcommand)]
    pub(crate) command: Option<Command>,

    /// Serve-mode arguments.
    #[command(flatten)]
    pub(crate) serve: ServeArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run code with a plugin, driving a private runner over the real protocol.
    Run(RunArgs),
    /// An interactive console for a plugin: a prompt that keeps state, with completion,
    /// history and rich output, driving a private runner over the real protocol.
    Console(ConsoleArgs),
    /// Inspect the plugins on the search path.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// List the installed Jupyter kernels and the runner that would use each.
    Kernels {
        /// Directory with environ.txt (KRUNNER_JUPYTER, JUPYTER_PATH, ...).
        #[arg(long, value_name = "DIR", default_value = "/home/config")]
        config_dir: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Load one plugin file and print a JSON report (used by `plugins list` and `check`).
    #[command(name = "__probe", hide = true)]
    Probe {
        /// The plugin file.
        file: PathBuf,
    },
}

/// `krunner plugins ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum PluginsCommand {
    /// List every plugin on the search path, with its status.
    List {
        /// Plugin directories searched before the defaults (repeatable).
        #[arg(long = "plugin-dir", value_name = "DIR")]
        plugin_dirs: Vec<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Load one plugin (a file, or the one serving a language) in a child process and print a
    /// full diagnosis. Exits 0 only when it would load.
    Check {
        /// Plugin directories searched before the defaults (repeatable).
        #[arg(long = "plugin-dir", value_name = "DIR")]
        plugin_dirs: Vec<PathBuf>,
        /// Include the full ABI layout report for layout mismatches.
        #[arg(long, short)]
        verbose: bool,
        /// A plugin file (`path/libkernel_x.so`) or a language.
        #[arg(value_name = "FILE|LANG")]
        target: String,
    },
    /// Run the samples a plugin declares over the real protocol; exits 0 when all pass.
    Test {
        /// Plugin directories searched before the defaults (repeatable).
        #[arg(long = "plugin-dir", value_name = "DIR")]
        plugin_dirs: Vec<PathBuf>,
        /// Languages to test.
        #[arg(value_name = "LANG", required = true)]
        languages: Vec<String>,
    },
}

/// Serve mode's options (the agent's command line, plus krunner's own flags).
#[derive(Debug, Args, Clone)]
pub(crate) struct ServeArgs {
    /// Log at debug level.
    #[arg(long)]
    pub(crate) debug: bool,

    /// Plugin directories searched before KRUNNER_PLUGIN_PATH, the executable's directory and
    /// /usr/lib/krunner/plugins (repeatable).
    #[arg(long = "plugin-dir", value_name = "DIR")]
    pub(crate) plugin_dirs: Vec<PathBuf>,

    /// Directory with environ.txt and intrinsic-ports.json.
    #[arg(long, value_name = "DIR", default_value = "/home/config")]
    pub(crate) config_dir: PathBuf,

    /// Port for inbound ops (PULL); overrides intrinsic-ports.json "replin" (default 2000).
    #[arg(long, value_name = "PORT")]
    pub(crate) repl_in_port: Option<u16>,

    /// Port for outbound results (PUSH); overrides intrinsic-ports.json "replout" (default 2001).
    #[arg(long, value_name = "PORT")]
    pub(crate) repl_out_port: Option<u16>,

    /// Address to bind the ports on (`*` = all interfaces).
    #[arg(long, value_name = "ADDR", default_value = "*")]
    pub(crate) bind_address: String,

    /// Seconds an interrupted process group may ignore SIGINT before it gets SIGKILL.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub(crate) interrupt_grace: f64,

    /// Unix socket for the upstream user-input side channel (images with the old input hooks).
    #[arg(long, value_name = "PATH", default_value = "/tmp/bai-user-input.sock")]
    pub(crate) input_socket: PathBuf,

    /// Do not serve the user-input unix socket.
    #[arg(long, conflicts_with = "input_socket")]
    pub(crate) no_input_socket: bool,

    /// Also serve the side channel on TCP 127.0.0.1:PORT (older images use 65000).
    #[arg(long, value_name = "PORT")]
    pub(crate) input_tcp_port: Option<u16>,

    /// Ops larger than this are rejected with the reply they owe (bytes, or with K, M, G).
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = wire::parse_size)]
    pub(crate) max_message_size: usize,

    /// Directory of service-definition files (<name>.json), read when a service starts.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/etc/backend.ai/service-defs"
    )]
    pub(crate) service_def_dir: PathBuf,

    /// Seconds a service may take to open its port before it is stopped and reported failed.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub(crate) service_timeout: f64,

    /// The dropbear binary of the intrinsic sshd (a dropbearmulti, or a standalone dropbear).
    #[arg(long, value_name = "PATH", default_value = "/opt/kernel/dropbearmulti")]
    pub(crate) sshd_binary: PathBuf,

    /// The ttyd binary of the intrinsic web terminal (tmux is expected next to it).
    #[arg(long, value_name = "PATH", default_value = "/opt/kernel/ttyd")]
    pub(crate) ttyd_binary: PathBuf,

    /// Also accept the private op of `krunner console` (docs/protocol.md §2.11); only
    /// `krunner console` passes it, to the runner it starts for itself.
    #[arg(long, hide = true)]
    pub(crate) console_ops: bool,

    /// The language to serve (the plugin libkernel_<LANG>.so).
    #[arg(value_name = "LANG", required = true)]
    pub(crate) language: Option<String>,

    /// The interpreter or compiler the plugin should use.
    #[arg(value_name = "RUNTIME_PATH")]
    pub(crate) runtime_path: Option<String>,
}

impl ServeArgs {
    /// `--interrupt-grace` as a duration (5 s when the value is not a usable number of
    /// seconds).
    pub(crate) fn interrupt_grace_period(&self) -> Duration {
        Duration::try_from_secs_f64(self.interrupt_grace).unwrap_or(Duration::from_secs(5))
    }

    /// The limits `--max-message-size` sets.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_message: self.max_message_size,
        }
    }

    /// `--service-timeout` as a duration (30 s when the value is not a usable number of
    /// seconds).
    pub(crate) fn service_start_timeout(&self) -> Duration {
        Duration::try_from_secs_f64(self.service_timeout).unwrap_or(Duration::from_secs(30))
    }
}

/// `krunner run`.
#[derive(Debug, Args, Clone)]
pub(crate) struct RunArgs {
    /// Plugin directories searched first (repeatable).
    #[arg(long = "plugin-dir", value_name = "DIR")]
    pub(crate) plugin_dirs: Vec<PathBuf>,

    /// The language.
    #[arg(value_name = "LANG")]
    pub(crate) language: String,

    /// Query mode: run this snippet.
    #[arg(long, value_name = "CODE", conflicts_with_all = ["exec", "build", "clean"], required_unless_present = "exec")]
    pub(crate) code: Option<String>,

    /// Batch mode: the exec command (`*` = the plugin's default, e.g. ./main).
    #[arg(long, value_name = "CMD")]
    pub(crate) exec: Option<String>,

    /// Batch mode: the build command, run before exec (`*` = make or the plugin's default).
    #[arg(long, value_name = "CMD", requires = "exec")]
    pub(crate) build: Option<String>,

    /// Batch mode: the clean command, run first.
    #[arg(long, value_name = "CMD", requires = "exec")]
    pub(crate) clean: Option<String>,

    /// The interpreter or compiler the plugin should use.
    #[arg(long, value_name = "PATH")]
    pub(crate) runtime_path: Option<String>,

    /// Directory with environ.txt (none by default).
    #[arg(long, value_name = "DIR")]
    pub(crate) config_dir: Option<PathBuf>,

    /// Show the runner's own logs.
    #[arg(long, short)]
    pub(crate) verbose: bool,
}

/// `krunner console`.
#[derive(Debug, Args, Clone)]
pub(crate) struct ConsoleArgs {
    /// Plugin directories searched first (repeatable).
    #[arg(long = "plugin-dir", value_name = "DIR")]
    pub(crate) plugin_dirs: Vec<PathBuf>,

    /// Directory with environ.txt (none by default).
    #[arg(long, value_name = "DIR")]
    pub(crate) config_dir: Option<PathBuf>,

    /// Show the runner's own logs.
    #[arg(long, short)]
    pub(crate) verbose: bool,

    /// The language.
    #[arg(value_name = "LANG")]
    pub(crate) language: String,

    /// The interpreter or compiler the plugin should use.
    #[arg(value_name = "RUNTIME_PATH")]
    pub(crate) runtime_path: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_maximum_message_size() {
        let cli = Cli::try_parse_from(["krunner", "c"]).expect("parses");
        assert_eq!(cli.serve.limits().max_message, wire::DEFAULT_MAX_MESSAGE);
        let cli =
            Cli::try_parse_from(["krunner", "--max-message-size", "8MiB", "c"]).expect("parses");
        assert_eq!(cli.serve.max_message_size, 8 << 20);
        let err = Cli::try_parse_from(["krunner", "--max-message-size", "1k", "c"])
            .expect_err("too small");
        assert!(err.to_string().contains("less than the minimum"), "{err}");
    }
}
