//! `AWS_LAMBDA_RUNTIME_API` with a path prefix (`127.0.0.1:PORT/.rt`, also with `http://`) is
//! honoured on every endpoint.

use crate::support::*;

fn prefixed(api: impl Fn(&MockRuntimeApi) -> String, env: &[(&str, &str)]) {
    let mock = MockRuntimeApi::with_prefix("/.rt");
    let proc = testbed(&mock)
        .runtime_api(&api(&mock))
        .envs(env.iter().copied())
        .spawn();
    let run = Run { mock, proc };
    let id = run.send(json!({"op": "echo", "via": "prefix"}));
    let body = run.ok_json(&run.answer(&id));
    run.check(body["via"] == "prefix", || format!("echo: {body}"));
    let id = run.send(json!({"op": "error", "type": "Prefixed", "message": "m"}));
    run.error_json(&run.answer(&id), "Prefixed");
    let unexpected = run.mock.unexpected_requests();
    run.check(unexpected.is_empty(), || {
        format!("requests outside the prefix: {unexpected:?}")
    });
}

#[test]
fn bare_host_port_with_prefix() {
    let _m = shared_machine();
    prefixed(MockRuntimeApi::runtime_api, &[]);
}

#[test]
fn http_scheme_with_prefix_managed() {
    let _m = shared_machine();
    prefixed(
        |m| format!("http://{}", m.runtime_api()),
        &[("AWS_LAMBDA_MAX_CONCURRENCY", "2")],
    );
}

#[test]
fn prefixed_init_error_goes_to_prefixed_endpoint() {
    let _m = shared_machine();
    let mock = MockRuntimeApi::with_prefix("/.rt");
    let proc = testbed(&mock).env("TESTBED_INIT_FAIL", "prefixed init failure").spawn();
    let run = Run { mock, proc };
    let errors = run.mock.wait_for_init_errors(1, T).unwrap_or_else(|e| run.fail(&e));
    run.check(
        errors[0]
            .error_message()
            .is_some_and(|m| m.contains("prefixed init failure")),
        || format!("init error: {}", errors[0].body_text()),
    );
    run.check(run.mock.unexpected_requests().is_empty(), || {
        format!("requests outside the prefix: {:?}", run.mock.unexpected_requests())
    });
}
