//! Streamed responses relayed to the caller: timing, the HTTP-integration prelude, and errors
//! surfaced as trailers.

mod common;

use base64::Engine as _;
use common::{stream_response, FakeRuntime, Harness, Part, Reply};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const INTEGRATION: &str = "application/vnd.awslambda.http-integration-response";

/// Starts one invoke, takes it as the runtime, and returns the caller thread and request id.
fn begin(h: &Harness) -> (JoinHandle<(Instant, Reply)>, String) {
    let addr = h.addr;
    let caller = std::thread::spawn(move || {
        let start = Instant::now();
        (start, common::invoke(addr, b"{}"))
    });
    let mut rt = FakeRuntime::connect(&h.runtime_api);
    let id = rt.next().request_id();
    (caller, id)
}

#[test]
fn streamed_chunks_reach_the_caller_as_they_are_sent() {
    let h = Harness::with(|_| {});
    let (caller, id) = begin(&h);
    let pause = Duration::from_millis(300);
    let parts = [
        Part::Data(b"first "),
        Part::Sleep(pause),
        Part::Data(b"second "),
        Part::Sleep(pause),
        Part::Data(b"third "),
        Part::Sleep(pause),
        Part::Data(b"fourth"),
    ];
    let accepted = stream_response(&h.runtime_api, &id, "text/plain", &parts, None);
    assert_eq!(accepted.status, 202);
    assert_eq!(accepted.json(), serde_json::json!({"status": "OK"}));
    let (start, reply) = caller.join().unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "first second third fourth");
    assert_eq!(reply.header("content-type"), Some("text/plain"));
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    assert!(reply
        .header("trailer")
        .unwrap()
        .contains("Lambda-Runtime-Function-Error-Type"));
    assert!(reply.trailers.is_empty(), "{:?}", reply.trailers);
    // One chunk per write, each as it was written: the first long before the last.
    assert_eq!(reply.chunks.len(), 4, "{:?}", reply.chunks);
    let first = reply.chunks[0].0;
    let last = reply.chunks[3].0;
    assert!(
        last - first >= Duration::from_millis(800),
        "first {:?}, last {:?}",
        first - start,
        last - start
    );
    assert_eq!(h.stats().busy, 0);
}

#[test]
fn the_http_integration_prelude_sets_status_headers_and_cookies() {
    let h = Harness::with(|_| {});
    let (caller, id) = begin(&h);
    let prelude = br#"{"statusCode":418,"headers":{"Content-Type":"text/html","X-Tea":"earl grey"},"cookies":["a=1; Path=/","b=2; Secure"]}"#;
    // The prelude split mid-JSON and the 8 NULs split 4/4, the second half with payload.
    let (head, tail) = prelude.split_at(20);
    let mut tail = tail.to_vec();
    tail.extend_from_slice(&[0; 4]);
    let mut nuls_and_payload = vec![0; 4];
    nuls_and_payload.extend_from_slice(b"<p>short");
    let parts = [
        Part::Data(head),
        Part::Data(&tail),
        Part::Data(&nuls_and_payload),
        Part::Sleep(Duration::from_millis(50)),
        Part::Data(b" and stout</p>"),
    ];
    assert_eq!(
        stream_response(&h.runtime_api, &id, INTEGRATION, &parts, None).status,
        202
    );
    let (_, reply) = caller.join().unwrap();
    assert_eq!(reply.status, 418);
    assert_eq!(reply.header("content-type"), Some("text/html"));
    assert_eq!(reply.header("x-tea"), Some("earl grey"));
    assert_eq!(reply.headers_named("set-cookie"), ["a=1; Path=/", "b=2; Secure"]);
    assert_eq!(reply.text(), "<p>short and stout</p>");
}

#[test]
fn a_prelude_with_its_nuls_and_payload_in_one_chunk() {
    let h = Harness::with(|_| {});
    let (caller, id) = begin(&h);
    let mut all = br#"{"statusCode":201,"headers":{"x-one":"1"}}"#.to_vec();
    all.extend_from_slice(&[0; 8]);
    all.extend_from_slice(b"created");
    assert_eq!(
        stream_response(&h.runtime_api, &id, INTEGRATION, &[Part::Data(&all)], None).status,
        202
    );
    let (_, reply) = caller.join().unwrap();
    assert_eq!(reply.status, 201);
    assert_eq!(reply.header("x-one"), Some("1"));
    assert_eq!(reply.text(), "created");
}

