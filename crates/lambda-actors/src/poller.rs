//! The poller actor: one per concurrency slot. A permit for a free handler first, then
//! `GET /next`, then the invocation (routed by the pool to a handler, on whichever handler
//! arbiter is free), then the answer ([`crate::outcome`]); again. Pollers run on the I/O
//! arbiters, which run no user code (in classic mode, the one arbiter runs both), so a handler
//! that hogs its thread never delays the Runtime-API traffic of the other slots.
//!
//! The loop is a future the actor spawns (`ctx.spawn`, never `ctx.wait`, so the mailbox stays
//! live during the long poll); what others ask of the poller are its messages:
//!
//! | message | from | what the poller does |
//! |---|---|---|
//! | [`StopPolling`] | supervisor, at the drain | no new `/next`; a parked one gets [`HEAD_GRACE`]; says when no event can arrive any more, then when its last invocation has its answer |
//! | [`EndOfWindow`] | supervisor, at the shutdown window's end | answers `Runtime.Shutdown` for the event it holds (body still arriving, or handler still running), names the shutdown hook that could not run |
//!
//! The flags these messages set live in the poller's own [`SlotControl`], on its own thread:
//! no other actor reads them.

use crate::answer::Answer;
use crate::outcome::{self, Invoked, Outcome};
use crate::pool::worker::{Invoke, WorkerLease, WorkerPool};
use crate::pool::Affinity;
use crate::reports::{Fatal, PollerDied, Reports, SummaryWanted};
use crate::shared::{ArbiterLocal, RuntimeShared};
use crate::{Context, Error, RuntimeError};
use actix::prelude::*;
use lambda_actors_api::{EventRead, NextEvent, ReplyStatus};
use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{oneshot, Notify};
use tracing::Instrument;

/// Whether the "deadline is a duration" warning was logged (once per process).
static RELATIVE_DEADLINE_SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Tries of `GET /next` in classic mode before giving up on an unreachable Runtime API.
const CLASSIC_RETRIES: u32 = 5;
/// First back-off delay; doubles per failure.
const BACKOFF_BASE: Duration = Duration::from_millis(50);
/// Longest back-off delay in Managed Instances mode.
const BACKOFF_CAP: Duration = Duration::from_secs(2);
/// How long past the reclaim time the poller waits for the handler actor's own timeout
/// before it decides the handler's thread is blocked and answers the invocation itself.
const BLOCKED_MARGIN: Duration = Duration::from_millis(100);
/// How long a parked `/next` may still deliver after polling stops: a reply Lambda wrote just
/// before the signal may still be on its way, or unread in the socket.
pub(crate) const HEAD_GRACE: Duration = Duration::from_millis(50);

/// Stop taking events (the drain). `arrivals_over` is sent once no event can arrive at this
/// slot any more (nothing parked, nothing being read); `drained` once its last invocation has
/// its answer. A poller that is gone drops both, which says the same.
pub(crate) struct StopPolling {
    pub(crate) arrivals_over: oneshot::Sender<()>,
    pub(crate) drained: oneshot::Sender<()>,
}

impl Message for StopPolling {
    type Result = ();
}

/// The shutdown window is over: whatever this slot still holds is answered `Runtime.Shutdown`.
pub(crate) struct EndOfWindow;

impl Message for EndOfWindow {
    type Result = ();
}

/// What the poller's messages tell its loop; lives on the poller's thread, read by no one else.
struct SlotControl {
    /// The event is with a handler: nothing more can arrive until the loop polls again.
    invoking: Cell<bool>,
    stopped: Cell<bool>,
    stop: Notify,
    cut: Cell<bool>,
    end_of_window: Notify,
    arrivals_over: Cell<Option<oneshot::Sender<()>>>,
    drained: Cell<Option<oneshot::Sender<()>>>,
}

