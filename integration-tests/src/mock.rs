//! [`MockRuntimeApi`]: the Lambda Runtime API on a real socket, scripted and recorded.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::io::{self, BufReader, ErrorKind};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::http::{self, ChunkInfo, Head};

/// The Runtime API version prefix every endpoint lives under.
pub const API_VERSION: &str = "/2018-06-01";
/// The path segment of the Extensions API, under the same prefix.
pub const EXTENSION_API: &str = "/2020-01-01/extension/";

/// How long a parked `/next` sleeps between checks that its client is still connected.
const PARK_POLL: Duration = Duration::from_millis(50);

static NEXT_REQUEST_ID: AtomicU64 = AtomicU64::new(1);

/// Milliseconds since the Unix epoch, now.
pub fn now_epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The deadline an [`Event`] is delivered with (`Lambda-Runtime-Deadline-Ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// No `Lambda-Runtime-Deadline-Ms` header at all.
    Absent,
    /// This long after the event is handed out by `/next`.
    After(Duration),
    /// This exact value, in Unix epoch milliseconds.
    AtEpochMs(u64),
}

/// An event to queue, with the headers `/next` will deliver it with.
///
/// The request id is generated (unique within the test process) unless set; the deadline is 60 s
/// after delivery unless set; the function ARN has a default; every other optional header is
/// absent unless set.
#[derive(Debug, Clone)]
pub struct Event {
    body: Vec<u8>,
    request_id: Option<String>,
    deadline: Deadline,
    function_arn: String,
    content_type: String,
    trace_id: Option<String>,
    client_context: Option<String>,
    cognito_identity: Option<String>,
    tenant_id: Option<String>,
    invocation_id: Option<String>,
    extra_headers: Vec<(String, String)>,
    raw_headers: Vec<(String, Vec<u8>)>,
    omitted_headers: Vec<String>,
}

impl Event {
    /// An event with these raw body bytes (they need not be valid JSON).
    pub fn raw(body: impl Into<Vec<u8>>) -> Self {
        Self {
            body: body.into(),
            request_id: None,
            deadline: Deadline::After(Duration::from_secs(60)),
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:testbed".to_string(),
            content_type: "application/json".to_string(),
            trace_id: None,
            client_context: None,
            cognito_identity: None,
            tenant_id: None,
            invocation_id: None,
            extra_headers: Vec::new(),
            raw_headers: Vec::new(),
            omitted_headers: Vec::new(),
        }
    }

    /// An event whose body is this JSON value.
    pub fn json(value: &serde_json::Value) -> Self {
        Self::raw(serde_json::to_vec(value).expect("a JSON value always serializes"))
    }

    /// Sets `Lambda-Runtime-Aws-Request-Id` (otherwise a unique id is generated).
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// Sets the deadline header policy.
    pub fn deadline(mut self, deadline: Deadline) -> Self {
        self.deadline = deadline;
        self
    }

    /// Sends no `Lambda-Runtime-Deadline-Ms` header.
    pub fn no_deadline(self) -> Self {
        self.deadline(Deadline::Absent)
    }

    /// Sets `Lambda-Runtime-Invoked-Function-Arn`.
    pub fn function_arn(mut self, arn: impl Into<String>) -> Self {
        self.function_arn = arn.into();
        self
    }

    /// Sets the event's `Content-Type` (default `application/json`).
    pub fn content_type(mut self, value: impl Into<String>) -> Self {
        self.content_type = value.into();
        self
    }

    /// Sets `Lambda-Runtime-Trace-Id`.
    pub fn trace_id(mut self, value: impl Into<String>) -> Self {
        self.trace_id = Some(value.into());
        self
    }

    /// Sets `Lambda-Runtime-Client-Context` (a JSON string).
    pub fn client_context(mut self, value: impl Into<String>) -> Self {
        self.client_context = Some(value.into());
        self
    }

    /// Sets `Lambda-Runtime-Cognito-Identity` (a JSON string).
    pub fn cognito_identity(mut self, value: impl Into<String>) -> Self {
        self.cognito_identity = Some(value.into());
        self
    }

    /// Sets `Lambda-Runtime-Aws-Tenant-Id`.
    pub fn tenant_id(mut self, value: impl Into<String>) -> Self {
        self.tenant_id = Some(value.into());
        self
    }

    /// Sets `Lambda-Runtime-Invocation-Id`.
    pub fn invocation_id(mut self, value: impl Into<String>) -> Self {
        self.invocation_id = Some(value.into());
        self
    }

    /// Adds any other header to the `/next` reply.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_headers.push((name.into(), value.into()));
        self
    }

    /// Adds a header whose value is these raw bytes (they need not be UTF-8: `obs-text` such as
    /// `b"\xff\xfe"` is legal HTTP), after every other header. CR, LF and NUL are not allowed.
    pub fn raw_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        let value = value.into();
        assert!(
            !value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "a header value cannot hold CR, LF or NUL"
        );
        self.raw_headers.push((name.into(), value));
        self
    }

    /// Leaves a header out of the `/next` reply, even a default one such as
    /// `Lambda-Runtime-Aws-Request-Id` or `Lambda-Runtime-Invoked-Function-Arn` (the mock still
    /// tracks the event under its request id). For testing malformed deliveries.
    pub fn omit_header(mut self, name: impl Into<String>) -> Self {
        self.omitted_headers.push(name.into());
        self
    }

    /// The headers of the `/next` reply, with the deadline resolved now.
    fn reply_headers(&self, request_id: &str) -> Vec<(String, String)> {
        let mut h = vec![
            ("Content-Type".to_string(), self.content_type.clone()),
            ("Lambda-Runtime-Aws-Request-Id".to_string(), request_id.to_string()),
            (
                "Lambda-Runtime-Invoked-Function-Arn".to_string(),
                self.function_arn.clone(),
            ),
        ];
        let deadline = match self.deadline {
            Deadline::Absent => None,
            Deadline::After(d) => Some(now_epoch_ms() + d.as_millis() as u64),
            Deadline::AtEpochMs(ms) => Some(ms),
        };
        if let Some(ms) = deadline {
            h.push(("Lambda-Runtime-Deadline-Ms".to_string(), ms.to_string()));
        }
        let optional = [
            ("Lambda-Runtime-Trace-Id", &self.trace_id),
            ("Lambda-Runtime-Client-Context", &self.client_context),
            ("Lambda-Runtime-Cognito-Identity", &self.cognito_identity),
            ("Lambda-Runtime-Aws-Tenant-Id", &self.tenant_id),
            ("Lambda-Runtime-Invocation-Id", &self.invocation_id),
        ];
        for (name, value) in optional {
            if let Some(v) = value {
                h.push((name.to_string(), v.clone()));
            }
        }
        h.extend(self.extra_headers.iter().cloned());
        h.retain(|(name, _)| !self.omitted_headers.iter().any(|o| o.eq_ignore_ascii_case(name)));
        h
    }

    /// The head of the `/next` reply (status line, headers, `Content-Length` of the whole body),
    /// raw header values included.
    fn reply_head(&self, request_id: &str) -> Vec<u8> {
        let mut fields: Vec<(String, Vec<u8>)> = self
            .reply_headers(request_id)
            .into_iter()
            .map(|(n, v)| (n, v.into_bytes()))
            .collect();
        fields.extend(self.raw_headers.iter().cloned());
        http::response_head(200, &fields, self.body.len(), false)
    }
}

/// A scripted way for one `GET /next` to go wrong: see [`MockRuntimeApi::script_next`] and
/// [`MockRuntimeApi::script_next_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextFault {
    /// Reply at once with this status and an error body. No event is used.
    Status(u16),
    /// Read the request, then reset the connection (RST) without writing a byte. No event is used.
    ResetBeforeHeaders,
    /// Wait for an event, write the reply head and half of the body, then reset the connection
    /// (RST). The event counts as delivered: its request id went out.
    ResetAfterHeaders,
    /// Wait for an event, send the reply head with the full `Content-Length` but only half of the
    /// body, then close the connection (FIN). The event counts as delivered.
    TruncatedBody,
    /// Wait for an event, then trickle the reply head out in small pieces spread over this long,
    /// then the body. The event is delivered whole.
    SlowHeaders(Duration),
    /// Wait for an event, write the reply head and half of the body, then hold the rest until
    /// [`MockRuntimeApi::release_held_bodies`]. The event counts as delivered.
    HoldBody,
}

impl NextFault {
    /// Whether the fault is played on an event (and so waits, parked, for one).
    fn needs_event(self) -> bool {
        !matches!(self, Self::Status(_) | Self::ResetBeforeHeaders)
    }
}

/// A scripted way for one answer (`/response` or `/error`) to go wrong: see
/// [`MockRuntimeApi::script_answer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerFault {
    /// Reply with this status. The answer is recorded: it was received.
    Status(u16),
    /// Read the request head and a few bytes of the body, then reset the connection (RST)
    /// without a reply. The answer is **not** recorded (the mock never got it whole); it is
    /// listed in [`MockRuntimeApi::reset_uploads`].
    ResetMidUpload,
    /// Record the answer, then wait this long before replying (with the status it would have
    /// had otherwise).
    SlowReply(Duration),
    /// Read and record the whole answer, then close the connection (FIN) without a reply: the
    /// answer arrived, but the runtime cannot know it.
    CloseWithoutReply,
}

