//! The harness end to end on the raw floor: the mock serves K events, the floor answers every
//! one, and the measurements come back. No timing is asserted: benchmarks report, never fail.

use lambda_actors_bench::run::{hello_event, run_once, Candidate, Workload, HELLO_REPLY};
use std::sync::Arc;
use std::time::Duration;

fn floor() -> Candidate {
    Candidate {
        label: "raw floor".to_owned(),
        program: env!("CARGO_BIN_EXE_raw-floor").into(),
        args: vec![],
        env: vec![],
        wrap: vec![],
    }
}

#[test]
fn the_floor_answers_every_event_classic_and_concurrent() {
    for (concurrency, size) in [(None, 64), (Some(4), 64), (Some(3), 256 * 1024)] {
        let work = Workload {
            concurrency,
            events: 200,
            event: Arc::from(hello_event(size)),
            expected_reply: Some(HELLO_REPLY.to_vec()),
            slow: None,
            timeout: Duration::from_secs(60),
        };
        let sample = run_once(&floor(), &work, 100).unwrap();
        assert_eq!(sample.events, 200);
        assert!(sample.peak_rss_kib > 0);
        assert!(sample.inv_per_s() > 0.0);
        assert!(sample.stream.is_none());
    }
}

#[test]
fn a_wrong_answer_is_reported_not_measured() {
    let work = Workload {
        concurrency: None,
        events: 10,
        event: Arc::from(hello_event(64)),
        expected_reply: Some(b"something else".to_vec()),
        slow: None,
        timeout: Duration::from_secs(60),
    };
    let err = run_once(&floor(), &work, 100).unwrap_err();
    assert!(err.contains("unexpected replies"), "{err}");
}
