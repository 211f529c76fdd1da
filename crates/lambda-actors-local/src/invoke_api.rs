//! The Invoke API side: what `curl`, `cargo lambda invoke` and `aws lambda invoke
//! --endpoint-url` talk to (protocol.md §9).

use crate::dispatch::{Answer, Event, Failure, Outcome, Refusal, Shared, StreamError, StreamItem, Ticket};
use crate::http::{race, Body, BodyError, Conn, Either, Head, HttpError, Response};
use crate::prelude::{Prelude, PreludeReader};
use crate::runtime_api::{error_reply, DRAIN_LIMIT};
use base64::Engine as _;
use bytes::Bytes;
use lambda_actors_api::{headers, ErrorBody};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Largest event of a synchronous invoke: 6 MB, as Lambda (`RequestEntityTooLargeException`).
pub(crate) const MAX_EVENT_BYTES: usize = 6 * 1024 * 1024;

/// The trailers a caller gets when a streamed response fails after its first byte.
const ERROR_TRAILERS: &str =
    "X-Amz-Function-Error, Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body";

/// Which operation of the Invoke API a caller used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InvokeApi {
    /// `Invoke` (and the plain invocation endpoint): the answer as the reply's body.
    Invoke,
    /// `InvokeWithResponseStream`: the answer as event-stream messages.
    InvokeWithResponseStream,
}

/// `X-Amz-Invocation-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

