//! The Linux scheduling policy of the isolated layout's handler threads
//! (`LAMBDA_ACTORS_HANDLER_THREAD_POLICY`).
//!
//! Every invocation crosses between threads twice: the I/O thread that read the event wakes a
//! handler thread, and the handler thread wakes the I/O thread with the outcome. Under
//! `SCHED_OTHER` a thread that wakes after sleeping preempts the one running on its CPU, so a
//! hand-off between two threads of the process often costs two context switches where one
//! would do: the waker is switched out before it has finished (and gone back to waiting) on
//! its own. `SCHED_BATCH`
//! keeps the handler thread's share of the CPU and its placement, and only drops that
//! wake-up preemption: the woken handler thread runs when the CPU's current thread blocks or
//! its time slice ends. Measured: 11–18 % less CPU per invocation at N=16 and N=64 on the
//! 2-core machine (docs/benchmarks.md). The I/O threads stay `SCHED_OTHER`, so a `/next`
//! reply still preempts a handler thread that hogs their CPU.
//!
//! A thread inherits its creator's policy, so threads a handler starts (a rayon pool, tokio's
//! blocking pool for `spawn_blocking` and `BlockingHandler`) run `SCHED_BATCH` too: the same
//! CPU share, a few milliseconds' later wake-up on a busy CPU at worst. Unlike CPU pinning,
//! nothing is confined.

use crate::config::HandlerThreadPolicy;
use thread_priority::{
    set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue,
    ThreadSchedulePolicy,
};

/// Applies `policy` to the calling thread. `Ok` when the thread now runs under it; a thread
/// whose nice value has no equivalent on thread-priority's scale is left as it is.
#[inline(never)]
pub(crate) fn apply_current(policy: HandlerThreadPolicy) -> Result<(), thread_priority::Error> {
    if policy == HandlerThreadPolicy::Normal {
        return Ok(());
    }
    let batch = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch);
    let nice = current_nice();
    // thread-priority sets the nice value together with the policy, on its own 0–99 scale:
    // the value that maps to the thread's nice value keeps it, so only the policy changes.
    let Some(priority) = (0..=ThreadPriorityValue::MAX.into())
        .filter_map(|p: u8| ThreadPriorityValue::try_from(p).ok().map(ThreadPriority::Crossplatform))
        .find(|p| p.to_posix(batch).ok() == Some(nice))
    else {
        return Err(thread_priority::Error::Priority("the nice value has no equivalent"));
    };
    set_thread_priority_and_policy(thread_native_id(), priority, batch)
}

/// The calling thread's nice value (field 19 of `/proc/thread-self/stat`); 0 if unreadable.
fn current_nice() -> i32 {
    own_stat_field(19).unwrap_or(0)
}

/// Field `n` (counted from 1, as proc(5) does) of the calling thread's `stat` line.
fn own_stat_field<T: std::str::FromStr>(n: usize) -> Option<T> {
    stat_field(&std::fs::read_to_string("/proc/thread-self/stat").ok()?, n)
}

/// Field `n` (from 1, `n` ≥ 3) of a `stat` line; the command name (field 2, in parentheses)
/// may hold spaces and parentheses, so fields are counted from the last `)`.
fn stat_field<T: std::str::FromStr>(stat: &str, n: usize) -> Option<T> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(n.checked_sub(3)?)?.parse().ok()
}

/// The calling thread's policy, `stat` field 41 (3 is `SCHED_BATCH`, 0 `SCHED_OTHER`).
#[cfg(test)]
fn current_policy() -> Option<u32> {
    own_stat_field(41)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_is_read_past_a_command_name_with_spaces() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 5 3 0 0 20 -5 3 0 100";
        assert_eq!(stat_field::<i32>(stat, 19), Some(-5));
        assert_eq!(stat_field::<i32>("garbage", 19), None);
    }

    #[test]
    fn batch_changes_the_policy_and_keeps_the_nice_value() {
        // Its own thread: the policy sticks to the thread that set it.
        std::thread::spawn(|| {
            let nice = current_nice();
            assert_eq!(current_policy(), Some(0), "a test thread starts SCHED_OTHER");
            apply_current(HandlerThreadPolicy::Batch).expect("lowering to SCHED_BATCH needs no privilege");
            assert_eq!(current_policy(), Some(3), "SCHED_BATCH");
            assert_eq!(current_nice(), nice, "the nice value is unchanged");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn normal_leaves_the_thread_alone() {
        std::thread::spawn(|| {
            apply_current(HandlerThreadPolicy::Normal).unwrap();
            assert_eq!(current_policy(), Some(0));
        })
        .join()
        .unwrap();
    }
}
