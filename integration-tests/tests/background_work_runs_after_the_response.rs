//! Work after the response: a `background` event is answered `{"accepted": true}` at once,
//! the handler then works 800 ms and logs "background done" with the request id, and only then
//! does its slot ask for the next event. With a single slot (classic mode, or managed mode with
//! `AWS_LAMBDA_MAX_CONCURRENCY=1`) the second `/next` therefore comes ≥ 800 ms after the first.

use crate::support::*;
use std::time::Duration;

const WORK_MS: u64 = 800;

/// Runs one background event on a single-slot process; returns its request id and the
/// "background done" log line.
fn background_then_next(run: &Run) -> (String, String) {
    run.parked(1);
    let id = run.send(json!({"op": "background", "ms": WORK_MS}));
    let answer = run.answer(&id);
    let body = run.ok_json(&answer);
    run.check(body == json!({"accepted": true}), || {
        format!("background answer: {body}")
    });
    let delivered = run
        .mock
        .deliveries()
        .iter()
        .find(|d| d.request_id == id)
        .map(|d| d.at)
        .unwrap_or_else(|| run.fail(&format!("no delivery recorded for {id}")));
    let answered_after = answer.received - delivered;
    run.check(answered_after < Duration::from_millis(300), || {
        format!("the response came {answered_after:?} after /next: it should not wait for the {WORK_MS} ms of work")
    });
    let line = run
        .proc
        .wait_for_line(|l| l.contains("background done"), T)
        .unwrap_or_else(|e| run.fail(&format!("no \"background done\" line: {e}")));
    run.mock.wait_for_next_calls(2, T).unwrap_or_else(|e| run.fail(&e));
    let calls = run.mock.next_call_times();
    let next_after = calls[1].saturating_duration_since(delivered);
    run.check(next_after >= Duration::from_millis(WORK_MS - 10), || {
        format!("the slot asked for its next event {next_after:?} after the background event, before its {WORK_MS} ms of work ended")
    });
    run.check(next_after < Duration::from_millis(WORK_MS + 2000), || {
        format!("the slot asked for its next event only {next_after:?} after the background event")
    });
    run.check(run.mock.max_parked() == 1, || {
        format!("one slot expected, {} /next parked at once", run.mock.max_parked())
    });
    let answers = run.mock.answers_for(&id);
    run.check(answers.len() == 1, || format!("{id} answered {} times", answers.len()));
    let next = run.send(json!({"op": "echo", "after": "background"}));
    let body = run.ok_json(&run.answer(&next));
    run.check(body["after"] == "background", || {
        format!("echo after background: {body}")
    });
    (id, line)
}

#[test]
fn background_work_runs_after_the_response_classic() {
    let _m = whole_machine();
    let mut run = Run::classic(&[]);
    let (id, line) = background_then_next(&run);
    run.check(line.contains(&id), || {
        format!("the \"background done\" line should carry the request id {id}: {line}")
    });
    run.assert_running("process died after background work");
}

#[test]
fn background_work_runs_after_the_response_managed() {
    let _m = whole_machine();
    let mut run = Run::managed(1, &[]);
    let (id, line) = background_then_next(&run);
    let v: Value =
        serde_json::from_str(&line).unwrap_or_else(|e| run.fail(&format!("log line is not JSON ({e}): {line}")));
    run.check(v["message"] == "background done", || format!("message: {line}"));
    run.check(v["requestId"] == json!(id), || {
        format!("requestId should be {id}: {line}")
    });
    run.assert_running("process died after background work");
}
