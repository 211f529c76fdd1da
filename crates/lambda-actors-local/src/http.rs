//! A small HTTP/1.1 server connection: request heads (parsed by `httparse`), bodies with
//! `Content-Length` or chunked framing (trailers included), and response writing.
//!
//! Hand-written rather than actix-web: it keeps the binary small, it lets a streamed body be
//! relayed piece by piece, and it reads the trailers of chunked request bodies, which
//! actix-http discards.

use bytes::{Bytes, BytesMut};
use std::fmt::Write as _;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use actix_rt::net::TcpStream;
use actix_rt::time::timeout;

/// Largest request head (request line and headers) and largest trailer section.
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most headers in one request head or trailer section.
const MAX_HEADERS: usize = 100;
/// Longest chunk-size line (size, extensions, CRLF).
const MAX_CHUNK_LINE: usize = 1024;
/// How long a started request head, or a body, may go without a byte.
pub(crate) const READ_STALL: Duration = Duration::from_secs(60);
/// How long a write may make no progress (a caller that stopped reading).
pub(crate) const WRITE_STALL: Duration = Duration::from_secs(60);
/// How many bytes one socket read asks for.
const READ_SIZE: usize = 64 * 1024;

/// Why a connection cannot go on.
#[derive(Debug)]
pub(crate) enum HttpError {
    /// The socket failed.
    Io(std::io::Error),
    /// The peer closed the connection in the middle of a message.
    Closed,
    /// The peer sent nothing for too long in the middle of a message, or did not read.
    Stalled,
    /// The request head or a trailer section is over [`MAX_HEAD_BYTES`] or has too many fields.
    HeadTooLarge,
    /// The bytes are not HTTP/1.1.
    Malformed(&'static str),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "socket error: {e}"),
            Self::Closed => f.write_str("the peer closed the connection mid-message"),
            Self::Stalled => f.write_str("the peer stalled"),
            Self::HeadTooLarge => f.write_str("request head or trailers too large"),
            Self::Malformed(why) => write!(f, "malformed HTTP: {why}"),
        }
    }
}

impl From<std::io::Error> for HttpError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// A parsed request head. Header names are lower-case.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) method: String,
    /// The path, without the query string.
    pub(crate) path: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub(crate) minor_version: u8,
    pub(crate) headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of a header, by lower-case name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header (`Connection`, `Transfer-Encoding`) lists `token`.
    fn lists(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the connection may serve another request after this one.
    pub(crate) fn keep_alive(&self) -> bool {
        if self.minor_version == 0 {
            self.lists("connection", "keep-alive")
        } else {
            !self.lists("connection", "close")
        }
    }

    /// Whether the client waits for `100 Continue` before sending the body.
    pub(crate) fn expects_continue(&self) -> bool {
        self.minor_version == 1 && self.lists("expect", "100-continue")
    }

    /// How the body is framed.
    pub(crate) fn body(&self) -> Result<Body, HttpError> {
        if self.headers.iter().any(|(n, _)| n == "transfer-encoding") {
            if self.headers.iter().any(|(n, _)| n == "content-length") {
                return Err(HttpError::Malformed("both Content-Length and Transfer-Encoding"));
            }
            // Chunked must be the last (here: the only useful) coding.
            let last = self
                .headers
                .iter()
                .filter(|(n, _)| n == "transfer-encoding")
                .flat_map(|(_, v)| v.split(','))
                .map(str::trim)
                .rfind(|t| !t.is_empty());
            return match last {
                Some(t) if t.eq_ignore_ascii_case("chunked") => Ok(Body::chunked()),
                _ => Err(HttpError::Malformed("unsupported Transfer-Encoding")),
            };
        }
        let mut lengths = self.headers.iter().filter(|(n, _)| n == "content-length");
        match lengths.next() {
            None => Ok(Body::length(0)),
            Some((_, v)) => {
                let len: u64 = v
                    .trim()
                    .parse()
                    .map_err(|_| HttpError::Malformed("bad Content-Length"))?;
                if lengths.any(|(_, other)| other.trim() != v.trim()) {
                    return Err(HttpError::Malformed("conflicting Content-Length headers"));
                }
                Ok(Body::length(len))
            }
        }
    }
}

