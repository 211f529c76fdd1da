//! The handler pool: every handler actor of the process, on its handler arbiters, and the
//! router that decides which one runs each event.
//!
//! Two steps, after ractor's factory (pick apart from commit):
//! - [`HandlerPool::acquire`]: before a poller parks `GET /next` it takes a *permit*, one per
//!   free handler, so Lambda is never handed an event that has to wait for a handler. Pollers
//!   waiting for a permit are served first come, first served.
//! - [`HandlerPool::route`]: when the event arrives, the permit becomes a [`Lease`] on one
//!   concrete handler, chosen at that moment by [`routing::choose`]: a free handler on the
//!   least busy handler arbiter that is not stalled (see `routing.rs` for the whole rule).
//!   Within an arbiter, the most recently used free handler (warmest caches) goes first.
//!
//! A lease goes back when dropped. A handler whose thread stayed blocked past the deadline
//! is [abandoned](Lease::abandon): a fresh handler actor takes its place on the same arbiter,
//! and the old one is dropped once its thread lets it finish.
//!
//! What the pool shows in the metrics: the longest queue of pollers waiting for a permit
//! (`max_mailbox_depth`), the longest wait (`pool_wait_ms_max`), and the invocations running
//! on each handler arbiter (`busy_by_arbiter`).

pub(crate) mod load;
pub(crate) mod routing;
pub(crate) mod watchdog;

use crate::handler_actor::Invoke;
use crate::shared::ArbiterLocal;
use actix::Recipient;
use actix_rt::ArbiterHandle;
use load::ArbiterLoad;
use parking_lot::Mutex;
use routing::Candidate;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Starts a fresh handler actor on the given arbiter (its handler is built on first use).
pub(crate) type Respawn = Arc<dyn Fn(&ArbiterHandle, Arc<ArbiterLoad>) -> Recipient<Invoke> + Send + Sync>;

/// One handler arbiter as the pool sees it.
struct Member {
    arbiter: ArbiterHandle,
    load: Arc<ArbiterLoad>,
}

/// Every handler actor, by arbiter, and the permits for the free ones.
pub(crate) struct HandlerPool {
    members: Vec<Member>,
    /// Free handlers of each member; the last one is the warmest.
    free: Mutex<Vec<Vec<Recipient<Invoke>>>>,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    respawn: Respawn,
}

impl std::fmt::Debug for HandlerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerPool")
            .field("arbiters", &self.members.len())
            .field("free", &self.permits.available_permits())
            .finish()
    }
}

impl HandlerPool {
    /// A pool over `arbiters`, each with its load and its handlers.
    pub(crate) fn new(
        arbiters: Vec<(ArbiterHandle, Arc<ArbiterLoad>, Vec<Recipient<Invoke>>)>,
        respawn: Respawn,
    ) -> Arc<Self> {
        let total = arbiters.iter().map(|(_, _, h)| h.len()).sum();
        let (members, free) = arbiters
            .into_iter()
            .map(|(arbiter, load, handlers)| (Member { arbiter, load }, handlers))
            .unzip();
        Arc::new(Self {
            members,
            free: Mutex::new(free),
            permits: Arc::new(Semaphore::new(total)),
            waiting: AtomicUsize::new(0),
            respawn,
        })
    }

    /// The load of every handler arbiter, for the watchdog.
    pub(crate) fn loads(&self) -> Vec<Arc<ArbiterLoad>> {
        self.members.iter().map(|m| m.load.clone()).collect()
    }

    /// Invocations running on each handler arbiter now.
    pub(crate) fn busy_by_arbiter(&self) -> Vec<usize> {
        self.members
            .iter()
            .map(|m| m.load.busy.load(Ordering::Relaxed))
            .collect()
    }

