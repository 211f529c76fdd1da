//! How busy each handler arbiter is, as its handlers measure it: how many invocations run
//! there, and whether handler code has kept the thread from yielding (a stall).
//!
//! Measured around every poll of a handler's future ([`Watched`]): two clock reads and two
//! atomic stores, no timer. The [`watchdog`](super::watchdog) reads the stamps to see stalls
//! still in progress; the poll that ends a stall logs it.

use crate::shared::ArbiterLocal;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The load of one handler arbiter, read by the router from any thread.
#[derive(Debug, Default)]
pub(crate) struct ArbiterLoad {
    /// Invocations routed here that have not returned.
    pub(crate) busy: AtomicUsize,
    /// Of those, the ones routed here whose handler actor has not yet taken them: they are
    /// about to run handler code.
    starting: AtomicUsize,
    /// When the handler poll now running on this thread began ([`now_us`]); 0 when none is.
    polling_since: AtomicU64,
    /// Handler code has held the thread past the stall threshold and has not yielded yet.
    stalled: AtomicBool,
}

impl ArbiterLoad {
    pub(crate) fn is_stalled(&self) -> bool {
        self.stalled.load(Ordering::Relaxed)
    }

    /// Handler code has been running on the thread for at least [`SHORT_POLL`] right now: a
    /// hog shows this way long before it counts as stalled. (A shorter poll says nothing: a
    /// thread finishing an invocation polls briefly too.)
    pub(crate) fn is_hogging(&self, now: u64) -> bool {
        let since = self.polling_since.load(Ordering::Relaxed);
        since != 0 && now.saturating_sub(since) >= SHORT_POLL.as_micros() as u64
    }

    /// An invocation was routed here and its handler actor has not taken it yet: handler code
    /// is about to run.
    pub(crate) fn is_starting(&self) -> bool {
        self.starting.load(Ordering::Relaxed) > 0
    }

    /// An invocation was routed here.
    pub(crate) fn routed(&self) -> usize {
        self.starting.fetch_add(1, Ordering::Relaxed);
        self.busy.fetch_add(1, Ordering::Relaxed)
    }

    /// The handler actor took an invocation routed here (or never will: it is gone).
    pub(crate) fn taken(&self) {
        self.starting.fetch_sub(1, Ordering::Relaxed);
    }

    /// One invocation routed here has ended.
    pub(crate) fn finished(&self) {
        self.busy.fetch_sub(1, Ordering::Relaxed);
    }

    /// For the watchdog: marks the arbiter stalled while a poll has run past `threshold`.
    pub(crate) fn check(&self, now: u64, threshold: Duration) {
        let since = self.polling_since.load(Ordering::SeqCst);
        let stalled = since != 0 && now.saturating_sub(since) >= threshold.as_micros() as u64;
        self.stalled.store(stalled, Ordering::SeqCst);
        // The poll may have ended (and cleared the mark) between the read and the store: a
        // stale mark would keep events off an idle thread until the next check.
        if stalled && self.polling_since.load(Ordering::SeqCst) != since {
            self.stalled.store(false, Ordering::SeqCst);
        }
    }
}

/// The longest poll that says nothing of a hog.
const SHORT_POLL: Duration = Duration::from_millis(1);

/// Microseconds since the first call, never 0 (0 means "not polling").
pub(crate) fn now_us() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64 + 1
}

/// Marks a poll in progress; cleared on drop, so also when the handler panics.
struct Polling<'a>(&'a ArbiterLoad);

impl<'a> Polling<'a> {
    fn start(load: &'a ArbiterLoad, now: u64) -> Self {
        load.polling_since.store(now, Ordering::SeqCst);
        Self(load)
    }
}

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        self.0.polling_since.store(0, Ordering::SeqCst);
        // The stall is over with the poll: a mark left until the watchdog's next check (up to
        // half a threshold later) would keep the next events off a thread that is free.
        if self.0.stalled.load(Ordering::Relaxed) {
            self.0.stalled.store(false, Ordering::SeqCst);
        }
    }
}

/// A handler's future, measured poll by poll on its arbiter's [`ArbiterLoad`]. A poll that
/// holds the thread past `threshold` is a stall: counted every time, logged (inside the
/// invocation's span, since this runs inside it) the first time in an invocation.
pub(crate) struct Watched<F> {
    inner: Pin<Box<F>>,
    load: Arc<ArbiterLoad>,
    threshold: Option<Duration>,
    logged: bool,
}

impl<F> Watched<F> {
    pub(crate) fn new(inner: F, load: Arc<ArbiterLoad>, threshold: Option<Duration>) -> Self {
        Self {
            inner: Box::pin(inner),
            load,
            threshold,
            logged: false,
        }
    }
}

impl<F: Future> Future for Watched<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Unpin (the inner future is boxed): the fields can be borrowed apart.
        let this = self.get_mut();
        let Some(threshold) = this.threshold else {
            return this.inner.as_mut().poll(cx);
        };
        let started = now_us();
        let polling = Polling::start(&this.load, started);
        let polled = this.inner.as_mut().poll(cx);
        drop(polling);
        let held = Duration::from_micros(now_us() - started);
        if held >= threshold {
            this.load.stalled.store(false, Ordering::SeqCst);
            let ms = held.as_millis() as u64;
            ArbiterLocal::count(|w| {
                w.stalls += 1;
                w.stall_ms_max = w.stall_ms_max.max(ms);
            });
            if !std::mem::replace(&mut this.logged, true) {
                let delayed = this.load.busy.load(Ordering::Relaxed).saturating_sub(1);
                tracing::warn!(
                    stall_ms = ms,
                    delayed_invocations = delayed,
                    "the handler kept its thread busy for {ms} ms without yielding (a CPU loop or a \
                     blocking call): {delayed} other invocation(s) on that thread waited, and no new \
                     event was routed there meanwhile. Run blocking or CPU-heavy parts with \
                     lambda_actors::spawn_blocking"
                );
            }
        }
        polled
    }
}
