//! With `AWS_LAMBDA_MAX_CONCURRENCY=8`, eight 600 ms sleeps run at once: all eight answers come
//! in well under 8 × 600 ms.

use crate::support::*;
use std::time::{Duration, Instant};

#[test]
fn eight_concurrent_sleeps_overlap() {
    let _m = whole_machine();
    let run = Run::managed(8, &[]);
    run.parked(8);
    let start = Instant::now();
    let ids: Vec<String> = (0..8).map(|_| run.send(json!({"op": "sleep", "ms": 600}))).collect();
    for id in &ids {
        let body = run.ok_json(&run.answer(id));
        run.check(body == json!({"slept_ms": 600}), || format!("sleep answer: {body}"));
    }
    let elapsed = start.elapsed();
    run.check(elapsed >= Duration::from_millis(600), || {
        format!("answers after {elapsed:?}: the sleeps did not sleep")
    });
    run.check(elapsed < Duration::from_millis(1500), || {
        format!("8 × 600 ms sleeps took {elapsed:?}; serial would be 4800 ms")
    });
    run.check(run.mock.max_in_flight() == 8, || {
        format!("max in flight {}, expected 8", run.mock.max_in_flight())
    });
}
