//! Work after the response logs with the right request id at any concurrency: 40 `background`
//! events on 8 slots (managed mode, JSON logs), each answered at once and then working a
//! different few tens of milliseconds before logging "background done" — so that the work of
//! several invocations overlaps and ends out of order. Each request id is on exactly one
//! "background done" line, and no such line lacks an id or carries a foreign one.

use crate::support::*;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const SLOTS: usize = 8;
const EVENTS: usize = 40;

#[test]
fn background_done_lines_carry_their_own_request_id_at_concurrency_8() {
    let _m = shared_machine();
    let mut run = Run::managed(SLOTS, &[]);
    run.parked(SLOTS);
    let ids: Vec<String> = (0..EVENTS)
        .map(|n| run.send(json!({"op": "background", "ms": 30 + (n * 17) % 41})))
        .collect();
    run.mock
        .wait_for_answers(EVENTS, Duration::from_secs(20))
        .unwrap_or_else(|e| run.fail(&e));
    for id in &ids {
        let body = run.ok_json(&run.answer(id));
        run.check(body == json!({"accepted": true}), || {
            format!("background answer for {id}: {body}")
        });
    }
    let mut seen = 0;
    run.proc
        .wait_for_line(
            |l| {
                seen += usize::from(l.contains("background done"));
                seen >= EVENTS
            },
            T,
        )
        .unwrap_or_else(|e| run.fail(&format!("only {seen} of {EVENTS} \"background done\" lines: {e}")));

    let sent: HashSet<&String> = ids.iter().collect();
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for line in run.proc.stream_lines(Stream::Stdout) {
        if !line.contains("background done") {
            continue;
        }
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| run.fail(&format!("log line is not JSON ({e}): {line}")));
        run.check(v["message"] == "background done" && v["level"] == "INFO", || {
            format!("unexpected line: {line}")
        });
        let Some(id) = v["requestId"].as_str() else {
            run.fail(&format!("a \"background done\" line without a requestId: {line}"))
        };
        run.check(sent.contains(&id.to_string()), || {
            format!("requestId {id} is not one of the background events: {line}")
        });
        *per_id.entry(id.to_string()).or_default() += 1;
    }
    for id in &ids {
        let n = per_id.get(id).copied().unwrap_or(0);
        run.check(n == 1, || {
            format!("{id}: {n} \"background done\" lines, expected exactly 1")
        });
    }
    run.assert_running("process died after background work");
}
