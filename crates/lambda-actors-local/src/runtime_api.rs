//! The Runtime API side: what the runtime's pollers talk to (protocol.md §1–§5).

use crate::dispatch::{until, Answer, Claim, Claimed, Next, Shared, StreamError, StreamItem};
use crate::http::{race, Body, BodyError, Conn, Either, Head, HttpError, Response, READ_STALL};
use crate::InitError;
use lambda_actors_api::{headers, ErrorBody, MAX_RESPONSE_BYTES};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Largest streamed response (protocol.md §6).
pub(crate) const MAX_STREAM_BYTES: u64 = 200 * 1024 * 1024;
/// How much of an oversized body is read and thrown away so the connection stays usable.
pub(crate) const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;
/// How many streamed pieces wait for a slow caller before the runtime is slowed down.
const STREAM_BUFFER: usize = 8;
/// Largest piece of a streamed body relayed at once.
const STREAM_PIECE: usize = 64 * 1024;

/// `{"status":"OK"}`, what Lambda answers an accepted answer with.
fn accepted() -> Response {
    Response::new(202).json(&br#"{"status":"OK"}"#[..])
}

/// An error reply in Lambda's form `{"errorMessage", "errorType"}`.
pub(crate) fn error_reply(status: u16, error_type: &str, message: impl Into<String>) -> Response {
    Response::new(status).json(ErrorBody::new(error_type, message).to_json())
}

/// `GET /2018-06-01/runtime/invocation/next`: parks until an invoke arrives.
pub(crate) async fn next(
    shared: &Arc<Shared>,
    conn: &mut Conn,
    head: &Head,
    body: &mut Body,
) -> Result<bool, HttpError> {
    let keep = head.keep_alive() && conn.drain(body, 64 * 1024).await;
    loop {
        let pending = match shared.next_or_park() {
            Next::Ready(pending) => pending,
            Next::Parked(mut rx) => match race(&mut rx, conn.closed()).await {
                Either::Left(Ok(pending)) => pending,
                // Only when the server stops.
                Either::Left(Err(_)) => return Ok(false),
                Either::Right(()) => {
                    // The runtime went away. An invoke handed over this very moment goes
                    // back to the queue.
                    rx.close();
                    if let Ok(pending) = rx.try_recv() {
                        shared.requeue(pending);
                    }
                    return Ok(false);
                }
            },
        };
        let Some(delivery) = shared.start(pending) else {
            // The caller gave up while the invoke waited: wait for the next one.
            continue;
        };
        let event = &delivery.event;
        let mut reply = Response::new(200)
            .header(
                "content-type",
                event.content_type.as_deref().unwrap_or("application/json"),
            )
            .header("Lambda-Runtime-Aws-Request-Id", delivery.request_id.as_str())
            .header("Lambda-Runtime-Deadline-Ms", delivery.deadline_ms.to_string())
            .header("Lambda-Runtime-Invoked-Function-Arn", shared.arn.as_str())
            .header("Lambda-Runtime-Trace-Id", delivery.trace_id.as_str())
            .header("Lambda-Runtime-Invocation-Id", delivery.invocation_id.as_str());
        if let Some(cc) = &event.client_context {
            reply = reply.header("Lambda-Runtime-Client-Context", cc.as_str());
        }
        if let Some(tenant) = &event.tenant_id {
            reply = reply.header("Lambda-Runtime-Aws-Tenant-Id", tenant.as_str());
        }
        let reply = reply.body(event.body.clone());
        if let Err(e) = conn.respond(&reply, keep).await {
            let error = ErrorBody::new(
                "Runtime.DeliveryFailed",
                format!("the runtime's /next connection failed while the event was sent to it: {e}"),
            );
            shared.fail(&delivery.request_id, &error);
            return Err(e);
        }
        tracing::debug!(requestId = %delivery.request_id, "event delivered to the runtime");
        return Ok(keep);
    }
}

/// The answer paths: `{id}/response` or `{id}/error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnswerKind {
    Response,
    Error,
}

