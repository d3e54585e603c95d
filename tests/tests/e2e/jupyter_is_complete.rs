//! The console's `krunner/is-complete` (docs/protocol.md §2.11) when queries run in a Jupyter
//! kernel (§7.5): the kernel's `is_complete_request` answers once a query started it, with
//! ipykernel (the `python` runner with `KRUNNER_JUPYTER`, and the generic `jupyter` runner) and
//! IRkernel (the `r` runner). Skipped like the other kernel tests when a kernel is missing.

use std::time::{Duration, Instant};

use krunner_tests::{Options, Runner};
use serde_json::{json, Value};

use crate::jupyter::with_kernel;

/// A kernel's start plus a query, on a busy machine.
const SLOW: Duration = Duration::from_secs(90);

/// Options for a console's runner with `environ`.
fn console(runtime_path: Option<&str>, environ: &str) -> Options {
    Options {
        runtime_path: runtime_path.map(str::to_owned),
        args: vec!["--console-ops".into()],
        environ: Some(environ.into()),
        ..Options::default()
    }
}

/// Runs `code` (starting the kernel) and expects it to succeed.
fn run_ok(r: &Runner, code: &str) {
    r.send("code", code);
    let out = r.until_finished(SLOW);
    assert_eq!(out.exit_code(), Some(0), "{out:?}");
}

fn answer(status: &str, indent: &str) -> Value {
    json!({"status": status, "indent": indent})
}

/// What ipykernel says once it runs, whichever runner drives it. `!ls` is IPython syntax, so
/// only the kernel calls it complete (Python's `codeop` calls it invalid).
fn ipykernel_answers(r: &Runner) {
    assert_eq!(r.is_complete("def f():"), answer("incomplete", "    "));
    assert_eq!(
        r.is_complete("for i in range(3):\n    if i:"),
        answer("incomplete", "        ")
    );
    assert_eq!(r.is_complete("x = 1"), answer("complete", ""));
    assert_eq!(r.is_complete("!ls"), answer("complete", ""));
    assert_eq!(r.is_complete("x = = 1"), answer("invalid", ""));
}

#[test]
fn is_complete_in_python_goes_to_ipykernel_once_it_runs() {
    let opts = console(None, "KRUNNER_JUPYTER=python3\n");
    let Some(r) = with_kernel("python3", "python", opts) else {
        return;
    };
    // Before the first query no kernel runs, and the plugin's own codeop answers.
    assert_eq!(r.is_complete("def f():"), answer("incomplete", "    "));
    assert_eq!(r.is_complete("!ls")["status"], "invalid");
    run_ok(&r, "x = 41");
    ipykernel_answers(&r);
    // While a query runs the kernel cannot answer: `unknown`, and the query is unaffected.
    r.send(
        "code",
        "import time\nprint('running', flush=True)\ntime.sleep(30)",
    );
    let deadline = Instant::now() + SLOW;
    loop {
        let m = r.expect(deadline.saturating_duration_since(Instant::now()));
        assert!(!m.is_terminal(), "finished early: {m:?}");
        if m.kind == "stdout" && m.text().contains("running") {
            break;
        }
    }
    assert_eq!(r.is_complete("def f():")["status"], "unknown");
    r.send("interrupt", "");
    let out = r.until_finished(Duration::from_secs(30));
    assert_eq!(out.exit_code(), Some(130), "{out:?}");
    assert_eq!(r.is_complete("def f():"), answer("incomplete", "    "));
}

#[test]
fn is_complete_in_the_generic_runner_asks_the_kernel() {
    let Some(r) = with_kernel("python3", "jupyter", console(Some("python3"), "")) else {
        return;
    };
    // No kernel is started just to answer.
    assert_eq!(r.is_complete("def f():")["status"], "unknown");
    run_ok(&r, "x = 41");
    ipykernel_answers(&r);
}

#[test]
fn is_complete_in_r_asks_irkernel() {
    let Some(r) = with_kernel("ir", "r", console(None, "")) else {
        return;
    };
    assert_eq!(r.is_complete("f <- function() {")["status"], "unknown");
    run_ok(&r, "x <- 41");
    // IRkernel suggests no indentation.
    assert_eq!(r.is_complete("f <- function() {"), answer("incomplete", ""));
    assert_eq!(r.is_complete("s <- 'abc"), answer("incomplete", ""));
    assert_eq!(r.is_complete("x <- 1"), answer("complete", ""));
    assert_eq!(r.is_complete("x <- <- 1"), answer("invalid", ""));
}
