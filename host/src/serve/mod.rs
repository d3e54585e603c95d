//! Serve mode (`krunner <lang>`): the container's main process.
//!
//! [`serve`] loads the plugin, binds the agent's sockets, starts the task thread, the
//! services and the input side channel, and hands every op to the [`dispatch`]er until SIGTERM
//! or SIGINT; then [`shutdown`] stops everything in order. docs/architecture.md follows an op
//! through these parts.

mod completion;
mod dispatch;
mod shutdown;
mod startup;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::mpsc;

use crate::cli::ServeArgs;
use crate::config::IntrinsicPorts;
use crate::input::InputSockets;
use crate::plugin::RunnerSlot;
use crate::sys;
use crate::tasks::Tasks;
use crate::wire::{self, Inbound};

/// Runs serve mode until SIGTERM or SIGINT.
pub(crate) fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let started_at = sys::monotonic_seconds();
    // This thread runs the dispatcher, the signal handling and shutdown: it must never wait
    // for the agent to read.
    wire::never_block_here();
    let limits = args.limits();
    let language = args.language.clone().unwrap_or_default();
    let plugin = startup::find_and_load(args, &language)?;
    let ports = IntrinsicPorts::read(&args.config_dir)?;
    let runtime = startup::runtime()?;
    // Unbounded in type only: everything in it is charged to the inbound budget.
    let (in_tx, in_rx) = mpsc::unbounded_channel::<Inbound>();
    let transport = startup::bind(args, &ports, &language, &limits, in_tx, started_at)?;
    let outbox = transport.outbox();
    let context = startup::context(args, &language, outbox.clone(), &limits);
    let input_sockets = InputSockets::start(
        &context,
        (!args.no_input_socket).then_some(args.input_socket.as_path()),
        args.input_tcp_port,
    );
    let service_config = startup::service_config(args, &ports, &plugin);
    let runner = Arc::new(RunnerSlot::new(
        plugin,
        startup::runner_config(args, &language),
        Arc::clone(&context),
    ));
    let mut tasks = Tasks::start(Arc::clone(&context), Arc::clone(&runner))
        .context("cannot start the task thread")?;
    startup::submit_bootstrap(&mut tasks);
    let services = startup::services(
        &runtime,
        service_config,
        Arc::clone(&context),
        Arc::clone(&runner),
        outbox.clone(),
    );
    let dispatcher = dispatch::Dispatcher {
        context: Arc::clone(&context),
        runner: Arc::clone(&runner),
        services: Arc::clone(&services),
        outbox,
        started_at,
        console_ops: args.console_ops,
    };
    runtime.block_on(dispatcher.run(in_rx, &tasks))?;
    shutdown::shutdown(shutdown::Parts {
        transport,
        context: &context,
        runner: &runner,
        services: &services,
        tasks: &mut tasks,
    });
    input_sockets.stop();
    runtime.shutdown_timeout(Duration::from_millis(50));
    Ok(())
}
