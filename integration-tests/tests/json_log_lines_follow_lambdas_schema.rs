//! JSON logs follow Lambda's schema, line by line: every stdout line of a JSON-mode process —
//! the runtime's own lines, handler lines at every level, panic and error lines, the shutdown
//! lines — is exactly one JSON object with unique keys, a `timestamp` in RFC 3339 UTC with
//! milliseconds (`2026-11-26T15:08:31.123Z`, close to now), an upper-case `level` and a string
//! `message`. A message with newlines stays on one line (escaped) and comes back intact;
//! `traceId` and `tenantId` are there when the event had them and absent when it had not.
//! `AWS_LAMBDA_LOG_LEVEL=TRACE` lets the dependencies' own trace lines through as well.

use crate::support::*;

const TRACE: &str = "Root=1-66bb0000-00000000000000000000abcd;Parent=00000000000000ab;Sampled=1";
const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

#[test]
fn every_json_line_is_one_lambda_schema_object() {
    let _m = shared_machine();
    let mut run = Run::managed(2, &[("AWS_LAMBDA_LOG_LEVEL", "TRACE")]);
    run.parked(2);
    let tag = run.mock.addr().replace(['.', ':'], "_");

    // A message with every character that could break a line or a JSON string.
    let multi = format!("schema-multi-{tag} first line\nsecond line\r\nthird \"quoted\" \\ tab\tend");
    let multi_id = run.mock.queue(
        Event::json(&json!({"op": "log", "level": "info", "message": multi}))
            .trace_id(TRACE)
            .tenant_id("tenant-schema"),
    );
    let mut plain = Vec::new();
    for level in ["trace", "debug", "info", "warn", "error"] {
        let marker = format!("schema-{level}-{tag}");
        let id = run.send(json!({"op": "log", "level": level, "message": marker}));
        plain.push((marker, id, level.to_ascii_uppercase()));
    }
    let error_id = run.send(json!({"op": "error", "type": "SchemaError", "message": format!("schema-err-{tag}")}));
    let panic_id = run.send(json!({"op": "panic", "message": format!("schema-panic-{tag}\nwith a newline")}));
    // Answers Lambda turns down (410) are logged inside the invocation: a response the handler
    // sent itself, and an error the runtime posted.
    let gone_ids = [
        format!("schema-gone-response-{tag}"),
        format!("schema-gone-error-{tag}"),
    ];
    for (id, event) in gone_ids.iter().zip([
        json!({"op": "echo"}),
        json!({"op": "error", "type": "GoneError", "message": "late"}),
    ]) {
        run.mock.reply_to(id, 410);
        run.mock.queue(Event::json(&event).request_id(id.clone()));
    }
    run.mock.wait_for_answers(10, T).unwrap_or_else(|e| run.fail(&e));
    run.error_json(&run.answer(&error_id), "SchemaError");
    run.error_json(&run.answer(&panic_id), "Runtime.HandlerPanic");
    // The shutdown adds the drain line and the last metrics summary.
    run.sigterm_and_expect_exit_zero();

    let stderr = run.proc.stream_lines(Stream::Stderr);
    run.check(stderr.is_empty(), || {
        format!("logs go to stdout; stderr has {} lines", stderr.len())
    });
    let lines = run.proc.stream_lines(Stream::Stdout);
    run.check(lines.len() >= 10, || format!("only {} stdout lines", lines.len()));
    let now = now_epoch_ms();
    let mut objects = Vec::new();
    for line in &lines {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| run.fail(&format!("stdout line is not one JSON object ({e}): {line:?}")));
        run.check(v.is_object(), || format!("not an object: {line}"));
        if let Some(dup) = duplicate_top_level_key(line) {
            run.fail(&format!("key {dup:?} appears twice on one line: {line}"));
        }
        let ts = v["timestamp"].as_str().unwrap_or_default();
        let Some(ms) = rfc3339_utc_millis_to_epoch_ms(ts) else {
            run.fail(&format!(
                "timestamp is not RFC 3339 UTC with milliseconds (…T…:…:….mmmZ): {line}"
            ))
        };
        run.check(ms + 120_000 > now && ms < now + 5_000, || {
            format!("timestamp {ts} is {} ms away from now: {line}", now as i64 - ms as i64)
        });
        run.check(v["level"].as_str().is_some_and(|l| LEVELS.contains(&l)), || {
            format!("level should be one of {LEVELS:?}: {line}")
        });
        run.check(v["message"].is_string(), || {
            format!("message should be a string: {line}")
        });
        for key in ["requestId", "traceId", "tenantId"] {
            run.check(matches!(v.get(key), None | Some(Value::String(_))), || {
                format!("{key}, when present, should be a string: {line}")
            });
        }
        objects.push(v);
    }
    let with = |pred: &dyn Fn(&Value) -> bool| objects.iter().filter(|v| pred(v)).collect::<Vec<_>>();

    let multi_lines = with(&|v| v["message"].as_str().is_some_and(|m| m.contains("schema-multi-")));
    run.check(multi_lines.len() == 1, || {
        format!(
            "the multi-line message should be on exactly one line, found {}",
            multi_lines.len()
        )
    });
    let m = multi_lines[0];
    run.check(m["message"] == json!(multi), || {
        format!("the message should come back intact: {m}")
    });
    run.check(m["requestId"] == json!(multi_id), || format!("requestId: {m}"));
    run.check(m["traceId"] == TRACE, || format!("traceId should be the event's: {m}"));
    run.check(m["tenantId"] == "tenant-schema", || {
        format!("tenantId should be the event's: {m}")
    });
    run.check(m["level"] == "INFO", || format!("level: {m}"));
    run.check(
        !lines
            .iter()
            .any(|l| l.starts_with("second line") || l.starts_with("third")),
        || "a fragment of the multi-line message is on a line of its own".into(),
    );

    for (marker, id, level) in &plain {
        let found = with(&|v| v["message"] == json!(marker));
        run.check(found.len() == 1, || format!("{marker}: {} lines", found.len()));
        let v = found[0];
        run.check(v["level"] == json!(level), || {
            format!("{marker} level should be {level}: {v}")
        });
        run.check(v["requestId"] == json!(id), || {
            format!("{marker} requestId should be {id}: {v}")
        });
        run.check(v.get("traceId").is_none() && v.get("tenantId").is_none(), || {
            format!("{marker}: the event had no trace or tenant id, the line should have neither: {v}")
        });
    }

    // The runtime's own lines inside an invocation carry its id too, and their fields go at top level.
    let failed = with(&|v| v["requestId"] == json!(error_id));
    run.check(
        failed.iter().any(|v| {
            v["errorType"] == "SchemaError" && v["message"].as_str().is_some_and(|m| m.contains("schema-err-"))
        }),
        || {
            format!(
                "the handler error should be logged with requestId {error_id} and errorType at top level: {failed:?}"
            )
        },
    );
    let panicked = with(&|v| v["message"].as_str().is_some_and(|m| m.contains("schema-panic-")));
    run.check(!panicked.is_empty(), || "the panic was not logged".into());
    for v in &panicked {
        run.check(v["requestId"] == json!(panic_id) && v["level"] == "ERROR", || {
            format!("panic lines should be ERROR with requestId {panic_id}: {v}")
        });
    }
    for id in &gone_ids {
        let gone = with(&|v| v["requestId"] == json!(id) && v["message"].as_str().is_some_and(|m| m.contains("410")));
        run.check(!gone.is_empty(), || {
            format!("the rejected answer to {id} was not logged with its requestId")
        });
    }
    let summaries = with(&|v| v["message"] == "metrics");
    run.check(summaries.len() == 1, || {
        format!("one metrics summary expected at shutdown, found {}", summaries.len())
    });
}

