//! An `echo` event comes back unchanged as the `/response`, in classic and in managed mode,
//! with the request id from `/next` in the answer's path.

use crate::support::*;

fn echo_round_trip(run: &Run) {
    let event = json!({
        "op": "echo",
        "text": "héllo, wörld ✓",
        "numbers": [1, 2.5, -3, 1e30],
        "nested": {"a": {"b": [null, true, false]}},
        "quote": "\"\\\n\t",
    });
    let id = run.mock.queue(Event::json(&event).request_id("echo-req-1"));
    let answer = run.answer(&id);
    run.check(answer.request_id == "echo-req-1", || "request id".into());
    let body = run.ok_json(&answer);
    run.check(body == event, || format!("echo changed the event: {body}"));
    run.check(answer.delivered, || "answered an id /next never gave".into());
    // A second one on the same process: the slot went back to polling.
    let id2 = run.send(json!({"op": "echo", "n": 2}));
    let body2 = run.ok_json(&run.answer(&id2));
    run.check(body2 == json!({"op": "echo", "n": 2}), || {
        format!("second echo: {body2}")
    });
    run.check(run.mock.answers().len() == 2, || "exactly two answers".into());
}

#[test]
fn echo_round_trip_classic() {
    let _m = shared_machine();
    echo_round_trip(&Run::classic(&[]));
}

#[test]
fn echo_round_trip_managed() {
    let _m = shared_machine();
    echo_round_trip(&Run::managed(4, &[]));
}