/// What becomes of a connection after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conn {
    /// Keep it open for the next request.
    Keep,
    /// Close it (FIN).
    Close,
    /// Reset it (RST).
    Reset,
}

/// Which endpoint an [`Answer`] was posted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    /// `POST /runtime/invocation/{id}/response`
    Response,
    /// `POST /runtime/invocation/{id}/error`
    Error,
}

/// One `/response` or `/error` request as the mock received it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The request id from the path.
    pub request_id: String,
    /// Response or error.
    pub kind: AnswerKind,
    /// Request headers, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body bytes (de-chunked).
    pub body: Vec<u8>,
    /// HTTP trailers of a chunked body.
    pub trailers: Vec<(String, String)>,
    /// Chunk arrival record of a chunked body (empty for a `Content-Length` body).
    pub chunks: Vec<ChunkInfo>,
    /// Bytes of the body counted but not kept (then `body` is empty); see
    /// [`MockRuntimeApi::discard_chunked_bodies`] and [`MockRuntimeApi::discard_answer_bodies`].
    pub discarded_bytes: u64,
    /// When the request head had arrived.
    pub started: Instant,
    /// When the whole body had arrived.
    pub received: Instant,
    /// The status the mock replied with.
    pub status: u16,
    /// Whether `/next` had handed this request id out before.
    pub delivered: bool,
}

impl Answer {
    /// A request header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        http::header(&self.headers, name)
    }

    /// A trailer, by case-insensitive name.
    pub fn trailer(&self, name: &str) -> Option<&str> {
        http::header(&self.trailers, name)
    }

    /// The body as (lossy) UTF-8 text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "answer to {} is not JSON ({e}): {:?}",
                self.request_id,
                truncate(&self.body_text(), 2000)
            )
        })
    }

    /// The body's `errorType` field, when the body is JSON with one.
    pub fn error_type(&self) -> Option<String> {
        json_str_field(&self.body, "errorType")
    }

    /// The body's `errorMessage` field, when the body is JSON with one.
    pub fn error_message(&self) -> Option<String> {
        json_str_field(&self.body, "errorMessage")
    }

    /// `Lambda-Runtime-Function-Error-Type` header.
    pub fn error_type_header(&self) -> Option<&str> {
        self.header("Lambda-Runtime-Function-Error-Type")
    }
}

/// One `POST /extension/register` as the mock received it.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The `Lambda-Extension-Name` header.
    pub name: Option<String>,
    /// The body (`{"events":[...]}`).
    pub body: serde_json::Value,
    /// When it arrived.
    pub at: Instant,
    /// The status the mock replied with.
    pub status: u16,
    /// The `Lambda-Extension-Identifier` the mock gave it (on success).
    pub identifier: Option<String>,
}

/// One `POST /extension/init/error` or `/extension/exit/error` as the mock received it.
#[derive(Debug, Clone)]
pub struct ExtensionError {
    /// `init/error` or `exit/error`.
    pub route: String,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// The body, as JSON (`Null` when it is not JSON).
    pub body: serde_json::Value,
}

impl ExtensionError {
    /// A request header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        http::header(&self.headers, name)
    }
}

