//! [`Runner`]: a real `krunner` process on free loopback ports, in a scratch working directory
//! with its own config directory, and a client talking to it over real ZeroMQ sockets exactly
//! like the Backend.AI agent does. The sockets and the process come from
//! `krunner_agent_client`; this module adds the scratch directories, the log file and the
//! panicking style of the tests.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use krunner_agent_client::{
    ClientOptions, InputSocket, KrunnerCommand, LaunchOptions, LocalRunner, Message, Outcome, Ports,
};

use crate::{artifacts, decode_status, describe};

/// How to start a runner.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Second positional argument.
    pub runtime_path: Option<String>,
    /// Extra flags.
    pub args: Vec<String>,
    /// Content of `environ.txt`.
    pub environ: Option<String>,
    /// Files to create in the working directory before start.
    pub files: Vec<(String, Vec<u8>)>,
    /// Files to create in the config directory before start (e.g. `intrinsic-ports.json`).
    pub config_files: Vec<(String, Vec<u8>)>,
    /// Run the runner as this (uid, gid), as in a container; the working and config
    /// directories are handed to that user. Needs root.
    pub user: Option<(u32, u32)>,
}

/// A copy of the krunner executable that any user can run (the build directory may be
/// private to root): in the test plugin directory, or, for a distribution under test, with
/// the distribution's plugins in a directory of its own.
fn shared_krunner() -> PathBuf {
    static SHARED: OnceLock<PathBuf> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let art = artifacts();
            let dir = match &art.dist {
                Some(dist) => {
                    let dir = std::env::temp_dir()
                        .join(format!("krunner-test-dist-{}", std::process::id()));
                    std::fs::create_dir_all(&dir).expect("mkdir");
                    for entry in std::fs::read_dir(dist).expect("read the distribution") {
                        let from = entry.expect("read the distribution").path();
                        if from.is_file() {
                            let to = dir.join(from.file_name().expect("a file name"));
                            std::fs::copy(&from, to).expect("copy the distribution");
                        }
                    }
                    dir
                }
                None => art.plugin_dir.clone(),
            };
            let copy = dir.join("krunner");
            std::fs::copy(&art.krunner, &copy).expect("copy krunner");
            copy
        })
        .clone()
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("read_dir").flatten() {
            chown_tree(&entry.path(), uid, gid);
        }
    }
}

