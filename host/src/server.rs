//! Serve mode (`krunner <lang>`): load the plugin, bind the sockets, and dispatch ops.
//!
//! The receive loop never waits on a task, a plugin or a subprocess: queued ops go to the task
//! thread, completions to their own lane (with a deadline, so one reply per request always
//! comes), and `status`, `input` and `interrupt` are answered or applied on the spot.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use krunner_plugin_api::{RunnerConfig, API_VERSION};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::env::ChildEnv;
use crate::input_socket::InputSockets;
use crate::logging::WIRE;
use crate::plugins::{self, SearchPath};
use crate::protocol::{self, Msg, Op};
use crate::runner::RunnerSlot;
use crate::services::{self, ServiceConfig, Services};
use crate::session::{Phase, Session};
use crate::transport::{Endpoints, FastPath, Frames, Outbox, Transport};
use crate::worker::{Task, Worker};

/// How long a completion may take before an empty answer is sent instead.
const COMPLETE_DEADLINE: Duration = Duration::from_secs(1);

/// How long one connection attempt to a starting service may take.
const SERVICE_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything serve mode needs to know.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The language (plugin) to serve.
    pub language: String,
    /// The interpreter or compiler the plugin should use.
    pub runtime_path: Option<String>,
    /// `--plugin-dir` values.
    pub plugin_dirs: Vec<PathBuf>,
    /// Where `environ.txt` and `intrinsic-ports.json` are.
    pub config_dir: PathBuf,
    /// Override for the ops port.
    pub repl_in_port: Option<u16>,
    /// Override for the results port.
    pub repl_out_port: Option<u16>,
    /// Address to bind (`*` for all interfaces).
    pub bind_address: String,
    /// SIGINT-to-SIGKILL grace for interrupted process groups.
    pub interrupt_grace: Duration,
    /// `--debug`.
    pub debug: bool,
    /// The upstream user-input unix socket (`None`: off).
    pub input_socket: Option<PathBuf>,
    /// The legacy user-input TCP port on 127.0.0.1 (`None`: off).
    pub input_tcp_port: Option<u16>,
    /// Directory of service-definition files.
    pub service_def_dir: PathBuf,
    /// How long a service may take to open its port.
    pub service_timeout: Duration,
    /// The intrinsic sshd's dropbear binary.
    pub sshd_binary: PathBuf,
    /// The intrinsic ttyd binary.
    pub ttyd_binary: PathBuf,
}

/// Reads `intrinsic-ports.json` and applies the flags: (replin, replout).
pub fn resolve_ports(opts: &ServeOptions) -> anyhow::Result<(u16, u16)> {
    let (mut repl_in, mut repl_out) = (2000u16, 2001u16);
    let file = opts.config_dir.join("intrinsic-ports.json");
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            let value: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", file.display()))?;
            let port = |key: &str| -> anyhow::Result<Option<u16>> {
                let Some(v) = value.get(key) else {
                    return Ok(None);
                };
                let n = match v {
                    serde_json::Value::Number(n) => n.as_u64(),
                    serde_json::Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                };
                n.and_then(|n| u16::try_from(n).ok())
                    .map(Some)
                    .with_context(|| {
                        format!("{}: \"{key}\" is not a port number: {v}", file.display())
                    })
            };
            repl_in = port("replin")?.unwrap_or(repl_in);
            repl_out = port("replout")?.unwrap_or(repl_out);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("cannot read {}: {e}", file.display()),
    }
    Ok((
        opts.repl_in_port.unwrap_or(repl_in),
        opts.repl_out_port.unwrap_or(repl_out),
    ))
}

