//! Memory does not grow with the number of invocations: at N=32 with 1 KiB echo events, the
//! runtime's resident set (`VmRSS`) after the run is within 10 % of what it was after the first
//! tenth of it. Both readings are taken with the runtime quiet (every event so far answered, all
//! slots parked again), so they compare like with like.
//!
//! In CI this runs the short version: 20,000 invocations, compared with the RSS after 2,000. The
//! soak is the same test with `LAMBDA_ACTORS_SOAK=1`: 200,000 invocations, compared with the RSS
//! after 20,000 (see docs/reliability.md for the command and its last result).

use crate::support::*;
use std::time::{Duration, Instant};

const SLOTS: usize = 32;
const EVENT_BYTES: usize = 1024;
/// Events queued ahead of the runtime at most: the mock holds a few, not all of them.
const AHEAD: usize = 2_000;

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(&format!("{field}:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A compact echo event of exactly `EVENT_BYTES` bytes.
fn event(i: usize) -> Event {
    let mut body = format!(r#"{{"i":{i},"op":"echo","pad":""#).into_bytes();
    body.resize(EVENT_BYTES - 2, b'p');
    body.extend_from_slice(br#""}"#);
    Event::raw(body)
}

/// Serves invocations `from..to`, keeping at most `AHEAD` queued, then waits until all are
/// answered and every slot is parked again.
fn serve(run: &Run, from: usize, to: usize) {
    let mut queued = from;
    while queued < to {
        run.mock
            .wait_for_answer_count(queued.saturating_sub(AHEAD / 2), Duration::from_secs(60))
            .unwrap_or_else(|e| run.fail(&e));
        let upto = (queued + AHEAD / 2).min(to);
        for i in queued..upto {
            run.mock.queue(event(i));
        }
        queued = upto;
    }
    run.mock
        .wait_for_answer_count(to, Duration::from_secs(60))
        .unwrap_or_else(|e| run.fail(&e));
    run.parked(SLOTS);
    // Let the last answers' buffers be released.
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn memory_stays_flat_over_many_invocations() {
    let _m = whole_machine();
    let soak = std::env::var("LAMBDA_ACTORS_SOAK").is_ok_and(|v| v == "1");
    let (checkpoint, total) = if soak { (20_000, 200_000) } else { (2_000, 20_000) };
    let mut run = Run::managed(SLOTS, &[("AWS_LAMBDA_LOG_LEVEL", "WARN")]);
    run.mock.discard_answer_bodies();
    run.parked(SLOTS);
    let pid = run.proc.pid();
    if status_kib(pid, "VmRSS").is_none() {
        eprintln!("/proc/{pid}/status has no VmRSS (not Linux?): skipping the memory check");
        return;
    }
    let idle = status_kib(pid, "VmRSS").unwrap_or(0);
    let start = Instant::now();
    serve(&run, 0, checkpoint);
    let at_checkpoint = status_kib(pid, "VmRSS").unwrap_or_else(|| run.fail("VmRSS unreadable"));
    serve(&run, checkpoint, total);
    let took = start.elapsed();
    run.assert_running("the runtime died during the run");
    let at_end = status_kib(pid, "VmRSS").unwrap_or_else(|| run.fail("VmRSS unreadable"));
    let peak = status_kib(pid, "VmHWM").unwrap_or(0);
    let growth = at_end as f64 / at_checkpoint as f64 - 1.0;
    let report = format!(
        "{total} invocations at N={SLOTS} with {EVENT_BYTES} B events in {took:.1?} ({:.0}/s): VmRSS {idle} KiB idle, \
         {at_checkpoint} KiB after {checkpoint}, {at_end} KiB after {total} ({:+.1} %), VmHWM {peak} KiB",
        total as f64 / took.as_secs_f64(),
        growth * 100.0
    );
    eprintln!("{report}");
    let answers = run.mock.answers();
    run.check(answers.len() == total, || {
        format!("{} answers for {total} events", answers.len())
    });
    let wrong = answers
        .iter()
        .filter(|a| a.kind != AnswerKind::Response || a.discarded_bytes != EVENT_BYTES as u64)
        .count();
    run.check(wrong == 0, || {
        format!("{wrong} answers were not a {EVENT_BYTES} B echo")
    });
    run.check(at_end as f64 <= at_checkpoint as f64 * 1.10, || {
        format!("memory grew by more than 10 %: {report}")
    });
}