fn write_all(dir: &Path, files: &[(String, Vec<u8>)]) {
    for (name, content) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

/// Fresh working and config directories with the files `opts` asks for.
fn scratch(opts: &Options) -> (tempfile::TempDir, tempfile::TempDir) {
    let work = tempfile::tempdir().expect("tempdir");
    let config = tempfile::tempdir().expect("tempdir");
    write_all(work.path(), &opts.files);
    if let Some(environ) = &opts.environ {
        std::fs::write(config.path().join("environ.txt"), environ).expect("environ");
    }
    write_all(config.path(), &opts.config_files);
    (work, config)
}

/// The command of one start: krunner on `ports`, logging to `config/runner.log`.
fn command(language: &str, opts: &Options, work: &Path, config: &Path, ports: Ports) -> Command {
    let art = artifacts();
    let program = match opts.user {
        Some(_) => shared_krunner(),
        None => art.krunner.clone(),
    };
    let mut krunner = KrunnerCommand::new(program, language);
    krunner.plugin_dirs = art.plugin_dirs(language);
    krunner.config_dir = config.to_path_buf();
    // Every runner gets a private user-input socket unless the test picks one.
    krunner.input_socket = if opts.args.iter().any(|a| a.starts_with("--input-socket")) {
        InputSocket::AsArgsSay
    } else {
        InputSocket::At(config.join("user-input.sock"))
    };
    krunner.args = opts.args.iter().map(Into::into).collect();
    krunner.runtime_path = opts.runtime_path.clone();
    let log = std::fs::File::create(config.join("runner.log")).expect("log");
    let mut cmd = krunner.command(ports);
    if let Some((uid, gid)) = opts.user {
        chown_tree(work, uid, gid);
        chown_tree(config, uid, gid);
        cmd.uid(uid).gid(gid);
    }
    cmd.current_dir(work)
        .env_remove("KRUNNER_PLUGIN_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    cmd
}

fn launch_options() -> LaunchOptions {
    LaunchOptions {
        client: ClientOptions::default().linger(Duration::from_millis(50)),
        ready_timeout: Duration::from_secs(20),
        poll_interval: Duration::from_millis(50),
        ..LaunchOptions::default()
    }
}

fn read_log(config: &Path) -> String {
    std::fs::read_to_string(config.join("runner.log")).unwrap_or_default()
}

/// A running krunner with a connected client.
pub struct Runner {
    // Declared first: the runner is stopped before its directories are removed.
    local: LocalRunner,
    /// The runner's working directory.
    pub work: tempfile::TempDir,
    /// Its config directory (and log file).
    pub config: tempfile::TempDir,
}

impl Runner {
    /// Starts `krunner <language>` with default options.
    pub fn start(language: &str) -> Self {
        Self::start_with(language, Options::default())
    }

    /// Starts a runner and waits until it answers `status`. Each of the (up to three) starts
    /// gets fresh directories.
    pub fn start_with(language: &str, opts: Options) -> Self {
        let mut dirs = None;
        let launched = LocalRunner::launch(&launch_options(), |ports| {
            let (work, config) = scratch(&opts);
            let cmd = command(language, &opts, work.path(), config.path(), ports);
            dirs = Some((work, config));
            cmd
        });
        let (work, config) = dirs.expect("a start was tried");
        match launched {
            Ok(local) => Runner {
                local,
                work,
                config,
            },
            Err(e) => panic!("{}; runner log:\n{}", describe(&e), read_log(config.path())),
        }
    }

    /// The runner's own log so far.
    pub fn log(&self) -> String {
        read_log(self.config.path())
    }

    /// The runner's pid (0 once terminated).
    pub fn pid(&self) -> i32 {
        self.local.pid().unwrap_or(0)
    }

    /// Sends a two-frame op.
    pub fn send(&self, op: &str, payload: impl AsRef<[u8]>) {
        if let Err(e) = self.local.client().send(op, payload) {
            panic!("{}", describe(&e));
        }
    }

    /// Sends arbitrary frames.
    pub fn send_frames(&self, frames: &[&[u8]]) {
        if let Err(e) = self.local.client().send_frames(frames) {
            panic!("{}", describe(&e));
        }
    }

    /// Receives one message, or `None` after `timeout`. Panics when the runner breaks the
    /// protocol (a message that is not two frames, a type that is not UTF-8).
    pub fn recv(&self, timeout: Duration) -> Option<Message> {
        self.local
            .client()
            .recv(timeout)
            .unwrap_or_else(|e| panic!("{}; runner log:\n{}", describe(&e), self.log()))
    }

    /// Receives one message or panics after `timeout`.
    pub fn expect(&self, timeout: Duration) -> Message {
        self.recv(timeout)
            .unwrap_or_else(|| panic!("no message within {timeout:?}; runner log:\n{}", self.log()))
    }

    /// Receives until a terminal message.
    pub fn until_finished(&self, timeout: Duration) -> Outcome {
        let deadline = Instant::now() + timeout;
        let mut messages = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(m) = self.recv(left) else {
                panic!(
                    "no terminal message within {timeout:?}; got {:?}; runner log:\n{}",
                    messages,
                    self.log()
                );
            };
            let done = m.is_terminal();
            messages.push(m);
            if done {
                return Outcome { messages };
            }
        }
    }

    /// Sends an op and collects its messages up to the terminal one.
    pub fn run(&self, op: &str, payload: impl AsRef<[u8]>) -> Outcome {
        self.send(op, payload);
        self.until_finished(Duration::from_secs(60))
    }

    /// Sends `status` and returns `started_at` from the msgpack reply. Log lines the runner
    /// printed on its own (`stderr`) may come first; anything else is an error.
    pub fn status(&self) -> f64 {
        self.send("status", b"");
        loop {
            let m = self.expect(Duration::from_secs(5));
            if m.kind == "stderr" {
                continue;
            }
            assert_eq!(m.kind, "status");
            return decode_status(&m.payload);
        }
    }

    /// Asks the console's private `krunner/is-complete` (the runner must have been started
    /// with `--console-ops`) and returns the JSON answer. Output the runner sends meanwhile
    /// (log lines) is skipped.
    pub fn is_complete(&self, code: &str) -> serde_json::Value {
        self.send(
            "krunner/is-complete",
            serde_json::json!({ "code": code }).to_string(),
        );
        loop {
            let m = self.expect(Duration::from_secs(10));
            if m.kind == "krunner/is-complete-reply" {
                return m.json();
            }
            assert!(!m.is_terminal(), "unexpected {m:?}");
        }
    }

    /// Sends SIGTERM and waits for the exit (SIGKILL after 10 s); returns the exit code and
    /// how long it took.
    pub fn terminate(&mut self) -> (Option<i32>, Duration) {
        let end = self.local.terminate().expect("running");
        (end.code, end.took)
    }
}
