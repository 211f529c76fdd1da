//! The hot path's connections: owned keep-alive HTTP/1.1 connections to the Runtime API,
//! driven through awc's own HTTP/1 codec (`actix_http::h1::ClientCodec`).
//!
//! `GET /next`, `POST /response` (buffered) and `POST /error` run once per invocation. Through
//! `awc::Client` each of them pays for a pool checkout and release (a SipHash of the pool key
//! each way, a semaphore), a fresh codec with its own date service (a task spawned and
//! cancelled per request), fresh 8 KiB read and write buffers, and a URL parse. Here one
//! [`Connections`] per thread keeps its idle connections in a stack, each with its codec and
//! buffers for the connection's life; a request is a path-only URI and a few headers. The
//! encoding and parsing are actix-http's, as with `awc::Client`: nothing of HTTP/1.1 is
//! written by hand. Everything else (streams, the Extensions and Telemetry APIs, init errors)
//! stays on `awc::Client`.
//!
//! actix-http's codec configuration starts a date service, a task that wakes its thread twice
//! a second to refresh the `Date` header it writes. Those wake-ups would be the only ones of an
//! idle runtime (every slot parked on `/next`), so the task is spawned into a [`LocalSet`] that
//! never runs, and each request carries a `Date` of its own (refreshed once a second, when a
//! request is sent): an idle environment is not woken at all.
//!
//! The rules are awc's: a connection is reused only after its reply was read to the end and
//! kept alive; before reuse it is checked for a close or stray bytes (without blocking); one
//! idle for more than [`IDLE_LIMIT`] is closed rather than reused.

use crate::ApiError;
use actix_codec::{Framed, FramedParts};
use actix_http::body::BodySize;
use actix_http::h1::{ClientCodec, Message, MessageType};
use actix_http::header::{HeaderMap, HeaderName, HeaderValue, DATE, HOST, USER_AGENT};
use actix_http::{Method, RequestHead, RequestHeadType, ResponseHead, ServiceConfig, Uri};
use bytes::{Bytes, BytesMut};
use std::cell::{Cell, OnceCell, RefCell};
use std::future::poll_fn;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio::task::LocalSet;

/// How long a connect may take (awc's connector timeout in [`RuntimeClient`](crate::RuntimeClient)).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// An idle connection older than this is closed, not reused (awc's keep-alive setting there).
const IDLE_LIMIT: Duration = Duration::from_secs(60);

type Io = Framed<TcpStream, ClientCodec>;

/// One connection, between requests.
pub(crate) struct Conn {
    io: Io,
    idle_since: Instant,
}

/// The idle connections of one thread to one Runtime API.
pub(crate) struct Connections {
    authority: String,
    host: HeaderValue,
    user_agent: HeaderValue,
    /// The codecs' configuration, shared by every connection of this thread: created with the
    /// first connection, its date service parked in `parked` (see the module's doc).
    config: OnceCell<ServiceConfig>,
    idle: RefCell<Vec<Conn>>,
    /// The `Date` header and the second it names.
    date: Cell<(u64, Option<HeaderValue>)>,
    /// Never run: holds the date service's task (declared last, so dropped after `config`).
    parked: LocalSet,
}

/// Why a reply body could not be read whole.
pub(crate) enum BodyError {
    /// The connection ended after this many bytes of it.
    Cut(usize),
    /// Over the limit, or not valid HTTP framing.
    Bad(String),
}

/// A reply whose head has arrived; its body is still on the connection.
pub(crate) struct Reply {
    pub(crate) head: ResponseHead,
    io: Io,
}

impl Connections {
    pub(crate) fn new(authority: String, user_agent: &'static str) -> Self {
        let host = HeaderValue::from_str(&authority).unwrap_or_else(|_| HeaderValue::from_static("localhost"));
        Self {
            authority,
            host,
            user_agent: HeaderValue::from_static(user_agent),
            config: OnceCell::new(),
            idle: RefCell::new(Vec::new()),
            date: Cell::new((0, None)),
            parked: LocalSet::new(),
        }
    }

    /// `Date` for a request sent now, formatted at most once a second.
    fn date(&self) -> HeaderValue {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if let (cached, Some(value)) = self.date.take() {
            if cached == second {
                self.date.set((second, Some(value.clone())));
                return value;
            }
        }
        let value =
            HeaderValue::from_str(&httpdate::fmt_http_date(now)).unwrap_or_else(|_| HeaderValue::from_static(""));
        self.date.set((second, Some(value.clone())));
        value
    }

    /// The codecs' configuration, its date service spawned into `parked`, which never runs.
    fn config(&self) -> ServiceConfig {
        self.config
            .get_or_init(|| {
                let _parked = self.parked.enter();
                ServiceConfig::default()
            })
            .clone()
    }

