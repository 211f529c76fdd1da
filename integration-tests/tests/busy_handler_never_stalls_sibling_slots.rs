//! Managed Instances scheduling: a handler that hogs its thread — a CPU loop, or a blocking
//! call inside an async handler — never delays the other slots while a core is free. At
//! N=8 on this 2-core machine, twelve quick invocations pushed while one handler spins (or
//! blocks) for 3 s all finish promptly, whichever parked `/next` the mock hands each event to;
//! and two CPU-bound invocations at once always run side by side, on two threads.

use crate::support::*;
use std::time::{Duration, Instant};

/// "Promptly": a quick invocation behind a 3 s hog would take seconds; this bound is generous
/// for a loaded shared machine and still far below the hog.
const PROMPT: Duration = Duration::from_millis(1000);

fn quick_invocations_finish_while_one_handler_hogs(hog: Value, env: &[(&str, &str)]) {
    let _m = whole_machine();
    let run = Run::managed(8, env);
    expect_pinning_as_asked(&run, env);
    run.parked(8);
    let hog_id = run.send(hog);
    run.mock.wait_for_deliveries(1, T).unwrap_or_else(|e| run.fail(&e));
    // Let the hog take its thread before the quick ones arrive.
    std::thread::sleep(Duration::from_millis(200));
    let mut slowest = Duration::ZERO;
    for round in 0..3 {
        let sent = Instant::now();
        let ids: Vec<String> = (0..4)
            .map(|i| run.send(json!({"op": "echo", "round": round, "i": i})))
            .collect();
        for id in &ids {
            let answer = run.answer(id);
            run.ok_json(&answer);
            slowest = slowest.max(answer.received - sent);
        }
    }
    run.check(slowest < PROMPT, || {
        format!("with one handler hogging its thread, the slowest of 12 quick invocations took {slowest:?}")
    });
    run.check(run.mock.answers_for(&hog_id).is_empty(), || {
        "the hog finished before the quick invocations were checked: the test proved nothing".into()
    });
    run.ok_json(&run.answer(&hog_id));
}

#[test]
fn quick_invocations_finish_promptly_while_one_handler_spins() {
    quick_invocations_finish_while_one_handler_hogs(json!({"op": "spin", "ms": 3000}), &[]);
}

#[test]
fn quick_invocations_finish_promptly_while_one_handler_blocks_its_thread() {
    quick_invocations_finish_while_one_handler_hogs(json!({"op": "block", "ms": 3000}), &[]);
}

/// Pinned (`LAMBDA_ACTORS_PIN_THREADS=1`), the spinning handler shares its CPU with an I/O
/// thread: the kernel must still run that I/O thread, and the router must send its events to
/// the other CPU's handler thread.
#[test]
fn quick_invocations_finish_promptly_while_one_handler_spins_with_pinned_threads() {
    quick_invocations_finish_while_one_handler_hogs(
        json!({"op": "spin", "ms": 3000}),
        &[("LAMBDA_ACTORS_PIN_THREADS", "1")],
    );
}

#[test]
fn two_cpu_bound_invocations_always_overlap() {
    two_cpu_bound_invocations_overlap(&[]);
}

/// Pinned, the two go to the two CPUs' handler threads, whichever I/O thread read them.
#[test]
fn two_cpu_bound_invocations_always_overlap_with_pinned_threads() {
    two_cpu_bound_invocations_overlap(&[("LAMBDA_ACTORS_PIN_THREADS", "1")]);
}

fn two_cpu_bound_invocations_overlap(env: &[(&str, &str)]) {
    let _m = whole_machine();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        eprintln!("skipped: needs 2 cores, this machine has {cores}");
        return;
    }
    let run = Run::managed(8, env);
    expect_pinning_as_asked(&run, env);
    run.parked(8);
    for round in 0..4 {
        // Every slot polling again: the previous round's handlers have returned, so both
        // cores are free. (An answer reaches the mock a moment before its handler's last poll
        // ends; a round sent in that moment finds one thread still busy, and rightly shares
        // the other.)
        run.parked(8);
        let start = Instant::now();
        let a = run.send(json!({"op": "spin", "ms": 600}));
        let b = run.send(json!({"op": "spin", "ms": 600}));
        let (a, b) = (run.answer(&a), run.answer(&b));
        let last = a.received.max(b.received) - start;
        // Side by side: about 600 ms; on one thread, 1200 ms.
        run.check(last < Duration::from_millis(1000), || {
            format!("round {round}: two 600 ms spins took {last:?}: they shared a thread")
        });
    }
}

/// The start-up line says whether the threads were pinned: a pinned variant that ran unpinned
/// would prove nothing about pinning.
fn expect_pinning_as_asked(run: &Run, env: &[(&str, &str)]) {
    let asked = env.contains(&("LAMBDA_ACTORS_PIN_THREADS", "1"));
    let want = format!("\"pinned_threads\":{asked}");
    if let Err(e) = run
        .proc
        .wait_for_line(|l| l.contains("started") && l.contains(&want), T)
    {
        run.fail(&format!("no start-up line with {want}: {e}"));
    }
}
