//! Matching invokes with the runtime's parked `GET /next` requests: the queue, the slots, the
//! invocations in flight and their deadlines.
//!
//! An invoke becomes a [`Pending`] and gets a [`Ticket`]. A `/next` takes the oldest pending
//! invoke, or parks; an invoke that finds a parked `/next` is handed straight to it. When the
//! `/next` writes the event, the invocation becomes *in flight* under a fresh request id until
//! the runtime answers it with `/response` or `/error` (it *claims* it), or its deadline
//! passes. A slot counts as busy from the hand-off until the answer is complete (a streamed
//! answer: until the stream ends).

use crate::ids::IdGen;
use crate::log_tail::LogTails;
use crate::{InitError, LocalConfig, LocalStats};
use bytes::Bytes;
use lambda_actors_api::ErrorBody;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};

/// How many timed-out request ids are remembered, to answer a late `/response` with 410.
const EXPIRED_MEMORY: usize = 1024;

/// The state every connection of one server shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) cfg: LocalConfig,
    /// `arn:aws:lambda:us-east-1:000000000000:function:<name>`.
    pub(crate) arn: String,
    pub(crate) ids: IdGen,
    state: Mutex<State>,
    busy: Arc<AtomicUsize>,
    invocations: AtomicU64,
    /// Log lines of the invocations whose caller asked for `X-Amz-Log-Type: Tail`.
    pub(crate) tails: LogTails,
    /// Telemetry API subscriptions and the records waiting for them.
    pub(crate) telemetry: crate::telemetry_api::TelemetryHub,
    /// Set to `true` by [`LocalServer::stop`](crate::LocalServer::stop).
    pub(crate) shutdown: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct State {
    /// `/next` requests waiting for an invoke.
    parked: VecDeque<oneshot::Sender<Pending>>,
    /// Invokes waiting for a `/next`.
    pending: VecDeque<Pending>,
    in_flight: HashMap<String, InFlight>,
    expired: VecDeque<String>,
    init_error: Option<InitError>,
    /// A `/next` has been seen: init is over.
    initialized: bool,
    /// Registered extensions.
    extensions: Vec<Extension>,
    next_ticket: u64,
}

/// A registered extension: what it asked for, and its events not yet fetched.
#[derive(Debug)]
struct Extension {
    id: String,
    invoke: bool,
    shutdown: bool,
    events: VecDeque<String>,
    /// Its parked `event/next`, if any.
    waiter: Option<oneshot::Sender<String>>,
}

impl Extension {
    fn push(&mut self, event: String) {
        match self.waiter.take() {
            Some(w) => {
                if let Err(event) = w.send(event) {
                    self.events.push_back(event);
                }
            }
            None => self.events.push_back(event),
        }
    }
}

/// What `event/next` gets: an event now, or a receiver for the next one.
pub(crate) enum ExtensionNext {
    Ready(String),
    Parked(oneshot::Receiver<String>),
    Unknown,
}

/// What a caller sent, as the runtime will see it.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) body: Bytes,
    pub(crate) content_type: Option<String>,
    pub(crate) trace_id: Option<String>,
    /// Decoded client context JSON.
    pub(crate) client_context: Option<String>,
    pub(crate) tenant_id: Option<String>,
    /// The caller asked for the invocation's log tail (`X-Amz-Log-Type: Tail`).
    pub(crate) log_tail: bool,
}

/// An invoke not yet given to the runtime.
#[derive(Debug)]
pub(crate) struct Pending {
    ticket: u64,
    event: Event,
    started: oneshot::Sender<Started>,
    answer: oneshot::Sender<Answer>,
    /// Held from the hand-off to a `/next` on.
    slot: Option<SlotGuard>,
}

impl Pending {
    /// The caller gave up (disconnected or timed out in the queue).
    pub(crate) fn is_abandoned(&self) -> bool {
        self.answer.is_closed()
    }
}

#[derive(Debug)]
struct InFlight {
    invocation_id: String,
    deadline: Instant,
    answer: oneshot::Sender<Answer>,
    slot: SlotGuard,
}

/// Told to the caller when its invoke reaches the runtime.
#[derive(Debug)]
pub(crate) struct Started {
    pub(crate) request_id: String,
    pub(crate) deadline: Instant,
}

