//! `LAMBDA_ACTORS_METRICS_FORMAT=emf`: each metrics summary is one stdout line holding a
//! CloudWatch Embedded Metric Format document — `_aws.Timestamp` (epoch ms),
//! `_aws.CloudWatchMetrics[0]` with a `Namespace`, `Dimensions` (arrays of top-level string
//! keys, here the function name) and `Metrics` (each `{Name, Unit}` with a CloudWatch unit),
//! and every declared metric as a top-level number. It replaces the plain summary line, in
//! text and JSON log modes alike, and its counts add up to what was sent.

use crate::support::*;
use std::collections::HashSet;
use std::time::Duration;

/// CloudWatch's metric units.
const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

fn is_emf(line: &str) -> bool {
    serde_json::from_str::<Value>(line).is_ok_and(|v| v.get("_aws").is_some())
}

fn emf_docs(run: &Run) -> Vec<Value> {
    run.proc
        .stream_lines(Stream::Stdout)
        .iter()
        .filter(|l| is_emf(l))
        .map(|l| serde_json::from_str(l).expect("checked"))
        .collect()
}

/// Checks one document's EMF shape; returns the declared metric names.
#[track_caller]
fn check_shape(run: &Run, doc: &Value, function_name: Option<&str>) -> Vec<String> {
    let ts = doc["_aws"]["Timestamp"].as_u64();
    let now = now_epoch_ms();
    run.check(ts.is_some_and(|t| t + 120_000 > now && t < now + 5_000), || {
        format!("_aws.Timestamp should be epoch milliseconds close to now ({now}): {doc}")
    });
    let directives = doc["_aws"]["CloudWatchMetrics"].as_array();
    run.check(directives.is_some_and(|d| !d.is_empty()), || {
        format!("_aws.CloudWatchMetrics should be a non-empty array: {doc}")
    });
    let d = &doc["_aws"]["CloudWatchMetrics"][0];
    run.check(d["Namespace"].as_str().is_some_and(|n| !n.is_empty()), || {
        format!("Namespace should be a non-empty string: {doc}")
    });
    let Some(dimension_sets) = d["Dimensions"].as_array() else {
        run.fail(&format!("Dimensions should be an array: {doc}"))
    };
    for set in dimension_sets {
        let Some(keys) = set.as_array() else {
            run.fail(&format!("each dimension set is an array of names: {doc}"))
        };
        run.check(keys.len() <= 30, || format!("at most 30 dimensions in a set: {doc}"));
        for key in keys {
            let Some(key) = key.as_str() else {
                run.fail(&format!("dimension names are strings: {doc}"))
            };
            run.check(doc[key].is_string(), || {
                format!("dimension {key:?} should be a top-level string: {doc}")
            });
        }
    }
    if let Some(name) = function_name {
        run.check(
            dimension_sets
                .iter()
                .any(|s| s.as_array().is_some_and(|k| k.iter().any(|k| k == "FunctionName")))
                && doc["FunctionName"] == name,
            || format!("FunctionName should be a dimension with value {name:?}: {doc}"),
        );
    }
    let Some(metrics) = d["Metrics"].as_array() else {
        run.fail(&format!("Metrics should be an array: {doc}"))
    };
    let mut names = Vec::new();
    for m in metrics {
        let (Some(name), Some(unit)) = (m["Name"].as_str(), m["Unit"].as_str()) else {
            run.fail(&format!("each metric is {{Name, Unit}} strings: {m} in {doc}"))
        };
        run.check(UNITS.contains(&unit), || {
            format!("{name}: {unit:?} is not a CloudWatch unit")
        });
        run.check(doc[name].is_number(), || {
            format!("declared metric {name} should be a top-level number: {doc}")
        });
        names.push(name.to_string());
    }
    let unique: HashSet<&String> = names.iter().collect();
    run.check(unique.len() == names.len(), || {
        format!("a metric is declared twice: {names:?}")
    });
    for required in METRIC_FIELDS {
        run.check(names.iter().any(|n| n == required), || {
            format!("{required} is not declared: {names:?}")
        });
    }
    names
}

fn total(docs: &[Value], field: &str) -> f64 {
    docs.iter().map(|d| d[field].as_f64().unwrap_or(0.0)).sum()
}