/// The reading state of one request body.
#[derive(Debug)]
pub(crate) struct Body {
    state: BodyState,
    /// Bytes of payload read so far.
    pub(crate) read: u64,
    /// The trailer fields of a chunked body, lower-case names, once it is read to the end.
    pub(crate) trailers: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyState {
    /// `Content-Length` framing, this many bytes left.
    Length(u64),
    /// Chunked: expecting a chunk-size line.
    ChunkSize,
    /// Chunked: this many bytes of chunk data left.
    ChunkData(u64),
    /// Chunked: expecting the CRLF after chunk data.
    ChunkEnd,
    /// Chunked: expecting the trailer section.
    Trailers,
    Done,
}

impl Body {
    fn length(len: u64) -> Self {
        let state = if len == 0 {
            BodyState::Done
        } else {
            BodyState::Length(len)
        };
        Self {
            state,
            read: 0,
            trailers: Vec::new(),
        }
    }

    fn chunked() -> Self {
        Self {
            state: BodyState::ChunkSize,
            read: 0,
            trailers: Vec::new(),
        }
    }

    /// The declared length, for `Content-Length` bodies.
    pub(crate) fn declared_len(&self) -> Option<u64> {
        match self.state {
            BodyState::Length(n) if self.read == 0 => Some(n),
            BodyState::Done if self.read == 0 => Some(0),
            _ => None,
        }
    }

    /// Whether the whole body, trailers included, has been read.
    pub(crate) fn is_done(&self) -> bool {
        self.state == BodyState::Done
    }

    /// A trailer value by lower-case name.
    pub(crate) fn trailer(&self, name: &str) -> Option<&str> {
        self.trailers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Why a body could not be read whole.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// More than the limit; the connection is still in sync only if the rest was drained.
    TooLarge,
    Http(HttpError),
}

impl From<HttpError> for BodyError {
    fn from(e: HttpError) -> Self {
        Self::Http(e)
    }
}

/// One server-side connection with its read buffer.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    buf: BytesMut,
}

impl Conn {
    pub(crate) fn new(stream: TcpStream) -> Self {
        // Each write is one chunk that must leave at once; see the streaming relay.
        let _ = stream.set_nodelay(true);
        Self {
            stream,
            buf: BytesMut::with_capacity(8 * 1024),
        }
    }

    /// Reads once into the buffer; `Ok(0)` at end of stream.
    async fn fill(&mut self, stall: Option<Duration>) -> Result<usize, HttpError> {
        self.buf.reserve(READ_SIZE);
        let read = self.stream.read_buf(&mut self.buf);
        let n = match stall {
            Some(d) => timeout(d, read).await.map_err(|_| HttpError::Stalled)??,
            None => read.await?,
        };
        Ok(n)
    }

