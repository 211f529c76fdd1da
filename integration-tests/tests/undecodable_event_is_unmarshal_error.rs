//! Events that are not a testbed op object (bad JSON, unknown op, not an object, no op) are
//! answered with `Runtime.UnmarshalError`, and the slot goes on.

use crate::support::*;

#[test]
fn undecodable_event_is_unmarshal_error() {
    let _m = shared_machine();
    let run = Run::managed(2, &[]);
    let bad: &[&[u8]] = &[
        b"{not json",
        b"",
        b"\xff\xfe\x00garbage",
        br#"{"op": "frobnicate"}"#,
        b"42",
        br#"["op", "echo"]"#,
        b"{}",
    ];
    for body in bad {
        let id = run.mock.queue(Event::raw(*body));
        let answer = run.answer(&id);
        let text = String::from_utf8_lossy(body);
        run.check(answer.kind == AnswerKind::Error, || {
            format!("event {text:?} should fail, got a response: {}", answer.body_text())
        });
        run.error_json(&answer, "Runtime.UnmarshalError");
        run.check(answer.error_type_header() == Some("Runtime.UnmarshalError"), || {
            format!("event {text:?}: header {:?}", answer.error_type_header())
        });
    }
    let id = run.send(json!({"op": "echo", "after": "bad"}));
    let body = run.ok_json(&run.answer(&id));
    run.check(body["after"] == "bad", || format!("echo after bad events: {body}"));
}
