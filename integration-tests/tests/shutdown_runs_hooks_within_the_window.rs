//! The drain on SIGTERM, within the shutdown window (`LAMBDA_ACTORS_SHUTDOWN_GRACE_MS`): each
//! handler's shutdown hook runs once, after its last invocation; the runtime's hook runs; work
//! started with `lambda_actors::spawn` is waited for; a hook that overruns the window is
//! abandoned and logged, one that panics is logged; at the end of the window whatever still
//! runs is answered `Runtime.Shutdown` and the process exits 0. The default window (200 ms)
//! ends before Lambda's earliest SIGKILL (300 ms after SIGTERM).

use crate::support::*;
use std::time::{Duration, Instant};

fn lines_with(run: &Run, needle: &str) -> Vec<integration_tests::Line> {
    run.proc
        .lines()
        .into_iter()
        .filter(|l| l.text.contains(needle))
        .collect()
}

fn exit_after_sigterm(run: &mut Run, within: Duration) -> Duration {
    let signalled = Instant::now();
    run.proc.sigterm();
    let Some(status) = run.proc.wait_exit(within) else {
        run.fail(&format!("still running {within:?} after SIGTERM"))
    };
    run.check(status.code() == Some(0), || {
        format!("exit after SIGTERM: {status}, expected 0")
    });
    signalled.elapsed()
}

#[test]
fn handler_hooks_run_once_per_slot_after_its_last_invocation() {
    let _m = shared_machine();
    let mut run = Run::managed(2, &[("LAMBDA_ACTORS_SHUTDOWN_GRACE_MS", "5000")]);
    run.parked(2);
    let id = run.send(json!({"op": "sleep", "ms": 600}));
    run.mock.wait_for_deliveries(1, T).unwrap_or_else(|e| run.fail(&e));
    let took = exit_after_sigterm(&mut run, T);
    let answer = run.answer(&id);
    run.ok_json(&answer);
    let hooks = lines_with(&run, "handler shutdown hook ran");
    run.check(hooks.len() == 2, || {
        format!("expected one hook per slot (2), got {}", hooks.len())
    });
    // The slot that served the sleep ran its hook after the sleep had ended (600 ms after the
    // event was handed out at the earliest); the idle one ran its hook at once.
    let busy: Vec<_> = hooks
        .iter()
        .filter(|l| l.text.contains("served=1") || l.text.contains("\"served\":1"))
        .collect();
    run.check(busy.len() == 1, || {
        format!("one hook should report served=1: {hooks:?}")
    });
    let delivered = run.mock.deliveries()[0].at;
    run.check(busy[0].at >= delivered + Duration::from_millis(600), || {
        "the busy slot's hook ran before its 600 ms invocation could have ended".into()
    });
    let runtime_hook = lines_with(&run, "runtime shutdown hook ran");
    run.check(runtime_hook.len() == 1, || {
        format!("runtime hook lines: {runtime_hook:?}")
    });
    run.check(took >= Duration::from_millis(400), || {
        format!("exited {took:?} after SIGTERM with a 600 ms sleep in flight")
    });
}

#[test]
fn drain_waits_for_spawned_work() {
    let _m = shared_machine();
    let mut run = Run::managed(2, &[("LAMBDA_ACTORS_SHUTDOWN_GRACE_MS", "5000")]);
    run.parked(2);
    let id = run.send(json!({"op": "spawn", "ms": 700}));
    let body = run.ok_json(&run.answer(&id));
    run.check(body == json!({"spawned": true}), || format!("spawn answer: {body}"));
    let took = exit_after_sigterm(&mut run, T);
    run.check(!lines_with(&run, "spawned work done").is_empty(), || {
        "the spawned work was cut short: no \"spawned work done\" line before exit".into()
    });
    run.check(took >= Duration::from_millis(300), || {
        format!("exited {took:?} after SIGTERM with ~700 ms of spawned work running")
    });
}

#[test]
fn a_hook_that_overruns_the_window_is_abandoned_and_logged() {
    let _m = shared_machine();
    let mut run = Run::managed(
        2,
        &[("LAMBDA_ACTORS_SHUTDOWN_GRACE_MS", "300"), ("TESTBED_HOOK_MS", "20000")],
    );
    run.parked(2);
    let took = exit_after_sigterm(&mut run, T);
    let abandoned = lines_with(&run, "did not finish within the shutdown window");
    // Two handler hooks and the runtime hook.
    run.check(abandoned.len() == 3, || {
        format!("expected 3 abandoned-hook warnings: {abandoned:?}")
    });
    run.check(abandoned.iter().all(|l| l.text.contains("WARN")), || {
        format!("{abandoned:?}")
    });
    run.check(lines_with(&run, "shutdown hook ran").is_empty(), || {
        "a 20 s hook finished?".into()
    });
    run.check(took < Duration::from_secs(5), || {
        format!("exited {took:?} after SIGTERM with a 300 ms window: the hooks were waited for")
    });
}

#[test]
fn a_hook_that_panics_is_logged() {
    let _m = shared_machine();
    let mut run = Run::managed(2, &[("TESTBED_HOOK_PANIC", "1")]);
    run.parked(2);
    exit_after_sigterm(&mut run, T);
    // The runtime's lines (not the panic hook's own "panicked at" lines, which do not say this).
    let panicked = lines_with(&run, "shutdown hook panicked: testbed");
    run.check(panicked.len() == 3, || {
        format!("expected 3 hook panics logged: {panicked:?}")
    });
    run.check(panicked.iter().all(|l| l.text.contains("ERROR")), || {
        format!("{panicked:?}")
    });
}

#[test]
fn default_window_answers_what_still_runs_then_exits() {
    let _m = shared_machine();
    let mut run = Run::managed(2, &[]);
    run.parked(2);
    let id = run.send(json!({"op": "hang"}));
    run.mock.wait_for_deliveries(1, T).unwrap_or_else(|e| run.fail(&e));
    let took = exit_after_sigterm(&mut run, T);
    let answers = run.mock.answers_for(&id);
    run.check(answers.len() == 1, || {
        format!("the hung invocation got {} answers", answers.len())
    });
    run.error_json(&answers[0], "Runtime.Shutdown");
    // The window is 200 ms; the bound is generous (shared machine), the lower one is the point.
    run.check(took >= Duration::from_millis(150), || {
        format!("exited {took:?} after SIGTERM: the invocation got no window at all")
    });
    run.check(took < Duration::from_secs(3), || {
        format!("exited {took:?} after SIGTERM")
    });
    eprintln!("default window: exit 0 {took:?} after SIGTERM, hung invocation answered Runtime.Shutdown");
}
