//! Unit tests of the op decoder: every rule of docs/protocol.md §1.3, §1.4 and §2 it applies.
use super::*;

fn frames(op: &str, payload: &[u8]) -> Body {
    Body::Frames(vec![op.as_bytes().to_vec(), payload.to_vec()])
}

#[test]
fn decodes_every_op() {
    assert_eq!(
        decode(frames("exec", b"echo hi")),
        Ok(Op::Exec("echo hi".into()))
    );
    assert_eq!(decode(frames("clean", b"")), Ok(Op::Clean("".into())));
    assert_eq!(decode(frames("build", b"*")), Ok(Op::Build("*".into())));
    assert_eq!(decode(frames("code", b"x")), Ok(Op::Code("x".into())));
    assert_eq!(decode(frames("input", b"a\n")), Ok(Op::Input("a\n".into())));
    assert_eq!(decode(frames("interrupt", b"")), Ok(Op::Interrupt));
    assert_eq!(decode(frames("status", b"")), Ok(Op::Status));
    assert_eq!(
        decode(frames("complete", b"{}")),
        Ok(Op::Complete("{}".into()))
    );
    assert_eq!(
        decode(frames("event", br#"{"type":"oom","data":{}}"#)),
        Ok(Op::Event(serde_json::json!({"type": "oom", "data": {}})))
    );
    assert_eq!(
        decode(frames("get-apps", b"")),
        Ok(Op::GetApps(String::new()))
    );
}

#[test]
fn rejects_malformed_frames() {
    assert_eq!(
        decode(Body::Frames(vec![b"status".to_vec()])),
        Err(ProtocolError::FrameCount(1))
    );
    assert_eq!(
        decode(Body::Frames(vec![
            b"a".to_vec(),
            b"b".to_vec(),
            b"c".to_vec()
        ])),
        Err(ProtocolError::FrameCount(3))
    );
    assert_eq!(
        decode(frames("\u{e9}", b"")),
        Err(ProtocolError::OpNotAscii(2))
    );
    assert_eq!(
        decode(frames("launch", b"")),
        Err(ProtocolError::UnknownOp("launch".into()))
    );
    assert!(matches!(
        decode(frames("exec", b"\xff")),
        Err(ProtocolError::NotUtf8 { op: "exec", .. })
    ));
    assert!(matches!(
        decode(frames("event", b"{")),
        Err(ProtocolError::BadJson { op: "event", .. })
    ));
}

#[test]
fn malformed_requests_still_owe_their_reply() {
    let err = decode(frames("complete", b"\xff\xfe")).expect_err("not utf-8");
    assert_eq!(err.owed_reply(), Some(&Msg::Completion(Vec::new())));
    let err = decode(frames("start-service", b"\xff")).expect_err("not utf-8");
    assert!(matches!(err.owed_reply(), Some(Msg::ServiceResult(_))));
    assert!(decode(frames("exec", b"\xff"))
        .expect_err("not utf-8")
        .owed_reply()
        .is_none());
}

#[test]
fn the_private_op_is_unknown_to_the_agent() {
    assert_eq!(
        decode(frames(IS_COMPLETE, b"{}")),
        Err(ProtocolError::UnknownOp(IS_COMPLETE.into()))
    );
    assert_eq!(
        decode_private(frames(IS_COMPLETE, br#"{"code":"x"}"#)),
        Ok(Op::IsComplete(r#"{"code":"x"}"#.into()))
    );
    assert_eq!(
        decode_private(frames("exec", b"true")),
        Ok(Op::Exec("true".into()))
    );
    let err = decode_private(frames(IS_COMPLETE, b"\xff")).expect_err("not utf-8");
    assert_eq!(
        err.owed_reply(),
        Some(&Msg::IsComplete(UNKNOWN_COMPLETENESS.into()))
    );
}

fn too_large(op: &str, parts: usize) -> Body {
    Body::TooLarge {
        name: op.as_bytes().to_vec(),
        parts,
        size: 2000,
        limit: 1000,
    }
}

#[test]
fn ops_over_the_size_limit() {
    let payload = Payload::TooLarge {
        size: 2000,
        limit: 1000,
    };
    assert_eq!(decode(too_large("exec", 2)), Ok(Op::Exec(payload.clone())));
    assert_eq!(decode(too_large("code", 2)), Ok(Op::Code(payload)));
    // Ops whose payload is ignored are served.
    assert_eq!(decode(too_large("status", 2)), Ok(Op::Status));
    assert_eq!(decode(too_large("interrupt", 2)), Ok(Op::Interrupt));
    // Requests get the reply they owe.
    let err = decode(too_large("complete", 2)).expect_err("too large");
    assert_eq!(err.owed_reply(), Some(&Msg::Completion(Vec::new())));
    let err = decode(too_large("start-service", 2)).expect_err("too large");
    let Some(Msg::ServiceResult(r)) = err.owed_reply() else {
        panic!("{err:?}");
    };
    assert_eq!(
        r.error.as_deref(),
        Some("the request is 2000 bytes, more than the runner accepts (1000 bytes)")
    );
    assert!(matches!(
        decode(too_large("get-apps", 2))
            .expect_err("too large")
            .owed_reply(),
        Some(Msg::AppsResult(_))
    ));
    assert!(matches!(
        decode(too_large("start-model-service", 2))
            .expect_err("too large")
            .owed_reply(),
        Some(Msg::ModelServiceResult(_))
    ));
    // Others are rejected, and malformed ones stay malformed.
    assert_eq!(
        decode(too_large("input", 2)),
        Err(ProtocolError::TooLarge {
            op: "input",
            size: 2000,
            limit: 1000
        })
    );
    assert_eq!(
        decode(too_large("complete", 3)),
        Err(ProtocolError::FrameCount(3))
    );
    assert!(matches!(
        decode(too_large("", 2)),
        Err(ProtocolError::UnknownOp(_))
    ));
}
