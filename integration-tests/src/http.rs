//! A deliberately small HTTP/1.1 server-side codec for the mock Runtime API.
//!
//! It reads one request at a time from a keep-alive connection: the head, then a body framed by
//! `Content-Length` or `Transfer-Encoding: chunked` (with chunk arrival times and trailers kept).
//! It writes complete responses with a `Content-Length`. Nothing here is meant to be a general
//! HTTP server; it is strict where strictness finds runtime bugs (framing) and lax elsewhere.
//!
//! Heads, trailer sections and chunk sizes are parsed by httparse. The loop that reads a body
//! stays here: no kept crate gives a server a chunked request body's trailers together with
//! each chunk's arrival time, which the tests of streamed responses check.

use std::io::{self, BufRead, Read, Write};
use std::time::Instant;

/// Longest accepted request line, header line, chunk-size line or trailer line.
const MAX_LINE: u64 = 64 * 1024;
/// Most header (or trailer) lines accepted in one request.
const MAX_HEADERS: usize = 256;
/// Largest accepted request body (streamed responses may reach 200 MB on Lambda).
const MAX_BODY: usize = 256 * 1024 * 1024;

/// The head of a request: request line and headers.
#[derive(Debug)]
pub(crate) struct Head {
    pub method: String,
    /// Path without query string (absolute-form targets are reduced to their path).
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// When the head was completely read.
    pub started: Instant,
}

impl Head {
    /// First value of a header, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Whether the client asked to close the connection after this request.
    pub fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }

    /// Whether the client waits for `100 Continue` before sending the body.
    pub fn expects_continue(&self) -> bool {
        self.header("expect")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
    }

    fn is_chunked(&self) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
            .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("chunked")))
    }
}

/// One chunk of a chunked request body, as it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkInfo {
    /// When the chunk's data had been read completely.
    pub at: Instant,
    /// Size of the chunk's data in bytes.
    pub len: usize,
}

/// A request body, with its framing details.
#[derive(Debug, Default)]
pub(crate) struct Body {
    pub bytes: Vec<u8>,
    pub trailers: Vec<(String, String)>,
    /// Chunks in arrival order; empty for a `Content-Length` body.
    pub chunks: Vec<ChunkInfo>,
    /// Chunked body bytes that were counted and thrown away ([`read_body_discarding`]).
    pub discarded: u64,
}

/// First value of a header in a list, compared case-insensitively.
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads one CRLF- (or LF-) terminated line, terminator included. An empty `Vec` means a clean
/// EOF before any byte of the line.
fn read_raw_line(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let n = r.take(MAX_LINE).read_until(b'\n', &mut buf)?;
    if n > 0 && buf.last() != Some(&b'\n') {
        return Err(if n as u64 >= MAX_LINE {
            bad("line too long")
        } else {
            io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed mid-line")
        });
    }
    Ok(buf)
}

/// Appends the lines of a field section (headers or trailers) to `section`, up to and
/// including the blank line that ends it.
fn read_section(r: &mut impl BufRead, section: &mut Vec<u8>) -> io::Result<()> {
    for _ in 0..=MAX_HEADERS {
        let line = read_raw_line(r)?;
        if line.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in headers",
            ));
        }
        section.extend_from_slice(&line);
        if line == b"\r\n" || line == b"\n" {
            return Ok(());
        }
    }
    Err(bad("too many header lines"))
}

fn owned_fields(fields: &[httparse::Header<'_>]) -> io::Result<Vec<(String, String)>> {
    fields
        .iter()
        .map(|f| {
            let value = std::str::from_utf8(f.value).map_err(|_| bad("line is not UTF-8"))?;
            Ok((f.name.to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// Reads a trailer section, parsed by httparse.
fn read_trailers(r: &mut impl BufRead) -> io::Result<Vec<(String, String)>> {
    let mut section = Vec::new();
    read_section(r, &mut section)?;
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::parse_headers(&section, &mut fields) {
        Ok(httparse::Status::Complete((_, fields))) => owned_fields(fields),
        Ok(httparse::Status::Partial) => Err(bad("trailer section cut short")),
        Err(e) => Err(bad(format!(
            "malformed trailers ({e}): {:?}",
            String::from_utf8_lossy(&section)
        ))),
    }
}

/// Reads a request head, parsed by httparse. `Ok(None)` means the client closed the
/// connection between requests.
pub(crate) fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut raw = loop {
        let line = read_raw_line(r)?;
        match line.as_slice() {
            [] => return Ok(None),
            // RFC 9112 §2.2: ignore empty lines before a request line.
            b"\r\n" | b"\n" => continue,
            _ => break line,
        }
    };
    read_section(r, &mut raw)?;
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut fields);
    match request.parse(&raw) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(bad("request head cut short")),
        Err(e) => {
            let line = String::from_utf8_lossy(raw.split(|&b| b == b'\n').next().unwrap_or_default());
            return Err(bad(format!("malformed request head ({e}): {line:?}")));
        }
    }
    let mut path = request.path.unwrap_or("/");
    if let Some(rest) = path.strip_prefix("http://").or_else(|| path.strip_prefix("https://")) {
        path = rest.find('/').map_or("/", |i| &rest[i..]);
    }
    Ok(Some(Head {
        method: request.method.unwrap_or_default().to_owned(),
        path: path.split('?').next().unwrap_or_default().to_owned(),
        headers: owned_fields(request.headers)?,
        started: Instant::now(),
    }))
}

/// The size of the next chunk, from its size line (parsed by httparse).
fn read_chunk_size(r: &mut impl BufRead) -> io::Result<u64> {
    let line = read_raw_line(r)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed in chunked body",
        ));
    }
    match httparse::parse_chunk_size(&line) {
        Ok(httparse::Status::Complete((_, size))) => Ok(size),
        _ => Err(bad(format!("bad chunk size line {:?}", String::from_utf8_lossy(&line)))),
    }
}

