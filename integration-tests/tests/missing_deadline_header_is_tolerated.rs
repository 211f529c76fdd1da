//! An event without `Lambda-Runtime-Deadline-Ms` is served (no deadline), and the runtime goes on.

use crate::support::*;

#[test]
fn missing_deadline_header_is_tolerated() {
    let _m = shared_machine();
    for mut run in [Run::classic(&[]), Run::managed(2, &[])] {
        let id = run.mock.queue(Event::json(&json!({"op": "context"})).no_deadline());
        let c = run.ok_json(&run.answer(&id));
        run.check(c["request_id"] == json!(id), || format!("context: {c}"));
        let id = run
            .mock
            .queue(Event::json(&json!({"op": "sleep", "ms": 50})).no_deadline());
        run.ok_json(&run.answer(&id));
        let id = run.send(json!({"op": "echo"}));
        run.ok_json(&run.answer(&id));
        run.assert_running("exited");
    }
}
