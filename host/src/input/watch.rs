//! Tells, from /proc, whether a task is blocked waiting to read its stdin pipe.
//!
//! A program that reads standard input does not announce it; it just makes a system call that
//! sleeps until data arrives. The host owns the task's stdin pipe, so a sleeping reader of that
//! pipe is exactly "the program is waiting for the user". This module finds one by walking the
//! task's process tree ([`super::walk`]) and looking at the system call each thread is blocked
//! in (`/proc/<pid>/task/<tid>/syscall`, which reads `running` unless the thread is asleep):
//!
//! - `read`, `readv`, `pread64`, `preadv`, `preadv2`, `splice`, `copy_file_range` and
//!   `sendfile` on a descriptor that is our pipe (C stdio, Python, Java, Go, bash `read`, cat);
//! - `epoll_wait`/`epoll_pwait`/`epoll_pwait2` on an epoll set that watches our pipe for input
//!   (`/proc/<pid>/fdinfo/<epfd>` lists the watched inodes; node.js and other event loops);
//! - `poll`/`ppoll`/`select`/`pselect6` whose descriptor sets include our pipe for reading
//!   (the sets are read from the process's memory with `process_vm_readv`).
//!
//! Descriptors are compared by device and inode, so duplicates (`exec 3<&0`) count and other
//! pipes (a shell waiting for `$(...)`) do not.
//!
//! A read is certain evidence. A multiplexed wait is only certain when it has no timeout:
//! event loops keep descriptors they stopped reading in their epoll set (libuv removes them
//! lazily, so a node.js program that closed its `readline` still "watches" stdin), and a wait
//! with a timer running is usually busy with something else. Such waits are reported as
//! [`Wait::Maybe`]: good enough to hand over input the user already sent, not to ask for more.
//!
//! # Cost
//!
//! Examining a thread costs a few small /proc reads (about 5 µs), so a task with thousands of
//! threads cannot be examined whole at every look. A look therefore does two things:
//!
//! 1. It examines the *hot* threads, at most [`HOT_MAX`]: each process's main thread, and the
//!    threads last seen running or waiting on descriptors. Those are the threads that read
//!    stdin next in practice (a program's main thread, a JVM's `main` after it computed).
//! 2. It resumes the walk of the whole tree where the previous look stopped, and stops again
//!    once it has spent [`LOOK_BUDGET`] (after at least [`MIN_WALK`] threads).
//!
//! A tree of a few dozen threads is walked whole at every look, as if there were no budget.
//! In a larger one, a thread that slept in something else (a lock, a timer, a child) and then
//! reads stdin is found when the walk comes round to it: for 4000 idle threads a round takes
//! about a hundred looks, 4–5 s. The caller spaces looks by their cost (see [`super::feed`]),
//! so looking costs under 1% of a core however many threads the task has.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use super::syscalls::{classify, parse_epoll_line, parse_syscall, Kind};
use super::walk::Walk;
use crate::sys;

/// How long one look may spend examining threads.
const LOOK_BUDGET: Duration = Duration::from_micros(300);

/// Threads walked per look even when the hot threads used up the budget (so rounds end).
const MIN_WALK: usize = 8;

/// How many threads are examined at every look, at most.
const HOT_MAX: usize = 32;

/// Buffer for one read of a /proc file.
const READ_SIZE: usize = 16 * 1024;

/// How often (in rounds of the walk) every thread, not just a process's main one, is asked
/// for children (processes are nearly always started by the main thread).
const CHILDREN_EVERY: u64 = 4;

/// The pipe a task reads as stdin, and where its process tree starts.
pub(crate) struct StdinWatch {
    dev: u64,
    ino: u64,
    buf: Vec<u8>,
    walk: Walk,
    /// Threads examined at every look.
    hot: Vec<Hot>,
    /// Looks so far.
    looks: u64,
}

/// A thread examined at every look.
#[derive(Debug, Clone, Copy)]
struct Hot {
    pid: i32,
    tid: i32,
    /// The last look that examined it.
    look: u64,
}