impl SlotControl {
    fn new() -> Self {
        Self {
            invoking: Cell::new(false),
            stopped: Cell::new(false),
            stop: Notify::new(),
            cut: Cell::new(false),
            end_of_window: Notify::new(),
            arrivals_over: Cell::new(None),
            drained: Cell::new(None),
        }
    }

    /// The event was handed to a handler: once polling is stopped, no event can arrive here.
    fn handed_over(&self) {
        self.invoking.set(true);
        if self.stopped.get() {
            self.say_arrivals_over();
        }
    }

    fn say_arrivals_over(&self) {
        if let Some(tx) = self.arrivals_over.take() {
            let _ = tx.send(());
        }
    }

    /// The loop has ended: nothing arrives, nothing runs.
    fn say_drained(&self) {
        self.say_arrivals_over();
        if let Some(tx) = self.drained.take() {
            let _ = tx.send(());
        }
    }

    /// `Some(fut's output)`, or `None` once polling is stopped.
    async fn unless_stopped<F: Future>(&self, fut: F) -> Option<F::Output> {
        let stop = self.stop.notified();
        if self.stopped.get() {
            return None;
        }
        first_of(fut, stop).await
    }

    /// `Some(fut's output)`, or `None` once the shutdown window is over.
    async fn unless_cut<F: Future>(&self, fut: F) -> Option<F::Output> {
        let cut = self.end_of_window.notified();
        if self.cut.get() {
            return None;
        }
        first_of(fut, cut).await
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

/// One concurrency slot.
pub(crate) struct Poller {
    slot: usize,
    /// The handler arbiter this poller's events go to first, when it may.
    affinity: Affinity,
    shared: Arc<RuntimeShared>,
    pool: Arc<WorkerPool>,
    supervisor: Reports,
    control: Rc<SlotControl>,
    finished: bool,
}

impl Poller {
    pub(crate) fn new(
        slot: usize,
        affinity: Affinity,
        shared: Arc<RuntimeShared>,
        pool: Arc<WorkerPool>,
        supervisor: Reports,
    ) -> Self {
        Self {
            slot,
            affinity,
            shared,
            pool,
            supervisor,
            control: Rc::new(SlotControl::new()),
            finished: false,
        }
    }
}

impl Actor for Poller {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let slot = Slot {
            local: ArbiterLocal::current(),
            shared: self.shared.clone(),
            pool: self.pool.clone(),
            supervisor: self.supervisor.clone(),
            control: self.control.clone(),
            slot: self.slot,
            affinity: self.affinity,
        };
        ctx.spawn(poll_loop(slot).into_actor(self).map(|(), act, ctx| {
            act.finished = true;
            act.control.say_drained();
            ctx.stop();
        }));
    }
}

impl Handler<StopPolling> for Poller {
    type Result = ();

    fn handle(&mut self, msg: StopPolling, _: &mut Self::Context) {
        let control = &self.control;
        control.stopped.set(true);
        control.drained.set(Some(msg.drained));
        control.arrivals_over.set(Some(msg.arrivals_over));
        if control.invoking.get() {
            control.say_arrivals_over();
        }
        control.stop.notify_waiters();
    }
}

impl Handler<EndOfWindow> for Poller {
    type Result = ();

