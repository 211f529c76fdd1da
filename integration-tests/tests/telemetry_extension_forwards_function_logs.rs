//! The telemetry-logs example extension and the Telemetry API: it subscribes (classic schema
//! `2022-12-13`, Managed Instances `2025-01-29`) to `function` records with its listener as
//! the destination; the batches posted there reach its actor and are forwarded; a flood of
//! batches is always taken at once (the function is never held up); beside the local server,
//! the function's own log lines arrive.

use crate::support::*;
use std::time::{Duration, Instant};

const TELEMETRY: &str = env!("CARGO_BIN_EXE_telemetry-logs");

fn start(mock_api: &str, env: &[(&str, &str)]) -> Process {
    ProcessBuilder::new(binary(TELEMETRY))
        .runtime_api(mock_api)
        // Off Lambda, `sandbox.localdomain` does not resolve: no resolver time spent on it.
        .env("LAMBDA_ACTORS_TELEMETRY_HOST", "127.0.0.1")
        .envs(env.iter().copied())
        .spawn()
}

/// Posts `body` to `uri` (`http://host:port/path`); the status.
fn post(uri: &str, body: &str) -> u16 {
    let rest = uri.strip_prefix("http://").expect("an http URI");
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let reply = http_post(authority, &path, body);
    reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn shutdown_event() -> Value {
    json!({"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": now_epoch_ms() + 2000})
}

#[test]
fn it_subscribes_and_forwards_the_batches_posted_to_its_listener() {
    let _m = shared_machine();
    let mock = MockRuntimeApi::start();
    let mut proc = start(&mock.runtime_api(), &[]);
    let reg = mock
        .wait_for_registrations(1, T)
        .unwrap_or_else(|e| panic!("{e}\n{}", proc.output()));
    assert_eq!(reg[0].body, json!({"events": ["SHUTDOWN"]}));
    let subs = mock
        .wait_for_telemetry_subscriptions(1, T)
        .unwrap_or_else(|e| panic!("{e}\n{}", proc.output()));
    let (id, sub) = &subs[0];
    assert_eq!(
        id, &reg[0].identifier,
        "the subscription carries the extension's identifier"
    );
    assert_eq!(sub["schemaVersion"], "2022-12-13");
    assert_eq!(sub["types"], json!(["function"]));
    assert_eq!(sub["destination"]["protocol"], "HTTP");
    assert!(sub["buffering"]["timeoutMs"].as_u64().is_some(), "{sub}");
    let uri = sub["destination"]["URI"].as_str().unwrap().to_owned();
    assert!(uri.starts_with("http://127.0.0.1:"), "{uri}");
    let batch = json!([
        {"time": "2026-12-01T00:00:00.000Z", "type": "function", "record": "first line"},
        {"time": "2026-12-01T00:00:00.001Z", "type": "platform.start", "record": {"requestId": "r"}},
        {"time": "2026-12-01T00:00:00.002Z", "type": "function", "record": "second line"}
    ]);
    assert_eq!(post(&uri, &batch.to_string()), 200);
    proc.wait_for_line(
        |l| l.contains("telemetry-logs: 2026-12-01T00:00:00.002Z second line"),
        T,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", proc.output()));
    // A flood is taken at once, whatever the actor's pace: never a slow or refused post.
    let flood = Instant::now();
    for _ in 0..200 {
        assert_eq!(post(&uri, &batch.to_string()), 200);
    }
    assert!(
        flood.elapsed() < Duration::from_secs(10),
        "200 posts took {:?}",
        flood.elapsed()
    );
    mock.queue_extension_event(shutdown_event());
    let status = proc
        .wait_exit(T)
        .unwrap_or_else(|| panic!("still running\n{}", proc.output()));
    assert!(status.success(), "{status}\n{}", proc.output());
    let out = proc.output();
    assert!(
        out.contains("telemetry-logs: 2026-12-01T00:00:00.000Z first line"),
        "{out}"
    );
    assert!(
        !out.contains("requestId"),
        "platform records are not forwarded as lines:\n{out}"
    );
    assert!(out.contains("forwarded"), "{out}");
}

#[test]
fn on_managed_instances_it_subscribes_with_the_managed_instances_schema() {
    let _m = shared_machine();
    let mock = MockRuntimeApi::start();
    let mut proc = start(&mock.runtime_api(), &[("AWS_LAMBDA_MAX_CONCURRENCY", "4")]);
    let subs = mock.wait_for_telemetry_subscriptions(1, T).unwrap();
    assert_eq!(subs[0].1["schemaVersion"], "2025-01-29");
    mock.queue_extension_event(shutdown_event());
    assert!(
        proc.wait_exit(T).expect("exits after SHUTDOWN").success(),
        "{}",
        proc.output()
    );
}

/// Beside the local server, the function's own log lines reach the extension.
#[test]
fn beside_the_local_server_the_functions_log_lines_arrive() {
    let _m = shared_machine();
    let (mut function, port) = serve_locally(&[]);
    let mut extension = start(&format!("127.0.0.1:{port}"), &[]);
    function
        .wait_for_line(|l| l.contains("telemetry subscription"), T)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", function.output(), extension.output()));
    let event = r#"{"op":"log","level":"info","message":"hello from the function"}"#;
    let reply = http_post(&format!("127.0.0.1:{port}"), "/invoke", event);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    extension
        .wait_for_line(
            |l| l.contains("telemetry-logs:") && l.contains("hello from the function"),
            T,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", extension.output(), function.output()));
    function.sigint();
    let status = extension
        .wait_exit(T)
        .expect("the extension exits after Ctrl-C on the function");
    assert!(status.success(), "{status}\n{}", extension.output());
    assert!(function.wait_exit(T).expect("the function exits").success());
}