/// `POST <invocation endpoint>`, `POST /2015-03-31/functions/{name}/invocations` (`Invoke`)
/// and `POST /2021-11-15/functions/{name}/response-streaming-invocations`
/// (`InvokeWithResponseStream`).
pub(crate) async fn invoke(
    shared: &Arc<Shared>,
    conn: &mut Conn,
    head: &Head,
    body: &mut Body,
    api: InvokeApi,
) -> Result<bool, HttpError> {
    let keep = head.keep_alive();
    if head.method != "POST" {
        let reply = error_reply(
            405,
            "MethodNotAllowed",
            format!("invoke the function with POST {}, not {}", head.path, head.method),
        )
        .header("allow", "POST");
        return refuse(conn, body, reply, keep).await;
    }
    let kind = match head.header("x-amz-invocation-type") {
        None => InvocationType::RequestResponse,
        Some(t) if t.eq_ignore_ascii_case("RequestResponse") => InvocationType::RequestResponse,
        Some(t) if t.eq_ignore_ascii_case("Event") => InvocationType::Event,
        Some(t) if t.eq_ignore_ascii_case("DryRun") => InvocationType::DryRun,
        Some(other) => {
            let reply = error_reply(
                400,
                "InvalidParameterValueException",
                format!("X-Amz-Invocation-Type {other:?} is not RequestResponse, Event or DryRun"),
            );
            return refuse(conn, body, reply, keep).await;
        }
    };
    if api == InvokeApi::InvokeWithResponseStream && kind == InvocationType::Event {
        let reply = error_reply(
            400,
            "InvalidParameterValueException",
            "InvokeWithResponseStream takes X-Amz-Invocation-Type RequestResponse or DryRun, not Event",
        );
        return refuse(conn, body, reply, keep).await;
    }
    let log_tail = match head.header("x-amz-log-type") {
        None => false,
        Some(t) if t.eq_ignore_ascii_case("None") => false,
        Some(t) if t.eq_ignore_ascii_case("Tail") => true,
        Some(other) => {
            let reply = error_reply(
                400,
                "InvalidParameterValueException",
                format!("X-Amz-Log-Type {other:?} is not None or Tail"),
            );
            return refuse(conn, body, reply, keep).await;
        }
    };
    if body.declared_len().is_some_and(|len| len > MAX_EVENT_BYTES as u64) {
        // Refused before the body is sent: a client waiting for `100 Continue` never sends
        // it, so the connection cannot be reused.
        let keep = keep && !head.expects_continue();
        return refuse(conn, body, too_large(), keep).await;
    }
    if head.expects_continue() {
        conn.continue_100().await?;
    }
    let payload = match conn.read_to_end(body, MAX_EVENT_BYTES).await {
        Ok(payload) => payload,
        Err(BodyError::TooLarge) => return refuse(conn, body, too_large(), keep).await,
        Err(BodyError::Http(e)) => return Err(e),
    };
    let client_context = match head.header("x-amz-client-context").map(decode_client_context) {
        None => None,
        Some(Ok(cc)) => Some(cc),
        Some(Err(why)) => {
            let reply = error_reply(400, "InvalidRequestContentException", why);
            conn.respond(&reply, keep).await?;
            return Ok(keep);
        }
    };
    let event = Event {
        body: payload,
        content_type: head.header("content-type").map(str::to_owned),
        trace_id: head
            .header("x-amzn-trace-id")
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
        client_context,
        tenant_id: head
            .header("x-amz-tenant-id")
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
        // Lambda returns logs to synchronous callers only.
        log_tail: log_tail && kind == InvocationType::RequestResponse,
    };
    if kind == InvocationType::DryRun {
        conn.respond(&Response::new(204), keep).await?;
        return Ok(keep);
    }
    let mut ticket = match shared.submit(event) {
        Ok(ticket) => ticket,
        Err(Refusal::Busy) => {
            let reply = busy(shared);
            tracing::warn!(status = reply.status, "invoke refused: every slot is busy");
            conn.respond(&reply, keep).await?;
            return Ok(keep);
        }
        Err(Refusal::InitFailed(error)) => {
            let reply = unhandled(None, Some(&error.error_type), Bytes::from(error.body));
            conn.respond(&reply, keep).await?;
            return Ok(keep);
        }
    };
    if kind == InvocationType::Event {
        actix_rt::spawn(async move {
            match ticket.wait().await {
                Ok(Outcome {
                    answer: Answer::Stream { mut items, .. },
                    ..
                }) => while items.recv().await.is_some() {},
                Ok(_) => {}
                Err(failure) => tracing::warn!(?failure, "asynchronous invoke failed"),
            }
        });
        conn.respond(&Response::new(202), keep).await?;
        return Ok(keep);
    }
    // A caller that disconnects gives up its invoke: queued, it leaves the queue; running, its
    // answer is dropped when it comes.
    let outcome = match race(ticket.wait(), conn.closed()).await {
        Either::Left(outcome) => outcome,
        Either::Right(()) => {
            tracing::debug!("the caller disconnected before its answer");
            return Ok(false);
        }
    };
    if api == InvokeApi::InvokeWithResponseStream {
        return crate::invoke_stream::reply(shared, conn, head, outcome, &ticket).await;
    }
    match outcome {
        Ok(Outcome {
            request_id,
            deadline,
            answer,
        }) => match answer {
            Answer::Response { content_type, body } => {
                let reply = Response::new(200)
                    .header(
                        "content-type",
                        content_type.unwrap_or_else(|| "application/json".to_owned()),
                    )
                    .body(body);
                let reply = with_log(with_ids(reply, request_id.as_deref()), &ticket);
                conn.respond(&reply, keep).await?;
                Ok(keep)
            }
            Answer::Error { error_type, body } => {
                let reply = unhandled(request_id.as_deref(), error_type.as_deref(), body);
                conn.respond(&with_log(reply, &ticket), keep).await?;
                Ok(keep)
            }
            Answer::Stream { content_type, items } => {
                let request_id = request_id.unwrap_or_default();
                relay(
                    conn,
                    head,
                    &request_id,
                    (deadline, shared.cfg.timeout),
                    content_type,
                    items,
                )
                .await
            }
        },
        Err(failure) => {
            let (request_id, error) = failure_error(shared, failure);
            let reply = unhandled(request_id.as_deref(), Some(&error.error_type), error.to_json().into());
            conn.respond(&with_log(reply, &ticket), keep).await?;
            Ok(keep)
        }
    }
}

