//! Managed mode: a handler that runs past its deadline does not keep its slot forever; the slot
//! is reclaimed (the future dropped), the timeout is logged, and the slot serves the next event.
//! The hung event is answered at most once.

use crate::support::*;
use std::time::Duration;

#[test]
fn hung_handler_past_deadline_frees_its_slot() {
    let _m = shared_machine();
    let run = Run::managed(1, &[]);
    run.parked(1);
    let hung = run
        .mock
        .queue(Event::json(&json!({"op": "hang"})).deadline(Deadline::After(Duration::from_millis(700))));
    run.mock.wait_for_deliveries(1, T).unwrap_or_else(|e| run.fail(&e));
    let next = run.send(json!({"op": "echo", "after": "hang"}));
    let body = run.ok_json(&run.answer(&next));
    run.check(body["after"] == "hang", || format!("echo after hang: {body}"));
    let logged = run.proc.wait_for_line(
        |l| l.contains(&hung) || l.to_ascii_lowercase().contains("deadline"),
        Duration::from_secs(3),
    );
    if let Err(e) = logged {
        run.fail(&format!("the reclaimed timeout was not logged: {e}"));
    }
    std::thread::sleep(Duration::from_millis(200));
    let n = run.mock.answers_for(&hung).len();
    run.check(n <= 1, || format!("the hung event was answered {n} times"));
}
