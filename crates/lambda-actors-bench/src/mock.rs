//! The mock Runtime API: K events queued before the candidate starts, served over HTTP/1.1
//! keep-alive on 127.0.0.1, one OS thread per connection with blocking `std::net` sockets.
//!
//! Why threads and blocking sockets rather than an async server: in classic mode the mock's
//! whole cost per invocation is then two `read`s and two `write`s on one connection (no
//! `epoll_wait`, no wake-ups through a reactor), which keeps it far cheaper than any
//! candidate; and at N = 1600 each parked `/next` is a thread asleep in a condition variable,
//! which costs nothing while it waits. Its own CPU is measured and printed beside the
//! candidates' (column "mock CPU"), so the claim is checked on every run.
//!
//! Every reply is written with one `writev` (head and body) on a `TCP_NODELAY` socket.

use crate::http::{write_all_vectored, Head, Reader};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PREFIX: &str = "/2018-06-01/runtime/";
const ACCEPTED: &[u8] =
    b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{\"status\":\"OK\"}\n";
const ACCEPTED_CLOSE: &[u8] =
    b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 16\r\nconnection: close\r\n\r\n{\"status\":\"OK\"}\n";
const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
/// The Extensions API's reply to a registration (the runtime registers an internal extension
/// so that Lambda sends it SIGTERM; `lambda_runtime` does not, by default).
const REGISTERED: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
    lambda-extension-identifier: bench-extension\r\ncontent-length: 2\r\n\r\n{}";
const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:bench";
const TRACE: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

/// What the mock serves.
#[derive(Debug, Clone)]
pub struct MockOptions {
    /// K: events queued; `/next` beyond them parks until the mock stops.
    pub events: usize,
    /// The body of every event.
    pub event: Arc<[u8]>,
    /// When set, every buffered `/response` body must equal this (counted in `bad` if not).
    pub expected_reply: Option<Vec<u8>>,
    /// A mixed load: every `every`-th event (index 0, every, 2·every, …) is this one instead
    /// (a CPU-bound invocation among quick ones); its latencies are left out of
    /// [`MockReport::quick_latencies_ns`].
    pub slow: Option<(usize, Arc<[u8]>)>,
}

impl MockOptions {
    fn is_slow(&self, index: usize) -> bool {
        self.slow
            .as_ref()
            .is_some_and(|(every, _)| index.is_multiple_of(*every))
    }

    fn event(&self, index: usize) -> &[u8] {
        match &self.slow {
            Some((_, slow)) if self.is_slow(index) => slow,
            _ => &self.event,
        }
    }
}

/// A running mock.
#[derive(Debug)]
pub struct Mock {
    addr: SocketAddr,
    state: Arc<State>,
    acceptor: Option<thread::JoinHandle<()>>,
}

#[derive(Debug)]
struct State {
    opts: MockOptions,
    epoch: Instant,
    deadline_ms: u64,
    next_index: AtomicUsize,
    first_next: OnceLock<Instant>,
    /// Nanoseconds since `epoch` at which event i was written (+1; 0 = not yet).
    sent_ns: Vec<AtomicU64>,
    /// Nanoseconds from event i written to its answer read (+1; 0 = not answered).
    latency_ns: Vec<AtomicU64>,
    answered: AtomicUsize,
    errors: AtomicUsize,
    bad: AtomicUsize,
    duplicates: AtomicUsize,
    init_errors: AtomicUsize,
    finished: (Mutex<Option<Instant>>, Condvar),
    stopping: AtomicBool,
    parked: (Mutex<bool>, Condvar),
    stream: Mutex<Option<StreamStats>>,
}

/// What the mock saw of one streamed (chunked) response.
#[derive(Debug, Clone)]
pub struct StreamStats {
    /// From the event written to the first body byte read.
    pub first_byte: Duration,
    /// From the event written to the last byte (the trailers) read.
    pub complete: Duration,
    /// Body bytes.
    pub bytes: u64,
    /// `Lambda-Runtime-Function-Error-Type` trailer, if the stream failed.
    pub error_trailer: Option<String>,
}

/// What the mock saw of a run, read after it finished.
#[derive(Debug, Clone)]
pub struct MockReport {
    /// When the first `GET /next` arrived.
    pub first_next: Option<Instant>,
    /// When the K-th answer arrived.
    pub finished: Option<Instant>,
    /// Answers read (`/response` and `/error`).
    pub answered: usize,
    /// `/error` answers.
    pub errors: usize,
    /// `/response` bodies that were not the expected reply.
    pub bad: usize,
    /// Second answers to one request id, or answers to unknown ids.
    pub duplicates: usize,
    /// `/init/error` calls.
    pub init_errors: usize,
    /// Per-invocation latency (event written → answer read), sorted, in ns.
    pub latencies_ns: Vec<u64>,
    /// The same for the quick events of a mixed load only (all of them otherwise).
    pub quick_latencies_ns: Vec<u64>,
    /// The streamed response, if there was one.
    pub stream: Option<StreamStats>,
}

impl Mock {
    /// Binds 127.0.0.1 on a free port and starts accepting.
    pub fn start(opts: MockOptions) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let events = opts.events;
        let state = Arc::new(State {
            opts,
            epoch: Instant::now(),
            deadline_ms: now_ms + 3_600_000,
            next_index: AtomicUsize::new(0),
            first_next: OnceLock::new(),
            sent_ns: (0..events).map(|_| AtomicU64::new(0)).collect(),
            latency_ns: (0..events).map(|_| AtomicU64::new(0)).collect(),
            answered: AtomicUsize::new(0),
            errors: AtomicUsize::new(0),
            bad: AtomicUsize::new(0),
            duplicates: AtomicUsize::new(0),
            init_errors: AtomicUsize::new(0),
            finished: (Mutex::new(None), Condvar::new()),
            stopping: AtomicBool::new(false),
            parked: (Mutex::new(false), Condvar::new()),
            stream: Mutex::new(None),
        });
        let accept_state = state.clone();
        let acceptor = thread::Builder::new()
            .name("mock-accept".into())
            .spawn(move || accept_loop(listener, accept_state))?;
        Ok(Self {
            addr,
            state,
            acceptor: Some(acceptor),
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// Waits until every event is answered or `timeout` passes (polling `alive` every 50 ms;
    /// it returning false ends the wait). True when every event was answered.
    pub fn wait_finished(&self, timeout: Duration, mut alive: impl FnMut() -> bool) -> bool {
        let until = Instant::now() + timeout;
        let (lock, cvar) = &self.state.finished;
        let mut done = lock.lock().unwrap_or_else(|p| p.into_inner());
        while done.is_none() {
            let now = Instant::now();
            if now >= until || !alive() {
                return false;
            }
            let slice = (until - now).min(Duration::from_millis(50));
            done = cvar.wait_timeout(done, slice).unwrap_or_else(|p| p.into_inner()).0;
        }
        true
    }

    /// What the mock has seen so far.
    pub fn report(&self) -> MockReport {
        let s = &self.state;
        let latencies = |quick_only: bool| {
            let mut l: Vec<u64> = s
                .latency_ns
                .iter()
                .enumerate()
                .filter(|(i, _)| !quick_only || !s.opts.is_slow(*i))
                .map(|(_, l)| l.load(Ordering::Relaxed))
                .filter(|&l| l > 0)
                .map(|l| l - 1)
                .collect();
            l.sort_unstable();
            l
        };
        let latencies_ns = latencies(false);
        let quick_latencies_ns = latencies(true);
        MockReport {
            first_next: s.first_next.get().copied(),
            finished: *s.finished.0.lock().unwrap_or_else(|p| p.into_inner()),
            answered: s.answered.load(Ordering::SeqCst),
            errors: s.errors.load(Ordering::SeqCst),
            bad: s.bad.load(Ordering::SeqCst),
            duplicates: s.duplicates.load(Ordering::SeqCst),
            init_errors: s.init_errors.load(Ordering::SeqCst),
            latencies_ns,
            quick_latencies_ns,
            stream: s.stream.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    /// Stops accepting and releases every parked `/next` (their connections close).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.state.stopping.store(true, Ordering::SeqCst);
        {
            let (lock, cvar) = &self.state.parked;
            *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
            cvar.notify_all();
        }
        if let Some(acceptor) = self.acceptor.take() {
            // Wake the blocking accept.
            let _ = TcpStream::connect(self.addr);
            let _ = acceptor.join();
        }
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(listener: TcpListener, state: Arc<State>) {
    for conn in listener.incoming() {
        if state.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(conn) = conn else { continue };
        let state = state.clone();
        let spawned = thread::Builder::new()
            .name("mock-conn".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                let _ = serve(conn, &state);
            });
        if let Err(e) = spawned {
            eprintln!("mock: cannot start a connection thread: {e}");
        }
    }
}

fn serve(conn: TcpStream, state: &State) -> io::Result<()> {
    conn.set_nodelay(true)?;
    let mut writer = conn.try_clone()?;
    let mut reader = Reader::new(conn, 64 * 1024);
    let mut head_buf = String::with_capacity(512);
    let mut body = Vec::new();
    loop {
        let Some(head) = reader.read_head()? else {
            return Ok(());
        };
        let route = Route::of(&head);
        let (head_len, content_length, chunked, close) =
            (head.len(), head.content_length(), head.is_chunked(), head.wants_close());
        let streaming = head
            .header("lambda-runtime-function-response-mode")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"streaming"));
        reader.consume_head(head_len);
        match route {
            Route::Next => {
                let now = Instant::now();
                state.first_next.get_or_init(|| now);
                let index = state.next_index.fetch_add(1, Ordering::Relaxed);
                if index >= state.opts.events {
                    // Nothing left: park like Lambda does until the mock stops.
                    let (lock, cvar) = &state.parked;
                    let mut stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
                    while !*stopped {
                        stopped = cvar.wait(stopped).unwrap_or_else(|p| p.into_inner());
                    }
                    return Ok(());
                }
                head_buf.clear();
                let _ = write!(
                    head_buf,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                     lambda-runtime-aws-request-id: {}\r\nlambda-runtime-deadline-ms: {}\r\n\
                     lambda-runtime-invoked-function-arn: {ARN}\r\nlambda-runtime-trace-id: {TRACE}\r\n\
                     content-length: {}\r\n\r\n",
                    request_id(index),
                    state.deadline_ms,
                    state.opts.event(index).len()
                );
                let sent = state.epoch.elapsed().as_nanos() as u64 + 1;
                state.sent_ns[index].store(sent, Ordering::Relaxed);
                write_all_vectored(&mut writer, &[head_buf.as_bytes(), state.opts.event(index)])?;
            }
            Route::Answer { id, error } => {
                let sent_at = id.and_then(|i| state.sent_ns.get(i)).map(|s| s.load(Ordering::Relaxed));
                if chunked {
                    let stats = read_stream(&mut reader, state, sent_at.unwrap_or(0))?;
                    *state.stream.lock().unwrap_or_else(|p| p.into_inner()) = Some(stats);
                } else {
                    reader.read_body_into(content_length.unwrap_or(0), &mut body)?;
                    if !error && !streaming {
                        if let Some(expected) = &state.opts.expected_reply {
                            if body != *expected {
                                state.bad.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                record_answer(state, id, sent_at, error);
                writer.write_all(if close { ACCEPTED_CLOSE } else { ACCEPTED })?;
            }
            Route::RegisterExtension => {
                reader.read_body_into(content_length.unwrap_or(0), &mut body)?;
                writer.write_all(REGISTERED)?;
            }
            Route::ExtensionNext => {
                // Parked like Lambda does, until the mock stops.
                let (lock, cvar) = &state.parked;
                let mut stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
                while !*stopped {
                    stopped = cvar.wait(stopped).unwrap_or_else(|p| p.into_inner());
                }
                return Ok(());
            }
            Route::InitError => {
                reader.read_body_into(content_length.unwrap_or(0), &mut body)?;
                state.init_errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("mock: /init/error: {}", String::from_utf8_lossy(&body));
                writer.write_all(ACCEPTED)?;
            }
            Route::Unknown => {
                if chunked {
                    reader.read_chunked(|_| {}, |_, _| {})?;
                } else {
                    reader.read_body(content_length.unwrap_or(0), |_| {})?;
                }
                writer.write_all(NOT_FOUND)?;
            }
        }
        if close {
            writer.flush()?;
            return Ok(());
        }
    }
}

fn record_answer(state: &State, id: Option<usize>, sent_at: Option<u64>, error: bool) {
    let index = match (id, sent_at) {
        (Some(i), Some(sent)) if sent > 0 => i,
        _ => {
            state.duplicates.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let latency = state.epoch.elapsed().as_nanos() as u64 + 1 - sent_at.unwrap_or(0) + 1;
    if state.latency_ns[index].swap(latency, Ordering::Relaxed) != 0 {
        state.duplicates.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if error {
        state.errors.fetch_add(1, Ordering::Relaxed);
    }
    if state.answered.fetch_add(1, Ordering::SeqCst) + 1 == state.opts.events {
        let (lock, cvar) = &state.finished;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        cvar.notify_all();
    }
}

fn read_stream(reader: &mut Reader<TcpStream>, state: &State, sent_ns: u64) -> io::Result<StreamStats> {
    let mut first: Option<Instant> = None;
    let mut bytes = 0u64;
    let mut error_trailer = None;
    reader.read_chunked(
        |data| {
            if first.is_none() && !data.is_empty() {
                first = Some(Instant::now());
            }
            bytes += data.len() as u64;
        },
        |name, value| {
            if name.eq_ignore_ascii_case(b"lambda-runtime-function-error-type") {
                error_trailer = Some(String::from_utf8_lossy(value).into_owned());
            }
        },
    )?;
    let sent = state.epoch + Duration::from_nanos(sent_ns.saturating_sub(1));
    let end = Instant::now();
    Ok(StreamStats {
        first_byte: first.unwrap_or(end).saturating_duration_since(sent),
        complete: end.saturating_duration_since(sent),
        bytes,
        error_trailer,
    })
}

/// The request id of event `index`: UUID-shaped, like Lambda's.
pub fn request_id(index: usize) -> String {
    format!("8f5c5a4e-0000-4000-8000-{index:012}")
}

fn index_of(id: &[u8]) -> Option<usize> {
    if id.len() != 36 || !id.starts_with(b"8f5c5a4e-0000-4000-8000-") {
        return None;
    }
    std::str::from_utf8(&id[24..]).ok()?.parse().ok()
}

enum Route {
    Next,
    Answer { id: Option<usize>, error: bool },
    InitError,
    RegisterExtension,
    ExtensionNext,
    Unknown,
}

impl Route {
    fn of(head: &Head<'_>) -> Self {
        let path = head.second;
        match (head.first, path) {
            (b"POST", b"/2020-01-01/extension/register") => return Self::RegisterExtension,
            (b"GET", b"/2020-01-01/extension/event/next") => return Self::ExtensionNext,
            _ => {}
        }
        let Some(rest) = path.strip_prefix(PREFIX.as_bytes()) else {
            return Self::Unknown;
        };
        match (head.first, rest) {
            (b"GET", b"invocation/next") => Self::Next,
            (b"POST", b"init/error") => Self::InitError,
            (b"POST", rest) => {
                let Some(rest) = rest.strip_prefix(b"invocation/") else {
                    return Self::Unknown;
                };
                if let Some(id) = rest.strip_suffix(b"/response") {
                    Self::Answer {
                        id: index_of(id),
                        error: false,
                    }
                } else if let Some(id) = rest.strip_suffix(b"/error") {
                    Self::Answer {
                        id: index_of(id),
                        error: true,
                    }
                } else {
                    Self::Unknown
                }
            }
            _ => Self::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn exchange(stream: &mut TcpStream, request: &[u8]) -> (Vec<u8>, Vec<u8>) {
        stream.write_all(request).unwrap();
        let mut reader = Reader::new(stream.try_clone().unwrap(), 0);
        let head = reader.read_head().unwrap().unwrap();
        let raw_head = String::from_utf8_lossy(&{
            let mut v = Vec::new();
            v.extend_from_slice(head.first);
            v.push(b' ');
            v.extend_from_slice(head.second);
            for (n, val) in head.headers() {
                v.extend_from_slice(b"\n");
                v.extend_from_slice(n);
                v.extend_from_slice(b": ");
                v.extend_from_slice(val);
            }
            v
        })
        .into_owned();
        let (len, body_len) = (head.len(), head.content_length().unwrap_or(0));
        reader.consume_head(len);
        let mut body = Vec::new();
        reader.read_body_into(body_len, &mut body).unwrap();
        (raw_head.into_bytes(), body)
    }

    #[test]
    fn serves_queued_events_counts_answers_and_reads_streams() {
        let mock = Mock::start(MockOptions {
            events: 2,
            event: Arc::from(&b"{\"name\":\"World\"}"[..]),
            expected_reply: Some(b"ok".to_vec()),
            slow: None,
        })
        .unwrap();
        let mut c = TcpStream::connect(mock.runtime_api()).unwrap();
        let (head, body) = exchange(
            &mut c,
            b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: x\r\n\r\n",
        );
        let head = String::from_utf8(head).unwrap();
        assert!(head.contains(&request_id(0)), "{head}");
        assert_eq!(body, b"{\"name\":\"World\"}");
        let answer = format!(
            "POST /2018-06-01/runtime/invocation/{}/response HTTP/1.1\r\ncontent-length: 3\r\n\r\nbad",
            request_id(0)
        );
        let (head, body) = exchange(&mut c, answer.as_bytes());
        assert!(String::from_utf8(head).unwrap().starts_with("HTTP/1.1 202"));
        assert_eq!(body, b"{\"status\":\"OK\"}\n");

        exchange(&mut c, b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n\r\n");
        let mut s = TcpStream::connect(mock.runtime_api()).unwrap();
        let stream = format!(
            "POST /2018-06-01/runtime/invocation/{}/response HTTP/1.1\r\ntransfer-encoding: chunked\r\n\
             lambda-runtime-function-response-mode: streaming\r\nconnection: close\r\n\r\n\
             3\r\nabc\r\n2\r\nde\r\n0\r\nLambda-Runtime-Function-Error-Type: Function.Boom\r\n\r\n",
            request_id(1)
        );
        exchange(&mut s, stream.as_bytes());
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "the mock closes after connection: close");

        assert!(mock.wait_finished(Duration::from_secs(5), || true));
        let report = mock.report();
        assert_eq!(
            (report.answered, report.bad, report.errors, report.duplicates),
            (2, 1, 0, 0)
        );
        let stream = report.stream.unwrap();
        assert_eq!(stream.bytes, 5);
        assert_eq!(stream.error_trailer.as_deref(), Some("Function.Boom"));
        assert_eq!(report.latencies_ns.len(), 2);
        assert!(report.first_next.is_some());
        mock.stop();
    }

    #[test]
    fn request_ids_round_trip_and_strangers_are_refused() {
        assert_eq!(index_of(request_id(1234).as_bytes()), Some(1234));
        assert_eq!(request_id(7).len(), 36);
        assert_eq!(index_of(b"not-an-id"), None);
    }
}
