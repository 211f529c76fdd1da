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
//!   A poller that shares its thread with handlers (`LAMBDA_ACTORS_SCHEDULING=shared`, and
//!   classic mode) names that arbiter as its *home*: its events run there when it can. With
//!   isolated scheduling and pinned threads, a poller names the handler arbiter on its own CPU
//!   as *near*: its events run there unless that thread is busy with handler code right now.
//!
//! A handler goes back to the free list the moment its invocation ends, by itself, on its
//! own thread ([`Release`], carried in the `Invoke` message) — not when the poller is done
//! posting the answer — so a handler that has finished is free for the next event at once.
//! The permit goes back when the poller drops the lease. A handler whose thread stayed
//! blocked past the deadline is [abandoned](Lease::abandon): a fresh handler actor takes its
//! place on the same arbiter, and the old one is dropped once its thread lets it finish.
//!
//! What the pool shows in the metrics: the longest queue of pollers waiting for a permit
//! (`max_mailbox_depth`), the longest wait (`pool_wait_ms_max`), and the invocations running
//! on each handler arbiter (`busy_by_arbiter`).

pub(crate) mod load;
pub(crate) mod routing;
pub(crate) mod watchdog;
pub(crate) mod worker;

use crate::shared::ArbiterLocal;
use actix_rt::ArbiterHandle;
use load::ArbiterLoad;
use parking_lot::Mutex;
pub(crate) use routing::Affinity;
use routing::Candidate;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use watchdog::Watchdog;

/// How often an event waiting for a handler off the stalled arbiters looks again.
const STALL_RECHECK: Duration = Duration::from_millis(10);

/// Starts a fresh handler actor on the given arbiter (its handler is built on first use).
pub(crate) type Respawn<W> = Arc<dyn Fn(&ArbiterHandle, Arc<ArbiterLoad>) -> W + Send + Sync>;

/// What the pool holds of a handler: its address (the runtime's is `Recipient<Invoke>`). The
/// pool needs nothing else of it, and so knows nothing of the handler actor.
pub(crate) trait WorkerRef: Clone + Send + 'static {}

impl<W: Clone + Send + 'static> WorkerRef for W {}

/// One handler arbiter as the pool sees it.
struct Member {
    arbiter: ArbiterHandle,
    load: Arc<ArbiterLoad>,
}

/// Every handler actor, by arbiter, and the permits for the free ones.
pub(crate) struct HandlerPool<W> {
    members: Vec<Member>,
    /// Free handlers of each member; the last one is the warmest.
    free: Mutex<Vec<Vec<W>>>,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    /// Where the round-robin among equal arbiters starts next.
    next_first: AtomicUsize,
    /// Events waiting in [`HandlerPool::route`] for a handler off the stalled arbiters.
    route_waiters: AtomicUsize,
    freed: Notify,
    respawn: Respawn<W>,
    watchdog: OnceLock<Watchdog>,
}

impl<W> std::fmt::Debug for HandlerPool<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerPool")
            .field("arbiters", &self.members.len())
            .field("free", &self.permits.available_permits())
            .finish()
    }
}

