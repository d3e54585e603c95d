//! `krunner run`: the built-in client for people at a terminal.
//!
//! It starts a private runner on free loopback ports, drives it over the same ZeroMQ protocol
//! the agent uses, streams output to the terminal, answers input requests from the terminal,
//! turns Ctrl-C into an `interrupt` op (twice: stop), and exits with the task's exit code.

use std::io::{BufRead, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use std::os::unix::process::CommandExt;

use crate::cli::RunArgs;
use crate::plugin::SearchPath;

static CTRL_C: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_sigint(_: libc::c_int) {
    CTRL_C.fetch_add(1, Ordering::SeqCst);
}

fn install_sigint() {
    // SAFETY: the handler only touches an atomic, which is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigint as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A connection to a runner.
pub struct Connection {
    _ctx: zmq::Context,
    push: zmq::Socket,
    pull: zmq::Socket,
}

impl Connection {
    fn open(repl_in: u16, repl_out: u16) -> anyhow::Result<Self> {
        let ctx = zmq::Context::new();
        let push = ctx.socket(zmq::PUSH)?;
        let pull = ctx.socket(zmq::PULL)?;
        push.set_linger(100)?;
        pull.set_linger(0)?;
        push.connect(&format!("tcp://127.0.0.1:{repl_in}"))?;
        pull.connect(&format!("tcp://127.0.0.1:{repl_out}"))?;
        Ok(Self {
            _ctx: ctx,
            push,
            pull,
        })
    }

    /// Sends a two-frame op.
    pub fn send(&self, op: &str, payload: &[u8]) -> anyhow::Result<()> {
        self.push
            .send_multipart([op.as_bytes(), payload], 0)
            .with_context(|| format!("cannot send {op}"))
    }

    /// Waits up to `timeout` for a message; `None` on timeout or a signal.
    pub fn recv(&self, timeout: Duration) -> anyhow::Result<Option<(String, Vec<u8>)>> {
        let mut items = [self.pull.as_poll_item(zmq::POLLIN)];
        match zmq::poll(&mut items, timeout.as_millis() as i64) {
            Ok(_) => {}
            Err(zmq::Error::EINTR) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        if !items[0].is_readable() {
            return Ok(None);
        }
        let mut frames = self.pull.recv_multipart(0)?;
        if frames.len() != 2 {
            bail!("the runner sent a message with {} frames", frames.len());
        }
        let payload = frames.pop().unwrap_or_default();
        let kind = String::from_utf8_lossy(&frames[0]).into_owned();
        Ok(Some((kind, payload)))
    }
}

/// A private runner process and a connection to it; stopped (SIGTERM) when dropped.
pub struct Runner {
    child: Child,
    /// The connection.
    pub conn: Connection,
}

/// How to start a private runner.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// `--plugin-dir` values.
    pub plugin_dirs: Vec<std::path::PathBuf>,
    /// The language.
    pub language: String,
    /// The runtime path argument.
    pub runtime_path: Option<String>,
    /// `--config-dir`; none by default.
    pub config_dir: Option<std::path::PathBuf>,
    /// Working directory; the current one by default.
    pub cwd: Option<std::path::PathBuf>,
    /// Show the runner's logs.
    pub verbose: bool,
}

impl Drop for Runner {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a runner on free loopback ports and waits until it answers `status`.
pub fn start_runner(args: &StartOptions) -> anyhow::Result<Runner> {
    let exe = std::env::current_exe().context("cannot find the krunner executable")?;
    let mut last_error = anyhow!("the runner did not start");
    for _attempt in 0..3 {
        let (repl_in, repl_out) = (free_port()?, free_port()?);
        let mut cmd = std::process::Command::new(&exe);
        for dir in &args.plugin_dirs {
            cmd.arg("--plugin-dir").arg(dir);
        }
        let config_dir = args
            .config_dir
            .clone()
            .unwrap_or_else(|| Path::new("/nonexistent/krunner-config").to_path_buf());
        cmd.arg("--bind-address")
            .arg("127.0.0.1")
            .arg("--repl-in-port")
            .arg(repl_in.to_string())
            .arg("--repl-out-port")
            .arg(repl_out.to_string())
            .arg("--config-dir")
            .arg(config_dir)
            // No user-input socket: a session's own runner may own the default path.
            .arg("--no-input-socket")
            .arg(&args.language);
        if let Some(rt) = &args.runtime_path {
            cmd.arg(rt);
        }
        if args.verbose {
            cmd.arg("--debug");
        } else {
            cmd.env("KRUNNER_LOG", "off");
        }
        // Its own process group: Ctrl-C at the terminal is for us to turn into `interrupt`.
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0);
        if let Some(cwd) = &args.cwd {
            cmd.current_dir(cwd);
        }
        let child = cmd.spawn().context("cannot start the runner")?;
        let conn = Connection::open(repl_in, repl_out)?;
        let mut runner = Runner { child, conn };
        match wait_ready(&mut runner) {
            Ok(()) => return Ok(runner),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

fn wait_ready(runner: &mut Runner) -> anyhow::Result<()> {
    runner.conn.send("status", b"")?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Some(status) = runner.child.try_wait()? {
            bail!("the runner exited during startup ({status})");
        }
        if let Some((kind, _)) = runner.conn.recv(Duration::from_millis(20))? {
            if kind == "status" {
                return Ok(());
            }
        }
    }
    bail!("the runner did not answer within 15 s")
}

/// Reads terminal lines on demand, off the main loop, so Ctrl-C stays responsive.
struct Terminal {
    requests: crossbeam_channel::Sender<bool>,
    lines: crossbeam_channel::Receiver<Option<String>>,
    pending: bool,
}

impl Terminal {
    fn new() -> Self {
        let (req_tx, req_rx) = crossbeam_channel::unbounded::<bool>();
        let (line_tx, line_rx) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            for is_password in req_rx {
                let echo = (is_password && is_tty()).then(disable_echo).flatten();
                let mut line = String::new();
                let read = stdin.lock().read_line(&mut line);
                if let Some(saved) = echo {
                    restore_echo(&saved);
                    eprintln!();
                }
                let result = match read {
                    Ok(0) | Err(_) => None,
                    Ok(_) => {
                        let trimmed = line.strip_suffix('\n').unwrap_or(&line);
                        Some(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned())
                    }
                };
                if line_tx.send(result).is_err() {
                    return;
                }
            }
        });
        Self {
            requests: req_tx,
            lines: line_rx,
            pending: false,
        }
    }

    fn ask(&mut self, is_password: bool) {
        if !self.pending {
            self.pending = self.requests.send(is_password).is_ok();
        }
    }

    fn answer(&mut self) -> Option<Option<String>> {
        let line = self.lines.try_recv().ok()?;
        self.pending = false;
        Some(line)
    }
}

fn is_tty() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(0) == 1 }
}

