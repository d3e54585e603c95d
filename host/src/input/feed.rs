//! Feeds a task's stdin pipe from the user-input queue, asking the user only when the program
//! is actually blocked reading it.
//!
//! The feeder lives inside the subprocess poll loop (it is the task's [`Feeder`]) and never
//! blocks it:
//!
//! 1. While the pipe is empty and no request is outstanding, it asks [`StdinWatch`] every few
//!    milliseconds whether a process of the task sleeps reading the pipe. A possible reader
//!    (an event loop with a timer running) gets input the user already sent, but is not asked
//!    for more. The interval adapts to what one look costs (250× the cheapest of the last
//!    four, between 10 and 40 ms), so looking stays under half a percent of a core even for a
//!    JVM with dozens of threads. A look examines at most about 300 µs worth of threads (a
//!    task with thousands is examined a slice per look, see [`StdinWatch`]), so looking stays
//!    under 1% of a core however many threads the task has. Right after the task starts and
//!    after each delivered input, when a program that asks questions is about to ask the next
//!    one, the looks come quicker (2, 4, 8 ms, ...) and back off to that interval.
//! 2. On a blocked reader it lets the poll loop drain stdout/stderr first, so a prompt the
//!    program wrote reaches the agent before the request, then takes queued input if there is
//!    some (early input is never announced) or sends `waiting-input` and waits on the queue's
//!    eventfd without sampling.
//! 3. Input is written as the text plus `"\n"`. A text ending with [`EOF_MARK`] is written
//!    without a newline and then the pipe is closed: the program reads end-of-file. Writes are
//!    non-blocking; whatever does not fit waits for the pipe to drain.
//!
//! An interrupt cancels an outstanding request (the program usually dies of the SIGINT; if it
//! survives and reads again, it is asked again). A program that never reads stdin costs only
//! the periodic look; one that closes stdin is never asked.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::queue::{InputQueue, EOF_MARK};
use super::watch::{StdinWatch, Wait};
use crate::process::Feeder;
use crate::sys;

/// While a request is outstanding, how often the queue is checked without a wake-up.
const WAITING_RECHECK_MS: i32 = 250;
/// The first look after the task starts or input is delivered.
const FIRST_LOOK: Duration = Duration::from_millis(2);
/// Bounds of the sampling interval.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
const MAX_INTERVAL: Duration = Duration::from_millis(40);
/// The interval is this many times the cost of one look (so looking costs at most 1/250 of a
/// core, until the upper bound).
const COST_FACTOR: u32 = 250;

/// Feeds one task's stdin.
pub(crate) struct StdinFeed<'a> {
    queue: &'a InputQueue,
    announce: &'a dyn Fn(),
    write: Option<OwnedFd>,
    watch: StdinWatch,
    pending: Vec<u8>,
    close_after: bool,
    waiting: bool,
    epoch: u64,
    next_sample: Instant,
    interval: Duration,
    /// Costs of the last looks; the interval follows the cheapest, so one look slowed by
    /// preemption does not stretch it, while a lasting change is followed within a few looks.
    costs: [Duration; 4],
    looks: usize,
    /// Right after the task starts or input is delivered, a read is likely soon: the looks
    /// come quickly at first (2, 4, 8 ms...) and back off to the interval.
    backoff: Duration,
}

impl<'a> StdinFeed<'a> {
    /// A feeder for the pipe whose write end is `write`, read by the process tree under
    /// `root`. `announce` sends `waiting-input`.
    pub(crate) fn new(
        queue: &'a InputQueue,
        announce: &'a dyn Fn(),
        write: OwnedFd,
        root: i32,
    ) -> std::io::Result<Self> {
        sys::set_nonblocking(write.as_raw_fd());
        let (dev, ino) = sys::fd_identity(write.as_raw_fd())?;
        Ok(Self {
            queue,
            announce,
            write: Some(write),
            watch: StdinWatch::new(root, dev, ino),
            pending: Vec::new(),
            close_after: false,
            waiting: false,
            epoch: queue.interrupt_epoch(),
            next_sample: Instant::now() + FIRST_LOOK,
            interval: MIN_INTERVAL,
            costs: [Duration::ZERO; 4],
            looks: 0,
            backoff: FIRST_LOOK,
        })
    }

    /// Looks for a blocked reader once, and adapts the interval to what the look cost.
    fn look(&mut self, now: Instant) -> Wait {
        let found = self.watch.reader_blocked();
        let slot = self.looks % self.costs.len();
        self.costs[slot] = now.elapsed();
        self.looks += 1;
        let recent = &self.costs[..self.looks.min(self.costs.len())];
        let cost = recent.iter().min().copied().unwrap_or_default();
        self.interval = (cost * COST_FACTOR).clamp(MIN_INTERVAL, MAX_INTERVAL);
        let wait = if self.backoff < self.interval {
            let quick = self.backoff;
            self.backoff *= 2;
            quick
        } else {
            self.interval
        };
        self.next_sample = Instant::now() + wait;
        if found == Wait::Sure {
            tracing::debug!(
                "the task is waiting for input (found in {:?}; looking every {:?})",
                self.costs[slot],
                self.interval
            );
        }
        found
    }

