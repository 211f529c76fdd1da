//! Deliveries with missing or malformed headers never take the runtime down: an event that can
//! be answered (it has a request id) is answered exactly once; one without a request id cannot
//! be answered and is skipped; the runtime goes on serving.

use crate::support::*;
use std::time::Duration;

fn malformed(mut run: Run) {
    let cases = [
        (
            "no function ARN",
            Event::json(&json!({"op": "context"})).omit_header("Lambda-Runtime-Invoked-Function-Arn"),
        ),
        (
            "garbage deadline",
            Event::json(&json!({"op": "context"}))
                .deadline(Deadline::Absent)
                .header("Lambda-Runtime-Deadline-Ms", "soon"),
        ),
        (
            "client context not JSON",
            Event::json(&json!({"op": "context"})).client_context("{not json"),
        ),
        (
            "cognito identity not JSON",
            Event::json(&json!({"op": "context"})).cognito_identity("[["),
        ),
    ];
    let mut ids = Vec::new();
    for (what, event) in cases {
        let id = run.mock.queue(event);
        let answer = run
            .mock
            .wait_for_answer(&id, T)
            .unwrap_or_else(|e| run.fail(&format!("{what}: never answered: {e}")));
        if answer.kind == AnswerKind::Error {
            run.error_json(&answer, &answer.error_type().unwrap_or_default());
        }
        ids.push(id);
    }
    let hidden = run
        .mock
        .queue(Event::json(&json!({"op": "echo"})).omit_header("Lambda-Runtime-Aws-Request-Id"));
    let id = run.send(json!({"op": "echo", "after": "malformed"}));
    let body = run.ok_json(&run.answer(&id));
    run.check(body["after"] == "malformed", || {
        format!("echo after malformed deliveries: {body}")
    });
    std::thread::sleep(Duration::from_millis(200));
    for id in &ids {
        let n = run.mock.answers_for(id).len();
        run.check(n == 1, || format!("{id} answered {n} times"));
    }
    run.check(run.mock.answers_for(&hidden).is_empty(), || {
        "answered an id it was never given?".into()
    });
    let strays: Vec<String> = run
        .mock
        .answers()
        .iter()
        .filter(|a| !a.delivered)
        .map(|a| a.request_id.clone())
        .collect();
    run.check(strays.is_empty(), || {
        format!("answers to ids never delivered: {strays:?}")
    });
    run.assert_running("a malformed delivery took the runtime down");
}

#[test]
fn malformed_next_headers_are_survived_classic() {
    let _m = shared_machine();
    malformed(Run::classic(&[]));
}

#[test]
fn malformed_next_headers_are_survived_managed() {
    let _m = shared_machine();
    malformed(Run::managed(2, &[]));
}