impl<W: WorkerRef> HandlerPool<W> {
    /// A pool over `arbiters`, each with its load and its handlers.
    pub(crate) fn new(arbiters: Vec<(ArbiterHandle, Arc<ArbiterLoad>, Vec<W>)>, respawn: Respawn<W>) -> Arc<Self> {
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
            next_first: AtomicUsize::new(0),
            route_waiters: AtomicUsize::new(0),
            freed: Notify::new(),
            respawn,
            watchdog: OnceLock::new(),
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
    ///
    /// When every free handler is on a stalled arbiter, the event would only wait there for
    /// the stall to end; so it waits here instead for whichever comes first: a handler freed
    /// on another arbiter, or the stall's end (checked every [`STALL_RECHECK`]).
    pub(crate) async fn route(self: &Arc<Self>, permit: Permit, affinity: Affinity) -> Lease<W> {
        loop {
            let freed = self.freed.notified();
            if let Some(picked) = self.try_route(affinity) {
                return picked.into_lease(self, permit);
            }
            self.route_waiters.fetch_add(1, Ordering::SeqCst);
            let _ = tokio::time::timeout(STALL_RECHECK, freed).await;
            self.route_waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Picks and takes a handler, unless the only free ones are on stalled arbiters.
    fn try_route(&self, affinity: Affinity) -> Option<Picked<W>> {
        let now = load::now_us();
        let mut free = self.free.lock();
        let candidates = self.members.iter().zip(free.iter()).map(|(m, f)| Candidate {
            free_handlers: f.len(),
            stalled: m.load.is_stalled(),
            hogging: m.load.is_hogging(now),
            starting: m.load.is_starting(),
            busy: m.load.busy.load(Ordering::Relaxed),
        });
        let first = self.next_first.fetch_add(1, Ordering::Relaxed);
        let index = routing::choose(candidates, first, affinity).expect("a permit stands for a free handler");
        let member = &self.members[index];
        // Chosen although stalled: wait instead while another thread may free a handler.
        let elsewhere_busy = || {
            self.members
                .iter()
                .enumerate()
                .any(|(i, m)| i != index && !m.load.is_stalled() && m.load.busy.load(Ordering::Relaxed) > 0)
        };
        if member.load.is_stalled() && elsewhere_busy() {
            return None;
        }
        let handler = free[index].pop().expect("chosen for its free handler");
        drop(free);
        // Counted down by the handler actor when the invocation's future ends (on its thread,
        // so that a finished invocation stops counting at once).
        if member.load.routed() == 0 {
            if let Some(watchdog) = self.watchdog.get() {
                watchdog.wake();
            }
        }
        Some(Picked { index, handler })
    }

    fn release(&self, member: usize, handler: W) {
        self.free.lock()[member].push(handler);
        if self.route_waiters.load(Ordering::SeqCst) > 0 {
            self.freed.notify_waiters();
        }
    }

    /// Starts watching the arbiters for stalls (Managed Instances mode).
    pub(crate) fn watch(&self, threshold: Duration) -> std::io::Result<()> {
        let watchdog = Watchdog::start(&self.loads(), threshold)?;
        let _ = self.watchdog.set(watchdog);
        Ok(())
    }
}

/// A handler chosen by [`HandlerPool::try_route`].
struct Picked<W> {
    index: usize,
    handler: W,
}

impl<W: WorkerRef> Picked<W> {
    fn into_lease(self, pool: &Arc<HandlerPool<W>>, permit: Permit) -> Lease<W> {
        Lease {
            release: Release {
                pool: pool.clone(),
                member: self.index,
                claimed: Arc::new(AtomicBool::new(false)),
            },
            handler: self.handler,
            handed_over: false,
            _permit: permit.0,
        }
    }
}

/// The right to one free handler, held from before `GET /next` until the event is routed.
#[derive(Debug)]
pub(crate) struct Permit(OwnedSemaphorePermit);

/// A handler taken from the pool for one invocation, and the permit the poller held for it
/// (returned when the lease is dropped). The handler itself goes back through [`Release`].
pub(crate) struct Lease<W: WorkerRef> {
    release: Release<W>,
    handler: W,
    /// The handler actor got its [`Release`] (in the `Invoke`): from then on it comes back
    /// by itself; before, dropping the lease puts it back.
    handed_over: bool,
    _permit: OwnedSemaphorePermit,
}

impl<W: WorkerRef> Lease<W> {
    pub(crate) fn handler(&self) -> &W {
        &self.handler
    }

    /// What the handler actor calls when the invocation ends, to go back to the pool; to
    /// put in the `Invoke` message.
    pub(crate) fn release(&mut self) -> Release<W> {
        self.handed_over = true;
        self.release.clone()
    }

    /// Which handler arbiter runs the invocation.
    pub(crate) fn arbiter_index(&self) -> usize {
        self.release.member
    }

    /// The handler actor is gone before running the invocation (so it will neither count it
    /// down nor come back): a fresh one takes its place in the pool, on the same arbiter.
    pub(crate) fn replace(&mut self) {
        if self.release.claim() {
            self.release.never_ran(self.release.respawn());
        }
    }

    /// Gives up a handler whose thread is still blocked past the deadline: a fresh actor
    /// takes its place in the pool; the old one, still counted busy, finishes when its
    /// thread lets it and is dropped then (it does not come back).
    pub(crate) fn abandon(&mut self) {
        if self.release.claim() {
            self.release.pool.release(self.release.member, self.release.respawn());
        }
    }
}

impl<W: WorkerRef> Drop for Lease<W> {
    fn drop(&mut self) {
        // Never sent its invocation (the poller failed in between): unused, so back at once.
        if !self.handed_over && self.release.claim() {
            self.release.never_ran(self.handler.clone());
        }
    }
}

/// How a handler goes back to the pool after its invocation: once, by whoever claims it
/// first — the handler actor when the invocation ends, or the poller when it gives the
/// handler up.
pub(crate) struct Release<W> {
    pool: Arc<HandlerPool<W>>,
    member: usize,
    claimed: Arc<AtomicBool>,
}

impl<W> Clone for Release<W> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            member: self.member,
            claimed: self.claimed.clone(),
        }
    }
}

