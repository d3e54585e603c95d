//! Query mode through real Jupyter kernels: IRkernel (the `r` runner), ipykernel (`python`
//! with `KRUNNER_JUPYTER`), bash_kernel and xeus-python (the generic `jupyter` runner),
//! octave_kernel (the `octave` runner) and tslab's JavaScript kernel (`nodejs` with
//! `KRUNNER_JUPYTER`). Each is skipped with a message when its kernel is not installed (and
//! fails with `KRUNNER_REQUIRE_TOOLCHAINS=1`).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use krunner_tests::{krunner, require, Message, Options, Runner};
use serde_json::json;

/// A kernel's start plus a query, on a busy machine.
const SLOW: Duration = Duration::from_secs(90);

/// The kernels `krunner kernels` finds.
fn installed() -> &'static Vec<String> {
    static INSTALLED: OnceLock<Vec<String>> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let (code, out, err) = krunner(&["kernels", "--json"]);
        assert_eq!(code, Some(0), "{err}");
        let listing: serde_json::Value = serde_json::from_str(&out).expect("kernels --json");
        listing["kernels"]
            .as_array()
            .expect("kernels")
            .iter()
            .filter_map(|k| k["name"].as_str().map(str::to_owned))
            .collect()
    })
}

/// A runner for `language` with `environ`, when the kernel `kernel` is installed.
pub(crate) fn with_kernel(kernel: &str, language: &str, opts: Options) -> Option<Runner> {
    let present = installed().iter().any(|k| k == kernel);
    require(&format!("the Jupyter kernel {kernel:?}"), present)
        .then(|| Runner::start_with(language, opts))
}

/// The generic runner on `kernel`.
fn generic(kernel: &str) -> Option<Runner> {
    with_kernel(
        kernel,
        "jupyter",
        Options {
            runtime_path: Some(kernel.into()),
            ..Options::default()
        },
    )
}

/// Runs `code`, allowing for the kernel's start.
fn run(r: &Runner, code: &str) -> krunner_tests::Outcome {
    r.send("code", code);
    r.until_finished(SLOW)
}

/// Receives until a stdout message contains `marker`; returns what came.
fn until_stdout(r: &Runner, marker: &str) -> Vec<Message> {
    let deadline = Instant::now() + SLOW;
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = r.expect(left);
        assert!(
            !m.is_terminal(),
            "finished before {marker:?}: {got:?} {m:?}"
        );
        let found = m.kind == "stdout" && m.text().contains(marker);
        got.push(m);
        if found {
            return got;
        }
    }
}

/// Interrupts a query that printed `marker` and keeps running; the state survives.
fn interrupt_keeps_state(r: &Runner, code: &str, marker: &str, check: &str, expect: &str) {
    r.send("code", code);
    until_stdout(r, marker);
    r.send("interrupt", "");
    let out = r.until_finished(Duration::from_secs(30));
    assert_eq!(out.exit_code(), Some(130), "{out:?}");
    let out = run(r, check);
    assert!(out.stdout_text().contains(expect), "{out:?}");
}

/// Completions for `code` with the cursor at its end.
fn complete(r: &Runner, code: &str) -> Vec<String> {
    let request =
        json!({"code": code, "line": code, "row": 0, "col": code.chars().count(), "post": ""});
    r.send("complete", request.to_string());
    let m = r.expect(Duration::from_secs(5));
    assert_eq!(m.kind, "completion");
    serde_json::from_value(m.json()["suggestions"].clone()).expect("suggestions")
}

/// Answers an input request for `prompt` with `answer`; returns the query's outcome.
fn answer_input(
    r: &Runner,
    code: &str,
    prompt: &str,
    password: bool,
    answer: &str,
) -> krunner_tests::Outcome {
    r.send("code", code);
    let deadline = Instant::now() + SLOW;
    loop {
        let m = r.expect(deadline.saturating_duration_since(Instant::now()));
        assert!(!m.is_terminal(), "finished without asking: {m:?}");
        if m.kind == "waiting-input" {
            assert_eq!(m.json(), json!({"is_password": password}));
            break;
        }
        assert_eq!((m.kind.as_str(), m.text()), ("stdout", prompt.to_owned()));
    }
    r.send("input", answer);
    r.until_finished(SLOW)
}

