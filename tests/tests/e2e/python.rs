//! The python plugin: a persistent query-mode session and batch mode, with the real python3.

use std::time::{Duration, Instant};

use krunner_tests::{python_has, require, Options, Runner};

fn python() -> Option<Runner> {
    let present = std::process::Command::new("python3")
        .arg("-V")
        .output()
        .is_ok();
    require("python3", present).then(|| Runner::start("python"))
}

#[test]
fn state_persists_across_queries() {
    let Some(r) = python() else { return };
    assert_eq!(
        r.run("code", "import math\nx = 40\ndef f(y):\n    return x + y")
            .exit_code(),
        Some(0)
    );
    let out = r.run("code", "print(f(2), math.pi > 3)");
    assert_eq!(out.stdout_text(), "42 True\n");
    // A trailing expression is shown like IPython.
    assert_eq!(r.run("code", "x * 2").stdout_text(), "80\n");
    assert_eq!(r.run("code", "None").stdout_text(), "");
}

#[test]
fn output_streams_while_the_query_runs() {
    let Some(r) = python() else { return };
    r.send(
        "code",
        "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.4)",
    );
    let started = Instant::now();
    let first = r.expect(Duration::from_secs(10));
    let first_at = started.elapsed();
    assert_eq!(first.text(), "tick 0\n");
    let out = r.until_finished(crate::TASK);
    assert!(
        started.elapsed() - first_at > Duration::from_millis(600),
        "output was not streamed"
    );
    assert_eq!(out.stdout_text(), "tick 1\ntick 2\n");
}

#[test]
fn fd_level_output_of_children_and_c_code_is_captured_in_order() {
    let Some(r) = python() else { return };
    let out = r.run(
        "code",
        "import os, subprocess\nprint('a')\nos.system('echo from-system')\nsubprocess.run(['echo', 'from-subprocess'])\nos.write(1, b'raw-fd\\n')\nprint('b')",
    );
    assert_eq!(
        out.stdout_text(),
        "a\nfrom-system\nfrom-subprocess\nraw-fd\nb\n"
    );
}

#[test]
fn print_display_print_keep_their_order() {
    let Some(r) = python() else { return };
    let code = "class H:\n    def _repr_html_(self):\n        return '<b>h</b>'\nprint('one')\ndisplay(H())\nprint('two')";
    let out = r.run("code", code);
    let kinds: Vec<(&str, String)> = out
        .messages
        .iter()
        .map(|m| (m.kind.as_str(), m.text()))
        .collect();
    let pos = |k: &str, t: &str| {
        kinds
            .iter()
            .position(|(kk, tt)| *kk == k && tt.contains(t))
            .unwrap()
    };
    assert!(pos("stdout", "one") < pos("html", "<b>h</b>"));
    assert!(pos("html", "<b>h</b>") < pos("stdout", "two"));
}

#[test]
fn exit_codes_and_exceptions() {
    let Some(r) = python() else { return };
    let out = r.run("code", "def g():\n    raise ValueError('bad value')\ng()");
    assert_eq!(out.exit_code(), Some(1));
    let err = out.stderr_text();
    assert!(
        err.starts_with("Traceback (most recent call last):"),
        "{err}"
    );
    assert!(err.contains("ValueError: bad value"), "{err}");
    assert!(
        !err.contains("krunner_driver"),
        "helper frames must be removed: {err}"
    );
    assert_eq!(r.run("code", "raise SystemExit(4)").exit_code(), Some(4));
    assert_eq!(r.run("code", "exit(3)").exit_code(), Some(3));
    assert_eq!(r.run("code", "import sys; sys.exit()").exit_code(), Some(0));
    assert_eq!(
        r.run("code", "print('still here')").stdout_text(),
        "still here\n"
    );
    let out = r.run("code", "def broken(:\n  pass");
    assert_eq!(out.exit_code(), Some(1));
    assert!(
        out.stderr_text().contains("SyntaxError"),
        "{}",
        out.stderr_text()
    );
}

