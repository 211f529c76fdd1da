//! A deliberately small HTTP/1.1 server-side codec for the mock Runtime API.
//!
//! It reads one request at a time from a keep-alive connection: the head, then a body framed by
//! `Content-Length` or `Transfer-Encoding: chunked` (with chunk arrival times and trailers kept).
//! It writes complete responses with a `Content-Length`. Nothing here is meant to be a general
//! HTTP server; it is strict where strictness finds runtime bugs (framing) and lax elsewhere.

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

/// Reads one CRLF- (or LF-) terminated line without its terminator. `Ok(None)` means a clean EOF
/// before any byte of the line.
fn read_line(r: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = r.take(MAX_LINE).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(if n as u64 >= MAX_LINE {
            bad("line too long")
        } else {
            io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed mid-line")
        });
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map(Some).map_err(|_| bad("line is not UTF-8"))
}

fn read_fields(r: &mut impl BufRead) -> io::Result<Vec<(String, String)>> {
    let mut fields = Vec::new();
    loop {
        let line = read_line(r)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in headers"))?;
        if line.is_empty() {
            return Ok(fields);
        }
        if fields.len() >= MAX_HEADERS {
            return Err(bad("too many header lines"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("malformed header line {line:?}")))?;
        if name.is_empty() || name.trim() != name {
            return Err(bad(format!("malformed header name in {line:?}")));
        }
        fields.push((name.to_string(), value.trim().to_string()));
    }
}

/// Reads a request head. `Ok(None)` means the client closed the connection between requests.
pub(crate) fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let line = loop {
        match read_line(r)? {
            None => return Ok(None),
            // RFC 9112 §2.2: ignore empty lines before a request line.
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut parts = line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && !t.is_empty() => (m, t, v),
        _ => return Err(bad(format!("malformed request line {line:?}"))),
    };
    if !version.starts_with("HTTP/1.") {
        return Err(bad(format!("unsupported HTTP version in {line:?}")));
    }
    let mut path = target;
    if let Some(rest) = path.strip_prefix("http://").or_else(|| path.strip_prefix("https://")) {
        path = rest.find('/').map_or("/", |i| &rest[i..]);
    }
    let path = path.split('?').next().unwrap_or_default().to_string();
    let headers = read_fields(r)?;
    Ok(Some(Head {
        method: method.to_string(),
        path,
        headers,
        started: Instant::now(),
    }))
}

/// Reads the body that belongs to `head`.
pub(crate) fn read_body(r: &mut impl BufRead, head: &Head) -> io::Result<Body> {
    let mut body = Body::default();
    if head.is_chunked() {
        loop {
            let line = read_line(r)?
                .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in chunked body"))?;
            let size_text = line.split(';').next().unwrap_or_default().trim();
            let size =
                usize::from_str_radix(size_text, 16).map_err(|_| bad(format!("bad chunk size line {line:?}")))?;
            if size == 0 {
                body.trailers = read_fields(r)?;
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
        let line = read_line(r)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in chunked body"))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = u64::from_str_radix(size_text, 16).map_err(|_| bad(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            body.trailers = read_fields(r)?;
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
