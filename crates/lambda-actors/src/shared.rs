//! State shared by every arbiter (cross-thread, lock-free) and state local to one arbiter.

use crate::config::{Config, FunctionInfo};
use crate::metrics::Window;
use lambda_actors_api::RuntimeClient;
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use tokio::sync::Notify;

/// What every slot reads: configuration, and the drain/stop flags. No locks.
pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) function: Arc<FunctionInfo>,
    draining: AtomicBool,
    stopping: AtomicBool,
    drain: Notify,
    /// The end of the shutdown window: invocations still running are answered and dropped.
    cut: AtomicBool,
    cut_notify: Notify,
    pub(crate) in_flight: AtomicUsize,
    /// Pollers between a `/next` reply head and the hand-off of its event to a handler: the
    /// drain waits for them before it runs the handlers' shutdown hooks.
    pub(crate) receiving: AtomicUsize,
    /// Pollers waiting for a `/next` reply head (after the drain starts, for a short grace):
    /// while any is, an event may still arrive.
    pub(crate) polling: AtomicUsize,
    pub(crate) pollers_alive: AtomicUsize,
    /// Pollers restarted by the supervisor (counted there, off the hot path).
    pub(crate) poller_restarts: AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: Arc<Config>) -> Arc<Self> {
        Arc::new(Self {
            function: Arc::new(config.function.clone()),
            config,
            draining: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            drain: Notify::new(),
            cut: AtomicBool::new(false),
            cut_notify: Notify::new(),
            in_flight: AtomicUsize::new(0),
            receiving: AtomicUsize::new(0),
            polling: AtomicUsize::new(0),
            pollers_alive: AtomicUsize::new(0),
            poller_restarts: AtomicU64::new(0),
        })
    }

    /// Stop polling: parked `/next` requests are abandoned, in-flight invocations go on.
    pub(crate) fn start_drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.drain.notify_waiters();
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// The process is exiting: stopped actors are not restarted.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.start_drain();
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The shutdown window is over: whatever still runs is answered and given up.
    pub(crate) fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.cut_notify.notify_waiters();
    }

    /// Runs `fut` until it completes (`Some`) or the shutdown window ends (`None`).
    pub(crate) async fn until_cut<F: Future>(&self, fut: F) -> Option<F::Output> {
        let notified = self.cut_notify.notified();
        if self.cut.load(Ordering::SeqCst) {
            return None;
        }
        first_of(fut, notified).await
    }

    /// Runs `fut` until it completes (`Some`) or draining starts (`None`).
    pub(crate) async fn until_drained<F: Future>(&self, fut: F) -> Option<F::Output> {
        let notified = self.drain.notified();
        if self.is_draining() {
            return None;
        }
        first_of(fut, notified).await
    }
}

/// Work started with [`crate::spawn`] and not finished yet, process-wide: the drain waits
/// for it (within the shutdown window).
static SPAWNED: AtomicUsize = AtomicUsize::new(0);

/// Counts one piece of spawned work for as long as it lives (finished, or dropped unfinished).
pub(crate) struct SpawnedWork(());

impl SpawnedWork {
    pub(crate) fn start() -> Self {
        SPAWNED.fetch_add(1, Ordering::SeqCst);
        Self(())
    }

    /// How many are alive now.
    pub(crate) fn alive() -> usize {
        SPAWNED.load(Ordering::SeqCst)
    }
}

impl Drop for SpawnedWork {
    fn drop(&mut self) {
        SPAWNED.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `Some(fut's output)`, or `None` if `stop` completes first (`fut` is polled first).
async fn first_of<F: Future, S: Future>(fut: F, stop: S) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut stop = pin!(stop);
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if stop.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// What the code on one arbiter shares: its awc client (awc is `!Send`) for the answers sent
/// from there, and its metrics window.
pub(crate) struct ArbiterLocal {
    pub(crate) client: Rc<RuntimeClient>,
    /// This arbiter's metrics since the last summary.
    pub(crate) stats: RefCell<Window>,
}

thread_local! {
    static LOCAL: RefCell<Option<Rc<ArbiterLocal>>> = const { RefCell::new(None) };
}

impl ArbiterLocal {
    pub(crate) fn install(local: ArbiterLocal) {
        LOCAL.with(|l| *l.borrow_mut() = Some(Rc::new(local)));
    }

    /// This arbiter's state; installed before any poller starts here.
    pub(crate) fn current() -> Rc<ArbiterLocal> {
        Self::try_current().expect("pollers start only on arbiters the runtime set up")
    }

    pub(crate) fn try_current() -> Option<Rc<ArbiterLocal>> {
        LOCAL.with(|l| l.borrow().clone())
    }

    /// Counts into this arbiter's metrics window (no-op off the runtime's arbiters).
    pub(crate) fn count(f: impl FnOnce(&mut Window)) {
        if let Some(local) = Self::try_current() {
            f(&mut local.stats.borrow_mut());
        }
    }
}
