//! A log message that ends with its own newline (a panic message, a formatted error) is written
//! on one line without a trailing, escaped `\n`, in text and in JSON logs.

use crate::support::*;

#[test]
fn a_message_ending_in_a_newline_is_written_without_it() {
    let _m = shared_machine();
    for run in [Run::classic(&[]), Run::managed(1, &[])] {
        run.parked(1);
        let id = run.send(json!({"op": "log", "level": "warn", "message": "ends-a-line\n"}));
        run.ok_json(&run.answer(&id));
        let line = run
            .proc
            .wait_for_line(|l| l.contains("ends-a-line"), T)
            .unwrap_or_else(|e| run.fail(&format!("the message was not logged: {e}")));
        run.check(
            !line.contains("ends-a-line\\n") && !line.contains("ends-a-line\\r"),
            || format!("the trailing newline shows escaped: {line}"),
        );
    }
}
