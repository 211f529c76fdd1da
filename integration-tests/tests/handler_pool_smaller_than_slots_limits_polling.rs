//! With `LAMBDA_ACTORS_HANDLER_POOL_SIZE=2` and N=8, a poller waits for a free handler before it
//! polls: at most 2 `/next` are parked, and at most 2 events are ever in flight.

use crate::support::*;
use std::time::Duration;

#[test]
fn handler_pool_of_two_limits_parked_next_to_two() {
    let _m = shared_machine();
    let run = Run::managed(8, &[("LAMBDA_ACTORS_HANDLER_POOL_SIZE", "2")]);
    run.parked(2);
    std::thread::sleep(Duration::from_millis(500));
    run.check(run.mock.max_parked() == 2, || {
        format!("max parked {}, expected 2", run.mock.max_parked())
    });
    let ids: Vec<String> = (0..6).map(|_| run.send(json!({"op": "sleep", "ms": 300}))).collect();
    for id in &ids {
        run.ok_json(&run.answer(id));
    }
    run.parked(2);
    std::thread::sleep(Duration::from_millis(200));
    let (max_parked, max_in_flight) = (run.mock.max_parked(), run.mock.max_in_flight());
    run.check(max_parked <= 2, || {
        format!("{max_parked} /next parked at once with only 2 handlers")
    });
    run.check(max_in_flight == 2, || {
        format!("{max_in_flight} events in flight at once, expected exactly 2 (the pool size)")
    });
}
