//! Answers rejected with 400, 403, 410 or 413 are logged (naming the request id) and the runtime
//! goes on serving, in classic and managed mode, for `/response` and `/error` alike.

use crate::support::*;
use std::time::Duration;

fn rejected_then_served(run: &mut Run) {
    for (status, reason) in [
        (400u16, "InvalidRequestID"),
        (403, "InvalidStateTransition"),
        (410, "InvokeTimeout"),
        (413, "RequestEntityTooLarge"),
    ] {
        for op in ["echo", "error"] {
            let id = format!("rejected-{op}-{status}");
            run.mock.reply_to(&id, status);
            let event = if op == "echo" {
                json!({"op": "echo"})
            } else {
                json!({"op": "error", "type": "Rejected", "message": "x"})
            };
            run.mock.queue(Event::json(&event).request_id(id.clone()));
            let answer = run.answer(&id);
            run.check(answer.status == status, || "mock replied as scripted".into());
            // The rejection is logged, with the request id so that it can be traced.
            let logged = run.proc.wait_for_line(
                |l| {
                    let lower = l.to_ascii_lowercase();
                    l.contains(&id)
                        && (l.contains(&status.to_string())
                            || lower.contains("reject")
                            || lower.contains(reason.to_ascii_lowercase().as_str()))
                },
                Duration::from_secs(5),
            );
            if let Err(e) = logged {
                run.fail(&format!(
                    "no log line names {id} and status {status} after the runtime's answer was \
                     rejected: {e}"
                ));
            }
            let next = run.send(json!({"op": "echo", "after": status}));
            let body = run.ok_json(&run.answer(&next));
            run.check(body["after"] == status, || format!("echo after {status}: {body}"));
            // Rejected answers are not retried (each id answered once).
            let n = run.mock.answers_for(&id).len();
            run.check(n == 1, || format!("{id} answered {n} times"));
        }
    }
    run.assert_running("runtime exited after a rejected answer");
}

#[test]
fn rejected_answers_are_logged_and_survived_classic() {
    let _m = shared_machine();
    rejected_then_served(&mut Run::classic(&[]));
}

#[test]
fn rejected_answers_are_logged_and_survived_managed() {
    let _m = shared_machine();
    rejected_then_served(&mut Run::managed(2, &[]));
}
