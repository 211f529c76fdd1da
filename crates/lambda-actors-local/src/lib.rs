#![warn(missing_docs)]
//! The embedded local server of `lambda-actors`: run a Lambda function on your machine and
//! invoke it with `curl`, with no AWS account, no Docker and no emulator to download.
//!
//! One TCP port serves two APIs:
//!
//! - the **Runtime API** (`/2018-06-01/runtime/...`), which the runtime's pollers talk to over
//!   real loopback HTTP, exactly as they talk to Lambda: the runtime only needs
//!   `AWS_LAMBDA_RUNTIME_API` set to [`LocalServer::runtime_api`];
//! - the **Invoke API**, which callers talk to: `POST /invoke` (the path is configurable,
//!   [`LocalConfig::invocation_endpoint`]) and AWS's
//!   `POST /2015-03-31/functions/{name}/invocations` (`Invoke`), so `curl`, `cargo lambda
//!   invoke` and `aws lambda invoke --endpoint-url http://127.0.0.1:7000` all work, and
//!   `POST /2021-11-15/functions/{name}/response-streaming-invocations`
//!   (`InvokeWithResponseStream`), which boto3's `invoke_with_response_stream` and the other
//!   AWS SDKs read as an event stream.
//!
//! The runtime starts it (cargo feature `local-server` of `lambda-actors`) when
//! `AWS_LAMBDA_RUNTIME_API` is unset; users rarely call this crate directly.
//!
//! ```
//! use lambda_actors_local::{start, LocalConfig};
//!
//! actix_rt::System::new().block_on(async {
//!     let cfg = LocalConfig { port: 0, ..LocalConfig::default() };
//!     let server = start(cfg).await.expect("a free port");
//!     // Point the runtime at `server.runtime_api()`, then tell the user:
//!     println!("invoke with: {}", server.curl_hint());
//!     assert!(server.runtime_api().starts_with("127.0.0.1:"));
//!     server.stop();
//! });
//! ```
//!
//! # The Runtime API side
//!
//! | Request | Reply |
//! |---|---|
//! | `GET /2018-06-01/runtime/invocation/next` | parks until an invoke arrives, then 200 with the event and the headers below |
//! | `POST .../invocation/{id}/response` | 202 `{"status":"OK"}`; buffered (over 6 MiB + 100 bytes: 413) or streamed |
//! | `POST .../invocation/{id}/error` | 202; the caller gets a function error |
//! | `POST /2018-06-01/runtime/init/error` | 202 the first time, before any `/next` (then 403); kept in [`LocalServer::init_error`] and logged |
//!
//! A `/next` reply carries `Lambda-Runtime-Aws-Request-Id` (a fresh UUID),
//! `Lambda-Runtime-Deadline-Ms` (now plus [`LocalConfig::timeout`]),
//! `Lambda-Runtime-Invoked-Function-Arn`
//! (`arn:aws:lambda:us-east-1:000000000000:function:<function_name>`),
//! `Lambda-Runtime-Trace-Id` (the caller's `X-Amzn-Trace-Id`, or a fresh X-Ray header),
//! `Lambda-Runtime-Invocation-Id` (fresh), and when the caller sent them
//! `Lambda-Runtime-Client-Context` (decoded from the base64 `X-Amz-Client-Context`) and
//! `Lambda-Runtime-Aws-Tenant-Id` (from `X-Amz-Tenant-Id`).
//!
//! An answer for an unknown or already answered request id gets 400 with errorType
//! `InvalidRequestID`; one for an invocation that already timed out gets 410 `InvokeTimeout`;
//! one whose `Lambda-Runtime-Invocation-Id` echo does not match gets 400. Connections are
//! kept alive and every request body is read to its end (oversized ones up to 64 MiB, past
//! which the connection is closed).
//!
//! # The Invoke API side
//!
//! | Outcome | Reply to the caller |
//! |---|---|
//! | `/response` | 200, the output, the function's `Content-Type` (default `application/json`) |
//! | `/error` | 200, `X-Amz-Function-Error: Unhandled`, the error JSON |
//! | buffered response over 6 MiB + 100 bytes | 200, `Unhandled`, errorType `Function.ResponseSizeTooLarge` |
//! | event over 6 MiB | 413, `RequestEntityTooLargeException` |
//! | init failed | 200, `Unhandled`, the init error JSON |
//! | no answer before the deadline | 200, `Unhandled`, errorType `Sandbox.Timedout` (see below) |
//! | every slot busy, queue full | 429, `TooManyRequestsException` |
//! | every slot busy, [`LocalConfig::reject_when_busy`] | 400, `Runtime.Unavailable` |
//!
//! Replies carry `X-Amzn-RequestId` once the runtime has taken the invocation.
//! `X-Amz-Invocation-Type: Event` is answered 202 at once (the function still runs);
//! `DryRun` is answered 204.
//!
//! `X-Amz-Log-Type: Tail` on a synchronous invoke adds `X-Amz-Log-Result`: base64 of the last
//! 4 KB of the invocation's log lines, framed by `START`, `END` and `REPORT` lines as on Lambda.
//! The lines come from the process that embeds the server ([`LocalServer::log_sink`];
//! lambda-actors feeds it every line its log layer writes inside an invocation). A streamed
//! answer on this path has sent its head before the log is complete, so it carries none; the
//! streaming API below does.
//!
//! # `InvokeWithResponseStream`
//!
//! 200 with `Content-Type: application/vnd.amazon.eventstream`, `X-Amzn-RequestId` and
//! `X-Amz-Executed-Version`, and a chunked body of event-stream messages: a `PayloadChunk` for
//! each piece of the function's stream the moment it arrives (a buffered answer is one), then
//! one `InvokeComplete`. A function error, a stream that fails mid-way (the runtime's error
//! trailers, a broken stream, the deadline) or a timeout ends with `ErrorCode` (the error's
//! `errorType`) and `ErrorDetails` (its `errorMessage`) in `InvokeComplete`, after only the bytes
//! sent before the failure; `LogResult` carries the log tail when asked for. An
//! HTTP-integration prelude is checked as below and left out of the payload: this API carries
//! the body only. `X-Amz-Invocation-Type: Event` is a 400, as on Lambda.
//!
//! # Concurrency, queueing, rejection
//!
//! Up to [`LocalConfig::max_concurrency`] invocations run at once: the runtime parks that many
//! `GET /next` (as on Lambda Managed Instances) and each invoke goes to a parked one. A slot
//! is busy from the moment its `/next` takes an invoke until the answer is complete (a stream:
//! until it ends). When every slot is busy, an invoke waits in a FIFO queue of at most
//! [`LocalConfig::queue_limit`] (then 429), or, with
//! [`LocalConfig::reject_when_busy`], fails at once with `Runtime.Unavailable` as Managed
//! Instances do. A slot whose handler answered but is still doing background work counts as
//! free, but its `/next` only comes when the work ends: invokes wait for it (they are not
//! rejected), as they wait for pollers that have not started yet.
//!
//! A caller that disconnects gives up its invoke: a queued one leaves the queue, a running one
//! runs on and its answer is dropped. Nothing wedges a slot.
//!
//! # Timeouts
//!
//! [`LocalConfig::timeout`] (default 900 s) bounds both waits: a queued invoke waits at most
//! that long for a `/next`, and a running one at most until its deadline. Either way the
//! caller gets what Lambda sends on a timeout: 200 with `X-Amz-Function-Error: Unhandled` and
//! `{"errorType":"Sandbox.Timedout","errorMessage":"Task timed out after 900.00 seconds"}`
//! (the message says when the runtime never asked for the invoke). That form, rather than a
//! 504, keeps `aws lambda invoke` and `cargo lambda invoke` reporting it as a function error.
//! The slot is freed, and a late answer from the runtime gets 410.
//!
//! # Streamed responses
//!
//! A `/response` with `Lambda-Runtime-Function-Response-Mode: streaming` is relayed to the
//! caller as it arrives: each piece read from the runtime is written as its own chunk at once
//! (`TCP_NODELAY`, no buffering), with backpressure (a slow caller slows the runtime, memory
//! stays bounded). Up to 200 MB per stream.
//!
//! With content type `application/vnd.awslambda.http-integration-response`, the JSON prelude
//! `{"statusCode","headers","cookies"}` up to the 8 NUL bytes (split over chunks or not)
//! becomes the reply's status, headers and `Set-Cookie` headers; the rest is the body. A
//! prelude that cannot be used is a 502 `Runtime.InvalidPrelude`.
//!
//! **Errors in streams.** A stream that fails before its first payload byte becomes an
//! ordinary function error (200, `Unhandled`, the error JSON). One that fails after it (the
//! runtime's error trailers, a broken connection, the deadline) cannot change the status any
//! more, so the caller's chunked reply ends with HTTP trailers, declared in the head with
//! `Trailer:`:
//!
//! ```text
//! X-Amz-Function-Error: Unhandled
//! Lambda-Runtime-Function-Error-Type: Function.StreamFailed
//! Lambda-Runtime-Function-Error-Body: <base64 of the error JSON, as the runtime sent it>
//! ```
//!
//! and the error is logged (a `WARN` line with the request id and the decoded error), since
//! many clients (curl without `-v`) do not show trailers. The body holds only the bytes sent
//! before the failure.
//!
//! # Limits
//!
//! Request heads and trailer sections: 64 KiB and 100 fields (431 past that). Events: 6 MiB.
//! Buffered answers: 6 MiB + 100 bytes. Streams: 200 MB. A started request that sends nothing
//! for 60 s is dropped, as is a keep-alive connection idle for 10 minutes; a caller that stops
//! reading for 60 s is disconnected. Open connections: two per slot plus 256.
//!
//! Emulated as far as running an extension locally needs: the Extensions API (`register`,
//! `event/next` with `INVOKE` and `SHUTDOWN` events) and the Telemetry API (`PUT
//! /2022-07-01/telemetry`: `platform.start`, `platform.report` and `function` records posted
//! to the subscriber's listener). Not emulated: Cognito identity, versions and aliases (any
//! function name or qualifier in the Invoke API paths reaches this one function).