    /// Waits for a free handler (a permit for one). Dropping the future gives up the place
    /// in the queue.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Permit {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Permit(permit);
        }
        let queued = self.waiting.fetch_add(1, Ordering::Relaxed) as u64 + 1;
        let started = Instant::now();
        ArbiterLocal::count(|w| w.max_pool_queue = w.max_pool_queue.max(queued));
        let permit = self.permits.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        let waited = started.elapsed().as_millis() as u64;
        ArbiterLocal::count(|w| w.pool_wait_ms_max = w.pool_wait_ms_max.max(waited));
        Permit(permit.expect("the pool never closes its semaphore"))
    }

    /// Turns a permit into a lease on the handler that runs the event that just arrived.
    pub(crate) fn route(self: &Arc<Self>, permit: Permit) -> Lease {
        let mut free = self.free.lock();
        let candidates = self.members.iter().zip(free.iter()).map(|(m, f)| Candidate {
            free_handlers: f.len(),
            stalled: m.load.is_stalled(),
            busy: m.load.busy.load(Ordering::Relaxed),
        });
        let index = routing::choose(candidates).expect("a permit stands for a free handler");
        let handler = free[index].pop().expect("chosen for its free handler");
        drop(free);
        self.members[index].load.busy.fetch_add(1, Ordering::Relaxed);
        Lease {
            pool: self.clone(),
            member: index,
            handler: Some(handler),
            _permit: permit.0,
        }
    }

    fn release(&self, member: usize, handler: Recipient<Invoke>) {
        self.free.lock()[member].push(handler);
        self.members[member].load.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The right to one free handler, held from before `GET /next` until the event is routed.
#[derive(Debug)]
pub(crate) struct Permit(OwnedSemaphorePermit);

/// A handler taken from the pool for one invocation; it goes back when the lease is dropped
/// (the permit with it, after the handler).
pub(crate) struct Lease {
    pool: Arc<HandlerPool>,
    member: usize,
    handler: Option<Recipient<Invoke>>,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    pub(crate) fn handler(&self) -> &Recipient<Invoke> {
        self.handler.as_ref().expect("a lease holds its handler until dropped")
    }

    /// Which handler arbiter runs the invocation.
    pub(crate) fn arbiter_index(&self) -> usize {
        self.member
    }

    /// Replaces a handler actor that is gone (it stopped before answering) by a fresh one
    /// on the same arbiter.
    pub(crate) fn replace(&mut self) {
        let member = &self.pool.members[self.member];
        self.handler = Some((self.pool.respawn)(&member.arbiter, member.load.clone()));
    }

    /// Gives up a handler whose thread is still blocked past the deadline: a fresh actor
    /// takes its place in the pool; the old one finishes when its thread lets it, and is
    /// dropped then (nothing holds it any more).
    pub(crate) fn abandon(&mut self) {
        self.replace();
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(handler) = self.handler.take() {
            self.pool.release(self.member, handler);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler_actor::{Invoked, Outcome};
    use actix::prelude::*;

    struct Dummy;
    impl Actor for Dummy {
        type Context = Context<Self>;
    }
    impl Handler<Invoke> for Dummy {
        type Result = MessageResult<Invoke>;
        fn handle(&mut self, _: Invoke, _: &mut Self::Context) -> Self::Result {
            MessageResult(Invoked {
                outcome: Outcome::TimedOut,
                handler_time: std::time::Duration::ZERO,
            })
        }
    }

    fn pool(handlers_per_arbiter: &[usize]) -> Arc<HandlerPool> {
        let arbiters = handlers_per_arbiter
            .iter()
            .map(|&n| {
                let handlers = (0..n).map(|_| Dummy.start().recipient()).collect();
                (actix_rt::Arbiter::current(), Arc::new(ArbiterLoad::default()), handlers)
            })
            .collect();
        HandlerPool::new(arbiters, Arc::new(|_: &ArbiterHandle, _| Dummy.start().recipient()))
    }

    #[actix_rt::test]
    async fn events_spread_over_arbiters_before_sharing_one() {
        let pool = pool(&[2, 2]);
        let first = pool.route(pool.acquire().await);
        let second = pool.route(pool.acquire().await);
        assert_ne!(first.arbiter_index(), second.arbiter_index());
        assert_eq!(pool.busy_by_arbiter(), [1, 1]);
        drop(first);
        assert_eq!(pool.busy_by_arbiter(), [0, 1]);
        let third = pool.route(pool.acquire().await);
        assert_eq!(third.arbiter_index(), 0, "the idle arbiter");
    }

    #[actix_rt::test]
    async fn waiters_get_released_handlers_in_order_and_cancelled_waiters_are_skipped() {
        let pool = pool(&[1]);
        let first = pool.route(pool.acquire().await);
        let cancelled = {
            let p = pool.clone();
            actix_rt::spawn(async move { p.acquire().await })
        };
        let second = {
            let p = pool.clone();
            actix_rt::spawn(async move { p.acquire().await })
        };
        actix_rt::task::yield_now().await;
        cancelled.abort();
        actix_rt::task::yield_now().await;
        drop(first);
        let permit = second.await.unwrap();
        assert_eq!(pool.permits.available_permits(), 0);
        drop(pool.route(permit));
        assert_eq!(pool.permits.available_permits(), 1);
        assert_eq!(pool.busy_by_arbiter(), [0]);
    }
}
