//! Tasks the soak sends, each with exactly what it must print and how it may end: shell
//! commands for every runner (`/bin/sh -c`, docs/protocol.md §2.3) and snippets for the
//! python runner's query mode (§7.2). Output is a seeded pattern with the task's id in it,
//! from nothing to a few MiB, including bytes that are not UTF-8 and NULs; programs sleep,
//! ignore SIGINT, kill themselves, leave children behind and read input.

use crate::expect::{Stream, TaskExp, TaskOp};
use crate::rng::Rng;

/// The runner a round serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    App,
    Python,
}

impl Lang {
    pub fn name(self) -> &'static str {
        match self {
            Lang::App => "app",
            Lang::Python => "python",
        }
    }
}

/// A task ready to send.
pub struct Made {
    pub op: TaskOp,
    pub payload: Vec<u8>,
    pub exp: TaskExp,
}

/// `n` bytes of `tag` lines, as `yes tag | head -c n` prints them.
pub fn pattern(tag: &str, n: usize) -> Vec<u8> {
    format!("{tag}\n").bytes().cycle().take(n).collect()
}

/// An output size: mostly small, sometimes up to 4 MiB.
fn size(rng: &mut Rng, max: usize) -> usize {
    let n = match rng.below(100) {
        0..=39 => rng.size(0, 200),
        40..=74 => rng.size(200, 64 << 10),
        75..=94 => rng.size(64 << 10, 1 << 20),
        _ => rng.size(1 << 20, 4 << 20),
    };
    n.min(max)
}

fn tag(rng: &mut Rng, stream: char, id: u64) -> String {
    format!("{stream}{id}-{:08x}", rng.next_u64() as u32)
}

fn batch_op(rng: &mut Rng) -> TaskOp {
    rng.weighted(&[(70, TaskOp::Exec), (15, TaskOp::Build), (15, TaskOp::Clean)])
}

#[derive(Debug, Clone, Copy)]
enum Shell {
    Print,
    Bytes,
    Zeros,
    Slow,
    Deaf,
    Suicide,
    Fork,
    Reader,
    Empty,
    Star,
    Missing,
    Code,
}

/// A shell command task (or, on the app runner, a `code` op it does not support).
pub fn shell(rng: &mut Rng, id: u64, lang: Lang) -> Made {
    let op = batch_op(rng);
    let code_weight = if lang == Lang::App { 2 } else { 0 };
    let kind = rng.weighted(&[
        (30, Shell::Print),
        (5, Shell::Bytes),
        (3, Shell::Zeros),
        (10, Shell::Slow),
        (6, Shell::Deaf),
        (5, Shell::Suicide),
        (8, Shell::Fork),
        (12, Shell::Reader),
        (4, Shell::Empty),
        (3, Shell::Star),
        (3, Shell::Missing),
        (code_weight, Shell::Code),
    ]);
    let (cmd, exp) = match kind {
        Shell::Print => print(rng, id, op),
        Shell::Bytes => bytes(rng, op),
        Shell::Zeros => {
            let n = size(rng, 1 << 20);
            let exp = TaskExp::new("zeros", op, vec![0; n], 0);
            (format!("head -c {n} /dev/zero"), exp)
        }
        Shell::Slow | Shell::Deaf => slow(rng, id, op, matches!(kind, Shell::Deaf)),
        Shell::Suicide => {
            let (t, n) = (tag(rng, 'k', id), size(rng, 1 << 20));
            let exp = TaskExp::new("suicide", op, pattern(&t, n), 137).interrupted(&[130, 137]);
            (format!("yes '{t}' | head -c {n}; kill -9 $$"), exp)
        }
        Shell::Fork => fork(rng, id, op),
        Shell::Reader => {
            let prompt = format!("r{id}> ");
            let exp = TaskExp::new("reader", op, Vec::new(), 0).reader(&prompt);
            (format!("printf '{prompt}'; read x; echo \"got $x\""), exp)
        }
        Shell::Empty => (String::new(), TaskExp::inert("empty", op, 0)),
        Shell::Star => star(lang, op),
        Shell::Missing => {
            let exp = TaskExp::new("missing", op, Vec::new(), 127).stderr(Stream::Any);
            (format!("chaos-no-such-command-{id}"), exp)
        }
        Shell::Code => {
            let line = "app-kernel: query mode is not supported by the 'app' runner\n";
            let exp = TaskExp::inert("code-unsupported", TaskOp::Code, 127).console(line.into());
            return Made {
                op: TaskOp::Code,
                payload: format!("print({id})").into_bytes(),
                exp,
            };
        }
    };
    Made {
        op,
        payload: cmd.into_bytes(),
        exp,
    }
}

