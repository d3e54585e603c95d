//! One running kernel: started through the host ([`HostHandle::spawn`], so the host owns its
//! process group and ends it at shutdown), connected on its five channels, and ready once it
//! answered `kernel_info_request` on shell and on iopub (which also shows that the iopub
//! subscription is in place, so no output of the first query is lost).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use krunner_plugin_api::sdk::HostHandle;
use krunner_plugin_api::RunSpec;
use serde_json::{json, Value};

use crate::connection::{random_bytes, Channel, ConnectionInfo};
use crate::launch::{self, LaunchEnv, StartError};
use crate::routing::{self, lock, Shared};
use crate::spec::{InterruptMode, KernelSpec};
use crate::wire::{hex, Message, Session};
use crate::zmtp::{self, Reader, Received, Writer, ZmtpError};

/// How often `kernel_info_request` is sent again while the kernel has not answered on both
/// shell and iopub.
const RESEND: Duration = Duration::from_secs(1);

/// How long the heartbeat may take to echo at startup.
const HEARTBEAT: Duration = Duration::from_secs(2);

/// A running kernel.
pub struct Kernel {
    pub(crate) spec: KernelSpec,
    pub(crate) shared: Arc<Shared>,
    pub(crate) shell: Writer,
    pub(crate) stdin: Writer,
    control: Writer,
    /// A query is running.
    pub(crate) busy: AtomicBool,
    /// The last `execute_reply` said `abort` (and no interrupt asked for it).
    pub(crate) aborted: AtomicBool,
    /// When the running query was interrupted.
    pub(crate) interrupted_at: Mutex<Option<Instant>>,
    /// `language_info` from `kernel_info_reply`.
    pub language_info: Value,
}

struct Sockets {
    shell: Writer,
    stdin: Writer,
    control: Writer,
    heartbeat: (Reader, Writer),
}

impl Kernel {
    /// Starts `spec` with its connection file in `dir`; waits at most `timeout` for it.
    pub fn start(
        host: &HostHandle,
        spec: &KernelSpec,
        dir: &Path,
        env: &LaunchEnv,
        timeout: Duration,
    ) -> Result<Self, StartError> {
        let deadline = Instant::now() + timeout;
        let info = ConnectionInfo::new()?;
        let file = dir.join(format!("kernel-{}.json", hex(&random_bytes(6)?)));
        let argv = launch::argv(spec, &file, env)?;
        info.write(&file)?;
        let mut run = RunSpec::argv(argv);
        run.env = env.env.clone();
        run.env.extend(launch::kernel_env(spec, &env.child));
        run.path_prepend.clone_from(&env.path_prepend);
        let process = match host.spawn(&run) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                let _ = std::fs::remove_file(&file);
                return Err(StartError::Spawn(e.message().to_owned()));
            }
        };
        let session = Session::new(hex(&random_bytes(16)?), info.key.as_bytes());
        let shared = Arc::new(Shared::new(host.clone(), process, session));
        let started = Self::connect(&shared, spec, &info, deadline, timeout);
        // The kernel has read its connection file once it answered (or it never will).
        let _ = std::fs::remove_file(&file);
        started.inspect_err(|_| {
            shared.process.terminate();
            shared.close();
        })
    }

    fn connect(
        shared: &Arc<Shared>,
        spec: &KernelSpec,
        info: &ConnectionInfo,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Self, StartError> {
        routing::watch_process(shared)?;
        let sockets = open(shared, info, deadline).map_err(|e| failure(shared, e, timeout))?;
        let kernel = Self {
            spec: spec.clone(),
            shared: Arc::clone(shared),
            shell: sockets.shell,
            stdin: sockets.stdin,
            control: sockets.control,
            busy: AtomicBool::new(false),
            aborted: AtomicBool::new(false),
            interrupted_at: Mutex::new(None),
            language_info: Value::Null,
        };
        let reply = kernel.handshake(deadline, timeout)?;
        let (mut hb_reader, hb_writer) = sockets.heartbeat;
        let echoed = hb_writer
            .send(&[&b""[..], b"ping"])
            .and_then(|()| hb_reader.recv_timeout(HEARTBEAT));
        if !matches!(echoed, Ok(Received::Message(_))) {
            shared.host.warn(&format!(
                "the kernel {:?} does not answer heartbeats; it is used anyway",
                spec.name
            ));
        }
        Ok(Self {
            language_info: reply.content["language_info"].clone(),
            ..kernel
        })
    }

    /// Sends `kernel_info_request` until it is answered on shell and seen on iopub.
    fn handshake(&self, deadline: Instant, timeout: Duration) -> Result<Message, StartError> {
        let (seen_tx, seen_rx) = crossbeam_channel::unbounded();
        let (reply_tx, reply_rx) = crossbeam_channel::unbounded();
        let mut reply = None;
        let mut seen = false;
        let mut ids = Vec::new();
        let result = loop {
            let (id, frames) =
                self.shared
                    .session
                    .message("kernel_info_request", &json!({}), &json!({}));
            self.shared.await_reply(&id, reply_tx.clone());
            self.shared.await_iopub(&id, seen_tx.clone());
            ids.push(id);
            if let Err(e) = self.shell.send(&frames) {
                break Err(failure(&self.shared, ZmtpError::Io(e), timeout));
            }
            let resend = Instant::now() + RESEND;
            while Instant::now() < resend.min(deadline) && (reply.is_none() || !seen) {
                crossbeam_channel::select! {
                    recv(reply_rx) -> m => reply = reply.or(m.ok()),
                    recv(seen_rx) -> _ => seen = true,
                    default(Duration::from_millis(50)) => {}
                }
                if !self.shared.alive() || self.shared.host.interrupted() {
                    break;
                }
            }
            match (reply.take(), seen) {
                (Some(r), true) => break Ok(r),
                (r, _) => reply = r,
            }
            if !self.shared.alive() || self.shared.host.interrupted() || Instant::now() >= deadline
            {
                break Err(failure(&self.shared, ZmtpError::Cancelled, timeout));
            }
        };
        for id in ids {
            self.shared.forget_reply(&id);
            self.shared.forget_iopub(&id);
        }
        result
    }

    /// Whether the kernel still runs.
    pub fn alive(&self) -> bool {
        self.shared.alive()
    }

    /// Interrupts the running query, the way the kernelspec asks: SIGINT to the kernel's
    /// process group, or `interrupt_request` on the control channel.
    pub fn interrupt(&self) {
        if !self.busy.load(Ordering::SeqCst) {
            return;
        }
        lock(&self.interrupted_at).get_or_insert_with(Instant::now);
        match self.spec.interrupt_mode {
            InterruptMode::Signal => {
                let _ = self.shared.process.signal(libc::SIGINT);
            }
            InterruptMode::Message => {
                let (_, frames) =
                    self.shared
                        .session
                        .message("interrupt_request", &json!({}), &json!({}));
                let _ = self.control.send(&frames);
            }
        }
    }

    /// Stops the kernel (SIGTERM to its process group, then SIGKILL) and closes its sockets.
    pub fn terminate(&self) {
        self.shared.process.terminate();
        self.shared.close();
    }
}