/// How the runtime answered.
#[derive(Debug)]
pub(crate) enum Answer {
    /// `/response`, buffered.
    Response { content_type: Option<String>, body: Bytes },
    /// `/error`, a response the server refused, or an init error: the caller sees a function
    /// error (`X-Amz-Function-Error: Unhandled`).
    Error { error_type: Option<String>, body: Bytes },
    /// `/response` in streaming mode; the items follow as the runtime sends them.
    Stream {
        content_type: Option<String>,
        items: mpsc::Receiver<StreamItem>,
    },
}

impl Answer {
    pub(crate) fn error(body: &ErrorBody) -> Self {
        Self::Error {
            error_type: Some(body.error_type.clone()),
            body: body.to_json().into(),
        }
    }
}

/// One piece of a streamed answer.
#[derive(Debug)]
pub(crate) enum StreamItem {
    Data(Bytes),
    /// The stream is over; with an error when the runtime sent error trailers (or broke off).
    End(Option<StreamError>),
}

/// A mid-stream error, as the runtime's trailers carried it.
#[derive(Debug, Clone)]
pub(crate) struct StreamError {
    pub(crate) error_type: String,
    /// Base64 of the error JSON, as received (header-safe).
    pub(crate) body_b64: String,
}

/// Counts one busy slot while alive.
#[derive(Debug)]
pub(crate) struct SlotGuard(Arc<AtomicUsize>);

impl SlotGuard {
    fn new(busy: &Arc<AtomicUsize>) -> Self {
        busy.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(busy))
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why an invoke was not accepted.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Every slot busy and the queue full (or rejecting when busy).
    Busy,
    /// The runtime reported an init error: nothing will run.
    InitFailed(InitError),
}

/// Why an accepted invoke got no answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The runtime did not take it with `/next` within the timeout.
    NotStarted,
    /// The runtime took it but did not answer before the deadline.
    TimedOut { request_id: String },
    /// The server is stopping.
    Lost,
}

/// What a `/next` gets from [`Shared::next_or_park`].
#[derive(Debug)]
pub(crate) enum Next {
    Ready(Pending),
    Parked(oneshot::Receiver<Pending>),
}

/// What `/response` or `/error` gets from [`Shared::claim`].
#[derive(Debug)]
pub(crate) enum Claim {
    Claimed(Claimed),
    /// No such request id, or already answered.
    Unknown,
    /// The invocation already timed out.
    Expired,
    /// The `Lambda-Runtime-Invocation-Id` echo does not match.
    WrongAttempt,
}

/// An invocation whose answer is being received. Dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Claimed {
    answer: Option<oneshot::Sender<Answer>>,
    pub(crate) deadline: Instant,
    _slot: SlotGuard,
}

impl Claimed {
    /// Passes the answer to the caller (who may be gone: then it is dropped). Only the first
    /// answer counts.
    pub(crate) fn send(&mut self, answer: Answer) {
        if let Some(tx) = self.answer.take() {
            let _ = tx.send(answer);
        }
    }
}

/// The headers of a `/next` reply.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) request_id: String,
    pub(crate) invocation_id: String,
    pub(crate) deadline_ms: u64,
    pub(crate) trace_id: String,
    pub(crate) event: Event,
}

impl Shared {
    pub(crate) fn new(cfg: LocalConfig) -> Self {
        let arn = format!("arn:aws:lambda:us-east-1:000000000000:function:{}", cfg.function_name);
        Self {
            cfg,
            arn,
            ids: IdGen::new(),
            state: Mutex::new(State::default()),
            busy: Arc::new(AtomicUsize::new(0)),
            invocations: AtomicU64::new(0),
            tails: LogTails::default(),
            telemetry: Default::default(),
            shutdown: watch::channel(false).0,
        }
    }

