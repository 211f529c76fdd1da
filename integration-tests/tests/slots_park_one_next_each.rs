//! Managed mode keeps one `/next` parked per slot (8 with `AWS_LAMBDA_MAX_CONCURRENCY=8`);
//! classic mode keeps exactly one.

use crate::support::*;
use std::time::Duration;

/// Waits for `n` parked, then checks for a while that the count neither grows past `n` nor
/// drops (no churn), and that nothing else was polled.
fn parks_exactly(run: &Run, n: usize) {
    run.parked(n);
    std::thread::sleep(Duration::from_millis(600));
    let (parked, max, calls) = (run.mock.parked(), run.mock.max_parked(), run.mock.next_calls());
    run.check(parked == n && max == n && calls == n, || {
        format!("expected exactly {n} parked /next; now {parked}, max {max}, {calls} calls")
    });
}

#[test]
fn managed_mode_parks_eight_next() {
    let _m = shared_machine();
    let run = Run::managed(8, &[]);
    parks_exactly(&run, 8);
    // Serving one event puts that slot back to polling: still 8.
    let id = run.send(json!({"op": "echo"}));
    run.ok_json(&run.answer(&id));
    run.parked(8);
    run.check(run.mock.max_parked() == 8, || "more than 8 parked".into());
}

#[test]
fn managed_mode_with_one_slot_parks_one_next() {
    let _m = shared_machine();
    parks_exactly(&Run::managed(1, &[]), 1);
}

#[test]
fn classic_mode_parks_exactly_one_next() {
    let _m = shared_machine();
    let run = Run::classic(&[]);
    parks_exactly(&run, 1);
    let id = run.send(json!({"op": "echo"}));
    run.ok_json(&run.answer(&id));
    run.parked(1);
    std::thread::sleep(Duration::from_millis(200));
    run.check(run.mock.max_parked() == 1, || {
        "classic mode parked more than one".into()
    });
}