/// The request id (when the runtime took the invoke) and the error a caller gets for an
/// invoke that got no answer, logged.
pub(crate) fn failure_error(shared: &Shared, failure: Failure) -> (Option<String>, ErrorBody) {
    let secs = crate::fixed::seconds(shared.cfg.timeout);
    let (request_id, message) = match failure {
        Failure::TimedOut { request_id } => {
            tracing::warn!(requestId = %request_id, "invocation timed out after {secs} s");
            (Some(request_id), format!("Task timed out after {secs} seconds"))
        }
        Failure::NotStarted => {
            tracing::warn!("no runtime asked for an invoke (GET /next) within {secs} s");
            (
                None,
                format!(
                    "Task timed out after {secs} seconds: the runtime never asked for this \
                     invocation (no GET /next); is the function running?"
                ),
            )
        }
        Failure::Lost => (None, "the local server is stopping".to_owned()),
    };
    (request_id, ErrorBody::new("Sandbox.Timedout", message))
}

/// Adds `X-Amz-Log-Result` when the caller asked for the log tail.
fn with_log(reply: Response, ticket: &Ticket) -> Response {
    match ticket.log_result() {
        Some(tail) => reply.header("x-amz-log-result", tail),
        None => reply,
    }
}

/// Answers an invoke without running it, reading (a bounded amount of) its body first so
/// that the connection can stay open.
async fn refuse(conn: &mut Conn, body: &mut Body, reply: Response, keep: bool) -> Result<bool, HttpError> {
    let keep = keep && conn.drain(body, DRAIN_LIMIT).await;
    conn.respond(&reply, keep).await?;
    Ok(keep)
}

fn too_large() -> Response {
    error_reply(
        413,
        "RequestEntityTooLargeException",
        format!("Request must be smaller than {MAX_EVENT_BYTES} bytes for the InvokeFunction operation"),
    )
}

/// 429 (queue full) or, when rejecting like Managed Instances, 400 `Runtime.Unavailable`.
fn busy(shared: &Shared) -> Response {
    let n = shared.cfg.max_concurrency;
    if shared.cfg.reject_when_busy {
        error_reply(
            400,
            "Runtime.Unavailable",
            format!("all {n} execution slots are busy and LOCAL_LAMBDA_REJECT_WHEN_BUSY is set: no runtime is ready for this invoke"),
        )
    } else {
        let q = shared.cfg.queue_limit;
        error_reply(
            429,
            "TooManyRequestsException",
            format!("all {n} execution slots are busy and {q} invokes are already queued: try again later"),
        )
        .header("retry-after", "1")
    }
}

/// Adds the request id and version headers Lambda's Invoke API sends.
pub(crate) fn with_ids(reply: Response, request_id: Option<&str>) -> Response {
    let reply = reply.header("x-amz-executed-version", "$LATEST");
    match request_id {
        Some(id) => reply.header("x-amzn-requestid", id),
        None => reply,
    }
}

/// A function error: 200 with `X-Amz-Function-Error: Unhandled` and the error JSON.
fn unhandled(request_id: Option<&str>, error_type: Option<&str>, body: Bytes) -> Response {
    let body = error_json(error_type, body);
    with_ids(
        Response::new(200)
            .header("x-amz-function-error", "Unhandled")
            .json(body),
        request_id,
    )
}

/// The function's error JSON as it sent it, or one made from what it sent.
fn error_json(error_type: Option<&str>, body: Bytes) -> Bytes {
    let is_object = serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v.is_object());
    if is_object {
        return body;
    }
    let error_type = error_type.unwrap_or("Function.Unknown");
    ErrorBody::new(error_type, String::from_utf8_lossy(&body).into_owned())
        .to_json()
        .into()
}

