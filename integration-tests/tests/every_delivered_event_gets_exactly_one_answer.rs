//! Every event that `/next` delivered gets exactly one `/response` or `/error` — under 20,000
//! mixed events (echo, handler error, panic, bad JSON, stream, background, context) at N=32,
//! while the Runtime API misbehaves:
//!
//! - 13 % of answers are rejected (400, 403, 410, 413, 500 in turn), streams, background and
//!   context answers among them: received, so they count, and they must not be sent again;
//! - ~4.5 % of answer uploads (buffered `/response` and `/error`, streams, the answer of a
//!   background invocation, a context event's) are reset mid-upload: the mock read a few bytes
//!   and never got the answer, so the runtime must send it again (a stream whole);
//! - every 1,000 events a few `/next` calls are reset before their headers, fail with 500, or
//!   deliver an event whose body is cut short (FIN or RST after the headers): such an event is
//!   still answered, once, with `Runtime.InvalidEvent`.
//!
//! Each answer is checked for its kind and type; nothing is lost, nothing is answered twice,
//! nothing is answered that was never delivered.

use crate::support::*;
use integration_tests::{AnswerFault, NextFault};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const EVENTS: usize = 20_000;
const SLOTS: usize = 32;
const BATCH: usize = 1_000;
const REJECTIONS: [u16; 5] = [400, 403, 410, 413, 500];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Echo(usize),
    Error,
    Panic,
    Unmarshal,
    Stream,
    Background,
    Context,
}

fn event(i: usize) -> (Event, Expect) {
    match i % 20 {
        0..=9 => (Event::json(&json!({"op": "echo", "i": i})), Expect::Echo(i)),
        10..=12 => (
            Event::json(&json!({"op": "error", "type": "MixedError", "message": format!("e{i}")})),
            Expect::Error,
        ),
        13 | 14 => (
            Event::json(&json!({"op": "panic", "message": format!("p{i}")})),
            Expect::Panic,
        ),
        15 | 16 => (Event::raw(format!("{{bad json {i}")), Expect::Unmarshal),
        17 => (
            Event::json(&json!({"op": "stream", "chunks": 2, "chunk_bytes": 16, "delay_ms": 0})),
            Expect::Stream,
        ),
        18 => (Event::json(&json!({"op": "background", "ms": 1})), Expect::Background),
        _ => (Event::json(&json!({"op": "context"})), Expect::Context),
    }
}

/// The answer fault scripted for event `i`, if any: resets of buffered answers (an echo's
/// `/response`, an error's `/error`), of streams (short ones are sent again whole), of the
/// answer a background invocation sends before its work and of a context event's; rejections
/// of every kind of answer.
fn fault(i: usize) -> Option<AnswerFault> {
    if i % 100 == 7 || i % 200 == 110 || matches!(i % 100, 17..=19) {
        Some(AnswerFault::ResetMidUpload)
    } else if matches!(i % 100, 37..=39) {
        Some(AnswerFault::Status(REJECTIONS[(i / 100) % REJECTIONS.len()]))
    } else if i % 10 == 3 {
        Some(AnswerFault::Status(REJECTIONS[(i / 10) % REJECTIONS.len()]))
    } else {
        None
    }
}

fn check(a: &Answer, id: &str, expect: Expect) -> Result<(), String> {
    let kind_ok = |k: AnswerKind| a.kind == k;
    let error_is = |t: &str| a.kind == AnswerKind::Error && a.error_type().as_deref() == Some(t);
    let ok = match expect {
        Expect::Echo(i) => {
            kind_ok(AnswerKind::Response)
                && serde_json::from_slice::<Value>(&a.body).ok() == Some(json!({"op": "echo", "i": i}))
        }
        Expect::Error => error_is("MixedError"),
        Expect::Panic => error_is("Runtime.HandlerPanic"),
        Expect::Unmarshal => error_is("Runtime.UnmarshalError"),
        Expect::Stream => {
            kind_ok(AnswerKind::Response)
                && a.header("Lambda-Runtime-Function-Response-Mode") == Some("streaming")
                && a.body == [b'a'; 32]
                && a.trailers.is_empty()
        }
        Expect::Background => {
            kind_ok(AnswerKind::Response)
                && serde_json::from_slice::<Value>(&a.body).ok() == Some(json!({"accepted": true}))
        }
        Expect::Context => {
            kind_ok(AnswerKind::Response)
                && serde_json::from_slice::<Value>(&a.body)
                    .ok()
                    .is_some_and(|v| v["request_id"] == id)
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{id}: expected {expect:?}, got {:?} (replied {}) {}",
            a.kind,
            a.status,
            a.body_text()
        ))
    }
}

