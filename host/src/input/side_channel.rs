//! The upstream user-input side channel, so images that still carry the old input hooks (a
//! `sitecustomize.py` replacing `input()`, Java's patched `System.in`) keep working.
//!
//! Each connection is one input request (docs/protocol.md §5.6): the host sends `waiting-input`
//! (unless input is already queued), waits for the next `input` op, writes its UTF-8 bytes,
//! and closes; it never reads from the client. An interrupt or shutdown closes the connection
//! without writing. The request goes through the same queue as the stdin pipes and plugins,
//! so early input is kept for it too. An input ending with the end-of-file mark is written
//! without the mark (the socket protocol has no end-of-file of its own).
//!
//! Requests are answered only while a task runs, because only a task's program can be waiting
//! for the answer: a connection at any other time is closed at once, so a stray client can
//! neither make the agent ask the user for input nor take input meant for a later task.
//!
//! Two listeners exist: the unix socket `/tmp/bai-user-input.sock` (MONOREPO images; bound so
//! that only this user can connect, see [`super::socket_path`]) and, behind a flag, TCP
//! `127.0.0.1:65000` (older images).

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::queue::EOF_MARK;
use super::socket_path::bind_private;
use crate::context::{Context, Phase};
use crate::wire::Msg;

/// Connections served at the same time; more are closed at once (each one waits for input).
const MAX_CONNECTIONS: usize = 64;

/// The running listeners.
pub(crate) struct InputSockets {
    /// The unix socket's path and the (device, inode) it had when bound.
    unix_path: Option<(PathBuf, (u64, u64))>,
}

impl InputSockets {
    /// Starts the listeners that are configured. Failures are logged: the side channel is a
    /// compatibility aid and must not keep the host from serving.
    pub(crate) fn start(
        context: &Arc<Context>,
        unix_path: Option<&Path>,
        tcp_port: Option<u16>,
    ) -> Self {
        let active = Arc::new(AtomicUsize::new(0));
        let mut bound_path = None;
        if let Some(path) = unix_path {
            match bind_private(path) {
                Ok(listener) => {
                    tracing::debug!("user-input socket at {}", path.display());
                    bound_path = identity(path).map(|id| (path.to_path_buf(), id));
                    let (context, active) = (Arc::clone(context), Arc::clone(&active));
                    spawn("input-socket", move || {
                        for conn in listener.incoming() {
                            match conn {
                                Ok(conn) => serve(&context, &active, conn),
                                Err(e) => accept_failed("user-input socket", &e),
                            }
                        }
                    });
                }
                Err(e) => {
                    tracing::error!("cannot listen for user input on {}: {e}", path.display())
                }
            }
        }
        if let Some(port) = tcp_port {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(listener) => {
                    tracing::debug!("user-input socket at 127.0.0.1:{port}");
                    let (context, active) = (Arc::clone(context), Arc::clone(&active));
                    spawn("input-tcp", move || {
                        for conn in listener.incoming() {
                            match conn {
                                Ok(conn) => serve(&context, &active, conn),
                                Err(e) => accept_failed("user-input TCP socket", &e),
                            }
                        }
                    });
                }
                Err(e) => tracing::warn!("cannot listen for user input on 127.0.0.1:{port}: {e}"),
            }
        }
        Self {
            unix_path: bound_path,
        }
    }

    /// Removes the unix socket file, unless another process has replaced it since.
    pub(crate) fn stop(&self) {
        if let Some((path, id)) = &self.unix_path {
            if identity(path) == Some(*id) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// A failed `accept` (e.g. out of descriptors) is retried after a pause, not in a busy loop.
fn accept_failed(what: &str, err: &std::io::Error) {
    tracing::debug!("{what}: {err}");
    std::thread::sleep(std::time::Duration::from_millis(50));
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(body) {
        tracing::warn!("cannot start the {name} thread: {e}");
    }
}

/// Answers one connection on its own thread, if a task runs that can use the answer.
fn serve<S: Write + Send + 'static>(context: &Arc<Context>, active: &Arc<AtomicUsize>, conn: S) {
    // The epoch first: a task that ends after this moment cancels the request (the task
    // thread marks itself idle before it cancels its requests).
    let epoch = context.input.interrupt_epoch();
    if context.phase() == Phase::Idle {
        tracing::debug!("user-input connection while no task runs; closing it unanswered");
        return;
    }
    if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
        active.fetch_sub(1, Ordering::SeqCst);
        tracing::warn!("too many waiting user-input connections; closing one");
        return;
    }
    let (context, active) = (Arc::clone(context), Arc::clone(active));
    spawn("input-request", move || {
        answer(&context, epoch, conn);
        active.fetch_sub(1, Ordering::SeqCst);
    });
}

fn answer(context: &Context, epoch: u64, mut conn: impl Write) {
    let text = context.input.take_since(epoch, || {
        context
            .outbox
            .send(Msg::WaitingInput { is_password: false });
    });
    match text {
        Ok(text) => {
            let text = text.strip_suffix(EOF_MARK).unwrap_or(&text);
            if let Err(e) = conn.write_all(text.as_bytes()) {
                tracing::debug!("user-input client went away: {e}");
            }
        }
        Err(c) => tracing::debug!("user-input request cancelled: {c:?}"),
    }
}
