//! Lanes: runner calls the dispatcher hands off without waiting for them (`interrupt` and the
//! agent's events).
//!
//! A plugin method may hang. Starting a thread per call would then leave one more blocked
//! thread behind for every interrupt or event the agent sends, without bound. Instead each kind
//! of call has one lane: one thread that makes the calls in order, and a small queue in front
//! of it. A hung method costs that one thread; what arrives meanwhile waits in the queue, and
//! once it is full the caller learns that the call was not queued (interrupts are then merged
//! into the one already waiting, events dropped).

use std::panic::{catch_unwind, AssertUnwindSafe};

use crossbeam_channel::{Sender, TrySendError};

/// One kind of call, made on its own thread.
pub(crate) struct Lane<T> {
    tx: Sender<T>,
}

impl<T: Send + 'static> Lane<T> {
    /// A lane whose thread (named `name`) passes each item to `call`, with at most `capacity`
    /// items waiting. The thread ends when the lane is dropped.
    pub(crate) fn start(
        name: &str,
        capacity: usize,
        mut call: impl FnMut(T) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded::<T>(capacity);
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for item in rx {
                    // The plugin's entry points catch their own panics; this keeps the lane
                    // alive should anything else panic.
                    if catch_unwind(AssertUnwindSafe(|| call(item))).is_err() {
                        tracing::error!("a runner call panicked");
                    }
                }
            })?;
        Ok(Self { tx })
    }

    /// Queues `item` for the lane's thread; false (and `item` is dropped) when the queue is
    /// full, because the calls before it have not returned.
    pub(crate) fn offer(&self, item: T) -> bool {
        match self.tx.try_send(item) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A call that never returns holds the lane's one thread; later items fill the queue and
    /// are then refused, and no further thread is started.
    #[test]
    fn a_hung_call_holds_one_thread_and_a_bounded_queue() {
        let (entered_tx, entered_rx) = crossbeam_channel::unbounded::<u32>();
        let (release_tx, release_rx) = crossbeam_channel::unbounded::<()>();
        let lane = Lane::start("test-lane", 2, move |n: u32| {
            let _ = entered_tx.send(n);
            let _ = release_rx.recv();
        })
        .expect("lane");
        assert!(lane.offer(1));
        assert_eq!(entered_rx.recv_timeout(Duration::from_secs(5)), Ok(1));
        // The thread is stuck in call 1: two more wait, the rest are refused.
        assert!(lane.offer(2));
        assert!(lane.offer(3));
        assert!((4..100).all(|n| !lane.offer(n)));
        // Released, the queued calls run in order, and the lane takes calls again.
        for _ in 0..3 {
            release_tx.send(()).expect("release");
        }
        assert_eq!(entered_rx.recv_timeout(Duration::from_secs(5)), Ok(2));
        assert_eq!(entered_rx.recv_timeout(Duration::from_secs(5)), Ok(3));
        assert!(lane.offer(100));
        assert_eq!(entered_rx.recv_timeout(Duration::from_secs(5)), Ok(100));
        release_tx.send(()).expect("release");
    }
}
