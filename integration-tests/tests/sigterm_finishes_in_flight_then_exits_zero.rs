//! SIGTERM (and SIGINT): stop polling at once, let in-flight invocations — buffered, streaming,
//! background work after the response — finish and be answered within the shutdown window
//! (`LAMBDA_ACTORS_SHUTDOWN_GRACE_MS`; these tests set it to 3 s to give 1 s of work room, the
//! default 200 ms is tested in shutdown_runs_hooks_within_the_window.rs), exit 0. A second
//! signal exits at once with 128 + the signal number.

use crate::support::*;
use std::time::{Duration, Instant};

/// A shutdown window with room for the 1 s of in-flight work these tests start.
const WINDOW: (&str, &str) = ("LAMBDA_ACTORS_SHUTDOWN_GRACE_MS", "3000");

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
    drain_on_signal(Run::managed(4, &[WINDOW]), 4, "TERM");
}

#[test]
fn sigterm_finishes_in_flight_then_exits_zero_classic() {
    let _m = shared_machine();
    drain_on_signal(Run::classic(&[WINDOW]), 1, "TERM");
}

#[test]
fn sigint_finishes_in_flight_then_exits_zero_managed() {
    let _m = shared_machine();
    drain_on_signal(Run::managed(2, &[WINDOW]), 2, "INT");
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
fn sigterm_lets_buffered_streaming_and_background_work_finish_managed() {
    let _m = shared_machine();
    let mut run = Run::managed(4, &[WINDOW]);
    run.parked(4);
    let sleep = run.send(json!({"op": "sleep", "ms": 1000}));
    let stream = run.send(json!({"op": "stream", "chunks": 5, "chunk_bytes": 10, "delay_ms": 200}));
    let background = run.send(json!({"op": "background", "ms": 1000}));
    run.mock.wait_for_deliveries(3, T).unwrap_or_else(|e| run.fail(&e));
    // The background invocation has answered already; its work goes on.
    run.answer(&background);
    std::thread::sleep(Duration::from_millis(100));
    let signalled = Instant::now();
    run.proc.sigterm();
    // Polling stops at once: the fourth slot's parked /next is dropped.
    let deadline = signalled + Duration::from_millis(500);
    while run.mock.parked() > 0 {
        if Instant::now() > deadline {
            run.fail("a /next was still parked 500 ms after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let unparked = signalled.elapsed();
    let Some(status) = run.proc.wait_exit(Duration::from_secs(5)) else {
        run.fail("still running 5 s after SIGTERM with 1 s of work in flight")
    };
    let exited = signalled.elapsed();
    run.check(status.code() == Some(0), || {
        format!("exit after SIGTERM: {status}, expected 0")
    });
    let body = run.ok_json(&run.answer(&sleep));
    run.check(body == json!({"slept_ms": 1000}), || format!("sleep answer: {body}"));
    let streamed = run.answer(&stream);
    run.check(
        streamed.body == [b'a'; 50] && streamed.chunks.len() == 5 && streamed.trailers.is_empty(),
        || {
            format!(
                "the stream in flight should end whole: {} bytes in {} chunks, trailers {:?}",
                streamed.body.len(),
                streamed.chunks.len(),
                streamed.trailers
            )
        },
    );
    let body = run.ok_json(&run.answer(&background));
    run.check(body == json!({"accepted": true}), || {
        format!("background answer: {body}")
    });
    run.check(
        run.proc.lines().iter().any(|l| l.text.contains("background done")),
        || "the background work was cut short: no \"background done\" line before exit".into(),
    );
    // When the work is done, not at the end of the window: the work took ~1 s, the window is 3 s.
    run.check(
        exited >= Duration::from_millis(800) && exited < Duration::from_millis(2800),
        || format!("exited {exited:?} after SIGTERM with ~1 s of work in flight (window 3 s)"),
    );
    for id in [&sleep, &stream, &background] {
        let n = run.mock.answers_for(id).len();
        run.check(n == 1, || format!("{id} answered {n} times"));
    }
    let late = run.mock.next_call_times().iter().filter(|t| **t > signalled).count();
    run.check(late == 0, || format!("{late} /next calls after SIGTERM"));
    eprintln!("SIGTERM with sleep, stream and background in flight: unparked in {unparked:?}, exit 0 in {exited:?}");
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
    let Some(status) = run.proc.wait_exit(Duration::from_secs(3)) else {
        run.fail("still running 3 s after a second SIGTERM")
    };
    let took = second.elapsed();
    run.check(took < Duration::from_millis(1000), || {
        format!("exited {took:?} after the second SIGTERM, expected at once")
    });
    run.check(status.code() == Some(128 + 15), || {
        format!("exit after a second SIGTERM: {status}, expected 143 (128 + SIGTERM)")
    });
    eprintln!("second signal: exit {status} {took:?} after it");
}
