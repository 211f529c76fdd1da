//! Managed mode: a handler that runs past its deadline does not keep its slot forever; the slot
//! is reclaimed (the future dropped), the timeout is logged and answered once as an error, and
//! the slot serves the next event. Reclaiming is configurable
//! (`LAMBDA_ACTORS_DEADLINE_RECLAIM`); switched off, the slot stays busy.

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
    let delivered = run.mock.deliveries()[0].at;
    let next = run.send(json!({"op": "echo", "after": "hang"}));
    let body = run.ok_json(&run.answer(&next));
    run.check(body["after"] == "hang", || format!("echo after hang: {body}"));
    let hung_answer = run.answer(&hung);
    run.check(hung_answer.received >= delivered + Duration::from_millis(650), || {
        format!(
            "the hung invocation was given up {:?} after delivery, before its 700 ms deadline",
            hung_answer.received - delivered
        )
    });
    let error_type = hung_answer.error_type().unwrap_or_default();
    run.error_json(&hung_answer, &error_type);
    let logged = run.proc.wait_for_line(
        |l| l.contains(&hung) || l.to_ascii_lowercase().contains("deadline"),
        Duration::from_secs(3),
    );
    if let Err(e) = logged {
        run.fail(&format!("the reclaimed timeout was not logged: {e}"));
    }
    std::thread::sleep(Duration::from_millis(200));
    let n = run.mock.answers_for(&hung).len();
    run.check(n == 1, || format!("the hung event was answered {n} times"));
}

#[test]
fn deadline_reclaim_switched_off_keeps_the_slot_busy() {
    let _m = shared_machine();
    let run = Run::managed(1, &[("LAMBDA_ACTORS_DEADLINE_RECLAIM", "off")]);
    run.parked(1);
    let hung = run
        .mock
        .queue(Event::json(&json!({"op": "hang"})).deadline(Deadline::After(Duration::from_millis(200))));
    let next = run.send(json!({"op": "echo"}));
    std::thread::sleep(Duration::from_millis(1200));
    run.check(run.mock.answers().is_empty(), || {
        format!("with reclaim off, the only slot should still be busy with {hung}; {next} should wait")
    });
    run.check(run.mock.parked() == 0, || {
        "with reclaim off, the busy slot polled again".into()
    });
}