    /// A reader is surely blocked: forward its prompt, then give it queued input or ask.
    fn answer_reader(&mut self, drain: &mut dyn FnMut()) {
        drain();
        let announce = self.announce;
        match self.queue.take_or_announce(announce) {
            Some(text) => self.deliver(text),
            None => self.waiting = true,
        }
    }

    fn deliver(&mut self, text: String) {
        self.backoff = FIRST_LOOK;
        self.next_sample = Instant::now() + FIRST_LOOK;
        match text.strip_suffix(EOF_MARK) {
            Some(last) => {
                self.pending.extend_from_slice(last.as_bytes());
                self.close_after = true;
            }
            None => {
                self.pending.extend_from_slice(text.as_bytes());
                self.pending.push(b'\n');
            }
        }
        self.flush();
    }

    /// Writes as much pending input as the pipe takes; closes it after an end-of-file mark.
    fn flush(&mut self) {
        let Some(write) = &self.write else {
            return;
        };
        while !self.pending.is_empty() {
            match sys::write(write.as_raw_fd(), &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    // EPIPE: every reader closed its stdin; the rest of the input has nowhere to go.
                    tracing::debug!("the task's stdin is closed ({e}); dropping pending input");
                    self.pending.clear();
                    self.write = None;
                    return;
                }
            }
        }
        if self.close_after {
            self.write = None;
        }
    }

    /// Bytes written but not read yet.
    fn unread(&self) -> usize {
        self.write
            .as_ref()
            .map_or(0, |w| sys::unread_bytes(w.as_raw_fd()))
    }
}

impl Feeder for StdinFeed<'_> {
    fn poll_fds(&self) -> [(RawFd, libc::c_short); 2] {
        let Some(write) = &self.write else {
            return [(-1, 0), (-1, 0)];
        };
        let wake = self.queue.wake_fd().unwrap_or(-1);
        let out = if self.pending.is_empty() {
            -1
        } else {
            write.as_raw_fd()
        };
        [(wake, libc::POLLIN), (out, libc::POLLOUT)]
    }

    fn timeout_ms(&self, now: Instant) -> i32 {
        if self.write.is_none() || !self.pending.is_empty() {
            return -1;
        }
        if self.waiting {
            // The eventfd wakes us; the timeout is only a safety net in case another reader of
            // the queue reset it first.
            return if self.queue.wake_fd().is_some() {
                WAITING_RECHECK_MS
            } else {
                MIN_INTERVAL.as_millis() as i32
            };
        }
        // Rounded up: waking a little early would only cost a second wake-up.
        let left = self.next_sample.saturating_duration_since(now);
        (left.as_micros().div_ceil(1000) as i32).max(1)
    }

    /// Writes pending input, notices new input or an interrupt, and looks for a blocked
    /// reader.
    fn service(&mut self, drain: &mut dyn FnMut()) {
        self.flush();
        self.queue.clear_wake();
        let epoch = self.queue.interrupt_epoch();
        if epoch != self.epoch {
            self.epoch = epoch;
            self.waiting = false;
        }
        if self.write.is_none() || !self.pending.is_empty() {
            return;
        }
        if self.waiting {
            if let Some(text) = self.queue.try_take() {
                self.waiting = false;
                self.deliver(text);
            }
            return;
        }
        let now = Instant::now();
        if now < self.next_sample {
            return;
        }
        if self.unread() > 0 {
            // Input is on its way to the program; check again soon (the check is one ioctl).
            self.next_sample = now + self.backoff.min(MIN_INTERVAL);
            return;
        }
        match self.look(now) {
            Wait::No => {}
            // Possibly waiting: hand over what the user already sent, but do not ask.
            Wait::Maybe => {
                if let Some(text) = self.queue.try_take() {
                    self.deliver(text);
                }
            }
            Wait::Sure => self.answer_reader(drain),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{self, Spawn, Stdin};

    #[test]
    fn interactive_stdin_gets_queued_input_when_read() {
        let groups = process::Groups::default();
        let queue = InputQueue::default();
        queue.push("hello".into()).expect("room");
        let announce = || panic!("queued input must not be announced");
        let make = |write: OwnedFd, pid: i32| -> std::io::Result<Box<dyn Feeder + '_>> {
            Ok(Box::new(StdinFeed::new(&queue, &announce, write, pid)?))
        };
        let spawn = Spawn {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), "read x; echo got $x".into()],
            env: std::env::vars().collect(),
            ..Spawn::default()
        };
        let mut out = Vec::new();
        let code = process::run(&spawn, &groups, Stdin::Fed(&make), &mut |_, data| {
            out.extend_from_slice(&data)
        })
        .expect("run");
        assert_eq!((code, out.as_slice()), (0, &b"got hello\n"[..]));
    }
}
