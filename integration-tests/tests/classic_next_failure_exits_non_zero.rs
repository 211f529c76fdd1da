//! Classic mode (one slot, Lambda replaces a dead process): `/next` 500 means "the container is
//! broken, exit promptly", so the runtime exits non-zero within 1 s. An unreachable Runtime API
//! (connection refused at start, or gone later) is retried a bounded number of times with
//! back-off (5 retries, 50 ms doubling), then the runtime logs a clear error and exits
//! non-zero. A transient failure inside that budget (a reset `/next`, an API that comes up
//! late) is survived.

use crate::support::*;
use integration_tests::NextFault;
use std::time::{Duration, Instant};

#[test]
fn next_500_in_classic_mode_exits_non_zero_within_one_second() {
    let _m = shared_machine();
    let mut run = Run::classic(&[]);
    run.parked(1);
    run.mock.fail_next(1, 500);
    // The parked /next is not the scripted one: the event makes the slot come back for more.
    let id = run.send(json!({"op": "echo"}));
    run.ok_json(&run.answer(&id));
    run.mock.wait_for_next_calls(2, T).unwrap_or_else(|e| run.fail(&e));
    let failed_at = run.mock.next_call_times()[1];
    let Some(status) = run.proc.wait_exit(Duration::from_secs(3)) else {
        run.fail("still running 3 s after /next returned 500 in classic mode")
    };
    let took = failed_at.elapsed();
    run.check(!status.success(), || {
        format!("exit {status} after /next 500, expected non-zero")
    });
    run.check(took < Duration::from_secs(1), || {
        format!("exited {took:?} after the 500; classic mode must exit within 1 s")
    });
    run.check(run.mock.next_calls() == 2, || {
        format!(
            "{} /next calls: classic mode must not retry a 500",
            run.mock.next_calls()
        )
    });
    let said = run.proc.output();
    run.check(said.contains("500") && said.contains("exiting"), || {
        "no log line says that /next returned 500 and that the runtime exits".into()
    });
    eprintln!("classic exit ({status}) {took:?} after the 500");
}

#[test]
fn connection_refused_at_start_is_retried_then_a_clear_error_and_exit() {
    let _m = shared_machine();
    // Nothing listens on the port: every connection is refused.
    let port = MockRuntimeApi::reserve_port();
    let mut proc = ProcessBuilder::new(binary(TESTBED))
        .runtime_api(&format!("127.0.0.1:{port}"))
        .spawn();
    let started = Instant::now();
    let Some(status) = proc.wait_exit(Duration::from_secs(15)) else {
        panic!(
            "classic mode still running 15 s with the Runtime API refusing connections\n{}",
            proc.output()
        )
    };
    let took = started.elapsed();
    assert!(!status.success(), "exit {status}, expected non-zero\n{}", proc.output());
    // Bounded retries with back-off: 50 + 100 + 200 + 400 + 800 ms of waiting, give or take.
    assert!(
        took >= Duration::from_millis(1000),
        "gave up after {took:?}: the refused connection was not retried with back-off\n{}",
        proc.output()
    );
    let retries = proc
        .lines()
        .iter()
        .filter(|l| l.text.contains("GET /next failed") && l.text.contains("retrying"))
        .count();
    assert!(
        (3..=6).contains(&retries),
        "{retries} retry warnings: expected a bounded number (5)\n{}",
        proc.output()
    );
    let last = proc
        .lines()
        .iter()
        .rev()
        .find(|l| l.text.contains("ERROR"))
        .map(|l| l.text.clone())
        .unwrap_or_default();
    assert!(
        last.contains("GET /next failed") && last.contains("times") && last.contains("connect"),
        "the last error should say that /next failed repeatedly and why (cannot connect): {last:?}\n{}",
        proc.output()
    );
    eprintln!("classic mode, API refused: exit ({status}) after {took:?}, {retries} retries; {last}");
}

#[test]
fn connection_refused_at_start_then_the_api_comes_up_is_survived() {
    let _m = shared_machine();
    let port = MockRuntimeApi::reserve_port();
    let proc = ProcessBuilder::new(binary(TESTBED))
        .runtime_api(&format!("127.0.0.1:{port}"))
        .spawn();
    // Within the retry budget (~1.5 s of back-off), the API starts listening.
    std::thread::sleep(Duration::from_millis(300));
    let mock = MockRuntimeApi::start_on_retrying(port, "", T);
    let mut run = Run { proc, mock };
    let id = run.send(json!({"op": "echo", "late": true}));
    let body = run.ok_json(&run.answer(&id));
    run.check(body["late"] == true, || format!("echo: {body}"));
    run.assert_running("classic mode exited although the API came up within its retries");
}

#[test]
fn next_reset_before_headers_is_retried_classic() {
    let _m = shared_machine();
    let mut run = Run::classic(&[]);
    run.parked(1);
    for _ in 0..3 {
        run.mock.script_next(NextFault::ResetBeforeHeaders);
    }
    let first = run.send(json!({"op": "echo", "n": 1}));
    run.ok_json(&run.answer(&first));
    // The slot's next three /next calls are reset, then it parks again.
    let second = run.send(json!({"op": "echo", "n": 2}));
    run.ok_json(&run.answer(&second));
    run.check(run.mock.next_calls() >= 5, || {
        format!("{} /next calls: the resets were not retried", run.mock.next_calls())
    });
    run.assert_running("classic mode exited on a reset /next connection");
}

#[test]
fn classic_mode_gives_up_on_a_gone_runtime_api_and_exits_non_zero() {
    let _m = shared_machine();
    let mut run = Run::classic(&[]);
    run.parked(1);
    // The API goes away: the parked connection is closed and the port refuses connections.
    drop(std::mem::replace(&mut run.mock, MockRuntimeApi::start()));
    let gone = Instant::now();
    let Some(status) = run.proc.wait_exit(Duration::from_secs(20)) else {
        run.fail("classic mode still running 20 s after the Runtime API went away")
    };
    run.check(!status.success(), || format!("exit {status}, expected non-zero"));
    eprintln!("classic mode gave up {:?} after the outage", gone.elapsed());
}
