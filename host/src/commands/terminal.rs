//! The terminal side of `krunner run`: lines typed by the user (read off the main loop, so
//! Ctrl-C stays responsive; without echo for passwords) and Ctrl-C presses.

use std::io::BufRead;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::sys;

static CTRL_C: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_sigint(_: libc::c_int) {
    CTRL_C.fetch_add(1, Ordering::SeqCst);
}

/// Counts Ctrl-C presses instead of dying of them.
pub(super) fn catch_ctrl_c() {
    sys::on_sigint(on_sigint);
}

/// How many times Ctrl-C was pressed.
pub(super) fn ctrl_c_presses() -> usize {
    CTRL_C.load(Ordering::SeqCst)
}

/// Reads terminal lines on demand, off the main loop, so Ctrl-C stays responsive.
pub(super) struct Terminal {
    requests: crossbeam_channel::Sender<bool>,
    lines: crossbeam_channel::Receiver<Option<String>>,
    pending: bool,
}

impl Terminal {
    /// Starts the reader thread.
    pub(super) fn new() -> Self {
        let (req_tx, req_rx) = crossbeam_channel::unbounded::<bool>();
        let (line_tx, line_rx) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            for is_password in req_rx {
                let no_echo = (is_password && sys::stdin_is_tty())
                    .then(sys::NoEcho::start)
                    .flatten();
                let mut line = String::new();
                let read = stdin.lock().read_line(&mut line);
                if no_echo.is_some() {
                    drop(no_echo);
                    eprintln!();
                }
                let result = match read {
                    Ok(0) | Err(_) => None,
                    Ok(_) => {
                        let trimmed = line.strip_suffix('\n').unwrap_or(&line);
                        Some(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned())
                    }
                };
                if line_tx.send(result).is_err() {
                    return;
                }
            }
        });
        Self {
            requests: req_tx,
            lines: line_rx,
            pending: false,
        }
    }

    /// Asks for a line (hidden for a password), unless one is being read already.
    pub(super) fn ask(&mut self, is_password: bool) {
        if !self.pending {
            self.pending = self.requests.send(is_password).is_ok();
        }
    }

    /// The line read, if one is ready (`Some(None)`: end of input).
    pub(super) fn answer(&mut self) -> Option<Option<String>> {
        let line = self.lines.try_recv().ok()?;
        self.pending = false;
        Some(line)
    }
}
