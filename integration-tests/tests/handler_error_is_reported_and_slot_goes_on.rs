//! A handler error goes to `/error` with the user's `errorType` and message in the body and
//! `Function.<type>` in the header; the same slot then serves the next event.

use crate::support::*;

fn error_then_next(run: &Run) {
    let id = run.send(json!({"op": "error", "type": "ValidationError", "message": "bad input: 42"}));
    let answer = run.answer(&id);
    let body = run.error_json(&answer, "ValidationError");
    run.check(body["errorMessage"] == "bad input: 42", || {
        format!("errorMessage: {body}")
    });
    run.check(answer.error_type_header() == Some("Function.ValidationError"), || {
        format!(
            "header should be Function.ValidationError, got {:?}",
            answer.error_type_header()
        )
    });

    // A type outside [A-Z][a-zA-Z]+ stays in the body; whatever header is sent must still have
    // the (Runtime|Function).Reason form (checked by error_json).
    let id = run.send(json!({"op": "error", "type": "bad type!", "message": "odd"}));
    let body = run.error_json(&run.answer(&id), "bad type!");
    run.check(body["errorMessage"] == "odd", || format!("errorMessage: {body}"));

    // The slot goes on.
    for n in 0..3 {
        let id = run.send(json!({"op": "echo", "n": n}));
        let body = run.ok_json(&run.answer(&id));
        run.check(body["n"] == n, || format!("echo after error: {body}"));
    }
    run.check(run.mock.answers().len() == 5, || "one answer per event".into());
}

#[test]
fn handler_error_is_reported_and_slot_goes_on_classic() {
    let _m = shared_machine();
    error_then_next(&Run::classic(&[]));
}

#[test]
fn handler_error_is_reported_and_slot_goes_on_managed_single_slot() {
    let _m = shared_machine();
    error_then_next(&Run::managed(1, &[]));
}