    /// Accepts an invoke: hands it to a parked `/next`, or queues it if there is room.
    pub(crate) fn submit(self: &Arc<Self>, event: Event) -> Result<Ticket, Refusal> {
        let log_tail = event.log_tail;
        let mut st = self.state.lock();
        if let Some(err) = &st.init_error {
            return Err(Refusal::InitFailed(err.clone()));
        }
        st.next_ticket += 1;
        let ticket = st.next_ticket;
        let (started_tx, started_rx) = oneshot::channel();
        let (answer_tx, answer_rx) = oneshot::channel();
        let pending = Pending {
            ticket,
            event,
            started: started_tx,
            answer: answer_tx,
            slot: None,
        };
        if let Some(pending) = self.offer(&mut st, pending) {
            // Slots whose poller is between invocations still count as room: their `/next`
            // is on its way. Past them, the queue (none when rejecting).
            let free = self
                .cfg
                .max_concurrency
                .saturating_sub(self.busy.load(Ordering::SeqCst));
            let queue = if self.cfg.reject_when_busy {
                0
            } else {
                self.cfg.queue_limit
            };
            if st.pending.len() >= free + queue {
                return Err(Refusal::Busy);
            }
            st.pending.push_back(pending);
        }
        Ok(Ticket {
            shared: Arc::clone(self),
            ticket,
            started: Some(started_rx),
            answer: answer_rx,
            admitted: Instant::now(),
            log_tail,
            request_id: None,
        })
    }

    /// Hands `pending` to the first parked `/next` still there; gives it back if none is.
    fn offer(&self, st: &mut State, mut pending: Pending) -> Option<Pending> {
        while let Some(poller) = st.parked.pop_front() {
            pending.slot = Some(SlotGuard::new(&self.busy));
            match poller.send(pending) {
                Ok(()) => return None,
                Err(back) => {
                    pending = back;
                    pending.slot = None;
                }
            }
        }
        Some(pending)
    }

    /// For `/extension/register`: the new extension's identifier and whether init was already
    /// over, or why not (Lambda allows 10 extensions, and on Managed Instances — more than one
    /// slot — only `SHUTDOWN` may be asked for).
    ///
    /// Lambda closes registration with the runtime's first `/next`. Here the server lives in
    /// the function's own process, so an external extension started beside it cannot be
    /// earlier: a late one is accepted, and the caller logs that Lambda would refuse it.
    pub(crate) fn register_extension(
        &self,
        invoke: bool,
        shutdown: bool,
    ) -> Result<(String, bool), (&'static str, &'static str)> {
        let mut st = self.state.lock();
        if st.extensions.len() >= 10 {
            return Err(("Extension.TooManyExtensions", "Lambda allows at most 10 extensions"));
        }
        if invoke && self.cfg.max_concurrency > 1 {
            return Err((
                "Extension.InvalidEvents",
                "on Managed Instances extensions may register for SHUTDOWN only",
            ));
        }
        let id = self.ids.uuid();
        st.extensions.push(Extension {
            id: id.clone(),
            invoke,
            shutdown,
            events: VecDeque::new(),
            waiter: None,
        });
        Ok((id, st.initialized))
    }

    /// Whether `id` is a registered extension's identifier.
    pub(crate) fn is_extension(&self, id: &str) -> bool {
        self.state.lock().extensions.iter().any(|e| e.id == id)
    }

    /// For `/extension/event/next`: the extension's next event, or a place to wait for it.
    pub(crate) fn next_extension_event(&self, id: &str) -> ExtensionNext {
        let mut st = self.state.lock();
        let Some(ext) = st.extensions.iter_mut().find(|e| e.id == id) else {
            return ExtensionNext::Unknown;
        };
        if let Some(event) = ext.events.pop_front() {
            return ExtensionNext::Ready(event);
        }
        let (tx, rx) = oneshot::channel();
        ext.waiter = Some(tx);
        ExtensionNext::Parked(rx)
    }

