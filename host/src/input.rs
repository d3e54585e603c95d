//! Interactive input: text from `input` ops, handed to whoever asks for it.
//!
//! Inputs that arrive while nobody is waiting are kept, in order, for the next request; a
//! request that finds one queued is satisfied at once without asking the agent again. A
//! waiting request gives up when the task is interrupted or the runner shuts down.
//!
//! Three kinds of consumers share the queue: plugins (through the `read_input` callback, which
//! blocks on a condition variable), the user-input socket (one blocking waiter per
//! connection), and a task's stdin pipe, whose feeder lives in the subprocess poll loop and
//! must not block; it polls [`InputQueue::wake_fd`], an eventfd signalled on every change.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Condvar, Mutex, MutexGuard};

/// An input text ending with this character (U+0004, what Ctrl-D types on a terminal) ends
/// the input: the text before it is delivered without a newline and then the task's stdin is
/// closed, so the program sees end-of-file.
pub const EOF_MARK: char = '\u{4}';

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
pub struct InputQueue {
    state: Mutex<State>,
    ready: Condvar,
    /// Signalled on every push, interrupt and shutdown (absent if eventfd is unavailable).
    wake: Option<OwnedFd>,
}

impl Default for InputQueue {
    fn default() -> Self {
        // SAFETY: eventfd takes an initial value and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        let wake = (fd >= 0).then(|| {
            // SAFETY: the kernel just returned this descriptor to us.
            unsafe { OwnedFd::from_raw_fd(fd) }
        });
        Self {
            state: Mutex::default(),
            ready: Condvar::new(),
            wake,
        }
    }
}

impl InputQueue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self) {
        self.ready.notify_all();
        if let Some(fd) = &self.wake {
            let one: u64 = 1;
            // SAFETY: writing 8 bytes from a local u64 to our own eventfd.
            unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }

    /// A descriptor that becomes readable when input arrives or the task is interrupted; read
    /// it with [`InputQueue::clear_wake`]. `None` when eventfd is unavailable (poll instead).
    pub fn wake_fd(&self) -> Option<RawFd> {
        self.wake.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// Resets the wake descriptor.
    pub fn clear_wake(&self) {
        if let Some(fd) = &self.wake {
            let mut value: u64 = 0;
            // SAFETY: reading 8 bytes into a local u64 from our own non-blocking eventfd.
            unsafe { libc::read(fd.as_raw_fd(), (&mut value as *mut u64).cast(), 8) };
        }
    }

    /// Queues text from an `input` op.
    pub fn push(&self, text: String) {
        self.lock().queue.push_back(text);
        self.notify();
    }

    /// Takes queued input without waiting.
    pub fn try_take(&self) -> Option<String> {
        self.lock().queue.pop_front()
    }

    /// Takes queued input, or, if there is none, runs `announce` while still holding the lock
    /// (so an input arriving meanwhile is not missed) and returns `None`. For callers that
    /// cannot block; they wait on [`InputQueue::wake_fd`] and call [`InputQueue::try_take`].
    pub fn take_or_announce(&self, announce: impl FnOnce()) -> Option<String> {
        let mut state = self.lock();
        let text = state.queue.pop_front();
        if text.is_none() {
            announce();
        }
        text
    }

    /// Counts interrupts; a request made before a change of this number was interrupted.
    pub fn interrupt_epoch(&self) -> u64 {
        self.lock().interrupts
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
        self.notify();
    }

    /// A task ended: requests it left waiting give up (as if interrupted). Queued input stays
    /// for the next request.
    pub fn cancel_waiters(&self) {
        self.interrupt();
    }

    /// Wakes waiters with [`Cancelled::Shutdown`], now and later.
    pub fn shutdown(&self) {
        self.lock().shutdown = true;
        self.notify();
    }

    /// Whether the runner is shutting down.
    pub fn is_shut_down(&self) -> bool {
        self.lock().shutdown
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