/// The runner's monotonic start time in seconds (the `status` reply's `started_at`).
fn monotonic_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Runs serve mode until SIGTERM or SIGINT.
pub fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    let started_at = monotonic_seconds();
    let search = SearchPath::new(&opts.plugin_dirs);
    let candidate = search
        .find(&opts.language)
        .ok_or_else(|| anyhow::anyhow!(search.not_found_message(&opts.language)))?;
    let name = format!("{}-kernel", opts.language);
    let plugin = plugins::load(&candidate.path).map_err(|e| {
        let msg = format!("cannot use the {} plugin: {e}", opts.language);
        tracing::error!("{msg}");
        msg
    });
    if let Ok(p) = &plugin {
        tracing::info!(
            "loaded {} (plugin {} for plugin-api {})",
            p.path.display(),
            p.info.plugin_version,
            p.built_against
        );
    }
    let (repl_in, repl_out) = resolve_ports(&opts)?;
    let endpoints = Endpoints {
        address: opts.bind_address.clone(),
        repl_in,
        repl_out,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (in_tx, in_rx) = mpsc::unbounded_channel::<Frames>();
    let fast_path: FastPath = Box::new(move |frames: &[Vec<u8>]| {
        matches!(protocol::decode(frames), Ok(Op::Status)).then_some(Msg::Status { started_at })
    });
    let transport = Transport::start(&endpoints, in_tx, fast_path)?;
    tracing::info!(
        "serving {} on tcp://{}:{} (ops) and :{} (results)",
        opts.language,
        endpoints.address,
        repl_in,
        repl_out
    );
    let outbox = transport.outbox();
    crate::logging::forward_to(outbox.clone(), &name);

    let (child_env, warnings) = ChildEnv::build(ChildEnv::process_env(), &opts.config_dir);
    for w in warnings {
        tracing::warn!("{w}");
    }
    let session = Arc::new(Session::new(
        name,
        outbox.clone(),
        child_env,
        opts.interrupt_grace,
    ));
    let work_dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let config = RunnerConfig {
        language: opts.language.clone(),
        runtime_path: opts.runtime_path.clone(),
        work_dir: work_dir.display().to_string(),
        config_dir: opts.config_dir.display().to_string(),
        debug: opts.debug,
        api_version: API_VERSION.to_owned(),
        host_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let input_sockets =
        InputSockets::start(&session, opts.input_socket.as_deref(), opts.input_tcp_port);
    let runtime_path = opts
        .runtime_path
        .clone()
        .or_else(|| {
            plugin
                .as_ref()
                .ok()
                .and_then(|p| p.info.default_runtime.clone())
        })
        .unwrap_or_default();
    let runners = Arc::new(RunnerSlot::new(plugin, config, Arc::clone(&session)));
    let mut worker = Worker::start(Arc::clone(&session), Arc::clone(&runners))
        .context("cannot start the task thread")?;
    let bootstrap = work_dir.join("bootstrap.sh");
    if bootstrap.is_file() {
        worker.submit(Task::Bootstrap(bootstrap));
    }

    let services = {
        // The service registry starts its reply queues on the runtime.
        let _entered = runtime.enter();
        let services = Services::new(
            ServiceConfig {
                def_dir: opts.service_def_dir.clone(),
                timeout: opts.service_timeout,
                probe_timeout: SERVICE_PROBE_TIMEOUT,
                runtime_path,
                binaries: services::intrinsic::Binaries {
                    sshd: opts.sshd_binary.clone(),
                    ttyd: opts.ttyd_binary.clone(),
                },
                config_dir: opts.config_dir.clone(),
                work_dir: work_dir.clone(),
            },
            Arc::clone(&session),
            Arc::clone(&runners),
            outbox.clone(),
        );
        services.start_intrinsic();
        services
    };

    let dispatcher = Dispatcher {
        session: Arc::clone(&session),
        runners: Arc::clone(&runners),
        services: Arc::clone(&services),
        outbox,
        started_at,
    };
    runtime.block_on(dispatcher.run(in_rx, &worker))?;

    shutdown(transport, &session, &runners, &services, &mut worker);
    input_sockets.stop();
    runtime.shutdown_timeout(Duration::from_millis(50));
    Ok(())
}

/// Stops everything within about two seconds: running process groups get SIGTERM (then
/// SIGKILL), the current task sends its terminal message, the plugin is told, and every queued
/// message is flushed to the agent.
fn shutdown(
    transport: Transport,
    session: &Arc<Session>,
    runners: &Arc<RunnerSlot>,
    services: &Arc<Services>,
    worker: &mut Worker,
) {
    let begun = Instant::now();
    transport.stop_receiving();
    session.begin_shutdown();
    // Services get SIGTERM now and SIGKILL if they are still running when the grace ends;
    // the task's process groups are stopped meanwhile.
    let services_done = {
        let services = Arc::clone(services);
        let deadline = begun + Duration::from_millis(1500);
        std::thread::Builder::new()
            .name("services-shutdown".into())
            .spawn(move || services.stop_all(deadline))
    };
    session.groups.terminate_all(Duration::from_millis(800));
    if !worker.stop(Duration::from_millis(500)) {
        tracing::warn!("the current task did not finish in time");
    }
    let runners = Arc::clone(runners);
    let plugin_done = std::thread::Builder::new()
        .name("plugin-shutdown".into())
        .spawn(move || runners.shutdown());
    if let Ok(handle) = plugin_done {
        let deadline = Instant::now() + Duration::from_millis(300);
        while !handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    if let Ok(handle) = services_done {
        let _ = handle.join();
    }
    transport.flush_and_close(Duration::from_millis(800));
    tracing::info!("stopped in {} ms", begun.elapsed().as_millis());
}

struct Dispatcher {
    session: Arc<Session>,
    runners: Arc<RunnerSlot>,
    services: Arc<Services>,
    outbox: Outbox,
    started_at: f64,
}

impl Dispatcher {
    async fn run(
        &self,
        mut inbound: mpsc::UnboundedReceiver<Frames>,
        worker: &Worker,
    ) -> anyhow::Result<()> {
        let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let (complete_tx, complete_rx) = mpsc::unbounded_channel();
        tokio::spawn(completion_lane(
            Arc::clone(&self.runners),
            self.outbox.clone(),
            complete_rx,
        ));
        loop {
            tokio::select! {
                frames = inbound.recv() => match frames {
                    Some(frames) => self.dispatch(&frames, worker, &complete_tx),
                    None => break,
                },
                _ = sigterm.recv() => {
                    tracing::info!("SIGTERM received; shutting down");
                    break;
                }
                _ = sigint.recv() => {
                    tracing::info!("SIGINT received; shutting down");
                    break;
                }
            }
        }
        Ok(())
    }

    fn dispatch(
        &self,
        frames: &[Vec<u8>],
        worker: &Worker,
        complete: &mpsc::UnboundedSender<Option<String>>,
    ) {
        let op = match protocol::decode(frames) {
            Ok(op) => op,
            Err(e) => {
                tracing::warn!(target: WIRE, "ignoring a malformed message: {e}");
                match e.owed_reply() {
                    // Completion replies must stay in request order: answer through the lane.
                    Some(Msg::Completion(_)) => {
                        let _ = complete.send(None);
                    }
                    // So must service replies: through their ordered queues.
                    Some(reply @ Msg::ServiceResult(_)) => {
                        self.services.answer_start_service(reply.clone())
                    }
                    Some(reply @ Msg::ModelServiceResult(_)) => {
                        self.services.answer_start_model_service(reply.clone())
                    }
                    Some(reply) => self.outbox.send(reply.clone()),
                    None => {}
                }
                return;
            }
        };
        tracing::debug!("op {}", op.name());
        match op {
            Op::Clean(c) => worker.submit(Task::Clean(c)),
            Op::Build(c) => worker.submit(Task::Build(c)),
            Op::Exec(c) => worker.submit(Task::Exec(c)),
            Op::Code(c) => worker.submit(Task::Code(c)),
            Op::Input(text) => self.session.input.push(text),
            Op::Complete(json) => {
                let _ = complete.send(Some(json));
            }
            Op::Interrupt => self.interrupt(),
            Op::Status => self.outbox.send(Msg::Status {
                started_at: self.started_at,
            }),
            Op::Event(event) => {
                if event.get("type").and_then(|t| t.as_str()) == Some("oom") {
                    tracing::warn!("out-of-memory detected: a process in this session was killed");
                } else {
                    tracing::info!("agent-notified event: {event}");
                }
                let runners = Arc::clone(&self.runners);
                tokio::task::spawn_blocking(move || runners.on_event(&event));
            }
            Op::StartService(payload) => self.services.start_service(payload),
            Op::ShutdownService(payload) => self.services.shutdown_service(&payload),
            Op::GetApps(filter) => self.outbox.send(self.services.get_apps(&filter)),
            Op::StartModelService(payload) => self.services.start_model_service(payload),
        }
    }

    fn interrupt(&self) {
        let signalled = self.session.interrupt();
        tracing::debug!("interrupt: signalled {signalled} process group(s)");
        if self.session.phase() != Phase::Idle {
            let runners = Arc::clone(&self.runners);
            tokio::task::spawn_blocking(move || runners.interrupt());
        }
    }
}

/// Answers completion requests one at a time, in order, each within [`COMPLETE_DEADLINE`].
async fn completion_lane(
    runners: Arc<RunnerSlot>,
    outbox: Outbox,
    mut requests: mpsc::UnboundedReceiver<Option<String>>,
) {
    while let Some(request) = requests.recv().await {
        let suggestions = match request {
            None => Vec::new(),
            Some(json) => {
                let runners = Arc::clone(&runners);
                let job = tokio::task::spawn_blocking(move || runners.complete(&json));
                match tokio::time::timeout(COMPLETE_DEADLINE, job).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::warn!(target: WIRE, "completion failed: {e}");
                        Vec::new()
                    }
                    Err(_) => {
                        tracing::debug!("completion took longer than {COMPLETE_DEADLINE:?}");
                        Vec::new()
                    }
                }
            }
        };
        outbox.send(Msg::Completion(suggestions));
    }
}
