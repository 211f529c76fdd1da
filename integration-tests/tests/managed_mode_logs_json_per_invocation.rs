//! Managed mode logs JSON by default: a `log` op's line is one JSON object with `timestamp`,
//! an upper-case `level`, the `message`, and the `requestId` (plus `tenantId`/`traceId` when
//! known) of the invocation that logged it, even with several invocations interleaving.

use crate::support::*;
use std::collections::HashMap;
use std::time::Duration;

#[test]
fn managed_mode_logs_json_with_the_right_request_id() {
    let _m = shared_machine();
    let run = Run::managed(4, &[]);
    run.parked(4);
    let trace = "Root=1-66aa0000-000000000000000000000001;Parent=0000000000000001;Sampled=1";
    let mut markers = HashMap::new();
    for (n, level) in ["info", "warn", "error", "info"].iter().enumerate() {
        let marker = format!("json-log-marker-{n}-{}", run.mock.addr());
        // Interleave: each waits a different time inside the invocation before logging.
        let mut event = Event::json(&json!({
            "op": "log", "level": level, "message": marker, "sleep_ms": 400 - 100 * n as u64,
        }))
        .tenant_id(format!("tenant-{n}"));
        if n == 0 {
            event = event.trace_id(trace);
        }
        let id = run.mock.queue(event);
        markers.insert(marker, (id, level.to_ascii_uppercase(), n));
    }
    for (marker, (id, level, n)) in &markers {
        let body = run.ok_json(&run.answer(id));
        run.check(body == json!({"logged": true}), || format!("log answer: {body}"));
        let line = run
            .proc
            .wait_for_line(|l| l.contains(marker.as_str()), Duration::from_secs(5))
            .unwrap_or_else(|e| run.fail(&format!("no log line with {marker}: {e}")));
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| run.fail(&format!("log line is not JSON ({e}): {line}")));
        run.check(
            v["message"].as_str().is_some_and(|m| m.contains(marker.as_str())),
            || format!("message field: {line}"),
        );
        run.check(v["level"] == json!(level), || {
            format!("level should be {level}: {line}")
        });
        run.check(v["requestId"] == json!(id), || {
            format!("requestId should be {id} (the invocation that logged): {line}")
        });
        run.check(
            v["timestamp"]
                .as_str()
                .is_some_and(|t| t.len() >= 20 && t.contains('T')),
            || format!("timestamp should be RFC 3339: {line}"),
        );
        run.check(v["tenantId"] == json!(format!("tenant-{n}")), || {
            format!("tenantId should be tenant-{n}: {line}")
        });
        if *n == 0 {
            run.check(
                v["traceId"]
                    .as_str()
                    .is_some_and(|t| t.contains("1-66aa0000-000000000000000000000001")),
                || format!("traceId should carry the trace root: {line}"),
            );
        }
    }
}
