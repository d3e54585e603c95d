//! The pieces serve mode builds at startup, each from the command line and the config
//! directory (docs/protocol.md §5.1, §5.10).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use krunner_plugin_api::{RunnerConfig, API_VERSION};
use tokio::sync::mpsc;

use crate::child_env::ChildEnv;
use crate::cli::ServeArgs;
use crate::config::IntrinsicPorts;
use crate::context::Context;
use crate::plugin::RunnerSlot;
use crate::plugin::{self, LoadError, Plugin, SearchPath};
use crate::services::{intrinsic, ServiceConfig, Services};
use crate::tasks::{Task, Tasks};
use crate::wire::{Endpoints, Held, Inbound, Limits, Outbox, Transport};
use crate::{logging, messages};

/// How long one connection attempt to a starting service may take.
const SERVICE_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The host's working directory: the session directory, where tasks run.
pub(super) fn work_dir() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

/// The async runtime the dispatcher and the services run on (one thread: the main one).
pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Queues the session directory's `bootstrap.sh`, when there is one, as the first task
/// (docs/protocol.md §5.8).
pub(super) fn submit_bootstrap(tasks: &mut Tasks) {
    let bootstrap = work_dir().join("bootstrap.sh");
    if bootstrap.is_file() {
        tasks.submit(Task::Bootstrap(bootstrap), Held::none());
    }
}

/// Finds the language's plugin (a missing file is fatal: there is nothing to serve) and
/// loads it (a broken file is not: `status` is still answered and every task reports why).
pub(super) fn find_and_load(
    args: &ServeArgs,
    language: &str,
) -> anyhow::Result<Result<Plugin, Arc<LoadError>>> {
    let search = SearchPath::new(&args.plugin_dirs);
    let candidate = search.find_or_explain(language)?;
    let plugin = plugin::load(&candidate.path).map_err(|e| {
        tracing::error!("{}", messages::plugin_unusable(language, &e));
        Arc::new(e)
    });
    if let Ok(p) = &plugin {
        tracing::info!(
            "loaded {} (plugin {} for plugin-api {})",
            p.path.display(),
            p.info.plugin_version,
            p.built_against
        );
    }
    Ok(plugin)
}

/// Binds the agent's sockets; `status` is answered on the socket thread itself.
pub(super) fn bind(
    args: &ServeArgs,
    ports: &IntrinsicPorts,
    language: &str,
    limits: &Limits,
    inbound: mpsc::UnboundedSender<Inbound>,
    started_at: f64,
) -> anyhow::Result<Transport> {
    let endpoints = Endpoints {
        address: args.bind_address.clone(),
        repl_in: args.repl_in_port.unwrap_or(ports.replin),
        repl_out: args.repl_out_port.unwrap_or(ports.replout),
    };
    let transport = Transport::start(&endpoints, limits, inbound, started_at, args.console_ops)?;
    tracing::info!(
        "serving {language} on tcp://{}:{} (ops) and :{} (results)",
        endpoints.address,
        endpoints.repl_in,
        endpoints.repl_out
    );
    Ok(transport)
}

/// The shared context; from now on warnings also reach the user's console.
pub(super) fn context(
    args: &ServeArgs,
    language: &str,
    outbox: Outbox,
    limits: &Limits,
) -> Arc<Context> {
    let name = format!("{language}-kernel");
    logging::forward_to(outbox.clone(), &name);
    let (child_env, warnings) = ChildEnv::build(ChildEnv::process_env(), &args.config_dir);
    for w in warnings {
        tracing::warn!("{w}");
    }
    Arc::new(Context::new(
        name,
        outbox,
        child_env,
        args.interrupt_grace_period(),
        limits,
    ))
}

/// What the runner is told about its host.
pub(super) fn runner_config(args: &ServeArgs, language: &str) -> RunnerConfig {
    RunnerConfig {
        language: language.to_owned(),
        runtime_path: args.runtime_path.clone(),
        work_dir: work_dir().display().to_string(),
        config_dir: args.config_dir.display().to_string(),
        debug: args.debug,
        api_version: API_VERSION.to_owned(),
        host_version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

/// The service supervisor's settings.
pub(super) fn service_config(
    args: &ServeArgs,
    ports: &IntrinsicPorts,
    plugin: &Result<Plugin, Arc<LoadError>>,
) -> ServiceConfig {
    let runtime_path = args
        .runtime_path
        .clone()
        .or_else(|| {
            plugin
                .as_ref()
                .ok()
                .and_then(|p| p.info.default_runtime.clone())
        })
        .unwrap_or_default();
    ServiceConfig {
        def_dir: args.service_def_dir.clone(),
        timeout: args.service_start_timeout(),
        probe_timeout: SERVICE_PROBE_TIMEOUT,
        runtime_path,
        intrinsic: intrinsic::Settings {
            sshd: args.sshd_binary.clone(),
            ttyd: args.ttyd_binary.clone(),
            sshd_port: ports.sshd,
            ttyd_port: ports.ttyd,
        },
        config_dir: args.config_dir.clone(),
        work_dir: work_dir(),
    }
}

/// The service supervisor, with the intrinsic services starting. Its reply queues and the
/// intrinsic starts run on `runtime`.
pub(super) fn services(
    runtime: &tokio::runtime::Runtime,
    config: ServiceConfig,
    context: Arc<Context>,
    runner: Arc<RunnerSlot>,
    outbox: Outbox,
) -> Arc<Services> {
    let _entered = runtime.enter();
    let services = Services::new(config, context, runner, outbox);
    services.start_intrinsic();
    services
}
