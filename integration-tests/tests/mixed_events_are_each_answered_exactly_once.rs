//! 3,000 mixed events (echo, handler error, panic, bad JSON) at N=16: every request id is
//! answered exactly once, with the right kind and type; nothing is lost or answered twice.

use crate::support::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
enum Expect {
    Echo(usize),
    Error,
    Panic,
    Unmarshal,
}

#[test]
fn three_thousand_mixed_events_are_each_answered_exactly_once() {
    let _m = whole_machine();
    const N: usize = 3000;
    let run = Run::managed(16, &[("RUST_BACKTRACE", "0")]);
    run.parked(16);
    let start = Instant::now();
    let mut expected = HashMap::new();
    for i in 0..N {
        let (event, expect) = match i % 4 {
            0 => (Event::json(&json!({"op": "echo", "i": i})), Expect::Echo(i)),
            1 => (
                Event::json(&json!({"op": "error", "type": "MixedError", "message": format!("e{i}")})),
                Expect::Error,
            ),
            2 => (
                Event::json(&json!({"op": "panic", "message": format!("p{i}")})),
                Expect::Panic,
            ),
            _ => (Event::raw(format!("{{bad json {i}")), Expect::Unmarshal),
        };
        let id = run.mock.queue(event.request_id(format!("mixed-{i:05}")));
        expected.insert(id, expect);
    }
    run.mock
        .wait_for_answers(N, Duration::from_secs(90))
        .unwrap_or_else(|e| run.fail(&e));
    let elapsed = start.elapsed();
    // Give a straggling duplicate a moment to show up.
    std::thread::sleep(Duration::from_millis(300));
    let answers = run.mock.answers();
    let mut by_id: HashMap<&str, Vec<_>> = HashMap::new();
    for a in &answers {
        by_id.entry(a.request_id.as_str()).or_default().push(a);
    }
    let mut problems = Vec::new();
    for (id, expect) in &expected {
        let got = by_id.remove(id.as_str()).unwrap_or_default();
        if got.len() != 1 {
            problems.push(format!("{id}: answered {} times", got.len()));
            continue;
        }
        let a = got[0];
        let ok = match expect {
            Expect::Echo(i) => {
                a.kind == AnswerKind::Response
                    && serde_json::from_slice::<Value>(&a.body).ok() == Some(json!({"op": "echo", "i": i}))
            }
            Expect::Error => a.kind == AnswerKind::Error && a.error_type().as_deref() == Some("MixedError"),
            Expect::Panic => a.kind == AnswerKind::Error && a.error_type().as_deref() == Some("Runtime.HandlerPanic"),
            Expect::Unmarshal => {
                a.kind == AnswerKind::Error && a.error_type().as_deref() == Some("Runtime.UnmarshalError")
            }
        };
        if !ok {
            problems.push(format!("{id}: expected {expect:?}, got {:?} {}", a.kind, a.body_text()));
        }
    }
    for (id, got) in by_id {
        problems.push(format!("{id}: {} answers for an id never queued", got.len()));
    }
    if !problems.is_empty() {
        let shown: Vec<_> = problems.iter().take(20).collect();
        run.fail(&format!(
            "{} of {N} events went wrong (first 20): {shown:#?}",
            problems.len()
        ));
    }
    run.check(run.mock.deliveries().len() == N, || {
        format!("{} deliveries for {N} events", run.mock.deliveries().len())
    });
    run.check(run.mock.max_in_flight() <= 16, || {
        format!("{} in flight at once with N=16", run.mock.max_in_flight())
    });
    eprintln!("{N} mixed events answered in {elapsed:?}");
}
