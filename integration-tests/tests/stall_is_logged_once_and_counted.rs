//! A handler that keeps its thread busy past `LAMBDA_ACTORS_STALL_WARN_MS` (default 100 ms)
//! is a stall: one WARN line with its requestId, how long, and what to do; `stalls_count` and
//! `stall_ms_max` in the metrics summary. Blocking work on `lambda_actors::spawn_blocking`
//! holds no handler thread, so it is no stall.

use crate::support::*;
use std::time::Duration;

fn stall_warnings(run: &Run, request_id: &str) -> Vec<String> {
    run.proc
        .stream_lines(Stream::Stdout)
        .into_iter()
        .filter(|l| l.contains("without yielding") && l.contains(request_id))
        .collect()
}

#[test]
fn a_spinning_handler_is_logged_once_and_counted() {
    let _m = shared_machine();
    let run = Run::managed(2, &[("LAMBDA_ACTORS_METRICS_INTERVAL_SECS", "1")]);
    run.parked(2);
    let id = run.send(json!({"op": "spin", "ms": 400}));
    run.ok_json(&run.answer(&id));
    let logged = run
        .proc
        .wait_for_line(|l| l.contains("without yielding") && l.contains(&id), T);
    let line = logged.unwrap_or_else(|e| run.fail(&format!("no stall warning with the request id: {e}")));
    let json: Value = serde_json::from_str(&line).unwrap_or_else(|e| run.fail(&format!("{e}: {line}")));
    run.check(json["level"] == "WARN" && json["requestId"] == id.as_str(), || {
        format!("the stall line: {line}")
    });
    let ms = json["stall_ms"].as_u64().unwrap_or(0);
    run.check((350..5000).contains(&ms), || {
        format!("a 400 ms spin logged as a {ms} ms stall")
    });
    run.check(line.contains("spawn_blocking"), || {
        format!("the stall line says what to do: {line}")
    });
    let stalls = counted(&run, "stalls_count", 1, Duration::from_secs(4));
    run.check(stalls == 1, || format!("metrics counted {stalls} stalls for one spin"));
    let max = counted(&run, "stall_ms_max", 350, Duration::from_secs(1));
    run.check(max >= 350, || format!("stall_ms_max {max} after a 400 ms spin"));
    let lines = stall_warnings(&run, &id);
    run.check(lines.len() == 1, || {
        format!("the stall was logged {} times: {lines:?}", lines.len())
    });
}

#[test]
fn work_on_spawn_blocking_is_no_stall() {
    let _m = shared_machine();
    let run = Run::managed(2, &[("LAMBDA_ACTORS_METRICS_INTERVAL_SECS", "1")]);
    run.parked(2);
    let id = run.send(json!({"op": "blocking_spin", "ms": 400}));
    let body = run.ok_json(&run.answer(&id));
    run.check(body == json!({"spun_ms": 400, "blocking": true}), || {
        format!("answer: {body}")
    });
    // A summary that counted the invocation, then none of its stalls.
    let mut seen = false;
    let mut stalls = 0;
    let _ = run.proc.wait_for_line(
        |l| {
            if let Ok(v) = serde_json::from_str::<Value>(l) {
                if v["message"] == "metrics" {
                    stalls += v["stalls_count"].as_u64().unwrap_or(0);
                    seen |= v["invocations_count"].as_u64().unwrap_or(0) > 0;
                }
            }
            seen
        },
        Duration::from_secs(4),
    );
    run.check(seen, || "no metrics summary counted the invocation".into());
    run.check(stalls == 0, || {
        format!("{stalls} stalls counted for work on spawn_blocking")
    });
    run.check(stall_warnings(&run, &id).is_empty(), || {
        "work on spawn_blocking was logged as a stall".into()
    });
}