    fn handle(&mut self, _: EndOfWindow, _: &mut Self::Context) {
        self.control.cut.set(true);
        self.control.end_of_window.notify_waiters();
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        if !self.finished {
            self.supervisor.died.do_send(PollerDied { slot: self.slot });
        }
    }
}

/// What the loop of one slot works with.
struct Slot {
    local: Rc<ArbiterLocal>,
    shared: Arc<RuntimeShared>,
    pool: Arc<WorkerPool>,
    supervisor: Reports,
    control: Rc<SlotControl>,
    slot: usize,
    affinity: Affinity,
}

async fn poll_loop(s: Slot) {
    let managed = s.shared.config.mode.is_managed();
    let control = &*s.control;
    let mut backoff = Backoff::new(s.slot);
    loop {
        control.invoking.set(false);
        let Some(permit) = control.unless_stopped(s.pool.acquire()).await else {
            return;
        };
        // Only the wait for the reply head gives way to the drain: once it is here the event
        // is delivered, and is read, run and answered like any other.
        let Some(head) = wait_for_head(control, s.local.client.next_head()).await else {
            return;
        };
        let next = match head {
            Ok(reply) => reply.read_unless(end_of_window(control)).await,
            Err(err) => Err(err),
        };
        let err = match next {
            Ok(EventRead::Whole(event)) => {
                backoff.reset();
                let mut lease = s.pool.route(permit, s.affinity).await;
                invoke(&s, &mut lease, event).await;
                if control.stopped.get() {
                    return;
                }
                continue;
            }
            Ok(EventRead::Stopped(meta)) => {
                drop(permit);
                outcome::cut_while_arriving(&meta).await;
                return;
            }
            Err(err) => err,
        };
        drop(permit);
        if let Some(meta) = err.delivered() {
            outcome::unreadable(meta, &err).await;
            if control.stopped.get() {
                return;
            }
            continue;
        }
        if control.stopped.get() {
            return;
        }
        if err.is_bad_headers() {
            // Nothing to answer it with. Not at once again: a Runtime API that keeps sending
            // such replies must not turn the slots into a hot loop.
            let delay = backoff.next_delay(managed);
            tracing::error!(
                slot = s.slot,
                "skipping an event that cannot be answered: {err}; next GET /next in {} ms",
                delay.as_millis()
            );
            if control.unless_stopped(actix_rt::time::sleep(delay)).await.is_none() {
                return;
            }
            continue;
        }
        if !managed {
            if err.status() == Some(ReplyStatus::ContainerError) {
                s.supervisor.fatal.do_send(Fatal(RuntimeError::api(format!(
                    "GET /next failed: {err}; exiting as the Runtime API asks"
                ))));
                return;
            }
            if backoff.failures() >= CLASSIC_RETRIES {
                s.supervisor.fatal.do_send(Fatal(RuntimeError::api(format!(
                    "GET /next failed {} times in a row, last: {err}; exiting",
                    backoff.failures()
                ))));
                return;
            }
        }
        let delay = backoff.next_delay(managed);
        tracing::warn!(
            slot = s.slot,
            "GET /next failed: {err}; retrying in {} ms",
            delay.as_millis()
        );
        if control.unless_stopped(actix_rt::time::sleep(delay)).await.is_none() {
            return;
        }
    }
}

/// Completes when the shutdown window ends.
async fn end_of_window(control: &SlotControl) {
    control.unless_cut(std::future::pending::<()>()).await;
}

/// The `/next` reply head, unless polling stopped and none came within [`HEAD_GRACE`].
async fn wait_for_head<F: Future>(control: &SlotControl, head: F) -> Option<F::Output> {
    if control.stopped.get() {
        // Not sent yet: no new `/next` once the drain has begun.
        return None;
    }
    let mut head = pin!(head);
    match control.unless_stopped(head.as_mut()).await {
        Some(reply) => Some(reply),
        None => tokio::time::timeout(HEAD_GRACE, head).await.ok(),
    }
}

/// Answers the invocation if the poller dies before it does.
struct Unanswered(Answer);

impl Drop for Unanswered {
    fn drop(&mut self) {
        if self.0.state() == crate::answer::AnswerState::Pending {
            let answer = self.0.clone();
            actix_rt::spawn(async move { outcome::worker_crashed(&answer).await });
        }
    }
}

async fn invoke(s: &Slot, lease: &mut WorkerLease, event: NextEvent) {
    let (shared, control) = (&*s.shared, &*s.control);
    let received = Instant::now();
    let NextEvent { meta, body } = event;
    let bytes_in = body.len() as u64;
    if shared.wake_summary() {
        s.supervisor.summary_wanted.do_send(SummaryWanted);
    }
    let span = tracing::info_span!(
        target: "lambda_actors::invocation",
        parent: None,
        "invocation",
        requestId = %meta.request_id,
        traceId = meta.trace_id.as_deref(),
        tenantId = meta.tenant_id.as_deref(),
    );
    if meta.relative_deadline && !RELATIVE_DEADLINE_SEEN.swap(true, Ordering::Relaxed) {
        span.in_scope(|| {
            tracing::warn!(
                "Lambda-Runtime-Deadline-Ms holds a duration, not epoch milliseconds (an emulator?): \
                 counting it from now (said once)"
            )
        });
    }
    if let Some(bad) = &meta.bad_deadline {
        span.in_scope(|| tracing::warn!("ignoring a Lambda-Runtime-Deadline-Ms that is not a number: {bad:?}"));
    }
    let reclaim_at = match (shared.config.deadline_reclaim, meta.deadline_ms) {
        (true, Some(ms)) => Some(instant_at(ms) + shared.config.deadline_grace),
        _ => None,
    };
    if !shared.config.mode.is_managed() {
        // Classic Lambda convention; one invocation at a time, so the process env is ours.
        match &meta.trace_id {
            Some(t) => std::env::set_var("_X_AMZN_TRACE_ID", t),
            None => std::env::remove_var("_X_AMZN_TRACE_ID"),
        }
    }
    let ctx = Context::new(meta, shared.function.clone());
    let answer = Answer::new(ctx.clone());
    let unanswered = Unanswered(answer.clone());
    #[cfg(test)]
    if tests::INJECTED_PANICS
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        panic!("injected poller fault");
    }
    let release = lease.release();
    let sent = lease.handler().invoke.send(Invoke {
        event: body,
        ctx,
        answer: answer.clone(),
        reclaim_at,
        span: span.clone(),
        release,
    });
    // Queued to the handler: a shutdown hook asked for from now on runs after it.
    control.handed_over();
    // The handler actor reclaims its own invocation at `reclaim_at` — if its thread lets it.
    // A thread blocked in handler code cannot: then the poller, on its own thread, answers.
    let sent = async move {
        match reclaim_at {
            Some(at) => tokio::time::timeout_at((at + BLOCKED_MARGIN).into(), sent).await.ok(),
            None => Some(sent.await),
        }
    };
    let Invoked { outcome, handler_time } = match control.unless_cut(sent).await {
        None => {
            span.in_scope(|| {
                tracing::warn!(
                    hook = lease.handler().hook,
                    "the handler's shutdown hook did not run: its handler was still running this \
                     invocation when the shutdown window ended"
                )
            });
            Invoked {
                outcome: Outcome::ShutDown,
                handler_time: received.elapsed(),
            }
        }
        Some(Some(Ok(invoked))) => invoked,
        Some(Some(Err(e))) => {
            lease.replace();
            Invoked {
                outcome: Outcome::Unavailable(Error::new(
                    "Runtime.HandlerUnavailable",
                    format!("the handler actor stopped before answering: {e}"),
                )),
                handler_time: Duration::ZERO,
            }
        }
        Some(None) => {
            span.in_scope(|| {
                tracing::error!(
                    arbiter = lease.arbiter_index(),
                    "the handler's thread is still blocked past the deadline: answering \
                     Runtime.Timeout; a fresh handler takes the slot, and the blocked one is dropped \
                     when its thread is free again"
                )
            });
            lease.abandon();
            Invoked {
                outcome: Outcome::TimedOut,
                handler_time: received.elapsed(),
            }
        }
    };
    let (errors, panics, timeouts) = outcome.counts();
    outcome::finish(&answer, outcome).instrument(span).await;
    drop(unanswered);
    let overhead = received.elapsed().saturating_sub(handler_time);
    let mut w = s.local.stats.borrow_mut();
    w.invocations += 1;
    w.errors += errors;
    w.panics += panics;
    w.timeouts += timeouts;
    w.bytes_in += bytes_in;
    w.handler_us.record(handler_time.as_micros() as u64);
    w.overhead_us.record(overhead.as_micros() as u64);
}