#[test]
fn r_queries_go_to_irkernel() {
    let Some(r) = with_kernel("ir", "r", Options::default()) else {
        return;
    };
    assert_eq!(run(&r, "x <- 41").exit_code(), Some(0));
    let out = run(&r, "cat(x + 1, '\\n')\nmessage('to stderr')");
    assert_eq!(out.stdout_text(), "42 \n");
    assert_eq!(out.stderr_text(), "to stderr\n");
    let out = run(&r, "stop('boom')");
    assert_eq!(out.exit_code(), Some(1));
    assert!(out.stderr_text().contains("boom"), "{out:?}");
    assert!(!out.stderr_text().contains('\x1b'), "{out:?}");
    // Rich output: a plot as PNG, a data frame as an HTML table.
    let out = run(&r, "plot(1:10)");
    let media = out.of("media");
    assert_eq!(media.len(), 1, "{out:?}");
    assert_eq!(media[0].json()["type"], "image/png");
    let data = media[0].json()["data"].as_str().unwrap().to_owned();
    assert!(
        data.starts_with("data:image/png;base64,iVBOR"),
        "{}",
        &data[..40.min(data.len())]
    );
    let out = run(&r, "data.frame(a = 1:2, b = c('x', 'y'))");
    let html = out.of("html");
    assert_eq!(html.len(), 1, "{out:?}");
    assert!(html[0].text().contains("<table"), "{}", html[0].text());
    let out = answer_input(
        &r,
        "name <- readline('name? ')\ncat('hi', name, '\\n')",
        "name? ",
        false,
        "Ada",
    );
    assert_eq!(out.stdout_text(), "hi Ada \n");
    interrupt_keeps_state(
        &r,
        "cat('running\\n')\nwhile (TRUE) {}",
        "running",
        "cat(x, '\\n')",
        "41",
    );
    run(&r, "mySpecialVariable <- 1");
    assert!(complete(&r, "mySpecialVa").contains(&"mySpecialVariable".to_owned()));
}

#[test]
fn python_with_krunner_jupyter_uses_ipykernel() {
    let opts = Options {
        environ: Some("KRUNNER_JUPYTER=python3\n".into()),
        ..Options::default()
    };
    let Some(r) = with_kernel("python3", "python", opts) else {
        return;
    };
    assert_eq!(run(&r, "import sys, time\nx = 41").exit_code(), Some(0));
    let out = run(&r, "print(x + 1)\nprint('e', file=sys.stderr)\nx");
    assert_eq!(out.stdout_text(), "42\n41\n");
    assert_eq!(out.stderr_text(), "e\n");
    let out = run(&r, "1/0");
    assert_eq!(out.exit_code(), Some(1));
    let err = out.stderr_text();
    assert!(
        err.contains("ZeroDivisionError") && !err.contains('\x1b'),
        "{err}"
    );
    let out = run(&r, "from IPython.display import HTML, SVG\ndisplay(HTML('<b>x</b>'), SVG('<svg xmlns=\"http://www.w3.org/2000/svg\"/>'))");
    assert_eq!(out.of("html")[0].text(), "<b>x</b>");
    assert_eq!(out.of("media")[0].json()["type"], "image/svg+xml");
    let out = answer_input(
        &r,
        "import getpass\np = getpass.getpass('pw? ')\nprint(len(p))",
        "pw? ",
        true,
        "secret",
    );
    assert_eq!(out.stdout_text(), "6\n");
    interrupt_keeps_state(
        &r,
        "print('running', flush=True)\ntime.sleep(60)",
        "running",
        "print(x)",
        "41",
    );
    assert!(
        complete(&r, "import collections; collections.Ordered").contains(&"OrderedDict".to_owned())
    );
    // A kernel that dies is reported, and the next query gets a fresh one.
    let out = run(&r, "import os; os._exit(3)");
    assert_eq!(out.exit_code(), Some(3), "{out:?}");
    assert!(
        out.stderr_text().contains("exited with status 3"),
        "{out:?}"
    );
    let out = run(&r, "print('x' in dir())");
    assert_eq!(out.stdout_text(), "False\n");
}

