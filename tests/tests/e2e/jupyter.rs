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

/// One completion request for `code` with the cursor at its end; the suggestions.
fn complete_once(r: &Runner, code: &str) -> Vec<String> {
    let request =
        json!({"code": code, "line": code, "row": 0, "col": code.chars().count(), "post": ""});
    r.send("complete", request.to_string());
    let m = r.expect(Duration::from_secs(5));
    assert_eq!(m.kind, "completion");
    serde_json::from_value(m.json()["suggestions"].clone()).expect("suggestions")
}

/// Whether completing `code` offers `wanted`, asking again for up to 20 s: a kernel's first
/// completions (jedi's caches, R's help index) may miss the host's 1 s deadline on a busy
/// machine, and later ones are fast.
fn completes(r: &Runner, code: &str, wanted: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if complete_once(r, code).iter().any(|s| s == wanted) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
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
    // IRkernel ends a message() with an empty line of its own.
    assert!(out.stderr_text().starts_with("to stderr\n"), "{out:?}");
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
    assert!(completes(&r, "mySpecialVa", "mySpecialVariable"));
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
    assert!(completes(
        &r,
        "import collections; collections.Ordered",
        "OrderedDict"
    ));
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
    // bash_kernel runs bash on a terminal: its stderr arrives with its stdout, as `stream`
    // stdout messages.
    let out = run(&r, "echo $((x + 1)); echo err >&2");
    assert_eq!(out.stdout_text(), "42\nerr\n");
    assert_eq!(run(&r, "false").exit_code(), Some(1));
    interrupt_keeps_state(&r, "echo running; sleep 60", "running", "echo $x", "41");
    assert!(completes(&r, "ech", "echo"));
    // Batch mode runs main.sh with bash.
    let batch = with_kernel(
        "bash",
        "jupyter",
        Options {
            runtime_path: Some("bash".into()),
            files: vec![("main.sh".into(), b"echo batch $((6 * 7))\n".to_vec())],
            ..Options::default()
        },
    );
    let out = batch.expect("bash is installed").run("exec", "*");
    assert_eq!(out.stdout_text(), "batch 42\n", "{out:?}");
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
    assert!(completes(&r, "mySpecialVa", "mySpecialVariable"));
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
    assert!(completes(
        &r,
        "import collections; collections.Ordered",
        "OrderedDict"
    ));
    // xeus-python's PyPI build exits on SIGINT (as it does under jupyter_client): the death
    // during the query is reported, the query ends, and the next query gets a fresh kernel.
    r.send("code", "print('running', flush=True)\ntime.sleep(60)");
    until_stdout(&r, "running");
    r.send("interrupt", "");
    let out = r.until_finished(Duration::from_secs(30));
    match out.exit_code() {
        Some(130) => assert_eq!(run(&r, "print(x)").stdout_text(), "41\n"),
        _ => {
            assert!(
                out.stderr_text().contains("a fresh kernel starts"),
                "{out:?}"
            );
            let out = run(&r, "print('x' in dir())");
            assert_eq!(out.stdout_text(), "False\n", "{out:?}");
        }
    }
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
    interrupt_keeps_state(
        &r,
        "console.log('running'); while (true) {}",
        "running",
        "console.log(x)",
        "41",
    );
    run(&r, "var mySpecialVariable = 1;");
    assert!(completes(&r, "mySpecialVa", "mySpecialVariable"));
    let out = run(&r, "throw new Error('boom')");
    assert_eq!(out.exit_code(), Some(1));
    assert!(out.stderr_text().contains("Error: boom"), "{out:?}");
    // tslab aborts what arrives within 200 ms of an error; the bridge sends it again.
    assert_eq!(run(&r, "console.log(x)").stdout_text(), "41\n");
}

/// A kernelspec directory whose kernel.json has `argv`.
fn kernelspec(argv: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = json!({"argv": argv, "display_name": "broken", "language": "none"});
    std::fs::write(dir.path().join("kernel.json"), json.to_string()).expect("kernel.json");
    dir
}

/// The generic runner on the kernelspec in `dir`, with `environ`.
fn on_spec(dir: &tempfile::TempDir, environ: &str) -> Runner {
    Runner::start_with(
        "jupyter",
        Options {
            runtime_path: Some(dir.path().display().to_string()),
            environ: Some(environ.into()),
            ..Options::default()
        },
    )
}