    /// Sends one request and waits for the reply head. `headers` are added to `Host` and
    /// `User-Agent`; `body` is sent with a `Content-Length`.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<Bytes>,
    ) -> Result<Reply, ApiError> {
        let uri = Uri::try_from(path).map_err(|e| ApiError::input(format_args!("the path {path:?}: {e}")))?;
        let mut head = RequestHead::default();
        head.method = method;
        head.uri = uri;
        let mut map = HeaderMap::with_capacity(headers.len() + 3);
        map.insert(HOST, self.host.clone());
        map.insert(USER_AGENT, self.user_agent.clone());
        map.insert(DATE, self.date());
        for (name, value) in headers {
            map.insert(name.clone(), value.clone());
        }
        head.headers = map;
        let length = body
            .as_ref()
            .map_or(BodySize::None, |b| BodySize::Sized(b.len() as u64));

        let mut io = self.checkout().await?;
        let mut framed = Pin::new(&mut io);
        framed
            .as_mut()
            .write(Message::Item((RequestHeadType::Owned(head), length)))
            .map_err(ApiError::unsent)?;
        if let Some(body) = body.filter(|b| !b.is_empty()) {
            framed
                .as_mut()
                .write(Message::Chunk(Some(body)))
                .map_err(ApiError::unsent)?;
        }
        poll_fn(|cx| framed.as_mut().flush::<Message<(RequestHeadType, BodySize)>>(cx))
            .await
            .map_err(ApiError::unsent)?;
        // A `/next` may stay parked for hours: it keeps no write buffer meanwhile.
        let mut io = without_buffers(io);
        match poll_fn(|cx| Pin::new(&mut io).next_item(cx)).await {
            Some(Ok(head)) => Ok(Reply { head, io }),
            // awc's mapping (see `send_error` in client.rs): no reply head is "unsent".
            None => Err(ApiError::unsent("the connection closed before the API replied")),
            Some(Err(actix_http::error::ParseError::Io(e))) => Err(ApiError::unsent(e)),
            Some(Err(e)) => Err(ApiError::transport(e)),
        }
    }

    /// Reads a reply's body, up to `limit` bytes, and keeps the connection for the next
    /// request when the reply allows it.
    pub(crate) async fn read_body(&self, reply: Reply, limit: usize) -> Result<Bytes, BodyError> {
        let Reply { io, .. } = reply;
        if io.codec_ref().message_type() == MessageType::None {
            self.checkin(io);
            return Ok(Bytes::new());
        }
        let mut payload = io.into_map_codec(ClientCodec::into_payload_codec);
        let mut whole: Option<Bytes> = None;
        let mut more: Option<BytesMut> = None;
        let mut read = 0usize;
        loop {
            match poll_fn(|cx| Pin::new(&mut payload).next_item(cx)).await {
                Some(Ok(Some(chunk))) => {
                    read += chunk.len();
                    if read > limit {
                        return Err(BodyError::Bad(format!("the body is larger than {limit} bytes")));
                    }
                    match (&mut whole, &mut more) {
                        (None, _) => whole = Some(chunk),
                        (Some(first), None) => {
                            let mut buf = BytesMut::with_capacity(first.len() + chunk.len());
                            buf.extend_from_slice(first);
                            buf.extend_from_slice(&chunk);
                            more = Some(buf);
                        }
                        (Some(_), Some(buf)) => buf.extend_from_slice(&chunk),
                    }
                }
                Some(Ok(None)) => break,
                Some(Err(e)) => return Err(BodyError::Bad(e.to_string())),
                None => return Err(BodyError::Cut(read)),
            }
        }
        self.checkin(payload.into_map_codec(actix_http::h1::ClientPayloadCodec::into_message_codec));
        Ok(match (whole, more) {
            (_, Some(buf)) => buf.freeze(),
            (Some(first), None) => first,
            (None, None) => Bytes::new(),
        })
    }

    async fn checkout(&self) -> Result<Io, ApiError> {
        loop {
            let Some(conn) = self.idle.borrow_mut().pop() else {
                break;
            };
            if conn.idle_since.elapsed() <= IDLE_LIMIT && is_live(&conn.io) {
                return Ok(conn.io);
            }
        }
        let connect = TcpStream::connect(self.authority.as_str());
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(ApiError::connect(format_args!("{}: {e}", self.authority))),
            Err(_) => {
                return Err(ApiError::connect(format_args!(
                    "{}: no connection within {CONNECT_TIMEOUT:?}",
                    self.authority
                )))
            }
        };
        // Head and body go out in one write; small replies must not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let config = self.config();
        // Empty buffers, as a reused connection has: `Framed::new` would allocate 2 x 8 KiB
        // that `send` drops again once the request is written.
        Ok(Framed::from_parts(FramedParts::new(stream, ClientCodec::new(config))))
    }

    fn checkin(&self, io: Io) {
        if io.codec_ref().keep_alive() && io.is_read_buf_empty() && io.is_write_buf_empty() {
            self.idle.borrow_mut().push(Conn {
                io: without_buffers(io),
                idle_since: Instant::now(),
            });
        }
    }
}

