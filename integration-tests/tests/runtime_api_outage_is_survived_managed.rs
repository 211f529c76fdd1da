//! The Runtime API going away (connection refused/reset): managed mode retries with capped
//! backoff and serves again once it is back; classic mode retries a bounded number of times,
//! then exits non-zero.

use crate::support::*;
use std::time::{Duration, Instant};

/// Binds a new mock on `port`, retrying briefly in case the port is still being released.
fn mock_back_on(port: u16) -> MockRuntimeApi {
    let start = Instant::now();
    loop {
        match MockRuntimeApi::start_on(port, "") {
            Ok(m) => return m,
            Err(e) if start.elapsed() > Duration::from_secs(3) => {
                panic!("cannot bring the mock back on port {port}: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[test]
fn managed_mode_survives_a_runtime_api_outage() {
    let _m = shared_machine();
    let mut run = Run::managed(2, &[]);
    let id = run.send(json!({"op": "echo", "phase": "before"}));
    run.ok_json(&run.answer(&id));
    run.parked(2);
    let port = run.mock.port();
    // Outage: the parked connections are closed and the port refuses connections.
    drop(std::mem::replace(&mut run.mock, mock_back_on(0)));
    std::thread::sleep(Duration::from_millis(1500));
    run.assert_running("managed mode exited during a Runtime API outage");
    run.mock = mock_back_on(port);
    run.mock
        .wait_for_parked(2, Duration::from_secs(15))
        .unwrap_or_else(|e| run.fail(&format!("slots did not come back after the outage: {e}")));
    let id = run.send(json!({"op": "echo", "phase": "after"}));
    let body = run.ok_json(&run.answer(&id));
    run.check(body["phase"] == "after", || format!("echo after outage: {body}"));
    run.assert_running("exited after the outage");
}

#[test]
fn classic_mode_gives_up_on_a_gone_runtime_api_and_exits_non_zero() {
    let _m = shared_machine();
    let mut run = Run::classic(&[]);
    run.parked(1);
    drop(std::mem::replace(&mut run.mock, mock_back_on(0)));
    let gone = Instant::now();
    let Some(status) = run.proc.wait_exit(Duration::from_secs(20)) else {
        run.fail("classic mode still running 20 s after the Runtime API went away")
    };
    run.check(!status.success(), || format!("exit {status}, expected non-zero"));
    eprintln!("classic mode gave up {:?} after the outage", gone.elapsed());
}
