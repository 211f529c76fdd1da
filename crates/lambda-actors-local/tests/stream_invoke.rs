//! `InvokeWithResponseStream` (`/2021-11-15/.../response-streaming-invocations`) and
//! `X-Amz-Log-Type: Tail`, seen by a raw client. The SDKs themselves drive the same paths in
//! integration-tests/aws-sdk.

mod common;

use base64::Engine as _;
use common::{stream_response, FakeRuntime, Harness, Part, Reply};
use std::thread::JoinHandle;
use std::time::Duration;

const STREAM_PATH: &str = "/2021-11-15/functions/fn/response-streaming-invocations";

/// One decoded event-stream message: its `:event-type` and payload.
#[derive(Debug)]
struct Message {
    event_type: String,
    payload: Vec<u8>,
}

/// Splits a reply body into event-stream messages, checking lengths and both CRCs.
fn messages(body: &[u8]) -> Vec<Message> {
    let word = |b: &[u8], at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let total = word(rest, 0);
        let frame = &rest[..total];
        assert_eq!(word(frame, 8) as u32, crc32fast::hash(&frame[..8]), "prelude CRC");
        assert_eq!(
            word(frame, total - 4) as u32,
            crc32fast::hash(&frame[..total - 4]),
            "message CRC"
        );
        let headers_end = 12 + word(frame, 4);
        let mut at = 12;
        let mut event_type = String::new();
        while at < headers_end {
            let name_len = frame[at] as usize;
            let name = std::str::from_utf8(&frame[at + 1..at + 1 + name_len]).unwrap();
            at += 1 + name_len;
            assert_eq!(frame[at], 7, "string header");
            let len = u16::from_be_bytes([frame[at + 1], frame[at + 2]]) as usize;
            let value = std::str::from_utf8(&frame[at + 3..at + 3 + len]).unwrap();
            if name == ":event-type" {
                event_type = value.to_owned();
            }
            at += 3 + len;
        }
        out.push(Message {
            event_type,
            payload: frame[headers_end..total - 4].to_vec(),
        });
        rest = &rest[total..];
    }
    out
}

fn complete(messages: &[Message]) -> serde_json::Value {
    let last = messages.last().expect("at least InvokeComplete");
    assert_eq!(last.event_type, "InvokeComplete", "{messages:?}");
    serde_json::from_slice(&last.payload).unwrap()
}

fn payload(messages: &[Message]) -> Vec<u8> {
    messages
        .iter()
        .filter(|m| m.event_type == "PayloadChunk")
        .flat_map(|m| m.payload.clone())
        .collect()
}

/// Starts a streamed invoke with `headers`, takes it as the runtime; returns the caller and id.
fn begin(h: &Harness, headers: &'static [(&'static str, &'static str)]) -> (JoinHandle<Reply>, String) {
    let addr = h.addr;
    let caller = std::thread::spawn(move || common::request(addr, "POST", STREAM_PATH, headers, b"{}"));
    let mut rt = FakeRuntime::connect(&h.runtime_api);
    let id = rt.next().request_id();
    (caller, id)
}

#[test]
fn each_streamed_piece_is_a_payload_chunk_as_it_arrives() {
    let h = Harness::with(|_| {});
    let (caller, id) = begin(&h, &[]);
    let pause = Duration::from_millis(300);
    let parts = [Part::Data(b"one "), Part::Sleep(pause), Part::Data(b"two")];
    assert_eq!(
        stream_response(&h.runtime_api, &id, "text/plain", &parts, None).status,
        202
    );
    let reply = caller.join().unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/vnd.amazon.eventstream"));
    assert_eq!(reply.header("x-amzn-requestid"), Some(id.as_str()));
    assert_eq!(reply.header("x-amz-executed-version"), Some("$LATEST"));
    let messages = messages(&reply.body);
    assert_eq!(payload(&messages), b"one two");
    assert_eq!(complete(&messages), serde_json::json!({}));
    // Head, "one ", "two", InvokeComplete: the pause shows between the two payload chunks.
    let chunks = &reply.chunks;
    assert!(chunks.len() >= 3, "{chunks:?}");
    let gap = chunks[chunks.len() - 2].0 - chunks[0].0;
    assert!(gap >= pause / 2, "the second piece came {gap:?} after the first");
}

