//! The hand-written HTTP/1.1 chunked writer for a streamed `/response` (protocol.md §5).
//!
//! awc cannot do this job: it buffers a streamed body until 8 KiB and it cannot send trailers.
//! [`StreamWriter`] opens its own TCP connection (an `actix_rt::net::TcpStream`, which is tokio's
//! `TcpStream`) with `TCP_NODELAY`, writes the head at once with `Trailer:` declared, sends each
//! [`write`](StreamWriter::write) as one chunk that leaves the machine now, and ends the body
//! either plainly ([`finish`](StreamWriter::finish)) or with real HTTP trailers carrying the error
//! ([`fail`](StreamWriter::fail)). It then reads the reply (a bounded read, in size and in time)
//! and closes the connection.
//!
//! Backpressure is the awaited write: a slow Runtime API slows the writer, and nothing is
//! accumulated, so memory stays flat whatever the stream size. Writes have no timeout.
//!
//! While a chunk is being written the connection is also watched for an early reply: a server
//! that rejects the upload mid-way (and may stop reading) ends the stream with an [`ApiError`]
//! carrying its status, instead of a write that waits for ever.
//!
//! Only the writing is hand-written, because no kept crate writes a request body with trailers:
//! awc cannot, and actix-http's `ClientCodec` encodes a chunked body but no trailer section.
//! The reply is parsed by httparse (head and chunk sizes); the loop around it stays here because
//! the read half of this connection is also the one watched for an early reply during writes,
//! which a codec that owns the whole connection would not allow.

use crate::{headers, ApiError, Endpoint, ErrorBody};
use base64::Engine as _;
use bytes::Buf;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The 8 NUL bytes that end the JSON prelude of an HTTP-integration stream.
pub const PRELUDE_SEPARATOR: [u8; 8] = [0; 8];

/// How long [`StreamWriter`] waits for the reply after the body ends, unless
/// [`set_reply_timeout`](StreamWriter::set_reply_timeout) says otherwise.
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// Chunks up to this size are copied next to their framing and sent with one plain write;
/// larger ones go out as one vectored write (size line, data, CRLF) without a copy.
const SMALL_CHUNK: usize = 8 * 1024;
/// The most bytes of reply head that are read before the reply counts as broken.
const MAX_REPLY_HEAD: usize = 16 * 1024;
/// The most bytes of reply body that are kept; the rest is not read (the connection closes).
const MAX_REPLY_BODY: usize = 64 * 1024;
/// Header fields read from a reply; the Runtime API sends a handful.
const MAX_REPLY_FIELDS: usize = 64;
/// On a failed write, how long to look for a reply that explains it.
const EXPLAIN_TIMEOUT: Duration = Duration::from_secs(2);

const TRAILER_ERROR_TYPE: &str = "Lambda-Runtime-Function-Error-Type";
const TRAILER_ERROR_BODY: &str = "Lambda-Runtime-Function-Error-Body";

/// One streamed `/response`, on its own fresh TCP connection.
///
/// Made by [`start`](Self::start), fed by [`write`](Self::write), ended by
/// [`finish`](Self::finish) or [`fail`](Self::fail) (both consume it and close the
/// connection). Dropping it without either closes the connection mid-body, which the Runtime
/// API sees as a truncated response.
pub struct StreamWriter {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    written: u64,
    chunks: u64,
    scratch: Vec<u8>,
    reply_timeout: Duration,
    failed: Option<Failure>,
}

/// Why a stream can no longer be written; kept so that every later call says the same.
#[derive(Debug, Clone)]
enum Failure {
    /// The API answered (before the body ended) with this status and body.
    Status(u16, Vec<u8>),
    /// The connection broke.
    Transport(String),
    /// A write was dropped part-way (its future cancelled): the chunk framing is broken.
    Cancelled,
}

impl Failure {
    fn to_error(&self) -> ApiError {
        match self {
            Self::Status(code, body) => ApiError::from_status(*code, body),
            Self::Transport(detail) => ApiError::transport(detail),
            Self::Cancelled => {
                ApiError::transport("an earlier write was cancelled part-way, so the chunked body is broken")
            }
        }
    }
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("peer", &self.writer.peer_addr().ok())
            .field("bytes_written", &self.written)
            .field("chunks", &self.chunks)
            .field("reply_timeout", &self.reply_timeout)
            .field("failed", &self.failed)
            .finish()
    }
}

impl StreamWriter {
    /// Connects to the Runtime API (a fresh connection, `TCP_NODELAY`) and writes the head of
    /// `POST {prefix}/2018-06-01/runtime/invocation/{request_id}/response` at once:
    /// `Lambda-Runtime-Function-Response-Mode: streaming`, `Transfer-Encoding: chunked`, the
    /// `Trailer:` declaration of the two error trailers, `Content-Type`, and
    /// `Lambda-Runtime-Invocation-Id` when given.
    ///
    /// A content type or invocation id that cannot be a header value (CR, LF, other control
    /// characters, non-ASCII) is refused before anything is sent.
    pub async fn start(
        endpoint: &Endpoint,
        request_id: &str,
        invocation_id: Option<&str>,
        content_type: &str,
    ) -> Result<Self, ApiError> {
        let head = build_head(endpoint, request_id, invocation_id, content_type)?;
        let stream = TcpStream::connect(endpoint.authority())
            .await
            .map_err(|e| ApiError::connect(format_args!("{}: {e}", endpoint.authority())))?;
        stream
            .set_nodelay(true)
            .map_err(|e| ApiError::transport(format_args!("cannot set TCP_NODELAY: {e}")))?;
        let (reader, writer) = stream.into_split();
        let mut this = Self {
            reader,
            writer,
            written: 0,
            chunks: 0,
            scratch: Vec::new(),
            reply_timeout: DEFAULT_REPLY_TIMEOUT,
            failed: None,
        };
        this.send_bytes(head.as_bytes()).await?;
        Ok(this)
    }

