//! The poller actor: one per concurrency slot. A permit for a free handler first, then
//! `GET /next`, then the invocation (routed by the pool to a handler, on whichever handler
//! arbiter is free), then the answer; again. Pollers run on the I/O arbiters, which run no user
//! code (in classic mode, the one arbiter runs both), so a handler that hogs its thread never
//! delays the Runtime-API traffic of the other slots.

use crate::answer::{Answer, AnswerError, AnswerState};
use crate::handler::Reply;
use crate::handler_actor::{HandlerLease, Invoke, Invoked, Outcome, Pool};
use crate::pool::Affinity;
use crate::shared::{ArbiterLocal, Shared};
use crate::supervisor::{Fatal, PollerDied, Supervisor};
use crate::writer::RESPONSE_REJECTED;
use crate::{Context, Error, RuntimeError};
use actix::prelude::*;
use lambda_actors_api::{ApiError, InvocationMeta, NextEvent, ReplyStatus};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
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

/// One concurrency slot. The loop runs as a spawned future (`ctx.spawn`), never `ctx.wait`,
/// so the mailbox stays live during the long poll.
pub(crate) struct Poller {
    slot: usize,
    /// The handler arbiter this poller's events go to first, when it may.
    affinity: Affinity,
    shared: Arc<Shared>,
    pool: Arc<Pool>,
    supervisor: Addr<Supervisor>,
    finished: bool,
}

impl Poller {
    pub(crate) fn new(
        slot: usize,
        affinity: Affinity,
        shared: Arc<Shared>,
        pool: Arc<Pool>,
        supervisor: Addr<Supervisor>,
    ) -> Self {
        Self {
            slot,
            affinity,
            shared,
            pool,
            supervisor,
            finished: false,
        }
    }
}

impl Actor for Poller {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.shared.pollers_alive.fetch_add(1, Ordering::Relaxed);
        let run = poll_loop(
            ArbiterLocal::current(),
            self.shared.clone(),
            self.pool.clone(),
            self.supervisor.clone(),
            (self.slot, self.affinity),
        );
        ctx.spawn(run.into_actor(self).map(|(), act, ctx| {
            act.finished = true;
            ctx.stop();
        }));
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.shared.pollers_alive.fetch_sub(1, Ordering::Relaxed);
        if !self.finished && !self.shared.is_stopping() {
            self.supervisor.do_send(PollerDied { slot: self.slot });
        }
    }
}

async fn poll_loop(
    local: Rc<ArbiterLocal>,
    shared: Arc<Shared>,
    pool: Arc<Pool>,
    supervisor: Addr<Supervisor>,
    (slot, affinity): (usize, Affinity),
) {
    let managed = shared.config.mode.is_managed();
    let mut backoff = Backoff::new(slot);
    loop {
        let Some(permit) = shared.until_drained(pool.acquire()).await else {
            return;
        };
        // Only the wait for the reply head gives way to the drain: once it is here the event
        // is delivered, and is read, run and answered like any other. A reply Lambda wrote just
        // before the signal may still be on its way, or unread in the socket: it gets
        // HEAD_GRACE after the drain starts before the call is dropped.
        let Some(head) = wait_for_head(&shared, local.client.next_head()).await else {
            return;
        };
        let (next, receiving) = match head {
            Ok(reply) => {
                let receiving = Receiving::new(&shared);
                (reply.read().await, Some(receiving))
            }
            Err(err) => (Err(err), None),
        };
        let err = match next {
            Ok(event) => {
                backoff.reset();
                let mut lease = pool.route(permit, affinity).await;
                invoke(&local, &shared, &mut lease, event, receiving).await;
                continue;
            }
            Err(err) => err,
        };
        drop(permit);
        if let Some(meta) = err.delivered() {
            answer_unreadable(meta, &err).await;
            continue;
        }
        drop(receiving);
        if err.is_bad_headers() {
            // Nothing to answer it with. Not at once again: a Runtime API that keeps sending
            // such replies must not turn the slots into a hot loop.
            let delay = backoff.next_delay(managed);
            tracing::error!(
                slot,
                "skipping an event that cannot be answered: {err}; next GET /next in {} ms",
                delay.as_millis()
            );
            if shared.until_drained(actix_rt::time::sleep(delay)).await.is_none() {
                return;
            }
            continue;
        }
        if !managed {
            if err.status() == Some(ReplyStatus::ContainerError) {
                supervisor.do_send(Fatal(RuntimeError::api(format!(
                    "GET /next failed: {err}; exiting as the Runtime API asks"
                ))));
                return;
            }
            if backoff.failures() >= CLASSIC_RETRIES {
                supervisor.do_send(Fatal(RuntimeError::api(format!(
                    "GET /next failed {} times in a row, last: {err}; exiting",
                    backoff.failures()
                ))));
                return;
            }
        }
        let delay = backoff.next_delay(managed);
        tracing::warn!(slot, "GET /next failed: {err}; retrying in {} ms", delay.as_millis());
        if shared.until_drained(actix_rt::time::sleep(delay)).await.is_none() {
            return;
        }
    }
}

