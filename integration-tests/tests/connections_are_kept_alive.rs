//! The runtime keeps its Runtime API connections alive: hundreds of invocations reuse a handful
//! of TCP connections instead of opening one per request.

use crate::support::*;

fn few_connections(run: &Run, slots: usize) {
    run.parked(slots);
    for round in 0..25 {
        let ids: Vec<String> = (0..8)
            .map(|n| run.send(json!({"op": "echo", "r": round, "n": n})))
            .collect();
        for id in &ids {
            run.ok_json(&run.answer(id));
        }
    }
    let opened = run.mock.connections_accepted();
    run.check(opened <= 3 * slots + 2, || {
        format!("{opened} connections opened for 200 invocations over {slots} slot(s): no keep-alive?")
    });
    eprintln!("{slots} slot(s): {opened} connections for 200 invocations");
}

#[test]
fn connections_are_kept_alive_classic() {
    let _m = shared_machine();
    few_connections(&Run::classic(&[]), 1);
}

#[test]
fn connections_are_kept_alive_managed() {
    let _m = shared_machine();
    few_connections(&Run::managed(4, &[]), 4);
}