    /// How long to wait for the reply once the body has ended (and for the rest of a reply
    /// that arrives early). Writes themselves never time out.
    pub fn set_reply_timeout(&mut self, timeout: Duration) {
        self.reply_timeout = timeout;
    }

    /// Sends `data` as one chunk, now: size line, data and CRLF in one write where the kernel
    /// takes it (a copy for small chunks, a vectored write for large ones). Returns when the
    /// kernel has it, so a slow reader slows the writer. Empty input sends nothing (a
    /// zero-length chunk would end the body).
    ///
    /// After an error the stream is broken: every later call returns the same error.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), ApiError> {
        if let Some(failure) = &self.failed {
            return Err(failure.to_error());
        }
        if data.is_empty() {
            return Ok(());
        }
        let mut line = [0u8; 18];
        let line = size_line(data.len(), &mut line);
        if data.len() <= SMALL_CHUNK {
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            scratch.extend_from_slice(line);
            scratch.extend_from_slice(data);
            scratch.extend_from_slice(b"\r\n");
            let sent = self.send_bytes(&scratch).await;
            self.scratch = scratch;
            sent?;
        } else {
            let buf = Buf::chain(Buf::chain(line, data), &b"\r\n"[..]);
            self.send(buf).await?;
        }
        self.written += data.len() as u64;
        self.chunks += 1;
        Ok(())
    }

    /// Sends the HTTP-integration prelude: its JSON as one chunk, then the 8 NUL bytes as
    /// another (separate chunks suit every emulator). Call it first, before any payload, on a
    /// stream started with [`headers::HTTP_INTEGRATION_CONTENT_TYPE`]; after the first byte
    /// it is refused.
    pub async fn write_prelude(&mut self, prelude: &HttpPrelude) -> Result<(), ApiError> {
        if self.written > 0 {
            return Err(ApiError::input(
                "the HTTP prelude must come before the first byte of the response",
            ));
        }
        self.write(&prelude.to_json()).await?;
        self.write(&PRELUDE_SEPARATOR).await
    }

    /// Payload bytes sent so far (chunk framing not counted).
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Chunks sent so far.
    pub fn chunks_written(&self) -> u64 {
        self.chunks
    }

    /// Ends the body (`0\r\n\r\n`), reads the reply and closes the connection: `Ok` on 2xx,
    /// otherwise an [`ApiError`] with the status (or a transport error if the connection broke
    /// or no reply came within the reply timeout).
    pub async fn finish(mut self) -> Result<(), ApiError> {
        if let Some(failure) = &self.failed {
            return Err(failure.to_error());
        }
        self.send_bytes(b"0\r\n\r\n").await?;
        self.read_final_reply().await
    }

    /// Ends the body with real HTTP trailers after the zero-length chunk:
    /// `Lambda-Runtime-Function-Error-Type` ([`ErrorBody::header_type`]) and
    /// `Lambda-Runtime-Function-Error-Body` (standard base64 of [`ErrorBody::to_json`], so no
    /// CR or LF in the error can break the framing). Then reads the reply like
    /// [`finish`](Self::finish).
    pub async fn fail(mut self, error: &ErrorBody) -> Result<(), ApiError> {
        if let Some(failure) = &self.failed {
            return Err(failure.to_error());
        }
        let trailers = error_trailers(error);
        self.send_bytes(&trailers).await?;
        self.read_final_reply().await
    }

    async fn read_final_reply(mut self) -> Result<(), ApiError> {
        let deadline = Instant::now() + self.reply_timeout;
        let reply = read_reply(&mut self.reader, Vec::new(), deadline).await?;
        // Dropping both halves closes the connection (fresh connection per stream).
        if (200..300).contains(&reply.code) {
            Ok(())
        } else {
            Err(ApiError::from_status(reply.code, &reply.body))
        }
    }

    async fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), ApiError> {
        self.send(bytes).await
    }

    /// Writes all of `buf` while watching the connection for an early reply.
    async fn send<B: Buf>(&mut self, mut buf: B) -> Result<(), ApiError> {
        // Stays set if this future is dropped before the write is done.
        self.failed = Some(Failure::Cancelled);
        let outcome = write_watching(&mut self.writer, &self.reader, &mut buf).await;
        let failure = match outcome {
            Ok(()) => {
                self.failed = None;
                return Ok(());
            }
            Err(Interrupted::Reply(prefix)) => {
                let deadline = Instant::now() + self.reply_timeout;
                self.early_reply(prefix, deadline).await
            }
            Err(Interrupted::Closed) => {
                Failure::Transport("the Runtime API closed the connection before the response ended".into())
            }
            Err(Interrupted::Io(e)) => {
                // A server that rejected the upload may have said why before closing.
                let deadline = Instant::now() + EXPLAIN_TIMEOUT.min(self.reply_timeout);
                match read_reply(&mut self.reader, Vec::new(), deadline).await {
                    Ok(reply) if !(200..300).contains(&reply.code) => Failure::Status(reply.code, reply.body),
                    _ => Failure::Transport(format!("writing the streamed response failed: {e}")),
                }
            }
        };
        let err = failure.to_error();
        self.failed = Some(failure);
        Err(err)
    }

    async fn early_reply(&mut self, prefix: Vec<u8>, deadline: Instant) -> Failure {
        match read_reply(&mut self.reader, prefix, deadline).await {
            Ok(reply) if (200..300).contains(&reply.code) => Failure::Transport(format!(
                "the Runtime API replied {} before the streamed response ended; the rest was not delivered",
                reply.code
            )),
            Ok(reply) => Failure::Status(reply.code, reply.body),
            Err(e) => Failure::Transport(format!("the Runtime API answered before the response ended: {e}")),
        }
    }
}

