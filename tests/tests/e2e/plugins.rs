//! The plugin boundary: panics, input, rich output, and validation of what plugins send.

use std::time::Duration;

use krunner_tests::Runner;

#[test]
fn a_panicking_plugin_does_not_take_the_host_down() {
    let r = Runner::start("panicky");
    let out = r.run("code", "panic now");
    assert_eq!(out.exit_code(), Some(-1));
    assert!(
        out.stderr_text().contains("panicked: boom: now"),
        "{}",
        out.stderr_text()
    );
    // The runner was replaced and works.
    let out = r.run("code", "ok");
    assert_eq!(out.stdout_text(), "fine\n");
    // Panics in a heuristic and in completion are contained too.
    assert_eq!(r.run("build", "*").exit_code(), Some(-1));
    r.send("complete", r#"{"line":"panic"}"#);
    assert_eq!(
        r.expect(Duration::from_secs(5)).json()["suggestions"],
        serde_json::json!([])
    );
    r.status();
}

#[test]
fn input_prompt_precedes_waiting_input_and_answer_is_returned() {
    let r = Runner::start("panicky");
    r.send("code", "ask your name? ");
    let prompt = r.expect(Duration::from_secs(5));
    assert_eq!(
        (prompt.kind.as_str(), prompt.text().as_str()),
        ("stdout", "your name? ")
    );
    let wait = r.expect(Duration::from_secs(5));
    assert_eq!(wait.kind, "waiting-input");
    assert_eq!(wait.json(), serde_json::json!({"is_password": false}));
    r.send("input", "Ada");
    let out = r.until_finished(crate::TASK);
    assert_eq!(out.stdout_text(), "hello Ada\n");
    assert_eq!(out.exit_code(), Some(0));
}

#[test]
fn several_inputs_per_query_and_early_input_is_kept() {
    let r = Runner::start("panicky");
    r.send("input", "early");
    r.send("code", "asks 2");
    // The first answer was already there: no waiting-input for it.
    let mut waits = 0;
    let mut out = Vec::new();
    loop {
        let m = r.expect(Duration::from_secs(5));
        if m.kind == "waiting-input" {
            waits += 1;
            r.send("input", "second");
        } else if m.is_terminal() {
            assert_eq!(m.json()["exitCode"], 0);
            break;
        } else {
            out.push(m.text());
        }
    }
    assert_eq!(waits, 1);
    assert_eq!(out.concat(), "q0? a0=early\nq1? a1=second\n");
}

#[test]
fn password_input_is_flagged() {
    let r = Runner::start("panicky");
    r.send("code", "password");
    let m = r.expect(Duration::from_secs(5));
    assert_eq!(m.json(), serde_json::json!({"is_password": true}));
    r.send("input", "s3cret");
    assert_eq!(r.until_finished(crate::TASK).stdout_text(), "6 chars\n");
}

#[test]
fn interrupt_cancels_an_input_wait() {
    let r = Runner::start("panicky");
    r.send("code", "ask never? ");
    assert_eq!(r.expect(Duration::from_secs(5)).kind, "stdout");
    assert_eq!(r.expect(Duration::from_secs(5)).kind, "waiting-input");
    r.send("interrupt", "");
    let out = r.until_finished(Duration::from_secs(5));
    assert_eq!(out.exit_code(), Some(130));
    assert_eq!(r.run("code", "ok").exit_code(), Some(0));
}

#[test]
fn interrupt_reaches_in_plugin_work() {
    let r = Runner::start("panicky");
    r.send("code", "spin");
    assert_eq!(r.expect(Duration::from_secs(5)).text(), "spinning\n");
    r.send("interrupt", "");
    let out = r.until_finished(Duration::from_secs(5));
    assert_eq!(out.exit_code(), Some(130));
    assert_eq!(out.stderr_text(), "spin interrupted\n");
}

#[test]
fn rich_output_is_valid_and_bad_media_is_refused() {
    let r = Runner::start("panicky");
    let out = r.run("code", "media");
    let media = out.of("media");
    assert_eq!(media.len(), 1);
    assert_eq!(
        media[0].json(),
        serde_json::json!({"type": "image/svg+xml", "data": "<svg></svg>"})
    );
    let out = r.run("code", "html");
    assert_eq!(out.of("html")[0].text(), "<b>bold</b>");
    let out = r.run("code", "bad-media");
    assert!(
        out.of("media").is_empty(),
        "invalid media must never reach the agent"
    );
    assert!(
        out.stdout_text()
            .starts_with("refused: invalid media message"),
        "{}",
        out.stdout_text()
    );
    assert_eq!(out.exit_code(), Some(3));
}
