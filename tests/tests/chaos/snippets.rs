//! Query-mode snippets for the python runner (docs/protocol.md §7.2): output of the
//! interpreter and of its child processes, `input()`, sleeps to interrupt, `SystemExit`,
//! exceptions, an interpreter that exits or is killed (and is replaced), children that
//! outlive the snippet, and a trailing expression that is displayed.

use crate::expect::{Stream, TaskExp, TaskOp};
use crate::rng::Rng;
use crate::tasks::{pattern, Made};

#[derive(Debug, Clone, Copy)]
enum Snippet {
    Print,
    Input,
    Sleep,
    Exit,
    Error,
    Die,
    Kill,
    Child,
    Linger,
    Expr,
}

fn code(payload: String, exp: TaskExp) -> Made {
    Made {
        op: TaskOp::Code,
        payload: payload.into_bytes(),
        exp: exp.traceback(),
    }
}

/// A python expression for `n` bytes of `tag` lines.
fn text(tag: &str, n: usize) -> String {
    let reps = n / (tag.len() + 1) + 1;
    format!("(\"{tag}\\n\" * {reps})[:{n}]")
}

pub fn python(rng: &mut Rng, id: u64) -> Made {
    let new = |label, out: &str, exit| TaskExp::new(label, TaskOp::Code, out.into(), exit);
    let kind = rng.weighted(&[
        (25, Snippet::Print),
        (12, Snippet::Input),
        (12, Snippet::Sleep),
        (5, Snippet::Exit),
        (5, Snippet::Error),
        (3, Snippet::Die),
        (3, Snippet::Kill),
        (8, Snippet::Child),
        (4, Snippet::Linger),
        (6, Snippet::Expr),
    ]);
    match kind {
        Snippet::Print => print(rng, id),
        Snippet::Input => code(
            format!("x = input(\"i{id}> \")\nprint(\"got \" + x)"),
            new("py-input", "", 0).reader(&format!("i{id}> ")),
        ),
        Snippet::Sleep => {
            let d = rng.range(1, 10);
            let src = format!(
                "import time\nprint(\"a{id}\", flush=True)\ntime.sleep(0.{d})\nprint(\"b{id}\")"
            );
            code(src, new("py-sleep", &format!("a{id}\nb{id}\n"), 0))
        }
        Snippet::Exit => {
            let k = rng.range(0, 5) as i64;
            code(format!("raise SystemExit({k})"), new("py-exit", "", k))
        }
        Snippet::Error => code(
            format!("raise ValueError(\"v{id}\")"),
            new("py-error", "", 1).stderr(Stream::Any),
        ),
        Snippet::Die | Snippet::Kill => death(rng, matches!(kind, Snippet::Kill)),
        Snippet::Child | Snippet::Linger => child(rng, id, matches!(kind, Snippet::Linger)),
        Snippet::Expr => {
            let (a, b) = (rng.below(1 << 40), rng.below(1 << 40));
            code(
                format!("{a} + {b}"),
                new("py-expr", &format!("{}\n", a + b), 0),
            )
        }
    }
}

/// The interpreter exits (`os._exit`) or is killed: the query ends with its status, and a
/// fresh interpreter serves the next one.
fn death(rng: &mut Rng, kill: bool) -> Made {
    let k = rng.range(1, 6) as i64;
    let (label, src, exit) = match kill {
        true => (
            "py-kill",
            "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)".to_owned(),
            137,
        ),
        false => ("py-die", format!("import os\nos._exit({k})"), k),
    };
    code(
        src,
        TaskExp::new(label, TaskOp::Code, Vec::new(), exit).stderr(Stream::Any),
    )
}

/// A child process whose output is the snippet's, or one that outlives the snippet.
fn child(rng: &mut Rng, id: u64, linger: bool) -> Made {
    if linger {
        let d = rng.range(0, 10);
        let src = format!(
            "import os, subprocess\n_ = subprocess.Popen([\"sleep\", \"1.{d}\"], \
             env=dict(os.environ, CHAOS_LINGER=\"5\"))\nprint(\"spawned{id}\")"
        );
        let out = format!("spawned{id}\n").into_bytes();
        return code(src, TaskExp::new("py-linger", TaskOp::Code, out, 0));
    }
    let t = format!("c{id}-{:08x}", rng.next_u64() as u32);
    let n = rng.size(0, 256 << 10);
    let src = format!(
        "import subprocess\n_ = subprocess.run([\"sh\", \"-c\", \"yes '{t}' | head -c {n}\"])"
    );
    code(
        src,
        TaskExp::new("py-child", TaskOp::Code, pattern(&t, n), 0),
    )
}

fn print(rng: &mut Rng, id: u64) -> Made {
    let t = format!("p{id}-{:08x}", rng.next_u64() as u32);
    let n = match rng.below(10) {
        0..=5 => rng.size(0, 300),
        6..=8 => rng.size(300, 64 << 10),
        _ => rng.size(64 << 10, 1 << 20),
    };
    let mut src = format!("import sys\n_ = sys.stdout.write({})", text(&t, n));
    let mut exp = TaskExp::new("py-print", TaskOp::Code, pattern(&t, n), 0);
    if rng.chance(0.3) {
        let (e, m) = (format!("q{id}"), rng.size(0, 4096));
        src.push_str(&format!("\n_ = sys.stderr.write({})", text(&e, m)));
        exp = exp.stderr(Stream::Exact(pattern(&e, m)));
    }
    if rng.chance(0.2) {
        let k = rng.range(0, 4) as i64;
        src.push_str(&format!("\nraise SystemExit({k})"));
        exp = exp.exits(&[k]);
    }
    code(src, exp)
}