/// The first top-level key of a JSON object text that appears twice, if any.
fn duplicate_top_level_key(text: &str) -> Option<String> {
    let mut keys = std::collections::HashSet::new();
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    let mut current = String::new();
    let mut last_string: Option<String> = None;
    for c in text.chars() {
        if in_str {
            if escaped {
                escaped = false;
                current.push(c);
            } else if c == '\\' {
                escaped = true;
                current.push(c);
            } else if c == '"' {
                in_str = false;
                last_string = Some(std::mem::take(&mut current));
            } else {
                current.push(c);
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '{' | '[' => depth += 1,
            '}' | ']' => depth = depth.saturating_sub(1),
            ':' if depth == 1 => {
                if let Some(key) = last_string.take() {
                    if !keys.insert(key.clone()) {
                        return Some(key);
                    }
                }
            }
            c if c.is_whitespace() => {}
            _ => last_string = None,
        }
    }
    None
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` to Unix epoch milliseconds; `None` for any other shape.
fn rfc3339_utc_millis_to_epoch_ms(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let shape = b.len() == 24
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Days from 1970-01-01 to y-mo-d (proleptic Gregorian).
    let (y, mo) = if mo <= 2 { (y - 1, mo + 12) } else { (y, mo) };
    let days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * (mo - 3) + 2) / 5 + d - 719_469;
    u64::try_from(((days * 24 + h) * 60 + mi) * 60 + sec)
        .ok()?
        .checked_mul(1000)?
        .checked_add(ms as u64)
}

#[test]
fn timestamp_and_duplicate_key_helpers_work() {
    assert_eq!(rfc3339_utc_millis_to_epoch_ms("1970-01-01T00:00:00.000Z"), Some(0));
    assert_eq!(
        rfc3339_utc_millis_to_epoch_ms("2026-11-26T15:08:31.123Z"),
        Some(1_795_705_711_123)
    );
    assert_eq!(
        rfc3339_utc_millis_to_epoch_ms("2000-02-29T00:00:00.000Z"),
        Some(951_782_400_000)
    );
    for bad in [
        "2026-11-26T15:08:31Z",
        "2026-11-26T15:08:31.123+00:00",
        "2026-11-26 15:08:31.123Z",
        "2026-13-26T15:08:31.123Z",
        "",
    ] {
        assert_eq!(rfc3339_utc_millis_to_epoch_ms(bad), None, "{bad}");
    }
    assert_eq!(duplicate_top_level_key(r#"{"a":1,"b":{"a":2},"c":"a"}"#), None);
    assert_eq!(duplicate_top_level_key(r#"{"a":"x\":","b":1}"#), None);
    assert_eq!(
        duplicate_top_level_key(r#"{"a":1,"b":[1,{"b":2}],"a":3}"#).as_deref(),
        Some("a")
    );
}
