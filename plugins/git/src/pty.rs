//! A shell in a pseudo-terminal: `openpty`, the child as the leader of its own POSIX session
//! (`setsid`) with the terminal as its controlling tty, window-size changes, and ending every
//! process of that session. The terminal runner owns this process itself (the host's subprocess
//! API pipes output and has no terminal), so it lives here; see the plugin-api crate docs,
//! "When a plugin may own processes and sockets", for what that obliges it to.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

/// A running shell and the master side of its terminal.
pub struct Pty {
    /// The master side: read for output, write for keystrokes.
    pub master: File,
    /// The shell.
    pub child: Child,
}

/// Terminal size in rows and columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

impl Default for Size {
    fn default() -> Self {
        Self { rows: 24, cols: 80 }
    }
}

fn winsize(size: Size) -> libc::winsize {
    libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// Sets the window size of the terminal whose master is `fd` (the kernel sends SIGWINCH to
/// the foreground process group).
pub fn resize(fd: RawFd, size: Size) -> io::Result<()> {
    let ws = winsize(size);
    // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, which is valid for the call.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Pty {
    /// Starts `command` on a new terminal of `size`.
    pub fn spawn(mut command: Command, size: Size) -> io::Result<Self> {
        let mut master: RawFd = -1;
        let mut slave: RawFd = -1;
        let ws = winsize(size);
        // SAFETY: openpty writes two descriptors into the given locations; the name and
        // termios pointers may be null.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &ws,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: openpty succeeded, so both descriptors are open and owned by nobody else.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        set_cloexec(master.as_raw_fd())?;
        set_cloexec(slave.as_raw_fd())?;
        command
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        let parent = std::process::id();
        // SAFETY: only async-signal-safe calls (setsid, ioctl, prctl, getppid) between fork and
        // exec.
        unsafe {
            command.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
                // The shell dies with the host even when the host is killed outright (the
                // signal comes when the forking thread, the terminal's, ends).
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) < 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::getppid() as u32 != parent {
                    // The host ended between fork and prctl.
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        let child = command.spawn()?;
        Ok(Self {
            master: File::from(master),
            child,
        })
    }

    /// Hangs up the shell (SIGHUP, then SIGCONT so stopped jobs see it) and reaps it.
    pub fn hang_up(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            hang_up_group(pid);
        }
        for _ in 0..20 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends SIGHUP, then SIGCONT (so that stopped jobs see it), to the process group `pgid`: what
/// a terminal hangup does. A shell passes the hangup on to its jobs.
pub fn hang_up_group(pgid: i32) {
    // SAFETY: plain kill(2) on a process group (the shell leads its own POSIX session, so its pid is
    // its group id).
    unsafe {
        libc::kill(-pgid, libc::SIGHUP);
        libc::kill(-pgid, libc::SIGCONT);
    }
}

/// The processes of the POSIX session `sid` that have not exited (zombies are left out).
pub fn sid_members(sid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| matches!(state_and_sid(*pid), Some((state, s)) if s == sid && state != 'Z'))
        .collect()
}

/// SIGKILLs every process of the POSIX session `sid`: the jobs a shell left behind, even those
/// that ignore hangups. Processes that left it (`setsid`) are out of reach, as they
/// are out of reach of the host's process groups.
pub fn kill_sid(sid: i32) {
    for pid in sid_members(sid) {
        // SAFETY: plain kill(2).
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// The state letter and POSIX session id of `pid`, from `/proc/<pid>/stat` (the fields after the
/// parenthesised command name: state, ppid, pgrp, session).
fn state_and_sid(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let sid = fields.nth(2)?.parse().ok()?;
    Some((state, sid))
}

fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    let rc = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_found_by_its_sid() {
        // SAFETY: getsid(0) only reads the caller's session id.
        let sid = unsafe { libc::getsid(0) };
        let me = i32::try_from(std::process::id()).expect("pid fits i32");
        assert!(sid_members(sid).contains(&me));
        assert_eq!(state_and_sid(me).map(|(_, s)| s), Some(sid));
    }
}
