//! The checker itself: each rule of `model` fails on the message sequence that breaks it.

use krunner_tests::Message;

use crate::expect::{ReplyExp, Stream, TaskExp, TaskOp};
use crate::model::{split_console, Model, Seen};
use crate::replies::State;

fn msg(kind: &str, payload: &[u8]) -> Message {
    Message {
        kind: kind.into(),
        payload: payload.to_vec(),
    }
}

fn finished(kind: &str, code: i64) -> Message {
    msg(kind, format!("{{\"exitCode\":{code}}}").as_bytes())
}

fn model() -> Model {
    Model::new("app", State::new(Vec::new()))
}

/// Feeds `messages`; the first error, if any.
fn feed(m: &mut Model, messages: &[Message]) -> Result<(), String> {
    messages
        .iter()
        .try_for_each(|x| m.on_message(x).map(|_| ()))
}

fn print(out: &str) -> TaskExp {
    TaskExp::new("print", TaskOp::Exec, out.into(), 0)
}

#[test]
fn replies_come_once_each_in_order_and_of_the_right_shape() {
    let mut m = model();
    m.reply(ReplyExp::Status);
    m.reply(ReplyExp::Completion { empty: true });
    let status = msg(
        "status",
        b"\x81\xaastarted_at\xcb\x40\x00\x00\x00\x00\x00\x00\x00",
    );
    assert_eq!(m.on_message(&status), Ok(Seen::Reply("status")));
    assert!(m.on_message(&status).is_err(), "a second status");
    assert!(m
        .on_message(&msg("completion", br#"{"suggestions":["x"]}"#))
        .is_err());
    m.reply(ReplyExp::Status);
    let other = msg(
        "status",
        b"\x81\xaastarted_at\xcb\x40\x08\x00\x00\x00\x00\x00\x00",
    );
    assert!(m.on_message(&other).is_err(), "started_at changed");
    assert!(m.on_message(&msg("apps-result", b"{}")).is_err());
}

#[test]
fn a_task_owes_its_complete_output_then_its_terminal_message() {
    let mut m = model();
    m.task(print("abc"));
    let ok = [
        msg("stdout", b"ab"),
        msg("stdout", b"c"),
        finished("finished", 0),
    ];
    feed(&mut m, &ok).unwrap();
    assert_eq!(m.outstanding(), 0);
    assert!(
        feed(&mut m, &[msg("stdout", b"late")]).is_err(),
        "output of no task"
    );
    for wrong in [
        vec![msg("stdout", b"ab"), finished("finished", 0)],
        vec![msg("stdout", b"abcd"), finished("finished", 0)],
        vec![msg("stdout", b"abc"), finished("finished", 1)],
        vec![msg("stdout", b"abc"), finished("build-finished", 0)],
        vec![
            msg("stdout", b"abc"),
            msg("stderr", b"x"),
            finished("finished", 0),
        ],
        vec![msg("waiting-input", br#"{"is_password":false}"#)],
    ] {
        let mut m = model();
        m.task(print("abc"));
        assert!(feed(&mut m, &wrong).is_err(), "{wrong:?}");
    }
}

#[test]
fn only_an_interrupted_task_may_end_early() {
    let mut m = model();
    m.task(print("abc"));
    m.interrupt();
    m.task(print("def"));
    feed(&mut m, &[msg("stdout", b"a"), finished("finished", 130)]).unwrap();
    // The interrupt was sent before the second task.
    let early = [msg("stdout", b"d"), finished("finished", 130)];
    assert!(feed(&mut m, &early).is_err());
    // Cut short, but with its own exit code: its output must be whole.
    let mut m = model();
    m.task(print("abc"));
    m.interrupt();
    assert!(feed(&mut m, &[msg("stdout", b"a"), finished("finished", 0)]).is_err());
}

#[test]
fn the_exec_after_a_failed_build_runs_nothing() {
    let mut m = model();
    m.task(TaskExp::new("print", TaskOp::Build, Vec::new(), 2));
    m.task(print("abc"));
    m.task(print("abc"));
    let seq = [
        finished("build-finished", 2),
        finished("finished", 127),
        msg("stdout", b"abc"),
        finished("finished", 0),
    ];
    feed(&mut m, &seq).unwrap();
    let mut m = model();
    m.task(TaskExp::new("print", TaskOp::Build, Vec::new(), 2));
    m.task(print("abc"));
    let ran = [
        finished("build-finished", 2),
        msg("stdout", b"abc"),
        finished("finished", 0),
    ];
    assert!(feed(&mut m, &ran).is_err());
}

#[test]
fn the_runners_console_lines_are_set_aside() {
    let (rest, console) = split_console(b"xapp-kernel: warning: w\nyz", "app-kernel: ");
    assert_eq!(
        (rest.as_slice(), console.as_str()),
        (&b"xyz"[..], "app-kernel: warning: w\n")
    );
    let mut m = model();
    feed(
        &mut m,
        &[msg("stderr", b"app-kernel: warning: between tasks\n")],
    )
    .unwrap();
    assert!(feed(&mut m, &[msg("stderr", b"not the runner's\n")]).is_err());
    m.task(print("").stderr(Stream::Exact(b"e\n".to_vec())));
    let seq = [
        msg("stderr", b"app-kernel: warning: oom\ne"),
        msg("stderr", b"\n"),
        finished("finished", 0),
    ];
    feed(&mut m, &seq).unwrap();
}

#[test]
fn after_sigterm_only_the_running_task_ends() {
    let mut m = model();
    m.task(print("abc").exits(&[]));
    m.task(print("def"));
    m.stop();
    feed(&mut m, &[msg("stdout", b"ab"), finished("finished", 143)]).unwrap();
    assert!(feed(&mut m, &[msg("stdout", b"def"), finished("finished", 0)]).is_err());
}

#[test]
fn readers_take_inputs_in_order() {
    let mut m = model();
    let (_a, _b) = (m.inputs.token(), m.inputs.token());
    m.task(TaskExp::new("reader", TaskOp::Exec, Vec::new(), 0).reader("> "));
    m.task(TaskExp::new("reader", TaskOp::Exec, Vec::new(), 0).reader("> "));
    let wait = msg("waiting-input", br#"{"is_password":false}"#);
    assert!(m.on_message(&wait).is_err(), "asked before the prompt came");
    feed(&mut m, &[msg("stdout", b"> ")]).unwrap();
    assert_eq!(m.on_message(&wait), Ok(Seen::WaitingInput));
    feed(
        &mut m,
        &[msg("stdout", b"got in-0\n"), finished("finished", 0)],
    )
    .unwrap();
    let out_of_order = [msg("stdout", b"> got in-0\n"), finished("finished", 0)];
    assert!(feed(&mut m, &out_of_order).is_err());
}

#[test]
fn a_snippet_may_report_an_interrupt_it_swallowed() {
    let noise = b"Exception ignored in: <function cb at 0x7f>\nKeyboardInterrupt: \n";
    let seq = [
        msg("stdout", b"abc"),
        msg("stderr", noise),
        finished("finished", 0),
    ];
    let mut m = model();
    m.task(print("abc").traceback());
    m.interrupt();
    feed(&mut m, &seq).unwrap();
    // Without an interrupt, its stderr must be what it wrote.
    let mut m = model();
    m.task(print("abc").traceback());
    assert!(feed(&mut m, &seq).is_err());
}