    /// Tells every extension that asked for `SHUTDOWN` that the server is stopping.
    pub(crate) fn shutdown_extensions(&self) {
        let deadline_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(Duration::from_secs(2))
            .as_millis();
        let event = format!(r#"{{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":{deadline_ms}}}"#);
        for ext in self.state.lock().extensions.iter_mut().filter(|e| e.shutdown) {
            ext.push(event.clone());
        }
    }

    /// For `/next`: the oldest pending invoke, or a receiver that gets the next one.
    pub(crate) fn next_or_park(&self) -> Next {
        let mut st = self.state.lock();
        st.initialized = true;
        while let Some(mut pending) = st.pending.pop_front() {
            if !pending.is_abandoned() {
                pending.slot = Some(SlotGuard::new(&self.busy));
                return Next::Ready(pending);
            }
        }
        st.parked.retain(|p| !p.is_closed());
        let (tx, rx) = oneshot::channel();
        st.parked.push_back(tx);
        Next::Parked(rx)
    }

    /// Gives back an invoke whose `/next` went away before it was written.
    pub(crate) fn requeue(&self, mut pending: Pending) {
        pending.slot = None;
        let mut st = self.state.lock();
        if let Some(pending) = self.offer(&mut st, pending) {
            st.pending.push_front(pending);
        }
    }

    /// Starts the invocation: a fresh request id, its deadline, in flight from now on. `None`
    /// when the caller is gone.
    pub(crate) fn start(&self, pending: Pending) -> Option<Delivery> {
        let Pending {
            event,
            started,
            answer,
            slot,
            ..
        } = pending;
        let slot = slot?;
        let request_id = self.ids.uuid();
        let invocation_id = self.ids.uuid();
        let deadline = Instant::now() + self.cfg.timeout;
        let deadline_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(self.cfg.timeout)
            .as_millis() as u64;
        let trace_id = event.trace_id.clone().unwrap_or_else(|| self.ids.trace_header());
        let mut st = self.state.lock();
        let begun = Started {
            request_id: request_id.clone(),
            deadline,
        };
        if answer.is_closed() || started.send(begun).is_err() {
            return None;
        }
        st.in_flight.insert(
            request_id.clone(),
            InFlight {
                invocation_id: invocation_id.clone(),
                deadline,
                answer,
                slot,
            },
        );
        let invoke = serde_json::json!({
            "eventType": "INVOKE",
            "deadlineMs": deadline_ms,
            "requestId": request_id,
            "invokedFunctionArn": self.arn,
            "tracing": {"type": "X-Amzn-Trace-Id", "value": trace_id},
        })
        .to_string();
        for ext in st.extensions.iter_mut().filter(|e| e.invoke) {
            ext.push(invoke.clone());
        }
        drop(st);
        self.telemetry.push(
            "platform.start",
            serde_json::json!({ "requestId": request_id, "version": "$LATEST" }),
        );
        if event.log_tail {
            // Before the event is written: every line the function logs for it is captured.
            self.tails.begin(&request_id);
        }
        self.invocations.fetch_add(1, Ordering::Relaxed);
        Some(Delivery {
            request_id,
            invocation_id,
            deadline_ms,
            trace_id,
            event,
        })
    }

    /// For `/response` and `/error`: takes the invocation out of flight so that only one
    /// answer counts.
    pub(crate) fn claim(&self, request_id: &str, invocation_id: Option<&str>) -> Claim {
        let mut st = self.state.lock();
        let Some(entry) = st.in_flight.get(request_id) else {
            return if st.expired.iter().any(|id| id == request_id) {
                Claim::Expired
            } else {
                Claim::Unknown
            };
        };
        if invocation_id.is_some_and(|id| id != entry.invocation_id) {
            return Claim::WrongAttempt;
        }
        let entry = st.in_flight.remove(request_id).expect("looked up above");
        drop(st);
        self.telemetry.push(
            "platform.report",
            serde_json::json!({ "requestId": request_id, "status": "success" }),
        );
        Claim::Claimed(Claimed {
            answer: Some(entry.answer),
            deadline: entry.deadline,
            _slot: entry.slot,
        })
    }

    /// Fails an invocation whose `/next` reply could not be written.
    pub(crate) fn fail(&self, request_id: &str, error: &ErrorBody) {
        if let Claim::Claimed(mut claimed) = self.claim(request_id, None) {
            claimed.send(Answer::error(error));
        }
    }

    /// Records `/init/error`. `false` when init already failed or already completed.
    pub(crate) fn init_failed(&self, error: InitError) -> bool {
        let mut st = self.state.lock();
        if st.init_error.is_some() || st.initialized {
            return false;
        }
        let answer = || Answer::Error {
            error_type: Some(error.error_type.clone()),
            body: Bytes::from(error.body.clone()),
        };
        for pending in st.pending.drain(..) {
            let _ = pending.answer.send(answer());
        }
        st.init_error = Some(error);
        true
    }

    pub(crate) fn init_error(&self) -> Option<InitError> {
        self.state.lock().init_error.clone()
    }

    pub(crate) fn stats(&self) -> LocalStats {
        let st = self.state.lock();
        LocalStats {
            busy: self.busy.load(Ordering::SeqCst),
            queued: st.pending.iter().filter(|p| !p.is_abandoned()).count(),
            polling: st.parked.iter().filter(|p| !p.is_closed()).count(),
            invocations: self.invocations.load(Ordering::Relaxed),
        }
    }

    /// The caller timed out: the invocation leaves flight (its slot is free again) and a late
    /// answer gets 410. `false` if the runtime already claimed it.
    fn expire(&self, request_id: &str) -> bool {
        let mut st = self.state.lock();
        let Some(entry) = st.in_flight.remove(request_id) else {
            return false;
        };
        if st.expired.len() == EXPIRED_MEMORY {
            st.expired.pop_front();
        }
        st.expired.push_back(request_id.to_owned());
        drop(st);
        drop(entry);
        true
    }

    /// Drops a queued invoke; `false` if it already left the queue.
    fn unqueue(&self, ticket: u64) -> bool {
        let mut st = self.state.lock();
        let before = st.pending.len();
        st.pending.retain(|p| p.ticket != ticket);
        st.pending.len() != before
    }
}

/// An accepted invoke, waiting for its answer. Dropping it gives up: a queued invoke leaves
/// the queue; one in flight runs on and its answer is discarded.
#[derive(Debug)]
pub(crate) struct Ticket {
    shared: Arc<Shared>,
    ticket: u64,
    started: Option<oneshot::Receiver<Started>>,
    answer: oneshot::Receiver<Answer>,
    admitted: Instant,
    /// The caller asked for `X-Amz-Log-Type: Tail`.
    log_tail: bool,
    /// Known once the runtime has taken the invoke.
    request_id: Option<String>,
}

/// A finished invoke: its request id (if it reached the runtime), deadline and answer.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) request_id: Option<String>,
    pub(crate) deadline: Instant,
    pub(crate) answer: Answer,
}

