//! A handler panic is caught and reported as `Runtime.HandlerPanic` with the panic message; the
//! same slot serves the next event; in managed mode the other slots never notice. The panic is
//! logged with the request id and counted (`panics_count`, and `restarts_count` for the rebuilt
//! handler). A panic mid-stream: `stream_panic_mid_way_is_sent_in_trailers.rs`; a panic of the
//! poller itself: the unit test in `crates/lambda-actors/src/poller.rs`.

use crate::support::*;
use std::time::{Duration, Instant};

#[test]
fn panic_is_reported_and_same_slot_serves_next_classic() {
    let _m = shared_machine();
    let mut run = Run::classic(&[]);
    for round in 0..3 {
        let msg = format!("boom-{round}-ünïcode");
        let id = run.send(json!({"op": "panic", "message": msg}));
        let answer = run.answer(&id);
        let body = run.error_json(&answer, "Runtime.HandlerPanic");
        run.check(body["errorMessage"].as_str().is_some_and(|m| m.contains(&msg)), || {
            format!("errorMessage should contain {msg:?}: {body}")
        });
        run.check(answer.error_type_header() == Some("Runtime.HandlerPanic"), || {
            format!("header: {:?}", answer.error_type_header())
        });
        let id = run.send(json!({"op": "echo", "round": round}));
        let body = run.ok_json(&run.answer(&id));
        run.check(body["round"] == round, || format!("echo after panic: {body}"));
    }
    run.assert_running("process died after panics");
}

#[test]
fn panic_on_one_slot_leaves_concurrent_slots_untouched_managed() {
    let _m = shared_machine();
    let mut run = Run::managed(4, &[]);
    run.parked(4);
    let sleeps: Vec<String> = (0..3).map(|_| run.send(json!({"op": "sleep", "ms": 1000}))).collect();
    run.mock.wait_for_deliveries(3, T).unwrap_or_else(|e| run.fail(&e));
    let started = Instant::now();
    let panic_id = run.send(json!({"op": "panic", "message": "slot-killer"}));
    let answer = run.answer(&panic_id);
    let body = run.error_json(&answer, "Runtime.HandlerPanic");
    run.check(
        body["errorMessage"].as_str().is_some_and(|m| m.contains("slot-killer")),
        || format!("panic message: {body}"),
    );
    // The panic was reported while the sleeps were still running on the other slots.
    run.check(started.elapsed() < Duration::from_millis(800), || {
        format!(
            "panic answer took {:?}: was it queued behind the sleeps?",
            started.elapsed()
        )
    });
    for id in &sleeps {
        run.check(run.mock.answers_for(id).is_empty(), || {
            format!("sleep {id} answered before its 1000 ms were up")
        });
    }
    for id in &sleeps {
        let body = run.ok_json(&run.answer(id));
        run.check(body == json!({"slept_ms": 1000}), || format!("sleep answer: {body}"));
    }
    // All four slots, the panicked one included, are back and serve events.
    run.parked(4);
    let echoes: Vec<String> = (0..8).map(|n| run.send(json!({"op": "echo", "n": n}))).collect();
    for id in &echoes {
        run.ok_json(&run.answer(id));
    }
    for id in sleeps.iter().chain(&echoes).chain([&panic_id]) {
        let n = run.mock.answers_for(id).len();
        run.check(n == 1, || format!("{id} answered {n} times"));
    }
    run.assert_running("process died");
}

#[test]
fn handler_panic_is_counted_and_logged_with_its_request_id_managed() {
    let _m = shared_machine();
    // One slot, so the echo afterwards is served by the rebuilt handler of the same slot.
    let mut run = Run::managed(
        1,
        &[("LAMBDA_ACTORS_METRICS_INTERVAL_SECS", "1"), ("RUST_BACKTRACE", "0")],
    );
    let id = run.send(json!({"op": "panic", "message": "counted-panic"}));
    run.error_json(&run.answer(&id), "Runtime.HandlerPanic");
    let next = run.send(json!({"op": "echo", "after": "panic"}));
    let body = run.ok_json(&run.answer(&next));
    run.check(body["after"] == "panic", || format!("echo after the panic: {body}"));
    // Logged: ERROR lines naming the panic carry the invocation's request id (waited for: the
    // output is read asynchronously).
    run.proc
        .wait_for_line(|l| l.contains("counted-panic") && l.contains("rebuilt"), T)
        .unwrap_or_else(|e| run.fail(&format!("the panic was not logged: {e}")));
    assert_panic_logged_and_counted(&run, &id, "counted-panic");
    run.assert_running("process died after a panic");
}