fn print(rng: &mut Rng, id: u64, op: TaskOp) -> (String, TaskExp) {
    let (t, n) = (tag(rng, 'o', id), size(rng, 4 << 20));
    let mut cmd = format!("yes '{t}' | head -c {n}");
    let mut stderr = Vec::new();
    if rng.chance(0.4) {
        let (e, m) = (tag(rng, 'e', id), size(rng, 256 << 10));
        cmd.push_str(&format!("; yes '{e}' | head -c {m} >&2"));
        stderr = pattern(&e, m);
    }
    let code = if rng.chance(0.7) { 0 } else { rng.range(1, 5) };
    cmd.push_str(&format!("; exit {code}"));
    let exp = TaskExp::new("print", op, pattern(&t, n), code as i64).stderr(Stream::Exact(stderr));
    (cmd, exp)
}

/// Raw bytes, most of them not UTF-8, through printf's octal escapes.
fn bytes(rng: &mut Rng, op: TaskOp) -> (String, TaskExp) {
    let raw: Vec<u8> = (0..rng.size(1, 300))
        .map(|_| rng.range(1, 256) as u8)
        .collect();
    let escaped: String = raw.iter().map(|b| format!("\\{b:03o}")).collect();
    (
        format!("printf '{escaped}'"),
        TaskExp::new("bytes", op, raw, 0),
    )
}

/// Prints, sleeps, prints; a deaf one ignores SIGINT and is killed after the grace period.
fn slow(rng: &mut Rng, id: u64, op: TaskOp, deaf: bool) -> (String, TaskExp) {
    let d = rng.range(1, 10);
    let trap = if deaf { "trap '' INT; " } else { "" };
    let cmd = format!("{trap}printf 'a{id}\\n'; sleep 0.{d}; printf 'b{id}\\n'");
    let out = format!("a{id}\nb{id}\n").into_bytes();
    let exp = match deaf {
        // An interrupt that comes before the shell ran `trap` ends it with SIGINT.
        true => TaskExp::new("deaf", op, out, 0).interrupted(&[130, 137]),
        false => TaskExp::new("slow", op, out, 0),
    };
    (cmd, exp)
}

/// Leaves children behind: one that writes a line on stderr a little later (after the task
/// ended, it is discarded), and one that outlives the task by a second or so.
fn fork(rng: &mut Rng, id: u64, op: TaskOp) -> (String, TaskExp) {
    let (t, n) = (tag(rng, 'f', id), size(rng, 1 << 20));
    let (d1, d2) = (rng.range(0, 10), rng.range(0, 10));
    // Each lingering process is exec'd with CHAOS_LINGER in its environment (/proc shows
    // the environment a process was exec'd with, not what a subshell exported).
    let cmd = format!(
        "CHAOS_LINGER=4 sh -c 'sleep 0.{d1}; printf \"late{id}\\n\" >&2' & \
         (CHAOS_LINGER=4 sleep 1.{d2} &); yes '{t}' | head -c {n}"
    );
    let late = format!("late{id}\n").into_bytes();
    let exp = TaskExp::new("fork", op, pattern(&t, n), 0).stderr(Stream::Prefix(late));
    (cmd, exp)
}

/// `*`: the runner's own heuristic (docs/protocol.md §4.3).
fn star(lang: Lang, op: TaskOp) -> (String, TaskExp) {
    let code = match (lang, op) {
        (Lang::Python, TaskOp::Exec) => 127,
        _ => 0,
    };
    (
        "*".into(),
        TaskExp::inert("star", op, code).stderr(Stream::Any),
    )
}