/// Reads the body that belongs to `head`.
pub(crate) fn read_body(r: &mut impl BufRead, head: &Head) -> io::Result<Body> {
    let mut body = Body::default();
    if head.is_chunked() {
        loop {
            let size = usize::try_from(read_chunk_size(r)?).map_err(|_| bad("chunk too large"))?;
            if size == 0 {
                body.trailers = read_trailers(r)?;
                return Ok(body);
            }
            if body.bytes.len() + size > MAX_BODY {
                return Err(bad("chunked body too large"));
            }
            let start = body.bytes.len();
            body.bytes.resize(start + size, 0);
            r.read_exact(&mut body.bytes[start..])?;
            body.chunks.push(ChunkInfo {
                at: Instant::now(),
                len: size,
            });
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
            if &crlf != b"\r\n" {
                return Err(bad("chunk data not followed by CRLF"));
            }
        }
    }
    let len = match head.header("content-length") {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| bad(format!("bad Content-Length {v:?}")))?,
    };
    if len > MAX_BODY {
        return Err(bad("body too large"));
    }
    body.bytes.resize(len, 0);
    r.read_exact(&mut body.bytes)?;
    Ok(body)
}

/// Reads the body that belongs to `head` like [`read_body`], except that the data of a chunked
/// body is counted (`discarded`) and thrown away, so that a stream of hundreds of megabytes
/// costs no memory. Chunk arrival times and trailers are kept; a `Content-Length` body is read
/// whole as usual.
pub(crate) fn read_body_discarding(r: &mut impl BufRead, head: &Head) -> io::Result<Body> {
    if !head.is_chunked() {
        return read_body(r, head);
    }
    let mut body = Body::default();
    loop {
        let size = read_chunk_size(r)?;
        if size == 0 {
            body.trailers = read_trailers(r)?;
            return Ok(body);
        }
        let copied = io::copy(&mut r.take(size), &mut io::sink())?;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in chunk data",
            ));
        }
        body.discarded += size;
        body.chunks.push(ChunkInfo {
            at: Instant::now(),
            len: size as usize,
        });
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
        if &crlf != b"\r\n" {
            return Err(bad("chunk data not followed by CRLF"));
        }
    }
}

/// The reason phrase for the status codes the mock uses.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// The head of a response (status line and headers, then `Content-Length` and the blank line);
/// header values are raw bytes, so they need not be UTF-8.
pub(crate) fn response_head(status: u16, headers: &[(String, Vec<u8>)], content_length: usize, close: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    for (n, v) in headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {content_length}\r\n").as_bytes());
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Writes a complete response with a `Content-Length` body, in one write.
pub(crate) fn write_response(
    w: &mut impl Write,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    close: bool,
) -> io::Result<()> {
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    w.write_all(&out)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn parse(raw: &[u8]) -> io::Result<(Head, Body)> {
        let mut r = BufReader::new(raw);
        let head = read_head(&mut r)?.expect("a head");
        let body = read_body(&mut r, &head)?;
        Ok((head, body))
    }

    #[test]
    fn content_length_body() {
        let (head, body) = parse(b"POST /a/b?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello").unwrap();
        assert_eq!(head.method, "POST");
        assert_eq!(head.path, "/a/b");
        assert_eq!(head.header("HOST"), Some("h"));
        assert_eq!(body.bytes, b"hello");
        assert!(body.chunks.is_empty());
    }

    #[test]
    fn chunked_body_with_trailers() {
        let raw = b"POST /r HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                    3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Err: Function.Bad\r\nX-Body: aGk=\r\n\r\n";
        let (_, body) = parse(raw).unwrap();
        assert_eq!(body.bytes, b"abc0123456789");
        assert_eq!(body.chunks.len(), 2);
        assert_eq!(body.chunks[1].len, 10);
        assert_eq!(header(&body.trailers, "x-err"), Some("Function.Bad"));
        assert_eq!(header(&body.trailers, "X-Body"), Some("aGk="));
    }

    #[test]
    fn discarding_counts_chunked_data_and_keeps_trailers() {
        let raw = b"POST /r HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                    3\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Err: Function.Bad\r\n\r\n";
        let mut r = BufReader::new(&raw[..]);
        let head = read_head(&mut r).unwrap().expect("a head");
        let body = read_body_discarding(&mut r, &head).unwrap();
        assert!(body.bytes.is_empty());
        assert_eq!(body.discarded, 13);
        let lens: Vec<usize> = body.chunks.iter().map(|c| c.len).collect();
        assert_eq!(lens, [3, 10]);
        assert_eq!(header(&body.trailers, "x-err"), Some("Function.Bad"));
        let mut r = BufReader::new(&b"POST /r HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"[..]);
        let head = read_head(&mut r).unwrap().expect("a head");
        assert!(read_body_discarding(&mut r, &head).is_err());
        let mut r = BufReader::new(&b"POST /r HTTP/1.1\r\nContent-Length: 2\r\n\r\nok"[..]);
        let head = read_head(&mut r).unwrap().expect("a head");
        assert_eq!(read_body_discarding(&mut r, &head).unwrap().bytes, b"ok");
    }

    #[test]
    fn framing_errors_are_errors() {
        assert!(parse(b"POST /r HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n").is_err());
        assert!(parse(b"POST /r HTTP/1.1\r\nContent-Length: 9\r\n\r\nshort").is_err());
        assert!(parse(b"POST /r HTTP/1.1\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(parse(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn absolute_form_target_is_reduced_to_path() {
        let (head, _) = parse(b"GET http://127.0.0.1:9/x/y HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(head.path, "/x/y");
    }
}
