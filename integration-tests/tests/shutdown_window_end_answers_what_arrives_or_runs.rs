//! The end of the shutdown window keeps "every event received gets exactly one answer": an
//! event whose `/next` reply head arrived before SIGTERM but whose body is still arriving when
//! the window ends, and an invocation whose handler is still running then, are each answered
//! `Runtime.Shutdown` once (from the request id the headers named), and the process exits 0. A
//! handler shutdown hook that cannot run because its handler is still busy is named in one WARN
//! with the request id.

use crate::support::*;

fn window_over(run: &Run) {
    run.proc
        .wait_for_line(|l| l.contains("shutdown window") && l.contains("is over"), T)
        .unwrap_or_else(|e| run.fail(&format!("the window never ended: {e}")));
}

/// `id` got exactly one answer, an `/error` `Runtime.Shutdown`.
fn answered_runtime_shutdown_once(run: &Run, id: &str, what: &str) {
    let answers = run.mock.answers_for(id);
    run.check(answers.len() == 1, || {
        format!("{what} got {} answers, expected 1", answers.len())
    });
    run.error_json(&answers[0], "Runtime.Shutdown");
}

#[test]
fn body_still_arriving_when_the_window_ends_is_answered_runtime_shutdown() {
    let _m = shared_machine();
    // The default window (200 ms): the body is released only after it has ended.
    for mut run in [Run::classic(&[]), Run::managed(4, &[])] {
        run.parked(1);
        run.mock.script_next(integration_tests::NextFault::HoldBody);
        let id = run.send(json!({"op": "echo", "pad": "x".repeat(4000)}));
        run.mock.wait_for_held_bodies(1, T).unwrap_or_else(|e| run.fail(&e));
        run.proc.sigterm();
        window_over(&run);
        run.mock.release_held_bodies();
        run.expect_exit_zero();
        answered_runtime_shutdown_once(&run, &id, "the event whose body was still arriving");
        let logged = run
            .proc
            .lines()
            .into_iter()
            .any(|l| l.text.contains("still arriving") && l.text.contains(&id));
        run.check(logged, || format!("no line says the body of {id} was still arriving"));
    }
}

#[test]
fn handler_running_when_the_window_ends_is_answered_and_its_unrun_hook_named() {
    let _m = shared_machine();
    let mut run = Run::managed(2, &[]);
    run.parked(2);
    let id = run.send(json!({"op": "hang"}));
    run.mock.wait_for_deliveries(1, T).unwrap_or_else(|e| run.fail(&e));
    run.sigterm_and_expect_exit_zero();
    answered_runtime_shutdown_once(&run, &id, "the hung invocation");
    let unrun: Vec<_> = run
        .proc
        .lines()
        .into_iter()
        .filter(|l| l.text.contains("shutdown hook did not run"))
        .collect();
    run.check(unrun.len() == 1, || {
        format!("expected one line naming the unrun hook: {unrun:?}")
    });
    let line = &unrun[0].text;
    run.check(
        line.contains("WARN") && line.contains(&id) && line.contains("Testbed"),
        || format!("the line must be a WARN naming the request id and the hook: {line}"),
    );
    // The idle slot's hook did run.
    let ran = run
        .proc
        .lines()
        .into_iter()
        .filter(|l| l.text.contains("handler shutdown hook ran"))
        .count();
    run.check(ran == 1, || {
        format!("{ran} handler hooks ran, expected the idle slot's one")
    });
}
