//! Just enough HTTP/1.1 for the mock Runtime API and the raw-socket floor: a buffered reader
//! that finds a message head, reads `Content-Length` and chunked bodies, and a head parser
//! that borrows from the buffer (no allocation per message).

use std::io::{self, IoSlice, Read, Write};

/// Longest trailer line accepted.
const MAX_LINE: usize = 64 * 1024;

/// A reader with its own buffer, for one connection.
#[derive(Debug)]
pub struct Reader<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
}

impl<R: Read> Reader<R> {
    /// A reader with a buffer of `capacity` bytes (at least 1 KiB): the largest message head
    /// it accepts. Bodies need not fit.
    pub fn new(inner: R, capacity: usize) -> Self {
        Self {
            inner,
            buf: vec![0; capacity.max(1024)],
            pos: 0,
            len: 0,
        }
    }

    /// The wrapped stream.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..self.len]
    }

    /// Reads more bytes into the buffer; `Ok(0)` at end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        if self.pos == self.len {
            self.pos = 0;
            self.len = 0;
        } else if self.len == self.buf.len() {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
        }
        if self.len == self.buf.len() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "message head too large"));
        }
        loop {
            match self.inner.read(&mut self.buf[self.len..]) {
                Ok(n) => {
                    self.len += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits for a whole message head. `Ok(None)`: the peer closed the connection cleanly
    /// between messages. The head stays buffered until [`Reader::consume_head`].
    pub fn read_head(&mut self) -> io::Result<Option<Head<'_>>> {
        let mut scanned = 0;
        let end = loop {
            let data = self.buffered();
            if let Some(i) = find_head_end(data, scanned) {
                break i;
            }
            scanned = data.len().saturating_sub(3);
            if data.len() >= self.buf.len() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "message head too large"));
            }
            let had = data.len();
            if self.fill()? == 0 {
                return if had == 0 {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        };
        let head = &self.buf[self.pos..self.pos + end];
        Head::parse(head).map(Some)
    }

    /// Drops the head returned by the last [`Reader::read_head`] (of `len` bytes, [`Head::len`]).
    pub fn consume_head(&mut self, len: usize) {
        self.pos += len;
    }

    /// Reads exactly `n` body bytes, handing each piece to `sink` (no copy when it is buffered).
    pub fn read_body(&mut self, mut n: usize, mut sink: impl FnMut(&[u8])) -> io::Result<()> {
        while n > 0 {
            if self.pos == self.len && self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let take = n.min(self.len - self.pos);
            sink(&self.buf[self.pos..self.pos + take]);
            self.pos += take;
            n -= take;
        }
        Ok(())
    }

    /// Reads exactly `n` body bytes into `out` (cleared first); what is not buffered yet is
    /// read straight into `out`.
    pub fn read_body_into(&mut self, n: usize, out: &mut Vec<u8>) -> io::Result<()> {
        out.clear();
        out.reserve(n);
        let buffered = n.min(self.len - self.pos);
        out.extend_from_slice(&self.buf[self.pos..self.pos + buffered]);
        self.pos += buffered;
        let rest = (n - buffered) as u64;
        if rest > 0 && (&mut self.inner).take(rest).read_to_end(out)? as u64 != rest {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    fn read_line(&mut self, max: usize, mut on_line: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        loop {
            let data = self.buffered();
            if let Some(i) = data.iter().position(|&b| b == b'\n') {
                let line = data[..i].strip_suffix(b"\r").unwrap_or(&data[..i]);
                let result = on_line(line);
                self.pos += i + 1;
                return result;
            }
            if data.len() > max {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Reads a chunked body: data pieces go to `on_data`, trailer lines (`name: value`) to
    /// `on_trailer`.
    pub fn read_chunked(
        &mut self,
        mut on_data: impl FnMut(&[u8]),
        mut on_trailer: impl FnMut(&[u8], &[u8]),
    ) -> io::Result<()> {
        loop {
            let mut size = 0usize;
            self.read_line(1024, |line| {
                let hex = line.split(|&b| b == b';').next().unwrap_or_default();
                size = parse_hex(hex.trim_ascii())
                    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
                Ok(())
            })?;
            if size == 0 {
                break;
            }
            self.read_body(size, &mut on_data)?;
            self.read_line(2, |line| {
                if line.is_empty() {
                    Ok(())
                } else {
                    Err(io::Error::new(io::ErrorKind::InvalidData, "chunk not followed by CRLF"))
                }
            })?;
        }
        loop {
            let mut done = false;
            self.read_line(MAX_LINE, |line| {
                if line.is_empty() {
                    done = true;
                } else if let Some((name, value)) = split_header(line) {
                    on_trailer(name, value);
                }
                Ok(())
            })?;
            if done {
                return Ok(());
            }
        }
    }
}

fn find_head_end(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 4 <= data.len() {
        match data[i + 3] {
            b'\n' if &data[i..i + 4] == b"\r\n\r\n" => return Some(i + 4),
            b'\n' | b'\r' => i += 1,
            _ => i += 4,
        }
    }
    None
}

fn parse_hex(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 15 {
        return None;
    }
    s.iter().try_fold(0usize, |acc, &b| {
        let d = (b as char).to_digit(16)?;
        Some(acc * 16 + d as usize)
    })
}

fn split_header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    Some((line[..colon].trim_ascii(), line[colon + 1..].trim_ascii()))
}

/// A parsed message head, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    len: usize,
    /// Request: the method. Response: the HTTP version.
    pub first: &'a [u8],
    /// Request: the path. Response: the status code.
    pub second: &'a [u8],
    headers: &'a [u8],
}

impl<'a> Head<'a> {
    /// Parses a head that ends with an empty line.
    pub fn parse(head: &'a [u8]) -> io::Result<Self> {
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad start line");
        let line_end = head.iter().position(|&b| b == b'\n').ok_or_else(bad)?;
        let start = head[..line_end].strip_suffix(b"\r").unwrap_or(&head[..line_end]);
        let mut parts = start.splitn(3, |&b| b == b' ');
        let first = parts.next().filter(|p| !p.is_empty()).ok_or_else(bad)?;
        let second = parts.next().filter(|p| !p.is_empty()).ok_or_else(bad)?;
        Ok(Self {
            len: head.len(),
            first,
            second,
            headers: &head[line_end + 1..],
        })
    }

    /// Bytes of the head, empty line included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: a head has at least its start line.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The header lines as `(name, value)`, values trimmed.
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        self.headers
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter_map(split_header)
    }

    /// The value of header `name` (ASCII case-insensitive), the first one if repeated.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// `Content-Length`, if present and a number.
    pub fn content_length(&self) -> Option<usize> {
        std::str::from_utf8(self.header("content-length")?).ok()?.parse().ok()
    }

    /// `Transfer-Encoding: chunked`.
    pub fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"chunked"))
    }

    /// `Connection: close`.
    pub fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"close"))
    }

    /// Response status code (from the second token).
    pub fn status(&self) -> Option<u16> {
        std::str::from_utf8(self.second).ok()?.parse().ok()
    }
}