/// Two queries fail with `code` and `text` on stderr, and the runner still answers `status`.
fn fails_and_keeps_serving(r: &Runner, code: i64, text: &str) {
    for _ in 0..2 {
        let out = run(r, "1");
        assert_eq!(out.exit_code(), Some(code), "{out:?}");
        assert!(out.stderr_text().contains(text), "{out:?}");
    }
    r.status();
}

#[test]
fn a_kernel_whose_program_is_missing() {
    let dir = kernelspec(&["no-such-kernel-program", "-f", "{connection_file}"]);
    let r = on_spec(&dir, "");
    fails_and_keeps_serving(
        &r,
        127,
        "its program \"no-such-kernel-program\" is not installed",
    );
    // Batch mode for a language without an obvious interpreter is unsupported.
    let out = r.run("exec", "*");
    assert_eq!(out.exit_code(), Some(127), "{out:?}");
    assert!(out.stderr_text().contains("is not supported"), "{out:?}");
}

#[test]
fn a_kernel_that_exits_at_start() {
    let dir = kernelspec(&[
        "sh",
        "-c",
        "echo cannot start >&2; exit 3",
        "{connection_file}",
    ]);
    let r = on_spec(&dir, "");
    fails_and_keeps_serving(&r, 1, "exited during startup with status 3");
    let out = run(&r, "1");
    assert!(out.stderr_text().contains("cannot start"), "{out:?}");
}

#[test]
fn a_kernel_that_never_answers_kernel_info() {
    let dir = kernelspec(&["sh", "-c", "exec sleep 600", "sh", "{connection_file}"]);
    let r = on_spec(&dir, "KRUNNER_JUPYTER_TIMEOUT=2\n");
    let started = Instant::now();
    fails_and_keeps_serving(&r, 1, "did not answer kernel_info within 2 s");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_generic_runner_without_a_kernel_name_lists_the_kernels() {
    if installed().len() < 2 {
        return;
    }
    let r = Runner::start("jupyter");
    let out = run(&r, "1");
    assert_eq!(out.exit_code(), Some(127), "{out:?}");
    let err = out.stderr_text();
    assert!(
        err.contains("several Jupyter kernels are installed"),
        "{err}"
    );
    assert!(
        installed().iter().all(|k| err.contains(k.as_str())),
        "{err}"
    );
}

#[test]
fn completion_is_answered_while_a_query_runs() {
    let Some(r) = generic("python3") else { return };
    assert_eq!(
        run(&r, "import time\nmySpecialVariable = 1").exit_code(),
        Some(0)
    );
    r.send("code", "print('running', flush=True)\ntime.sleep(60)");
    until_stdout(&r, "running");
    // ipykernel answers shell requests one at a time: the host's deadline answers for it.
    let asked = Instant::now();
    let suggestions = complete_once(&r, "mySpecialVa");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
    assert!(
        suggestions.iter().all(|s| s.starts_with("mySpecialVa")),
        "{suggestions:?}"
    );
    r.send("interrupt", "");
    assert_eq!(
        r.until_finished(Duration::from_secs(30)).exit_code(),
        Some(130)
    );
    // The late reply to the completion does not disturb what follows.
    assert!(completes(&r, "mySpecialVa", "mySpecialVariable"));
    assert_eq!(run(&r, "print(mySpecialVariable)").stdout_text(), "1\n");
}

#[test]
fn interrupt_mode_message_sends_interrupt_request() {
    if !require(
        "the Jupyter kernel \"python3\"",
        installed().iter().any(|k| k == "python3"),
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = json!({
        "argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "ipykernel, interrupted by message",
        "language": "python",
        "interrupt_mode": "message",
    });
    std::fs::write(dir.path().join("kernel.json"), spec.to_string()).expect("kernel.json");
    let r = on_spec(&dir, "");
    assert_eq!(run(&r, "import time\nx = 41").exit_code(), Some(0));
    interrupt_keeps_state(
        &r,
        "print('running', flush=True)\ntime.sleep(60)",
        "running",
        "print(x)",
        "41",
    );
}
