//! The terminal bridge: keystrokes from a ZeroMQ SUB socket (port 2002) go to the shell's
//! pseudo-terminal, and everything the terminal prints goes out on a PUB socket (port 2003),
//! one single-frame message per read. When the shell exits, `Restarting...` is printed and a
//! new one starts. One thread owns the sockets and the shell; the runner talks to it through
//! [`Shared`].
//!
//! The plugin owns these sockets and processes, not the host (see the plugin-api crate docs,
//! "When a plugin may own processes and sockets"), so [`Terminal::stop`] — called on
//! `shutdown` and when the last runner using the terminal is dropped — ends every process the
//! shells started, within the time the host gives a plugin to shut down.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use krunner_plugin_api::sdk::HostHandle;

use crate::endpoints::{EndpointError, Endpoints};
use crate::pty::{self, Pty, Size};

/// How long the shells get to exit after the hangup before their POSIX sessions are killed. The
/// host waits about 300 ms for a plugin's `shutdown`.
const STOP_GRACE: Duration = Duration::from_millis(100);

/// Why the terminal is not running.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    /// The configured endpoints cannot be used.
    #[error(transparent)]
    Endpoints(#[from] EndpointError),
    /// A socket could not be created or configured.
    #[error("{0}")]
    Socket(#[from] zmq::Error),
    /// An endpoint could not be bound.
    #[error("cannot bind {endpoint}: {source}")]
    Bind {
        /// The endpoint.
        endpoint: String,
        /// Why.
        source: zmq::Error,
    },
    /// The bridge thread could not be started.
    #[error("cannot start the terminal thread: {0}")]
    Thread(std::io::Error),
}

/// State shared between the bridge thread and the runner.
#[derive(Default)]
pub struct Shared {
    stop: AtomicBool,
    /// The current master descriptor (-1 while no shell runs).
    master_fd: AtomicI32,
    /// The current size, kept across restarts.
    size: Mutex<Size>,
    /// The shell's pid (0 while none runs).
    shell_pid: AtomicI32,
    /// Why the terminal is not available, if it is not.
    failure: Mutex<Option<String>>,
    /// The POSIX sessions of the shells started so far that may still have processes (each
    /// shell leads its own; the session id is the shell's pid).
    shell_sids: Mutex<Vec<i32>>,
}

impl Shared {
    /// Resizes the terminal (and remembers the size for restarted shells).
    pub fn resize(&self, size: Size) -> std::io::Result<()> {
        if let Ok(mut s) = self.size.lock() {
            *s = size;
        }
        let fd = self.master_fd.load(Ordering::SeqCst);
        if fd < 0 {
            return Ok(());
        }
        pty::resize(fd, size)
    }

    /// The running shell's pid.
    pub fn shell_pid(&self) -> Option<i32> {
        Some(self.shell_pid.load(Ordering::SeqCst)).filter(|p| *p > 0)
    }

    /// Why the terminal could not start, if it could not.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    fn current_size(&self) -> Size {
        self.size.lock().map(|s| *s).unwrap_or_default()
    }

    fn fail(&self, why: &TerminalError) {
        if let Ok(mut f) = self.failure.lock() {
            *f = Some(why.to_string());
        }
    }

    /// Remembers a new shell's POSIX session, forgetting those with nothing left in them.
    fn track_shell(&self, pid: i32) {
        let mut sids = lock(&self.shell_sids);
        sids.retain(|sid| !pty::sid_members(*sid).is_empty());
        sids.push(pid);
    }

    /// Ends every process of the shells: a hangup for the running shell (which passes it on to
    /// its jobs), then, after [`STOP_GRACE`], SIGKILL for whatever is left in the POSIX sessions of
    /// all the shells started (jobs that ignore hangups, jobs of shells that exited before).
    fn end_shells(&self) {
        if let Some(pid) = self.shell_pid() {
            pty::hang_up_group(pid);
        }
        let sids = lock(&self.shell_sids).clone();
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline && sids.iter().any(|sid| !pty::sid_members(*sid).is_empty())
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        for sid in sids {
            pty::kill_sid(sid);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running bridge.
pub struct Terminal {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// How to start the shell.
#[derive(Clone, Debug)]
pub struct ShellSpec {
    /// The shell program.
    pub program: String,
    /// Its complete environment.
    pub env: BTreeMap<String, String>,
}

impl Terminal {
    /// Binds the sockets and starts the bridge thread. Socket errors are reported by the
    /// returned terminal's [`Shared::failure`] and logged.
    pub fn start(endpoints: Endpoints, shell: ShellSpec, host: HostHandle) -> Self {
        let shared = Arc::new(Shared {
            master_fd: AtomicI32::new(-1),
            ..Shared::default()
        });
        let state = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("terminal".into())
            .spawn(move || {
                let result = bridge(&endpoints, &shell, &state, &host);
                // Whatever stopped the bridge, no process of the shells outlives it.
                state.end_shells();
                if let Err(e) = result {
                    host.error(&format!("the terminal stopped: {e}"));
                    state.fail(&e);
                }
            });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                shared.fail(&TerminalError::Thread(e));
                None
            }
        };
        Self {
            shared,
            thread: Mutex::new(thread),
        }
    }

    /// A terminal that could not start, reporting `why`.
    pub fn failed(why: &TerminalError, host: &HostHandle) -> Self {
        host.error(&format!("the terminal cannot start: {why}"));
        let shared = Arc::new(Shared {
            master_fd: AtomicI32::new(-1),
            ..Shared::default()
        });
        shared.fail(why);
        Self {
            shared,
            thread: Mutex::new(None),
        }
    }

    /// The shared state.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Stops the bridge: hangs up the shell, kills what is left in the shells' POSIX sessions after
    /// a short grace, and joins the thread (which closes the sockets).
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.end_shells();
        let handle = lock(&self.thread).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn_shell(shell: &ShellSpec, size: Size) -> std::io::Result<Pty> {
    let mut command = Command::new(&shell.program);
    command.env_clear().envs(&shell.env);
    Pty::spawn(command, size)
}

fn bind(endpoints: &Endpoints) -> Result<(zmq::Socket, zmq::Socket), TerminalError> {
    let ctx = zmq::Context::new();
    let sub = ctx.socket(zmq::SUB)?;
    let publ = ctx.socket(zmq::PUB)?;
    sub.set_subscribe(b"")?;
    sub.set_linger(0)?;
    publ.set_linger(100)?;
    for (socket, endpoint) in [(&sub, &endpoints.input), (&publ, &endpoints.output)] {
        socket
            .bind(endpoint)
            .map_err(|source| TerminalError::Bind {
                endpoint: endpoint.clone(),
                source,
            })?;
    }
    Ok((sub, publ))
}

/// Runs shells until the bridge is stopped: binds the sockets, then starts a shell, pumps
/// bytes until it exits, and starts the next one.
fn bridge(
    endpoints: &Endpoints,
    shell: &ShellSpec,
    shared: &Shared,
    host: &HostHandle,
) -> Result<(), TerminalError> {
    let (sub, publ) = bind(endpoints)?;
    host.info(&format!(
        "terminal: keystrokes on {}, output on {}",
        endpoints.input, endpoints.output
    ));
    let mut failures = 0u32;
    while !shared.stop.load(Ordering::SeqCst) {
        let mut pty = match spawn_shell(shell, shared.current_size()) {
            Ok(p) => {
                failures = 0;
                p
            }
            Err(e) => {
                failures += 1;
                host.error(&format!("cannot start {}: {e}", shell.program));
                let backoff = Duration::from_millis(200 * u64::from(failures.min(25)));
                sleep_unless_stopped(shared, backoff);
                continue;
            }
        };
        let pid = i32::try_from(pty.child.id()).unwrap_or(0);
        shared.track_shell(pid);
        shared
            .master_fd
            .store(pty.master.as_raw_fd(), Ordering::SeqCst);
        shared.shell_pid.store(pid, Ordering::SeqCst);
        let started = Instant::now();
        pump(&sub, &publ, &mut pty, shared);
        shared.master_fd.store(-1, Ordering::SeqCst);
        shared.shell_pid.store(0, Ordering::SeqCst);
        pty.hang_up();
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let _ = publ.send(&b"Restarting...\r\n"[..], 0);
        // A shell that dies at once (broken rc file, say) must not spin.
        if started.elapsed() < Duration::from_secs(1) {
            sleep_unless_stopped(shared, Duration::from_millis(500));
        }
    }
    Ok(())
}

fn sleep_unless_stopped(shared: &Shared, total: Duration) {
    let end = Instant::now() + total;
    while Instant::now() < end && !shared.stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Moves bytes both ways until the shell is gone or the bridge stops.
fn pump(sub: &zmq::Socket, publ: &zmq::Socket, pty: &mut Pty, shared: &Shared) {
    let fd = pty.master.as_raw_fd();
    let mut buf = vec![0u8; 4096];
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let mut items = [
            sub.as_poll_item(zmq::POLLIN),
            zmq::PollItem::from_fd(fd, zmq::POLLIN),
        ];
        if zmq::poll(&mut items, 200).is_err() {
            return;
        }
        let (keys, output) = (items[0].is_readable(), items[1].is_readable());
        let hung_up = items[1].get_revents().contains(zmq::POLLERR);
        if keys {
            while let Ok(bytes) = sub.recv_bytes(zmq::DONTWAIT) {
                if pty.master.write_all(&bytes).is_err() {
                    return;
                }
            }
        }
        if output {
            match pty.master.read(&mut buf) {
                Ok(0) | Err(_) => return, // EIO: every process on the terminal closed it
                Ok(n) => {
                    let _ = publ.send(&buf[..n], 0);
                }
            }
        } else if hung_up || matches!(pty.child.try_wait(), Ok(Some(_))) {
            // The shell is gone; drain what it printed last, then restart.
            while let Ok(n) = read_ready(fd, &mut buf) {
                if n == 0 {
                    break;
                }
                let _ = publ.send(&buf[..n], 0);
            }
            return;
        }
    }
}

/// Reads what is available right now without blocking.
fn read_ready(fd: i32, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll on one valid pollfd.
    let ready = unsafe { libc::poll(&mut pfd, 1, 0) };
    if ready <= 0 || pfd.revents & libc::POLLIN == 0 {
        return Ok(0);
    }
    // SAFETY: read into a buffer valid for its length.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
}