/// What the task's processes are doing with the pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Wait {
    /// Nobody is waiting for it.
    No,
    /// A thread waits for several things, the pipe among them (a timeout, or an event loop).
    Maybe,
    /// A thread is blocked reading the pipe, or waits for it (among others) with no timeout.
    Sure,
}

/// What a thread was doing, apart from the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// It no longer exists.
    Gone,
    /// Running, or waiting on descriptors: likely to read soon.
    Busy,
    /// Asleep in something else (a lock, a timer, waiting for a child).
    Asleep,
}

impl StdinWatch {
    /// Watches the tree under `root` for readers of the pipe with this device and inode (as
    /// `fstat` reports them for either end).
    pub(crate) fn new(root: i32, dev: u64, ino: u64) -> Self {
        Self {
            dev,
            ino,
            buf: Vec::with_capacity(4096),
            walk: Walk::new(root),
            hot: Vec::new(),
            looks: 0,
        }
    }

    /// Whether some thread of some process in the tree is asleep waiting to read the pipe, as
    /// far as this look examined (see the module docs).
    pub(crate) fn reader_blocked(&mut self) -> Wait {
        let started = Instant::now();
        self.looks += 1;
        let mut found = self.look_at_hot();
        if found == Wait::Sure {
            return found;
        }
        let all_threads = self.walk.rounds() % CHILDREN_EVERY == 0;
        let mut walked = 0;
        while walked < MIN_WALK || started.elapsed() < LOOK_BUDGET {
            let Some((pid, tid)) = self.walk.next_thread() else {
                break;
            };
            walked += 1;
            if !self.examined_in_this_look(pid, tid) {
                let (wait, seen) = self.thread_blocked(pid, tid);
                if wait == Wait::Sure {
                    return wait;
                }
                found = found.max(wait);
                if keeps_hot(pid, tid, seen) {
                    self.add_hot(pid, tid);
                }
            }
            if all_threads || tid == pid {
                self.push_children(pid, tid);
            }
        }
        found
    }

    /// Examines the hot threads; forgets those that went to sleep or away.
    fn look_at_hot(&mut self) -> Wait {
        let mut found = Wait::No;
        let mut i = 0;
        while i < self.hot.len() {
            let Hot { pid, tid, .. } = self.hot[i];
            self.hot[i].look = self.looks;
            let (wait, seen) = self.thread_blocked(pid, tid);
            if wait == Wait::Sure {
                return wait;
            }
            found = found.max(wait);
            if keeps_hot(pid, tid, seen) {
                i += 1;
            } else {
                self.hot.swap_remove(i);
            }
        }
        found
    }

    fn examined_in_this_look(&self, pid: i32, tid: i32) -> bool {
        self.hot
            .iter()
            .any(|h| h.tid == tid && h.pid == pid && h.look == self.looks)
    }

    fn add_hot(&mut self, pid: i32, tid: i32) {
        if self.hot.len() < HOT_MAX && !self.hot.iter().any(|h| h.tid == tid && h.pid == pid) {
            self.hot.push(Hot {
                pid,
                tid,
                look: self.looks,
            });
        }
    }

    /// Reads a small /proc file. One `read` with a large buffer gets all of it (these files are
    /// generated whole on the first read), which saves the second, empty read per file.
    fn read_proc(&mut self, path: &str) -> bool {
        self.buf.clear();
        let Ok(mut f) = File::open(path) else {
            return false;
        };
        self.buf.resize(READ_SIZE, 0);
        match f.read(&mut self.buf) {
            Ok(n) if n < READ_SIZE => {
                self.buf.truncate(n);
                true
            }
            Ok(n) => {
                // Larger than expected (a big epoll set): read the rest.
                self.buf.truncate(n);
                f.read_to_end(&mut self.buf).is_ok()
            }
            Err(_) => false,
        }
    }

    fn push_children(&mut self, pid: i32, tid: i32) {
        if !self.read_proc(&format!("/proc/{pid}/task/{tid}/children")) {
            return;
        }
        let text = String::from_utf8_lossy(&self.buf);
        let children: Vec<i32> = text
            .split_ascii_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        self.walk.push(children);
    }

