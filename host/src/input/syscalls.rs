//! The system calls a blocked reader of standard input can be sleeping in, as
//! `/proc/<pid>/task/<tid>/syscall` and `/proc/<pid>/fdinfo/<epfd>` describe them.
//!
//! Pure parsing, so [`super::watch`] reads like the walk it is and these rules are unit-tested
//! on their own.

/// A syscall number as /proc reports it.
pub(crate) type Nr = i64;

/// How a wait's timeout is passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timeout {
    /// An `int` of milliseconds in this argument; negative waits forever.
    Millis(usize),
    /// A pointer to a `timespec`/`timeval` in this argument; NULL waits forever.
    Pointer(usize),
}

/// What a blocking system call waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
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
    pub(crate) fn waits_forever(&self, args: &[u64; 6]) -> bool {
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

pub(crate) fn classify(nr: Nr) -> Option<Kind> {
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
pub(crate) fn parse_syscall(text: &[u8]) -> Option<(Nr, [u64; 6])> {
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
pub(crate) struct EpollWatch {
    pub(crate) events: Option<u64>,
    pub(crate) ino: Option<u64>,
    pub(crate) sdev: Option<u64>,
}

/// Parses one `tfd:` line of an epoll descriptor's fdinfo, e.g.
/// `tfd:        0 events:       19 data:                0  pos:0 ino:130ef sdev:f`.
pub(crate) fn parse_epoll_line(line: &str) -> EpollWatch {
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
}
