//! State shared by every arbiter (cross-thread, lock-free) and state local to one arbiter.

use crate::config::{Config, FunctionInfo};
use crate::metrics::Window;
use lambda_actors_api::RuntimeClient;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// What every slot reads: configuration, and whether the metrics timer sleeps. Nothing here
/// steers the drain: that is messages from the supervisor (`src/supervisor.rs`).
pub(crate) struct RuntimeShared {
    pub(crate) config: Arc<Config>,
    pub(crate) function: Arc<FunctionInfo>,
    /// The metrics timer stopped for want of anything to report: the first invocation after
    /// that wakes it (one message), so an idle environment runs no timer.
    summary_asleep: AtomicBool,
}

impl RuntimeShared {
    pub(crate) fn new(config: Arc<Config>) -> Arc<Self> {
        Arc::new(Self {
            function: Arc::new(config.function.clone()),
            config,
            summary_asleep: AtomicBool::new(false),
        })
    }

    /// The metrics timer goes to sleep.
    pub(crate) fn summary_sleeps(&self) {
        self.summary_asleep.store(true, Ordering::SeqCst);
    }

    /// The metrics timer's first look after it went to sleep: `true` if it is awake again
    /// (woken, or taking it back).
    pub(crate) fn summary_woken(&self) -> bool {
        !self.summary_asleep.swap(false, Ordering::SeqCst)
    }

    /// Called as an invocation starts: `true` if the metrics timer sleeps and this call woke it
    /// (then the caller tells the supervisor). One relaxed load otherwise.
    pub(crate) fn wake_summary(&self) -> bool {
        self.summary_asleep.load(Ordering::Relaxed) && self.summary_asleep.swap(false, Ordering::SeqCst)
    }
}

/// Work started with [`crate::spawn`] and not finished yet, process-wide, and the wake-up of
/// whoever waits for the last of it to end (the drain).
static SPAWNED: AtomicUsize = AtomicUsize::new(0);
static SPAWNED_ENDED: Notify = Notify::const_new();

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

    /// Returns when no spawned work is alive: woken by the end of the last one, never by a timer.
    pub(crate) async fn all_ended() {
        loop {
            let ended = SPAWNED_ENDED.notified();
            if Self::alive() == 0 {
                return;
            }
            ended.await;
        }
    }
}

impl Drop for SpawnedWork {
    fn drop(&mut self) {
        if SPAWNED.fetch_sub(1, Ordering::SeqCst) == 1 {
            SPAWNED_ENDED.notify_waiters();
        }
    }
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
