//! The host's logs: to the process's stderr (container logs), and warnings and errors also to the
//! user's console as `stderr` messages, each line naming the runner (`c-kernel: ...`),
//! docs/protocol.md §5.9.
//!
//! Forwarded lines go through the same [`Outbox`] as task output, so a warning logged during a
//! task (such as "cannot find main.c") reaches the user before that task's `finished`. Logging
//! never waits for the agent: a line that does not fit the outbound queue is dropped from the
//! console (it is still in the container log), and the drops are counted and logged when the
//! queue takes lines again and at shutdown.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::wire::{on_socket_thread, Msg, Outbox};

/// The tracing target for problems with the agent's requests (malformed frames, bad JSON):
/// logged for the operator, never forwarded to the user's console.
pub(crate) const WIRE: &str = "krunner::wire";

/// Warnings not forwarded because the outbound queue was full: in total, and since the last
/// report.
static NOT_FORWARDED: AtomicU64 = AtomicU64::new(0);
static UNREPORTED: AtomicU64 = AtomicU64::new(0);

/// How many warnings and errors could not be forwarded to the console so far.
pub(crate) fn not_forwarded() -> u64 {
    NOT_FORWARDED.load(Ordering::Relaxed)
}

struct Forward {
    outbox: Outbox,
    prefix: String,
}

static FORWARD: OnceLock<Forward> = OnceLock::new();

/// Installs the global subscriber. `KRUNNER_LOG` (an `EnvFilter` directive) overrides the
/// level; otherwise `info`, or `debug` with `--debug`.
pub(crate) fn init(debug: bool) {
    let default = if debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_env("KRUNNER_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let console = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .with_filter(filter);
    let _ = tracing_subscriber::registry()
        .with(console)
        .with(ForwardLayer.with_filter(LevelFilter::WARN))
        .try_init();
}

/// Starts forwarding warnings and errors to the user's console through `outbox`.
pub(crate) fn forward_to(outbox: Outbox, runner_name: &str) {
    let _ = FORWARD.set(Forward {
        outbox,
        prefix: runner_name.to_owned(),
    });
}

struct ForwardLayer;

impl<S: Subscriber> Layer<S> for ForwardLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some(forward) = FORWARD.get() else {
            return;
        };
        // The socket thread cannot queue messages for itself without risking a deadlock on a
        // full queue; problems with the agent's own requests are not the user's business.
        if on_socket_thread() || event.metadata().target() == WIRE {
            return;
        }
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        let label = if *event.metadata().level() == Level::ERROR {
            "error"
        } else {
            "warning"
        };
        let line = format!("{}: {label}: {}\n", forward.prefix, visitor.text);
        if !forward.outbox.try_send(Msg::Stderr(line.into_bytes())) {
            NOT_FORWARDED.fetch_add(1, Ordering::Relaxed);
            if UNREPORTED.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::warn!(
                    target: WIRE,
                    "the outbound queue is full (the agent is not reading): warnings are not \
                     shown on the console until it has room; they are counted"
                );
            }
            return;
        }
        let missed = UNREPORTED.swap(0, Ordering::Relaxed);
        if missed > 0 {
            tracing::warn!(
                target: WIRE,
                "{missed} warning(s) were not shown on the console: the outbound queue was full"
            );
        }
    }
}

#[derive(Default)]
struct MessageVisitor {
    text: String,
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.text.insert_str(0, value);
        } else {
            let _ = write!(self.text, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.text.insert_str(0, &format!("{value:?}"));
        } else {
            let _ = write!(self.text, " {}={value:?}", field.name());
        }
    }
}
