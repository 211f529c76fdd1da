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
    let lines = run.proc.stream_lines(Stream::Stdout);
    let logged: Vec<Value> = lines
        .iter()
        .filter(|l| l.contains("stream panicked after"))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| run.fail(&format!("not JSON ({e}): {l}"))))
        .collect();
    run.check(!logged.is_empty(), || "the panic was not logged".into());
    for v in &logged {
        run.check(v["level"] == "ERROR" && v["requestId"] == json!(id), || {
            format!("the panic should be logged as ERROR with requestId {id}: {v}")
        });
    }
    // The handler was rebuilt: the metrics count the panic and, no later, the restart.
    let (mut panics, mut restarts) = (0, 0);
    run.proc
        .wait_for_line(
            |l| {
                if let Ok(v) = serde_json::from_str::<Value>(l) {
                    if v["message"] == "metrics" {
                        panics += v["panics_count"].as_u64().unwrap_or(0);
                        restarts += v["restarts_count"].as_u64().unwrap_or(0);
                    }
                }
                panics >= 1
            },
            std::time::Duration::from_secs(5),
        )
        .unwrap_or_else(|e| run.fail(&format!("no summary counting the panic: {e}")));
    run.check(panics == 1 && restarts >= 1, || {
        format!("summaries counted {panics} panics and {restarts} restarts; expected 1 and at least 1")
    });
    run.assert_running("process died after a panicked stream");
}

/// Standard base64 (RFC 4648, with padding) to bytes; `None` if it is not that.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in text.bytes() {
        acc = acc << 6 | ALPHABET.iter().position(|&a| a == b)? as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[test]
fn base64_decoder_reads_rfc_4648_vectors() {
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64_decode(encoded).as_deref(), Some(plain.as_bytes()), "{encoded}");
    }
    assert_eq!(base64_decode("Z!=="), None);
}
