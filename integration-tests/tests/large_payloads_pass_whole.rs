//! Large bodies pass whole: a 1 MB `big` response, and a 5 MiB event (over awc's 2 MiB default
//! body limit) echoed back.

use crate::support::*;

#[test]
fn big_response_of_one_megabyte_is_returned_whole() {
    let _m = shared_machine();
    let run = Run::managed(2, &[]);
    let id = run.send(json!({"op": "big", "bytes": 1_000_000}));
    let answer = run.answer(&id);
    let body = run.ok_json(&answer);
    let data = body["data"].as_str().unwrap_or_default();
    run.check(data.len() == 1_000_000 && data.bytes().all(|b| b == b'x'), || {
        format!("big: data of {} bytes, expected 1000000 x", data.len())
    });
}

#[test]
fn five_mebibyte_event_is_received_whole() {
    let _m = shared_machine();
    let run = Run::classic(&[]);
    let payload: String = (0..5 * 1024 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let event = json!({"op": "echo", "payload": payload});
    let id = run.send(event.clone());
    let body = run.ok_json(&run.answer(&id));
    run.check(body == event, || {
        format!(
            "5 MiB event came back as {} bytes of payload",
            body["payload"].as_str().map_or(0, str::len)
        )
    });
}