#[test]
fn a_mid_stream_error_ends_in_invoke_complete_with_its_code() {
    let h = Harness::with(|_| {});
    let (caller, id) = begin(&h, &[]);
    let json = serde_json::json!({"errorMessage": "disk on fire", "errorType": "DiskError"});
    let b64 = base64::engine::general_purpose::STANDARD.encode(json.to_string());
    let parts = [Part::Data(b"partial")];
    let error = Some(("Function.DiskError", b64.as_str()));
    assert_eq!(
        stream_response(&h.runtime_api, &id, "text/plain", &parts, error).status,
        202
    );
    let messages = messages(&caller.join().unwrap().body);
    assert_eq!(payload(&messages), b"partial");
    let done = complete(&messages);
    assert_eq!(done["ErrorCode"], "DiskError");
    assert_eq!(done["ErrorDetails"], "disk on fire");
}

#[test]
fn a_function_error_is_an_invoke_complete_without_payload() {
    let h = Harness::with(|_| {});
    let (caller, id) = begin(&h, &[]);
    let body = br#"{"errorMessage":"bad input","errorType":"ValidationError"}"#;
    assert_eq!(
        FakeRuntime::connect(&h.runtime_api)
            .error(&id, "ValidationError", body)
            .status,
        202
    );
    let messages = messages(&caller.join().unwrap().body);
    assert!(payload(&messages).is_empty(), "{messages:?}");
    assert_eq!(complete(&messages)["ErrorCode"], "ValidationError");
}

#[test]
fn log_tail_is_returned_framed_like_lambdas() {
    let h = Harness::with(|_| {});
    let sink = h.server().log_sink();
    let addr = h.addr;
    let caller = std::thread::spawn(move || {
        let headers = [("x-amz-log-type", "Tail")];
        common::request(addr, "POST", "/2015-03-31/functions/fn/invocations", &headers, b"{}")
    });
    let mut rt = FakeRuntime::connect(&h.runtime_api);
    let id = rt.next().request_id();
    sink.record(&id, b"{\"message\":\"inside the invocation\"}\n");
    sink.record("another-invocation", b"not this one\n");
    assert_eq!(rt.respond(&id, "application/json", b"{}").status, 202);
    let reply = caller.join().unwrap();
    let tail = base64::engine::general_purpose::STANDARD
        .decode(reply.header("x-amz-log-result").expect("X-Amz-Log-Result"))
        .unwrap();
    let tail = String::from_utf8(tail).unwrap();
    let lines: Vec<&str> = tail.lines().collect();
    assert_eq!(lines[0], format!("START RequestId: {id} Version: $LATEST"));
    assert_eq!(lines[1], "{\"message\":\"inside the invocation\"}");
    assert_eq!(lines[2], format!("END RequestId: {id}"));
    assert!(
        lines[3].starts_with(&format!("REPORT RequestId: {id}\tDuration: ")),
        "{tail}"
    );
    assert_eq!(lines.len(), 4, "{tail}");
}

#[test]
fn bad_invocation_and_log_types_are_refused_with_their_value() {
    let h = Harness::with(|_| {});
    let event = common::request(
        h.addr,
        "POST",
        STREAM_PATH,
        &[("x-amz-invocation-type", "Event")],
        b"{}",
    );
    assert_eq!(event.status, 400);
    assert!(event.text().contains("Event"), "{}", event.text());
    let path = "/2015-03-31/functions/fn/invocations";
    let log = common::request(h.addr, "POST", path, &[("x-amz-log-type", "Everything")], b"{}");
    assert_eq!(log.status, 400);
    assert!(log.text().contains("\\\"Everything\\\""), "{}", log.text());
}
