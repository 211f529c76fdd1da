//! A test kit for your own handlers: run a handler in-process behind the embedded local
//! server on an ephemeral port, invoke it over real HTTP with typed events, and stop it.
//!
//! ```
//! use lambda_actors::testing::TestFunction;
//! use lambda_actors::{Context, Error, Handler};
//!
//! struct Double;
//! impl Handler for Double {
//!     type Event = i64;
//!     type Output = i64;
//!     type Error = Error;
//!     async fn handle(&mut self, n: i64, _ctx: Context) -> Result<i64, Error> {
//!         if n < 0 {
//!             return Err(Error::new("NegativeInput", "n must not be negative"));
//!         }
//!         Ok(n * 2)
//!     }
//! }
//!
//! let function = TestFunction::start(|| Ok(Double)).unwrap();
//! assert_eq!(function.invoke::<_, i64>(&21).unwrap(), 42);
//! let err = function.invoke::<_, i64>(&-1).unwrap_err();
//! assert_eq!(err.error_type(), "NegativeInput");
//! function.stop().unwrap();
//! ```

use crate::{Config, Error, Handler, ResponseHandler, Runtime, RuntimeError, RuntimeHandle};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Each invocation's deadline under the kit: a hung handler fails the test instead of hanging it.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

/// A handler running in-process behind the local server. Stopped when dropped.
#[derive(Debug)]
pub struct TestFunction {
    invoke_url: String,
    authority: String,
    path: String,
    handle: RuntimeHandle,
    thread: Option<JoinHandle<Result<(), RuntimeError>>>,
}

/// The raw reply of an invoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeReply {
    /// HTTP status.
    pub status: u16,
    /// Headers, names lower-case; the trailers of a chunked reply follow them (a stream that
    /// failed mid-way carries `X-Amz-Function-Error` there).
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl InvokeReply {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when the function failed (`X-Amz-Function-Error`).
    pub fn is_function_error(&self) -> bool {
        self.header("x-amz-function-error").is_some()
    }
}

impl TestFunction {
    /// Runs a typed [`Handler`] with one slot (classic mode).
    pub fn start<H, F>(factory: F) -> Result<Self, RuntimeError>
    where
        H: Handler,
        F: Fn() -> Result<H, Error> + Send + Sync + 'static,
    {
        Self::start_with(1, move |rt| rt.run(move |_| factory()))
    }

    /// Runs a [`ResponseHandler`] (streaming or background) with one slot.
    pub fn start_response_handler<H, F>(factory: F) -> Result<Self, RuntimeError>
    where
        H: ResponseHandler,
        F: Fn() -> Result<H, Error> + Send + Sync + 'static,
    {
        Self::start_with(1, move |rt| rt.run_response_handler(move |_| factory()))
    }

