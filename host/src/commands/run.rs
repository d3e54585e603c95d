//! `krunner run`: the built-in client for people at a terminal.
//!
//! It starts a private runner on free loopback ports, drives it over the same ZeroMQ protocol
//! the agent uses, streams output to the terminal, answers input requests from the terminal,
//! turns Ctrl-C into an `interrupt` op (twice: stop), and exits with the task's exit code.
//! Sockets and the private runner come from `krunner_agent_client`; what is about the
//! terminal (output, input lines, echo, Ctrl-C) stays here.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use krunner_agent_client::{
    Client, ClientOptions, InputSocket, KrunnerCommand, LaunchOptions, LocalRunner, Message,
};

use super::terminal::{self, Terminal};
use crate::cli::RunArgs;
use crate::input::EOF_MARK;
use crate::plugin::SearchPath;
use crate::process::exit;
use crate::sys;

/// How to start a private runner.
#[derive(Debug, Clone, Default)]
pub(super) struct StartOptions {
    /// `--plugin-dir` values.
    pub(super) plugin_dirs: Vec<std::path::PathBuf>,
    /// The language.
    pub(super) language: String,
    /// The runtime path argument.
    pub(super) runtime_path: Option<String>,
    /// `--config-dir`; none by default.
    pub(super) config_dir: Option<std::path::PathBuf>,
    /// Working directory; the current one by default.
    pub(super) cwd: Option<std::path::PathBuf>,
    /// Show the runner's logs.
    pub(super) verbose: bool,
    /// More serve-mode flags (`krunner console` adds `--console-ops`).
    pub(super) extra_args: Vec<String>,
    /// More environment for the runner (and so for its children).
    pub(super) env: Vec<(String, String)>,
}

/// Starts a runner on free loopback ports and waits until it answers `status`; it is stopped
/// (SIGTERM) when dropped.
pub(super) fn start_runner(args: &StartOptions) -> anyhow::Result<LocalRunner> {
    let exe = std::env::current_exe().context("cannot find the krunner executable")?;
    let mut krunner = KrunnerCommand::new(exe, &args.language);
    krunner.plugin_dirs = args.plugin_dirs.clone();
    if let Some(dir) = &args.config_dir {
        krunner.config_dir = dir.clone();
    }
    krunner.runtime_path = args.runtime_path.clone();
    // No user-input socket: the session's own krunner may own the default path.
    krunner.input_socket = InputSocket::Disabled;
    if args.verbose {
        krunner.args.push("--debug".into());
    }
    krunner.args.extend(args.extra_args.iter().map(Into::into));
    let options = LaunchOptions {
        // A short reconnect interval: the first `status` then waits for the runner's startup,
        // not for ZeroMQ's retry timer (100 ms).
        client: ClientOptions::default()
            .linger(Duration::from_millis(100))
            .reconnect_interval(Duration::from_millis(2)),
        ready_timeout: Duration::from_secs(15),
        poll_interval: Duration::from_millis(20),
        grace: Duration::from_secs(3),
        ..LaunchOptions::default()
    };
    let runner = LocalRunner::launch(&options, |ports| {
        let mut cmd = krunner.command(ports);
        if !args.verbose {
            cmd.env("KRUNNER_LOG", "off");
        }
        cmd.envs(args.env.iter().map(|(k, v)| (k, v)));
        // Its own process group: Ctrl-C at the terminal is for us to turn into `interrupt`.
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0);
        // It ends with us, even when we are killed.
        sys::terminate_with_parent(&mut cmd);
        if let Some(cwd) = &args.cwd {
            cmd.current_dir(cwd);
        }
        cmd
    })?;
    Ok(runner)
}

/// Runs the task described by `args`; returns the exit status for the process.
pub(super) fn run(args: &RunArgs) -> anyhow::Result<u8> {
    let search = SearchPath::new(&args.plugin_dirs);
    search.find_or_explain(&args.language)?;
    terminal::catch_ctrl_c();
    let runner = start_runner(&StartOptions {
        plugin_dirs: args.plugin_dirs.clone(),
        language: args.language.clone(),
        runtime_path: args.runtime_path.clone(),
        config_dir: args.config_dir.clone(),
        cwd: None,
        verbose: args.verbose,
        ..StartOptions::default()
    })?;
    let tasks = send_ops(runner.client(), args)?;
    drive(runner.client(), tasks, args.verbose)
}

/// Queues the task's ops (`code`, or `clean`/`build`/`exec`); returns how many.
fn send_ops(client: &Client, args: &RunArgs) -> anyhow::Result<usize> {
    if let Some(code) = &args.code {
        client.send("code", code)?;
        return Ok(1);
    }
    let mut sent = 0;
    for (op, cmd) in [
        ("clean", &args.clean),
        ("build", &args.build),
        ("exec", &args.exec),
    ] {
        if let Some(cmd) = cmd {
            client.send(op, cmd)?;
            sent += 1;
        }
    }
    Ok(sent)
}

/// Shows the runner's messages until `tasks` terminal messages arrived, forwarding Ctrl-C and
/// terminal input; returns the exit status for the process.
fn drive(client: &Client, mut tasks: usize, verbose: bool) -> anyhow::Result<u8> {
    let mut terminal = Terminal::new();
    let mut interrupts_sent = 0;
    let mut exit: Option<i64> = None;
    while tasks > 0 {
        let presses = terminal::ctrl_c_presses();
        if presses > interrupts_sent {
            if presses >= 2 {
                eprintln!("\nkrunner: stopped");
                return Ok(exit::INTERRUPTED as u8);
            }
            client.send("interrupt", b"")?;
            interrupts_sent = presses;
        }
        if let Some(line) = terminal.answer() {
            // End of input (Ctrl-D) is sent as the end-of-file mark: the program reads EOF.
            let text = line.unwrap_or_else(|| EOF_MARK.to_string());
            client.send("input", text)?;
        }
        let Some(message) = client.recv(Duration::from_millis(50))? else {
            continue;
        };
        if message.is_terminal() {
            exit = json_of(&message).get("exitCode").and_then(|c| c.as_i64());
            tasks -= 1;
            if verbose {
                eprintln!("krunner: {} {}", message.kind, message.text());
            }
        } else {
            show(&message, &mut terminal)?;
        }
    }
    Ok(match exit {
        Some(code) if (0..=255).contains(&code) => code as u8,
        _ => 1,
    })
}

/// The payload as JSON; `null` when it is not JSON (the terminal shows what it can).
fn json_of(message: &Message) -> serde_json::Value {
    message.try_json().unwrap_or_default()
}

/// Writes one non-terminal message to the terminal; asks for a line on `waiting-input`.
fn show(message: &Message, terminal: &mut Terminal) -> anyhow::Result<()> {
    let payload = &message.payload;
    match message.kind.as_str() {
        "stdout" => {
            let mut out = std::io::stdout().lock();
            out.write_all(payload)?;
            out.flush()?;
        }
        "stderr" => {
            let mut err = std::io::stderr().lock();
            err.write_all(payload)?;
            err.flush()?;
        }
        "media" => {
            let value = json_of(message);
            let mime = value.get("type").and_then(|t| t.as_str()).unwrap_or("?");
            println!("[media {mime}, {} bytes]", payload.len());
        }
        "html" => println!("[html, {} bytes]", payload.len()),
        "log" => eprintln!("{}", message.text()),
        "waiting-input" => {
            std::io::stdout().flush()?;
            let is_password = json_of(message)
                .get("is_password")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            terminal.ask(is_password);
        }
        _ => {}
    }
    Ok(())
}
