//! Requests, floods, malformed messages and ops over the size limit, each recorded with the
//! reply it owes (docs/protocol.md §1.4, §2.7, §2.8, §6.11) or with none.

use crate::agent::Agent;
use crate::expect::{ModelExp, ReplyExp, ServiceExp, TaskExp, TaskOp};
use crate::rng::Rng;
use crate::tasks::Lang;

/// `--max-message-size` of the soak's runners.
pub const MAX_MESSAGE: usize = 1 << 20;

const COMPLETE: &str = r#"{"code":"impo","line":"impo","row":0,"col":4,"post":""}"#;
const FILTERS: [&str; 7] = ["", "web", " web ", "noop", "forky", "nosuch", "quick-exit"];

/// One `status`, `complete` or `get-apps`.
pub fn request(a: &mut Agent, rng: &mut Rng, lang: Lang) {
    match rng.below(3) {
        0 => a.request("status", b"", ReplyExp::Status),
        1 => {
            let empty = lang == Lang::App;
            a.request(
                "complete",
                COMPLETE.as_bytes(),
                ReplyExp::Completion { empty },
            );
        }
        _ => {
            let filter = rng.pick(&FILTERS);
            let exp = ReplyExp::Apps {
                filter: filter.trim().into(),
                valid: true,
            };
            a.request("get-apps", filter.as_bytes(), exp);
        }
    }
}

/// Hundreds of requests (or interrupts, or small tasks) at once.
pub fn flood(a: &mut Agent, rng: &mut Rng, lang: Lang, first_id: u64) -> u64 {
    let kind = rng.below(6);
    let n = match kind {
        4 => rng.range(20, 80),
        5 => rng.range(50, 200),
        _ => rng.range(100, 700),
    };
    a.figures.floods += 1;
    a.figures.flood_ops += n;
    for i in 0..n {
        match kind {
            0 => a.request("status", b"", ReplyExp::Status),
            1 => {
                let bad = rng.chance(0.3);
                let payload: &[u8] = if bad {
                    b"{not json"
                } else {
                    COMPLETE.as_bytes()
                };
                let empty = bad || lang == Lang::App;
                a.request("complete", payload, ReplyExp::Completion { empty });
            }
            2 => {
                let filter = rng.pick(&FILTERS);
                let exp = ReplyExp::Apps {
                    filter: filter.trim().into(),
                    valid: true,
                };
                a.request("get-apps", filter.as_bytes(), exp);
            }
            3 => request(a, rng, lang),
            4 => {
                let id = first_id + i;
                let out = format!("flood{id}\n").into_bytes();
                let exp = TaskExp::new("flood", TaskOp::Exec, out, 0);
                a.task(TaskOp::Exec, format!("echo flood{id}").as_bytes(), exp);
            }
            _ => a.interrupt(b""),
        }
    }
    n
}

/// A malformed message (§1.4): dropped, or answered with what its op owes.
pub fn malformed(a: &mut Agent, rng: &mut Rng) {
    a.figures.malformed += 1;
    let bad_utf8: &[u8] = b"\xff\xfe\xc3(chaos";
    match rng.below(16) {
        0 => a.frames(&[rng.pick(&[&b"status"[..], b"complete", b"exec", b"get-apps"])]),
        1 => a.frames(&[b"status", b"", b"extra"]),
        2 => a.frames(&[b"exec", b"echo never", b"extra"]),
        3 => a.frames(&[b"st\xc3\xa4tus", b""]),
        4 => a.frames(&[b"", b""]),
        5 => a.frames(&[
            rng.pick(&[&b"launch"[..], b"STATUS", b"exec ", b"\x00"]),
            b"{}",
        ]),
        6 => {
            let op = rng.pick(&["exec", "build", "clean", "code", "input", "event"]);
            a.send(op, bad_utf8);
        }
        7 => a.request("complete", bad_utf8, ReplyExp::Completion { empty: true }),
        8 => {
            let exp = ServiceExp::Failed("the request is not valid UTF-8".into());
            a.request("start-service", bad_utf8, ReplyExp::Service(exp));
        }
        9 => {
            let exp = ReplyExp::Apps {
                filter: String::new(),
                valid: false,
            };
            a.request("get-apps", bad_utf8, exp);
        }
        10 => {
            let exp = ModelExp::Failed("the request is not valid UTF-8".into());
            a.request("start-model-service", bad_utf8, ReplyExp::Model(exp));
        }
        11 => a.request("status", bad_utf8, ReplyExp::Status),
        12 => a.interrupt(bad_utf8),
        13 => a.request("complete", b"[1, 2", ReplyExp::Completion { empty: true }),
        14 => {
            let exp = ServiceExp::FailedWith("invalid request: ".into());
            let payload: &[u8] =
                rng.pick(&[&b"{not json"[..], b"{\"port\": 1}", b"[]", b"\"web\""]);
            a.request("start-service", payload, ReplyExp::Service(exp));
        }
        _ => {
            let exp = ModelExp::Failed("invalid request".into());
            a.request("start-model-service", b"{nope", ReplyExp::Model(exp));
        }
    }
}