/// `POST /2018-06-01/runtime/invocation/{id}/response` and `.../{id}/error`.
pub(crate) async fn answer(
    shared: &Arc<Shared>,
    conn: &mut Conn,
    head: &Head,
    body: &mut Body,
    request_id: &str,
    kind: AnswerKind,
) -> Result<bool, HttpError> {
    let keep = head.keep_alive();
    let streaming = match (kind, head.header(headers::RESPONSE_MODE)) {
        (AnswerKind::Response, Some(mode)) if mode.eq_ignore_ascii_case("streaming") => true,
        (AnswerKind::Response, Some(mode)) if !mode.eq_ignore_ascii_case("buffered") => {
            let kept = conn.drain(body, DRAIN_LIMIT).await;
            let reply = error_reply(
                400,
                "InvalidFunctionResponseMode",
                format!(
                    "{} {mode:?} is not a response mode: use \"streaming\"",
                    "Lambda-Runtime-Function-Response-Mode"
                ),
            );
            conn.respond(&reply, keep && kept).await?;
            return Ok(keep && kept);
        }
        _ => false,
    };
    let mut claimed = match shared.claim(request_id, head.header(headers::INVOCATION_ID)) {
        Claim::Claimed(claimed) => claimed,
        refused => {
            let reply = match refused {
                Claim::Expired => error_reply(
                    410,
                    "InvokeTimeout",
                    format!("invocation {request_id} already timed out: its caller got a timeout error"),
                ),
                Claim::WrongAttempt => error_reply(
                    400,
                    "InvalidRequestID",
                    format!("the Lambda-Runtime-Invocation-Id does not match invocation {request_id}"),
                ),
                _ => error_reply(
                    400,
                    "InvalidRequestID",
                    format!("invalid request id {request_id:?}: no such invocation is waiting for an answer (unknown, or already answered)"),
                ),
            };
            tracing::warn!(requestId = %request_id, status = reply.status, "refused an answer from the runtime");
            let kept = conn.drain(body, DRAIN_LIMIT).await;
            conn.respond(&reply, keep && kept).await?;
            return Ok(keep && kept);
        }
    };
    if streaming {
        return stream(conn, head, body, claimed).await;
    }
    let content_type = head.header("content-type").map(str::to_owned);
    match conn.read_to_end(body, MAX_RESPONSE_BYTES).await {
        Ok(bytes) => {
            claimed.send(match kind {
                AnswerKind::Response => Answer::Response {
                    content_type,
                    body: bytes,
                },
                AnswerKind::Error => Answer::Error {
                    error_type: head.header(headers::FUNCTION_ERROR_TYPE).map(str::to_owned),
                    body: bytes,
                },
            });
            drop(claimed);
            conn.respond(&accepted(), keep).await?;
            Ok(keep)
        }
        Err(BodyError::TooLarge) => {
            let limit = MAX_RESPONSE_BYTES;
            claimed.send(Answer::error(&ErrorBody::new(
                "Function.ResponseSizeTooLarge",
                format!("Response payload size exceeded maximum allowed payload size ({limit} bytes)."),
            )));
            drop(claimed);
            let kept = conn.drain(body, DRAIN_LIMIT).await;
            let reply = error_reply(
                413,
                "RequestEntityTooLarge",
                format!("Exceeded maximum allowed payload size ({limit} bytes)."),
            );
            conn.respond(&reply, keep && kept).await?;
            Ok(keep && kept)
        }
        Err(BodyError::Http(e)) => {
            claimed.send(Answer::error(&truncated(&e)));
            Err(e)
        }
    }
}

fn truncated(e: &HttpError) -> ErrorBody {
    ErrorBody::new(
        "Runtime.TruncatedResponse",
        format!("the runtime's answer broke off: {e}"),
    )
}