impl<W: WorkerRef> Release<W> {
    fn claim(&self) -> bool {
        !self.claimed.swap(true, Ordering::AcqRel)
    }

    /// The invocation routed here never reached a handler: it is counted out of the
    /// arbiter's load, and `handler` goes to the free list in its place.
    fn never_ran(&self, handler: W) {
        let load = &self.pool.members[self.member].load;
        load.taken();
        load.finished();
        self.pool.release(self.member, handler);
    }

    fn respawn(&self) -> W {
        let member = &self.pool.members[self.member];
        (self.pool.respawn)(&member.arbiter, member.load.clone())
    }

    /// Called by the handler actor, with its own address, when the invocation ends.
    pub(crate) fn handler_done(self, handler: W) {
        if self.claim() {
            self.pool.release(self.member, handler);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker is anything cloneable: here a number naming the handler.
    type Handler = u32;

    /// What a handler actor does when its invocation ends.
    fn finish(lease: &mut Lease<Handler>) {
        let load = &lease.release.pool.members[lease.arbiter_index()].load;
        load.taken();
        load.finished();
        let handler = *lease.handler();
        lease.release().handler_done(handler);
    }

    fn pool(handlers_per_arbiter: &[u32]) -> Arc<HandlerPool<Handler>> {
        let arbiters = handlers_per_arbiter
            .iter()
            .enumerate()
            .map(|(a, &n)| {
                let handlers = (0..n).map(|h| a as u32 * 100 + h).collect();
                (actix_rt::Arbiter::current(), Arc::new(ArbiterLoad::default()), handlers)
            })
            .collect();
        HandlerPool::new(arbiters, Arc::new(|_: &ArbiterHandle, _| 999))
    }

    #[actix_rt::test]
    async fn events_spread_over_arbiters_before_sharing_one() {
        let pool = pool(&[2, 2]);
        let mut first = pool.route(pool.acquire().await, Affinity::None).await;
        let second = pool.route(pool.acquire().await, Affinity::None).await;
        assert_ne!(first.arbiter_index(), second.arbiter_index());
        assert_eq!(pool.busy_by_arbiter(), [1, 1]);
        // The handler actor counts its invocation down and comes back when it ends.
        finish(&mut first);
        let idle = first.arbiter_index();
        drop(first);
        assert_eq!(pool.busy_by_arbiter()[idle], 0);
        let third = pool.route(pool.acquire().await, Affinity::None).await;
        assert_eq!(third.arbiter_index(), idle, "the idle arbiter");
    }

    #[actix_rt::test]
    async fn an_abandoned_handler_is_replaced_and_never_comes_back() {
        let pool = pool(&[1]);
        let mut lease = pool.route(pool.acquire().await, Affinity::None).await;
        let old = *lease.handler();
        let release = lease.release();
        lease.abandon();
        assert_eq!(*pool.free.lock(), [vec![999]], "the replacement is free at once");
        release.handler_done(old);
        assert_eq!(
            *pool.free.lock(),
            [vec![999]],
            "the blocked handler, done at last, stays out"
        );
        assert_eq!(
            pool.busy_by_arbiter(),
            [1],
            "still counted until its thread lets it end"
        );
    }

    #[actix_rt::test]
    async fn a_lease_dropped_before_its_invocation_was_sent_gives_the_handler_back() {
        let pool = pool(&[1]);
        drop(pool.route(pool.acquire().await, Affinity::None).await);
        assert_eq!(*pool.free.lock(), [vec![0]]);
        assert_eq!(pool.busy_by_arbiter(), [0]);
        assert_eq!(pool.permits.available_permits(), 1);
    }

    #[actix_rt::test]
    async fn waiters_get_released_handlers_in_order_and_cancelled_waiters_are_skipped() {
        let pool = pool(&[1]);
        let mut first = pool.route(pool.acquire().await, Affinity::None).await;
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
        finish(&mut first);
        drop(first);
        let permit = second.await.unwrap();
        assert_eq!(pool.permits.available_permits(), 0);
        let mut lease = pool.route(permit, Affinity::None).await;
        finish(&mut lease);
        drop(lease);
        assert_eq!(pool.permits.available_permits(), 1);
        assert_eq!(*pool.free.lock(), [vec![0]]);
    }
}
