//! Log level: `AWS_LAMBDA_LOG_LEVEL=WARN` drops the handler's info (and debug) lines and keeps
//! its warn and error lines; `RUST_LOG` overrides it (`RUST_LOG=debug` with
//! `AWS_LAMBDA_LOG_LEVEL=ERROR` lets debug lines through, not trace).
//!
//! Classic mode runs one invocation at a time and each logs before it is answered, so once the
//! last marker's line has been read every earlier marker that was logged has been read too.

use crate::support::*;

/// Sends one `log` op per level, in order, each answered before the next; returns the stdout
/// lines once the last marker's line has arrived, and the markers by level.
fn log_each(run: &Run, levels: &[&str]) -> (Vec<String>, Vec<(String, String, String)>) {
    let tag = run.mock.addr().replace(['.', ':'], "_");
    let markers: Vec<(String, String)> = levels
        .iter()
        .enumerate()
        .map(|(n, level)| (level.to_string(), format!("level-{level}-marker-{n}-{tag}")))
        .collect();
    let mut sent = Vec::new();
    for (level, marker) in markers {
        let id = run.send(json!({"op": "log", "level": level, "message": marker}));
        let body = run.ok_json(&run.answer(&id));
        run.check(body == json!({"logged": true}), || format!("log answer: {body}"));
        sent.push((level, marker, id));
    }
    let markers = sent;
    let (_, last, _) = markers.last().expect("at least one level");
    run.proc
        .wait_for_line(|l| l.contains(last.as_str()), T)
        .unwrap_or_else(|e| run.fail(&format!("the last marker {last} never appeared: {e}")));
    (run.proc.stream_lines(Stream::Stdout), markers)
}

#[track_caller]
fn expect_levels(run: &Run, levels: &[&str], shown: &[&str], env: &str) {
    let (lines, markers) = log_each(run, levels);
    for (level, marker, id) in &markers {
        let found: Vec<&String> = lines.iter().filter(|l| l.contains(marker.as_str())).collect();
        let want = usize::from(shown.contains(&level.as_str()));
        run.check(found.len() == want, || {
            format!(
                "{env}: the {level} marker should appear {want} time(s), appeared {} time(s)",
                found.len()
            )
        });
        // Whatever the level filter, a line logged inside an invocation names it.
        for line in found {
            run.check(line.contains(id.as_str()), || {
                format!("{env}: the {level} line should carry its request id {id}: {line}")
            });
        }
    }
}

#[test]
fn aws_lambda_log_level_warn_drops_info_keeps_warn() {
    let _m = shared_machine();
    let env = "AWS_LAMBDA_LOG_LEVEL=WARN";
    let run = Run::classic(&[("AWS_LAMBDA_LOG_LEVEL", "WARN")]);
    // The last level must be one that is shown.
    expect_levels(
        &run,
        &["trace", "debug", "info", "warn", "info", "error"],
        &["warn", "error"],
        env,
    );
}

#[test]
fn rust_log_overrides_aws_lambda_log_level() {
    let _m = shared_machine();
    let env = "RUST_LOG=debug AWS_LAMBDA_LOG_LEVEL=ERROR";
    let run = Run::classic(&[("RUST_LOG", "debug"), ("AWS_LAMBDA_LOG_LEVEL", "ERROR")]);
    expect_levels(
        &run,
        &["trace", "debug", "info", "warn"],
        &["debug", "info", "warn"],
        env,
    );
}

#[test]
fn aws_lambda_log_level_error_alone_drops_warn() {
    let _m = shared_machine();
    // The same runtime, without RUST_LOG: ERROR really filters (so the override above is real).
    let run = Run::managed(2, &[("AWS_LAMBDA_LOG_LEVEL", "error")]);
    expect_levels(
        &run,
        &["debug", "warn", "info", "error"],
        &["error"],
        "AWS_LAMBDA_LOG_LEVEL=error",
    );
}