/// How long a parked `/next` may still deliver after the drain starts.
pub(crate) const HEAD_GRACE: Duration = Duration::from_millis(50);

/// The `/next` reply head, unless the drain started and none came within [`HEAD_GRACE`].
/// Counted in [`Shared::polling`] meanwhile, so the drain knows when no event can arrive.
async fn wait_for_head<F: std::future::Future>(shared: &Shared, head: F) -> Option<F::Output> {
    shared.polling.fetch_add(1, Ordering::SeqCst);
    if shared.is_draining() {
        // Not sent yet: no new `/next` once the drain has begun.
        shared.polling.fetch_sub(1, Ordering::SeqCst);
        return None;
    }
    let mut head = std::pin::pin!(head);
    let got = match shared.until_drained(head.as_mut()).await {
        Some(reply) => Some(reply),
        None => tokio::time::timeout(HEAD_GRACE, head).await.ok(),
    };
    shared.polling.fetch_sub(1, Ordering::SeqCst);
    got
}

/// Marks a poller between a `/next` reply head and handing its event over (see
/// [`Shared::receiving`]).
struct Receiving<'a>(&'a Shared);

impl<'a> Receiving<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.receiving.fetch_add(1, Ordering::SeqCst);
        Self(shared)
    }
}

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        self.0.receiving.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts an invocation as in flight, and answers it if the poller dies before it does.
struct InFlight<'a> {
    shared: &'a Shared,
    answer: Answer,
}

impl<'a> InFlight<'a> {
    fn new(shared: &'a Shared, answer: Answer) -> Self {
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        Self { shared, answer }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.answer.state() == AnswerState::Pending {
            let answer = self.answer.clone();
            actix_rt::spawn(async move {
                let err = Error::new(
                    "Runtime.WorkerCrashed",
                    "the runtime worker serving this invocation stopped",
                );
                report(&answer, answer.error(&err).await);
            });
        }
    }
}

async fn invoke(
    local: &ArbiterLocal,
    shared: &Shared,
    lease: &mut HandlerLease,
    event: NextEvent,
    receiving: Option<Receiving<'_>>,
) {
    let received = Instant::now();
    let NextEvent { meta, body } = event;
    let bytes_in = body.len() as u64;
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
    let in_flight = InFlight::new(shared, answer.clone());
    #[cfg(test)]
    if tests::INJECTED_PANICS
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        panic!("injected poller fault");
    }
    let release = lease.release();
    let sent = lease.handler().send(Invoke {
        event: body,
        ctx,
        answer: answer.clone(),
        reclaim_at,
        span: span.clone(),
        release,
    });
    // Queued to the handler: a shutdown hook asked for from now on runs after it.
    drop(receiving);
    // The handler actor reclaims its own invocation at `reclaim_at` — if its thread lets it.
    // A thread blocked in handler code cannot: then the poller, on its own thread, answers.
    let sent = async move {
        match reclaim_at {
            Some(at) => tokio::time::timeout_at((at + BLOCKED_MARGIN).into(), sent).await.ok(),
            None => Some(sent.await),
        }
    };
    let Invoked { outcome, handler_time } = match shared.until_cut(sent).await {
        None => Invoked {
            outcome: Outcome::ShutDown,
            handler_time: received.elapsed(),
        },
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
    let (errors, panics, timeouts) = match &outcome {
        Outcome::Done(Ok(_)) => (0, 0, 0),
        Outcome::Done(Err(_)) | Outcome::Unavailable(_) => (1, 0, 0),
        Outcome::Panicked(_) => (1, 1, 0),
        Outcome::TimedOut => (1, 0, 1),
        Outcome::ShutDown => (1, 0, 0),
    };
    finish(&answer, outcome).instrument(span).await;
    drop(in_flight);
    let overhead = received.elapsed().saturating_sub(handler_time);
    let mut w = local.stats.borrow_mut();
    w.invocations += 1;
    w.errors += errors;
    w.panics += panics;
    w.timeouts += timeouts;
    w.bytes_in += bytes_in;
    w.handler_us.record(handler_time.as_micros() as u64);
    w.overhead_us.record(overhead.as_micros() as u64);
}