    /// Reads the next request head. `Ok(None)` when the peer closed the connection (or stayed
    /// silent for `idle`) between requests.
    pub(crate) async fn read_head(&mut self, idle: Duration) -> Result<Option<Head>, HttpError> {
        loop {
            // Stray CRLFs between requests are allowed (RFC 9112 §2.2).
            while self.buf.starts_with(b"\r\n") {
                let _ = self.buf.split_to(2);
            }
            if !self.buf.is_empty() {
                let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut req = httparse::Request::new(&mut fields);
                // Only the first MAX_HEAD_BYTES may hold the head.
                let window = &self.buf[..self.buf.len().min(MAX_HEAD_BYTES)];
                match req.parse(window) {
                    Ok(httparse::Status::Complete(len)) => {
                        let head = to_head(&req)?;
                        let _ = self.buf.split_to(len);
                        return Ok(Some(head));
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadTooLarge),
                    Err(_) => return Err(HttpError::Malformed("bad request head")),
                }
                if self.buf.len() >= MAX_HEAD_BYTES {
                    return Err(HttpError::HeadTooLarge);
                }
            }
            let between_requests = self.buf.is_empty();
            let stall = if between_requests { idle } else { READ_STALL };
            match self.fill(Some(stall)).await {
                Ok(0) if between_requests => return Ok(None),
                Ok(0) => return Err(HttpError::Closed),
                Ok(_) => {}
                Err(HttpError::Stalled) if between_requests => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads the next piece of `body`, at most `max` bytes; `Ok(None)` once the body (and its
    /// trailers) are read. `stall` bounds the wait for each byte.
    pub(crate) async fn read_piece(
        &mut self,
        body: &mut Body,
        max: usize,
        stall: Duration,
    ) -> Result<Option<Bytes>, HttpError> {
        loop {
            match body.state {
                BodyState::Done => return Ok(None),
                BodyState::Length(left) | BodyState::ChunkData(left) => {
                    if self.buf.is_empty() && self.fill(Some(stall)).await? == 0 {
                        return Err(HttpError::Closed);
                    }
                    let take = (self.buf.len() as u64).min(left).min(max.max(1) as u64) as usize;
                    let piece = self.buf.split_to(take).freeze();
                    let left = left - take as u64;
                    body.read += take as u64;
                    body.state = match body.state {
                        BodyState::Length(_) if left == 0 => BodyState::Done,
                        BodyState::Length(_) => BodyState::Length(left),
                        _ if left == 0 => BodyState::ChunkEnd,
                        _ => BodyState::ChunkData(left),
                    };
                    return Ok(Some(piece));
                }
                BodyState::ChunkSize => {
                    let Some(end) = find_crlf(&self.buf) else {
                        if self.buf.len() > MAX_CHUNK_LINE {
                            return Err(HttpError::Malformed("chunk-size line too long"));
                        }
                        self.fill_or_closed(stall).await?;
                        continue;
                    };
                    let size = parse_chunk_size(&self.buf[..end])?;
                    let _ = self.buf.split_to(end + 2);
                    body.state = if size == 0 {
                        BodyState::Trailers
                    } else {
                        BodyState::ChunkData(size)
                    };
                }
                BodyState::ChunkEnd => {
                    if self.buf.len() < 2 {
                        self.fill_or_closed(stall).await?;
                        continue;
                    }
                    if &self.buf[..2] != b"\r\n" {
                        return Err(HttpError::Malformed("chunk data not followed by CRLF"));
                    }
                    let _ = self.buf.split_to(2);
                    body.state = BodyState::ChunkSize;
                }
                BodyState::Trailers => {
                    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    let window = &self.buf[..self.buf.len().min(MAX_HEAD_BYTES)];
                    match httparse::parse_headers(window, &mut fields) {
                        Ok(httparse::Status::Complete((len, fields))) => {
                            body.trailers = fields
                                .iter()
                                .map(|f| {
                                    (
                                        f.name.to_ascii_lowercase(),
                                        String::from_utf8_lossy(f.value).trim().to_owned(),
                                    )
                                })
                                .collect();
                            let _ = self.buf.split_to(len);
                            body.state = BodyState::Done;
                        }
                        Ok(httparse::Status::Partial) => {
                            if self.buf.len() >= MAX_HEAD_BYTES {
                                return Err(HttpError::HeadTooLarge);
                            }
                            self.fill_or_closed(stall).await?;
                        }
                        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadTooLarge),
                        Err(_) => return Err(HttpError::Malformed("bad trailer section")),
                    }
                }
            }
        }
    }

    async fn fill_or_closed(&mut self, stall: Duration) -> Result<(), HttpError> {
        match self.fill(Some(stall)).await? {
            0 => Err(HttpError::Closed),
            _ => Ok(()),
        }
    }

    /// Reads the whole body into memory, up to `limit` bytes. Over the limit it stops reading
    /// and answers [`BodyError::TooLarge`]; call [`Conn::drain`] to get back in sync.
    pub(crate) async fn read_to_end(&mut self, body: &mut Body, limit: usize) -> Result<Bytes, BodyError> {
        if let Some(len) = body.declared_len() {
            if len > limit as u64 {
                return Err(BodyError::TooLarge);
            }
        }
        let mut out = BytesMut::new();
        while let Some(piece) = self.read_piece(body, READ_SIZE, READ_STALL).await? {
            if out.len() + piece.len() > limit {
                return Err(BodyError::TooLarge);
            }
            if out.is_empty() && body.is_done() {
                // The whole body in one piece: no copy.
                return Ok(piece);
            }
            out.extend_from_slice(&piece);
        }
        Ok(out.freeze())
    }

    /// Reads and discards the rest of `body`, at most `limit` more bytes. `true` when the body
    /// ended within the limit (the connection can be kept), `false` otherwise.
    pub(crate) async fn drain(&mut self, body: &mut Body, limit: u64) -> bool {
        let start = body.read;
        if let Some(len) = body.declared_len() {
            if len > limit {
                return false;
            }
        }
        loop {
            match self.read_piece(body, READ_SIZE, READ_STALL).await {
                Ok(Some(_)) if body.read - start <= limit => {}
                Ok(None) => return true,
                _ => return false,
            }
        }
    }

    /// Waits until the peer closes the connection (or it fails). Bytes the peer sends meanwhile
    /// (a pipelined request) stay buffered. Never returns while the peer is just waiting.
    pub(crate) async fn closed(&mut self) {
        loop {
            if self.buf.len() > MAX_HEAD_BYTES {
                // Nothing more can be buffered: stop watching, wait for the other side.
                std::future::pending::<()>().await;
            }
            match self.fill(None).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    /// Closes the connection gracefully: sends FIN, then reads and drops what the peer still
    /// sends (for a moment, a bounded amount), so that the peer reads our last response
    /// instead of a reset caused by its unread request bytes.
    pub(crate) async fn linger(mut self) {
        let _ = timeout(Duration::from_secs(1), self.stream.shutdown()).await;
        let end = actix_rt::time::Instant::now() + Duration::from_secs(1);
        let mut dropped = 0;
        while dropped < 4 * 1024 * 1024 {
            self.buf.clear();
            self.buf.reserve(READ_SIZE);
            match tokio::time::timeout_at(end, self.stream.read_buf(&mut self.buf)).await {
                Ok(Ok(n)) if n > 0 => dropped += n,
                _ => return,
            }
        }
    }

    /// Writes all of `data`, failing if the peer stops reading for [`WRITE_STALL`].
    pub(crate) async fn write(&mut self, data: &[u8]) -> Result<(), HttpError> {
        timeout(WRITE_STALL, self.stream.write_all(data))
            .await
            .map_err(|_| HttpError::Stalled)??;
        Ok(())
    }

    /// Writes a complete response with a `Content-Length` body.
    pub(crate) async fn respond(&mut self, resp: &Response, keep_alive: bool) -> Result<(), HttpError> {
        let mut head = resp.head_text(keep_alive);
        let _ = write!(head, "content-length: {}\r\n\r\n", resp.body.len());
        if resp.body.len() <= 16 * 1024 {
            let mut all = head.into_bytes();
            all.extend_from_slice(&resp.body);
            self.write(&all).await
        } else {
            self.write(head.as_bytes()).await?;
            self.write(&resp.body).await
        }
    }

    /// Writes `100 Continue`.
    pub(crate) async fn continue_100(&mut self) -> Result<(), HttpError> {
        self.write(b"HTTP/1.1 100 Continue\r\n\r\n").await
    }

    /// Writes one chunk of a chunked body (nothing for empty data: an empty chunk would end
    /// the body).
    pub(crate) async fn write_chunk(&mut self, data: &[u8]) -> Result<(), HttpError> {
        if data.is_empty() {
            return Ok(());
        }
        let mut frame = Vec::with_capacity(data.len() + 20);
        let _ = write!(Sink(&mut frame), "{:x}\r\n", data.len());
        frame.extend_from_slice(data);
        frame.extend_from_slice(b"\r\n");
        self.write(&frame).await
    }

    /// Ends a chunked body, with trailer fields.
    pub(crate) async fn end_chunks(&mut self, trailers: &[(&str, &str)]) -> Result<(), HttpError> {
        let mut end = String::from("0\r\n");
        for (name, value) in trailers {
            let _ = write!(end, "{name}: {value}\r\n");
        }
        end.push_str("\r\n");
        self.write(end.as_bytes()).await
    }
}

/// `fmt::Write` over a byte vector.
struct Sink<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Sink<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn to_head(req: &httparse::Request<'_, '_>) -> Result<Head, HttpError> {
    let method = req.method.ok_or(HttpError::Malformed("no method"))?.to_owned();
    let target = req.path.ok_or(HttpError::Malformed("no path"))?;
    let path = target.split(['?', '#']).next().unwrap_or("").to_owned();
    let headers = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_owned(),
            )
        })
        .collect();
    Ok(Head {
        method,
        path,
        minor_version: req.version.unwrap_or(1),
        headers,
    })
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

fn parse_chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let bad = HttpError::Malformed("bad chunk size");
    // Chunk extensions (`;name=value`) are allowed and ignored.
    let hex = line.split(|&b| b == b';').next().unwrap_or(&[]);
    let hex = std::str::from_utf8(hex).map_err(|_| HttpError::Malformed("bad chunk size"))?;
    let hex = hex.trim_matches([' ', '\t']);
    if hex.is_empty() || hex.len() > 15 {
        return Err(bad);
    }
    u64::from_str_radix(hex, 16).map_err(|_| bad)
}

/// A response with a buffered body.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
}

impl Response {
    pub(crate) fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub(crate) fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// A JSON body.
    pub(crate) fn json(self, body: impl Into<Bytes>) -> Self {
        self.header("content-type", "application/json").body(body)
    }

