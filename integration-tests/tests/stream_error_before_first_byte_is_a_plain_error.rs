//! A stream that fails before its first byte never opens a streamed `/response` (the stream's
//! head goes out lazily, with the first write): the failure is a plain `/error` with
//! `Lambda-Runtime-Function-Error-Type: Function.StreamFailed` and the error JSON as the body,
//! and the slot serves the next event.

use crate::support::*;

fn error_before_first_byte(run: &Run) {
    let id = run.send(json!({"op": "stream", "chunks": 3, "chunk_bytes": 10, "delay_ms": 0, "fail_after": 0}));
    let answer = run.answer(&id);
    let body = run.error_json(&answer, "StreamFailed");
    run.check(answer.error_type_header() == Some("Function.StreamFailed"), || {
        format!("error type header: {:?}", answer.error_type_header())
    });
    run.check(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("failed after 0 chunks")),
        || format!("errorMessage: {body}"),
    );
    run.check(answer.header("Lambda-Runtime-Function-Response-Mode").is_none(), || {
        format!("an /error is not a stream: {:?}", answer.headers)
    });
    let answers = run.mock.answers_for(&id);
    run.check(answers.len() == 1, || {
        format!(
            "{id}: expected only the /error, got {:?}",
            answers.iter().map(|a| a.kind).collect::<Vec<_>>()
        )
    });
    let next = run.send(json!({"op": "echo", "after": "failed stream"}));
    let body = run.ok_json(&run.answer(&next));
    run.check(body["after"] == "failed stream", || format!("echo after: {body}"));
}

#[test]
fn stream_error_before_first_byte_is_a_plain_error_classic() {
    let _m = shared_machine();
    let mut run = Run::classic(&[]);
    error_before_first_byte(&run);
    run.assert_running("process died");
}

#[test]
fn stream_error_before_first_byte_is_a_plain_error_managed() {
    let _m = shared_machine();
    let mut run = Run::managed(2, &[]);
    error_before_first_byte(&run);
    run.assert_running("process died");
}