#[test]
fn emf_documents_on_the_interval_and_at_shutdown_text_mode() {
    let _m = shared_machine();
    let mut run = Run::classic(&[
        ("LAMBDA_ACTORS_METRICS_FORMAT", "emf"),
        ("LAMBDA_ACTORS_METRICS_INTERVAL_SECS", "1"),
        ("AWS_LAMBDA_FUNCTION_NAME", "emf-function"),
    ]);
    for n in 0..4 {
        let id = run.send(json!({"op": "echo", "n": n}));
        run.ok_json(&run.answer(&id));
    }
    let id = run.send(json!({"op": "error", "type": "EmfError", "message": "counted"}));
    run.error_json(&run.answer(&id), "EmfError");
    // Two documents after the last answer: the later one has counted it.
    let before = emf_docs(&run).len();
    let mut seen = 0;
    run.proc
        .wait_for_line(
            |l| {
                seen += usize::from(is_emf(l));
                seen >= before + 2
            },
            Duration::from_secs(6),
        )
        .unwrap_or_else(|e| run.fail(&format!("no EMF document every second ({seen} in all): {e}")));
    let periodic = emf_docs(&run).len();
    run.sigterm_and_expect_exit_zero();
    let docs = emf_docs(&run);
    run.check(docs.len() == periodic + 1, || {
        format!(
            "one more document expected at shutdown: {periodic} before, {} after",
            docs.len()
        )
    });
    let lines = run.proc.stream_lines(Stream::Stdout);
    run.check(lines.last().is_some_and(|l| is_emf(l)), || {
        format!("the last line should be the shutdown document: {:?}", lines.last())
    });
    for doc in &docs {
        check_shape(&run, doc, Some("emf-function"));
        run.check(doc["num_pollers"].as_f64() == Some(1.0), || {
            format!("classic mode has one poller: {doc}")
        });
    }
    // EMF replaces the plain summary line.
    for l in &lines {
        run.check(is_emf(l) || !l.contains("invocations_count"), || {
            format!("a plain summary line next to EMF: {l}")
        });
    }
    run.check(total(&docs, "invocations_count") == 5.0, || {
        format!(
            "invocations_count sums to {}, expected 5: {docs:?}",
            total(&docs, "invocations_count")
        )
    });
    run.check(total(&docs, "errors_count") == 1.0, || {
        format!(
            "errors_count sums to {}, expected 1: {docs:?}",
            total(&docs, "errors_count")
        )
    });
    eprintln!("EMF document: {}", lines.last().expect("a line"));
}

#[test]
fn emf_document_at_shutdown_json_mode() {
    let _m = shared_machine();
    let mut run = Run::managed(2, &[("LAMBDA_ACTORS_METRICS_FORMAT", "EMF")]);
    run.parked(2);
    let ids: Vec<String> = (0..3).map(|n| run.send(json!({"op": "echo", "n": n}))).collect();
    let panic_id = run.send(json!({"op": "panic", "message": "emf-panic"}));
    for id in &ids {
        run.ok_json(&run.answer(id));
    }
    run.error_json(&run.answer(&panic_id), "Runtime.HandlerPanic");
    run.sigterm_and_expect_exit_zero();
    // The default interval is 60 s: only the shutdown document.
    let docs = emf_docs(&run);
    run.check(docs.len() == 1, || {
        format!("one EMF document expected, got {}", docs.len())
    });
    let doc = &docs[0];
    check_shape(&run, doc, None);
    for (field, want) in [
        ("invocations_count", 4.0),
        ("errors_count", 1.0),
        ("panics_count", 1.0),
        ("num_pollers", 2.0),
    ] {
        run.check(doc[field].as_f64() == Some(want), || {
            format!("{field} should be {want}: {doc}")
        });
    }
    let lines = run.proc.stream_lines(Stream::Stdout);
    for l in &lines {
        run.check(
            is_emf(l) || serde_json::from_str::<Value>(l).is_ok_and(|v| v["message"] != "metrics"),
            || format!("JSON mode: every other line is a JSON log line, none a plain summary: {l}"),
        );
    }
}