/// Why a watched write stopped before it was done.
enum Interrupted {
    /// Reply bytes arrived (the start of the reply).
    Reply(Vec<u8>),
    /// The server closed its side.
    Closed,
    /// The write or the read failed.
    Io(io::Error),
}

/// Writes all of `buf`, but stops as soon as the server says something (or hangs up): an
/// HTTP server may answer before the request body ends and then stop reading, and a write
/// that waited for it would wait for ever.
async fn write_watching<B: Buf>(
    writer: &mut OwnedWriteHalf,
    reader: &OwnedReadHalf,
    buf: &mut B,
) -> Result<(), Interrupted> {
    let mut write = pin!(writer.write_all_buf(buf));
    loop {
        let mut readable = pin!(reader.readable());
        let woke = poll_fn(|cx| {
            if let Poll::Ready(r) = readable.as_mut().poll(cx) {
                return Poll::Ready(Err(r));
            }
            if let Poll::Ready(r) = write.as_mut().poll(cx) {
                return Poll::Ready(Ok(r));
            }
            Poll::Pending
        })
        .await;
        match woke {
            Ok(written) => return written.map_err(Interrupted::Io),
            Err(Err(e)) => return Err(Interrupted::Io(e)),
            Err(Ok(())) => {
                let mut probe = vec![0u8; 4096];
                match reader.try_read(&mut probe) {
                    Ok(0) => return Err(Interrupted::Closed),
                    Ok(n) => {
                        probe.truncate(n);
                        return Err(Interrupted::Reply(probe));
                    }
                    // Readiness was stale; it is cleared now, so watch again.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Interrupted::Io(e)),
                }
            }
        }
    }
}

/// The request head, validated and rendered.
fn build_head(
    endpoint: &Endpoint,
    request_id: &str,
    invocation_id: Option<&str>,
    content_type: &str,
) -> Result<String, ApiError> {
    check_header_value("Content-Type", content_type)?;
    if let Some(id) = invocation_id {
        check_header_value("Lambda-Runtime-Invocation-Id", id)?;
    }
    let mut head = format!(
        "POST {path} HTTP/1.1\r\n\
         Host: {host}\r\n\
         User-Agent: {agent}\r\n\
         Lambda-Runtime-Function-Response-Mode: streaming\r\n\
         Transfer-Encoding: chunked\r\n\
         Trailer: {TRAILER_ERROR_TYPE}, {TRAILER_ERROR_BODY}\r\n\
         Content-Type: {content_type}\r\n",
        path = endpoint.response_path(request_id),
        host = endpoint.authority(),
        agent = headers::USER_AGENT,
    );
    if let Some(id) = invocation_id {
        head.push_str("Lambda-Runtime-Invocation-Id: ");
        head.push_str(id);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    Ok(head)
}

/// A header value must be visible ASCII (spaces and tabs inside allowed), never CR or LF.
fn check_header_value(name: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
        && !value.starts_with([' ', '\t'])
        && !value.ends_with([' ', '\t']);
    if ok {
        Ok(())
    } else {
        Err(ApiError::input(format_args!(
            "{name} {value:?} is not a valid header value"
        )))
    }
}

/// `{len:x}\r\n` into `buf`.
fn size_line(len: usize, buf: &mut [u8; 18]) -> &[u8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut n = len;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = HEX[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    let count = digits.len() - i;
    buf[..count].copy_from_slice(&digits[i..]);
    buf[count..count + 2].copy_from_slice(b"\r\n");
    &buf[..count + 2]
}

/// The last chunk with the two error trailers and the final empty line.
fn error_trailers(error: &ErrorBody) -> Vec<u8> {
    let body = base64::engine::general_purpose::STANDARD.encode(error.to_json());
    let error_type = error.header_type();
    let mut out = Vec::with_capacity(body.len() + error_type.len() + 96);
    out.extend_from_slice(b"0\r\n");
    for (name, value) in [(TRAILER_ERROR_TYPE, &*error_type), (TRAILER_ERROR_BODY, &*body)] {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The parts of the reply that matter.
struct Reply {
    code: u16,
    body: Vec<u8>,
}

/// Reads more of the reply into `buf`; `Ok(0)` at end of stream.
async fn fill(reader: &mut OwnedReadHalf, buf: &mut Vec<u8>, deadline: Instant) -> Result<usize, ApiError> {
    let start = buf.len();
    buf.resize(start + 8192, 0);
    let read = tokio::time::timeout_at(deadline, reader.read(&mut buf[start..])).await;
    let n = match read {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => {
            buf.truncate(start);
            return Err(ApiError::transport(format_args!("reading the reply failed: {e}")));
        }
        Err(_) => {
            buf.truncate(start);
            return Err(ApiError::transport("the Runtime API did not reply in time"));
        }
    };
    buf.truncate(start + n);
    Ok(n)
}

/// Reads one reply (skipping interim 1xx ones): the head in full, at most
/// [`MAX_REPLY_BODY`] bytes of body. `buf` holds reply bytes already read.
async fn read_reply(reader: &mut OwnedReadHalf, mut buf: Vec<u8>, deadline: Instant) -> Result<Reply, ApiError> {
    loop {
        let (head_len, head) = loop {
            if let Some(parsed) = parse_head(&buf)? {
                break parsed;
            }
            if buf.len() > MAX_REPLY_HEAD {
                return Err(ApiError::transport("the reply head is too large"));
            }
            if fill(reader, &mut buf, deadline).await? == 0 {
                return Err(ApiError::transport(if buf.is_empty() {
                    "the Runtime API closed the connection without replying".to_owned()
                } else {
                    "the Runtime API closed the connection in the middle of its reply".to_owned()
                }));
            }
        };
        buf.drain(..head_len);
        if (100..200).contains(&head.code) && head.code != 101 {
            continue;
        }
        let body = if head.code == 204 || head.code == 304 || (100..200).contains(&head.code) {
            Vec::new()
        } else {
            // The body only explains an error; a broken or slow one does not change the status.
            let mut body = Vec::new();
            let _ = read_body(reader, buf, &head, deadline, &mut body).await;
            body
        };
        return Ok(Reply { code: head.code, body });
    }
}

#[derive(Debug)]
struct Head {
    code: u16,
    content_length: Option<u64>,
    chunked: bool,
}

/// The reply's head, parsed by httparse once `raw` holds all of it: its length in bytes and
/// what matters in it. `None` while it is incomplete.
fn parse_head(raw: &[u8]) -> Result<Option<(usize, Head)>, ApiError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_REPLY_FIELDS];
    let mut reply = httparse::Response::new(&mut fields);
    let len = match reply.parse(raw) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            let status = raw.split(|&b| b == b'\r').next().unwrap_or_default();
            let status = String::from_utf8_lossy(&status[..status.len().min(80)]);
            return Err(ApiError::transport(format_args!(
                "the reply is not HTTP/1.x ({e}): {status:?}"
            )));
        }
    };
    let mut head = Head {
        code: reply.code.unwrap_or_default(),
        content_length: None,
        chunked: false,
    };
    for field in reply.headers.iter() {
        let value = String::from_utf8_lossy(field.value);
        if field.name.eq_ignore_ascii_case("content-length") {
            head.content_length = value.trim().parse().ok();
        } else if field.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        }
    }
    Ok(Some((len, head)))
}

