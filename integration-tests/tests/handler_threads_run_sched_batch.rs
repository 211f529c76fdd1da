//! The isolated layout's handler threads run `SCHED_BATCH` by default (a woken handler thread
//! does not preempt the I/O thread that woke it), the I/O threads stay `SCHED_OTHER` (so a
//! `/next` reply still preempts a hog), and `LAMBDA_ACTORS_HANDLER_THREAD_POLICY=normal`
//! leaves every thread `SCHED_OTHER`. Read from `/proc/<pid>/task/*/stat` once the start-up
//! line is out: the policy is set on each handler thread before its handlers are built.

use crate::support::*;

/// `SCHED_BATCH` in the `policy` field of `/proc/<pid>/task/<tid>/stat`.
const SCHED_BATCH: u32 = 3;
const SCHED_OTHER: u32 = 0;

/// The policy of each of the process's threads, by thread id.
fn thread_policies(pid: u32) -> Vec<(u32, u32)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the process's /proc entry");
    tasks
        .filter_map(|task| {
            let tid: u32 = task.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
            // Field 41; the command name (field 2, in parentheses) may hold spaces.
            let after_name = &stat[stat.rfind(')')? + 1..];
            Some((tid, after_name.split_whitespace().nth(38)?.parse().ok()?))
        })
        .collect()
}

/// The start-up line, once it says `handler_thread_policy` is `want`; and its handler
/// arbiter count.
fn started_with(run: &Run, want: &str) -> usize {
    let field = format!("\"handler_thread_policy\":\"{want}\"");
    let line = run
        .proc
        .wait_for_line(|l| l.contains("started") && l.contains("handler_arbiters"), T)
        .unwrap_or_else(|e| run.fail(&format!("no start-up line: {e}")));
    run.check(line.contains(&field), || {
        format!("the start-up line lacks {field}: {line}")
    });
    let line: Value = serde_json::from_str(&line).unwrap_or_else(|e| run.fail(&format!("{e}: {line}")));
    line["handler_arbiters"]
        .as_u64()
        .unwrap_or_else(|| run.fail(&format!("no handler_arbiters in {line}"))) as usize
}

#[test]
fn handler_threads_run_sched_batch_and_io_threads_do_not() {
    let _m = shared_machine();
    let run = Run::managed(8, &[]);
    let handler_threads = started_with(&run, "batch");
    let policies = thread_policies(run.proc.pid());
    let batch = policies.iter().filter(|(_, p)| *p == SCHED_BATCH).count();
    run.check(batch == handler_threads, || {
        format!("{handler_threads} handler threads, but {batch} threads run SCHED_BATCH: {policies:?}")
    });
    let main = policies.iter().find(|(tid, _)| *tid == run.proc.pid()).map(|(_, p)| *p);
    run.check(main == Some(SCHED_OTHER), || {
        format!("the main thread (the first I/O thread) runs policy {main:?}, not SCHED_OTHER")
    });
    let id = run.send(json!({"op": "echo", "v": 1}));
    run.ok_json(&run.answer(&id));
}

#[test]
fn handler_thread_policy_normal_leaves_every_thread_sched_other() {
    let _m = shared_machine();
    let run = Run::managed(8, &[("LAMBDA_ACTORS_HANDLER_THREAD_POLICY", "normal")]);
    expect_every_thread_sched_other(&run);
}

#[test]
fn classic_mode_keeps_its_one_thread_sched_other() {
    let _m = shared_machine();
    // JSON, to read the start-up line's fields (classic mode logs text by default).
    let run = Run::classic(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
    expect_every_thread_sched_other(&run);
}

/// The start-up line says `normal`, every thread runs `SCHED_OTHER`, and an event is answered.
fn expect_every_thread_sched_other(run: &Run) {
    started_with(run, "normal");
    let policies = thread_policies(run.proc.pid());
    run.check(policies.iter().all(|(_, p)| *p == SCHED_OTHER), || {
        format!("a thread runs other than SCHED_OTHER: {policies:?}")
    });
    let id = run.send(json!({"op": "echo", "v": 1}));
    run.ok_json(&run.answer(&id));
}
