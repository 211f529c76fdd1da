//! 400 invocations at `AWS_LAMBDA_MAX_CONCURRENCY=16`, each a `log` op with a unique marker
//! after a short, varying sleep (so that many are in flight at once and they end out of order):
//! every marker is logged on exactly one stdout line, that line is one JSON object, its
//! `message` is the marker alone, and its `requestId` is the id of the invocation that logged
//! it — never a neighbour's.

use crate::support::*;
use std::collections::HashMap;
use std::time::Duration;

const EVENTS: usize = 400;
const SLOTS: usize = 16;
const LEVELS: [&str; 3] = ["info", "warn", "error"];

#[test]
fn every_marker_line_carries_its_own_request_id_at_concurrency_16() {
    let _m = shared_machine();
    let run = Run::managed(SLOTS, &[]);
    run.parked(SLOTS);
    let prefix = format!("conc-marker-{}-", run.mock.addr().replace(['.', ':'], "_"));
    // marker -> (request id, level)
    let mut markers: HashMap<String, (String, &str)> = HashMap::new();
    for n in 0..EVENTS {
        let marker = format!("{prefix}{n:03}");
        let level = LEVELS[n % LEVELS.len()];
        let sleep_ms = 5 + (n * 7) % 25;
        let id = run.send(json!({"op": "log", "level": level, "message": marker, "sleep_ms": sleep_ms}));
        markers.insert(marker, (id, level));
    }
    run.mock
        .wait_for_answers(EVENTS, Duration::from_secs(60))
        .unwrap_or_else(|e| run.fail(&e));
    for (id, _) in markers.values() {
        let answers = run.mock.answers_for(id);
        run.check(answers.len() == 1, || format!("{id} answered {} times", answers.len()));
        let body = run.ok_json(&answers[0]);
        run.check(body == json!({"logged": true}), || {
            format!("log answer for {id}: {body}")
        });
    }
    // Overlap really happened: otherwise this would not test concurrency at all.
    let overlap = run.mock.max_in_flight();
    run.check(overlap >= SLOTS / 2, || {
        format!("at most {overlap} invocations were in flight at once; expected up to {SLOTS}")
    });
    // Every marker is logged before its answer is posted; give the output reader a moment.
    let mut seen = 0;
    run.proc
        .wait_for_line(
            |l| {
                seen += usize::from(l.contains(&prefix));
                seen >= EVENTS
            },
            T,
        )
        .unwrap_or_else(|e| run.fail(&format!("only {seen} of {EVENTS} marker lines: {e}")));

    let mut found: HashMap<String, usize> = HashMap::new();
    for line in run.proc.stream_lines(Stream::Stdout) {
        if !line.contains(&prefix) {
            continue;
        }
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| run.fail(&format!("marker line is not one JSON object ({e}): {line}")));
        let Some(marker) = v["message"].as_str() else {
            run.fail(&format!("marker line without a string message: {line}"))
        };
        let Some((id, level)) = markers.get(marker) else {
            run.fail(&format!("message is not exactly one marker (mixed lines?): {line}"))
        };
        run.check(v["requestId"] == json!(id), || {
            format!(
                "{marker} was logged by {id}, but its line says requestId {}: {line}",
                v["requestId"]
            )
        });
        run.check(v["level"] == json!(level.to_ascii_uppercase()), || {
            format!("{marker} was logged at {level}: {line}")
        });
        *found.entry(marker.to_string()).or_default() += 1;
    }
    for marker in markers.keys() {
        let n = found.get(marker).copied().unwrap_or(0);
        run.check(n == 1, || format!("{marker} appears on {n} lines, expected exactly 1"));
    }
}
