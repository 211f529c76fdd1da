//! A handler that panics mid-stream: the streamed `/response` carries exactly the bytes written
//! before the panic and ends with trailers — `Lambda-Runtime-Function-Error-Type:
//! Runtime.HandlerPanic` and an error body (base64 JSON) naming the panic; no `/error` follows.
//! The panic is logged (ERROR, with the invocation's request id), the handler is rebuilt, and
//! the same slot serves the next event.

use crate::support::*;

const CHUNK_BYTES: usize = 10;
const PANIC_AFTER: usize = 2;

fn panics_mid_stream_then_serves_the_next_event(run: &Run) -> String {
    let id = run.send(json!({
        "op": "stream", "chunks": 5, "chunk_bytes": CHUNK_BYTES, "delay_ms": 50, "panic_after": PANIC_AFTER,
    }));
    let answer = run.answer(&id);
    run.check(answer.kind == AnswerKind::Response, || {
        format!("expected the streamed /response, got {:?}", answer.kind)
    });
    run.check(
        answer.header("Lambda-Runtime-Function-Response-Mode") == Some("streaming"),
        || format!("head: {:?}", answer.headers),
    );
    let expected = vec![b'a'; PANIC_AFTER * CHUNK_BYTES];
    run.check(answer.body == expected, || {
        format!(
            "the body should be exactly the {} bytes written before the panic, got {:?}",
            expected.len(),
            answer.body_text()
        )
    });
    run.check(
        answer.trailer("Lambda-Runtime-Function-Error-Type") == Some("Runtime.HandlerPanic"),
        || format!("trailers: {:?}", answer.trailers),
    );
    let encoded = answer
        .trailer("Lambda-Runtime-Function-Error-Body")
        .unwrap_or_else(|| run.fail(&format!("no error body trailer: {:?}", answer.trailers)));
    let decoded = base64_decode(encoded).unwrap_or_else(|| run.fail(&format!("not base64: {encoded:?}")));
    let error: Value = serde_json::from_slice(&decoded).unwrap_or_else(|e| {
        run.fail(&format!(
            "decoded error body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&decoded)
        ))
    });
    run.check(error["errorType"] == "Runtime.HandlerPanic", || {
        format!("errorType: {error}")
    });
    run.check(
        error["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("stream panicked after {PANIC_AFTER} chunks"))),
        || format!("errorMessage should carry the panic message: {error}"),
    );
    let answers = run.mock.answers_for(&id);
    run.check(answers.len() == 1, || {
        format!("{} answers: no /error may follow a started stream", answers.len())
    });
    let next = run.send(json!({"op": "echo", "after": "stream panic"}));
    let body = run.ok_json(&run.answer(&next));
    run.check(body["after"] == "stream panic", || {
        format!("echo after the panic: {body}")
    });
    id
}

#[test]
fn stream_panic_mid_way_is_sent_in_trailers_classic() {
    let _m = shared_machine();
    let mut run = Run::classic(&[]);
    for _ in 0..2 {
        let id = panics_mid_stream_then_serves_the_next_event(&run);
        let line = run
            .proc
            .wait_for_line(
                |l| l.contains("stream panicked after") && l.contains(&format!("[{id}]")),
                T,
            )
            .unwrap_or_else(|e| run.fail(&format!("the panic was not logged with [{id}]: {e}")));
        run.check(line.contains("ERROR"), || format!("the panic is an ERROR line: {line}"));
    }
    run.assert_running("process died after a panicked stream");
}

#[test]
fn stream_panic_mid_way_is_sent_in_trailers_managed() {
    let _m = shared_machine();
    // One slot, so the echo afterwards is served by the rebuilt handler of the same slot.
    let mut run = Run::managed(1, &[("LAMBDA_ACTORS_METRICS_INTERVAL_SECS", "1")]);
    let id = panics_mid_stream_then_serves_the_next_event(&run);
    assert_panic_logged_and_counted(&run, &id, "stream panicked after");
    run.assert_running("process died after a panicked stream");
}
