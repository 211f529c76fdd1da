//! A streamed answer whose connection fails before Lambda's reply — reset before or after the
//! head, closed without a reply — is sent again, whole, on a fresh connection while it is
//! short enough to replay (256 KiB), up to three connections in all. Otherwise, and when every
//! try fails, the invocation gets exactly one `/error` (`Runtime.StreamBroken`) on another
//! connection; a 400 to it (a copy had arrived after all) is logged. The slot goes on.

use crate::support::*;
use integration_tests::AnswerFault;

fn stream_event(id: &str, chunks: usize, chunk_bytes: usize) -> Event {
    Event::json(&json!({"op": "stream", "chunks": chunks, "chunk_bytes": chunk_bytes, "delay_ms": 20})).request_id(id)
}

fn echo_still_served(run: &Run) {
    let id = run.send(json!({"op": "echo", "after": "broken stream"}));
    let body = run.ok_json(&run.answer(&id));
    run.check(body["after"] == "broken stream", || format!("echo after: {body}"));
}

#[test]
fn a_stream_reset_once_arrives_whole_on_a_fresh_connection() {
    let _m = shared_machine();
    for run in [Run::managed(2, &[]), Run::classic(&[])] {
        run.parked(1);
        let id = format!("stream-reset-once-{}", run.mock.port());
        run.mock.script_answer(&id, AnswerFault::ResetMidUpload);
        run.mock.queue(stream_event(&id, 5, 10));
        let answer = run.answer(&id);
        run.check(answer.kind == AnswerKind::Response, || format!("{:?}", answer.kind));
        run.check(answer.body == [b'a'; 50] && answer.trailers.is_empty(), || {
            format!(
                "the re-sent stream should be whole: {} bytes, trailers {:?}",
                answer.body.len(),
                answer.trailers
            )
        });
        run.check(run.mock.reset_uploads() == vec![id.clone()], || {
            format!("one reset upload expected: {:?}", run.mock.reset_uploads())
        });
        run.check(run.mock.answers_for(&id).len() == 1, || "more than one answer".into());
        echo_still_served(&run);
    }
}

#[test]
fn a_stream_reset_every_time_ends_in_one_error() {
    let _m = shared_machine();
    let run = Run::managed(2, &[]);
    run.parked(2);
    let id = "stream-reset-always";
    // Every stream connection (three tries) is reset; the /error after them is not.
    for _ in 0..3 {
        run.mock.script_answer(id, AnswerFault::ResetMidUpload);
    }
    run.mock.queue(stream_event(id, 5, 10));
    let answer = run.answer(id);
    let body = run.error_json(&answer, "Runtime.StreamBroken");
    run.check(body["errorMessage"].as_str().is_some_and(|m| !m.is_empty()), || {
        format!("{body}")
    });
    run.check(run.mock.reset_uploads().len() == 3, || {
        format!("expected three stream tries: {:?}", run.mock.reset_uploads())
    });
    run.check(run.mock.answers_for(id).len() == 1, || {
        format!("expected exactly one answer, got {}", run.mock.answers_for(id).len())
    });
    echo_still_served(&run);
}

#[test]
fn a_stream_too_long_to_replay_ends_in_one_error_and_a_duplicate_is_logged() {
    let _m = shared_machine();
    let run = Run::managed(2, &[]);
    run.parked(2);
    let id = "stream-too-long";
    // The whole 320 KiB stream arrives, but the connection closes with no reply; Lambda then
    // refuses a second answer with 400, as it would.
    run.mock.script_answer(id, AnswerFault::CloseWithoutReply);
    run.mock.reply_to(id, 400);
    run.mock.queue(stream_event(id, 40, 8 * 1024));
    run.mock.wait_for_answer_count(2, T).unwrap_or_else(|e| run.fail(&e));
    let answers = run.mock.answers_for(id);
    run.check(answers.len() == 2, || format!("{} answers", answers.len()));
    run.check(
        answers[0].kind == AnswerKind::Response && answers[0].body.len() == 40 * 8 * 1024,
        || {
            format!(
                "first the stream itself: {:?}, {} bytes",
                answers[0].kind,
                answers[0].body.len()
            )
        },
    );
    run.error_json(&answers[1], "Runtime.StreamBroken");
    run.proc
        .wait_for_line(|l| l.contains("a copy of the stream had arrived after all"), T)
        .unwrap_or_else(|e| run.fail(&e));
    echo_still_served(&run);
}