impl Ticket {
    /// Waits for the runtime to take the invoke (at most the timeout), then for its answer
    /// (at most until the deadline).
    pub(crate) async fn wait(&mut self) -> Result<Outcome, Failure> {
        let timeout = self.shared.cfg.timeout;
        let started = match self.started.as_mut() {
            None => None,
            Some(rx) => match tokio::time::timeout_at((self.admitted + timeout).into(), &mut *rx).await {
                Ok(Ok(started)) => Some(started),
                // Failed before it started (init error): the answer is already there.
                Ok(Err(_)) => None,
                Err(_) => {
                    if self.shared.unqueue(self.ticket) {
                        self.started = None;
                        return Err(Failure::NotStarted);
                    }
                    // Just handed to a `/next`: it may have started this instant.
                    match rx.try_recv() {
                        Ok(started) => Some(started),
                        Err(_) => {
                            self.answer.close();
                            return Err(Failure::NotStarted);
                        }
                    }
                }
            },
        };
        self.started = None;
        if let Some(started) = &started {
            self.request_id = Some(started.request_id.clone());
        }
        let Some(Started { request_id, deadline }) = started else {
            return match self.answer.try_recv() {
                Ok(answer) => Ok(Outcome {
                    request_id: None,
                    deadline: Instant::now() + timeout,
                    answer,
                }),
                Err(_) => Err(Failure::Lost),
            };
        };
        let answer = match tokio::time::timeout_at(deadline.into(), &mut self.answer).await {
            Ok(answer) => answer,
            Err(_) if self.shared.expire(&request_id) => return Err(Failure::TimedOut { request_id }),
            // Claimed just now: the answer is being read and comes soon.
            Err(_) => (&mut self.answer).await,
        };
        match answer {
            Ok(answer) => Ok(Outcome {
                request_id: Some(request_id),
                deadline,
                answer,
            }),
            Err(_) => Err(Failure::Lost),
        }
    }
}

impl Ticket {
    /// Base64 of the last 4 KB of the invocation's log lines, framed by `START`, `END` and
    /// `REPORT`, when the caller asked for `X-Amz-Log-Type: Tail` and the runtime took the
    /// invoke. Ends the capture.
    pub(crate) fn log_result(&self) -> Option<String> {
        let request_id = self.request_id.as_deref().filter(|_| self.log_tail)?;
        self.shared.tails.finish(request_id)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.started.is_some() {
            self.shared.unqueue(self.ticket);
        }
        // A caller that went away leaves no capture behind.
        if let Some(request_id) = self.request_id.as_deref().filter(|_| self.log_tail) {
            self.shared.tails.discard(request_id);
        }
    }
}

/// How long `deadline` is from now, at least `floor`.
pub(crate) fn until(deadline: Instant, floor: Duration) -> Duration {
    deadline.saturating_duration_since(Instant::now()).max(floor)
}
