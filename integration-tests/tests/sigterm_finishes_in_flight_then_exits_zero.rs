//! SIGTERM (and SIGINT): stop polling, let in-flight invocations finish and be answered, exit 0.

use crate::support::*;
use std::time::{Duration, Instant};

fn drain_on_signal(mut run: Run, slots: usize, signal: &str) {
    run.parked(slots);
    let id = run.send(json!({"op": "sleep", "ms": 1000}));
    run.mock.wait_for_deliveries(1, T).unwrap_or_else(|e| run.fail(&e));
    std::thread::sleep(Duration::from_millis(100));
    let signalled = Instant::now();
    run.proc.signal(signal);
    let Some(status) = run.proc.wait_exit(Duration::from_secs(8)) else {
        run.fail(&format!(
            "still running 8 s after SIG{signal} with a 1 s sleep in flight"
        ))
    };
    let exited = Instant::now();
    let answers = run.mock.answers_for(&id);
    let Some(answer) = answers.first() else {
        run.fail(&format!("the in-flight sleep was never answered after SIG{signal}"))
    };
    let body = run.ok_json(answer);
    run.check(body == json!({"slept_ms": 1000}), || format!("sleep answer: {body}"));
    run.check(answer.received <= exited, || "answered after exit?".into());
    run.check(status.code() == Some(0), || {
        format!("exit after SIG{signal} should be 0, got {status}")
    });
    // Stopped polling: no /next begun after the signal had time to be handled.
    let late = run
        .mock
        .next_call_times()
        .iter()
        .filter(|t| **t > signalled + Duration::from_millis(300))
        .count();
    run.check(late == 0, || {
        format!("{late} /next calls began after SIG{signal} was handled")
    });
    eprintln!(
        "SIG{signal}: exit {:?} after the signal",
        exited.duration_since(signalled)
    );
}

#[test]
fn sigterm_finishes_in_flight_then_exits_zero_managed() {
    let _m = shared_machine();
    drain_on_signal(Run::managed(4, &[]), 4, "TERM");
}

#[test]
fn sigterm_finishes_in_flight_then_exits_zero_classic() {
    let _m = shared_machine();
    drain_on_signal(Run::classic(&[]), 1, "TERM");
}

#[test]
fn sigint_finishes_in_flight_then_exits_zero_managed() {
    let _m = shared_machine();
    drain_on_signal(Run::managed(2, &[]), 2, "INT");
}

#[test]
fn sigterm_when_idle_exits_zero_promptly() {
    let _m = shared_machine();
    let mut run = Run::managed(4, &[]);
    run.parked(4);
    run.proc.sigterm();
    let Some(status) = run.proc.wait_exit(Duration::from_secs(3)) else {
        run.fail("idle runtime still running 3 s after SIGTERM")
    };
    run.check(status.code() == Some(0), || format!("exit {status}, expected 0"));
}

#[test]
fn shutdown_grace_bounds_the_drain_of_a_hung_invocation() {
    let _m = shared_machine();
    let mut run = Run::managed(2, &[("LAMBDA_ACTORS_SHUTDOWN_GRACE_MS", "500")]);
    run.parked(2);
    run.send(json!({"op": "hang"}));
    run.mock.wait_for_deliveries(1, T).unwrap_or_else(|e| run.fail(&e));
    let signalled = Instant::now();
    run.proc.sigterm();
    let Some(_status) = run.proc.wait_exit(Duration::from_secs(4)) else {
        run.fail("still running 4 s after SIGTERM with LAMBDA_ACTORS_SHUTDOWN_GRACE_MS=500 and a hung invocation")
    };
    let took = signalled.elapsed();
    run.check(took >= Duration::from_millis(400), || {
        format!("exited {took:?} after SIGTERM: the in-flight invocation got no grace at all")
    });
}

#[test]
fn second_signal_exits_at_once() {
    let _m = shared_machine();
    let mut run = Run::managed(2, &[("LAMBDA_ACTORS_SHUTDOWN_GRACE_MS", "30000")]);
    run.parked(2);
    run.send(json!({"op": "hang"}));
    run.mock.wait_for_deliveries(1, T).unwrap_or_else(|e| run.fail(&e));
    run.proc.sigterm();
    std::thread::sleep(Duration::from_millis(300));
    run.assert_running("exited on the first SIGTERM although an invocation was in flight");
    let second = Instant::now();
    run.proc.sigterm();
    let Some(_status) = run.proc.wait_exit(Duration::from_secs(3)) else {
        run.fail("still running 3 s after a second SIGTERM")
    };
    eprintln!("second signal: exit {:?} after it", second.elapsed());
}