#[test]
fn input_and_getpass_ask_the_user() {
    let Some(r) = python() else { return };
    r.send(
        "code",
        "a = input('first? ')\nimport getpass\nb = getpass.getpass()\nprint(a, len(b))",
    );
    let prompt = r.expect(Duration::from_secs(10));
    assert_eq!(
        (prompt.kind.as_str(), prompt.text().as_str()),
        ("stdout", "first? ")
    );
    let wait = r.expect(Duration::from_secs(10));
    assert_eq!(wait.json(), serde_json::json!({"is_password": false}));
    r.send("input", "alpha");
    let prompt = r.expect(Duration::from_secs(10));
    assert_eq!(prompt.text(), "Password: ");
    assert_eq!(
        r.expect(Duration::from_secs(10)).json(),
        serde_json::json!({"is_password": true})
    );
    r.send("input", "secret");
    let out = r.until_finished(crate::TASK);
    assert_eq!(out.stdout_text(), "alpha 6\n");
}

#[test]
fn interrupt_raises_keyboard_interrupt_and_keeps_state() {
    let Some(r) = python() else { return };
    r.run("code", "kept = 'yes'");
    r.send(
        "code",
        "import time\nprint('sleeping', flush=True)\ntime.sleep(100)",
    );
    assert_eq!(r.expect(Duration::from_secs(10)).text(), "sleeping\n");
    let started = Instant::now();
    r.send("interrupt", "");
    let out = r.until_finished(Duration::from_secs(10));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        out.stderr_text().contains("KeyboardInterrupt"),
        "{}",
        out.stderr_text()
    );
    assert_eq!(out.exit_code(), Some(130));
    assert_eq!(r.run("code", "print(kept)").stdout_text(), "yes\n");
    // Also while waiting for input.
    r.send("code", "input('? ')");
    assert_eq!(r.expect(Duration::from_secs(10)).kind, "stdout");
    assert_eq!(r.expect(Duration::from_secs(10)).kind, "waiting-input");
    r.send("interrupt", "");
    let out = r.until_finished(Duration::from_secs(10));
    assert_eq!(out.exit_code(), Some(130));
    assert_eq!(r.run("code", "print(kept)").stdout_text(), "yes\n");
}

#[test]
fn a_dead_session_is_reported_and_replaced() {
    let Some(r) = python() else { return };
    r.run("code", "lost = 1");
    let out = r.run("code", "import os\nos._exit(3)");
    assert_eq!(out.exit_code(), Some(3));
    assert!(
        out.stderr_text().contains("session exited with status 3"),
        "{}",
        out.stderr_text()
    );
    let out = r.run("code", "print('lost' in globals())");
    assert_eq!(out.stdout_text(), "False\n");
    let out = r.run(
        "code",
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
    );
    assert_eq!(out.exit_code(), Some(137));
    assert!(
        out.stderr_text().contains("killed by signal 9"),
        "{}",
        out.stderr_text()
    );
    assert_eq!(r.run("code", "print(6 * 7)").stdout_text(), "42\n");
}

#[test]
fn completion_uses_the_live_namespace_even_during_a_query() {
    let Some(r) = python() else { return };
    r.run("code", "my_special_variable = 1");
    r.send(
        "code",
        "import time\nprint('running', flush=True)\ntime.sleep(2)",
    );
    assert_eq!(r.expect(Duration::from_secs(10)).text(), "running\n");
    let started = Instant::now();
    r.send(
        "complete",
        r#"{"code":"my_spe","line":"my_spe","row":0,"col":6,"post":""}"#,
    );
    let mut reply = r.expect(Duration::from_secs(5));
    while reply.kind != "completion" {
        reply = r.expect(Duration::from_secs(5));
    }
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let suggestions = reply.json()["suggestions"].clone();
    assert!(
        suggestions
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "my_special_variable"),
        "{suggestions}"
    );
    r.until_finished(crate::TASK);
}

#[test]
fn big_and_non_ascii_output() {
    let Some(r) = python() else { return };
    let out = r.run("code", "print('x' * 1_000_000)");
    assert_eq!(out.stdout().len(), 1_000_001);
    let out = r.run("code", "print('héllo wörld ✓ 你好')");
    assert_eq!(out.stdout_text(), "héllo wörld ✓ 你好\n");
}

