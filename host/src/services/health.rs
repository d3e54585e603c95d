//! The health loop of a model service (docs/protocol.md §6.14): an HTTP GET every interval,
//! `model-service-status` at every healthy/unhealthy transition, unhealthy after more than
//! `max_retries` consecutive failures, and unhealthy at once when the process dies.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitStatus;
use std::time::Duration;

use tokio::sync::watch;

use super::model::HealthCheck;
use crate::wire::{Msg, Outbox};

/// One HTTP GET of `http://127.0.0.1:<port><path>`: the status code.
pub(crate) fn http_status(port: u16, path: &str, timeout: Duration) -> std::io::Result<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nUser-Agent: krunner-health\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))
}

/// Checks the model's health until its process exits, sending `model-service-status` on every
/// transition (and unhealthy when the process dies).
pub(crate) async fn health_loop(
    outbox: Outbox,
    model_name: String,
    port: u16,
    check: HealthCheck,
    mut exit: watch::Receiver<Option<ExitStatus>>,
) {
    let secs = |s: f64| Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::ZERO);
    let interval = secs(check.interval).max(Duration::from_millis(50));
    let wait = secs(check.max_wait_time).max(Duration::from_millis(50));
    let mut healthy: Option<bool> = None;
    let mut failures: u32 = 0;
    let report = |is_healthy: bool, healthy: &mut Option<bool>| {
        if *healthy != Some(is_healthy) {
            *healthy = Some(is_healthy);
            tracing::info!(
                "model {model_name} is {}",
                if is_healthy { "healthy" } else { "unhealthy" }
            );
            outbox.send(Msg::ModelServiceStatus {
                model_name: model_name.clone(),
                is_healthy,
            });
        }
    };
    let mut delay = secs(check.initial_delay);
    loop {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = exit.wait_for(Option::is_some) => {
                report(false, &mut healthy);
                return;
            }
        }
        delay = interval;
        let path = check.path.clone();
        let probe = tokio::task::spawn_blocking(move || http_status(port, &path, wait));
        let ok = match tokio::time::timeout(wait + Duration::from_millis(100), probe).await {
            Ok(Ok(Ok(code))) => code == check.expected_status_code,
            _ => false,
        };
        if ok {
            failures = 0;
            report(true, &mut healthy);
        } else {
            failures = failures.saturating_add(1);
            if failures > check.max_retries {
                report(false, &mut healthy);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn http_status_reads_the_status_line() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            s.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
        });
        assert_eq!(
            http_status(port, "/health", Duration::from_secs(2)).unwrap(),
            503
        );
        server.join().unwrap();
    }
}
