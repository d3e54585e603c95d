//! The `git` runner: a real shell in a pseudo-terminal, bridged to ZeroMQ (keystrokes in on a
//! SUB socket, port 2002; terminal output on a PUB socket, port 2003), restarted when it
//! exits. `code` ops are terminal commands:
//!
//! - `%ping` → stdout `pong!`;
//! - `%resize ROWS COLS` → the terminal is resized, stdout
//!   `OK; terminal resized to ROWS rows and COLS cols`;
//! - `%show graph [PATH]` → the commit graph of the repository at PATH (the rest of the line,
//!   optionally quoted; default: the shell's current directory) as
//!   `application/vnd.sorna.gitgraph` media;
//! - anything else → stderr `Invalid command.`, exit code 127.
//!
//! There are no batch heuristics. The original runner crashed during start-up (it referenced
//! an attribute it never set), so its terminal never worked, and `%show graph` changed the
//! whole runner's working directory; here git runs with its own working directory.
//!
//! The ports can be moved with `KRUNNER_TERM_IN_PORT` / `KRUNNER_TERM_OUT_PORT` and the bind
//! address with `KRUNNER_TERM_BIND` (runner environment or `environ.txt`); the ports of
//! `intrinsic-ports.json` are refused. `runtime_path` picks the shell (default `/bin/bash`,
//! else `$SHELL`, else `/bin/sh`).
//!
//! Unlike every other plugin, this one owns processes and sockets itself: the shell needs a
//! pseudo-terminal and the terminal client two sockets of its own, which the host's facilities
//! and protocol do not offer. The plugin-api crate docs, "When a plugin may own processes and
//! sockets", say what that obliges a plugin to; here: the shell leads its own POSIX session
//! and dies with the host, `shutdown` (and dropping the last runner) hangs it up and kills
//! whatever is left in that session, and the agent's ports are never bound.

mod endpoints;
mod graph;
mod pty;
mod terminal;

use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use krunner_plugin_api::sdk::{HostHandle, Kernel, Result};
use krunner_plugin_api::{capability, PluginInfo, RunnerConfig, Sample};
use krunner_toolkit::Lang;

use endpoints::Endpoints;
use terminal::{ShellSpec, Terminal};

/// The media type of `%show graph`.
pub const GRAPH_MIME: &str = "application/vnd.sorna.gitgraph";

/// The plugin.
pub struct GitKernel {
    lang: Lang,
    terminal: Arc<Terminal>,
}

/// The process's terminal, while a runner holds it. The host creates a replacement runner
/// (after a plugin panic) before dropping the old one; the replacement takes over the running
/// terminal instead of failing to bind its ports, and the user's shell keeps running. When the
/// last runner holding it is dropped, the terminal stops.
static TERMINAL: Mutex<Weak<Terminal>> = Mutex::new(Weak::new());

/// The path argument of `%show graph`: the rest of the line, without one pair of surrounding
/// quotes; `None` when empty.
fn unquote(arg: &str) -> Option<&str> {
    let inner = ['"', '\'']
        .iter()
        .find_map(|q| arg.strip_prefix(*q).and_then(|a| a.strip_suffix(*q)))
        .unwrap_or(arg);
    (!inner.is_empty()).then_some(inner)
}

/// The shell to run: `runtime_path`, else `/bin/bash`, else `$SHELL`, else `/bin/sh`, with
/// the child environment plus `SHELL` and `TERM=xterm`.
fn shell_spec(lang: &Lang, mut env: std::collections::BTreeMap<String, String>) -> ShellSpec {
    let program = match &lang.runtime_path {
        Some(rt) => rt.clone(),
        None if Path::new("/bin/bash").exists() => "/bin/bash".into(),
        None => env
            .get("SHELL")
            .cloned()
            .unwrap_or_else(|| "/bin/sh".into()),
    };
    env.insert("SHELL".into(), program.clone());
    env.insert("TERM".into(), "xterm".into());
    ShellSpec { program, env }
}

impl GitKernel {
    fn invalid(&self) -> Result<i32> {
        self.lang.host.stderr("Invalid command.")?;
        Ok(krunner_toolkit::NOT_FOUND)
    }