/// A size for people, as the runner prints it (`2.0 MiB`, `1 MiB`).
fn human_size(bytes: usize) -> String {
    let mib = 1 << 20;
    match bytes % mib {
        0 => format!("{} MiB", bytes / mib),
        _ => format!("{:.1} MiB", bytes as f64 / mib as f64),
    }
}

/// An op larger than `--max-message-size` (§1.4): tasks end with 126 and a line on stderr,
/// requests get their reply, `status` and `interrupt` are served, the rest are dropped.
pub fn oversize(a: &mut Agent, rng: &mut Rng, lang: Lang) {
    a.figures.oversize += 1;
    let ops = [
        "exec",
        "build",
        "clean",
        "code",
        "complete",
        "get-apps",
        "start-service",
        "start-model-service",
        "status",
        "interrupt",
        "input",
        "event",
        "shutdown-service",
    ];
    let op = rng.pick(&ops);
    let payload = vec![b'#'; MAX_MESSAGE + rng.size(1, 2 * MAX_MESSAGE)];
    let size = op.len() + payload.len();
    let refused =
        format!("the request is {size} bytes, more than the runner accepts (1048576 bytes)");
    let task = |op: TaskOp| {
        let line = format!(
            "{}-kernel: error: the {} request ({}) is larger than this runner accepts (1 MiB); \
             it was not run\n",
            lang.name(),
            op.name(),
            human_size(size)
        );
        TaskExp::inert("oversize", op, 126).console(line)
    };
    match op {
        "exec" => a.task(TaskOp::Exec, &payload, task(TaskOp::Exec)),
        "build" => a.task(TaskOp::Build, &payload, task(TaskOp::Build)),
        "clean" => a.task(TaskOp::Clean, &payload, task(TaskOp::Clean)),
        "code" => a.task(TaskOp::Code, &payload, task(TaskOp::Code)),
        "complete" => a.request(op, &payload, ReplyExp::Completion { empty: true }),
        "get-apps" => {
            let exp = ReplyExp::Apps {
                filter: String::new(),
                valid: false,
            };
            a.request(op, &payload, exp);
        }
        "start-service" => a.request(op, &payload, ReplyExp::Service(ServiceExp::Failed(refused))),
        "start-model-service" => {
            a.request(op, &payload, ReplyExp::Model(ModelExp::Failed(refused)))
        }
        "status" => a.request(op, &payload, ReplyExp::Status),
        "interrupt" => a.interrupt(&payload),
        _ => a.send(op, &payload),
    }
}

/// An `event` (§2.9): an OOM warning reaches the console at any time; others are logged.
pub fn event(a: &mut Agent, rng: &mut Rng) {
    a.figures.events += 1;
    let payload: &[u8] = rng.pick(&[
        &br#"{"type":"oom","data":{}}"#[..],
        br#"{"type":"chaos","data":{"x":1}}"#,
        br#"{"type":"oom"}"#,
        b"{broken",
    ]);
    a.send("event", payload);
}