#[test]
fn every_delivered_event_gets_exactly_one_answer_under_faults() {
    let _m = whole_machine();
    let run = Run::managed(SLOTS, &[("RUST_BACKTRACE", "0"), ("AWS_LAMBDA_LOG_LEVEL", "ERROR")]);
    run.parked(SLOTS);
    let start = Instant::now();
    let mut expected: HashMap<String, Expect> = HashMap::new();
    let mut scripted_resets = 0;
    let mut scripted_rejections = 0;
    let mut i = 0;
    while i < EVENTS {
        // Keep the queue fed: the next batch goes in while the last one is still being served.
        run.mock
            .wait_for_deliveries(i.saturating_sub(BATCH / 4), Duration::from_secs(60))
            .unwrap_or_else(|e| run.fail(&e));
        if i > 0 {
            for f in [
                NextFault::ResetBeforeHeaders,
                NextFault::Status(500),
                NextFault::TruncatedBody,
                NextFault::ResetBeforeHeaders,
                NextFault::ResetAfterHeaders,
            ] {
                run.mock.script_next(f);
            }
        }
        for j in i..(i + BATCH).min(EVENTS) {
            let (event, expect) = event(j);
            let id = format!("once-{j:05}");
            match fault(j) {
                Some(f @ AnswerFault::ResetMidUpload) => {
                    scripted_resets += 1;
                    run.mock.script_answer(&id, f);
                }
                Some(f) => {
                    scripted_rejections += 1;
                    run.mock.script_answer(&id, f);
                }
                None => {}
            }
            run.mock.queue(event.request_id(id.clone()));
            expected.insert(id, expect);
        }
        i += BATCH;
    }
    // Wait for every answer; stop early once nothing has moved for 3 s (something was lost:
    // the analysis below says what).
    let give_up = Instant::now() + Duration::from_secs(120);
    let mut last = (0, Instant::now());
    while run
        .mock
        .wait_for_answer_count(EVENTS, Duration::from_millis(500))
        .is_err()
    {
        let n = run.mock.answer_count();
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(3) || Instant::now() > give_up {
            break;
        }
    }
    let elapsed = start.elapsed();
    // Give a straggling duplicate a moment to show up.
    std::thread::sleep(Duration::from_millis(500));

    let answers = run.mock.answers();
    let deliveries = run.mock.deliveries();
    let resets = run.mock.reset_uploads();
    let mut by_id: HashMap<&str, Vec<&Answer>> = HashMap::new();
    for a in &answers {
        by_id.entry(a.request_id.as_str()).or_default().push(a);
    }
    let cut: HashMap<&str, NextFault> = deliveries
        .iter()
        .filter_map(|d| d.fault.map(|f| (d.request_id.as_str(), f)))
        .collect();
    let mut problems = Vec::new();
    // How many problems of each kind: the failure message leads with this.
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for (id, expect) in &expected {
        let got = by_id.remove(id.as_str()).unwrap_or_default();
        let reset_times = resets.iter().filter(|r| *r == id).count();
        if got.len() != 1 {
            let why = match (cut.get(id.as_str()), reset_times) {
                (Some(f), _) => format!("delivered with {f:?}"),
                (None, n) if n > 0 => format!("its upload was reset {n} times (AnswerFault::ResetMidUpload)"),
                _ => match fault(id[5..].parse().unwrap_or(0)) {
                    Some(f) => format!("scripted {f:?}"),
                    None => "no fault scripted".to_string(),
                },
            };
            *kinds.entry(format!("answered {} times; {why}", got.len())).or_default() += 1;
            problems.push(format!("{id} ({expect:?}): answered {} times; {why}", got.len()));
            continue;
        }
        let a = got[0];
        let verdict = if let Some(f) = cut.get(id.as_str()) {
            (a.kind == AnswerKind::Error && a.error_type().as_deref() == Some("Runtime.InvalidEvent"))
                .then_some(())
                .ok_or_else(|| {
                    format!(
                        "{id}: delivered with {f:?}, expected Runtime.InvalidEvent, got {:?} {}",
                        a.kind,
                        a.body_text()
                    )
                })
        } else {
            check(a, id, *expect)
        };
        if let Err(p) = verdict {
            let kind = match cut.get(id.as_str()) {
                Some(f) => format!("delivered with {f:?}, answered {:?}", a.error_type()),
                None => "wrong answer".to_string(),
            };
            *kinds.entry(kind).or_default() += 1;
            problems.push(p);
        }
        if let Some(AnswerFault::Status(s)) = fault(id[5..].parse().unwrap_or(0)) {
            if a.status != s {
                problems.push(format!("{id}: scripted a {s} reply, the mock sent {}", a.status));
            }
        }
    }
    for (id, got) in by_id {
        problems.push(format!("{id}: {} answers for an id never queued", got.len()));
    }
    let undelivered: Vec<&Answer> = answers.iter().filter(|a| !a.delivered).collect();
    for a in undelivered.iter().take(5) {
        problems.push(format!("{}: answered but never delivered", a.request_id));
    }
    if !problems.is_empty() {
        let shown: Vec<_> = problems.iter().take(25).collect();
        let mut kinds: Vec<_> = kinds.into_iter().collect();
        kinds.sort();
        run.fail(&format!(
            "{} problems over {EVENTS} events, by kind: {kinds:#?}\nfirst 25: {shown:#?}",
            problems.len()
        ));
    }
    run.check(deliveries.len() == EVENTS, || {
        format!("{} deliveries for {EVENTS} events", deliveries.len())
    });
    run.check(run.mock.max_in_flight() <= SLOTS, || {
        format!("{} in flight at once with N={SLOTS}", run.mock.max_in_flight())
    });
    // The faults were really played.
    run.check(resets.len() == scripted_resets, || {
        format!("{} uploads reset of {scripted_resets} scripted", resets.len())
    });
    let rejected = answers.iter().filter(|a| a.status != 202).count();
    run.check(rejected == scripted_rejections, || {
        format!("{rejected} answers rejected of {scripted_rejections} scripted")
    });
    run.check(cut.len() == 2 * (EVENTS / BATCH - 1), || {
        format!("{} events delivered with a cut body", cut.len())
    });
    run.parked(SLOTS);
    let mut run = run;
    run.assert_running("the runtime exited under faults");
    eprintln!(
        "{EVENTS} events at N={SLOTS} answered exactly once in {elapsed:?}: {scripted_rejections} answers \
         rejected, {} uploads reset and re-sent, {} cut deliveries answered Runtime.InvalidEvent, {} /next calls",
        resets.len(),
        cut.len(),
        run.mock.next_calls()
    );
}

