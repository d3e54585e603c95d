//! Thin, safe wrappers around the few Linux calls the host makes directly.
//!
//! Every `unsafe` block of the host that talks to the kernel lives here, next to the reason it
//! is sound, so the modules that use these calls read as ordinary Rust and the safety argument
//! is made once.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;
use std::time::Duration;

/// A kernel counter that can be polled: written by producers, read (reset) by one consumer.
/// Used to wake a thread that sleeps in `poll` (the socket thread, a task's poll loop).
pub(crate) struct EventFd(OwnedFd);

impl EventFd {
    /// A new non-blocking, close-on-exec eventfd.
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: eventfd takes an initial value and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the descriptor was just created and is owned here.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Makes the descriptor readable.
    pub(crate) fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes from a valid u64 to our own eventfd.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Resets the counter (the descriptor stops being readable).
    pub(crate) fn clear(&self) {
        let mut value: u64 = 0;
        // SAFETY: reading 8 bytes into a valid u64 from our own non-blocking eventfd.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut value as *mut u64).cast(), 8) };
    }

    /// The descriptor, for `poll`.
    pub(crate) fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// A close-on-exec pipe: (read end, write end).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned these descriptors to us.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A pidfd for `pid` (Linux 5.3 and later); `None` on older kernels.
pub(crate) fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just returned this descriptor to us.
    Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Sends `sig` to process group `pgid`. Only [`crate::process::Group`] calls this, while it
/// knows the group's leader has not been reaped (so the id cannot have been reused).
pub(crate) fn killpg(pgid: i32, sig: i32) -> io::Result<()> {
    if pgid <= 0 {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: killpg has no memory-safety preconditions.
    if unsafe { libc::killpg(pgid, sig) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits for child `pid` to exit without reaping it (`WNOWAIT`): the zombie keeps its pid and
/// process group id reserved until it is reaped. With `block: false`, returns `None` while it
/// runs.
pub(crate) fn wait_exited(pid: i32, block: bool) -> io::Result<Option<ExitStatus>> {
    loop {
        // SAFETY: siginfo_t is plain data; waitid fills it in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let mut flags = libc::WEXITED | libc::WNOWAIT;
        if !block {
            flags |= libc::WNOHANG;
        }
        // SAFETY: `info` is a valid siginfo_t for the duration of the call.
        let rc = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        // SAFETY: after a successful waitid the pid and status fields are initialised (zero
        // pid: nothing has exited yet, with WNOHANG).
        let (got, code, status) = unsafe { (info.si_pid(), info.si_code, info.si_status()) };
        if got == 0 {
            return Ok(None);
        }
        let raw = match code {
            libc::CLD_EXITED => (status & 0xff) << 8,
            libc::CLD_DUMPED => (status & 0x7f) | 0x80,
            _ => status & 0x7f,
        };
        return Ok(Some(ExitStatus::from_raw(raw)));
    }
}

/// Makes `fd` non-blocking.
pub(crate) fn set_nonblocking(fd: RawFd) {
    // SAFETY: plain fcntl calls on a descriptor the caller owns.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// Asks the kernel for a pipe buffer of `size` bytes (best effort).
pub(crate) fn set_pipe_size(fd: RawFd, size: usize) {
    let size = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    // SAFETY: a plain fcntl call on a descriptor the caller owns.
    unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, size) };
}

/// Device and inode of an open descriptor.
pub(crate) fn fd_identity(fd: RawFd) -> io::Result<(u64, u64)> {
    // SAFETY: fstat writes into the zeroed stat buffer we pass.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: see above; the caller keeps `fd` open.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((st.st_dev, st.st_ino))
}

/// Bytes written into a pipe and not read yet (either end answers).
pub(crate) fn unread_bytes(fd: RawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    let rc = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    if rc == 0 {
        usize::try_from(n).unwrap_or(0)
    } else {
        0
    }
}

/// One `write` of `data` to `fd`.
pub(crate) fn write(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: writing from a live buffer of the given length.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// One `read` from `fd` into `buf`; 0 at end of file.
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: reading into a live buffer of the given length.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// A `pollfd` asking for `events` on `fd` (a negative `fd` is ignored by `poll`).
pub(crate) fn poll_fd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// `poll(2)`: waits for `fds` at most `timeout_ms` (negative: no limit). Returns the number of
/// ready descriptors; `Interrupted` errors are returned for the caller to retry.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    usize::try_from(rc).map_err(|_| io::Error::last_os_error())
}

/// Reads `dst.len()` bytes at `addr` in process `pid`; false if that is not possible.
pub(crate) fn read_process_memory(pid: i32, addr: u64, dst: &mut [u8]) -> bool {
    let local = libc::iovec {
        iov_base: dst.as_mut_ptr().cast(),
        iov_len: dst.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: dst.len(),
    };
    // SAFETY: `local` describes `dst`, which is writable for its length; the remote side is
    // only read by the kernel, which checks it.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    usize::try_from(n).is_ok_and(|n| n == dst.len())
}

/// Seconds on the monotonic clock.
pub(crate) fn monotonic_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32).as_secs_f64()
}

/// The real user id of this process.
pub(crate) fn uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

/// Names the process (and the threads it creates later) for `ps` and `top`; at most 15 bytes.
pub(crate) fn set_process_name(name: &str) {
    let Ok(name) = CString::new(name) else {
        return;
    };
    // SAFETY: PR_SET_NAME reads a NUL-terminated string (the kernel truncates it to 16 bytes).
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0) };
}

/// Replaces the process image with `exe`, run with the single argument `argv0`. Returns only
/// on failure.
pub(crate) fn execv(exe: &CString, argv0: &CString) -> io::Error {
    let argv = [argv0.as_ptr(), std::ptr::null()];
    // SAFETY: both arrays are NUL-terminated and outlive the call; execv only returns on error.
    unsafe { libc::execv(exe.as_ptr(), argv.as_ptr()) };
    io::Error::last_os_error()
}

/// The running glibc's version (`gnu_get_libc_version`), e.g. `2.31`.
pub(crate) fn glibc_version() -> String {
    // SAFETY: gnu_get_libc_version returns a pointer to a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(libc::gnu_get_libc_version()) };
    version.to_string_lossy().into_owned()
}

/// Whether standard input is a terminal.
pub(crate) fn stdin_is_tty() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(0) == 1 }
}

/// Turns off echo on the terminal on standard input until dropped (for password prompts).
pub(crate) struct NoEcho(libc::termios);

impl NoEcho {
    /// `None` when standard input is not a terminal.
    pub(crate) fn start() -> Option<Self> {
        // SAFETY: tcgetattr/tcsetattr on stdin with a zeroed termios buffer.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return None;
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &t);
            Some(Self(saved))
        }
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        // SAFETY: restoring attributes read earlier.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &self.0) };
    }
}

/// Calls `handler` on SIGINT instead of terminating. The handler runs in signal context: it
/// must only touch atomics.
pub(crate) fn on_sigint(handler: extern "C" fn(libc::c_int)) {
    // SAFETY: installing a handler with an empty mask; the caller's handler only touches an
    // atomic, which is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
}

/// Makes the child `command` starts receive SIGTERM when the thread that started it exits
/// (`PR_SET_PDEATHSIG`), so a helper process never outlives the tool that started it.
pub(crate) fn terminate_with_parent(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl, which
    // is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGTERM as libc::c_ulong,
                0,
                0,
                0,
            );
            Ok(())
        });
    }
}
