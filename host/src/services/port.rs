//! Waiting until a service accepts TCP connections on `127.0.0.1:<port>`.
//!
//! `start-service` is answered only once the port is open (the agent proxies to it right
//! away), within an overall budget (30 s by default, under the agent's 35 s) and a per-probe
//! connect timeout (10 s). The wait also watches the process: a service that exits while
//! starting is reported at once with its exit status, instead of after the whole budget.

use std::net::{SocketAddr, TcpStream};
use std::process::ExitStatus;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Delay between probes while the port refuses connections.
const RETRY: Duration = Duration::from_millis(100);

/// How a port wait ended.
#[derive(Debug)]
pub(crate) enum PortWait {
    /// The port accepted a connection.
    Open,
    /// The process exited first.
    Exited(ExitStatus),
    /// The budget ran out.
    TimedOut,
    /// Probing failed in a way retrying cannot fix.
    Failed(std::io::Error),
}

/// Waits until `127.0.0.1:port` accepts a connection, the process exits, or `budget` passes.
pub(crate) async fn wait_open(
    port: u16,
    budget: Duration,
    probe_timeout: Duration,
    mut exit: watch::Receiver<Option<ExitStatus>>,
) -> PortWait {
    let deadline = Instant::now() + budget;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if let Some(status) = *exit.borrow_and_update() {
            return PortWait::Exited(status);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return PortWait::TimedOut;
        }
        let per_probe = probe_timeout.min(left).max(Duration::from_millis(1));
        let probe =
            tokio::task::spawn_blocking(move || TcpStream::connect_timeout(&addr, per_probe));
        tokio::select! {
            result = probe => match result {
                Ok(Ok(_stream)) => return PortWait::Open,
                Ok(Err(e)) if retryable(&e) => {}
                Ok(Err(e)) => return PortWait::Failed(e),
                Err(e) => return PortWait::Failed(std::io::Error::other(e.to_string())),
            },
            changed = exit.changed() => {
                if changed.is_err() {
                    // The watcher is gone; nothing more will be learned from it.
                    return PortWait::Failed(std::io::Error::other("lost track of the service process"));
                }
                continue;
            }
            () = tokio::time::sleep_until(deadline) => return PortWait::TimedOut,
        }
        tokio::select! {
            () = tokio::time::sleep(RETRY.min(deadline.saturating_duration_since(Instant::now()))) => {}
            _ = exit.changed() => {}
        }
    }
}

fn retryable(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | TimedOut | ConnectionReset | ConnectionAborted | WouldBlock
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn open_port_and_timeout() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (_tx, rx) = watch::channel(None);
        let rt = runtime();
        let r = rt.block_on(wait_open(
            port,
            Duration::from_secs(2),
            Duration::from_secs(1),
            rx.clone(),
        ));
        assert!(matches!(r, PortWait::Open), "{r:?}");
        drop(listener);
        let started = std::time::Instant::now();
        let r = rt.block_on(wait_open(
            port,
            Duration::from_millis(300),
            Duration::from_secs(1),
            rx,
        ));
        assert!(matches!(r, PortWait::TimedOut), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn exit_ends_the_wait() {
        use std::os::unix::process::ExitStatusExt as _;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (tx, rx) = watch::channel(None);
        let rt = runtime();
        let started = std::time::Instant::now();
        let r = rt.block_on(async move {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let _ = tx.send(Some(ExitStatus::from_raw(3 << 8)));
            });
            wait_open(port, Duration::from_secs(10), Duration::from_secs(1), rx).await
        });
        assert!(
            matches!(r, PortWait::Exited(s) if s.code() == Some(3)),
            "{r:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
