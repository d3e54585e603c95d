//! Interactive input: text from `input` ops, handed to whoever asks for it.
//!
//! Inputs that arrive while nobody is waiting are kept, in order, for the next request; a
//! request that finds one queued is satisfied at once without asking the agent again. A
//! waiting request gives up when the task is interrupted or the host shuts down.
//!
//! Three kinds of consumers share the queue: plugins (through the `read_input` callback, which
//! blocks on a condition variable), the user-input socket (one blocking waiter per
//! connection), and a task's stdin pipe, whose feeder lives in the subprocess poll loop and
//! must not block; it polls [`InputQueue::wake_fd`], an eventfd signalled on every change.

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::sys::EventFd;

/// An input text ending with this character (U+0004, what Ctrl-D types on a terminal) ends
/// the input: the text before it is delivered without a newline and then the task's stdin is
/// closed, so the program sees end-of-file.
pub(crate) const EOF_MARK: char = '\u{4}';

/// Why no input was returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cancelled {
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
pub(crate) struct InputQueue {
    state: Mutex<State>,
    ready: Condvar,
    /// Signalled on every push, interrupt and shutdown (absent if eventfd is unavailable).
    wake: Option<EventFd>,
}

impl Default for InputQueue {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            ready: Condvar::new(),
            wake: EventFd::new()
                .inspect_err(|e| tracing::debug!("no eventfd for the input queue: {e}"))
                .ok(),
        }
    }
}

impl InputQueue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self) {
        self.ready.notify_all();
        if let Some(wake) = &self.wake {
            wake.notify();
        }
    }

    /// A descriptor that becomes readable when input arrives or the task is interrupted; read
    /// it with [`InputQueue::clear_wake`]. `None` when eventfd is unavailable (poll instead).
    pub(crate) fn wake_fd(&self) -> Option<RawFd> {
        self.wake.as_ref().map(EventFd::raw)
    }

    /// Resets the wake descriptor.
    pub(crate) fn clear_wake(&self) {
        if let Some(wake) = &self.wake {
            wake.clear();
        }
    }

    /// Queues text from an `input` op.
    pub(crate) fn push(&self, text: String) {
        self.lock().queue.push_back(text);
        self.notify();
    }

    /// Takes queued input without waiting.
    pub(crate) fn try_take(&self) -> Option<String> {
        self.lock().queue.pop_front()
    }

    /// Takes queued input, or, if there is none, runs `announce` while still holding the lock
    /// (so an input arriving meanwhile is not missed) and returns `None`. For callers that
    /// cannot block; they wait on [`InputQueue::wake_fd`] and call [`InputQueue::try_take`].
    pub(crate) fn take_or_announce(&self, announce: impl FnOnce()) -> Option<String> {
        let mut state = self.lock();
        let text = state.queue.pop_front();
        if text.is_none() {
            announce();
        }
        text
    }

    /// Counts interrupts; a request made before a change of this number was interrupted.
    pub(crate) fn interrupt_epoch(&self) -> u64 {
        self.lock().interrupts
    }

    /// Waits for input. `before_wait` runs (once, without the lock) only when nothing is
    /// queued, which is where the caller announces `waiting-input`.
    pub(crate) fn take(&self, before_wait: impl FnOnce()) -> Result<String, Cancelled> {
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
    pub(crate) fn interrupt(&self) {
        self.lock().interrupts += 1;
        self.notify();
    }

    /// A task ended: requests it left waiting give up (as if interrupted). Queued input stays
    /// for the next request.
    pub(crate) fn cancel_waiters(&self) {
        self.interrupt();
    }

    /// Wakes waiters with [`Cancelled::Shutdown`], now and later.
    pub(crate) fn shutdown(&self) {
        self.lock().shutdown = true;
        self.notify();
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