/// Reads the reply body into `out`, at most [`MAX_REPLY_BODY`] bytes of it.
async fn read_body(
    reader: &mut OwnedReadHalf,
    mut buf: Vec<u8>,
    head: &Head,
    deadline: Instant,
    out: &mut Vec<u8>,
) -> Result<(), ApiError> {
    if head.chunked {
        loop {
            let (size_len, size) = loop {
                match httparse::parse_chunk_size(&buf) {
                    Ok(httparse::Status::Complete(found)) => break found,
                    Ok(httparse::Status::Partial) if buf.len() <= 1024 => {
                        if fill(reader, &mut buf, deadline).await? == 0 {
                            return Ok(());
                        }
                    }
                    _ => return Ok(()),
                }
            };
            buf.drain(..size_len);
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            if size == 0 {
                return Ok(());
            }
            let take = size.min(MAX_REPLY_BODY - out.len());
            while buf.len() < take {
                if fill(reader, &mut buf, deadline).await? == 0 {
                    out.extend_from_slice(&buf);
                    return Ok(());
                }
            }
            out.extend_from_slice(&buf[..take]);
            if take < size || out.len() >= MAX_REPLY_BODY {
                return Ok(());
            }
            buf.drain(..take);
            while buf.len() < 2 {
                if fill(reader, &mut buf, deadline).await? == 0 {
                    return Ok(());
                }
            }
            buf.drain(..2);
        }
    }
    let want = match head.content_length {
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX).min(MAX_REPLY_BODY),
        None => MAX_REPLY_BODY,
    };
    while buf.len() < want {
        if fill(reader, &mut buf, deadline).await? == 0 {
            break;
        }
    }
    buf.truncate(want);
    out.extend_from_slice(&buf);
    Ok(())
}

/// The JSON prelude of an HTTP-integration stream (Function URLs, API Gateway streaming):
/// `{"statusCode": ..., "headers": {...}, "cookies": [...]}`, followed on the wire by
/// [`PRELUDE_SEPARATOR`] and then the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPrelude {
    /// The HTTP status the caller gets.
    pub status_code: u16,
    /// Response headers, in order. A name given twice (case-insensitively) is sent once, its
    /// values joined with `, `. Cookies go in [`cookies`](Self::cookies), not here.
    pub headers: Vec<(String, String)>,
    /// `Set-Cookie` values.
    pub cookies: Vec<String>,
}

impl Default for HttpPrelude {
    fn default() -> Self {
        Self::new(200)
    }
}

