//! Interactive input: text from `input` ops, handed to whoever asks for it.
//!
//! Inputs that arrive while nobody is waiting are kept, in order, for the next request; a
//! request that finds one queued is satisfied at once without asking the agent again. A
//! waiting request gives up when the task is interrupted or the runner shuts down.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

/// Why no input was returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// The task was interrupted.
    Interrupted,
    /// The runner is shutting down.
    Shutdown,
}

#[derive(Default)]
struct State {
    queue: VecDeque<String>,
    /// Bumped by every interrupt; a waiter that sees it change gives up.
    interrupts: u64,
    shutdown: bool,
}

/// The user-input queue.
#[derive(Default)]
pub struct InputQueue {
    state: Mutex<State>,
    ready: Condvar,
}

impl InputQueue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues text from an `input` op.
    pub fn push(&self, text: String) {
        self.lock().queue.push_back(text);
        self.ready.notify_all();
    }

    /// Takes queued input without waiting.
    pub fn try_take(&self) -> Option<String> {
        self.lock().queue.pop_front()
    }

    /// Waits for input. `before_wait` runs (once, without the lock) only when nothing is
    /// queued, which is where the caller announces `waiting-input`.
    pub fn take(&self, before_wait: impl FnOnce()) -> Result<String, Cancelled> {
        let epoch = {
            let mut state = self.lock();
            if let Some(text) = state.queue.pop_front() {
                return Ok(text);
            }
            state.interrupts
        };
        before_wait();
        let mut state = self.lock();
        loop {
            if state.shutdown {
                return Err(Cancelled::Shutdown);
            }
            if state.interrupts != epoch {
                return Err(Cancelled::Interrupted);
            }
            if let Some(text) = state.queue.pop_front() {
                return Ok(text);
            }
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Wakes waiters with [`Cancelled::Interrupted`].
    pub fn interrupt(&self) {
        self.lock().interrupts += 1;
        self.ready.notify_all();
    }

    /// Wakes waiters with [`Cancelled::Shutdown`], now and later.
    pub fn shutdown(&self) {
        self.lock().shutdown = true;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn early_input_is_kept_for_the_next_request() {
        let q = InputQueue::default();
        q.push("a".into());
        let mut asked = false;
        assert_eq!(q.take(|| asked = true), Ok("a".into()));
        assert!(!asked);
    }

    #[test]
    fn waiting_request_gets_later_input_or_interrupt() {
        let q = Arc::new(InputQueue::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let q2 = Arc::clone(&q);
        let t = std::thread::spawn(move || q2.take(|| tx.send(()).expect("send")));
        rx.recv().expect("asked");
        q.push("typed".into());
        assert_eq!(t.join().expect("join"), Ok("typed".into()));

        let (tx, rx) = std::sync::mpsc::channel();
        let q2 = Arc::clone(&q);
        let t = std::thread::spawn(move || q2.take(|| tx.send(()).expect("send")));
        rx.recv().expect("asked");
        q.interrupt();
        assert_eq!(t.join().expect("join"), Err(Cancelled::Interrupted));
    }
}
