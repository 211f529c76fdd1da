//! An event whose `/next` reply head had arrived when SIGTERM came (its body still on the way)
//! is delivered: the drain reads it, runs it and answers it, then exits 0.

use crate::support::*;
use integration_tests::NextFault;

#[test]
fn event_whose_reply_head_arrived_before_sigterm_is_answered() {
    let _m = shared_machine();
    for mut run in [
        Run::managed(2, &[("LAMBDA_ACTORS_SHUTDOWN_GRACE_MS", "5000")]),
        Run::classic(&[("LAMBDA_ACTORS_SHUTDOWN_GRACE_MS", "5000")]),
    ] {
        run.parked(1);
        run.mock.script_next(NextFault::HoldBody);
        let id = run.send(json!({"op": "echo", "pad": "x".repeat(4000)}));
        run.mock.wait_for_held_bodies(1, T).unwrap_or_else(|e| run.fail(&e));
        run.proc.sigterm();
        run.proc
            .wait_for_line(|l| l.contains("stopped polling"), T)
            .unwrap_or_else(|e| run.fail(&e));
        run.mock.release_held_bodies();
        let Some(status) = run.proc.wait_exit(T) else {
            run.fail("still running after SIGTERM")
        };
        run.check(status.code() == Some(0), || format!("exit {status}, expected 0"));
        let answers = run.mock.answers_for(&id);
        run.check(answers.len() == 1, || {
            format!(
                "the event delivered at SIGTERM got {} answers, expected 1",
                answers.len()
            )
        });
        let body = run.ok_json(&answers[0]);
        run.check(
            body["op"] == "echo" && body["pad"].as_str().map(str::len) == Some(4000),
            || format!("echo answer: {}", &body.to_string()[..100.min(body.to_string().len())]),
        );
    }
}