    /// The status line and headers, without the framing header and the blank line.
    pub(crate) fn head_text(&self, keep_alive: bool) -> String {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        if !keep_alive {
            head.push_str("connection: close\r\n");
        }
        head
    }
}

/// The reason phrase of a status code; empty (which HTTP/1.1 allows) for unusual codes.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        418 => "I'm a teapot",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// Whether `value` can be sent as a header value as it is.
pub(crate) fn is_header_value(value: &str) -> bool {
    value.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Whether `name` is a valid header name (an RFC 9110 token).
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Which of two futures finished first.
#[derive(Debug)]
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Runs two futures until one finishes; the other is dropped. `a` is polled first.
pub(crate) async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes_parse_with_extensions() {
        assert_eq!(parse_chunk_size(b"1a").unwrap(), 26);
        assert_eq!(parse_chunk_size(b"FF;name=value").unwrap(), 255);
        assert_eq!(parse_chunk_size(b"0").unwrap(), 0);
        assert!(parse_chunk_size(b"").is_err());
        assert!(parse_chunk_size(b"xyz").is_err());
        assert!(parse_chunk_size(b"1234567890abcdef0").is_err());
    }

    #[test]
    fn header_checks() {
        assert!(is_header_name("X-Amz-Function-Error"));
        assert!(!is_header_name("bad name"));
        assert!(!is_header_name(""));
        assert!(is_header_value("Root=1-abc;Sampled=0"));
        assert!(!is_header_value("a\r\nb"));
    }

    #[test]
    fn unusual_statuses_have_an_empty_reason() {
        assert_eq!(Response::new(299).head_text(true), "HTTP/1.1 299 \r\n");
        assert_eq!(
            Response::new(418).header("a", "b").head_text(false),
            "HTTP/1.1 418 I'm a teapot\r\na: b\r\nconnection: close\r\n"
        );
    }
}