/// The monotonic instant of a wall-clock deadline in Unix epoch milliseconds.
fn instant_at(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

/// Exponential back-off with full jitter in the upper half, capped; the jitter keeps N
/// pollers from retrying in lockstep.
struct Backoff {
    failures: u32,
    seed: u64,
}

impl Backoff {
    fn new(slot: usize) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos() as u64;
        Self {
            failures: 0,
            seed: (nanos ^ (slot as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1,
        }
    }

    fn reset(&mut self) {
        self.failures = 0;
    }

    fn failures(&self) -> u32 {
        self.failures
    }

    fn next_delay(&mut self, jitter: bool) -> Duration {
        let exp = BACKOFF_BASE.saturating_mul(1 << self.failures.min(16));
        self.failures += 1;
        let full = exp.min(BACKOFF_CAP);
        if !jitter {
            return full;
        }
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let half = full / 2;
        half + Duration::from_nanos(self.seed % (half.as_nanos() as u64 + 1))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Makes the next N pollers that take an event panic, as a bug in the runtime would.
    pub(crate) static INJECTED_PANICS: AtomicUsize = AtomicUsize::new(0);

    #[cfg(feature = "local-server")]
    #[test]
    fn a_poller_that_panics_mid_invocation_is_restarted_its_event_answered_and_counted() {
        // The metrics summaries, as the runtime logs them: this test binary's one subscriber.
        let logged = Arc::new(parking_lot::Mutex::new(Vec::<u8>::new()));
        let sink = logged.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Sink(sink.clone()))
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber of these tests");
        let config = crate::Config::from_lookup(|name| (name == "LOCAL_LAMBDA_PORT").then(|| "0".to_owned())).unwrap();
        let function = crate::testing::TestFunction::start_with(1, move |rt| {
            rt.config(config)
                .run_fn(|event: serde_json::Value, _ctx| async move { Ok::<_, crate::Error>(event) })
        })
        .unwrap();
        INJECTED_PANICS.store(1, Ordering::SeqCst);
        let reply = function.invoke_raw(br#"{"first":1}"#).unwrap();
        assert!(reply.is_function_error(), "{reply:?}");
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["errorType"], "Runtime.WorkerCrashed", "{body}");
        assert_eq!(INJECTED_PANICS.load(Ordering::SeqCst), 0);
        // The supervisor restarted the poller: the slot serves the next event.
        let out: serde_json::Value = function.invoke(&serde_json::json!({"second": 2})).unwrap();
        assert_eq!(out, serde_json::json!({"second": 2}));
        function.stop().unwrap();
        // The summary written at the stop (the only one: other tests' functions write none)
        // counts the restart. (The crashed invocation is not among `invocations_count`: its
        // poller died before counting it; the guard it left behind answered it.)
        let logged = String::from_utf8_lossy(&logged.lock()).into_owned();
        let summary = logged
            .lines()
            .find(|l| l.contains("lambda_actors::metrics"))
            .unwrap_or_else(|| panic!("no metrics summary:\n{logged}"));
        assert!(summary.contains(" restarts_count=1 "), "{summary}");
    }

    /// A `tracing` writer into a shared buffer.
    struct Sink(Arc<parking_lot::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let mut b = Backoff::new(3);
        let delays: Vec<_> = (0..12).map(|_| b.next_delay(true)).collect();
        for d in &delays {
            assert!(*d <= BACKOFF_CAP, "{d:?}");
        }
        assert!(delays[0] <= BACKOFF_BASE);
        assert!(delays[11] >= BACKOFF_CAP / 2);
        let mut other = Backoff::new(4);
        let other: Vec<_> = (0..12).map(|_| other.next_delay(true)).collect();
        assert_ne!(delays, other, "two slots must not retry in lockstep");
        b.reset();
        assert_eq!(b.failures(), 0);
        assert_eq!(b.next_delay(false), BACKOFF_BASE);
    }
}
