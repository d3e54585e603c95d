//! Side-channel ops and malformed input.

use std::time::{Duration, Instant};

use krunner_tests::Runner;

#[test]
fn status_is_msgpack_started_at_and_stable() {
    let r = Runner::start("c");
    let a = r.status();
    let b = r.status();
    assert!(a > 0.0);
    assert_eq!(a, b, "started_at is the runner's start time");
}

#[test]
fn complete_always_gets_exactly_one_reply() {
    let r = Runner::start("panicky");
    r.send(
        "complete",
        r#"{"code":"al","row":0,"col":2,"line":"al","post":""}"#,
    );
    let m = r.expect(Duration::from_secs(5));
    assert_eq!(m.kind, "completion");
    assert_eq!(m.json(), serde_json::json!({"suggestions": ["alpha"]}));
    // Bad JSON and bad UTF-8 still get their reply, in order.
    r.send("complete", "{not json");
    r.send_frames(&[b"complete", b"\xff\xfe"]);
    r.send("complete", r#"{"line":"g"}"#);
    let replies: Vec<_> = (0..3).map(|_| r.expect(Duration::from_secs(5))).collect();
    assert!(replies.iter().all(|m| m.kind == "completion"));
    assert_eq!(replies[0].json()["suggestions"], serde_json::json!([]));
    assert_eq!(replies[1].json()["suggestions"], serde_json::json!([]));
    assert_eq!(
        replies[2].json()["suggestions"],
        serde_json::json!(["gamma"])
    );
    assert!(
        r.recv(Duration::from_millis(200)).is_none(),
        "no extra replies"
    );
}

#[test]
fn runner_without_completion_answers_empty() {
    let r = Runner::start("c");
    r.send(
        "complete",
        r#"{"code":"pri","line":"pri","row":0,"col":3,"post":""}"#,
    );
    let m = r.expect(Duration::from_secs(5));
    assert_eq!(m.json(), serde_json::json!({"suggestions": []}));
}

#[test]
fn slow_completion_is_answered_within_its_deadline() {
    let r = Runner::start("panicky");
    let started = Instant::now();
    r.send("complete", r#"{"line":"slow"}"#);
    let m = r.expect(Duration::from_secs(5));
    assert_eq!(m.json()["suggestions"], serde_json::json!([]));
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn malformed_frames_are_survived() {
    let r = Runner::start("c");
    r.send_frames(&[b"status"]);
    r.send_frames(&[b"exec", b"echo 1", b"extra"]);
    r.send_frames(&[b"\xc3\xa9xec", b"echo 2"]);
    r.send_frames(&[b"exec", b"echo \xff"]);
    r.send_frames(&[b"event", b"{broken"]);
    r.send_frames(&[b"no-such-op", b""]);
    r.send_frames(&[b"", b""]);
    // Still serving: status answered, tasks run, and none of the bad frames ran anything.
    let started_at = r.status();
    assert!(started_at > 0.0);
    let out = r.run("exec", "echo alive");
    assert_eq!(out.stdout_text().lines().last(), Some("alive"));
    for m in &out.messages {
        assert!(
            m.kind == "stderr" || m.text() == "alive\n" || m.is_terminal(),
            "unexpected {m:?}"
        );
    }
    assert_eq!(out.exit_code(), Some(0));
}

#[test]
fn event_and_input_without_waiters_produce_no_reply() {
    let r = Runner::start("c");
    r.send("event", r#"{"type":"oom","data":{}}"#);
    r.send("event", r#"{"type":"other","data":{"x":1}}"#);
    r.send("interrupt", "");
    r.send("input", "nobody asked");
    // Only the OOM warning may appear (as stderr); no side-channel reply.
    while let Some(m) = r.recv(Duration::from_millis(300)) {
        assert_eq!(m.kind, "stderr", "unexpected {m:?}");
    }
    r.status();
}

#[test]
fn service_requests_are_always_answered() {
    let r = Runner::start("app");
    r.send(
        "start-service",
        r#"{"name":"x","port":9999,"ports":[9999],"protocol":"preopen","options":{}}"#,
    );
    assert_eq!(
        r.expect(Duration::from_secs(5)).json(),
        serde_json::json!({"status": "started"})
    );
    r.send("start-service", "{bad");
    let m = r.expect(Duration::from_secs(5));
    assert_eq!(m.kind, "service-result");
    assert_eq!(m.json()["status"], "failed");
    r.send("get-apps", "");
    let m = r.expect(Duration::from_secs(5));
    assert_eq!(m.kind, "apps-result");
    assert_eq!(m.json()["status"], "done");
}