#[test]
fn a_bad_prelude_is_502() {
    let h = Harness::with(|_| {});
    let (caller, id) = begin(&h);
    let mut all = b"{not json".to_vec();
    all.extend_from_slice(&[0; 8]);
    all.extend_from_slice(b"body");
    assert_eq!(
        stream_response(&h.runtime_api, &id, INTEGRATION, &[Part::Data(&all)], None).status,
        202
    );
    let (_, reply) = caller.join().unwrap();
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["errorType"], "Runtime.InvalidPrelude");
}

fn error_b64(error_type: &str, message: &str) -> String {
    let json = serde_json::json!({"errorMessage": message, "errorType": error_type});
    base64::engine::general_purpose::STANDARD.encode(json.to_string())
}

#[test]
fn a_mid_stream_error_reaches_the_caller_as_trailers() {
    let h = Harness::with(|_| {});
    let (caller, id) = begin(&h);
    let b64 = error_b64("Function.StreamFailed", "disk on fire\r\nsecond line");
    let parts = [Part::Data(b"partial "), Part::Data(b"output")];
    let accepted = stream_response(
        &h.runtime_api,
        &id,
        "text/plain",
        &parts,
        Some(("Function.StreamFailed", &b64)),
    );
    assert_eq!(accepted.status, 202);
    let (_, reply) = caller.join().unwrap();
    assert_eq!(reply.status, 200);
    // The body holds only what was written before the failure.
    assert_eq!(reply.text(), "partial output");
    let declared = reply.header("trailer").unwrap();
    for name in [
        "X-Amz-Function-Error",
        "Lambda-Runtime-Function-Error-Type",
        "Lambda-Runtime-Function-Error-Body",
    ] {
        assert!(declared.contains(name), "{declared}");
    }
    assert_eq!(reply.trailer("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(
        reply.trailer("lambda-runtime-function-error-type"),
        Some("Function.StreamFailed")
    );
    let body = reply.trailer("lambda-runtime-function-error-body").unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(body).unwrap()).unwrap();
    assert_eq!(json["errorMessage"], "disk on fire\r\nsecond line");
}

#[test]
fn a_stream_that_fails_before_its_first_byte_is_a_function_error() {
    let h = Harness::with(|_| {});
    let (caller, id) = begin(&h);
    let b64 = error_b64("Function.NoData", "nothing to say");
    let accepted = stream_response(&h.runtime_api, &id, "text/plain", &[], Some(("Function.NoData", &b64)));
    assert_eq!(accepted.status, 202);
    let (_, reply) = caller.join().unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(reply.json()["errorType"], "Function.NoData");
    assert_eq!(reply.json()["errorMessage"], "nothing to say");
}

#[test]
fn a_stream_that_outlives_its_deadline_ends_with_a_timeout_trailer() {
    let h = Harness::with(|c| c.timeout = Duration::from_secs(1));
    let (caller, id) = begin(&h);
    let parts = [
        Part::Data(b"tick"),
        Part::Sleep(Duration::from_millis(1500)),
        Part::Data(b"tock"),
    ];
    // The runtime still gets its 202: the rest of its stream is read and dropped.
    assert_eq!(
        stream_response(&h.runtime_api, &id, "text/plain", &parts, None).status,
        202
    );
    let (_, reply) = caller.join().unwrap();
    assert_eq!(reply.text(), "tick");
    assert_eq!(
        reply.trailer("lambda-runtime-function-error-type"),
        Some("Sandbox.Timedout")
    );
    assert_eq!(h.stats().busy, 0);
}

#[test]
fn an_empty_stream_is_an_empty_200() {
    let h = Harness::with(|_| {});
    let (caller, id) = begin(&h);
    assert_eq!(
        stream_response(&h.runtime_api, &id, "text/plain", &[], None).status,
        202
    );
    let (_, reply) = caller.join().unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty());
}

#[test]
fn a_big_stream_passes_through_in_pieces() {
    let h = Harness::with(|_| {});
    let (caller, id) = begin(&h);
    let block = vec![b'z'; 1024 * 1024];
    let parts: Vec<Part<'_>> = (0..20).map(|_| Part::Data(&block)).collect();
    assert_eq!(
        stream_response(&h.runtime_api, &id, "application/octet-stream", &parts, None).status,
        202
    );
    let (_, reply) = caller.join().unwrap();
    assert_eq!(reply.body.len(), 20 * 1024 * 1024);
    assert!(reply.body.iter().all(|&b| b == b'z'));
}
