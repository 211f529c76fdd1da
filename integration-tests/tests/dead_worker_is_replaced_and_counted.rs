//! A worker that dies (here: the handler factory panics while rebuilding the handler after a
//! handler panic, outside the handler's own `catch_unwind`) is replaced by a fresh one on the
//! same thread: the invocation it was serving gets its one answer, the slots go on serving,
//! and the metrics summary counts the restart. (A poller that dies is restarted by the
//! supervisor too: the unit tests in `crates/lambda-actors/src/poller.rs` and
//! `supervisor/restart.rs`, since the testbed cannot make a poller panic.)

use crate::support::*;

#[test]
fn worker_whose_factory_panics_on_rebuild_is_replaced_and_counted() {
    let _m = shared_machine();
    // Two slots build two handlers at start (calls 1 and 2): call 3 is the rebuild.
    let mut run = Run::managed(
        2,
        &[
            ("TESTBED_FACTORY_PANIC_ON_CALL", "3"),
            ("LAMBDA_ACTORS_METRICS_INTERVAL_SECS", "1"),
        ],
    );
    run.parked(2);
    let id = run.send(json!({"op": "panic", "message": "worker-death"}));
    let answer = run.answer(&id);
    let body = run.error_json(&answer, "Runtime.HandlerUnavailable");
    run.check(body.to_string().contains("stopped"), || {
        format!("the error says the worker stopped: {body}")
    });
    // Every slot serves again, the replaced worker's among them.
    run.parked(2);
    for n in 0..6 {
        let id = run.send(json!({"op": "echo", "n": n}));
        let answer = run.answer(&id);
        let echoed = run.ok_json(&answer);
        run.check(echoed["n"] == n, || format!("echo {n}: {echoed}"));
    }
    // The handler rebuild the panic asked for, and the worker that replaced the dead one.
    let restarts = counted(&run, "restarts_count", 2, std::time::Duration::from_secs(5));
    run.check(restarts >= 2, || {
        format!("summaries counted {restarts} restarts, expected 2")
    });
    run.sigterm_and_expect_exit_zero();
    let answers = run.mock.answers_for(&id);
    run.check(answers.len() == 1, || {
        format!("{} answers to the invocation, expected 1", answers.len())
    });
}
