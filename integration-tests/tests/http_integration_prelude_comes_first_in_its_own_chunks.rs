//! An HTTP-integration stream (Function URLs, API Gateway streaming) is sent with content type
//! `application/vnd.awslambda.http-integration-response`; its body starts with the JSON prelude
//! (status 418, headers, cookies) as one chunk, then the 8 NUL bytes as another, then the
//! payload chunks. A stream without `http` has no prelude and a plain content type.

use crate::support::*;

const CHUNK_BYTES: usize = 5;

#[test]
fn http_integration_prelude_comes_first_in_its_own_chunks() {
    let _m = shared_machine();
    let run = Run::classic(&[]);
    let head = json!({
        "statusCode": 418,
        "headers": {"Content-Type": "text/plain", "X-Teapot": "short and stout"},
        "cookies": ["a=1; Path=/; HttpOnly", "b=2"],
    });
    let id = run.send(json!({
        "op": "stream", "chunks": 3, "chunk_bytes": CHUNK_BYTES, "delay_ms": 0, "http": head,
    }));
    let answer = run.answer(&id);
    run.check(answer.kind == AnswerKind::Response, || format!("{:?}", answer.kind));
    run.check(
        answer.header("Content-Type") == Some("application/vnd.awslambda.http-integration-response"),
        || format!("content type: {:?}", answer.header("Content-Type")),
    );
    run.check(
        answer.header("Lambda-Runtime-Function-Response-Mode") == Some("streaming"),
        || format!("head: {:?}", answer.headers),
    );
    let lens: Vec<usize> = answer.chunks.iter().map(|c| c.len).collect();
    run.check(lens.len() == 5 && lens[1] == 8 && lens[2..] == [CHUNK_BYTES; 3], || {
        format!("chunk sizes {lens:?}: expected [prelude, 8, {CHUNK_BYTES}, {CHUNK_BYTES}, {CHUNK_BYTES}]")
    });
    let (prelude, rest) = answer.body.split_at(lens[0]);
    let prelude: Value = serde_json::from_slice(prelude).unwrap_or_else(|e| {
        run.fail(&format!(
            "the first chunk should be the JSON prelude ({e}): {:?}",
            String::from_utf8_lossy(prelude)
        ))
    });
    run.check(prelude["statusCode"] == 418, || format!("prelude: {prelude}"));
    run.check(prelude["headers"]["Content-Type"] == "text/plain", || {
        format!("prelude headers: {prelude}")
    });
    run.check(prelude["headers"]["X-Teapot"] == "short and stout", || {
        format!("prelude headers: {prelude}")
    });
    run.check(prelude["cookies"] == json!(["a=1; Path=/; HttpOnly", "b=2"]), || {
        format!("prelude cookies: {prelude}")
    });
    let (separator, payload) = rest.split_at(8);
    run.check(separator == [0u8; 8], || format!("separator chunk: {separator:?}"));
    run.check(payload == [b'a'; 3 * CHUNK_BYTES], || {
        format!("payload: {:?}", String::from_utf8_lossy(payload))
    });
    run.check(answer.trailers.is_empty(), || {
        format!("trailers: {:?}", answer.trailers)
    });

    // Without `http`: no prelude, no NULs, a plain streamed body.
    let id = run.send(json!({"op": "stream", "chunks": 2, "chunk_bytes": CHUNK_BYTES, "delay_ms": 0}));
    let answer = run.answer(&id);
    run.check(
        answer.header("Content-Type") == Some("application/octet-stream"),
        || format!("plain stream content type: {:?}", answer.header("Content-Type")),
    );
    run.check(answer.body == [b'a'; 2 * CHUNK_BYTES], || {
        format!("plain stream body: {:?}", answer.body_text())
    });
}
