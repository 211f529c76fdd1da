//! A slow Runtime API is waited for, never timed out and repeated: a `/next` whose reply head
//! trickles in over 1.5 s delivers its event whole, and an answer whose `202` takes 1.5 s is
//! sent once (the runtime has no request timeout: a repeat could answer twice). Meanwhile the
//! other slots keep serving, and the slow slot polls again once its reply is in.

use crate::support::*;
use integration_tests::{AnswerFault, NextFault};
use std::time::{Duration, Instant};

const SLOW: Duration = Duration::from_millis(1500);

#[test]
fn slow_next_headers_deliver_the_event_whole() {
    let _m = shared_machine();
    let run = Run::managed(2, &[]);
    run.parked(2);
    run.mock.script_next(NextFault::SlowHeaders(SLOW));
    let start = Instant::now();
    let id = run
        .mock
        .queue(Event::json(&json!({"op": "context"})).tenant_id("slow-tenant"));
    // The other slot serves meanwhile.
    let quick = run.send(json!({"op": "echo", "quick": true}));
    run.ok_json(&run.answer(&quick));
    run.check(start.elapsed() < SLOW, || {
        format!("the other slot took {:?}: blocked by the slow /next", start.elapsed())
    });
    let c = run.ok_json(&run.answer_within(&id, SLOW + T));
    run.check(c["request_id"] == json!(id) && c["tenant_id"] == "slow-tenant", || {
        format!("context after slow headers: {c}")
    });
    run.check(start.elapsed() >= SLOW - Duration::from_millis(200), || {
        format!(
            "answered {:?} after queueing: the headers were not slow?",
            start.elapsed()
        )
    });
    run.parked(2);
    let n = run.mock.answers_for(&id).len();
    run.check(n == 1, || format!("the slowly delivered event was answered {n} times"));
}

#[test]
fn slow_202_to_an_answer_is_waited_for_and_not_repeated() {
    let _m = shared_machine();
    let mut run = Run::managed(2, &[]);
    run.parked(2);
    let slow = "slow-202-response".to_string();
    let slow_error = "slow-202-error".to_string();
    run.mock.script_answer(&slow, AnswerFault::SlowReply(SLOW));
    run.mock.script_answer(&slow_error, AnswerFault::SlowReply(SLOW));
    run.mock
        .queue(Event::json(&json!({"op": "echo", "slow": true})).request_id(slow.clone()));
    run.mock.queue(
        Event::json(&json!({"op": "error", "type": "SlowError", "message": "m"})).request_id(slow_error.clone()),
    );
    run.answer(&slow);
    run.answer(&slow_error);
    // Both slots wait for their 202; once it arrives, both poll again and serve.
    std::thread::sleep(SLOW + Duration::from_millis(500));
    run.parked(2);
    let ids: Vec<String> = (0..4).map(|n| run.send(json!({"op": "echo", "n": n}))).collect();
    for id in &ids {
        run.ok_json(&run.answer(id));
    }
    for id in [&slow, &slow_error] {
        let n = run.mock.answers_for(id).len();
        run.check(n == 1, || format!("{id}: answered {n} times while its 202 was slow"));
    }
    run.assert_running("exited after slow replies");
}
