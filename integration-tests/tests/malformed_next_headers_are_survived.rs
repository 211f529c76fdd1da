//! Deliveries with missing or malformed optional headers never take the runtime down: an event
//! that has a request id is answered exactly once — with no function ARN, a garbage deadline
//! (logged, treated as none), client context or identity that is not JSON, or header values
//! that are not UTF-8 (`obs-text`, legal HTTP: such a value counts as absent) — and the runtime
//! goes on serving. (A reply without a usable request id: see
//! `next_reply_without_request_id_is_logged_and_skipped.rs`.)

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
        (
            "header values not UTF-8",
            Event::json(&json!({"op": "context"}))
                .raw_header("Lambda-Runtime-Aws-Tenant-Id", b"t\xff\xfe".to_vec())
                .raw_header("Lambda-Runtime-Trace-Id", b"Root=\xc3\x28".to_vec())
                .raw_header("Lambda-Runtime-Client-Context", b"{\"custom\":\"\xff\"}".to_vec()),
        ),
        (
            "deadline not UTF-8",
            Event::json(&json!({"op": "context"}))
                .deadline(Deadline::Absent)
                .raw_header("Lambda-Runtime-Deadline-Ms", b"17\xff".to_vec()),
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
        if what == "header values not UTF-8" {
            // Served, with those values counted as absent.
            let c = run.ok_json(&answer);
            run.check(c["tenant_id"].is_null() && c["client_context"].is_null(), || {
                format!("non-UTF-8 header values should count as absent: {c}")
            });
        }
        if what == "garbage deadline" {
            let warned = run
                .proc
                .wait_for_line(|l| l.contains("Deadline-Ms") && l.contains("soon"), T);
            if let Err(e) = warned {
                run.fail(&format!("the garbage deadline was not logged: {e}"));
            }
        }
        ids.push(id);
    }
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
    run.assert_no_stray_answers();
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