/// Connects the five channels, subscribes to iopub and starts the listening threads.
fn open(
    shared: &Arc<Shared>,
    info: &ConnectionInfo,
    deadline: Instant,
) -> Result<Sockets, ZmtpError> {
    // Shell and stdin share an identity: the kernel sends input requests on stdin to the
    // identity that sent the request on shell.
    let identity = hex(&random_bytes(8)?).into_bytes();
    let give_up = || !shared.alive() || shared.host.interrupted();
    let connect = |channel: Channel, kind: &str| {
        let addr: SocketAddr = info.addr(channel);
        let (reader, writer, stream) = zmtp::connect(addr, kind, &identity, deadline, &give_up)?;
        shared.add_stream(stream);
        Ok::<_, ZmtpError>((reader, writer))
    };
    let (iopub, iopub_writer) = connect(Channel::Iopub, "SUB")?;
    iopub_writer.subscribe_all()?;
    routing::listen(shared, Channel::Iopub, iopub)?;
    let mut writers = Vec::new();
    for channel in [Channel::Shell, Channel::Stdin, Channel::Control] {
        let (reader, writer) = connect(channel, "DEALER")?;
        routing::listen(shared, channel, reader)?;
        writers.push(writer);
    }
    let heartbeat = connect(Channel::Heartbeat, "DEALER")?;
    let mut writers = writers.into_iter();
    let (Some(shell), Some(stdin), Some(control)) =
        (writers.next(), writers.next(), writers.next())
    else {
        return Err(ZmtpError::Cancelled);
    };
    // Keep the iopub writer's connection open: dropping a clone does not close it.
    drop(iopub_writer);
    Ok(Sockets {
        shell,
        stdin,
        control,
        heartbeat,
    })
}

/// What a failure to connect or to hear from the kernel means: it died, the start was
/// interrupted, it never answered, or its sockets are not Jupyter's.
fn failure(shared: &Shared, error: ZmtpError, timeout: Duration) -> StartError {
    if shared.host.interrupted() {
        return StartError::Interrupted;
    }
    if !shared.alive() || matches!(error, ZmtpError::Cancelled | ZmtpError::Io(_)) {
        // A connection that broke means the kernel is exiting: wait a moment for its status.
        let until = Instant::now() + Duration::from_secs(2);
        while shared.alive() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(status) = shared.exit_status() {
            return StartError::Exited {
                status,
                output: shared.tail(),
            };
        }
    }
    match error {
        ZmtpError::Protocol { .. } => StartError::Protocol(error.to_string()),
        _ => StartError::NoAnswer {
            secs: timeout.as_secs(),
            output: shared.tail(),
        },
    }
}
