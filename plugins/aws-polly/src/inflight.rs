//! The request in flight, so that `interrupt` can cancel it.
//!
//! The host calls `interrupt` on another thread while `query` waits. A request runs on a
//! worker thread of its own and `query` waits for whichever comes first: the worker's result
//! or a cancellation. Cancelling also shuts the request's agent down, which closes its
//! connection at once, so the worker ends too: straight away when it was waiting for the
//! endpoint, within the connect and resolve timeouts when it was still connecting. At most
//! [`MAX_WORKERS`] workers live at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};

/// Workers (the running one and cancelled ones still ending) allowed at once.
pub const MAX_WORKERS: usize = 4;

/// How a request ended.
#[derive(Debug)]
pub enum Outcome<T> {
    /// The worker finished with this.
    Done(T),
    /// It was cancelled.
    Cancelled,
}

/// Why a request could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Too many cancelled requests are still ending.
    #[error(
        "{MAX_WORKERS} earlier requests are still being cancelled (each ends within the \
         connect timeout); try again in a few seconds"
    )]
    Busy,
    /// No thread.
    #[error("cannot start a thread for the request: {0}")]
    Thread(#[source] std::io::Error),
}

type Cancel = Box<dyn FnOnce() + Send>;

/// The slot for the running request's cancellation.
#[derive(Default)]
pub struct InFlight {
    cancel: Mutex<Option<Cancel>>,
    workers: Arc<AtomicUsize>,
}

/// Counts a live worker until dropped.
struct Worker(Arc<AtomicUsize>);

impl Drop for Worker {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl InFlight {
    fn slot(&self) -> MutexGuard<'_, Option<Cancel>> {
        self.cancel.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `work` on a worker thread and waits for it, unless it is cancelled: by
    /// [`Self::cancel`], or already before it started (`interrupted` says so; it is asked once
    /// the request can be cancelled, so no interrupt falls between the two).
    pub fn run<T: Send + 'static>(
        &self,
        agent: &ureq::Agent,
        interrupted: impl Fn() -> bool,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Outcome<T>, StartError> {
        if self.workers.fetch_add(1, Ordering::SeqCst) >= MAX_WORKERS {
            self.workers.fetch_sub(1, Ordering::SeqCst);
            return Err(StartError::Busy);
        }
        let worker = Worker(Arc::clone(&self.workers));
        let (done, outcome) = mpsc::channel();
        let cancelled = done.clone();
        let agent = agent.clone();
        *self.slot() = Some(Box::new(move || {
            let _ = cancelled.send(Outcome::Cancelled);
            agent.shutdown();
        }));
        let spawned = std::thread::Builder::new()
            .name("polly-request".into())
            .spawn(move || {
                let _worker = worker;
                let _ = done.send(Outcome::Done(work()));
            });
        if let Err(e) = spawned {
            self.slot().take();
            return Err(StartError::Thread(e));
        }
        if interrupted() {
            self.cancel();
        }
        let result = outcome.recv().unwrap_or(Outcome::Cancelled);
        self.slot().take();
        Ok(result)
    }

    /// Cancels the request in flight, if any.
    pub fn cancel(&self) {
        let cancel = self.slot().take();
        if let Some(cancel) = cancel {
            cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    /// A loopback server that accepts connections and never answers; returns its URL.
    fn silent_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("addr"));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let mut buf = [0u8; 1024];
                    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
                });
            }
        });
        url
    }

    #[test]
    fn a_cancelled_request_returns_at_once_and_its_worker_ends() {
        let inflight = Arc::new(InFlight::default());
        let url = silent_server();
        let agent = crate::http::agent(None).expect("agent");
        let canceller = {
            let inflight = Arc::clone(&inflight);
            std::thread::spawn(move || {
                // Cancel once the request is registered.
                while inflight.slot().is_none() {
                    std::thread::yield_now();
                }
                inflight.cancel();
            })
        };
        let started = Instant::now();
        let worker_agent = agent.clone();
        let outcome = inflight
            .run(
                &agent,
                || false,
                move || worker_agent.get(&url).call().is_ok(),
            )
            .expect("started");
        canceller.join().expect("canceller");
        assert!(matches!(outcome, Outcome::Cancelled), "{outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let deadline = Instant::now() + Duration::from_secs(10);
        while inflight.workers.load(Ordering::SeqCst) > 0 {
            assert!(Instant::now() < deadline, "the worker did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn an_interrupt_before_the_request_cancels_it() {
        let inflight = InFlight::default();
        let agent = crate::http::agent(None).expect("agent");
        let url = silent_server();
        let worker_agent = agent.clone();
        let outcome = inflight
            .run(
                &agent,
                || true,
                move || worker_agent.get(&url).call().is_ok(),
            )
            .expect("started");
        assert!(matches!(outcome, Outcome::Cancelled), "{outcome:?}");
    }

    #[test]
    fn a_finished_request_gives_its_result() {
        let inflight = InFlight::default();
        let agent = crate::http::agent(None).expect("agent");
        let outcome = inflight.run(&agent, || false, || 42).expect("started");
        assert!(matches!(outcome, Outcome::Done(42)), "{outcome:?}");
        inflight.cancel(); // nothing in flight: no effect
    }
}
