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
//!
//! The queue is bounded by count and by bytes. Input nobody reads cannot be drained by
//! anything the host does, so waiting for room would stall every op behind it; an input that
//! does not fit is refused instead (docs/protocol.md §2.5). Requests are announced (the
//! `waiting-input` message, which may wait for a slow agent) without holding the queue's lock,
//! so `input` and `interrupt` are never held up by a request being announced.

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::{Condvar, Mutex, MutexGuard};

use thiserror::Error;

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

/// An input that was not queued.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "dropped an input of {size} bytes: {queued} input(s) of {bytes} bytes already wait for a \
     reader (at most {max_inputs} inputs and {max_bytes} bytes wait)"
)]
pub(crate) struct InputRefused {
    size: usize,
    queued: usize,
    bytes: usize,
    max_inputs: usize,
    max_bytes: usize,
}

#[derive(Default)]
struct State {
    queue: VecDeque<String>,
    /// Bytes of text in `queue`.
    bytes: usize,
    /// Bumped by every interrupt; a waiter that sees it change gives up.
    interrupts: u64,
    shutdown: bool,
}

impl State {
    fn pop(&mut self) -> Option<String> {
        let text = self.queue.pop_front()?;
        self.bytes -= text.len();
        Some(text)
    }
}

/// The user-input queue.
pub(crate) struct InputQueue {
    state: Mutex<State>,
    ready: Condvar,
    /// Signalled on every push, interrupt and shutdown (absent if eventfd is unavailable).
    wake: Option<EventFd>,
    max_inputs: usize,
    max_bytes: usize,
}

#[cfg(test)]
impl Default for InputQueue {
    fn default() -> Self {
        Self::bounded(16, 1 << 20)
    }
}

impl InputQueue {
    /// A queue that holds at most `max_inputs` inputs and `max_bytes` bytes of text.
    pub(crate) fn bounded(max_inputs: usize, max_bytes: usize) -> Self {
        Self {
            state: Mutex::default(),
            ready: Condvar::new(),
            wake: EventFd::new()
                .inspect_err(|e| tracing::debug!("no eventfd for the input queue: {e}"))
                .ok(),
            max_inputs,
            max_bytes,
        }
    }

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

    /// Queues text from an `input` op, unless the queue is full.
    pub(crate) fn push(&self, text: String) -> Result<(), InputRefused> {
        {
            let mut state = self.lock();
            let size = text.len();
            if state.queue.len() >= self.max_inputs || state.bytes + size > self.max_bytes {
                return Err(InputRefused {
                    size,
                    queued: state.queue.len(),
                    bytes: state.bytes,
                    max_inputs: self.max_inputs,
                    max_bytes: self.max_bytes,
                });
            }
            state.bytes += size;
            state.queue.push_back(text);
        }
        self.notify();
        Ok(())
    }

    /// Takes queued input without waiting.
    pub(crate) fn try_take(&self) -> Option<String> {
        self.lock().pop()
    }

    /// Takes queued input, or, if there is none, runs `announce` (after releasing the lock)
    /// and returns `None`. For callers that cannot block; they wait on
    /// [`InputQueue::wake_fd`] and call [`InputQueue::try_take`], so an input arriving while
    /// the request is announced is not missed: its push signals the descriptor.
    pub(crate) fn take_or_announce(&self, announce: impl FnOnce()) -> Option<String> {
        let text = self.lock().pop();
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
        let epoch = self.interrupt_epoch();
        self.take_since(epoch, before_wait)
    }

    /// Like [`InputQueue::take`] for a request made at interrupt epoch `epoch`
    /// ([`InputQueue::interrupt_epoch`]): an interrupt or the end of a task since then
    /// cancels it, even one that came before this call.
    pub(crate) fn take_since(
        &self,
        epoch: u64,
        before_wait: impl FnOnce(),
    ) -> Result<String, Cancelled> {
        {
            let mut state = self.lock();
            if state.shutdown {
                return Err(Cancelled::Shutdown);
            }
            if state.interrupts != epoch {
                return Err(Cancelled::Interrupted);
            }
            if let Some(text) = state.pop() {
                return Ok(text);
            }
        }
        before_wait();
        let mut state = self.lock();
        loop {
            if state.shutdown {
                return Err(Cancelled::Shutdown);
            }
            if state.interrupts != epoch {
                return Err(Cancelled::Interrupted);
            }
            if let Some(text) = state.pop() {
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
        q.push("a".into()).expect("room");
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
        q.push("typed".into()).expect("room");
        assert_eq!(t.join().expect("join"), Ok("typed".into()));

        let (tx, rx) = std::sync::mpsc::channel();
        let q2 = Arc::clone(&q);
        let t = std::thread::spawn(move || q2.take(|| tx.send(()).expect("send")));
        rx.recv().expect("asked");
        q.interrupt();
        assert_eq!(t.join().expect("join"), Err(Cancelled::Interrupted));
    }

    #[test]
    fn the_queue_is_bounded_by_count_and_bytes() {
        let q = InputQueue::bounded(2, 10);
        q.push("12345".into()).expect("room");
        let err = q.push("1234567".into()).expect_err("over the bytes");
        assert_eq!(
            err.to_string(),
            "dropped an input of 7 bytes: 1 input(s) of 5 bytes already wait for a reader (at \
             most 2 inputs and 10 bytes wait)"
        );
        q.push("12345".into()).expect("room");
        assert!(q.push(String::new()).is_err(), "over the count");
        assert_eq!(q.try_take().as_deref(), Some("12345"));
        q.push("abc".into()).expect("room again");
    }

    /// An announcement that waits (for a slow agent) must not hold up `input` or `interrupt`.
    #[test]
    fn announcing_a_request_does_not_hold_the_queue() {
        let q = Arc::new(InputQueue::default());
        let (announcing_tx, announcing) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let q2 = Arc::clone(&q);
        let feeder = std::thread::spawn(move || {
            q2.take_or_announce(|| {
                announcing_tx.send(()).expect("send");
                let _ = released.recv();
            })
        });
        announcing.recv().expect("announcing");
        let (done_tx, done) = std::sync::mpsc::channel();
        let q3 = Arc::clone(&q);
        std::thread::spawn(move || {
            q3.push("typed".into()).expect("room");
            q3.interrupt();
            done_tx.send(()).expect("send");
        });
        let pushed = done.recv_timeout(std::time::Duration::from_secs(10));
        release.send(()).expect("release");
        assert_eq!(feeder.join().expect("feeder"), None);
        assert!(pushed.is_ok(), "input waited for the announcement");
        assert_eq!(q.try_take().as_deref(), Some("typed"));
    }

    #[test]
    fn a_request_made_before_an_interrupt_is_cancelled_by_it() {
        let q = InputQueue::default();
        let epoch = q.interrupt_epoch();
        q.interrupt();
        q.push("late".into()).expect("room");
        assert_eq!(q.take_since(epoch, || {}), Err(Cancelled::Interrupted));
        assert_eq!(q.take(|| {}), Ok("late".into()));
    }
}
