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

/// Upper bound on the processes examined per question (a fork bomb must not stall the host).
const MAX_PROCESSES: usize = 512;

/// Buffer for one read of a /proc file.
const READ_SIZE: usize = 16 * 1024;

/// How often (in looks) every thread, not just a process's main one, is asked for children.
const CHILDREN_EVERY: u64 = 4;

/// The pipe a task reads as stdin, and where its process tree starts.
pub struct StdinWatch {
    root: i32,
    /// Looks so far; threads other than a process's first are asked for children only every
    /// [`CHILDREN_EVERY`] looks (processes are nearly always started by the main thread).
    looks: u64,
    dev: u64,
    ino: u64,
    buf: Vec<u8>,
    stack: Vec<i32>,
}

/// A syscall number as /proc reports it.
type Nr = i64;

/// What the task's processes are doing with the pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Wait {
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
    pub fn new(root: i32, dev: u64, ino: u64) -> Self {
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
    pub fn reader_blocked(&mut self) -> Wait {
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
        let mut fds = vec![
            libc::pollfd {
                fd: -1,
                events: 0,
                revents: 0
            };
            n
        ];
        let len = n * std::mem::size_of::<libc::pollfd>();
        if !read_memory(pid, addr, fds.as_mut_ptr().cast(), len) {
            return false;
        }
        fds.iter()
            .filter(|p| p.fd >= 0 && p.events & libc::POLLIN != 0)
            .any(|p| self.is_our_pipe(pid, p.fd as i64))
    }

    fn select_watches_pipe(&self, pid: i32, nfds: u64, readfds: u64) -> bool {
        let n = nfds.min(1024) as usize;
        if n == 0 || readfds == 0 {
            return false;
        }
        let mut bits = vec![0u8; n.div_ceil(64) * 8];
        if !read_memory(pid, readfds, bits.as_mut_ptr(), bits.len()) {
            return false;
        }
        (0..n)
            .filter(|fd| bits[fd / 8] & (1 << (fd % 8)) != 0)
            .any(|fd| self.is_our_pipe(pid, fd as i64))
    }
}

/// Reads `len` bytes at `addr` in process `pid` into `dst`.
fn read_memory(pid: i32, addr: u64, dst: *mut u8, len: usize) -> bool {
    let local = libc::iovec {
        iov_base: dst.cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: `local` describes `len` writable bytes owned by the caller; the remote side is
    // only read by the kernel, which checks it.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    n == len as isize
}

fn sure_if(yes: bool) -> Wait {
    if yes {
        Wait::Sure
    } else {
        Wait::No
    }
}

/// How a wait's timeout is passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timeout {
    /// An `int` of milliseconds in this argument; negative waits forever.
    Millis(usize),
    /// A pointer to a `timespec`/`timeval` in this argument; NULL waits forever.
    Pointer(usize),
}

/// What a blocking system call waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A read-like call on the descriptor in this argument.
    ReadFd(usize),
    /// `epoll_wait` family: argument 0 is the epoll descriptor.
    Epoll(Timeout),
    /// `poll`/`ppoll`: argument 0 is the array, argument 1 its length.
    Poll(Timeout),
    /// `select`/`pselect6`: argument 0 is nfds, argument 1 the read set.
    Select(Timeout),
}

impl Kind {
    /// Whether a multiplexed wait has no timeout.
    fn waits_forever(&self, args: &[u64; 6]) -> bool {
        let timeout = match self {
            Kind::ReadFd(_) => return true,
            Kind::Epoll(t) | Kind::Poll(t) | Kind::Select(t) => *t,
        };
        match timeout {
            Timeout::Millis(i) => (args[i] as u32 as i32) < 0,
            Timeout::Pointer(i) => args[i] == 0,
        }
    }
}