/// A streamed `/response`: each piece goes to the caller as it arrives; the trailers say
/// whether the function failed mid-stream.
async fn stream(conn: &mut Conn, head: &Head, body: &mut Body, mut claimed: Claimed) -> Result<bool, HttpError> {
    let keep = head.keep_alive();
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    claimed.send(Answer::Stream {
        content_type: head.header("content-type").map(str::to_owned),
        items: rx,
    });
    // Once the caller is gone (disconnected, timed out), the rest is read and dropped, so the
    // runtime still gets its 202.
    let mut caller = Some(tx);
    loop {
        // A streaming function may pause for as long as its deadline allows.
        let stall = until(claimed.deadline, READ_STALL);
        match conn.read_piece(body, STREAM_PIECE, stall).await {
            Ok(Some(piece)) => {
                if body.read > MAX_STREAM_BYTES {
                    let error = ErrorBody::new(
                        "Function.ResponseSizeTooLarge",
                        format!("the streamed response is over {MAX_STREAM_BYTES} bytes"),
                    );
                    relay(&mut caller, StreamItem::End(Some(stream_error(&error)))).await;
                    drop(claimed);
                    let reply = error_reply(413, "RequestEntityTooLarge", error.error_message);
                    conn.respond(&reply, false).await?;
                    return Ok(false);
                }
                relay(&mut caller, StreamItem::Data(piece)).await;
            }
            Ok(None) => break,
            Err(e) => {
                relay(&mut caller, StreamItem::End(Some(stream_error(&truncated(&e))))).await;
                return Err(e);
            }
        }
    }
    let error = body
        .trailer(headers::FUNCTION_ERROR_TYPE)
        .map(|error_type| StreamError {
            error_type: error_type.to_owned(),
            body_b64: body
                .trailer(headers::FUNCTION_ERROR_BODY)
                .unwrap_or_default()
                .to_owned(),
        });
    relay(&mut caller, StreamItem::End(error)).await;
    drop(claimed);
    conn.respond(&accepted(), keep).await?;
    Ok(keep)
}

/// Passes one item to the caller; forgets a caller that is gone.
async fn relay(caller: &mut Option<mpsc::Sender<StreamItem>>, item: StreamItem) {
    if let Some(tx) = caller {
        if tx.send(item).await.is_err() {
            *caller = None;
        }
    }
}

/// A stream error made here (not by the function), in trailer form.
fn stream_error(error: &ErrorBody) -> StreamError {
    use base64::Engine as _;
    StreamError {
        error_type: error.header_type().into_owned(),
        body_b64: base64::engine::general_purpose::STANDARD.encode(error.to_json()),
    }
}

/// `POST /2018-06-01/runtime/init/error`: remembered, logged, and every queued invoke fails
/// with it (nothing will run them).
pub(crate) async fn init_error(
    shared: &Arc<Shared>,
    conn: &mut Conn,
    head: &Head,
    body: &mut Body,
) -> Result<bool, HttpError> {
    let keep = head.keep_alive();
    let bytes = match conn.read_to_end(body, MAX_RESPONSE_BYTES).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => {
            let kept = conn.drain(body, DRAIN_LIMIT).await;
            let reply = error_reply(413, "RequestEntityTooLarge", "the init error body is too large");
            conn.respond(&reply, keep && kept).await?;
            return Ok(keep && kept);
        }
        Err(BodyError::Http(e)) => return Err(e),
    };
    let error = InitError::new(head.header(headers::FUNCTION_ERROR_TYPE), &bytes);
    if !shared.init_failed(error.clone()) {
        let reply = error_reply(
            403,
            "InvalidStateTransition",
            "init already failed or already completed: /init/error is accepted once, before the first /next",
        );
        conn.respond(&reply, keep).await?;
        return Ok(keep);
    }
    tracing::error!(error_type = %error.error_type, body = %error.body, "the function failed to initialise");
    conn.respond(&accepted(), keep).await?;
    Ok(keep)
}
