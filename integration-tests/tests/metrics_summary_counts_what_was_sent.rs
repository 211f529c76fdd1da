//! The supervisor's metrics summary: with `LAMBDA_ACTORS_METRICS_INTERVAL_SECS=1` a summary line
//! (JSON in JSON mode, `"message":"metrics"`) is logged every second and once more at shutdown,
//! as the very last line. Counters cover the interval since the previous summary, so summed
//! over every summary they equal what the test sent: invocations, errors (handler errors and
//! panics), panics, bytes in (event bodies) and out (response bodies); restarts count at least
//! the handlers rebuilt after the panics; `num_pollers` is the configured concurrency.
//! `LAMBDA_ACTORS_METRICS_INTERVAL_SECS=0` turns summaries off, the shutdown one included.

use crate::support::*;
use std::time::Duration;

const SLOTS: u64 = 4;
const SLEEP_MS: u64 = 150;

fn is_summary(line: &str) -> bool {
    serde_json::from_str::<Value>(line).is_ok_and(|v| v["message"] == "metrics")
}

fn summaries(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "metrics")
        .collect()
}

fn sum(summaries: &[Value], field: &str) -> f64 {
    summaries.iter().map(|s| s[field].as_f64().unwrap_or(0.0)).sum()
}

#[test]
fn metrics_summaries_on_the_interval_and_at_shutdown_add_up_to_what_was_sent() {
    let _m = shared_machine();
    let mut run = Run::managed(SLOTS as usize, &[("LAMBDA_ACTORS_METRICS_INTERVAL_SECS", "1")]);
    run.parked(SLOTS as usize);
    // The mix: 9 echoes and a sleep succeed, 3 handler errors and 2 panics fail.
    let mut events = Vec::new();
    for n in 0..9 {
        events.push(json!({"op": "echo", "n": n, "pad": "x".repeat(n * 10)}));
    }
    events.push(json!({"op": "sleep", "ms": SLEEP_MS}));
    for n in 0..3 {
        events.push(json!({"op": "error", "type": "MetricsError", "message": format!("e{n}")}));
    }
    for n in 0..2 {
        events.push(json!({"op": "panic", "message": format!("metrics-panic-{n}")}));
    }
    let bytes_in: usize = events.iter().map(|e| serde_json::to_vec(e).unwrap().len()).sum();
    let ids: Vec<String> = events.iter().map(|e| run.send(e.clone())).collect();
    run.mock.wait_for_answers(ids.len(), T).unwrap_or_else(|e| run.fail(&e));
    let answers = run.mock.answers();
    let responses: Vec<_> = answers.iter().filter(|a| a.kind == AnswerKind::Response).collect();
    run.check(responses.len() == 10, || {
        format!("{} responses, expected 10", responses.len())
    });
    let bytes_out: usize = responses.iter().map(|a| a.body.len()).sum();

    // An invocation is counted once Lambda has taken its answer: two summaries after the last
    // answer, the later one has certainly counted it.
    let before = summaries(&run.proc.stream_lines(Stream::Stdout)).len();
    let mut seen = 0;
    run.proc
        .wait_for_line(
            |l| {
                seen += usize::from(is_summary(l));
                seen >= before + 2
            },
            Duration::from_secs(6),
        )
        .unwrap_or_else(|e| run.fail(&format!("no summary every second ({seen} in all): {e}")));
    run.assert_running("process died");
    let periodic = summaries(&run.proc.stream_lines(Stream::Stdout));

    run.sigterm_and_expect_exit_zero();
    let lines = run.proc.stream_lines(Stream::Stdout);
    let all = summaries(&lines);
    run.check(all.len() == periodic.len() + 1, || {
        format!(
            "one more summary expected at shutdown: {} before SIGTERM, {} in all",
            periodic.len(),
            all.len()
        )
    });
    let sigterm = lines
        .iter()
        .rposition(|l| l.contains("SIGTERM"))
        .unwrap_or_else(|| run.fail("no log line about SIGTERM"));
    let last = lines.last().expect("lines");
    run.check(lines.len() > sigterm + 1 && is_summary(last), || {
        format!("the last line after the SIGTERM line should be the metrics summary: {last}")
    });

    for s in &all {
        for field in std::iter::once("interval_ms").chain(METRIC_FIELDS) {
            run.check(s[field].is_number(), || format!("summary lacks a numeric {field}: {s}"));
        }
        run.check(s["level"] == "INFO" && s.get("requestId").is_none(), || {
            format!("a summary is an INFO line outside any invocation: {s}")
        });
        run.check(s["num_pollers"] == SLOTS, || {
            format!("num_pollers should be {SLOTS}: {s}")
        });
        run.check(s["num_pollers_alive"].as_u64().is_some_and(|n| n <= SLOTS), || {
            format!("num_pollers_alive: {s}")
        });
        run.check(s["max_mailbox_depth"] == 0, || {
            format!("one handler per slot: no poller ever waits for one: {s}")
        });
        let f = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
        run.check(
            f("handler_ms_p50") <= f("handler_ms_p99") && f("handler_ms_p99") <= f("handler_ms_max"),
            || format!("handler latencies out of order: {s}"),
        );
        run.check(f("overhead_us_p50") <= f("overhead_us_p99"), || {
            format!("overhead latencies out of order: {s}")
        });
        run.check(f("invocations_count") > 0.0 || f("handler_ms_max") == 0.0, || {
            format!("latencies without invocations: {s}")
        });
    }
    for s in &periodic {
        run.check(s["num_pollers_alive"] == SLOTS, || {
            format!("all {SLOTS} pollers are alive while serving: {s}")
        });
        run.check(s["interval_ms"].as_u64().is_some_and(|ms| ms >= 500), || {
            format!("a periodic summary covers about a second: {s}")
        });
    }
    let at_exit = all.last().expect("a summary");
    run.check(at_exit["num_busy_handlers"] == 0, || {
        format!("nothing is in flight at shutdown: {at_exit}")
    });

    let total = |field: &str| sum(&all, field);
    run.check(total("invocations_count") == 15.0, || {
        format!(
            "invocations_count sums to {}, expected 15: {all:?}",
            total("invocations_count")
        )
    });
    run.check(total("errors_count") == 5.0, || {
        format!(
            "errors_count sums to {}, expected 5 (3 errors + 2 panics): {all:?}",
            total("errors_count")
        )
    });
    run.check(total("panics_count") == 2.0, || {
        format!("panics_count sums to {}, expected 2: {all:?}", total("panics_count"))
    });
    run.check(total("timeouts_count") == 0.0, || format!("timeouts: {all:?}"));
    run.check(total("restarts_count") >= 2.0, || {
        format!(
            "restarts_count sums to {}: both panicked handlers were rebuilt: {all:?}",
            total("restarts_count")
        )
    });
    run.check(total("bytes_in") == bytes_in as f64, || {
        format!(
            "bytes_in sums to {}, the event bodies were {bytes_in} bytes: {all:?}",
            total("bytes_in")
        )
    });
    run.check(total("bytes_out") == bytes_out as f64, || {
        format!(
            "bytes_out sums to {}, the response bodies were {bytes_out} bytes: {all:?}",
            total("bytes_out")
        )
    });
    let slowest = all
        .iter()
        .map(|s| s["handler_ms_max"].as_f64().unwrap_or(0.0))
        .fold(0.0, f64::max);
    run.check((SLEEP_MS as f64..5_000.0).contains(&slowest), || {
        format!("the {SLEEP_MS} ms sleep should be the slowest handler, handler_ms_max is {slowest}: {all:?}")
    });
    for l in lines.iter().filter(|l| is_summary(l)) {
        eprintln!("summary: {l}");
    }
}

