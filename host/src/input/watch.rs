//! Tells, from /proc, whether a task is blocked waiting to read its stdin pipe.
//!
//! A program that reads standard input does not announce it; it just makes a system call that
//! sleeps until data arrives. The host owns the task's stdin pipe, so a sleeping reader of that
//! pipe is exactly "the program is waiting for the user". This module finds one by walking the
//! task's process tree (`/proc/<pid>/task/<tid>/children`) and looking at the system call each
//! thread is blocked in (`/proc/<pid>/task/<tid>/syscall`, which reads `running` unless the
//! thread is asleep):
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
//! [`Wait::Maybe`]: good enough to hand over input the user already sent, not to ask for more. The caller only asks while the pipe is empty and
//! a task runs; each question costs a few small /proc reads per thread of the task.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;

use super::syscalls::{classify, parse_epoll_line, parse_syscall, Kind};
use crate::sys;

/// Upper bound on the processes examined per question (a fork bomb must not stall the host).
const MAX_PROCESSES: usize = 512;

/// Buffer for one read of a /proc file.
const READ_SIZE: usize = 16 * 1024;

/// How often (in looks) every thread, not just a process's main one, is asked for children.
const CHILDREN_EVERY: u64 = 4;

/// The pipe a task reads as stdin, and where its process tree starts.
pub(crate) struct StdinWatch {
    root: i32,
    /// Looks so far; threads other than a process's first are asked for children only every
    /// [`CHILDREN_EVERY`] looks (processes are nearly always started by the main thread).
    looks: u64,
    dev: u64,
    ino: u64,
    buf: Vec<u8>,
    stack: Vec<i32>,
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

impl StdinWatch {
    /// Watches the tree under `root` for readers of the pipe with this device and inode (as
    /// `fstat` reports them for either end).
    pub(crate) fn new(root: i32, dev: u64, ino: u64) -> Self {
        Self {
            root,
            looks: 0,
            dev,
            ino,
            buf: Vec::with_capacity(4096),
            stack: Vec::new(),
        }
    }

    /// Whether some thread of some process in the tree is asleep waiting to read the pipe.
    pub(crate) fn reader_blocked(&mut self) -> Wait {
        self.stack.clear();
        self.stack.push(self.root);
        let mut seen = 0;
        let mut found = Wait::No;
        self.looks += 1;
        let all_threads = self.looks % CHILDREN_EVERY == 1;
        while let Some(pid) = self.stack.pop() {
            seen += 1;
            if seen > MAX_PROCESSES {
                break;
            }
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
                continue;
            };
            for entry in tasks.flatten() {
                let Some(tid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<i32>().ok())
                else {
                    continue;
                };
                match self.thread_blocked(pid, tid) {
                    Wait::Sure => return Wait::Sure,
                    w => found = found.max(w),
                }
                if all_threads || tid == pid {
                    self.push_children(pid, tid);
                }
            }
        }
        found
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
        self.stack.extend(children);
    }

    fn thread_blocked(&mut self, pid: i32, tid: i32) -> Wait {
        if !self.read_proc(&format!("/proc/{pid}/task/{tid}/syscall")) {
            return Wait::No;
        }
        let Some((nr, args)) = parse_syscall(&self.buf) else {
            return Wait::No;
        };
        let Some(kind) = classify(nr) else {
            return Wait::No;
        };
        let watched = match kind {
            Kind::ReadFd(i) => return sure_if(self.is_our_pipe(pid, args[i] as i64)),
            Kind::Epoll(_) => self.epoll_watches_pipe(pid, args[0] as i64),
            Kind::Poll(_) => self.poll_watches_pipe(pid, args[0], args[1]),
            Kind::Select(_) => self.select_watches_pipe(pid, args[0], args[1]),
        };
        match (watched, kind.waits_forever(&args)) {
            (false, _) => Wait::No,
            (true, true) => Wait::Sure,
            (true, false) => Wait::Maybe,
        }
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

fn sure_if(yes: bool) -> Wait {
    if yes {
        Wait::Sure
    } else {
        Wait::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real reader: `sh -c 'read x'` with our pipe as stdin is found; a sleeping shell
    /// with the same stdin is not.
    #[test]
    fn finds_a_blocked_reader_and_ignores_a_sleeper() {
        use std::os::fd::AsRawFd;
        use std::process::{Command, Stdio};
        let watch_for = |script: &str| -> Wait {
            let mut fds = [0; 2];
            // SAFETY: pipe2 writes two descriptors into the array.
            assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
            // SAFETY: the descriptors were just created and are owned here.
            let (read, write) = unsafe {
                use std::os::fd::FromRawFd;
                (
                    std::os::fd::OwnedFd::from_raw_fd(fds[0]),
                    std::os::fd::OwnedFd::from_raw_fd(fds[1]),
                )
            };
            let meta = std::fs::metadata(format!("/proc/self/fd/{}", write.as_raw_fd()))
                .expect("stat pipe");
            let mut child = {
                use std::os::unix::process::CommandExt;
                Command::new("/bin/sh")
                    .args(["-c", script])
                    .stdin(Stdio::from(read))
                    .stdout(Stdio::null())
                    .process_group(0)
                    .spawn()
                    .expect("spawn sh")
            };
            let mut watch = StdinWatch::new(child.id() as i32, meta.dev(), meta.ino());
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            let mut found = Wait::No;
            while std::time::Instant::now() < deadline && found != Wait::Sure {
                std::thread::sleep(std::time::Duration::from_millis(20));
                found = watch.reader_blocked();
            }
            drop(write);
            // SAFETY: signalling the process group we just created.
            unsafe { libc::killpg(child.id() as i32, libc::SIGKILL) };
            let _ = child.wait();
            found
        };
        assert_eq!(watch_for("read x"), Wait::Sure);
        assert_eq!(watch_for("sleep 0.01; cat >/dev/null"), Wait::Sure);
        assert_eq!(watch_for("x=$(sleep 3)"), Wait::No);
        if std::path::Path::new("/bin/bash").exists() {
            assert_eq!(watch_for("exec /bin/bash -c 'read -t 5 x'"), Wait::Maybe);
        }
    }
}

#[cfg(test)]
mod cost {
    use super::*;

    /// Prints what one look costs for a given pid (KRUNNER_WATCH_PID). Run with
    /// `KRUNNER_WATCH_PID=<pid> cargo test -p krunner --release --lib stdin_watch::cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "measurement"]
    fn cost_of_one_look() {
        let Some(pid) = std::env::var("KRUNNER_WATCH_PID")
            .ok()
            .and_then(|p| p.parse().ok())
        else {
            return;
        };
        let mut w = StdinWatch::new(pid, 0, 0);
        let n = 2000;
        let t = std::time::Instant::now();
        for _ in 0..n {
            w.reader_blocked();
        }
        println!("one look at {pid}: {:?}", t.elapsed() / n);
    }
}
