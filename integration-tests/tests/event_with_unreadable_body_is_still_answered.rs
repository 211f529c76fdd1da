//! A `/next` reply whose headers named an invocation but whose body cannot be read whole — cut
//! short (FIN), reset mid-body (RST), or longer than the runtime reads (16 MiB) — is still
//! answered, once, with `Runtime.InvalidEvent`, and the slot goes on. The handler never sees a
//! partial event. An event of 6 MiB + 1 byte (just over Lambda's synchronous limit, which Lambda
//! itself would not deliver) is handed to the handler whole: the testbed echoes it back byte
//! for byte (a 6 MiB + 1 byte response is within Lambda's 6 MiB + 100 bytes).

use crate::support::*;
use integration_tests::NextFault;

/// A compact JSON echo event of exactly `len` bytes: the testbed's echo serialises it back to
/// the same bytes (keys in order, no spaces).
fn echo_event_of(len: usize) -> Vec<u8> {
    let frame = br#"{"op":"echo","pad":""}"#.len();
    let mut body = br#"{"op":"echo","pad":""#.to_vec();
    body.resize(len - 2, b'p');
    body.extend_from_slice(br#""}"#);
    assert_eq!(body.len(), len, "{frame}");
    body
}

fn cut_body_is_answered(mut run: Run, fault: NextFault) {
    for round in 0..2 {
        run.mock.script_next(fault);
        let body = format!(r#"{{"op":"echo","round":{round},"pad":"{}"}}"#, "x".repeat(200));
        let id = run.mock.queue(Event::raw(body));
        let answer = run.answer(&id);
        let err = run.error_json(&answer, "Runtime.InvalidEvent");
        eprintln!("{fault:?}: {err}");
        let after = run.send(json!({"op": "echo", "after": round}));
        let echoed = run.ok_json(&run.answer(&after));
        run.check(echoed["after"] == round, || format!("echo after {fault:?}: {echoed}"));
        let n = run.mock.answers_for(&id).len();
        run.check(n == 1, || format!("{id} ({fault:?}) answered {n} times"));
    }
    run.assert_running(&format!("the runtime exited after {fault:?}"));
}

#[test]
fn truncated_event_body_is_answered_invalid_event_classic() {
    let _m = shared_machine();
    cut_body_is_answered(Run::classic(&[]), NextFault::TruncatedBody);
}

#[test]
fn truncated_event_body_is_answered_invalid_event_managed() {
    let _m = shared_machine();
    cut_body_is_answered(Run::managed(2, &[]), NextFault::TruncatedBody);
}

#[test]
fn event_body_reset_mid_way_is_answered_invalid_event_managed() {
    let _m = shared_machine();
    cut_body_is_answered(Run::managed(2, &[]), NextFault::ResetAfterHeaders);
}

#[test]
fn event_over_the_read_limit_is_answered_invalid_event() {
    let _m = shared_machine();
    let mut run = Run::managed(2, &[]);
    let id = run.mock.queue(Event::raw(echo_event_of(16 * 1024 * 1024 + 1)));
    let answer = run.answer(&id);
    run.error_json(&answer, "Runtime.InvalidEvent");
    let after = run.send(json!({"op": "echo", "after": "16 MiB + 1"}));
    run.ok_json(&run.answer(&after));
    let n = run.mock.answers_for(&id).len();
    run.check(n == 1, || format!("the over-long event was answered {n} times"));
    run.assert_running("the runtime exited after an over-long event");
}

#[test]
fn event_of_six_mebibytes_and_one_byte_reaches_the_handler_whole() {
    let _m = shared_machine();
    let run = Run::classic(&[]);
    let event = echo_event_of(6 * 1024 * 1024 + 1);
    let id = run.mock.queue(Event::raw(event.clone()));
    let answer = run.answer(&id);
    run.ok_json(&answer);
    run.check(answer.body == event, || {
        format!(
            "the 6 MiB + 1 byte event came back as {} bytes, not the {} sent",
            answer.body.len(),
            event.len()
        )
    });
}
