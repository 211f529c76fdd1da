//! Classic mode sets `_X_AMZN_TRACE_ID` per invocation from `Lambda-Runtime-Trace-Id` and removes
//! it when an event has none; managed mode never touches the process env, but still exposes the
//! trace id in the context.

use crate::support::*;

const TRACE_A: &str = "Root=1-65f0a1b2-0123456789abcdef01234567;Parent=1111111111111111;Sampled=1";
const TRACE_B: &str = "Root=1-65f0a1b3-fedcba9876543210fedcba98;Parent=2222222222222222;Sampled=0";

fn context(run: &Run, trace: Option<&str>) -> Value {
    let mut event = Event::json(&json!({"op": "context"}));
    if let Some(t) = trace {
        event = event.trace_id(t);
    }
    let id = run.mock.queue(event);
    run.ok_json(&run.answer(&id))
}

#[test]
fn classic_mode_sets_and_clears_trace_env_per_invocation() {
    let _m = shared_machine();
    let run = Run::classic(&[]);
    let steps = [Some(TRACE_A), None, Some(TRACE_B), Some(TRACE_A), None];
    for trace in steps {
        let c = context(&run, trace);
        let want = trace.map_or(Value::Null, |t| json!(t));
        run.check(c["env_trace_id"] == want, || {
            format!("classic: env_trace_id should be {want} for header {trace:?}: {c}")
        });
        run.check(c["xray_trace_id"] == want, || {
            format!("classic: xray_trace_id should be {want}: {c}")
        });
    }
}

#[test]
fn managed_mode_never_touches_trace_env() {
    let _m = shared_machine();
    let run = Run::managed(2, &[]);
    for trace in [Some(TRACE_A), None, Some(TRACE_B)] {
        let c = context(&run, trace);
        run.check(c["env_trace_id"].is_null(), || {
            format!("managed: process env must not carry a trace id: {c}")
        });
        let want = trace.map_or(Value::Null, |t| json!(t));
        run.check(c["xray_trace_id"] == want, || {
            format!("managed: xray_trace_id should be {want}: {c}")
        });
    }
}

#[test]
fn classic_mode_removes_a_trace_id_inherited_from_the_start_env() {
    let _m = shared_machine();
    let run = Run::classic(&[("_X_AMZN_TRACE_ID", "Root=1-00000000-stale")]);
    let c = context(&run, None);
    run.check(c["env_trace_id"].is_null(), || {
        format!("classic: an event without a trace header must see no _X_AMZN_TRACE_ID: {c}")
    });
}
