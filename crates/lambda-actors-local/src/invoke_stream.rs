//! `InvokeWithResponseStream` (`POST /2021-11-15/functions/{name}/response-streaming-invocations`):
//! the function's answer as AWS event-stream messages, as Lambda serves it to boto3's
//! `invoke_with_response_stream` and the AWS CLI's `invoke-with-response-stream`.
//!
//! The reply is 200 with `Content-Type: application/vnd.amazon.eventstream`, the request id
//! and `X-Amz-Executed-Version`, and a chunked body of messages: one `PayloadChunk` per piece
//! of the function's stream, written the moment it arrives, then one `InvokeComplete`. A
//! function error, a stream that fails mid-way (the runtime's error trailers, a broken
//! stream, the deadline) or a timeout end in an `InvokeComplete` whose `ErrorCode` is the
//! error type and `ErrorDetails` the error message; the payload chunks hold only the bytes
//! sent before the failure. A buffered answer is one `PayloadChunk`. An HTTP-integration
//! prelude is read and checked as on the Function URL path and not passed on: this API has
//! no status or headers of the function's to carry, only its body.

use crate::dispatch::{Answer, Failure, Outcome, Shared, StreamError, StreamItem, Ticket};
use crate::eventstream::{invoke_complete, payload_chunk, Completion};
use crate::http::{Conn, Head, HttpError, Response};
use crate::invoke_api::{
    broken, failure_error, local_stream_error, next_item, stream_error_body, timed_out, with_ids, write_piece, Next,
};
use crate::prelude::PreludeReader;
use bytes::Bytes;
use lambda_actors_api::{headers, ErrorBody};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The reply's content type.
const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// Writes the whole reply for an invoke's outcome.
pub(crate) async fn reply(
    shared: &Shared,
    conn: &mut Conn,
    head: &Head,
    outcome: Result<Outcome, Failure>,
    ticket: &Ticket,
) -> Result<bool, HttpError> {
    let keep = head.keep_alive();
    // HTTP/1.0 callers cannot take chunks: the body ends when the connection does.
    let chunked = head.minor_version >= 1;
    let (request_id, answer) = match outcome {
        Ok(Outcome {
            request_id,
            deadline,
            answer,
        }) => (request_id, Ok((answer, deadline))),
        Err(failure) => {
            let (request_id, error) = failure_error(shared, failure);
            (request_id, Err(error))
        }
    };
    let mut head_text = with_ids(
        Response::new(200).header("content-type", EVENT_STREAM),
        request_id.as_deref(),
    )
    .head_text(keep && chunked);
    if chunked {
        head_text.push_str("transfer-encoding: chunked\r\n");
    }
    head_text.push_str("\r\n");
    conn.write(head_text.as_bytes()).await?;
    let mut completion = match answer {
        Ok((Answer::Response { body, .. }, _)) => {
            if !body.is_empty() {
                write_piece(conn, chunked, &payload_chunk(&body)).await?;
            }
            Completion::default()
        }
        Ok((Answer::Error { error_type, body }, _)) => failed(error_type.as_deref(), &body),
        Ok((Answer::Stream { content_type, items }, deadline)) => {
            let request_id = request_id.as_deref().unwrap_or_default();
            let window = (deadline, shared.cfg.timeout);
            relay(conn, chunked, request_id, window, content_type, items).await?
        }
        Err(error) => failed(Some(&error.error_type), &error.to_json()),
    };
    completion.log_result = ticket.log_result();
    write_piece(conn, chunked, &invoke_complete(&completion)).await?;
    if !chunked {
        return Ok(false);
    }
    conn.end_chunks(&[]).await?;
    Ok(keep)
}

/// Relays a streamed answer as `PayloadChunk`s; returns how it ended.
async fn relay(
    conn: &mut Conn,
    chunked: bool,
    request_id: &str,
    (deadline, timeout): (Instant, Duration),
    content_type: Option<String>,
    mut items: mpsc::Receiver<StreamItem>,
) -> Result<Completion, HttpError> {
    let integration = content_type
        .as_deref()
        .is_some_and(|ct| ct.eq_ignore_ascii_case(headers::HTTP_INTEGRATION_CONTENT_TYPE));
    let mut prelude = integration.then(PreludeReader::default);
    let failure = loop {
        let data = match next_item(&mut items, deadline).await {
            Next::Item(StreamItem::Data(data)) => data,
            Next::Item(StreamItem::End(None)) if prelude.is_some() => {
                break invalid_prelude("the stream ended before its HTTP-integration prelude did (no 8 NUL bytes)")
            }
            Next::Item(StreamItem::End(None)) => return Ok(Completion::default()),
            Next::Item(StreamItem::End(Some(error))) => break error,
            Next::Broken => break broken(),
            Next::TimedOut => break timed_out(timeout),
        };
        let data: Bytes = match prelude.as_mut().map(|reader| reader.push(&data)) {
            None => data,
            Some(Ok(None)) => continue,
            Some(Ok(Some((_, rest)))) => {
                prelude = None;
                rest
            }
            Some(Err(why)) => break invalid_prelude(&why),
        };
        if !data.is_empty() {
            write_piece(conn, chunked, &payload_chunk(&data)).await?;
        }
    };
    let body = stream_error_body(&failure);
    tracing::warn!(
        requestId = %request_id,
        errorType = %failure.error_type,
        error = %String::from_utf8_lossy(&body),
        "streamed response failed; the caller gets it in InvokeComplete"
    );
    Ok(failed(Some(&failure.error_type), &body))
}

fn invalid_prelude(why: &str) -> StreamError {
    local_stream_error(&ErrorBody::new("Runtime.InvalidPrelude", why))
}

/// An `InvokeComplete` for a failure: `ErrorCode` from the error JSON's `errorType` (else the
/// type the runtime named), `ErrorDetails` from its `errorMessage` (else the body as text).
fn failed(error_type: Option<&str>, body: &[u8]) -> Completion {
    let json = serde_json::from_slice::<serde_json::Value>(body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|j| j.get(name))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    Completion {
        error_code: Some(
            field("errorType")
                .or_else(|| error_type.map(str::to_owned))
                .unwrap_or_else(|| "Unhandled".to_owned()),
        ),
        error_details: Some(field("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())),
        log_result: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_name_their_type_and_message() {
        let c = failed(
            Some("Header.Type"),
            br#"{"errorType":"Body.Type","errorMessage":"boom"}"#,
        );
        assert_eq!(c.error_code.as_deref(), Some("Body.Type"));
        assert_eq!(c.error_details.as_deref(), Some("boom"));
        let c = failed(Some("Header.Type"), b"not json");
        assert_eq!(c.error_code.as_deref(), Some("Header.Type"));
        assert_eq!(c.error_details.as_deref(), Some("not json"));
        assert_eq!(failed(None, b"").error_code.as_deref(), Some("Unhandled"));
    }
}