    fn thread_blocked(&mut self, pid: i32, tid: i32) -> (Wait, Seen) {
        if !self.read_proc(&format!("/proc/{pid}/task/{tid}/syscall")) {
            return (Wait::No, Seen::Gone);
        }
        // `running`, or `-1 ...` outside a system call.
        let Some((nr, args)) = parse_syscall(&self.buf) else {
            return (Wait::No, Seen::Busy);
        };
        let Some(kind) = classify(nr) else {
            return (Wait::No, Seen::Asleep);
        };
        let watched = match kind {
            Kind::ReadFd(i) => {
                let ours = self.is_our_pipe(pid, args[i] as i64);
                return (if ours { Wait::Sure } else { Wait::No }, Seen::Busy);
            }
            Kind::Epoll(_) => self.epoll_watches_pipe(pid, args[0] as i64),
            Kind::Poll(_) => self.poll_watches_pipe(pid, args[0], args[1]),
            Kind::Select(_) => self.select_watches_pipe(pid, args[0], args[1]),
        };
        let wait = match (watched, kind.waits_forever(&args)) {
            (false, _) => Wait::No,
            (true, true) => Wait::Sure,
            (true, false) => Wait::Maybe,
        };
        (wait, Seen::Busy)
    }

    fn is_our_pipe(&self, pid: i32, fd: i64) -> bool {
        if !(0..=i32::MAX as i64).contains(&fd) {
            return false;
        }
        match std::fs::metadata(format!("/proc/{pid}/fd/{fd}")) {
            Ok(m) => m.ino() == self.ino && m.dev() == self.dev,
            Err(_) => false,
        }
    }

    fn epoll_watches_pipe(&mut self, pid: i32, epfd: i64) -> bool {
        if !(0..=i32::MAX as i64).contains(&epfd) {
            return false;
        }
        if !self.read_proc(&format!("/proc/{pid}/fdinfo/{epfd}")) {
            return false;
        }
        let text = String::from_utf8_lossy(&self.buf);
        let (major, minor) = (libc::major(self.dev) as u64, libc::minor(self.dev) as u64);
        text.lines().filter(|l| l.starts_with("tfd:")).any(|line| {
            let watch = parse_epoll_line(line);
            let events = watch.events.unwrap_or(0);
            let same_dev = watch
                .sdev
                .is_none_or(|d| (d >> 20) == major && (d & 0xf_ffff) == minor);
            watch.ino == Some(self.ino) && same_dev && events & libc::EPOLLIN as u64 != 0
        })
    }

    fn poll_watches_pipe(&self, pid: i32, addr: u64, nfds: u64) -> bool {
        let n = nfds.min(1024) as usize;
        if n == 0 {
            return false;
        }
        // struct pollfd is { int fd; short events; short revents; }: 8 bytes, native order.
        let mut raw = vec![0u8; n * 8];
        if !sys::read_process_memory(pid, addr, &mut raw) {
            return false;
        }
        raw.chunks_exact(8).any(|p| {
            let fd = i32::from_ne_bytes([p[0], p[1], p[2], p[3]]);
            let events = i16::from_ne_bytes([p[4], p[5]]);
            fd >= 0 && events & libc::POLLIN != 0 && self.is_our_pipe(pid, i64::from(fd))
        })
    }

    fn select_watches_pipe(&self, pid: i32, nfds: u64, readfds: u64) -> bool {
        let n = nfds.min(1024) as usize;
        if n == 0 || readfds == 0 {
            return false;
        }
        let mut bits = vec![0u8; n.div_ceil(64) * 8];
        if !sys::read_process_memory(pid, readfds, &mut bits) {
            return false;
        }
        (0..n)
            .filter(|fd| bits[fd / 8] & (1 << (fd % 8)) != 0)
            .any(|fd| self.is_our_pipe(pid, fd as i64))
    }
}

/// Whether a thread stays among those examined at every look.
fn keeps_hot(pid: i32, tid: i32, seen: Seen) -> bool {
    match seen {
        Seen::Gone => false,
        Seen::Busy => true,
        Seen::Asleep => tid == pid,
    }
}