#[test]
fn rich_reprs_become_html_and_media() {
    let Some(r) = python() else { return };
    let code = "class P:\n    def _repr_png_(self):\n        return b'\\x89PNG-bytes'\nclass S:\n    def _repr_svg_(self):\n        return '<svg/>'\ndisplay(P(), S())";
    let out = r.run("code", code);
    let media = out.of("media");
    assert_eq!(media.len(), 2);
    assert_eq!(media[0].json()["type"], "image/png");
    assert!(media[0].json()["data"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png;base64,"));
    assert_eq!(
        media[1].json(),
        serde_json::json!({"type": "image/svg+xml", "data": "<svg/>"})
    );
}

#[test]
fn pandas_frames_are_html() {
    let Some(r) = python() else { return };
    if !require("python3 module pandas", python_has("pandas")) {
        return;
    }
    let out = r.run("code", "import pandas as pd\npd.DataFrame({'a': [1, 2]})");
    assert_eq!(out.exit_code(), Some(0), "{}", out.stderr_text());
    let html = out.of("html");
    assert_eq!(html.len(), 1);
    assert!(html[0].text().contains("<table"), "{}", html[0].text());
}

#[test]
fn matplotlib_show_emits_each_figure_without_a_display() {
    let Some(r) = python() else { return };
    if !require("python3 module matplotlib", python_has("matplotlib")) {
        return;
    }
    let code = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.figure()\nplt.bar([1], [2])\nplt.show()";
    let out = r.run("code", code);
    assert_eq!(out.exit_code(), Some(0), "{}", out.stderr_text());
    let media = out.of("media");
    assert_eq!(
        media.len(),
        2,
        "{:?}",
        out.messages.iter().map(|m| &m.kind).collect::<Vec<_>>()
    );
    for m in media {
        assert_eq!(m.json()["type"], "image/svg+xml");
        assert!(m.json()["data"].as_str().unwrap().contains("<svg"));
    }
}

#[test]
fn batch_mode_runs_main_py_in_batch_mode() {
    if !require(
        "python3",
        std::process::Command::new("python3")
            .arg("-V")
            .output()
            .is_ok(),
    ) {
        return;
    }
    let r = Runner::start_with(
        "python",
        Options {
            files: vec![(
                "main.py".into(),
                b"import os\nprint('batch', os.environ.get('_BACKEND_BATCH_MODE'))\n".to_vec(),
            )],
            ..Options::default()
        },
    );
    assert_eq!(r.run("build", "*").exit_code(), Some(0));
    assert_eq!(r.run("exec", "*").stdout_text(), "batch 1\n");
    std::fs::remove_file(r.work.path().join("main.py")).unwrap();
    let out = r.run("exec", "*");
    assert_eq!(out.exit_code(), Some(127));
    assert!(
        out.stderr_text().contains("main.py"),
        "{}",
        out.stderr_text()
    );
}

#[test]
fn a_missing_interpreter_is_named() {
    let r = Runner::start_with(
        "python",
        Options {
            runtime_path: Some("/nonexistent/python9".into()),
            ..Options::default()
        },
    );
    let out = r.run("code", "print(1)");
    assert_eq!(out.exit_code(), Some(127));
    assert!(
        out.stderr_text().contains("/nonexistent/python9"),
        "{}",
        out.stderr_text()
    );
}

#[test]
fn is_complete_answers_with_codeop() {
    let present = std::process::Command::new("python3")
        .arg("-V")
        .output()
        .is_ok();
    if !require("python3", present) {
        return;
    }
    let r = Runner::start_with(
        "python",
        Options {
            args: vec!["--console-ops".into()],
            ..Options::default()
        },
    );
    let verdict = |code: &str| {
        let v = r.is_complete(code);
        (
            v["status"].as_str().unwrap_or("?").to_owned(),
            v["indent"].as_str().unwrap_or("?").to_owned(),
        )
    };
    let incomplete = |indent: &str| ("incomplete".to_owned(), indent.to_owned());
    let plain = |status: &str| (status.to_owned(), String::new());
    assert_eq!(verdict("x = 1"), plain("complete"));
    assert_eq!(verdict("def f(x):"), incomplete("    "));
    assert_eq!(verdict("def f(x):\n    return x"), incomplete("    "));
    assert_eq!(verdict("def f(x):\n    return x\n"), plain("complete"));
    assert_eq!(verdict("print((1,"), incomplete(""));
    assert_eq!(verdict("1 +"), plain("invalid"));
    // Answered while a query runs, from the same interpreter.
    r.send("code", "import time\ntime.sleep(1)");
    assert_eq!(verdict("class A:"), incomplete("    "));
    assert_eq!(r.until_finished(crate::TASK).exit_code(), Some(0));
}
