//! The log format: classic mode defaults to readable text with the request id (`[id]`) on every
//! line logged inside an invocation — the handler's, the panic's, the runtime's; a newline in a
//! message stays escaped on one line. `AWS_LAMBDA_LOG_FORMAT` (any case) switches either mode
//! to the other format; a value that is neither `Text` nor `JSON` is warned about, naming the
//! value and the format used instead: the mode's default.

use crate::support::*;

/// Runs a `log` op with a unique marker; returns its request id and the line that has the
/// marker (its first line, should it have several).
fn log_marker(run: &Run, level: &str, marker: &str) -> (String, String) {
    let id = run.send(json!({"op": "log", "level": level, "message": marker}));
    let body = run.ok_json(&run.answer(&id));
    run.check(body == json!({"logged": true}), || format!("log answer: {body}"));
    let first = marker.lines().next().unwrap_or(marker);
    let line = run
        .proc
        .wait_for_line(|l| l.contains(first), T)
        .unwrap_or_else(|e| run.fail(&format!("no line with {first}: {e}")));
    (id, line)
}

/// Asserts a text line: `<RFC 3339 timestamp> <LEVEL> [<id>] …`, and not JSON.
#[track_caller]
fn check_text_line(run: &Run, line: &str, level: &str, id: &str) {
    run.check(!line.trim_start().starts_with('{'), || {
        format!("expected a text line: {line}")
    });
    let mut words = line.split_whitespace();
    let timestamp = words.next().unwrap_or_default();
    run.check(
        timestamp.len() == 24 && timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T',
        || format!("a text line starts with its RFC 3339 timestamp: {line}"),
    );
    run.check(words.next() == Some(level), || {
        format!("level should be {level}: {line}")
    });
    run.check(line.contains(&format!("[{id}]")), || {
        format!("the line should carry the request id [{id}]: {line}")
    });
}

/// Asserts a JSON line with this level and request id.
#[track_caller]
fn check_json_line(run: &Run, line: &str, level: &str, id: &str) -> Value {
    let v: Value =
        serde_json::from_str(line).unwrap_or_else(|e| run.fail(&format!("expected a JSON line ({e}): {line}")));
    run.check(v["level"] == level && v["requestId"] == id, || {
        format!("expected level {level} and requestId {id}: {line}")
    });
    v
}

#[test]
fn classic_mode_logs_text_with_the_request_id_on_each_line() {
    let _m = shared_machine();
    let run = Run::classic(&[]);
    let tag = run.mock.addr().replace(['.', ':'], "_");
    let marker = format!("text-marker-{tag}");
    let (id, line) = log_marker(&run, "warn", &marker);
    check_text_line(&run, &line, "WARN", &id);

    let multi = format!("text-multi-{tag} first\nsecond");
    let (id, line) = log_marker(&run, "info", &multi);
    check_text_line(&run, &line, "INFO", &id);
    run.check(line.contains(&format!("text-multi-{tag} first\\nsecond")), || {
        format!("the newline should be escaped on one line: {line}")
    });

    // Everything logged inside a failing or panicking invocation names that invocation.
    let error_id = run.send(json!({"op": "error", "type": "TextError", "message": format!("text-err-{tag}")}));
    run.error_json(&run.answer(&error_id), "TextError");
    let panic_id = run.send(json!({"op": "panic", "message": format!("text-panic-{tag}")}));
    run.error_json(&run.answer(&panic_id), "Runtime.HandlerPanic");
    let after = run.send(json!({"op": "echo"}));
    run.ok_json(&run.answer(&after));
    // The lines are written before the answers are sent, but the reader thread may not have
    // taken them from the pipe yet: wait for the last one.
    let last = format!("handler panicked: text-panic-{tag}");
    run.proc
        .wait_for_line(|l| l.contains(&last), T)
        .unwrap_or_else(|e| run.fail(&e));
    let lines = run.proc.stream_lines(Stream::Stdout);
    for (needle, id, min) in [
        (format!("text-err-{tag}"), &error_id, 1),
        (format!("text-panic-{tag}"), &panic_id, 2),
    ] {
        let found: Vec<&String> = lines.iter().filter(|l| l.contains(&needle)).collect();
        run.check(found.len() >= min, || {
            format!("expected at least {min} lines mentioning {needle}, got {found:?}")
        });
        for l in found {
            run.check(l.contains(&format!("[{id}]")) && !l.starts_with('{'), || {
                format!("a text line inside invocation {id} should carry [{id}]: {l}")
            });
        }
    }
}

#[test]
fn log_format_env_switches_classic_to_json_and_managed_to_text() {
    let _m = shared_machine();
    let run = Run::classic(&[("AWS_LAMBDA_LOG_FORMAT", "json")]);
    let (id, line) = log_marker(&run, "info", &format!("classic-json-{}", run.mock.addr()));
    check_json_line(&run, &line, "INFO", &id);
    for l in run.proc.stream_lines(Stream::Stdout) {
        run.check(serde_json::from_str::<Value>(&l).is_ok_and(|v| v.is_object()), || {
            format!("with AWS_LAMBDA_LOG_FORMAT=json every line is JSON, also the runtime's: {l}")
        });
    }

    // Any case; and managed mode may be switched to text.
    let run = Run::managed(2, &[("AWS_LAMBDA_LOG_FORMAT", "TEXT")]);
    let (id, line) = log_marker(&run, "error", &format!("managed-text-{}", run.mock.addr()));
    check_text_line(&run, &line, "ERROR", &id);
    let run = Run::classic(&[("AWS_LAMBDA_LOG_FORMAT", "Json")]);
    let (id, line) = log_marker(&run, "warn", &format!("classic-json-mixed-case-{}", run.mock.addr()));
    check_json_line(&run, &line, "WARN", &id);
}

#[test]
fn unknown_log_format_warns_and_uses_the_modes_default() {
    let _m = shared_machine();
    // Classic: the default is Text.
    let run = Run::classic(&[("AWS_LAMBDA_LOG_FORMAT", "yaml")]);
    let warning = run
        .proc
        .wait_for_line(|l| l.contains("yaml"), T)
        .unwrap_or_else(|e| run.fail(&format!("no warning naming \"yaml\": {e}")));
    run.check(
        warning.contains("WARN") && warning.contains("AWS_LAMBDA_LOG_FORMAT") && warning.contains("Text"),
        || format!("the warning should be a WARN naming the variable and the Text format used: {warning}"),
    );
    run.check(!warning.starts_with('{'), || {
        format!("classic falls back to text: {warning}")
    });
    let (id, line) = log_marker(&run, "info", &format!("yaml-classic-{}", run.mock.addr()));
    check_text_line(&run, &line, "INFO", &id);

    // Managed: the default is JSON, and the warning itself is a JSON line.
    let run = Run::managed(2, &[("AWS_LAMBDA_LOG_FORMAT", "yaml")]);
    let warning = run
        .proc
        .wait_for_line(|l| l.contains("yaml"), T)
        .unwrap_or_else(|e| run.fail(&format!("no warning naming \"yaml\": {e}")));
    let v: Value = serde_json::from_str(&warning).unwrap_or_else(|e| {
        run.fail(&format!(
            "managed falls back to JSON, also for the warning ({e}): {warning}"
        ))
    });
    run.check(
        v["level"] == "WARN"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.contains("yaml") && m.contains("JSON")),
        || format!("the warning should be a WARN naming \"yaml\" and JSON: {warning}"),
    );
    let (id, line) = log_marker(&run, "info", &format!("yaml-managed-{}", run.mock.addr()));
    check_json_line(&run, &line, "INFO", &id);
}
