//! Deadline reclaim (Managed Instances mode, where Lambda does not kill a timed-out handler): a
//! handler still running at its deadline + grace (`LAMBDA_ACTORS_DEADLINE_GRACE_MS`, default
//! 100 ms) is dropped; the timeout is logged with the request id and counted
//! (`timeouts_count`); an `/error` with `Runtime.Timeout` is attempted (Lambda replies 410 to it,
//! which is fine); the handler is rebuilt and the slot polls again. A stream past its deadline
//! is ended with `Runtime.Timeout` trailers. The grace moves the reclaim time, and
//! `LAMBDA_ACTORS_DEADLINE_RECLAIM=off` keeps the slot busy.

use crate::support::*;
use std::time::Duration;

#[test]
fn hung_handler_past_deadline_frees_its_slot() {
    let _m = shared_machine();
    let run = Run::managed(1, &[("LAMBDA_ACTORS_METRICS_INTERVAL_SECS", "1")]);
    run.parked(1);
    let hung = "hung-past-deadline".to_string();
    run.mock.reply_to(&hung, 410);
    run.mock.queue(
        Event::json(&json!({"op": "hang"}))
            .request_id(hung.clone())
            .deadline(Deadline::After(Duration::from_millis(700))),
    );
    run.mock.wait_for_deliveries(1, T).unwrap_or_else(|e| run.fail(&e));
    let delivered = run.mock.deliveries()[0].at;
    let next = run.send(json!({"op": "echo", "after": "hang"}));
    // The only slot serves the next event: it was reclaimed.
    let body = run.ok_json(&run.answer(&next));
    run.check(body["after"] == "hang", || format!("echo after hang: {body}"));
    let hung_answer = run.answer(&hung);
    let waited = hung_answer.received - delivered;
    run.check(
        waited >= Duration::from_millis(750) && waited < Duration::from_millis(1800),
        || format!("the hung invocation was given up {waited:?} after delivery; deadline 700 ms + grace 100 ms"),
    );
    run.error_json(&hung_answer, "Runtime.Timeout");
    run.check(hung_answer.status == 410, || {
        format!("the mock replied {} to the timeout, scripted 410", hung_answer.status)
    });
    // Logged with the request id.
    let logged = run.proc.wait_for_line(
        |l| l.contains(&hung) && l.to_ascii_lowercase().contains("deadline"),
        Duration::from_secs(3),
    );
    if let Err(e) = logged {
        run.fail(&format!(
            "the reclaimed timeout was not logged with its request id: {e}"
        ));
    }
    // Counted, and the rebuilt handler counted as a restart.
    let timeouts = counted(&run, "timeouts_count", 1, Duration::from_secs(4));
    run.check(timeouts == 1, || {
        format!("metrics counted {timeouts} timeouts, expected 1")
    });
    let restarts = counted(&run, "restarts_count", 1, Duration::from_secs(1));
    run.check(restarts >= 1, || {
        format!("metrics counted {restarts} restarts after a reclaim")
    });
    run.parked(1);
    std::thread::sleep(Duration::from_millis(200));
    let n = run.mock.answers_for(&hung).len();
    run.check(n == 1, || format!("the hung event was answered {n} times"));
}

#[test]
fn stream_past_its_deadline_is_ended_with_timeout_trailers() {
    let _m = shared_machine();
    let run = Run::managed(1, &[]);
    run.parked(1);
    let id = run.mock.queue(
        Event::json(&json!({"op": "stream", "chunks": 3, "chunk_bytes": 8, "delay_ms": 5000}))
            .deadline(Deadline::After(Duration::from_millis(500))),
    );
    let answer = run.answer_within(&id, Duration::from_secs(5));
    run.check(answer.kind == AnswerKind::Response && answer.body == [b'a'; 8], || {
        format!(
            "expected the first chunk of the stream, got {:?} {:?}",
            answer.kind,
            answer.body_text()
        )
    });
    run.check(
        answer.trailer("Lambda-Runtime-Function-Error-Type") == Some("Runtime.Timeout"),
        || format!("trailers of a stream past its deadline: {:?}", answer.trailers),
    );
    let next = run.send(json!({"op": "echo", "after": "stream"}));
    run.ok_json(&run.answer(&next));
    let n = run.mock.answers_for(&id).len();
    run.check(n == 1, || format!("the timed-out stream was answered {n} times"));
}

#[test]
fn deadline_grace_moves_the_reclaim_time() {
    let _m = shared_machine();
    let run = Run::managed(1, &[("LAMBDA_ACTORS_DEADLINE_GRACE_MS", "1200")]);
    run.parked(1);
    let hung = run
        .mock
        .queue(Event::json(&json!({"op": "hang"})).deadline(Deadline::After(Duration::from_millis(300))));
    run.mock.wait_for_deliveries(1, T).unwrap_or_else(|e| run.fail(&e));
    let delivered = run.mock.deliveries()[0].at;
    let answer = run.answer(&hung);
    run.error_json(&answer, "Runtime.Timeout");
    let waited = answer.received - delivered;
    run.check(
        waited >= Duration::from_millis(1450) && waited < Duration::from_millis(2600),
        || format!("reclaimed {waited:?} after delivery; deadline 300 ms + grace 1200 ms"),
    );
    run.parked(1);
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