fn disable_echo() -> Option<libc::termios> {
    // SAFETY: tcgetattr/tcsetattr on stdin with a zeroed termios buffer.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut t) != 0 {
            return None;
        }
        let saved = t;
        t.c_lflag &= !libc::ECHO;
        libc::tcsetattr(0, libc::TCSANOW, &t);
        Some(saved)
    }
}

fn restore_echo(saved: &libc::termios) {
    // SAFETY: restoring attributes read earlier.
    unsafe { libc::tcsetattr(0, libc::TCSANOW, saved) };
}

/// Runs the task described by `args`; returns the exit status for the process.
pub fn run(args: &RunArgs) -> anyhow::Result<u8> {
    let search = SearchPath::new(&args.plugin_dirs);
    search.find_or_explain(&args.language)?;
    install_sigint();
    let runner = start_runner(&StartOptions {
        plugin_dirs: args.plugin_dirs.clone(),
        language: args.language.clone(),
        runtime_path: args.runtime_path.clone(),
        config_dir: args.config_dir.clone(),
        cwd: None,
        verbose: args.verbose,
    })?;
    let conn = &runner.conn;
    let mut expected = 0;
    if let Some(code) = &args.code {
        conn.send("code", code.as_bytes())?;
        expected += 1;
    } else {
        for (op, cmd) in [
            ("clean", &args.clean),
            ("build", &args.build),
            ("exec", &args.exec),
        ] {
            if let Some(cmd) = cmd {
                conn.send(op, cmd.as_bytes())?;
                expected += 1;
            }
        }
    }
    let mut terminal = Terminal::new();
    let mut interrupts_sent = 0;
    let mut exit: Option<i64> = None;
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    while expected > 0 {
        let presses = CTRL_C.load(Ordering::SeqCst);
        if presses > interrupts_sent {
            if presses >= 2 {
                eprintln!("\nkrunner: stopped");
                return Ok(130);
            }
            conn.send("interrupt", b"")?;
            interrupts_sent = presses;
        }
        if let Some(line) = terminal.answer() {
            // End of input (Ctrl-D) is sent as the end-of-file mark: the program reads EOF.
            let text = line.unwrap_or_else(|| crate::input::EOF_MARK.to_string());
            conn.send("input", text.as_bytes())?;
        }
        let Some((kind, payload)) = conn.recv(Duration::from_millis(50))? else {
            continue;
        };
        match kind.as_str() {
            "stdout" => {
                let mut out = stdout.lock();
                out.write_all(&payload)?;
                out.flush()?;
            }
            "stderr" => {
                let mut err = stderr.lock();
                err.write_all(&payload)?;
                err.flush()?;
            }
            "media" => {
                let value: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
                let mime = value.get("type").and_then(|t| t.as_str()).unwrap_or("?");
                println!("[media {mime}, {} bytes]", payload.len());
            }
            "html" => println!("[html, {} bytes]", payload.len()),
            "log" => eprintln!("{}", String::from_utf8_lossy(&payload)),
            "waiting-input" => {
                std::io::stdout().flush()?;
                let value: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
                let is_password = value
                    .get("is_password")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false);
                terminal.ask(is_password);
            }
            "finished" | "build-finished" | "clean-finished" => {
                let value: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
                exit = value.get("exitCode").and_then(|c| c.as_i64());
                expected -= 1;
                if args.verbose {
                    eprintln!("krunner: {kind} {}", String::from_utf8_lossy(&payload));
                }
            }
            _ => {}
        }
    }
    Ok(match exit {
        Some(code) if (0..=255).contains(&code) => code as u8,
        _ => 1,
    })
}