#[test]
fn bash_kernel_through_the_generic_runner() {
    let Some(r) = generic("bash") else { return };
    assert_eq!(run(&r, "x=41").exit_code(), Some(0));
    let out = run(&r, "echo $((x + 1)); echo err >&2");
    assert_eq!(out.stdout_text(), "42\n");
    assert!(out.stderr_text().contains("err"), "{out:?}");
    assert_eq!(run(&r, "false").exit_code(), Some(1));
    interrupt_keeps_state(&r, "echo running; sleep 60", "running", "echo $x", "41");
    assert!(complete(&r, "ech").contains(&"echo".to_owned()));
}

#[test]
fn octave_queries_go_to_octave_kernel() {
    let Some(r) = with_kernel("octave", "octave", Options::default()) else {
        return;
    };
    assert_eq!(run(&r, "x = 41;").exit_code(), Some(0));
    let out = run(&r, "disp(x + 1)");
    assert_eq!(out.stdout_text().trim(), "42");
    // octave_kernel reports Octave's errors as output with the status ok.
    let out = run(&r, "error('boom')");
    assert!(out.stdout_text().contains("boom"), "{out:?}");
    interrupt_keeps_state(
        &r,
        "disp('running'); fflush(stdout); pause(60)",
        "running",
        "disp(x)",
        "41",
    );
    run(&r, "mySpecialVariable = 1;");
    assert!(complete(&r, "mySpecialVa").contains(&"mySpecialVariable".to_owned()));
}

#[test]
fn xeus_python_through_the_generic_runner() {
    let Some(r) = generic("xpython") else { return };
    assert_eq!(run(&r, "import sys, time\nx = 41").exit_code(), Some(0));
    let out = run(&r, "print(x + 1)\nprint('e', file=sys.stderr)");
    assert_eq!(out.stdout_text(), "42\n");
    assert_eq!(out.stderr_text(), "e\n");
    assert_eq!(run(&r, "raise ValueError('v')").exit_code(), Some(1));
    let out = answer_input(
        &r,
        "n = input('name? ')\nprint('hi', n)",
        "name? ",
        false,
        "Ada",
    );
    assert_eq!(out.stdout_text(), "hi Ada\n");
    interrupt_keeps_state(
        &r,
        "print('running', flush=True)\ntime.sleep(60)",
        "running",
        "print(x)",
        "41",
    );
    assert!(
        complete(&r, "import collections; collections.Ordered").contains(&"OrderedDict".to_owned())
    );
}

#[test]
fn nodejs_with_krunner_jupyter_uses_a_javascript_kernel() {
    let opts = Options {
        environ: Some("KRUNNER_JUPYTER=jslab\n".into()),
        ..Options::default()
    };
    let Some(r) = with_kernel("jslab", "nodejs", opts) else {
        return;
    };
    assert_eq!(run(&r, "var x = 41;").exit_code(), Some(0));
    let out = run(&r, "console.log(x + 1); console.error('e');");
    assert_eq!(out.stdout_text(), "42\n");
    assert_eq!(out.stderr_text(), "e\n");
    assert_eq!(run(&r, "throw new Error('boom')").exit_code(), Some(1));
    interrupt_keeps_state(
        &r,
        "console.log('running'); while (true) {}",
        "running",
        "console.log(x)",
        "41",
    );
    run(&r, "var mySpecialVariable = 1;");
    assert!(complete(&r, "mySpecialVa").contains(&"mySpecialVariable".to_owned()));
}
