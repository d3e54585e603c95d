//! The nodejs plugin's stateful query mode, with the real node.

use std::time::Duration;

use krunner_tests::{require, Options, Runner};

fn node() -> Option<Runner> {
    let present = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok();
    require("node", present).then(|| {
        Runner::start_with(
            "nodejs",
            Options {
                files: vec![(
                    "lib.js".into(),
                    b"module.exports = { twice: (n) => 2 * n };\n".to_vec(),
                )],
                ..Options::default()
            },
        )
    })
}

#[test]
fn state_persists_and_require_resolves_from_the_session_directory() {
    let Some(r) = node() else { return };
    assert_eq!(
        r.run("code", "let x = 41; function f(y) { return x + y; }")
            .exit_code(),
        Some(0)
    );
    assert_eq!(r.run("code", "f(1)").stdout_text(), "42\n");
    let out = r.run(
        "code",
        "const lib = require('./lib.js');\nconsole.log(lib.twice(x))",
    );
    assert_eq!(out.stdout_text(), "82\n", "{}", out.stderr_text());
}

#[test]
fn child_output_is_captured_in_order() {
    let Some(r) = node() else { return };
    let out = r.run(
        "code",
        "console.log('a');\nrequire('child_process').execSync('echo child', { stdio: 'inherit' });\nconsole.log('b');",
    );
    assert_eq!(out.stdout_text(), "a\nchild\nb\n", "{}", out.stderr_text());
}

#[test]
fn errors_exit_codes_and_exit_keep_the_session() {
    let Some(r) = node() else { return };
    r.run("code", "var kept = 'yes'");
    let out = r.run("code", "throw new Error('boom')");
    assert_eq!(out.exit_code(), Some(1));
    let err = out.stderr_text();
    assert!(err.contains("Error: boom"), "{err}");
    assert!(
        !err.contains("node:") && !err.contains("krunner_driver"),
        "internal frames: {err}"
    );
    assert_eq!(r.run("code", "process.exit(4)").exit_code(), Some(4));
    assert_eq!(r.run("code", "console.log(kept)").stdout_text(), "yes\n");
}

#[test]
fn input_and_interrupts_keep_state() {
    let Some(r) = node() else { return };
    r.run("code", "var kept = 7");
    r.send(
        "code",
        "const name = await input('name? ');\nconsole.log('hi', name);",
    );
    assert_eq!(r.expect(Duration::from_secs(10)).text(), "name? ");
    assert_eq!(
        r.expect(Duration::from_secs(10)).json(),
        serde_json::json!({"is_password": false})
    );
    r.send("input", "Ada");
    assert_eq!(r.until_finished(crate::TASK).stdout_text(), "hi Ada\n");
    for code in [
        "console.log('running'); while (true) {}",
        "console.log('running'); await new Promise((resolve) => setTimeout(resolve, 100000))",
    ] {
        r.send("code", code);
        assert_eq!(
            r.expect(Duration::from_secs(10)).text(),
            "running\n",
            "{code}"
        );
        r.send("interrupt", "");
        let out = r.until_finished(Duration::from_secs(10));
        assert_eq!(out.exit_code(), Some(130), "{code}");
    }
    assert_eq!(r.run("code", "kept * 6").stdout_text(), "42\n");
}

#[test]
fn completion_comes_from_the_live_scope() {
    let Some(r) = node() else { return };
    r.run("code", "var mySpecialThing = { alpha: 1, beta: 2 }");
    r.send(
        "complete",
        r#"{"code":"mySpe","line":"mySpe","row":0,"col":5,"post":""}"#,
    );
    let m = r.expect(Duration::from_secs(5));
    assert_eq!(
        m.json()["suggestions"],
        serde_json::json!(["mySpecialThing"])
    );
    r.send("complete", r#"{"line":"mySpecialThing.al","col":17}"#);
    let m = r.expect(Duration::from_secs(5));
    assert_eq!(m.json()["suggestions"], serde_json::json!(["alpha"]));
}

#[test]
fn is_complete_answers_with_the_parser() {
    let present = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok();
    if !require("node", present) {
        return;
    }
    let r = Runner::start_with(
        "nodejs",
        Options {
            args: vec!["--console-ops".into()],
            ..Options::default()
        },
    );
    let status = |code: &str| {
        r.is_complete(code)["status"]
            .as_str()
            .unwrap_or("?")
            .to_owned()
    };
    assert_eq!(status("let x = 1"), "complete");
    assert_eq!(status("function f() {"), "incomplete");
    assert_eq!(r.is_complete("function f() {")["indent"], "  ");
    assert_eq!(status("function f() {\n  return 1;\n}"), "complete");
    assert_eq!(status("const y = await Promise.resolve(["), "incomplete");
    assert_eq!(status("const z = await Promise.resolve(1)"), "complete");
    assert_eq!(status("} x"), "invalid");
}
