//! In JSON logs the metrics summary's `busy_by_arbiter` is a JSON list of numbers, one per
//! handler arbiter (not a string holding one), so a log query reads it as it reads the counters.

use crate::support::*;

#[test]
fn busy_by_arbiter_is_a_json_list_with_one_number_per_handler_arbiter() {
    let _m = shared_machine();
    let run = Run::managed(2, &[("LAMBDA_ACTORS_METRICS_INTERVAL_SECS", "1")]);
    run.parked(2);
    let id = run.send(json!({"op": "echo"}));
    run.ok_json(&run.answer(&id));
    let mut summary = None;
    run.proc
        .wait_for_line(
            |l| {
                let parsed = serde_json::from_str::<serde_json::Value>(l).ok();
                summary = parsed.filter(|v| v["message"] == "metrics");
                summary.is_some()
            },
            T,
        )
        .unwrap_or_else(|e| run.fail(&format!("no metrics summary: {e}")));
    let summary = summary.expect("found above");
    let started = run
        .proc
        .lines()
        .into_iter()
        .find_map(|l| {
            serde_json::from_str::<serde_json::Value>(&l.text)
                .ok()
                .filter(|v| v["handler_arbiters"].is_u64())
        })
        .unwrap_or_else(|| run.fail("no start-up line naming the handler arbiters"));
    let list = summary["busy_by_arbiter"].as_array();
    run.check(
        list.is_some_and(|l| {
            l.len() as u64 == started["handler_arbiters"].as_u64().unwrap_or(0) && l.iter().all(|n| n.is_u64())
        }),
        || format!("busy_by_arbiter should be a list of numbers, one per handler arbiter: {summary}"),
    );
}
