//! TensorBoard: started by the python runner's hook on the session's `logs` directory, showing
//! a scalar written there, in the browser too.

use std::process::Command;

use krunner_tests::{free_port, Options};
use serde_json::json;

use crate::support::{
    browse, have, have_chromium, proxied_get, python_runner, service, shut_down_leaving_nothing,
    start,
};

/// Writes a `loss` scalar for five steps to `<dir>/run1` with TensorBoard's own event writer.
fn write_scalars(dir: &std::path::Path) {
    let script = "import sys, time\n\
        from tensorboard.summary.writer.event_file_writer import EventFileWriter\n\
        from tensorboard.compat.proto import event_pb2, summary_pb2\n\
        w = EventFileWriter(sys.argv[1])\n\
        for step in range(5):\n\
        \x20   v = summary_pb2.Summary.Value(tag='loss', simple_value=1.0 / (step + 1))\n\
        \x20   w.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary_pb2.Summary(value=[v])))\n\
        w.close()\n";
    let status = Command::new("python3")
        .args(["-c", script])
        .arg(dir.join("run1"))
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn tensorboard_shows_the_session_logs() {
    if !have("tensorboard") {
        return;
    }
    let r = python_runner(&[], Options::default());
    write_scalars(&r.work.path().join("logs"));
    let port = free_port();
    let (reply, took) = start(&r, service("tensorboard", port));
    assert_eq!(reply, json!({"status": "started"}), "log:\n{}", r.log());
    eprintln!("tensorboard: started in {took:?}");

    let (status, page) = proxied_get(port, "/");
    assert!(status.contains(" 200 "), "{status}\n{page}");
    assert!(page.contains("<tb-webapp>"), "{page}");
    // It reads the session's logs directory.
    let (status, runs) = proxied_get(port, "/data/runs");
    assert!(status.contains(" 200 "), "{status}\n{runs}");
    assert!(runs.ends_with(r#"["run1"]"#), "{runs}");

    if have_chromium() {
        // The scalar's card in the time-series dashboard.
        let seen = browse(
            &format!("http://127.0.0.1:{port}/"),
            r#"metrics-card-grid card-view tb-truncated-path[title="loss"]"#,
            None,
        );
        assert!(seen.contains("loss"), "{seen}");
    }

    let (again, _) = start(&r, service("tensorboard", port));
    assert_eq!(again, json!({"status": "running"}));
    shut_down_leaving_nothing(&r, "tensorboard", port);
}