/// Decodes `X-Amz-Client-Context` (base64 JSON, as the Invoke API takes it) into the text of
/// `Lambda-Runtime-Client-Context`.
fn decode_client_context(value: &str) -> Result<String, String> {
    let bad = |why: &str| format!("X-Amz-Client-Context must be base64 of a JSON object: {why}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| bad(&e.to_string()))?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(&e.to_string()))?;
    if !json.is_object() {
        return Err(bad("it is not an object"));
    }
    // Valid JSON has raw CR, LF and TAB only as whitespace between tokens: turned into
    // spaces, the text means the same and fits on one header line.
    let text = String::from_utf8(bytes).map_err(|_| bad("it is not UTF-8"))?;
    let text = text.replace(['\r', '\n', '\t'], " ");
    if !crate::http::is_header_value(&text) {
        return Err(bad("it holds characters a header cannot carry"));
    }
    Ok(text)
}

/// Waits for the next stream item until the deadline.
pub(crate) enum Next {
    Item(StreamItem),
    /// The runtime side went away without ending the stream.
    Broken,
    TimedOut,
}

pub(crate) async fn next_item(items: &mut mpsc::Receiver<StreamItem>, deadline: Instant) -> Next {
    match tokio::time::timeout_at(deadline.into(), items.recv()).await {
        Ok(Some(item)) => Next::Item(item),
        Ok(None) => Next::Broken,
        Err(_) => Next::TimedOut,
    }
}

pub(crate) fn broken() -> StreamError {
    local_stream_error(&ErrorBody::new(
        "Runtime.TruncatedResponse",
        "the runtime's streamed response broke off",
    ))
}

pub(crate) fn timed_out(timeout: Duration) -> StreamError {
    local_stream_error(&ErrorBody::new(
        "Sandbox.Timedout",
        format!("Task timed out after {} seconds", crate::fixed::seconds(timeout)),
    ))
}

pub(crate) fn local_stream_error(error: &ErrorBody) -> StreamError {
    StreamError {
        error_type: error.error_type.clone(),
        body_b64: base64::engine::general_purpose::STANDARD.encode(error.to_json()),
    }
}

/// The error JSON inside a stream error, for a caller that gets it as a body.
pub(crate) fn stream_error_body(error: &StreamError) -> Bytes {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(error.body_b64.as_bytes())
        .unwrap_or_default();
    error_json(Some(&error.error_type), decoded.into())
}

/// Relays a streamed answer to the caller as it arrives.
///
/// The head waits for the first payload byte (for an HTTP-integration stream: for the end of
/// the prelude, which sets status, headers and cookies), so that a function that fails before
/// sending anything gets an ordinary function-error reply. After the first byte, every piece
/// is written as its own chunk at once. A failure after that (the function's error trailers,
/// a broken stream, the deadline) ends the chunked body with trailers
/// `X-Amz-Function-Error: Unhandled`, `Lambda-Runtime-Function-Error-Type` and
/// `Lambda-Runtime-Function-Error-Body` (base64 JSON, as the runtime sent it), declared in the
/// head with `Trailer:`, and is logged.
async fn relay(
    conn: &mut Conn,
    head: &Head,
    request_id: &str,
    (deadline, timeout): (Instant, Duration),
    content_type: Option<String>,
    mut items: mpsc::Receiver<StreamItem>,
) -> Result<bool, HttpError> {
    let keep = head.keep_alive();
    let integration = content_type
        .as_deref()
        .is_some_and(|ct| ct.eq_ignore_ascii_case(headers::HTTP_INTEGRATION_CONTENT_TYPE));
    let mut prelude_reader = PreludeReader::default();
    // Phase 1: until the first payload byte (and the prelude).
    let (prelude, first) = loop {
        let failure = match next_item(&mut items, deadline).await {
            Next::Item(StreamItem::Data(data)) if integration => match prelude_reader.push(&data) {
                Ok(Some(done)) => break done,
                Ok(None) => continue,
                Err(why) => {
                    tracing::warn!(requestId = %request_id, "bad HTTP-integration prelude: {why}");
                    let reply = error_reply(502, "Runtime.InvalidPrelude", why);
                    conn.respond(&with_ids(reply, Some(request_id)), keep).await?;
                    return Ok(keep);
                }
            },
            Next::Item(StreamItem::Data(data)) => {
                let ct = content_type.clone().unwrap_or_else(|| "application/json".to_owned());
                let prelude = Prelude {
                    status: 200,
                    headers: vec![("content-type".to_owned(), ct)],
                    cookies: Vec::new(),
                };
                break (prelude, data);
            }
            Next::Item(StreamItem::End(None)) if integration => {
                let why = if prelude_reader.is_empty() {
                    "the stream ended without an HTTP-integration prelude"
                } else {
                    "the stream ended inside its HTTP-integration prelude (no 8 NUL bytes)"
                };
                tracing::warn!(requestId = %request_id, "{why}");
                let reply = error_reply(502, "Runtime.InvalidPrelude", why);
                conn.respond(&with_ids(reply, Some(request_id)), keep).await?;
                return Ok(keep);
            }
            Next::Item(StreamItem::End(None)) => {
                let ct = content_type.unwrap_or_else(|| "application/json".to_owned());
                let reply = with_ids(Response::new(200).header("content-type", ct), Some(request_id));
                conn.respond(&reply, keep).await?;
                return Ok(keep);
            }
            Next::Item(StreamItem::End(Some(error))) => error,
            Next::Broken => broken(),
            Next::TimedOut => timed_out(timeout),
        };
        // Failed before the first byte: an ordinary function error.
        tracing::warn!(requestId = %request_id, errorType = %failure.error_type, "streamed response failed before its first byte");
        let reply = unhandled(Some(request_id), Some(&failure.error_type), stream_error_body(&failure));
        conn.respond(&reply, keep).await?;
        return Ok(keep);
    };
    // HTTP/1.0 callers cannot take chunks or trailers: the body ends when the connection does.
    let chunked = head.minor_version >= 1;
    let mut head_text = with_ids(
        Response {
            status: prelude.status,
            headers: prelude.headers,
            body: Bytes::new(),
        },
        Some(request_id),
    )
    .head_text(keep && chunked);
    for cookie in &prelude.cookies {
        let _ = write!(head_text, "set-cookie: {cookie}\r\n");
    }
    if chunked {
        let _ = write!(head_text, "transfer-encoding: chunked\r\ntrailer: {ERROR_TRAILERS}\r\n");
    }
    head_text.push_str("\r\n");
    conn.write(head_text.as_bytes()).await?;
    write_piece(conn, chunked, &first).await?;
    // Phase 2: every piece at once, then the end.
    let failure = loop {
        match next_item(&mut items, deadline).await {
            Next::Item(StreamItem::Data(data)) => write_piece(conn, chunked, &data).await?,
            Next::Item(StreamItem::End(None)) => {
                if !chunked {
                    return Ok(false);
                }
                conn.end_chunks(&[]).await?;
                return Ok(keep);
            }
            Next::Item(StreamItem::End(Some(error))) => break error,
            Next::Broken => break broken(),
            Next::TimedOut => break timed_out(timeout),
        }
    };
    let message = String::from_utf8_lossy(&stream_error_body(&failure)).into_owned();
    tracing::warn!(
        requestId = %request_id,
        errorType = %failure.error_type,
        error = %message,
        "streamed response failed mid-stream; the caller gets it in HTTP trailers"
    );
    if !chunked {
        return Ok(false);
    }
    conn.end_chunks(&[
        ("X-Amz-Function-Error", "Unhandled"),
        ("Lambda-Runtime-Function-Error-Type", &failure.error_type),
        ("Lambda-Runtime-Function-Error-Body", &failure.body_b64),
    ])
    .await?;
    Ok(keep)
}

/// Writes one piece of a streamed body: a chunk, or raw bytes for an HTTP/1.0 caller.
pub(crate) async fn write_piece(conn: &mut Conn, chunked: bool, data: &[u8]) -> Result<(), HttpError> {
    if chunked {
        conn.write_chunk(data).await
    } else {
        conn.write(data).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_context_is_decoded_to_one_line() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(b"{\n  \"custom\": {\"a\": \"b\"}\n}");
        assert_eq!(decode_client_context(&b64).unwrap(), r#"{   "custom": {"a": "b"} }"#);
        assert!(decode_client_context("%%%").unwrap_err().contains("base64"));
        let not_object = base64::engine::general_purpose::STANDARD.encode(b"[1]");
        assert!(decode_client_context(&not_object).is_err());
    }

    #[test]
    fn error_bodies_are_kept_or_made() {
        let json = Bytes::from_static(br#"{"errorMessage":"m","errorType":"T"}"#);
        assert_eq!(error_json(Some("X"), json.clone()), json);
        let made: serde_json::Value =
            serde_json::from_slice(&error_json(Some("Function.Boom"), "plain".into())).unwrap();
        assert_eq!(made["errorType"], "Function.Boom");
        assert_eq!(made["errorMessage"], "plain");
        let made: serde_json::Value = serde_json::from_slice(&error_json(None, Bytes::new())).unwrap();
        assert_eq!(made["errorType"], "Function.Unknown");
    }
}
