//! A `/next` reply without a usable `Lambda-Runtime-Aws-Request-Id` — missing, empty, not
//! visible ASCII, not UTF-8 — cannot be answered (there is no id to answer to). The runtime logs
//! it and skips it, and the poller survives: with one slot, that same poller serves the next
//! event. (The official Rust runtime's worker panics here.)

use crate::support::*;

const REQUEST_ID: &str = "Lambda-Runtime-Aws-Request-Id";

fn skipped_then_served(mut run: Run) {
    let cases: Vec<(&str, Event)> = vec![
        ("missing", Event::json(&json!({"op": "echo"})).omit_header(REQUEST_ID)),
        (
            "empty",
            Event::json(&json!({"op": "echo"}))
                .omit_header(REQUEST_ID)
                .raw_header(REQUEST_ID, b"".to_vec()),
        ),
        (
            "with a space",
            Event::json(&json!({"op": "echo"}))
                .omit_header(REQUEST_ID)
                .raw_header(REQUEST_ID, b"two words".to_vec()),
        ),
        (
            "not UTF-8",
            Event::json(&json!({"op": "echo"}))
                .omit_header(REQUEST_ID)
                .raw_header(REQUEST_ID, b"\xff\xfe-id".to_vec()),
        ),
    ];
    let about_the_id = |l: &str| {
        let t = l.to_ascii_lowercase();
        t.contains("request-id") || t.contains("request id")
    };
    for (round, (what, event)) in cases.into_iter().enumerate() {
        let hidden = run.mock.queue(event);
        let id = run.send(json!({"op": "echo", "after": what}));
        let body = run.ok_json(&run.answer(&id));
        run.check(body["after"] == what, || {
            format!("echo after a request id {what}: {body}")
        });
        // Logged: one more line about an unusable id (the output is read asynchronously).
        let mut seen = 0;
        let logged = run.proc.wait_for_line(
            |l| {
                seen += usize::from(about_the_id(l));
                seen > round
            },
            T,
        );
        if let Err(e) = logged {
            run.fail(&format!(
                "no log line about the /next reply whose request id is {what}: {e}"
            ));
        }
        run.check(run.mock.answers_for(&hidden).is_empty(), || {
            format!("the event whose request id is {what} was answered to an id it was never given")
        });
        run.check(run.mock.deliveries().len() == 2 * (round + 1), || {
            format!("{} deliveries after {} rounds", run.mock.deliveries().len(), round + 1)
        });
    }
    run.assert_no_stray_answers();
    run.assert_running("a reply without a request id took the runtime down");
}

#[test]
fn next_reply_without_request_id_is_logged_and_skipped_classic() {
    let _m = shared_machine();
    skipped_then_served(Run::classic(&[]));
}

#[test]
fn next_reply_without_request_id_is_logged_and_skipped_managed() {
    let _m = shared_machine();
    // One slot: the poller that skipped the reply is the one that serves the next event.
    skipped_then_served(Run::managed(1, &[]));
}

/// A Runtime API that keeps sending such replies must not turn the slots into a hot loop: the
/// retries go through the same capped exponential back-off as other `/next` failures.
#[test]
fn replies_without_request_id_in_a_row_are_backed_off() {
    let _m = shared_machine();
    let run = Run::managed(1, &[]);
    run.parked(1);
    let before = run.mock.next_calls();
    for _ in 0..5 {
        run.mock
            .queue(Event::json(&json!({"op": "echo"})).omit_header(REQUEST_ID));
    }
    run.mock
        .wait_for_next_calls(before + 5, T)
        .unwrap_or_else(|e| run.fail(&e));
    let times = run.mock.next_call_times();
    let gaps: Vec<_> = times[before..].windows(2).map(|w| w[1] - w[0]).collect();
    // Back-off 50, 100, 200, 400 ms (jittered): the four gaps sum to well over 300 ms. A hot
    // loop makes them take a few milliseconds in all. (A lower bound: a slow machine only
    // makes it larger.)
    let total: std::time::Duration = gaps.iter().sum();
    run.check(total >= std::time::Duration::from_millis(300), || {
        format!("five replies without a request id in a row were retried {gaps:?} apart: no back-off")
    });
    let id = run.send(json!({"op": "echo", "after": "back-off"}));
    let body = run.ok_json(&run.answer(&id));
    run.check(body["after"] == "back-off", || {
        format!("echo after the back-off: {body}")
    });
}
