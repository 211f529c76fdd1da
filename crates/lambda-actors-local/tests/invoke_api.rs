//! The Invoke API side: both paths, what the runtime sees, error mapping, limits, timeouts.

mod common;

use base64::Engine as _;
use common::{invoke, request, spawn_poller, Client, FakeRuntime, Harness};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A poller that answers `{"echo": <event>}` as `application/json`.
fn echo(h: &Harness) {
    spawn_poller(&h.runtime_api, |rt, event| {
        let mut out = b"{\"echo\":".to_vec();
        out.extend_from_slice(&event.body);
        out.push(b'}');
        let reply = rt.respond(&event.request_id(), "application/json", &out);
        assert_eq!(reply.status, 202);
    });
}

#[test]
fn both_invoke_paths_return_the_output() {
    let h = Harness::with(|_| {});
    echo(&h);
    for path in ["/invoke", "/2015-03-31/functions/hello/invocations"] {
        let reply = request(h.addr, "POST", path, &[], br#"{"n":1}"#);
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        assert_eq!(reply.json(), serde_json::json!({"echo": {"n": 1}}), "{path}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert!(reply.header("x-amzn-requestid").is_some_and(|id| id.len() == 36));
        assert_eq!(reply.header("x-amz-function-error"), None);
    }
    assert_eq!(h.stats().invocations, 2);
}

#[test]
fn the_invocation_endpoint_is_configurable() {
    let h = Harness::with(|c| c.invocation_endpoint = "/run".into());
    echo(&h);
    assert!(h.server().invoke_url().ends_with("/run"));
    assert_eq!(request(h.addr, "POST", "/run", &[], b"1").json()["echo"], 1);
    let miss = request(h.addr, "POST", "/invoke", &[], b"1");
    assert_eq!(miss.status, 404);
    assert!(miss.json()["errorMessage"].as_str().unwrap().contains("POST /run"));
    assert_eq!(request(h.addr, "GET", "/run", &[], b"").status, 405);
}

#[test]
fn next_carries_every_invocation_header() {
    let h = Harness::with(|c| {
        c.function_name = "my-fn".into();
        c.timeout = Duration::from_secs(30);
    });
    // The poller sends back what it saw.
    spawn_poller(&h.runtime_api, |rt, event| {
        let seen = serde_json::to_vec(&event.headers).unwrap();
        rt.respond(&event.request_id(), "application/json", &seen);
    });
    let context = base64::engine::general_purpose::STANDARD.encode(br#"{"custom":{"k":"v"}}"#);
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let reply = request(
        h.addr,
        "POST",
        "/invoke",
        &[
            ("content-type", "text/plain"),
            ("x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"),
            ("x-amz-client-context", &context),
            ("x-amz-tenant-id", "tenant-7"),
        ],
        b"hi",
    );
    let seen: Vec<(String, String)> = serde_json::from_slice(&reply.body).unwrap();
    let get = |name: &str| seen.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let id = get("lambda-runtime-aws-request-id").unwrap();
    assert_eq!(reply.header("x-amzn-requestid"), Some(id));
    assert_eq!(id.len(), 36);
    let deadline: u64 = get("lambda-runtime-deadline-ms").unwrap().parse().unwrap();
    assert!(
        deadline >= before + 29_000 && deadline <= before + 32_000,
        "{deadline} vs {before}"
    );
    assert_eq!(
        get("lambda-runtime-invoked-function-arn"),
        Some("arn:aws:lambda:us-east-1:000000000000:function:my-fn")
    );
    assert_eq!(
        get("lambda-runtime-trace-id"),
        Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    );
    assert_eq!(get("lambda-runtime-client-context"), Some(r#"{"custom":{"k":"v"}}"#));
    assert_eq!(get("lambda-runtime-aws-tenant-id"), Some("tenant-7"));
    assert_eq!(get("content-type"), Some("text/plain"));
    let invocation_id = get("lambda-runtime-invocation-id").unwrap();
    assert!(invocation_id.len() == 36 && invocation_id != id);

    // Without the optional headers: a generated trace id, no context, no tenant.
    let reply = invoke(h.addr, b"{}");
    let seen: Vec<(String, String)> = serde_json::from_slice(&reply.body).unwrap();
    let get = |name: &str| seen.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    assert!(get("lambda-runtime-trace-id").unwrap().starts_with("Root=1-"));
    assert_eq!(get("lambda-runtime-client-context"), None);
    assert_eq!(get("lambda-runtime-aws-tenant-id"), None);
    assert_ne!(get("lambda-runtime-aws-request-id"), Some(id));
}

#[test]
fn a_bad_client_context_is_400() {
    let h = Harness::with(|_| {});
    let reply = request(
        h.addr,
        "POST",
        "/invoke",
        &[("x-amz-client-context", "not base64!")],
        b"{}",
    );
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["errorType"], "InvalidRequestContentException");
}

#[test]
fn a_function_error_is_200_unhandled_with_the_error_json() {
    let h = Harness::with(|_| {});
    spawn_poller(&h.runtime_api, |rt, event| {
        let body = br#"{"errorMessage":"name is empty","errorType":"ValidationError","stackTrace":[]}"#;
        let reply = rt.error(&event.request_id(), "Function.ValidationError", body);
        assert_eq!(reply.status, 202);
        assert_eq!(reply.json(), serde_json::json!({"status": "OK"}));
    });
    let reply = invoke(h.addr, b"{}");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let json = reply.json();
    assert_eq!(json["errorType"], "ValidationError");
    assert_eq!(json["errorMessage"], "name is empty");
}

#[test]
fn an_event_over_6_mib_is_413_and_the_connection_survives() {
    let h = Harness::with(|_| {});
    echo(&h);
    let big = vec![b'a'; 6 * 1024 * 1024 + 1];
    let mut client = Client::connect(h.addr);
    let reply = client.request("POST", "/invoke", &[], &big);
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json()["errorType"], "RequestEntityTooLargeException");
    // The body was read and dropped: the same connection goes on.
    let reply = client.request("POST", "/invoke", &[], b"2");
    assert_eq!(reply.json()["echo"], 2);
    // Exactly 6 MiB is fine.
    let mut event = b"\"".to_vec();
    event.resize(6 * 1024 * 1024 - 1, b'b');
    event.push(b'"');
    let reply = client.request("POST", "/invoke", &[], &event);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), event.len() + "{\"echo\":}".len());
}

#[test]
fn an_oversized_event_announced_with_expect_100_is_refused_before_its_body() {
    let h = Harness::with(|_| {});
    let mut client = Client::connect(h.addr);
    let len = (7 * 1024 * 1024).to_string();
    client.send_head(
        "POST",
        "/invoke",
        &[("content-length", &len), ("expect", "100-continue")],
    );
    let reply = client.read_reply();
    assert_eq!(reply.status, 413);
    assert_eq!(reply.header("connection"), Some("close"));
}

#[test]
fn expect_100_continue_gets_100_then_the_answer() {
    let h = Harness::with(|_| {});
    echo(&h);
    let mut client = Client::connect(h.addr);
    client.send_head(
        "POST",
        "/invoke",
        &[("content-length", "3"), ("expect", "100-continue")],
    );
    // The body is sent only after the interim reply, as curl does for big bodies.
    assert_eq!(client.read_exact(25), b"HTTP/1.1 100 Continue\r\n\r\n");
    client.write_raw(b"123");
    assert_eq!(client.read_reply().json()["echo"], 123);
}

#[test]
fn a_chunked_event_is_read_whole() {
    let h = Harness::with(|_| {});
    echo(&h);
    let mut client = Client::connect(h.addr);
    client.send_head("POST", "/invoke", &[("transfer-encoding", "chunked")]);
    client.write_raw(b"3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n");
    assert_eq!(client.read_reply().json()["echo"], serde_json::json!([1, 2]));
}

#[test]
fn event_and_dry_run_invocation_types() {
    let h = Harness::with(|_| {});
    echo(&h);
    let reply = request(h.addr, "POST", "/invoke", &[("x-amz-invocation-type", "DryRun")], b"{}");
    assert_eq!(reply.status, 204);
    let reply = request(h.addr, "POST", "/invoke", &[("x-amz-invocation-type", "Event")], b"{}");
    assert_eq!(reply.status, 202);
    h.wait_until("the async invoke to run", |s| s.invocations == 1 && s.busy == 0);
    let reply = request(h.addr, "POST", "/invoke", &[("x-amz-invocation-type", "Later")], b"{}");
    assert_eq!(reply.status, 400);
}

#[test]
fn a_runtime_that_never_answers_times_out_as_sandbox_timedout() {
    let h = Harness::with(|c| c.timeout = Duration::from_secs(1));
    let (tx, rx) = std::sync::mpsc::channel();
    let api = h.runtime_api.clone();
    std::thread::spawn(move || {
        let mut rt = FakeRuntime::connect(&api);
        let event = rt.next();
        tx.send(event.request_id()).unwrap();
        // Hold it past the deadline, then answer late.
        std::thread::sleep(Duration::from_millis(1500));
        tx.send(
            rt.respond(&event.request_id(), "application/json", b"late")
                .status
                .to_string(),
        )
        .unwrap();
    });
    let start = Instant::now();
    let reply = invoke(h.addr, b"{}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(reply.json()["errorType"], "Sandbox.Timedout");
    assert_eq!(reply.json()["errorMessage"], "Task timed out after 1.00 seconds");
    let id = rx.recv().unwrap();
    assert_eq!(reply.header("x-amzn-requestid"), Some(id.as_str()));
    // The slot is free again, and the late answer is refused with 410.
    assert_eq!(h.stats().busy, 0);
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "410");
}

#[test]
fn an_invoke_no_runtime_asks_for_times_out_too() {
    let h = Harness::with(|c| c.timeout = Duration::from_secs(1));
    let reply = invoke(h.addr, b"{}");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-amz-function-error"), Some("Unhandled"));
    let json = reply.json();
    assert_eq!(json["errorType"], "Sandbox.Timedout");
    assert!(
        json["errorMessage"].as_str().unwrap().contains("no GET /next"),
        "{json}"
    );
    assert_eq!(h.stats().queued, 0);
}

#[test]
fn unknown_paths_are_404_with_a_hint() {
    let h = Harness::with(|_| {});
    let reply = request(h.addr, "GET", "/", &[], b"");
    assert_eq!(reply.status, 404);
    assert!(reply.json()["errorMessage"].as_str().unwrap().contains("POST /invoke"));
    let reply = request(h.addr, "GET", "/2018-06-01/runtime/nothing", &[], b"");
    assert_eq!(reply.status, 404);
}

#[test]
fn a_huge_request_head_is_431() {
    let h = Harness::with(|_| {});
    let long = "x".repeat(70 * 1024);
    let reply = request(h.addr, "POST", "/invoke", &[("x-long", &long)], b"{}");
    assert_eq!(reply.status, 431);
}
