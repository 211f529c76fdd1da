//! An external extension built with lambda-actors-extension (the `extension-flush` example),
//! against the mock's Extensions API: it registers under its file name for `INVOKE` and
//! `SHUTDOWN` in classic mode and for `SHUTDOWN` only on Managed Instances; its actor gets the
//! events in order; after `SHUTDOWN` it exits 0; a failing handler is posted to
//! `/extension/exit/error` (`Extension.<Type>`), a panicking one as `Extension.Crash`, and the
//! process exits non-zero.

use crate::support::*;

const EXTENSION: &str = env!("CARGO_BIN_EXE_extension-flush");

fn start(mock: &MockRuntimeApi, env: &[(&str, &str)]) -> Process {
    ProcessBuilder::new(binary(EXTENSION))
        .runtime_api(&mock.runtime_api())
        .envs(env.iter().copied())
        .spawn()
}

fn invoke_event(id: &str) -> Value {
    json!({
        "eventType": "INVOKE", "deadlineMs": now_epoch_ms() + 3000, "requestId": id,
        "invokedFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
        "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-5759e988-bd862e3fe1be46a994272793"}
    })
}

fn shutdown_event() -> Value {
    json!({"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": now_epoch_ms() + 2000})
}

#[test]
fn classic_extension_gets_invokes_then_flushes_on_shutdown() {
    let _m = shared_machine();
    let mock = MockRuntimeApi::start();
    let mut proc = start(&mock, &[]);
    let reg = mock
        .wait_for_registrations(1, T)
        .unwrap_or_else(|e| panic!("{e}\n{}", proc.output()));
    assert_eq!(
        reg[0].name.as_deref(),
        Some("extension-flush"),
        "registers under its file name"
    );
    assert_eq!(reg[0].body, json!({"events": ["INVOKE", "SHUTDOWN"]}));
    mock.wait_for_extension_parked(1, T).unwrap();
    assert_eq!(
        mock.extension_next_calls()[0].1,
        reg[0].identifier,
        "event/next carries the identifier"
    );
    mock.queue_extension_event(invoke_event("req-a"));
    mock.queue_extension_event(invoke_event("req-b"));
    mock.queue_extension_event(shutdown_event());
    let status = proc
        .wait_exit(T)
        .unwrap_or_else(|| panic!("still running after SHUTDOWN\n{}", proc.output()));
    assert!(status.success(), "exit after SHUTDOWN: {status}\n{}", proc.output());
    let out = proc.output();
    assert!(
        out.contains(r#"flushed 2 invocations ["req-a", "req-b"] (spindown)"#),
        "the events should reach the actor in order:\n{out}"
    );
    assert!(mock.extension_errors().is_empty(), "{:?}", mock.extension_errors());
}

#[test]
fn on_managed_instances_it_registers_for_shutdown_only() {
    let _m = shared_machine();
    for env in [
        [("AWS_LAMBDA_MAX_CONCURRENCY", "8")],
        [("AWS_LAMBDA_INITIALIZATION_TYPE", "lambda-managed-instances")],
    ] {
        let mock = MockRuntimeApi::start();
        let mut proc = start(&mock, &env);
        let reg = mock.wait_for_registrations(1, T).unwrap();
        assert_eq!(reg[0].body, json!({"events": ["SHUTDOWN"]}), "with {env:?}");
        mock.queue_extension_event(shutdown_event());
        let status = proc.wait_exit(T).expect("exits after SHUTDOWN");
        assert!(status.success(), "{status}\n{}", proc.output());
        assert!(proc.output().contains("flushed 0 invocations"), "{}", proc.output());
    }
}

#[test]
fn a_failing_or_panicking_extension_is_reported_to_exit_error() {
    let _m = shared_machine();
    for (env, error_type) in [
        (("EXTENSION_FLUSH_FAIL", "1"), "Extension.FlushFailed"),
        (("EXTENSION_FLUSH_PANIC", "1"), "Extension.Crash"),
    ] {
        let mock = MockRuntimeApi::start();
        let mut proc = start(&mock, &[env, ("RUST_BACKTRACE", "0")]);
        mock.wait_for_registrations(1, T).unwrap();
        mock.queue_extension_event(invoke_event("req-x"));
        mock.queue_extension_event(shutdown_event());
        let errors = mock
            .wait_for_extension_errors(1, T)
            .unwrap_or_else(|e| panic!("{e}\n{}", proc.output()));
        assert_eq!(errors[0].route, "exit/error");
        assert_eq!(
            errors[0].header("Lambda-Extension-Function-Error-Type"),
            Some(error_type)
        );
        assert!(errors[0].header("Lambda-Extension-Identifier").is_some());
        assert!(
            errors[0].body["errorMessage"].as_str().is_some_and(|m| !m.is_empty()),
            "{:?}",
            errors[0]
        );
        let status = proc.wait_exit(T).expect("exits after the failure");
        assert!(
            !status.success(),
            "a failed extension must exit non-zero\n{}",
            proc.output()
        );
    }
}

/// The extension beside the function served by the local server, as on a developer's
/// machine: it gets the invocation's `INVOKE`, and `SHUTDOWN` when the function is stopped
/// with Ctrl-C (SIGINT).
#[test]
fn beside_the_local_server_it_gets_invokes_and_shutdown_on_ctrl_c() {
    let _m = shared_machine();
    let (mut function, port) = serve_locally(&[]);
    let mut extension = ProcessBuilder::new(binary(EXTENSION))
        .runtime_api(&format!("127.0.0.1:{port}"))
        .spawn();
    function
        .wait_for_line(|l| l.contains("extension extension-flush registered"), T)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", function.output(), extension.output()));
    let reply = http_post(&format!("127.0.0.1:{port}"), "/invoke", r#"{"op":"echo"}"#);
    assert!(reply.contains(r#""op":"echo""#), "{reply}");
    function.sigint();
    let status = extension
        .wait_exit(T)
        .unwrap_or_else(|| panic!("the extension is still running after Ctrl-C\n{}", extension.output()));
    assert!(status.success(), "{status}\n{}", extension.output());
    assert!(
        extension.output().contains("flushed 1 invocations"),
        "the invocation's INVOKE, then SHUTDOWN:\n{}",
        extension.output()
    );
    let status = function.wait_exit(T).expect("the function exits after Ctrl-C");
    assert!(status.success(), "{status}\n{}", function.output());
}

/// An internal extension, registered from the function's own `Runtime::init`: before the
/// first `/next`, for `INVOKE` only, its events reaching its actor in the function's process;
/// on Managed Instances it is not registered (Lambda sends internal extensions nothing there).
#[test]
fn an_internal_extension_registers_for_invoke_in_classic_mode_only() {
    let _m = shared_machine();
    let run = Run::classic(&[("TESTBED_INTERNAL_EXTENSION", "1")]);
    run.parked(1);
    let regs = run.mock.wait_for_registrations(2, T).unwrap_or_else(|e| run.fail(&e));
    let audit = regs
        .iter()
        .find(|r| r.name.as_deref() == Some("testbed-audit"))
        .unwrap_or_else(|| run.fail(&format!("no testbed-audit registration: {regs:?}")));
    run.check(audit.body == json!({"events": ["INVOKE"]}), || {
        format!("{}", audit.body)
    });
    run.check(audit.at < run.mock.next_call_times()[0], || {
        "registered after the first /next".into()
    });
    let id = audit.identifier.clone().expect("an identifier");
    run.mock
        .wait_for_extension_parked(2, T)
        .unwrap_or_else(|e| run.fail(&e));
    run.mock.queue_extension_event_for(&id, invoke_event("req-internal"));
    run.proc
        .wait_for_line(|l| l.contains("internal extension saw INVOKE req-internal"), T)
        .unwrap_or_else(|e| run.fail(&e));
    let echo = run.send(json!({"op": "echo"}));
    run.answer(&echo);

    let managed = Run::managed(2, &[("TESTBED_INTERNAL_EXTENSION", "1")]);
    managed.parked(2);
    let regs = managed.mock.registrations();
    managed.check(regs.iter().all(|r| r.name.as_deref() != Some("testbed-audit")), || {
        format!("registered on Managed Instances: {regs:?}")
    });
}