    /// Runs whatever `run` starts on the given runtime, with `concurrency` slots (more than 1
    /// is Managed Instances mode). `run` is called on the runtime's own thread:
    /// `|rt| rt.init(...).run(...)`.
    pub fn start_with(
        concurrency: usize,
        run: impl FnOnce(Runtime) -> Result<(), RuntimeError> + Send + 'static,
    ) -> Result<Self, RuntimeError> {
        let n = concurrency.to_string();
        let config = Config::from_lookup(|name| match name {
            "LOCAL_LAMBDA_PORT" => Some("0".to_owned()),
            "LOCAL_LAMBDA_MAX_CONCURRENCY" if concurrency > 1 => Some(n.clone()),
            "LAMBDA_ACTORS_METRICS_INTERVAL_SECS" => Some("0".to_owned()),
            "LOCAL_LAMBDA_TIMEOUT_SECS" => Some(INVOKE_TIMEOUT.as_secs().to_string()),
            _ => None,
        })
        .map_err(|e| RuntimeError::config(e.to_string()))?;
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("lambda-actors-test".into())
            .spawn(move || {
                let failed = tx.clone();
                let result = run(Runtime::new().config(config).without_logging().on_started(move |s| {
                    let _ = tx.send(Ok(s));
                }));
                if let Err(e) = &result {
                    let _ = failed.send(Err(e.to_string()));
                }
                result
            })
            .map_err(|e| RuntimeError::init(format!("cannot start the test runtime thread: {e}")))?;
        let started = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(RuntimeError::init(format!("the test function did not start: {e}"))),
            Err(_) => return Err(RuntimeError::init("the test function did not start within 30 s")),
        };
        let invoke_url = started
            .invoke_url
            .ok_or_else(|| RuntimeError::init("the test function has no local server"))?;
        let rest = invoke_url.trim_start_matches("http://");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        Ok(Self {
            authority: authority.to_owned(),
            path: path.to_owned(),
            invoke_url,
            handle: started.handle,
            thread: Some(thread),
        })
    }

    /// The URL the function is invoked at.
    pub fn invoke_url(&self) -> &str {
        &self.invoke_url
    }

    /// Invokes with a typed event; a function error comes back as an [`Error`] with the
    /// function's `errorType`, `errorMessage` and `stackTrace` (as its causes).
    pub fn invoke<E: Serialize, O: DeserializeOwned>(&self, event: &E) -> Result<O, Error> {
        let body = serde_json::to_vec(event).map_err(|e| Error::new("TestKit.EncodeError", e.to_string()))?;
        let reply = self.invoke_raw(&body)?;
        if reply.is_function_error() {
            let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
            let error_type = v["errorType"].as_str().unwrap_or("Unknown").to_owned();
            let message = v["errorMessage"].as_str().unwrap_or_default().to_owned();
            let causes = v["stackTrace"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str());
            return Err(causes.fold(Error::new(error_type, message), Error::with_cause));
        }
        serde_json::from_slice(&reply.body).map_err(|e| {
            let text = String::from_utf8_lossy(&reply.body);
            Error::new(
                "TestKit.DecodeError",
                format!("the output {text:?} does not decode: {e}"),
            )
        })
    }

    /// Invokes with raw bytes and returns the whole reply.
    pub fn invoke_raw(&self, event: &[u8]) -> Result<InvokeReply, Error> {
        let io = |e: std::io::Error| Error::new("TestKit.IoError", format!("invoking {}: {e}", self.invoke_url));
        let mut conn = TcpStream::connect(&self.authority).map_err(io)?;
        conn.set_read_timeout(Some(INVOKE_TIMEOUT * 2)).map_err(io)?;
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.path,
            self.authority,
            event.len()
        );
        conn.write_all(head.as_bytes()).map_err(io)?;
        conn.write_all(event).map_err(io)?;
        let mut raw = Vec::new();
        conn.read_to_end(&mut raw).map_err(io)?;
        parse_reply(&raw).ok_or_else(|| {
            Error::new(
                "TestKit.BadReply",
                format!("not an HTTP reply: {:?}", String::from_utf8_lossy(&raw)),
            )
        })
    }

    /// Stops the function gracefully and returns how its runtime ended.
    pub fn stop(mut self) -> Result<(), RuntimeError> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), RuntimeError> {
        self.handle.shutdown();
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(RuntimeError::init("the test runtime thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for TestFunction {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

/// A whole reply read to the connection's close: the head and any trailers parsed by httparse;
/// only the loop over a chunked body's chunks is written here, since httparse parses the
/// parts (chunk sizes, header blocks) but does not assemble a body.
fn parse_reply(raw: &[u8]) -> Option<InvokeReply> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut head = httparse::Response::new(&mut fields);
    let httparse::Status::Complete(end) = head.parse(raw).ok()? else {
        return None;
    };
    let status = head.code?;
    let mut headers = fields_of(head.headers);
    let rest = &raw[end..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        let (body, trailers) = dechunk(rest)?;
        headers.extend(trailers);
        body
    } else {
        rest.to_vec()
    };
    Some(InvokeReply { status, headers, body })
}

/// Header fields, names lower-case.
type Fields = Vec<(String, String)>;

fn fields_of(headers: &[httparse::Header<'_>]) -> Fields {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_owned(),
            )
        })
        .collect()
}

/// The body and the trailers of a chunked body.
fn dechunk(mut rest: &[u8]) -> Option<(Vec<u8>, Fields)> {
    let mut body = Vec::new();
    loop {
        let httparse::Status::Complete((used, size)) = httparse::parse_chunk_size(rest).ok()? else {
            return None;
        };
        rest = &rest[used..];
        if size == 0 {
            let mut fields = [httparse::EMPTY_HEADER; 32];
            return match httparse::parse_headers(rest, &mut fields).ok()? {
                httparse::Status::Complete((_, trailers)) => Some((body, fields_of(trailers))),
                httparse::Status::Partial => None,
            };
        }
        let size = usize::try_from(size).ok()?;
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size..)?.strip_prefix(b"\r\n")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse_with_either_framing() {
        let r =
            parse_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Amz-Function-Error: Unhandled\r\n\r\nhi").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hi"[..]));
        assert!(r.is_function_error());
        let r = parse_reply(b"HTTP/1.1 418 Teapot\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n")
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (418, &b"abc"[..]));
        let r = parse_reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-Amz-Function-Error: Unhandled\r\n\r\n")
            .unwrap();
        assert!(r.is_function_error(), "{r:?}");
        assert!(parse_reply(b"garbage").is_none());
    }
}
