//! Lambda sends SIGTERM only to a runtime with at least one extension registered; without one
//! it kills the process and the drain never runs. So the runtime registers an internal
//! extension for no events during init, before its first `/next` (Lambda closes registration
//! then), and keeps that extension's `GET /extension/event/next` parked, as Lambda requires
//! before init completes. `LAMBDA_ACTORS_GRACEFUL_SHUTDOWN=0` turns it off; a failed
//! registration is one WARN naming the reply, never fatal.

use crate::support::*;

fn registers_before_the_first_next(mut run: Run, slots: usize) {
    run.parked(slots);
    run.mock
        .wait_for_extension_parked(1, T)
        .unwrap_or_else(|e| run.fail(&e));
    let registrations = run.mock.registrations();
    run.check(registrations.len() == 1, || {
        format!("expected one registration, got {registrations:?}")
    });
    let reg = &registrations[0];
    run.check(reg.name.as_deref() == Some("lambda-actors-graceful-shutdown"), || {
        format!("Lambda-Extension-Name: {:?}", reg.name)
    });
    run.check(reg.body == json!({"events": []}), || {
        format!("an internal extension registers for no events, got {}", reg.body)
    });
    let first_next = run.mock.next_call_times()[0];
    run.check(reg.at < first_next, || {
        "the registration came after the first /runtime/invocation/next (Lambda refuses it then)".into()
    });
    let parked = run.mock.extension_next_calls();
    run.check(parked.len() == 1 && parked[0].1 == reg.identifier, || {
        format!("event/next must carry the identifier {:?}: {parked:?}", reg.identifier)
    });
    // And the function is served as before.
    let id = run.send(json!({"op": "echo", "x": 1}));
    let body = run.ok_json(&run.answer(&id));
    run.check(body == json!({"op": "echo", "x": 1}), || format!("echo: {body}"));
    run.sigterm_and_expect_exit_zero();
}

#[test]
fn internal_extension_registers_before_the_first_next_managed() {
    let _m = shared_machine();
    registers_before_the_first_next(Run::managed(4, &[]), 4);
}

#[test]
fn internal_extension_registers_before_the_first_next_classic() {
    let _m = shared_machine();
    registers_before_the_first_next(Run::classic(&[]), 1);
}

#[test]
fn graceful_shutdown_off_registers_nothing() {
    let _m = shared_machine();
    let mut run = Run::managed(2, &[("LAMBDA_ACTORS_GRACEFUL_SHUTDOWN", "0")]);
    run.parked(2);
    let id = run.send(json!({"op": "echo"}));
    run.answer(&id);
    run.check(run.mock.registrations().is_empty(), || {
        format!(
            "registered with LAMBDA_ACTORS_GRACEFUL_SHUTDOWN=0: {:?}",
            run.mock.registrations()
        )
    });
    run.check(run.mock.extension_next_calls().is_empty(), || {
        "an event/next with LAMBDA_ACTORS_GRACEFUL_SHUTDOWN=0".into()
    });
    run.sigterm_and_expect_exit_zero();
}

#[test]
fn failed_registration_is_one_warning_and_the_runtime_goes_on() {
    let _m = shared_machine();
    let mock = MockRuntimeApi::start();
    mock.reply_register(403);
    let proc = testbed(&mock).env("AWS_LAMBDA_MAX_CONCURRENCY", "2").spawn();
    let mut run = Run { proc, mock };
    run.parked(2);
    let id = run.send(json!({"op": "echo"}));
    run.answer(&id);
    // The output is read asynchronously: wait for the line before counting.
    run.proc
        .wait_for_line(|l| l.contains("lambda-actors-graceful-shutdown"), T)
        .unwrap_or_else(|e| run.fail(&e));
    let warnings: Vec<String> = run
        .proc
        .lines()
        .into_iter()
        .map(|l| l.text)
        .filter(|t| t.contains("lambda-actors-graceful-shutdown"))
        .collect();
    run.check(warnings.len() == 1, || {
        format!("expected one line about the failed registration, got {warnings:?}")
    });
    run.check(warnings[0].contains("WARN") && warnings[0].contains("403"), || {
        format!("the warning should be a WARN naming the reply (403): {}", warnings[0])
    });
    run.check(run.mock.extension_next_calls().is_empty(), || {
        "event/next without a registration".into()
    });
    run.sigterm_and_expect_exit_zero();
}
