//! Stopping serve mode within a fixed budget (docs/protocol.md §5.11).
//!
//! Receiving stops first; the running task's process groups get SIGTERM (then SIGKILL) while
//! the services are stopped on another thread; the task thread sends the task's terminal
//! message; the plugin is told; and every queued message is flushed to the agent. Each step
//! has its own budget and nothing here waits for the agent to read (this thread drops rather
//! than waits, [`crate::wire::never_block_here`]), so an agent that stopped reading, a task
//! thread stuck sending to it, or a plugin that hangs cannot keep the host alive. What could
//! not be delivered is counted in the log.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::context::Context;
use crate::logging::{self, WIRE};
use crate::plugin::RunnerSlot;
use crate::services::Services;
use crate::tasks::Tasks;
use crate::wire::Transport;

/// How long services may ignore SIGTERM.
const SERVICES_GRACE: Duration = Duration::from_millis(1500);
/// How long the task's process groups may ignore SIGTERM.
const TASK_GRACE: Duration = Duration::from_millis(800);
/// How long the task thread may take to send the terminal message afterwards.
const TASK_FINISH: Duration = Duration::from_millis(500);
/// How long the plugin's `shutdown` may take.
const PLUGIN_SHUTDOWN: Duration = Duration::from_millis(300);
/// How long the last messages may take to leave.
const FLUSH: Duration = Duration::from_millis(800);
/// How long after shutdown began the services' own stopping (SIGKILL at
/// [`SERVICES_GRACE`], then reaping) may still run.
const SERVICES_DONE: Duration = Duration::from_millis(2500);

/// What shutdown stops.
pub(super) struct Parts<'a> {
    pub(super) transport: Transport,
    pub(super) context: &'a Arc<Context>,
    pub(super) runner: &'a Arc<RunnerSlot>,
    pub(super) services: &'a Arc<Services>,
    pub(super) tasks: &'a mut Tasks,
}

/// Stops everything (see the module docs).
pub(super) fn shutdown(parts: Parts<'_>) {
    let begun = Instant::now();
    parts.transport.stop_receiving();
    parts.context.begin_shutdown();
    let services_done = stop_services(parts.services, begun + SERVICES_GRACE);
    parts.context.groups.terminate_all(TASK_GRACE);
    if !parts.tasks.stop(TASK_FINISH) {
        tracing::warn!("the current task did not finish in time");
    }
    stop_plugin(parts.runner);
    if let Ok(handle) = services_done {
        if !wait_for(&handle, begun + SERVICES_DONE) {
            tracing::warn!("the services did not stop in time");
        }
    }
    report_dropped(&parts.transport);
    parts.transport.flush_and_close(FLUSH);
    tracing::info!("stopped in {} ms", begun.elapsed().as_millis());
}

/// Services get SIGTERM now and SIGKILL if they are still running at `deadline`; meanwhile
/// the task's process groups are stopped.
fn stop_services(services: &Arc<Services>, deadline: Instant) -> std::io::Result<JoinHandle<()>> {
    let services = Arc::clone(services);
    std::thread::Builder::new()
        .name("services-shutdown".into())
        .spawn(move || services.stop_all(deadline))
}

/// Tells the runner, waiting at most [`PLUGIN_SHUTDOWN`] for it.
fn stop_plugin(runner: &Arc<RunnerSlot>) {
    let runner = Arc::clone(runner);
    let done = std::thread::Builder::new()
        .name("plugin-shutdown".into())
        .spawn(move || runner.shutdown());
    if let Ok(handle) = done {
        wait_for(&handle, Instant::now() + PLUGIN_SHUTDOWN);
    }
}

/// Waits until `thread` has finished or `deadline` passes; returns whether it finished.
fn wait_for(thread: &JoinHandle<()>, deadline: Instant) -> bool {
    while !thread.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    thread.is_finished()
}

/// Logs what never reached the outbound queue because the agent did not read.
fn report_dropped(transport: &Transport) {
    let (messages, bytes) = transport.outbox().dropped();
    if messages > 0 {
        tracing::warn!(
            target: WIRE,
            "{messages} message(s) ({bytes} bytes) were dropped while the outbound queue was \
             full, {} of them console warnings",
            logging::not_forwarded()
        );
    }
}
