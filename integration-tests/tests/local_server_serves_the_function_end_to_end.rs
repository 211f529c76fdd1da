//! Without AWS_LAMBDA_RUNTIME_API the testbed serves itself through the embedded local server:
//! both invoke paths, error mapping, N invokes in parallel, streamed bytes relayed as they
//! come, and a port already in use named in a clear error.

use crate::support::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// The testbed serving locally on a free port, with `n` slots.
fn serve(n: usize) -> (Process, u16) {
    serve_locally(&[("AWS_LAMBDA_MAX_CONCURRENCY", &n.to_string())])
}

/// A POST; returns the status, the raw head, the body (de-chunked), and when each body byte
/// run arrived (relative to the request).
fn post(port: u16, path: &str, body: &str) -> (u16, String, Vec<u8>, Vec<(Duration, usize)>) {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(T)).unwrap();
    let start = Instant::now();
    write!(
        conn,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    let mut arrivals = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let n = conn.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        arrivals.push((start.elapsed(), raw.len()));
    }
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP head");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut rest = &raw[end + 4..];
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut out = Vec::new();
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16).unwrap();
            rest = &rest[eol + 2..];
            if size == 0 {
                break out;
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
    } else {
        rest.to_vec()
    };
    (status, head, body, arrivals)
}

#[test]
fn both_invoke_paths_answer_and_errors_are_mapped() {
    let _m = shared_machine();
    let (_proc, port) = serve(1);
    let (status, _, body, _) = post(port, "/invoke", r#"{"op":"echo","x":1}"#);
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"op":"echo","x":1})
    );

    let path = "/2015-03-31/functions/testbed/invocations";
    let (status, head, body, _) = post(port, path, r#"{"op":"error","type":"Nope","message":"no"}"#);
    assert_eq!(status, 200, "a function error is a 200 in the Invoke API");
    assert!(
        head.to_ascii_lowercase().contains("x-amz-function-error: unhandled"),
        "{head}"
    );
    let err: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (err["errorType"].as_str(), err["errorMessage"].as_str()),
        (Some("Nope"), Some("no"))
    );

    let (status, head, body, _) = post(port, path, "not json");
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("x-amz-function-error"), "{head}");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["errorType"],
        "Runtime.UnmarshalError"
    );
}

#[test]
fn four_slots_serve_four_invokes_at_once() {
    let _m = whole_machine();
    let (_proc, port) = serve(4);
    let start = Instant::now();
    let calls: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || post(port, "/invoke", r#"{"op":"sleep","ms":700}"#)))
        .collect();
    for call in calls {
        let (status, _, body, _) = call.join().unwrap();
        assert_eq!(status, 200);
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!({"slept_ms":700}));
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_millis(1400),
        "4 × 700 ms on 4 slots took {elapsed:?}"
    );
}

#[test]
fn streamed_bytes_reach_the_caller_as_they_are_written() {
    let _m = whole_machine();
    let (_proc, port) = serve(1);
    let event = r#"{"op":"stream","chunks":5,"chunk_bytes":10,"delay_ms":300,"http":{"statusCode":418,"headers":{"x-tea":"earl grey"},"cookies":["a=b"]}}"#;
    let (status, head, body, arrivals) = post(port, "/invoke", event);
    assert_eq!(status, 418, "the prelude's status becomes the real status: {head}");
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("x-tea: earl grey") && lower.contains("set-cookie: a=b"),
        "{head}"
    );
    assert_eq!(body, vec![b'a'; 50]);
    let first = arrivals.first().unwrap().0;
    let last = arrivals.last().unwrap().0;
    assert!(
        last - first >= Duration::from_millis(900),
        "the 5 chunks 300 ms apart arrived together: first {first:?}, last {last:?}"
    );
}

#[test]
fn a_port_in_use_is_a_clear_error_naming_it() {
    let _m = shared_machine();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut proc = ProcessBuilder::new(binary(TESTBED))
        .env("LOCAL_LAMBDA_PORT", &port.to_string())
        .spawn();
    let status = proc
        .wait_exit(T)
        .expect("the runtime should exit when its port is taken");
    assert!(!status.success(), "{status}");
    let output = proc.output();
    assert!(
        output.contains(&format!("127.0.0.1:{port}")),
        "the error should name the address: {output}"
    );
    assert!(
        output.contains("LOCAL_LAMBDA_PORT"),
        "the error should say how to pick another: {output}"
    );
    drop(taken);
}
