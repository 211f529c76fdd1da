//! A handler that blocks its thread (`std::thread::sleep` inside the async handler) past its
//! deadline cannot be dropped by its own timeout — the thread never polls it. The poller, on
//! the I/O thread, answers it `Runtime.Timeout` at the deadline + grace (+ 100 ms), logs it
//! with the request id, and a fresh handler takes the slot; the blocked handler's own answer,
//! when it finally returns, is refused, so the event has exactly one answer.

use crate::support::*;
use std::time::Duration;

#[test]
fn a_blocked_thread_past_the_deadline_is_answered_timeout_and_the_slot_goes_on() {
    let _m = shared_machine();
    let run = Run::managed(2, &[]);
    run.parked(2);
    let blocked = run
        .mock
        .queue(Event::json(&json!({"op": "block", "ms": 2500})).deadline(Deadline::After(Duration::from_millis(400))));
    run.mock.wait_for_deliveries(1, T).unwrap_or_else(|e| run.fail(&e));
    let delivered = run.mock.deliveries()[0].at;
    let answer = run.answer(&blocked);
    run.error_json(&answer, "Runtime.Timeout");
    let waited = answer.received - delivered;
    run.check(
        waited >= Duration::from_millis(550) && waited < Duration::from_millis(2000),
        || format!("answered {waited:?} after delivery; deadline 400 ms + grace 100 ms + 100 ms, block 2500 ms"),
    );
    if let Err(e) = run
        .proc
        .wait_for_line(|l| l.contains(&blocked) && l.contains("still blocked"), T)
    {
        run.fail(&format!(
            "the blocked invocation's timeout was not logged with its request id: {e}"
        ));
    }
    // The other slot serves at once, while the blocked thread is still blocked.
    let quick = run.send(json!({"op": "echo", "while": "blocked"}));
    let quick_answer = run.answer(&quick);
    run.ok_json(&quick_answer);
    run.check(quick_answer.received - delivered < Duration::from_millis(2300), || {
        "the echo waited for the blocked thread".into()
    });
    // When the block ends, both slots serve again, and the blocked event has one answer only.
    let after: Vec<String> = (0..4).map(|i| run.send(json!({"op": "echo", "after": i}))).collect();
    for id in &after {
        run.ok_json(&run.answer(id));
    }
    std::thread::sleep(Duration::from_millis(2600).saturating_sub(delivered.elapsed()));
    run.parked(2);
    let n = run.mock.answers_for(&blocked).len();
    run.check(n == 1, || format!("the blocked event was answered {n} times"));
}
