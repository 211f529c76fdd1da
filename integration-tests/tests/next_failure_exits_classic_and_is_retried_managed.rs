//! `/next` 500: classic mode exits promptly and non-zero; managed mode retries with backoff,
//! recovers, serves events and stays up.

use crate::support::*;
use std::time::{Duration, Instant};

#[test]
fn next_500_in_classic_mode_exits_promptly_non_zero() {
    let _m = shared_machine();
    let mock = MockRuntimeApi::start();
    mock.fail_next(1, 500);
    let mut proc = testbed(&mock).spawn();
    let run_fail = |what: String, proc: &Process| -> ! {
        panic!("{what}\n--- {}\n--- output:\n{}", mock.describe(), proc.output())
    };
    if let Err(e) = mock.wait_for_next_calls(1, T) {
        run_fail(e, &proc);
    }
    let failed_at = Instant::now();
    let Some(status) = proc.wait_exit(Duration::from_millis(2500)) else {
        run_fail(
            "still running 2.5 s after /next returned 500 in classic mode".into(),
            &proc,
        )
    };
    if status.success() {
        run_fail(format!("exit {status} after /next 500, expected non-zero"), &proc);
    }
    eprintln!("classic exit {:?} after the 500", failed_at.elapsed());
    if mock.next_calls() > 3 {
        run_fail(
            format!(
                "{} /next calls: classic mode should not keep retrying",
                mock.next_calls()
            ),
            &proc,
        );
    }
}

#[test]
fn next_500_in_managed_mode_is_retried_with_backoff() {
    let _m = shared_machine();
    const FAILURES: usize = 8;
    let mock = MockRuntimeApi::start();
    mock.fail_next(FAILURES, 500);
    let proc = testbed(&mock).env("AWS_LAMBDA_MAX_CONCURRENCY", "2").spawn();
    let mut run = Run { mock, proc };
    // Every scripted failure is used up, and both slots recover and park.
    run.mock
        .wait_for_next_calls(FAILURES + 2, Duration::from_secs(20))
        .unwrap_or_else(|e| run.fail(&e));
    run.mock
        .wait_for_parked(2, Duration::from_secs(20))
        .unwrap_or_else(|e| run.fail(&e));
    let times = run.mock.next_call_times();
    let failed = &times[..FAILURES];
    let span = failed[FAILURES - 1] - failed[0];
    let gaps: Vec<Duration> = failed.windows(2).map(|w| w[1] - w[0]).collect();
    run.check(span >= Duration::from_millis(50), || {
        format!("{FAILURES} failed /next within {span:?}: retried without backoff (gaps {gaps:?})")
    });
    let ids: Vec<String> = (0..4).map(|n| run.send(json!({"op": "echo", "n": n}))).collect();
    for id in &ids {
        run.ok_json(&run.answer(id));
    }
    run.assert_running("managed mode exited on /next 500");
    eprintln!("managed /next failures over {span:?}, gaps {gaps:?}");
}

#[test]
fn next_500_in_managed_mode_backoff_is_not_a_hot_loop_per_slot() {
    let _m = shared_machine();
    // One slot, 6 failures in a row: the gaps between its retries must add up to real waiting.
    let mock = MockRuntimeApi::start();
    mock.fail_next(6, 500);
    let proc = testbed(&mock).env("AWS_LAMBDA_MAX_CONCURRENCY", "1").spawn();
    let mut run = Run { mock, proc };
    run.mock
        .wait_for_next_calls(7, Duration::from_secs(20))
        .unwrap_or_else(|e| run.fail(&e));
    run.mock
        .wait_for_parked(1, Duration::from_secs(20))
        .unwrap_or_else(|e| run.fail(&e));
    let times = run.mock.next_call_times();
    let gaps: Vec<Duration> = times[..7].windows(2).map(|w| w[1] - w[0]).collect();
    let total: Duration = gaps.iter().sum();
    run.check(total >= Duration::from_millis(60), || {
        format!("6 retries of one slot within {total:?}: no backoff (gaps {gaps:?})")
    });
    run.assert_running("exited");
    let id = run.send(json!({"op": "echo"}));
    run.ok_json(&run.answer(&id));
}
