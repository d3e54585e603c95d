//! [`time_to_prompt`]: how long `krunner console` takes from its start to its first prompt,
//! measured on a pseudo-terminal this process drives itself (no tmux in between): the
//! terminal's answers to the line editor's cursor query are given at once.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `command` on a new pseudo-terminal and returns the time until `prompt` appears on
/// it; then sends Ctrl-D and waits for the exit. Panics after `deadline`.
pub fn time_to_prompt(mut command: Command, prompt: &str, deadline: Duration) -> Duration {
    let (master, slave) = open_pty();
    let slave_fd = slave.as_raw_fd();
    let stdio = || Stdio::from(slave.try_clone().expect("dup the terminal"));
    command.stdin(stdio()).stdout(stdio()).stderr(stdio());
    // SAFETY: setsid and the ioctl are async-signal-safe; they make the terminal the child's
    // controlling terminal, as a terminal emulator does.
    unsafe {
        command.pre_exec(move || {
            libc::setsid();
            libc::ioctl(slave_fd, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = command.spawn().expect("start the console");
    drop(slave);
    let mut seen = Vec::new();
    let elapsed = loop {
        assert!(
            started.elapsed() < deadline,
            "no prompt within {deadline:?}: {:?}",
            String::from_utf8_lossy(&seen)
        );
        let mut fds = [libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: one valid pollfd for the duration of the call.
        if unsafe { libc::poll(fds.as_mut_ptr(), 1, 10) } <= 0 {
            continue;
        }
        let mut buf = [0u8; 4096];
        // SAFETY: reading into a live buffer.
        let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        let Ok(n) = usize::try_from(n) else {
            continue;
        };
        let before = seen.len();
        seen.extend_from_slice(&buf[..n]);
        if contains(&seen[before.saturating_sub(8)..], b"\x1b[6n") {
            write(&master, b"\x1b[1;1R");
        }
        if contains(&seen, prompt.as_bytes()) {
            break started.elapsed();
        }
    };
    write(&master, b"\x04");
    let _ = child.wait();
    elapsed
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn write(fd: &OwnedFd, data: &[u8]) {
    // SAFETY: writing from a live buffer.
    unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
}

fn open_pty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two descriptors; the name, termios and size may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened for us.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}
