//! The restart policy, in one place, for both kinds of child that can die:
//!
//! - a **poller** (its actor panicked; its `Drop` reports [`super::PollerDied`]): restarted on
//!   its I/O arbiter at once the first time, after a growing wait (50 ms doubling to 2 s) when
//!   it dies again within 10 s of its last restart, so a poller that keeps dying is no hot loop;
//! - a **worker** (its actor is gone: a panic outside the handler's own `catch_unwind`, such as
//!   a factory that panics while rebuilding the handler; or abandoned on a thread blocked past
//!   the deadline): replaced in the pool at once by a fresh worker on the same arbiter, its
//!   handler built on first use. No wait: the pool's permits stand for free workers, and the
//!   fresh worker builds nothing until an event reaches it.
//!
//! Each restart is an ERROR line and one `restarts_count` in the next metrics summary. (A
//! handler rebuilt by its worker after a panic or a reclaim counts there too; the worker lives on.)

use crate::pool::load::ArbiterLoad;
use crate::pool::worker::{HandlerHooks, WorkerAddr, Workers};
use crate::pool::Respawn;
use crate::shared::ArbiterLocal;
use actix_rt::ArbiterHandle;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A poller that dies again within this long of its last restart waits before the next one.
const CALM: Duration = Duration::from_secs(10);
/// First wait before restarting a poller that keeps dying; doubles, up to [`CAP`].
const BASE: Duration = Duration::from_millis(50);
const CAP: Duration = Duration::from_secs(2);

/// Per slot: restarts in a row (each within [`CALM`] of the last), and when the last was.
pub(super) struct PollerRestarts(Vec<(u32, Option<Instant>)>);

impl PollerRestarts {
    pub(super) fn new(slots: usize) -> Self {
        Self(vec![(0, None); slots])
    }

    /// How long to wait before restarting the poller of `slot`, which just died; logged.
    pub(super) fn next(&mut self, slot: usize) -> Duration {
        let (in_a_row, last) = self.0[slot];
        let in_a_row = match last {
            Some(at) if at.elapsed() < CALM => in_a_row + 1,
            _ => 0,
        };
        let delay = match in_a_row {
            0 => Duration::ZERO,
            n => BASE.saturating_mul(1 << (n - 1).min(6)).min(CAP),
        };
        self.0[slot] = (in_a_row, Some(Instant::now() + delay));
        tracing::error!(
            slot,
            delay_ms = delay.as_millis() as u64,
            "poller stopped unexpectedly; restarting it"
        );
        delay
    }
}

/// How the pool replaces a worker that is gone or abandoned: a fresh one on the same arbiter,
/// counted on the thread that replaces it (a poller's, which also logs why: the invocation it
/// was serving is answered there).
pub(super) fn worker_respawn(workers: Arc<dyn Workers>, hooks: Arc<HandlerHooks>) -> Respawn<WorkerAddr> {
    Arc::new(move |arbiter: &ArbiterHandle, load: Arc<ArbiterLoad>| {
        ArbiterLocal::count(|w| w.restarts += 1);
        workers.respawn(arbiter, load, hooks.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poller_that_keeps_dying_waits_longer_each_time_up_to_the_cap() {
        let mut restarts = PollerRestarts::new(2);
        assert_eq!(restarts.next(0), Duration::ZERO, "the first restart is at once");
        let delays: Vec<Duration> = (0..10).map(|_| restarts.next(0)).collect();
        assert_eq!(delays[0], BASE);
        assert_eq!(delays[1], BASE * 2);
        assert!(delays.windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
        assert_eq!(*delays.last().unwrap(), CAP);
        assert_eq!(restarts.next(1), Duration::ZERO, "another slot has its own count");
    }
}