/// One answer upload reset mid-way, then the same id answered normally: the runtime must send
/// it again, once. `bytes` sizes the response: a large one is still being written when the
/// reset arrives; a small one has been written whole and the reset comes while the runtime
/// waits for the reply. The mock never got either.
fn reset_upload_is_sent_again(event: Value) {
    let run = Run::managed(2, &[]);
    run.parked(2);
    let id = format!("reset-upload-{}", event["op"].as_str().unwrap_or("x"));
    run.mock.script_answer(&id, AnswerFault::ResetMidUpload);
    run.mock.queue(Event::json(&event).request_id(id.clone()));
    run.mock
        .wait_for_answer(&id, Duration::from_secs(5))
        .unwrap_or_else(|e| {
            run.fail(&format!(
                "the answer whose upload was reset ({} resets) was never sent again: {e}",
                run.mock.reset_uploads().len()
            ))
        });
    std::thread::sleep(Duration::from_millis(200));
    let n = run.mock.answers_for(&id).len();
    run.check(n == 1, || format!("{id} answered {n} times"));
    run.check(run.mock.reset_uploads() == [id.clone()], || {
        format!("resets: {:?}", run.mock.reset_uploads())
    });
}

#[test]
fn large_answer_reset_mid_upload_is_sent_again() {
    let _m = shared_machine();
    reset_upload_is_sent_again(json!({"op": "big", "bytes": 4_000_000}));
}

#[test]
fn small_answer_reset_mid_upload_is_sent_again() {
    let _m = shared_machine();
    reset_upload_is_sent_again(json!({"op": "echo", "small": true}));
}

/// The API read the whole answer, then closed the connection without a reply (FIN): the
/// runtime cannot know the answer arrived. It is not lost; should the runtime send it again,
/// Lambda rejects the repeat as already answered (400, scripted here), the runtime logs that
/// and the slot goes on. (Today the repeat happens: see docs/reliability.md.)
#[test]
fn answer_received_without_a_reply_is_not_lost() {
    let _m = shared_machine();
    let mut run = Run::managed(1, &[]);
    run.parked(1);
    let id = "closed-without-reply".to_string();
    run.mock.script_answer(&id, AnswerFault::CloseWithoutReply);
    run.mock.script_answer(&id, AnswerFault::Status(400));
    run.mock
        .queue(Event::json(&json!({"op": "echo", "n": 1})).request_id(id.clone()));
    let first = run.answer(&id);
    run.ok_json(&first);
    let next = run.send(json!({"op": "echo", "after": "no reply"}));
    run.ok_json(&run.answer(&next));
    let answers = run.mock.answers_for(&id);
    run.check(answers.len() <= 2, || format!("{id} answered {} times", answers.len()));
    if let Some(repeat) = answers.get(1) {
        run.check(repeat.status == 400 && repeat.body == first.body, || {
            format!(
                "the repeat should be the same answer (rejected 400): {}",
                repeat.body_text()
            )
        });
    }
    eprintln!("an answer received without a reply was sent {} times", answers.len());
    run.assert_running("exited after an answer without a reply");
}