/// Writes every byte of `parts` with as few `writev` calls as the kernel allows.
pub fn write_all_vectored(w: &mut impl Write, parts: &[&[u8]]) -> io::Result<()> {
    let mut index = 0;
    let mut offset = 0;
    while index < parts.len() {
        let slices: Vec<IoSlice<'_>> = std::iter::once(&parts[index][offset..])
            .chain(parts[index + 1..].iter().copied())
            .map(IoSlice::new)
            .collect();
        let mut n = match w.write_vectored(&slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        while index < parts.len() && n >= parts[index].len() - offset {
            n -= parts[index].len() - offset;
            index += 1;
            offset = 0;
        }
        offset += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &[u8]) -> Reader<&[u8]> {
        Reader::new(bytes, 0)
    }

    #[test]
    fn reads_heads_and_bodies_back_to_back() {
        let wire = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 5\r\nConnection: Close\r\n\r\nhello";
        let mut r = reader(wire);
        let head = r.read_head().unwrap().unwrap();
        assert_eq!((head.first, head.second), (&b"GET"[..], &b"/a"[..]));
        assert_eq!(head.header("HOST"), Some(&b"x"[..]));
        assert_eq!(head.content_length(), None);
        let len = head.len();
        r.consume_head(len);
        let head = r.read_head().unwrap().unwrap();
        assert_eq!(head.second, b"/b");
        assert!(head.wants_close());
        let (len, body_len) = (head.len(), head.content_length().unwrap());
        r.consume_head(len);
        let mut body = Vec::new();
        r.read_body_into(body_len, &mut body).unwrap();
        assert_eq!(body, b"hello");
        assert!(r.read_head().unwrap().is_none());
    }

    #[test]
    fn reads_a_response_status() {
        let mut r = reader(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n");
        let head = r.read_head().unwrap().unwrap();
        assert_eq!(head.status(), Some(202));
        assert_eq!(head.content_length(), Some(0));
    }

    #[test]
    fn reads_chunked_bodies_with_trailers() {
        let wire =
            b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nLambda-Runtime-Function-Error-Type: Function.X\r\n\r\nNEXT";
        let mut r = reader(wire);
        let mut data = Vec::new();
        let mut trailers = Vec::new();
        r.read_chunked(
            |d| data.extend_from_slice(d),
            |n, v| trailers.push((n.to_vec(), v.to_vec())),
        )
        .unwrap();
        assert_eq!(data, b"hello world");
        assert_eq!(
            trailers,
            vec![(b"Lambda-Runtime-Function-Error-Type".to_vec(), b"Function.X".to_vec())]
        );
        let mut rest = Vec::new();
        r.read_body_into(4, &mut rest).unwrap();
        assert_eq!(rest, b"NEXT");
    }

    #[test]
    fn truncated_messages_are_errors() {
        assert!(reader(b"GET / HTTP/1.1\r\n").read_head().is_err());
        let mut r = reader(b"5\r\nhel");
        assert!(r.read_chunked(|_| {}, |_, _| {}).is_err());
        assert!(reader(b"zz\r\n").read_chunked(|_| {}, |_, _| {}).is_err());
    }

    #[test]
    fn vectored_writes_survive_short_writes() {
        struct Dribble(Vec<u8>);
        impl Write for Dribble {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let n = buf.len().min(3);
                self.0.extend_from_slice(&buf[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = Dribble(Vec::new());
        write_all_vectored(&mut w, &[b"head", b"", b"body!"]).unwrap();
        assert_eq!(w.0, b"headbody!");
    }
}