#[test]
fn metrics_interval_zero_turns_summaries_off() {
    let _m = shared_machine();
    let mut run = Run::managed(2, &[("LAMBDA_ACTORS_METRICS_INTERVAL_SECS", "0")]);
    for n in 0..3 {
        let id = run.send(json!({"op": "echo", "n": n}));
        run.ok_json(&run.answer(&id));
    }
    run.sigterm_and_expect_exit_zero();
    let lines = run.proc.stream_lines(Stream::Stdout);
    run.check(lines.iter().any(|l| l.contains("SIGTERM")), || {
        "the shutdown was not logged: did the process really drain?".into()
    });
    for l in &lines {
        run.check(!is_summary(l) && !l.contains("invocations_count"), || {
            format!("LAMBDA_ACTORS_METRICS_INTERVAL_SECS=0 should log no summary, not even at shutdown: {l}")
        });
    }
}

#[test]
fn text_mode_summary_at_shutdown_counts_the_invocations() {
    let _m = shared_machine();
    // Classic mode logs text; the default interval (60 s) leaves only the shutdown summary.
    let mut run = Run::classic(&[]);
    for n in 0..3 {
        let id = run.send(json!({"op": "echo", "n": n}));
        run.ok_json(&run.answer(&id));
    }
    run.sigterm_and_expect_exit_zero();
    let lines = run.proc.stream_lines(Stream::Stdout);
    let found: Vec<&String> = lines.iter().filter(|l| l.contains("invocations_count")).collect();
    run.check(found.len() == 1, || {
        format!("one summary expected at shutdown: {found:?}")
    });
    let line = found[0];
    run.check(
        lines.last() == Some(line)
            && line.contains(" INFO ")
            && line.contains("metrics")
            && line.contains("invocations_count=3")
            && line.contains("num_pollers=1")
            && !line.starts_with('{'),
        || format!("the last line should be a text summary counting 3 invocations on 1 poller: {line}"),
    );
}