/// The connection with empty buffers of no capacity (only called when they hold nothing): an
/// idle or parked connection holds no memory beyond its socket and codec, as with awc, whose
/// buffers live for one request. The next read or write allocates what it needs.
fn without_buffers(io: Io) -> Io {
    let mut parts = io.into_parts();
    parts.read_buf = BytesMut::new();
    parts.write_buf = BytesMut::new();
    Framed::from_parts(parts)
}

/// An idle connection is usable when it has nothing to read: no close from the other end, no
/// stray bytes (awc's check: a read that must not block).
fn is_live(io: &Io) -> bool {
    let mut probe = [0u8; 1];
    match io.io_ref().try_read(&mut probe) {
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        Ok(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    /// Reads one request head (these requests carry no body).
    fn read_head(stream: &mut std::net::TcpStream) {
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !seen.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).unwrap(), 1, "the request ended early");
            seen.push(byte[0]);
        }
    }

    /// A server answering each connection's requests with `replies`, one per request, then
    /// closing it; it reports each close on `closed`.
    fn serve(connections: Vec<Vec<&'static str>>) -> (String, mpsc::Receiver<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        let (closed, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for (i, replies) in connections.into_iter().enumerate() {
                let (mut stream, _) = listener.accept().unwrap();
                for reply in replies {
                    read_head(&mut stream);
                    stream.write_all(reply.as_bytes()).unwrap();
                }
                drop(stream);
                let _ = closed.send(i);
            }
        });
        (authority, rx)
    }

    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

    async fn get(conns: &Connections) -> Result<Bytes, ApiError> {
        let reply = conns.send(Method::GET, "/x", &[], None).await?;
        conns
            .read_body(reply, 1024)
            .await
            .map_err(|_| ApiError::transport("the body did not arrive whole"))
    }

    #[actix_rt::test]
    async fn a_kept_alive_connection_is_reused_for_the_next_request() {
        // The server accepts one connection only: a request on a second one is never answered.
        let (authority, _closed) = serve(vec![vec![OK, OK, OK]]);
        let conns = Connections::new(authority, "test");
        for i in 0..3 {
            let got = tokio::time::timeout(Duration::from_secs(10), get(&conns)).await;
            assert_eq!(
                got.expect("answered: the same connection").unwrap(),
                "ok",
                "request {i}"
            );
        }
    }

    #[actix_rt::test]
    async fn an_idle_connection_the_server_closed_is_replaced_not_reused() {
        let (authority, closed) = serve(vec![vec![OK], vec![OK]]);
        let conns = Connections::new(authority, "test");
        assert_eq!(get(&conns).await.unwrap(), "ok");
        assert_eq!(closed.recv().unwrap(), 0, "the server closed the first connection");
        // The close may still be on its way through loopback: wait until the socket shows it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while is_live(&conns.idle.borrow().last().expect("kept after the first reply").io) {
            assert!(
                Instant::now() < deadline,
                "the close never showed on the idle connection"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(get(&conns).await.unwrap(), "ok", "a fresh connection, not an error");
    }

    #[actix_rt::test]
    async fn a_reply_that_closes_the_connection_is_not_kept() {
        let (authority, _closed) = serve(vec![
            vec!["HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"],
            vec![OK],
        ]);
        let conns = Connections::new(authority, "test");
        assert_eq!(get(&conns).await.unwrap(), "ok");
        assert!(
            conns.idle.borrow().is_empty(),
            "a `connection: close` reply is not pooled"
        );
        assert_eq!(get(&conns).await.unwrap(), "ok");
    }

    #[actix_rt::test]
    async fn a_cut_body_is_an_error_and_its_connection_is_dropped() {
        let (authority, _closed) = serve(vec![vec!["HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"]]);
        let conns = Connections::new(authority, "test");
        let reply = conns.send(Method::GET, "/x", &[], None).await.unwrap();
        match conns.read_body(reply, 1024).await {
            Err(BodyError::Cut(3)) => {}
            Err(BodyError::Cut(n)) => panic!("cut after {n} bytes, not 3"),
            Err(BodyError::Bad(e)) => panic!("not a cut: {e}"),
            Ok(body) => panic!("a cut body read as whole: {body:?}"),
        }
        assert!(conns.idle.borrow().is_empty());
    }

    #[actix_rt::test]
    async fn no_reply_head_is_an_unsent_error_and_no_port_a_connect_error() {
        let (authority, _closed) = serve(vec![vec![""]]);
        let conns = Connections::new(authority, "test");
        let err = get(&conns).await.unwrap_err();
        assert!(
            err.is_retryable(),
            "closed before the head is unsent (retryable): {err}"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string();
        let err = get(&Connections::new(port.clone(), "test")).await.unwrap_err();
        assert!(err.is_connect() && err.to_string().contains(&port), "{err}");
    }
}