impl HttpPrelude {
    /// A prelude with this status, no headers and no cookies.
    pub fn new(status_code: u16) -> Self {
        Self {
            status_code,
            headers: Vec::new(),
            cookies: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds a cookie (a `Set-Cookie` value).
    pub fn cookie(mut self, cookie: impl Into<String>) -> Self {
        self.cookies.push(cookie.into());
        self
    }

    /// The JSON bytes: `{"statusCode":..,"headers":{..},"cookies":[..]}`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut merged: Vec<(&str, String)> = Vec::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            match merged.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some((_, joined)) => {
                    joined.push_str(", ");
                    joined.push_str(value);
                }
                None => merged.push((name, value.clone())),
            }
        }
        let headers: serde_json::Map<String, serde_json::Value> = merged
            .into_iter()
            .map(|(n, v)| (n.to_owned(), serde_json::Value::String(v)))
            .collect();
        let value = serde_json::json!({
            "statusCode": self.status_code,
            "headers": headers,
            "cookies": self.cookies,
        });
        serde_json::to_vec(&value).expect("a prelude is always serialisable")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::thread::JoinHandle;
    use std::time::Instant as StdInstant;

    /// What the test server does once it has the request head.
    #[derive(Debug, Clone, Copy)]
    enum Behaviour {
        /// Reads the whole body, then replies with this status and a Content-Length body.
        Reply(u16, &'static str),
        /// Reads the whole body, then replies with this status and a chunked body.
        ReplyChunked(u16, &'static str),
        /// Closes the connection right after the head.
        CloseAfterHead,
        /// Reads the whole body, then closes without a reply.
        CloseAfterBody,
        /// Replies at once after the head, then stops reading and holds the connection.
        EarlyReplyAndHold(u16, Duration),
        /// Reads the whole body, never replies, holds the connection.
        Silent(Duration),
        /// Neither reads nor replies after the head; holds the connection.
        Stall(Duration),
    }

    /// What the test server saw.
    #[derive(Debug, Default)]
    struct Seen {
        head: String,
        head_at: Duration,
        /// (length, arrival) of each complete chunk, prelude and payload alike.
        chunks: Vec<(usize, Duration)>,
        body: Vec<u8>,
        body_len: u64,
        trailers: Vec<String>,
        complete: bool,
        reads: usize,
    }

    #[derive(Debug)]
    enum St {
        Size(Vec<u8>),
        Data(usize),
        Crlf(usize),
        Trailer(Vec<u8>),
        Done,
    }

    /// An incremental chunked-body decoder that keeps arrival times.
    #[derive(Debug)]
    struct Decoder {
        st: St,
        cur: usize,
        keep_body: bool,
    }

    impl Decoder {
        fn feed(&mut self, mut data: &[u8], at: Duration, seen: &mut Seen) {
            while !data.is_empty() {
                match &mut self.st {
                    St::Size(line) => {
                        line.push(data[0]);
                        data = &data[1..];
                        if line.ends_with(b"\r\n") {
                            let text = std::str::from_utf8(&line[..line.len() - 2]).unwrap();
                            let size = usize::from_str_radix(text, 16).unwrap_or_else(|_| panic!("size line {text:?}"));
                            self.st = if size == 0 {
                                St::Trailer(Vec::new())
                            } else {
                                St::Data(size)
                            };
                            self.cur = size;
                        }
                    }
                    St::Data(rem) => {
                        let n = (*rem).min(data.len());
                        if self.keep_body {
                            seen.body.extend_from_slice(&data[..n]);
                        }
                        seen.body_len += n as u64;
                        *rem -= n;
                        data = &data[n..];
                        if *rem == 0 {
                            seen.chunks.push((self.cur, at));
                            self.st = St::Crlf(0);
                        }
                    }
                    St::Crlf(k) => {
                        assert_eq!(data[0], b"\r\n"[*k], "chunk data not followed by CRLF");
                        data = &data[1..];
                        *k += 1;
                        if *k == 2 {
                            self.st = St::Size(Vec::new());
                        }
                    }
                    St::Trailer(line) => {
                        line.push(data[0]);
                        data = &data[1..];
                        if line.ends_with(b"\r\n") {
                            if line.len() == 2 {
                                self.st = St::Done;
                                seen.complete = true;
                            } else {
                                seen.trailers
                                    .push(String::from_utf8(line[..line.len() - 2].to_vec()).unwrap());
                                line.clear();
                            }
                        }
                    }
                    St::Done => panic!("bytes after the end of the body: {:?}", &data[..data.len().min(40)]),
                }
            }
        }
    }

    /// A one-connection HTTP server on 127.0.0.1:0 that records the raw request.
    fn serve(behaviour: Behaviour, keep_body: bool) -> (Endpoint, JoinHandle<Seen>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let t0 = StdInstant::now();
            let mut seen = Seen::default();
            let mut buf = vec![0u8; 256 * 1024];
            let mut raw = Vec::new();
            let head_end = loop {
                if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                let n = sock.read(&mut buf).unwrap();
                assert!(n > 0, "client closed before the head ended");
                seen.reads += 1;
                raw.extend_from_slice(&buf[..n]);
            };
            seen.head_at = t0.elapsed();
            seen.head = String::from_utf8(raw[..head_end].to_vec()).unwrap();
            match behaviour {
                Behaviour::CloseAfterHead => return seen,
                Behaviour::Stall(hold) => {
                    std::thread::sleep(hold);
                    return seen;
                }
                Behaviour::EarlyReplyAndHold(code, hold) => {
                    write!(
                        sock,
                        "HTTP/1.1 {code} Early\r\nContent-Length: 14\r\n\r\nrejected early"
                    )
                    .unwrap();
                    std::thread::sleep(hold);
                    return seen;
                }
                _ => {}
            }
            let mut dec = Decoder {
                st: St::Size(Vec::new()),
                cur: 0,
                keep_body,
            };
            dec.feed(&raw[head_end..], seen.head_at, &mut seen);
            while !seen.complete {
                let n = sock.read(&mut buf).unwrap();
                if n == 0 {
                    return seen;
                }
                seen.reads += 1;
                dec.feed(&buf[..n], t0.elapsed(), &mut seen);
            }
            match behaviour {
                Behaviour::Reply(code, body) => {
                    let len = body.len();
                    write!(sock, "HTTP/1.1 {code} Whatever\r\nContent-Length: {len}\r\n\r\n{body}").unwrap();
                }
                Behaviour::ReplyChunked(code, body) => {
                    let (a, b) = body.split_at(body.len() / 2);
                    write!(
                        sock,
                        "HTTP/1.1 {code} Whatever\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x};ext=1\r\n{b}\r\n0\r\n\r\n",
                        a.len(),
                        b.len()
                    )
                    .unwrap();
                }
                Behaviour::Silent(hold) => std::thread::sleep(hold),
                Behaviour::CloseAfterBody
                | Behaviour::CloseAfterHead
                | Behaviour::EarlyReplyAndHold(..)
                | Behaviour::Stall(_) => {}
            }
            seen
        });
        (Endpoint::parse(&format!("127.0.0.1:{port}")).unwrap(), handle)
    }

    const ACCEPTED: Behaviour = Behaviour::Reply(202, "{\"status\":\"OK\"}");
    const GUARD: Duration = Duration::from_secs(20);

    async fn guarded<T>(fut: impl Future<Output = T>) -> T {
        actix_rt::time::timeout(GUARD, fut)
            .await
            .expect("the stream writer hung")
    }

    #[test]
    fn reply_heads_are_parsed_once_complete_and_garbage_is_named() {
        assert!(parse_head(b"HTTP/1.1 202 Accepted\r\nContent-Le").unwrap().is_none());
        let raw = b"HTTP/1.1 413 Too Large\r\nContent-Length: 12\r\nTransfer-Encoding: gzip, chunked\r\n\r\nbody";
        let (len, head) = parse_head(raw).unwrap().unwrap();
        assert_eq!(len, raw.len() - 4, "the head ends before the body");
        assert_eq!((head.code, head.content_length, head.chunked), (413, Some(12), true));
        let err = parse_head(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").unwrap_err().to_string();
        assert!(err.contains("not HTTP/1.x") && err.contains("SSH-2.0"), "{err}");
    }

    #[test]
    fn size_lines_are_lower_hex() {
        let mut buf = [0u8; 18];
        assert_eq!(size_line(1, &mut buf), b"1\r\n");
        assert_eq!(size_line(255, &mut buf), b"ff\r\n");
        assert_eq!(size_line(1 << 20, &mut buf), b"100000\r\n");
        assert_eq!(
            size_line(usize::MAX, &mut buf),
            format!("{:x}\r\n", usize::MAX).as_bytes()
        );
    }

    #[actix_rt::test]
    async fn head_is_exact_and_declares_trailers_before_any_chunk() {
        let (ep, server) = serve(ACCEPTED, true);
        let mut w = guarded(StreamWriter::start(&ep, "req-1", Some("inv-9"), "text/plain"))
            .await
            .unwrap();
        guarded(w.write(b"hello")).await.unwrap();
        guarded(w.write(b"")).await.unwrap();
        assert_eq!(w.bytes_written(), 5);
        assert_eq!(w.chunks_written(), 1);
        guarded(w.finish()).await.unwrap();
        let seen = server.join().unwrap();
        let expected = format!(
            "POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1\r\n\
             Host: {}\r\n\
             User-Agent: {}\r\n\
             Lambda-Runtime-Function-Response-Mode: streaming\r\n\
             Transfer-Encoding: chunked\r\n\
             Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\
             Content-Type: text/plain\r\n\
             Lambda-Runtime-Invocation-Id: inv-9\r\n\
             Connection: close\r\n\r\n",
            ep.authority(),
            headers::USER_AGENT
        );
        assert_eq!(seen.head, expected);
        assert!(!seen.head.to_ascii_lowercase().contains("content-length"));
        assert_eq!(seen.body, b"hello");
        assert_eq!(seen.chunks.len(), 1);
        assert!(seen.trailers.is_empty());
        assert!(seen.complete);
    }

    #[actix_rt::test]
    async fn prefix_and_no_invocation_id() {
        let (ep, server) = serve(ACCEPTED, true);
        let ep = Endpoint::parse(&format!("http://{}/.rt", ep.authority())).unwrap();
        let w = guarded(StreamWriter::start(&ep, "a/b", None, "application/json"))
            .await
            .unwrap();
        guarded(w.finish()).await.unwrap();
        let seen = server.join().unwrap();
        assert!(
            seen.head
                .starts_with("POST /.rt/2018-06-01/runtime/invocation/a%2Fb/response HTTP/1.1\r\n"),
            "{}",
            seen.head
        );
        assert!(!seen.head.contains("Invocation-Id"));
        assert!(seen.body.is_empty());
        assert!(seen.complete);
    }

    #[actix_rt::test]
    async fn chunks_arrive_spread_over_time() {
        let (ep, server) = serve(ACCEPTED, true);
        let mut w = guarded(StreamWriter::start(&ep, "r", None, "text/plain"))
            .await
            .unwrap();
        for i in 0..5u8 {
            guarded(w.write(&[b'a' + i; 10])).await.unwrap();
            actix_rt::time::sleep(Duration::from_millis(150)).await;
        }
        guarded(w.finish()).await.unwrap();
        let seen = server.join().unwrap();
        assert_eq!(seen.body, b"aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeee");
        assert_eq!(seen.chunks.len(), 5);
        assert!(seen.reads >= 5, "{} reads", seen.reads);
        let first = seen.chunks[0].1 - seen.head_at;
        assert!(first < Duration::from_millis(100), "first chunk took {first:?}");
        for pair in seen.chunks.windows(2) {
            let gap = pair[1].1 - pair[0].1;
            assert!(
                gap >= Duration::from_millis(100),
                "chunks {gap:?} apart: {:?}",
                seen.chunks
            );
        }
    }

    #[actix_rt::test]
    async fn failure_goes_in_real_trailers() {
        let (ep, server) = serve(ACCEPTED, true);
        let mut w = guarded(StreamWriter::start(&ep, "r", None, "text/plain"))
            .await
            .unwrap();
        guarded(w.write(b"partial ")).await.unwrap();
        guarded(w.write(b"output")).await.unwrap();
        let mut error = ErrorBody::new("StreamFailed", "broke\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\u{e9}");
        error.stack_trace.push("caused by: io\nerror".into());
        guarded(w.fail(&error)).await.unwrap();
        let seen = server.join().unwrap();
        assert!(seen.complete);
        assert_eq!(seen.body, b"partial output", "the body holds only what was written");
        assert_eq!(seen.trailers.len(), 2, "{:?}", seen.trailers);
        assert_eq!(
            seen.trailers[0],
            "Lambda-Runtime-Function-Error-Type: Function.StreamFailed"
        );
        let b64 = seen.trailers[1]
            .strip_prefix("Lambda-Runtime-Function-Error-Body: ")
            .expect("error body trailer");
        let json = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
        assert_eq!(json, error.to_json());
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["errorType"], "StreamFailed");
        assert_eq!(v["errorMessage"], error.error_message.as_str());
    }

    #[actix_rt::test]
    async fn failure_before_any_byte_still_uses_trailers() {
        let (ep, server) = serve(ACCEPTED, true);
        let w = guarded(StreamWriter::start(&ep, "r", None, "text/plain"))
            .await
            .unwrap();
        guarded(w.fail(&ErrorBody::new("weird type!", "x"))).await.unwrap();
        let seen = server.join().unwrap();
        assert!(seen.body.is_empty());
        assert_eq!(seen.trailers[0], "Lambda-Runtime-Function-Error-Type: Function.Unknown");
    }

    #[test]
    fn prelude_json_shape() {
        let prelude = HttpPrelude::new(418)
            .header("Content-Type", "text/plain")
            .header("X-A", "1")
            .header("x-a", "2")
            .cookie("a=1; Path=/")
            .cookie("b=2");
        let v: serde_json::Value = serde_json::from_slice(&prelude.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "statusCode": 418,
                "headers": {"Content-Type": "text/plain", "X-A": "1, 2"},
                "cookies": ["a=1; Path=/", "b=2"],
            })
        );
        let empty: serde_json::Value = serde_json::from_slice(&HttpPrelude::default().to_json()).unwrap();
        assert_eq!(
            empty,
            serde_json::json!({"statusCode": 200, "headers": {}, "cookies": []})
        );
        assert_eq!(PRELUDE_SEPARATOR, [0u8; 8]);
    }

    #[actix_rt::test]
    async fn prelude_and_separator_are_their_own_chunks() {
        let (ep, server) = serve(ACCEPTED, true);
        let mut w = guarded(StreamWriter::start(
            &ep,
            "r",
            None,
            headers::HTTP_INTEGRATION_CONTENT_TYPE,
        ))
        .await
        .unwrap();
        let prelude = HttpPrelude::new(418).header("X-Teapot", "yes").cookie("c=1");
        guarded(w.write_prelude(&prelude)).await.unwrap();
        guarded(w.write(b"payload")).await.unwrap();
        let again = guarded(w.write_prelude(&prelude)).await.unwrap_err();
        assert!(again.to_string().contains("before the first byte"), "{again}");
        guarded(w.finish()).await.unwrap();
        let seen = server.join().unwrap();
        assert!(seen
            .head
            .contains("\r\nContent-Type: application/vnd.awslambda.http-integration-response\r\n"));
        let json = prelude.to_json();
        let lens: Vec<usize> = seen.chunks.iter().map(|c| c.0).collect();
        assert_eq!(lens, [json.len(), 8, 7]);
        let mut expected = json.clone();
        expected.extend_from_slice(&PRELUDE_SEPARATOR);
        expected.extend_from_slice(b"payload");
        assert_eq!(seen.body, expected);
    }

    #[actix_rt::test]
    async fn non_2xx_reply_is_an_error_with_its_status() {
        let (ep, server) = serve(Behaviour::Reply(400, "{\"errorType\":\"InvalidRequestID\"}"), false);
        let mut w = guarded(StreamWriter::start(&ep, "r", None, "text/plain"))
            .await
            .unwrap();
        guarded(w.write(b"x")).await.unwrap();
        let err = guarded(w.finish()).await.unwrap_err();
        assert_eq!(err.code(), Some(400), "{err}");
        assert_eq!(err.status(), Some(crate::ReplyStatus::InvalidRequest));
        assert!(err.to_string().contains("InvalidRequestID"), "{err}");
        server.join().unwrap();

        let (ep, server) = serve(Behaviour::ReplyChunked(500, "container is broken"), false);
        let w = guarded(StreamWriter::start(&ep, "r", None, "text/plain"))
            .await
            .unwrap();
        let err = guarded(w.fail(&ErrorBody::new("E", "m"))).await.unwrap_err();
        assert_eq!(err.code(), Some(500), "{err}");
        assert!(err.to_string().contains("container is broken"), "{err}");
        server.join().unwrap();

        let (ep, server) = serve(Behaviour::ReplyChunked(200, "fine"), false);
        let w = guarded(StreamWriter::start(&ep, "r", None, "text/plain"))
            .await
            .unwrap();
        guarded(w.finish()).await.unwrap();
        server.join().unwrap();
    }

    #[actix_rt::test]
    async fn server_closing_early_is_an_error_not_a_hang() {
        let (ep, server) = serve(Behaviour::CloseAfterHead, false);
        let mut w = guarded(StreamWriter::start(&ep, "r", None, "text/plain"))
            .await
            .unwrap();
        server.join().unwrap();
        let mut failed = None;
        for _ in 0..100 {
            if let Err(e) = guarded(w.write(&[b'x'; 1000])).await {
                failed = Some(e);
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
        let err = failed.expect("writes to a closed connection must fail");
        assert!(err.is_transport(), "{err}");
        let again = guarded(w.write(b"more")).await.unwrap_err();
        assert_eq!(again.to_string(), err.to_string());
        let end = guarded(w.finish()).await.unwrap_err();
        assert!(end.is_transport(), "{end}");

        let (ep, server) = serve(Behaviour::CloseAfterBody, false);
        let mut w = guarded(StreamWriter::start(&ep, "r", None, "text/plain"))
            .await
            .unwrap();
        guarded(w.write(b"x")).await.unwrap();
        let err = guarded(w.finish()).await.unwrap_err();
        assert!(err.is_transport(), "{err}");
        assert!(err.to_string().contains("without replying"), "{err}");
        server.join().unwrap();
    }

    #[actix_rt::test]
    async fn early_reply_from_a_server_that_stops_reading_ends_the_stream() {
        let hold = Duration::from_secs(4);
        let (ep, server) = serve(Behaviour::EarlyReplyAndHold(413, hold), false);
        let started = StdInstant::now();
        let mut w = guarded(StreamWriter::start(&ep, "r", None, "text/plain"))
            .await
            .unwrap();
        let chunk = vec![b'x'; 1 << 20];
        let mut failed = None;
        for _ in 0..512 {
            if let Err(e) = guarded(w.write(&chunk)).await {
                failed = Some(e);
                break;
            }
        }
        let err = failed.expect("a server that answered and stopped reading must end the stream");
        assert!(started.elapsed() < hold / 2, "took {:?}", started.elapsed());
        assert_eq!(err.code(), Some(413), "{err}");
        assert!(err.to_string().contains("rejected early"), "{err}");
        let end = guarded(w.fail(&ErrorBody::new("E", "m"))).await.unwrap_err();
        assert_eq!(end.code(), Some(413));
        server.join().unwrap();
    }

    #[actix_rt::test]
    async fn a_server_that_never_replies_times_out() {
        let (ep, server) = serve(Behaviour::Silent(Duration::from_secs(2)), false);
        let mut w = guarded(StreamWriter::start(&ep, "r", None, "text/plain"))
            .await
            .unwrap();
        w.set_reply_timeout(Duration::from_millis(300));
        guarded(w.write(b"x")).await.unwrap();
        let started = StdInstant::now();
        let err = guarded(w.finish()).await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
        assert!(err.is_transport(), "{err}");
        assert!(err.to_string().contains("in time"), "{err}");
        server.join().unwrap();
    }

    #[actix_rt::test]
    async fn a_slow_reader_blocks_the_writer_and_a_cancelled_write_breaks_the_stream() {
        let (ep, server) = serve(Behaviour::Stall(Duration::from_secs(2)), false);
        let mut w = guarded(StreamWriter::start(&ep, "r", None, "text/plain"))
            .await
            .unwrap();
        let chunk = vec![b'x'; 1 << 20];
        let mut blocked = false;
        for _ in 0..512 {
            match actix_rt::time::timeout(Duration::from_millis(300), w.write(&chunk)).await {
                Ok(written) => written.unwrap(),
                Err(_) => {
                    blocked = true;
                    break;
                }
            }
        }
        assert!(blocked, "a server that does not read must hold the writer back");
        let err = guarded(w.write(b"more")).await.unwrap_err();
        assert!(err.to_string().contains("cancelled"), "{err}");
        let end = guarded(w.finish()).await.unwrap_err();
        assert!(end.to_string().contains("cancelled"), "{end}");
        server.join().unwrap();
    }

    #[actix_rt::test]
    async fn twenty_megabytes_stream_through() {
        let (ep, server) = serve(ACCEPTED, false);
        let mut w = guarded(StreamWriter::start(&ep, "r", None, "application/octet-stream"))
            .await
            .unwrap();
        let big = vec![b'a'; 1 << 20];
        let small = [b'b'; 100];
        for _ in 0..20 {
            guarded(w.write(&big)).await.unwrap();
            for _ in 0..10 {
                guarded(w.write(&small)).await.unwrap();
            }
        }
        let total = 20 * ((1u64 << 20) + 1000);
        assert_eq!(w.bytes_written(), total);
        assert_eq!(w.chunks_written(), 220);
        guarded(w.finish()).await.unwrap();
        let seen = server.join().unwrap();
        assert!(seen.complete);
        assert_eq!(seen.body_len, total);
        assert_eq!(seen.chunks.len(), 220);
    }

    #[actix_rt::test]
    async fn refuses_bad_header_values_and_reports_connect_errors() {
        let ep = Endpoint::parse("127.0.0.1:1").unwrap();
        for (inv, ct) in [
            (None, "text/plain\r\nX-Evil: 1"),
            (None, ""),
            (None, "caf\u{e9}"),
            (Some("a\nb"), "text/plain"),
        ] {
            let err = StreamWriter::start(&ep, "r", inv, ct).await.unwrap_err();
            assert!(err.to_string().contains("not a valid header value"), "{err}");
            assert!(!err.is_connect());
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let ep = Endpoint::parse(&format!("127.0.0.1:{port}")).unwrap();
        let err = guarded(StreamWriter::start(&ep, "r", None, "text/plain"))
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err}");
    }
}