/// Gives the invocation its one answer, according to how the handler ended.
async fn finish(answer: &Answer, outcome: Outcome) {
    if answer.state() == AnswerState::Streaming {
        return finish_stream(answer, outcome).await;
    }
    let pending = answer.state() == AnswerState::Pending;
    let result = match outcome {
        Outcome::Done(Ok(Reply::Buffered { body, content_type })) => answer.respond(body, content_type).await,
        Outcome::Done(Ok(Reply::Answered)) if pending => {
            let err = Error::new("Runtime.NoResponse", "the handler returned without sending a response");
            answer.error(&err).await
        }
        Outcome::Done(Ok(Reply::Answered)) => Ok(()),
        Outcome::Done(Err(err)) if pending => {
            tracing::warn!(errorType = err.error_type(), "handler failed: {}", err.message());
            answer.error(&err).await
        }
        Outcome::Done(Err(err)) if err.error_type() == RESPONSE_REJECTED => {
            tracing::warn!(errorType = err.error_type(), "{}", err.message());
            Ok(())
        }
        Outcome::Done(Err(err)) => {
            tracing::error!(
                errorType = err.error_type(),
                "handler failed after its response was sent: {}",
                err.message()
            );
            Ok(())
        }
        Outcome::Panicked(message) => {
            tracing::error!("handler panicked: {message}; the handler was rebuilt");
            if pending {
                answer.error(&panic_error(message)).await
            } else {
                Ok(())
            }
        }
        Outcome::TimedOut => {
            tracing::error!("handler still running past its deadline: dropped it and reclaimed the slot");
            if pending {
                answer.error(&timeout_error()).await
            } else {
                Ok(())
            }
        }
        Outcome::Unavailable(err) => {
            tracing::error!("no handler to run the invocation: {err}");
            answer.error(&err).await
        }
        Outcome::ShutDown => {
            tracing::error!("handler still running when the shutdown window ended: answered Runtime.Shutdown");
            if pending {
                answer.error(&shutdown_error()).await
            } else {
                Ok(())
            }
        }
    };
    report(answer, result);
}

/// What a caught panic is reported as, on `/error` or in stream trailers.
fn panic_error(message: String) -> Error {
    Error::new("Runtime.HandlerPanic", message)
}

/// What a reclaimed handler is reported as, on `/error` or in stream trailers.
fn timeout_error() -> Error {
    Error::new("Runtime.Timeout", "the handler did not finish before its deadline")
}

/// What an invocation still running at the end of the shutdown window is reported as.
fn shutdown_error() -> Error {
    Error::new(
        "Runtime.Shutdown",
        "the execution environment shut down before the handler finished \
         (LAMBDA_ACTORS_SHUTDOWN_GRACE_MS bounds the wait)",
    )
}

/// Ends a stream the handler left open: normally if it returned `Ok`, else with error trailers.
async fn finish_stream(answer: &Answer, outcome: Outcome) {
    let Some(stream) = answer.stream() else {
        return;
    };
    let result = match outcome {
        Outcome::Done(Ok(_)) => stream.finish().await,
        Outcome::Done(Err(err)) => {
            tracing::warn!(
                errorType = err.error_type(),
                "handler failed mid-stream: {}",
                err.message()
            );
            stream.fail(&err).await
        }
        Outcome::Panicked(message) => {
            tracing::error!("handler panicked mid-stream: {message}; the handler was rebuilt");
            stream.fail(&panic_error(message)).await
        }
        Outcome::TimedOut => {
            tracing::error!("handler still streaming past its deadline: dropped it and reclaimed the slot");
            stream.fail(&timeout_error()).await
        }
        Outcome::Unavailable(err) => stream.fail(&err).await,
        Outcome::ShutDown => {
            tracing::error!("handler still streaming when the shutdown window ended: ended it with error trailers");
            stream.fail(&shutdown_error()).await
        }
    };
    answer.stream_ended();
    if let Err(e) = result {
        tracing::warn!(
            requestId = answer.request_id(),
            "could not end the response stream: {e}"
        );
    }
}

/// Logs what Lambda said to an answer; none of these stops the slot.
fn report(answer: &Answer, result: Result<(), AnswerError>) {
    let err = match result {
        Ok(()) => return,
        Err(AnswerError::AlreadyAnswered) => {
            tracing::error!(
                requestId = answer.request_id(),
                "refused a second answer to the same invocation"
            );
            return;
        }
        Err(AnswerError::Api(err)) => err,
    };
    log_api_reply(answer.request_id(), &err);
}

fn log_api_reply(request_id: &str, err: &ApiError) {
    match err.status() {
        Some(ReplyStatus::Gone) => tracing::info!(requestId = request_id, "answer not taken: {err}"),
        Some(ReplyStatus::TooLarge) => tracing::error!(requestId = request_id, "answer rejected: {err}"),
        _ => tracing::warn!(requestId = request_id, "answer not taken: {err}"),
    }
}

/// An event whose headers named it but whose body could not be read still gets its answer.
async fn answer_unreadable(meta: &InvocationMeta, err: &ApiError) {
    tracing::error!(requestId = %meta.request_id, "cannot read the event: {err}");
    let answer = Answer::new(Context::new(meta.clone(), Default::default()));
    let error = Error::new("Runtime.InvalidEvent", err.to_string());
    report(&answer, answer.error(&error).await);
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
    fn a_poller_that_panics_mid_invocation_is_restarted_and_its_event_answered() {
        let function = crate::testing::TestFunction::start_with(1, |rt| {
            rt.run_fn(|event: serde_json::Value, _ctx| async move { Ok::<_, crate::Error>(event) })
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
