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
    /// When the handler poll now running on this thread began ([`now_us`]); 0 when none is.
    polling_since: AtomicU64,
    /// Handler code has held the thread past the stall threshold and has not yielded yet.
    stalled: AtomicBool,
}

impl ArbiterLoad {
    pub(crate) fn is_stalled(&self) -> bool {
        self.stalled.load(Ordering::Relaxed)
    }

    /// Handler code is running on the thread right now (a hog shows from its first poll on).
    pub(crate) fn is_polling(&self) -> bool {
        self.polling_since.load(Ordering::Relaxed) != 0
    }

    /// One invocation routed here has ended.
    pub(crate) fn finished(&self) {
        self.busy.fetch_sub(1, Ordering::Relaxed);
    }

    /// For the watchdog: marks the arbiter stalled while a poll has run past `threshold`.
    pub(crate) fn check(&self, now: u64, threshold: Duration) {
        let since = self.polling_since.load(Ordering::Relaxed);
        let stalled = since != 0 && now.saturating_sub(since) >= threshold.as_micros() as u64;
        self.stalled.store(stalled, Ordering::Relaxed);
    }
}

/// Microseconds since the first call, never 0 (0 means "not polling").
pub(crate) fn now_us() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64 + 1
}

/// Marks a poll in progress; cleared on drop, so also when the handler panics.
struct Polling<'a>(&'a ArbiterLoad);

impl<'a> Polling<'a> {
    fn start(load: &'a ArbiterLoad, now: u64) -> Self {
        load.polling_since.store(now, Ordering::Relaxed);
        Self(load)
    }
}

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        self.0.polling_since.store(0, Ordering::Relaxed);
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
            this.load.stalled.store(false, Ordering::Relaxed);
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
