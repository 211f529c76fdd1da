//! Two CPU-bound handlers (N=2) run on two cores at once: two 800 ms spins finish in clearly
//! less than 1600 ms, on two different OS threads of the process.
//!
//! The spin is a wall-clock busy loop, so "finished in ~800 ms" alone would also hold for two
//! threads time-sliced on one core. So the test also reads the CPU time of each thread, and —
//! when the rest of the machine was quiet meanwhile, so that two cores were really available —
//! checks that the process burnt well over one CPU-second per second.

use crate::support::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[test]
fn two_spins_run_on_two_cores() {
    let _m = whole_machine();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        eprintln!("skipped: needs 2 cores, this machine has {cores}");
        return;
    }
    let run = Run::managed(2, &[]);
    run.parked(2);
    let threads_before: HashMap<u32, Duration> = run.proc.thread_cpu_times().into_iter().collect();
    let cpu_before = run.proc.cpu_time();
    let machine_before = machine_busy_time();
    let start = Instant::now();
    let a = run.send(json!({"op": "spin", "ms": 800}));
    let b = run.send(json!({"op": "spin", "ms": 800}));
    let answer_a = run.answer(&a);
    let answer_b = run.answer(&b);
    let elapsed = start.elapsed();
    let cpu_after = run.proc.cpu_time();
    let machine_after = machine_busy_time();
    let threads_after = run.proc.thread_cpu_times();
    for answer in [&answer_a, &answer_b] {
        let body = run.ok_json(answer);
        run.check(body == json!({"spun_ms": 800}), || format!("spin answer: {body}"));
    }
    let gap = if answer_a.received > answer_b.received {
        answer_a.received - answer_b.received
    } else {
        answer_b.received - answer_a.received
    };
    run.check(elapsed >= Duration::from_millis(800), || {
        format!("answers after {elapsed:?}: the spins did not spin")
    });
    run.check(elapsed < Duration::from_millis(1350), || {
        format!(
            "two 800 ms spins took {elapsed:?} (answers {gap:?} apart); on two cores they \
             should overlap, serial is 1600 ms"
        )
    });

    // Two distinct OS threads did the spinning (each got a real share of CPU meanwhile).
    let per_thread: Vec<(u32, Duration)> = threads_after
        .iter()
        .map(|(tid, t)| {
            let before = threads_before.get(tid).copied().unwrap_or_default();
            (*tid, t.saturating_sub(before))
        })
        .collect();
    if !per_thread.is_empty() {
        let busy = per_thread
            .iter()
            .filter(|(_, t)| *t >= Duration::from_millis(100))
            .count();
        run.check(busy >= 2, || {
            format!(
                "only {busy} thread(s) of the process used ≥ 100 ms CPU during two concurrent \
                 800 ms spins: {per_thread:?}"
            )
        });
    }

    // On a quiet machine, the process itself burnt about 2 CPU-seconds per second.
    if let (Some(cb), Some(ca), Some(mb), Some(ma)) = (cpu_before, cpu_after, machine_before, machine_after) {
        let ours = ca.saturating_sub(cb);
        let others = ma.saturating_sub(mb).saturating_sub(ours);
        if others.as_secs_f64() < 0.25 * elapsed.as_secs_f64() {
            run.check(ours.as_secs_f64() >= 1.3 * elapsed.as_secs_f64(), || {
                format!(
                    "on a quiet machine (others used {others:?}) the process used only {ours:?} \
                     of CPU for two 800 ms spins in {elapsed:?}: they did not run on two cores"
                )
            });
        } else {
            eprintln!(
                "machine busy (others used {others:?} in {elapsed:?}); process CPU {ours:?}: \
                 whole-process CPU check skipped"
            );
        }
    }
}
