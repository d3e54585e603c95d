//! A resumable walk over the threads of a task's process tree.
//!
//! The stdin watcher ([`super::watch`]) examines the threads of a task's processes, and a task
//! may have thousands of them: examining one costs a few microseconds of /proc reads, so a look
//! at all of them could cost tens of milliseconds. The walk is therefore an iterator that a
//! look stops at any thread and the next look resumes: it lists a process's threads
//! (`/proc/<pid>/task`) lazily and learns about child processes from whoever examines the
//! threads (`/proc/<pid>/task/<tid>/children`, through [`Walk::push`]). When it has visited
//! every process (at most [`MAX_PROCESSES`]), it ends a *round*; the next call starts a new
//! round at the root, so processes started meanwhile are found.

use std::fs::ReadDir;

/// Upper bound on the processes visited per round (a fork bomb must not stall the host).
const MAX_PROCESSES: usize = 512;

/// Where the walk is.
pub(crate) struct Walk {
    root: i32,
    /// Processes still to visit in this round.
    stack: Vec<i32>,
    /// The process being visited, and the rest of its thread list.
    current: Option<(i32, ReadDir)>,
    /// Processes visited in this round.
    visited: usize,
    /// Whether a round is in progress.
    in_round: bool,
    /// Rounds completed so far.
    rounds: u64,
}

impl Walk {
    /// A walk of the tree under `root`.
    pub(crate) fn new(root: i32) -> Self {
        Self {
            root,
            stack: Vec::new(),
            current: None,
            visited: 0,
            in_round: false,
            rounds: 0,
        }
    }

    /// Rounds completed so far (the current round's number, counting from 0).
    pub(crate) fn rounds(&self) -> u64 {
        self.rounds
    }

    /// The next thread as `(pid, tid)`, or `None` when the round is complete (the call after
    /// that starts the next round).
    pub(crate) fn next_thread(&mut self) -> Option<(i32, i32)> {
        if !self.in_round {
            self.in_round = true;
            self.visited = 0;
            self.stack.clear();
            self.stack.push(self.root);
        }
        loop {
            if let Some((pid, threads)) = &mut self.current {
                let pid = *pid;
                let next = threads.by_ref().flatten().find_map(|entry| {
                    entry
                        .file_name()
                        .to_str()
                        .and_then(|name| name.parse::<i32>().ok())
                });
                match next {
                    Some(tid) => return Some((pid, tid)),
                    None => self.current = None,
                }
            }
            let pid = match self.stack.pop() {
                Some(pid) if self.visited < MAX_PROCESSES => pid,
                _ => return self.end_round(),
            };
            self.visited += 1;
            if let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) {
                self.current = Some((pid, threads));
            }
        }
    }

    /// Adds child processes to visit in this round.
    pub(crate) fn push(&mut self, children: impl IntoIterator<Item = i32>) {
        if self.in_round {
            self.stack.extend(children);
        }
    }

    fn end_round(&mut self) -> Option<(i32, i32)> {
        self.in_round = false;
        self.current = None;
        self.stack.clear();
        self.rounds += 1;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A round visits every thread of the process once, in any number of steps, and ends.
    #[test]
    fn a_round_visits_every_thread_once() {
        let me = std::process::id() as i32;
        let (tid_tx, tid_rx) = std::sync::mpsc::channel::<i32>();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let helper = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            let _ = tid_tx.send(unsafe { libc::gettid() });
            let _ = stop_rx.recv();
        });
        let helper_tid = tid_rx.recv().expect("helper tid");
        let mut walk = Walk::new(me);
        let mut seen = Vec::new();
        while let Some((pid, tid)) = walk.next_thread() {
            assert_eq!(pid, me);
            seen.push(tid);
        }
        assert_eq!(walk.rounds(), 1);
        assert!(seen.contains(&me) && seen.contains(&helper_tid), "{seen:?}");
        let mut unique = seen.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "a thread was visited twice");
        // The next call starts the next round.
        assert_eq!(walk.next_thread().map(|(pid, _)| pid), Some(me));
        drop(stop_tx);
        helper.join().expect("join");
    }
}
