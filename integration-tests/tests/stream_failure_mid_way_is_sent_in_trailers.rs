//! A stream that fails after some chunks ends with real HTTP trailers, read by the mock's
//! chunked parser after the zero-length chunk: `Lambda-Runtime-Function-Error-Type:
//! Function.StreamFailed` and `Lambda-Runtime-Function-Error-Body` (base64 of the error JSON).
//! The body holds only the bytes written before the failure, the head declared the trailers
//! and the streaming mode, no `/error` is posted, and the slot serves the next event.

use crate::support::*;

const CHUNK_BYTES: usize = 10;

fn fails_mid_way_with_trailers(run: &Run, fail_after: usize) {
    let id = run.send(json!({
        "op": "stream", "chunks": 5, "chunk_bytes": CHUNK_BYTES, "delay_ms": 20, "fail_after": fail_after,
    }));
    let answer = run.answer(&id);
    run.check(answer.kind == AnswerKind::Response, || {
        format!(
            "fail_after {fail_after}: expected the streamed /response, got {:?}",
            answer.kind
        )
    });
    run.check(
        answer.header("Lambda-Runtime-Function-Response-Mode") == Some("streaming"),
        || format!("fail_after {fail_after}: head: {:?}", answer.headers),
    );
    let declared: Vec<String> = answer
        .header("Trailer")
        .unwrap_or_default()
        .split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    run.check(
        declared.contains(&"lambda-runtime-function-error-type".to_string())
            && declared.contains(&"lambda-runtime-function-error-body".to_string()),
        || {
            format!(
                "fail_after {fail_after}: the head must declare both trailers: {:?}",
                answer.headers
            )
        },
    );
    let expected = vec![b'a'; fail_after * CHUNK_BYTES];
    run.check(answer.body == expected, || {
        format!(
            "fail_after {fail_after}: the body should be exactly the {} bytes written before the failure, got {:?}",
            expected.len(),
            answer.body_text()
        )
    });
    run.check(answer.chunks.len() == fail_after, || {
        format!("fail_after {fail_after}: {} data chunks", answer.chunks.len())
    });
    run.check(
        answer.trailer("Lambda-Runtime-Function-Error-Type") == Some("Function.StreamFailed"),
        || format!("fail_after {fail_after}: trailers {:?}", answer.trailers),
    );
    let encoded = answer.trailer("Lambda-Runtime-Function-Error-Body").unwrap_or_else(|| {
        run.fail(&format!(
            "fail_after {fail_after}: no error body trailer: {:?}",
            answer.trailers
        ))
    });
    let decoded = base64_decode(encoded).unwrap_or_else(|| {
        run.fail(&format!(
            "fail_after {fail_after}: error body trailer is not base64: {encoded:?}"
        ))
    });
    let error: Value = serde_json::from_slice(&decoded).unwrap_or_else(|e| {
        run.fail(&format!(
            "fail_after {fail_after}: decoded error body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&decoded)
        ))
    });
    run.check(error["errorType"] == "StreamFailed", || {
        format!("fail_after {fail_after}: errorType: {error}")
    });
    run.check(
        error["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("failed after {fail_after} chunks"))),
        || format!("fail_after {fail_after}: errorMessage: {error}"),
    );
    run.check(
        error.get("stackTrace").is_none() || error["stackTrace"].is_array(),
        || format!("fail_after {fail_after}: stackTrace: {error}"),
    );
    let text = answer.body_text();
    run.check(
        !text.contains("Lambda-Runtime") && !text.contains("StreamFailed"),
        || format!("fail_after {fail_after}: error text leaked into the body: {text:?}"),
    );
    let answers = run.mock.answers_for(&id);
    run.check(answers.len() == 1, || {
        format!(
            "fail_after {fail_after}: {} answers (an /error after the first byte is not allowed): {:?}",
            answers.len(),
            answers.iter().map(|a| a.kind).collect::<Vec<_>>()
        )
    });
    let next = run.send(json!({"op": "echo", "after": fail_after}));
    let body = run.ok_json(&run.answer(&next));
    run.check(body["after"] == fail_after, || {
        format!("echo after a failed stream: {body}")
    });
}

#[test]
fn stream_failure_mid_way_is_sent_in_trailers_classic() {
    let _m = shared_machine();
    let mut run = Run::classic(&[]);
    fails_mid_way_with_trailers(&run, 3);
    // Failing after the last chunk, before the end of the body, is mid-stream too.
    fails_mid_way_with_trailers(&run, 5);
    run.assert_running("process died after failed streams");
}

#[test]
fn stream_failure_mid_way_is_sent_in_trailers_managed() {
    let _m = shared_machine();
    let mut run = Run::managed(2, &[]);
    fails_mid_way_with_trailers(&run, 1);
    run.assert_running("process died after a failed stream");
}