    fn resize(&self, args: &[&str]) -> Result<i32> {
        let parsed = match args {
            [rows, cols] => rows.parse::<u16>().ok().zip(cols.parse::<u16>().ok()),
            _ => None,
        };
        let Some((rows, cols)) = parsed.filter(|(r, c)| *r > 0 && *c > 0) else {
            self.lang
                .host
                .stderr("usage: %resize ROWS COLS (positive integers)")?;
            return Ok(2);
        };
        if let Some(why) = self.terminal.shared().failure() {
            self.lang
                .host
                .stderr(format!("the terminal is not running: {why}"))?;
            return Ok(1);
        }
        if let Err(e) = self.terminal.shared().resize(pty::Size { rows, cols }) {
            self.lang
                .host
                .stderr(format!("cannot resize the terminal: {e}"))?;
            return Ok(1);
        }
        self.lang.host.stdout(format!(
            "OK; terminal resized to {rows} rows and {cols} cols"
        ))?;
        Ok(0)
    }

    fn show_graph(&self, path: Option<&str>) -> Result<i32> {
        let dir = match path {
            Some(p) => p.to_owned(),
            None => self
                .terminal
                .shared()
                .shell_pid()
                .and_then(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).ok())
                .map_or_else(|| ".".to_owned(), |p| p.to_string_lossy().into_owned()),
        };
        if !Path::new(&dir).is_dir() {
            self.lang.host.stderr(format!("{dir}: no such directory"))?;
            return Ok(1);
        }
        let Some(git) = self.lang.which("git") else {
            return Ok(self.lang.missing_tool("git"));
        };
        let mut argv = vec![git];
        argv.extend(graph::LOG_ARGS.iter().map(|s| (*s).to_owned()));
        let out = self.lang.host.capture(&self.lang.spec(argv).cwd(dir))?;
        if out.exit_code != 0 {
            self.lang.host.stderr(out.stderr)?;
            return Ok(out.exit_code);
        }
        self.lang
            .host
            .media(GRAPH_MIME, graph::parse(&out.stdout))?;
        Ok(0)
    }
}

impl Kernel for GitKernel {
    fn info() -> PluginInfo {
        PluginInfo {
            language: "git".into(),
            plugin_version: env!("CARGO_PKG_VERSION").into(),
            capabilities: vec![capability::QUERY.into()],
            description:
                "terminal: a shell in a pty on ZeroMQ 2002/2003; %ping, %resize, %show graph".into(),
            default_runtime: Some("/bin/bash".into()),
            ..PluginInfo::default()
        }
    }

    fn new(config: RunnerConfig, host: HostHandle) -> Result<Self> {
        let lang = Lang::new(host.clone(), config.runtime_path);
        let mut global = TERMINAL.lock().unwrap_or_else(|e| e.into_inner());
        let terminal = match global.upgrade() {
            Some(t) => t,
            None => {
                let shell = shell_spec(&lang, host.child_env());
                let t = Arc::new(match Endpoints::from_settings(&shell.env) {
                    Ok(endpoints) => Terminal::start(endpoints, shell, host),
                    Err(e) => Terminal::failed(&e.into(), &host),
                });
                *global = Arc::downgrade(&t);
                t
            }
        };
        Ok(Self { lang, terminal })
    }

    fn query(&self, code: &str) -> Result<i32> {
        let Some(command) = code.trim().strip_prefix('%') else {
            return self.invalid();
        };
        if let Some(rest) = command.trim().strip_prefix("show graph") {
            if rest.is_empty() || rest.starts_with(char::is_whitespace) {
                return self.show_graph(unquote(rest.trim()));
            }
        }
        let words: Vec<&str> = command.split_whitespace().collect();
        match words.as_slice() {
            ["ping"] => {
                self.lang.host.stdout("pong!")?;
                Ok(0)
            }
            ["resize", args @ ..] => self.resize(args),
            _ => self.invalid(),
        }
    }

    /// Stops the terminal: the shell and everything it started end, and the sockets close.
    fn shutdown(&self) {
        self.terminal.stop();
        *TERMINAL.lock().unwrap_or_else(|e| e.into_inner()) = Weak::new();
    }

    fn samples() -> Vec<Sample> {
        vec![
            Sample {
                name: "ping".into(),
                code: Some("%ping".into()),
                expect_stdout: Some("pong!".into()),
                ..Sample::default()
            },
            Sample {
                name: "invalid-command".into(),
                code: Some("ls".into()),
                expect_stdout: Some(String::new()),
                expect_exit: krunner_toolkit::NOT_FOUND,
                ..Sample::default()
            },
        ]
    }
}

krunner_plugin_api::export_plugin!(GitKernel);