/// One `POST /runtime/init/error` as the mock received it.
#[derive(Debug, Clone)]
pub struct InitError {
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
    /// When the whole body had arrived.
    pub received: Instant,
    /// The status the mock replied with.
    pub status: u16,
}

impl InitError {
    /// A request header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        http::header(&self.headers, name)
    }

    /// The body as (lossy) UTF-8 text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("init error body is not JSON ({e}): {:?}", self.body_text()))
    }

    /// The body's `errorType` field.
    pub fn error_type(&self) -> Option<String> {
        json_str_field(&self.body, "errorType")
    }

    /// The body's `errorMessage` field.
    pub fn error_message(&self) -> Option<String> {
        json_str_field(&self.body, "errorMessage")
    }
}

/// An event handed out by `/next`.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Its request id.
    pub request_id: String,
    /// When the reply was written.
    pub at: Instant,
    /// The scripted fault it was delivered with ([`NextFault::ResetAfterHeaders`],
    /// [`NextFault::TruncatedBody`] or [`NextFault::SlowHeaders`]), if any.
    pub fault: Option<NextFault>,
}

fn json_str_field(body: &[u8], field: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get(field)?.as_str().map(str::to_string)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

struct Queued {
    request_id: String,
    event: Event,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Queued>,
    next_script: VecDeque<u16>,
    status_for_id: HashMap<String, u16>,
    status_every: Option<(usize, u16)>,
    init_error_status: Option<u16>,
    answers: Vec<Answer>,
    init_errors: Vec<InitError>,
    deliveries: Vec<Delivery>,
    delivered_ids: HashSet<String>,
    in_flight: HashSet<String>,
    max_in_flight: usize,
    parked: usize,
    max_parked: usize,
    next_calls: Vec<Instant>,
    unexpected: Vec<String>,
    connections: HashMap<u64, TcpStream>,
    next_conn_id: u64,
    discard_chunked: bool,
    next_faults: VecDeque<NextFault>,
    next_fault_window: Option<(Instant, NextFault)>,
    answer_faults: HashMap<String, VecDeque<AnswerFault>>,
    reset_uploads: Vec<String>,
    discard_answer_bodies: bool,
    registrations: Vec<Registration>,
    register_status: Option<u16>,
    extension_next_calls: Vec<(Instant, Option<String>)>,
    extension_parked: usize,
    held_bodies: usize,
    release_held: bool,
    /// Lifecycle events waiting, each for one extension identifier or (`None`) for any.
    extension_events: VecDeque<(Option<String>, serde_json::Value)>,
    extension_errors: Vec<ExtensionError>,
    telemetry_subscriptions: Vec<(Option<String>, serde_json::Value)>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stopping: AtomicBool,
    prefix: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not make every later call panic too.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A mock of the Lambda Runtime API, listening on `127.0.0.1` on an ephemeral port.
///
/// - Queue events with [`queue`](Self::queue); a `GET /next` parks until one is queued.
/// - Script failures with [`fail_next`](Self::fail_next), [`reply_to`](Self::reply_to),
///   [`reply_every`](Self::reply_every) and [`reply_init_error`](Self::reply_init_error);
///   everything else answers `202 {"status":"OK"}`.
/// - Everything received is recorded: [`answers`](Self::answers),
///   [`init_errors`](Self::init_errors), [`deliveries`](Self::deliveries), counters of parked
///   and total `/next` calls, and the largest number of delivered-but-unanswered events.
/// - Every `wait_for_*` method is bounded by a timeout and returns `Err` with a description of
///   what it waited for and the mock's state.
///
/// Dropping the mock stops it; parked `/next` connections are closed.
pub struct MockRuntimeApi {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MockRuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockRuntimeApi")
            .field("addr", &self.addr)
            .field("prefix", &self.shared.prefix)
            .finish_non_exhaustive()
    }
}

impl MockRuntimeApi {
    /// Starts a mock serving at the root path.
    pub fn start() -> Self {
        Self::with_prefix("")
    }

    /// Starts a mock whose endpoints live under a path prefix such as `/.rt`
    /// (`/.rt/2018-06-01/runtime/invocation/next`). Requests outside it get 404 and are recorded
    /// in [`unexpected_requests`](Self::unexpected_requests).
    pub fn with_prefix(prefix: &str) -> Self {
        Self::start_on(0, prefix).expect("bind 127.0.0.1:0")
    }

    /// Starts a mock on a given port of `127.0.0.1` (0: any free port), e.g. to bring the
    /// Runtime API back on the port a dropped mock had, as after an outage.
    pub fn start_on(port: u16, prefix: &str) -> io::Result<Self> {
        let prefix = prefix.trim_end_matches('/').to_string();
        assert!(
            prefix.is_empty() || prefix.starts_with('/'),
            "a path prefix starts with '/': {prefix:?}"
        );
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            stopping: AtomicBool::new(false),
            prefix,
        });
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name(format!("mock-accept-{}", addr.port()))
            .spawn(move || accept_loop(&accept_shared, &listener))?;
        Ok(Self {
            shared,
            addr,
            accept: Some(accept),
        })
    }

    /// The port the mock listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `127.0.0.1:PORT`, without the path prefix.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`: `127.0.0.1:PORT` followed by the path prefix, if any.
    pub fn runtime_api(&self) -> String {
        format!("{}{}", self.addr, self.shared.prefix)
    }

    /// Queues an event; returns its request id. A parked `/next` takes it at once.
    pub fn queue(&self, event: Event) -> String {
        let request_id = event.request_id.clone().unwrap_or_else(|| {
            format!(
                "req-{}-{:06}",
                self.addr.port(),
                NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed)
            )
        });
        let mut st = self.shared.lock();
        st.queue.push_back(Queued {
            request_id: request_id.clone(),
            event,
        });
        drop(st);
        self.shared.changed.notify_all();
        request_id
    }

    /// Queues an event with this JSON body and default headers; returns its request id.
    pub fn queue_json(&self, body: &serde_json::Value) -> String {
        self.queue(Event::json(body))
    }

    /// The next `count` calls to `/next` are answered at once with `status` and an error body.
    pub fn fail_next(&self, count: usize, status: u16) {
        let mut st = self.shared.lock();
        st.next_script.extend(std::iter::repeat_n(status, count));
    }

    /// Answers (`/response` or `/error`) for this request id are replied to with `status`.
    pub fn reply_to(&self, request_id: &str, status: u16) {
        self.shared.lock().status_for_id.insert(request_id.to_string(), status);
    }

    /// Every `n`th answer received from now on (counting all answers) is replied to with
    /// `status`, unless a [`reply_to`](Self::reply_to) rule matches it.
    pub fn reply_every(&self, n: usize, status: u16) {
        assert!(n > 0, "reply_every needs n > 0");
        self.shared.lock().status_every = Some((n, status));
    }

    /// `/extension/register` is replied to with `status` and an error body (default: 200 and an
    /// identifier).
    pub fn reply_register(&self, status: u16) {
        self.shared.lock().register_status = Some(status);
    }

    /// Every `POST /extension/register` received, in order.
    pub fn registrations(&self) -> Vec<Registration> {
        self.shared.lock().registrations.clone()
    }

    /// When each `GET /extension/event/next` arrived, with its `Lambda-Extension-Identifier`.
    pub fn extension_next_calls(&self) -> Vec<(Instant, Option<String>)> {
        self.shared.lock().extension_next_calls.clone()
    }

    /// Queues a lifecycle event (`{"eventType": "INVOKE", ...}`) for the next
    /// `GET /extension/event/next`, parked or not.
    pub fn queue_extension_event(&self, event: serde_json::Value) {
        self.shared.lock().extension_events.push_back((None, event));
        self.shared.changed.notify_all();
    }

    /// Queues a lifecycle event for the extension registered with this identifier only.
    pub fn queue_extension_event_for(&self, identifier: &str, event: serde_json::Value) {
        self.shared
            .lock()
            .extension_events
            .push_back((Some(identifier.to_owned()), event));
        self.shared.changed.notify_all();
    }

    /// Waits until `n` extension errors (`init/error`, `exit/error`) have arrived; returns them.
    pub fn wait_for_extension_errors(&self, n: usize, timeout: Duration) -> Result<Vec<ExtensionError>, String> {
        self.wait(&format!("{n} extension errors"), timeout, |st| {
            (st.extension_errors.len() >= n).then(|| st.extension_errors.clone())
        })
    }

    /// Waits until `n` Telemetry API subscriptions (`PUT /2022-07-01/telemetry`) have arrived;
    /// returns them: the `Lambda-Extension-Identifier` and the body.
    pub fn wait_for_telemetry_subscriptions(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<(Option<String>, serde_json::Value)>, String> {
        self.wait(&format!("{n} telemetry subscriptions"), timeout, |st| {
            (st.telemetry_subscriptions.len() >= n).then(|| st.telemetry_subscriptions.clone())
        })
    }

    /// Every extension error received so far.
    pub fn extension_errors(&self) -> Vec<ExtensionError> {
        self.shared.lock().extension_errors.clone()
    }

    /// Waits until `n` registrations have arrived; returns them.
    pub fn wait_for_registrations(&self, n: usize, timeout: Duration) -> Result<Vec<Registration>, String> {
        self.wait(&format!("{n} extension registrations"), timeout, |st| {
            (st.registrations.len() >= n).then(|| st.registrations.clone())
        })
    }

    /// `GET /extension/event/next` calls parked now.
    pub fn extension_parked(&self) -> usize {
        self.shared.lock().extension_parked
    }

    /// Waits until `n` `GET /extension/event/next` calls are parked.
    pub fn wait_for_extension_parked(&self, n: usize, timeout: Duration) -> Result<(), String> {
        self.wait(&format!("{n} parked /extension/event/next"), timeout, |st| {
            (st.extension_parked >= n).then_some(())
        })
    }

    /// Waits until `n` replies scripted with [`NextFault::HoldBody`] are holding their body.
    pub fn wait_for_held_bodies(&self, n: usize, timeout: Duration) -> Result<(), String> {
        self.wait(&format!("{n} /next replies holding their body"), timeout, |st| {
            (st.held_bodies >= n).then_some(())
        })
    }

    /// Lets every reply held by [`NextFault::HoldBody`] write the rest of its body.
    pub fn release_held_bodies(&self) {
        self.shared.lock().release_held = true;
        self.shared.changed.notify_all();
    }

    /// `/init/error` is replied to with `status` (default 202).
    pub fn reply_init_error(&self, status: u16) {
        self.shared.lock().init_error_status = Some(status);
    }

    /// From now on the data of chunked request bodies (streamed responses) is counted
    /// ([`Answer::discarded_bytes`]) and thrown away instead of kept, so that a stream of hundreds
    /// of megabytes costs the mock no memory. Chunk arrival times and trailers are still recorded.
    pub fn discard_chunked_bodies(&self) {
        self.shared.lock().discard_chunked = true;
    }

    /// Scripts one `GET /next` fault. Faults are played in the order scripted, after any
    /// [`fail_next`](Self::fail_next) statuses: one that needs no event
    /// ([`NextFault::Status`], [`NextFault::ResetBeforeHeaders`]) on the next `/next` call to
    /// arrive; one that plays on an event ([`NextFault::ResetAfterHeaders`],
    /// [`TruncatedBody`](NextFault::TruncatedBody), [`SlowHeaders`](NextFault::SlowHeaders)) on
    /// the next event handed out, by whichever `/next` (already parked or not) takes it.
    pub fn script_next(&self, fault: NextFault) {
        self.shared.lock().next_faults.push_back(fault);
    }

    /// Every `GET /next` arriving within `duration` from now gets `fault`, which must not need
    /// an event ([`NextFault::Status`] or [`NextFault::ResetBeforeHeaders`]): an outage of that
    /// shape, after which `/next` works again by itself.
    pub fn script_next_for(&self, duration: Duration, fault: NextFault) {
        assert!(
            !fault.needs_event(),
            "{fault:?} needs an event: script it with script_next"
        );
        self.shared.lock().next_fault_window = Some((Instant::now() + duration, fault));
    }

    /// Scripts a fault for the next answer (`/response` or `/error`) to `request_id`; several
    /// calls queue up, one per answer attempt. Takes precedence over
    /// [`reply_to`](Self::reply_to) and [`reply_every`](Self::reply_every).
    pub fn script_answer(&self, request_id: &str, fault: AnswerFault) {
        self.shared
            .lock()
            .answer_faults
            .entry(request_id.to_string())
            .or_default()
            .push_back(fault);
    }

    /// Request ids of the answers whose upload was reset ([`AnswerFault::ResetMidUpload`]), one
    /// entry per reset, in order. They are not in [`answers`](Self::answers).
    pub fn reset_uploads(&self) -> Vec<String> {
        self.shared.lock().reset_uploads.clone()
    }

    /// From now on answer bodies are counted ([`Answer::discarded_bytes`]) and thrown away, so
    /// that hundreds of thousands of answers cost the mock little memory. Everything else about
    /// an answer is still recorded.
    pub fn discard_answer_bodies(&self) {
        self.shared.lock().discard_answer_bodies = true;
    }

    /// A port of `127.0.0.1` that was free a moment ago: nothing listens on it, so connecting
    /// is refused until a mock is started there with [`start_on`](Self::start_on).
    pub fn reserve_port() -> u16 {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
        listener.local_addr().expect("a bound address").port()
    }

    /// [`start_on`](Self::start_on) that retries for up to `timeout` while the port is still
    /// being released; panics if it cannot.
    pub fn start_on_retrying(port: u16, prefix: &str, timeout: Duration) -> Self {
        let start = Instant::now();
        loop {
            match Self::start_on(port, prefix) {
                Ok(m) => return m,
                Err(e) if start.elapsed() >= timeout => {
                    panic!("cannot start the mock on port {port} within {timeout:?}: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Every answer received so far, in arrival order.
    pub fn answers(&self) -> Vec<Answer> {
        self.shared.lock().answers.clone()
    }

    /// Every answer received so far for one request id.
    pub fn answers_for(&self, request_id: &str) -> Vec<Answer> {
        self.shared
            .lock()
            .answers
            .iter()
            .filter(|a| a.request_id == request_id)
            .cloned()
            .collect()
    }

    /// Every `/init/error` received so far.
    pub fn init_errors(&self) -> Vec<InitError> {
        self.shared.lock().init_errors.clone()
    }

    /// Every event handed out by `/next` so far, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.lock().deliveries.clone()
    }

    /// When each `/next` call arrived (scripted failures included).
    pub fn next_call_times(&self) -> Vec<Instant> {
        self.shared.lock().next_calls.clone()
    }

    /// Requests that matched no endpoint (`METHOD path`).
    pub fn unexpected_requests(&self) -> Vec<String> {
        self.shared.lock().unexpected.clone()
    }

    /// `/next` calls parked right now.
    pub fn parked(&self) -> usize {
        self.shared.lock().parked
    }

    /// The most `/next` calls ever parked at once.
    pub fn max_parked(&self) -> usize {
        self.shared.lock().max_parked
    }

    /// Total `/next` calls received (scripted failures included).
    pub fn next_calls(&self) -> usize {
        self.shared.lock().next_calls.len()
    }

    /// TCP connections accepted so far (a keep-alive client reuses a few).
    pub fn connections_accepted(&self) -> usize {
        self.shared.lock().next_conn_id as usize
    }

    /// Events queued and not yet handed out.
    pub fn queued(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// The most events ever delivered and not yet answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.lock().max_in_flight
    }

    /// Delivered events not answered yet.
    pub fn in_flight(&self) -> usize {
        self.shared.lock().in_flight.len()
    }

    /// Waits until at least `n` answers have arrived; returns all answers so far.
    pub fn wait_for_answers(&self, n: usize, timeout: Duration) -> Result<Vec<Answer>, String> {
        self.wait(&format!("{n} answers"), timeout, |st| {
            (st.answers.len() >= n).then(|| st.answers.clone())
        })
    }

    /// How many answers have arrived so far (cheaper than `answers().len()`).
    pub fn answer_count(&self) -> usize {
        self.shared.lock().answers.len()
    }

    /// Waits until at least `n` answers have arrived; returns how many have (no copy of them,
    /// unlike [`wait_for_answers`](Self::wait_for_answers): for runs of many thousands).
    pub fn wait_for_answer_count(&self, n: usize, timeout: Duration) -> Result<usize, String> {
        self.wait(&format!("{n} answers"), timeout, |st| {
            (st.answers.len() >= n).then_some(st.answers.len())
        })
    }

    /// Waits for the first answer to `request_id`.
    pub fn wait_for_answer(&self, request_id: &str, timeout: Duration) -> Result<Answer, String> {
        self.wait(&format!("an answer to {request_id}"), timeout, |st| {
            st.answers.iter().find(|a| a.request_id == request_id).cloned()
        })
    }

    /// Waits until at least `n` `/next` calls are parked at the same time.
    pub fn wait_for_parked(&self, n: usize, timeout: Duration) -> Result<(), String> {
        self.wait(&format!("{n} parked /next"), timeout, |st| {
            (st.parked >= n).then_some(())
        })
    }

    /// Waits until at least `n` `/next` calls have arrived in total.
    pub fn wait_for_next_calls(&self, n: usize, timeout: Duration) -> Result<(), String> {
        self.wait(&format!("{n} /next calls"), timeout, |st| {
            (st.next_calls.len() >= n).then_some(())
        })
    }

    /// Waits until at least `n` events have been handed out.
    pub fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> Result<(), String> {
        self.wait(&format!("{n} deliveries"), timeout, |st| {
            (st.deliveries.len() >= n).then_some(())
        })
    }

    /// Waits until at least `n` init errors have arrived; returns them.
    pub fn wait_for_init_errors(&self, n: usize, timeout: Duration) -> Result<Vec<InitError>, String> {
        self.wait(&format!("{n} init errors"), timeout, |st| {
            (st.init_errors.len() >= n).then(|| st.init_errors.clone())
        })
    }

    /// A one-paragraph summary of the mock's state, for failure messages.
    pub fn describe(&self) -> String {
        describe(&self.shared.lock(), &self.runtime_api())
    }

    fn wait<T>(&self, what: &str, timeout: Duration, mut ready: impl FnMut(&State) -> Option<T>) -> Result<T, String> {
        let end = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if let Some(v) = ready(&st) {
                return Ok(v);
            }
            let now = Instant::now();
            if now >= end {
                return Err(format!(
                    "timed out after {timeout:?} waiting for {what}; {}",
                    describe(&st, &self.runtime_api())
                ));
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, end - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

fn describe(st: &State, api: &str) -> String {
    let mut s = format!(
        "mock {api}: {} queued, {} parked now (max {}), {} /next calls, {} delivered, {} in flight \
         (max {}), {} answers, {} init errors",
        st.queue.len(),
        st.parked,
        st.max_parked,
        st.next_calls.len(),
        st.deliveries.len(),
        st.in_flight.len(),
        st.max_in_flight,
        st.answers.len(),
        st.init_errors.len()
    );
    for a in st.answers.iter().rev().take(5).rev() {
        let _ = write!(
            s,
            "\n  answer {:?} {} (replied {}): {}",
            a.kind,
            a.request_id,
            a.status,
            truncate(&a.body_text(), 300)
        );
    }
    for e in &st.init_errors {
        let _ = write!(s, "\n  init error: {}", truncate(&e.body_text(), 300));
    }
    if !st.unexpected.is_empty() {
        let _ = write!(s, "\n  unexpected requests: {:?}", st.unexpected);
    }
    if !st.reset_uploads.is_empty() {
        let _ = write!(s, "\n  {} answer uploads reset", st.reset_uploads.len());
    }
    s
}

impl Drop for MockRuntimeApi {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let connections: Vec<TcpStream> = {
            let mut st = self.shared.lock();
            st.connections.drain().map(|(_, c)| c).collect()
        };
        self.shared.changed.notify_all();
        for c in connections {
            let _ = c.shutdown(Shutdown::Both);
        }
        // Wake the accept loop so that it sees `stopping`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let conn_shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("mock-conn".to_string())
            .spawn(move || serve_connection(&conn_shared, stream));
        if spawned.is_err() {
            // Out of threads: the dropped stream closes the connection.
            continue;
        }
    }
}

fn serve_connection(shared: &Shared, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (Ok(mut writer), Ok(registered)) = (stream.try_clone(), stream.try_clone()) else {
        return;
    };
    let conn_id = {
        let mut st = shared.lock();
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        st.next_conn_id += 1;
        let id = st.next_conn_id;
        st.connections.insert(id, registered);
        id
    };
    let mut reader = BufReader::new(stream);
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let head = match http::read_head(&mut reader) {
            Ok(Some(head)) => head,
            Ok(None) | Err(_) => break,
        };
        if head.expects_continue() && io::Write::write_all(&mut writer, b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
            break;
        }
        match handle_request(shared, &mut reader, &mut writer, &head) {
            Ok(Conn::Keep) if !head.wants_close() => {}
            Ok(Conn::Reset) => {
                // RST: linger 0, then the last descriptor of the socket is closed (no FIN
                // first: shutdown() would send one).
                let _ = socket2::SockRef::from(&writer).set_linger(Some(Duration::ZERO));
                shared.lock().connections.remove(&conn_id);
                return;
            }
            Ok(_) | Err(_) => break,
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
    shared.lock().connections.remove(&conn_id);
}

fn json_reply(writer: &mut TcpStream, status: u16, body: &serde_json::Value, close: bool) -> io::Result<()> {
    let headers = [("Content-Type".to_string(), "application/json".to_string())];
    http::write_response(writer, status, &headers, body.to_string().as_bytes(), close)
}

fn error_type_for(status: u16) -> &'static str {
    match status {
        400 => "InvalidRequestID",
        403 => "InvalidStateTransition",
        404 => "NotFound",
        410 => "InvokeTimeout",
        413 => "RequestEntityTooLarge",
        500 => "ServiceException",
        _ => "MockError",
    }
}

fn reply_status(writer: &mut TcpStream, status: u16) -> io::Result<()> {
    if (200..300).contains(&status) {
        json_reply(writer, status, &serde_json::json!({"status": "OK"}), false)
    } else {
        json_reply(
            writer,
            status,
            &serde_json::json!({
                "errorMessage": format!("mock runtime API replied {status}"),
                "errorType": error_type_for(status),
            }),
            false,
        )
    }
}

/// `invocation/{id}/response` or `invocation/{id}/error` → the id and the kind.
fn answer_target(route: &str) -> Option<(&str, AnswerKind)> {
    let rest = route.strip_prefix("invocation/")?;
    let (id, kind) = if let Some(id) = rest.strip_suffix("/response") {
        (id, AnswerKind::Response)
    } else {
        (rest.strip_suffix("/error")?, AnswerKind::Error)
    };
    (!id.is_empty() && !id.contains('/')).then_some((id, kind))
}

/// Handles one request; says what becomes of the connection.
fn handle_request(
    shared: &Shared,
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    head: &Head,
) -> io::Result<Conn> {
    if head.path.strip_prefix(shared.prefix.as_str()) == Some("/2022-07-01/telemetry") && head.method == "PUT" {
        let body = http::read_body(reader, head)?;
        shared.lock().telemetry_subscriptions.push((
            head.header("lambda-extension-identifier").map(str::to_owned),
            serde_json::from_slice(&body.bytes).unwrap_or(serde_json::Value::Null),
        ));
        shared.changed.notify_all();
        json_reply(writer, 200, &serde_json::json!({}), false)?;
        return Ok(Conn::Keep);
    }
    if let Some(route) = head
        .path
        .strip_prefix(shared.prefix.as_str())
        .and_then(|p| p.strip_prefix(EXTENSION_API))
    {
        let route = route.to_owned();
        return handle_extension(shared, reader, writer, head, &route);
    }
    let route = head
        .path
        .strip_prefix(shared.prefix.as_str())
        .and_then(|p| p.strip_prefix(API_VERSION))
        .and_then(|p| p.strip_prefix("/runtime/"));
    let method = head.method.as_str();
    let target = route.filter(|_| method == "POST").and_then(answer_target);
    // An answer whose upload is to be reset: a few body bytes are read, the rest never is.
    let fault = target.and_then(|(id, _)| {
        let mut st = shared.lock();
        let faults = st.answer_faults.get_mut(id)?;
        let fault = faults.pop_front();
        if faults.is_empty() {
            st.answer_faults.remove(id);
        }
        fault
    });
    if let (Some(AnswerFault::ResetMidUpload), Some((id, _))) = (fault, target) {
        let mut some = [0u8; 8];
        let _ = io::Read::read(reader, &mut some);
        shared.lock().reset_uploads.push(id.to_string());
        shared.changed.notify_all();
        return Ok(Conn::Reset);
    }
    let discard = shared.lock().discard_chunked;
    let body = if discard {
        http::read_body_discarding(reader, head)?
    } else {
        http::read_body(reader, head)?
    };
    match (method, route) {
        ("GET", Some("invocation/next")) => serve_next(shared, reader, writer),
        ("POST", Some("init/error")) => {
            let status = {
                let mut st = shared.lock();
                let status = st.init_error_status.unwrap_or(202);
                st.init_errors.push(InitError {
                    headers: head.headers.clone(),
                    body: body.bytes,
                    received: Instant::now(),
                    status,
                });
                status
            };
            shared.changed.notify_all();
            reply_status(writer, status)?;
            Ok(Conn::Keep)
        }
        _ => {
            let Some((id, kind)) = target else {
                return not_found(shared, writer, head);
            };
            let received = Instant::now();
            let (status, delay) = {
                let mut st = shared.lock();
                let count = st.answers.len() + 1;
                let scripted = st
                    .status_for_id
                    .get(id)
                    .copied()
                    .unwrap_or_else(|| match st.status_every {
                        Some((n, s)) if count.is_multiple_of(n) => s,
                        _ => 202,
                    });
                let (status, delay) = match fault {
                    Some(AnswerFault::Status(s)) => (s, None),
                    Some(AnswerFault::SlowReply(d)) => (scripted, Some(d)),
                    _ => (scripted, None),
                };
                let delivered = st.delivered_ids.contains(id);
                st.in_flight.remove(id);
                let (bytes, discarded) = if st.discard_answer_bodies {
                    (Vec::new(), body.discarded + body.bytes.len() as u64)
                } else {
                    (body.bytes, body.discarded)
                };
                st.answers.push(Answer {
                    request_id: id.to_string(),
                    kind,
                    headers: head.headers.clone(),
                    body: bytes,
                    trailers: body.trailers,
                    chunks: body.chunks,
                    discarded_bytes: discarded,
                    started: head.started,
                    received,
                    status,
                    delivered,
                });
                (status, delay)
            };
            shared.changed.notify_all();
            if fault == Some(AnswerFault::CloseWithoutReply) {
                return Ok(Conn::Close);
            }
            if let Some(d) = delay {
                std::thread::sleep(d);
            }
            reply_status(writer, status)?;
            Ok(Conn::Keep)
        }
    }
}

/// The Extensions API: `POST register` and a parked `GET event/next` (it never sends an
/// event: the runtime registers an internal extension for none).
fn handle_extension(
    shared: &Shared,
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    head: &Head,
    route: &str,
) -> io::Result<Conn> {
    let body = http::read_body(reader, head)?;
    match (head.method.as_str(), route) {
        ("POST", "register") => {
            let (status, identifier) = {
                let mut st = shared.lock();
                let status = st.register_status.unwrap_or(200);
                let identifier = (status == 200).then(|| format!("mock-extension-{}", st.registrations.len() + 1));
                st.registrations.push(Registration {
                    name: head.header("lambda-extension-name").map(str::to_owned),
                    body: serde_json::from_slice(&body.bytes).unwrap_or(serde_json::Value::Null),
                    at: Instant::now(),
                    status,
                    identifier: identifier.clone(),
                });
                (status, identifier)
            };
            shared.changed.notify_all();
            match identifier {
                Some(id) => {
                    let headers = [
                        ("Content-Type".to_string(), "application/json".to_string()),
                        ("Lambda-Extension-Identifier".to_string(), id),
                    ];
                    let reply = serde_json::json!({
                        "functionName": "mock", "functionVersion": "$LATEST", "handler": "testbed"
                    });
                    http::write_response(writer, status, &headers, reply.to_string().as_bytes(), false)?;
                }
                None => json_reply(
                    writer,
                    status,
                    &serde_json::json!({
                        "errorMessage": format!("mock extension registration replied {status}"),
                        "errorType": "Extension.RegistrationClosed",
                    }),
                    false,
                )?,
            }
            Ok(Conn::Keep)
        }
        ("GET", "event/next") => {
            let mut st = shared.lock();
            st.extension_next_calls.push((
                Instant::now(),
                head.header("lambda-extension-identifier").map(str::to_owned),
            ));
            st.extension_parked += 1;
            shared.changed.notify_all();
            let me = head.header("lambda-extension-identifier").map(str::to_owned);
            let mut event = None;
            while !shared.stopping.load(Ordering::SeqCst) && client_alive(reader) {
                let mine = st
                    .extension_events
                    .iter()
                    .position(|(target, _)| target.is_none() || *target == me);
                if let Some((_, e)) = mine.and_then(|i| st.extension_events.remove(i)) {
                    event = Some(e);
                    break;
                }
                st = park(shared, st);
            }
            st.extension_parked -= 1;
            drop(st);
            shared.changed.notify_all();
            match event {
                Some(event) => {
                    json_reply(writer, 200, &event, false)?;
                    Ok(Conn::Keep)
                }
                None => Ok(Conn::Close),
            }
        }
        ("POST", route @ ("init/error" | "exit/error")) => {
            shared.lock().extension_errors.push(ExtensionError {
                route: route.to_owned(),
                headers: head.headers.clone(),
                body: serde_json::from_slice(&body.bytes).unwrap_or(serde_json::Value::Null),
            });
            shared.changed.notify_all();
            json_reply(writer, 202, &serde_json::json!({"status": "OK"}), false)?;
            Ok(Conn::Keep)
        }
        _ => not_found(shared, writer, head),
    }
}

fn not_found(shared: &Shared, writer: &mut TcpStream, head: &Head) -> io::Result<Conn> {
    shared.lock().unexpected.push(format!("{} {}", head.method, head.path));
    shared.changed.notify_all();
    json_reply(
        writer,
        404,
        &serde_json::json!({"errorMessage": "no such endpoint", "errorType": "NotFound"}),
        false,
    )?;
    Ok(Conn::Keep)
}

/// Waits for a change of the mock's state, at most [`PARK_POLL`] (a parked request looks
/// again at its client and at what it waits for).
fn park<'a>(shared: &'a Shared, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
    shared
        .changed
        .wait_timeout(st, PARK_POLL)
        .unwrap_or_else(|e| e.into_inner())
        .0
}

/// Whether the client of a parked request is still connected.
fn client_alive(reader: &BufReader<TcpStream>) -> bool {
    if !reader.buffer().is_empty() {
        return true;
    }
    let sock = reader.get_ref();
    if sock.set_nonblocking(true).is_err() {
        return false;
    }
    let mut probe = [0u8; 1];
    let alive = match sock.peek(&mut probe) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted,
    };
    sock.set_nonblocking(false).is_ok() && alive
}

/// The fault, if any, a `/next` call gets as it arrives: the window first, then the script if
/// its first fault needs no event.
fn take_call_fault(st: &mut State) -> Option<NextFault> {
    match st.next_fault_window {
        Some((until, fault)) if Instant::now() < until => return Some(fault),
        Some(_) => st.next_fault_window = None,
        None => {}
    }
    match st.next_faults.front() {
        Some(f) if !f.needs_event() => st.next_faults.pop_front(),
        _ => None,
    }
}

/// The fault, if any, an event gets as it is handed out: the script's first fault, if it needs
/// an event.
fn take_delivery_fault(st: &mut State) -> Option<NextFault> {
    match st.next_faults.front() {
        Some(f) if f.needs_event() => st.next_faults.pop_front(),
        _ => None,
    }
}

/// Writes `buf`; returns how many bytes went out before an error, if one happened.
fn write_counting(w: &mut TcpStream, buf: &[u8]) -> (usize, io::Result<()>) {
    let mut sent = 0;
    while sent < buf.len() {
        match io::Write::write(w, &buf[sent..]) {
            Ok(0) => return (sent, Err(io::Error::new(ErrorKind::WriteZero, "wrote nothing"))),
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return (sent, Err(e)),
        }
    }
    (sent, io::Write::flush(w))
}

/// Writes a reply head and the first half of its body (`body.len() / 2` bytes).
fn write_head_and_half(w: &mut TcpStream, head: &[u8], body: &[u8]) -> (usize, io::Result<()>) {
    let mut out = head.to_vec();
    out.extend_from_slice(&body[..body.len() / 2]);
    write_counting(w, &out)
}

fn serve_next(shared: &Shared, reader: &BufReader<TcpStream>, writer: &mut TcpStream) -> io::Result<Conn> {
    let mut st = shared.lock();
    st.next_calls.push(Instant::now());
    let scripted = st.next_script.pop_front().map(NextFault::Status);
    match scripted.or_else(|| take_call_fault(&mut st)) {
        Some(NextFault::Status(status)) => {
            drop(st);
            shared.changed.notify_all();
            json_reply(
                writer,
                status,
                &serde_json::json!({
                    "errorMessage": format!("scripted /next failure {status}"),
                    "errorType": error_type_for(status),
                }),
                false,
            )?;
            return Ok(Conn::Keep);
        }
        Some(NextFault::ResetBeforeHeaders) => {
            drop(st);
            shared.changed.notify_all();
            return Ok(Conn::Reset);
        }
        _ => {}
    }
    st.parked += 1;
    st.max_parked = st.max_parked.max(st.parked);
    shared.changed.notify_all();
    let fault: Option<NextFault>;
    let queued = loop {
        if shared.stopping.load(Ordering::SeqCst) || !client_alive(reader) {
            st.parked -= 1;
            drop(st);
            shared.changed.notify_all();
            return Ok(Conn::Close);
        }
        if let Some(q) = st.queue.pop_front() {
            st.parked -= 1;
            fault = take_delivery_fault(&mut st);
            st.deliveries.push(Delivery {
                request_id: q.request_id.clone(),
                at: Instant::now(),
                fault,
            });
            st.delivered_ids.insert(q.request_id.clone());
            st.in_flight.insert(q.request_id.clone());
            st.max_in_flight = st.max_in_flight.max(st.in_flight.len());
            break q;
        }
        st = park(shared, st);
    };
    drop(st);
    shared.changed.notify_all();
    let head = queued.event.reply_head(&queued.request_id);
    let body = &queued.event.body;
    let (sent, written) = match fault {
        Some(NextFault::ResetAfterHeaders | NextFault::TruncatedBody) => {
            let (sent, result) = write_head_and_half(writer, &head, body);
            if result.is_ok() {
                // Let the head reach the client before the connection goes.
                std::thread::sleep(Duration::from_millis(50));
                let end = if fault == Some(NextFault::TruncatedBody) {
                    Conn::Close
                } else {
                    Conn::Reset
                };
                return Ok(end);
            }
            (sent, result)
        }
        Some(NextFault::HoldBody) => {
            let half = body.len() / 2;
            let (sent, result) = write_head_and_half(writer, &head, body);
            if result.is_err() {
                (sent, result)
            } else {
                let mut st = shared.lock();
                st.held_bodies += 1;
                shared.changed.notify_all();
                while !st.release_held && !shared.stopping.load(Ordering::SeqCst) {
                    st = park(shared, st);
                }
                drop(st);
                let (rest, result) = write_counting(writer, &body[half..]);
                (sent + rest, result)
            }
        }
        Some(NextFault::SlowHeaders(over)) => {
            const PIECES: usize = 10;
            let piece = head.len().div_ceil(PIECES);
            let mut sent = 0;
            let mut result = Ok(());
            for (i, part) in head.chunks(piece).enumerate() {
                if i > 0 {
                    std::thread::sleep(over / PIECES as u32);
                }
                let (n, r) = write_counting(writer, part);
                sent += n;
                result = r;
                if result.is_err() {
                    break;
                }
            }
            if result.is_ok() {
                let (n, r) = write_counting(writer, body);
                sent += n;
                result = r;
            }
            (sent, result)
        }
        _ => {
            let mut out = head.clone();
            out.extend_from_slice(body);
            write_counting(writer, &out)
        }
    };
    if written.is_err() && sent < head.len() {
        // The request id never went out: put the event back for the next poller.
        let mut st = shared.lock();
        if let Some(pos) = st.deliveries.iter().rposition(|d| d.request_id == queued.request_id) {
            st.deliveries.remove(pos);
        }
        st.delivered_ids.remove(&queued.request_id);
        st.in_flight.remove(&queued.request_id);
        if let Some(f) = fault {
            st.next_faults.push_front(f);
        }
        st.queue.push_front(queued);
        drop(st);
        shared.changed.notify_all();
    }
    written.map(|()| Conn::Keep)
}