mod config;
mod dispatch;
mod error;
mod eventstream;
mod extensions_api;
mod fixed;
mod http;
mod ids;
mod invoke_api;
mod invoke_stream;
pub mod listener;
mod log_tail;
mod prelude;
mod runtime_api;
mod server;
mod telemetry_api;

pub use config::LocalConfig;
pub use error::LocalError;
pub use log_tail::LogSink;
pub use server::{start, ExtensionShutdown, LocalServer};

use std::fmt;

/// What the function posted to `/runtime/init/error`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InitError {
    /// The `Lambda-Runtime-Function-Error-Type` header, or the body's `errorType`, or
    /// `Runtime.Unknown`.
    pub error_type: String,
    /// The error JSON as posted (lossily UTF-8).
    pub body: String,
}

impl InitError {
    pub(crate) fn new(header_type: Option<&str>, body: &[u8]) -> Self {
        let from_body = || {
            serde_json::from_slice::<serde_json::Value>(body)
                .ok()?
                .get("errorType")?
                .as_str()
                .map(str::to_owned)
        };
        let error_type = header_type
            .map(str::to_owned)
            .or_else(from_body)
            .unwrap_or_else(|| "Runtime.Unknown".to_owned());
        Self {
            error_type,
            body: String::from_utf8_lossy(body).into_owned(),
        }
    }
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "init error {}: {}", self.error_type, self.body)
    }
}

/// A snapshot of the server's slots and queue, from [`LocalServer::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalStats {
    /// Slots running an invocation (from `/next` to the end of its answer).
    pub busy: usize,
    /// Invokes waiting for a `/next`.
    pub queued: usize,
    /// `GET /next` requests parked, waiting for an invoke: how many more invokes would start
    /// at once. Tests wait for this to reach the concurrency before invoking.
    pub polling: usize,
    /// Invocations handed to the runtime since start.
    pub invocations: u64,
}