fn classify(nr: Nr) -> Option<Kind> {
    let nr = nr as libc::c_long;
    #[cfg(target_arch = "x86_64")]
    {
        match nr {
            libc::SYS_poll => return Some(Kind::Poll(Timeout::Millis(2))),
            libc::SYS_select => return Some(Kind::Select(Timeout::Pointer(4))),
            libc::SYS_epoll_wait => return Some(Kind::Epoll(Timeout::Millis(3))),
            _ => {}
        }
    }
    match nr {
        libc::SYS_read
        | libc::SYS_readv
        | libc::SYS_pread64
        | libc::SYS_preadv
        | libc::SYS_preadv2
        | libc::SYS_splice
        | libc::SYS_copy_file_range => Some(Kind::ReadFd(0)),
        libc::SYS_sendfile => Some(Kind::ReadFd(1)),
        libc::SYS_epoll_pwait => Some(Kind::Epoll(Timeout::Millis(3))),
        libc::SYS_epoll_pwait2 => Some(Kind::Epoll(Timeout::Pointer(3))),
        libc::SYS_ppoll => Some(Kind::Poll(Timeout::Pointer(2))),
        libc::SYS_pselect6 => Some(Kind::Select(Timeout::Pointer(4))),
        _ => None,
    }
}

/// Parses `/proc/.../syscall`: `NR ARG0 .. ARG5 SP PC` for a sleeping thread, `-1 SP PC` outside
/// a system call, `running` for a running thread.
fn parse_syscall(text: &[u8]) -> Option<(Nr, [u64; 6])> {
    let text = std::str::from_utf8(text).ok()?;
    let mut fields = text.split_ascii_whitespace();
    let nr: Nr = fields.next()?.parse().ok()?;
    if nr < 0 {
        return None;
    }
    let mut args = [0u64; 6];
    for arg in &mut args {
        let field = fields.next()?;
        *arg = u64::from_str_radix(field.trim_start_matches("0x"), 16).ok()?;
    }
    Some((nr, args))
}

#[derive(Debug, Default, PartialEq, Eq)]
struct EpollWatch {
    events: Option<u64>,
    ino: Option<u64>,
    sdev: Option<u64>,
}

/// Parses one `tfd:` line of an epoll descriptor's fdinfo, e.g.
/// `tfd:        0 events:       19 data:                0  pos:0 ino:130ef sdev:f`.
fn parse_epoll_line(line: &str) -> EpollWatch {
    let mut watch = EpollWatch::default();
    let mut fields = line.split_ascii_whitespace().peekable();
    while let Some(field) = fields.next() {
        let (key, inline) = match field.split_once(':') {
            Some((k, v)) => (k, v),
            None => continue,
        };
        let value = if inline.is_empty() {
            fields.next().unwrap_or("")
        } else {
            inline
        };
        let hex = u64::from_str_radix(value, 16).ok();
        match key {
            "events" => watch.events = hex,
            "ino" => watch.ino = hex,
            "sdev" => watch.sdev = hex,
            _ => {}
        }
    }
    watch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_syscall_files() {
        let (nr, args) =
            parse_syscall(b"0 0x0 0x7f40019db000 0x20000 0x1 0xffffffff 0x0 0x7ffc 0x7f40\n")
                .expect("sleeping thread");
        assert_eq!(nr, 0);
        assert_eq!(args[..3], [0, 0x7f40019db000, 0x20000]);
        assert_eq!(parse_syscall(b"running\n"), None);
        assert_eq!(parse_syscall(b"-1 0x7ffc 0x7f40\n"), None);
        assert_eq!(parse_syscall(b"0 0x0\n"), None);
    }

    #[test]
    fn parses_epoll_fdinfo_lines() {
        let w = parse_epoll_line(
            "tfd:        0 events:       19 data:                0  pos:0 ino:130ef sdev:f",
        );
        assert_eq!(
            w,
            EpollWatch {
                events: Some(0x19),
                ino: Some(0x130ef),
                sdev: Some(0xf)
            }
        );
    }

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
