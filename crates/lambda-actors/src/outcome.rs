//! How an invocation ends, in one place: every ending — the handler's result or error, a
//! panic, a reclaim past the deadline, no handler to run it, a rejected answer, a stream left
//! open, the end of the shutdown window, a body that never arrived whole, a poller that died
//! — becomes exactly one answer here (`/response`, `/error`, or a stream's end or error
//! trailers) and one log line. [`Answer`] refuses a second one.

use crate::answer::{Answer, AnswerError, AnswerState};
use crate::handler::Reply;
use crate::{Context, Error};
use lambda_actors_api::{ApiError, InvocationMeta, ReplyStatus};
use std::time::Duration;

/// The `errorType` a handler gets when Lambda refused its response (not the handler's fault).
pub(crate) const RESPONSE_REJECTED: &str = "Runtime.ResponseRejected";

/// The outcome, and how long the user's code ran.
#[derive(Debug)]
pub(crate) struct Invoked {
    pub(crate) outcome: Outcome,
    pub(crate) handler_time: Duration,
}

/// How an invocation ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The handler returned.
    Done(Result<Reply, Error>),
    /// The handler panicked; the handler was rebuilt.
    Panicked(String),
    /// The handler was still running at its deadline + grace and was dropped; rebuilt.
    TimedOut,
    /// No handler could run it (the factory keeps failing, or the worker is gone).
    Unavailable(Error),
    /// Still running when the shutdown window ended.
    ShutDown,
}

impl Outcome {
    /// (errors, panics, timeouts) for the metrics window.
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        match self {
            Self::Done(Ok(_)) => (0, 0, 0),
            Self::Done(Err(_)) | Self::Unavailable(_) | Self::ShutDown => (1, 0, 0),
            Self::Panicked(_) => (1, 1, 0),
            Self::TimedOut => (1, 0, 1),
        }
    }
}

/// What a caught panic is reported as, on `/error` or in stream trailers.
fn panic_error(message: String) -> Error {
    Error::new("Runtime.HandlerPanic", message)
}

/// What a reclaimed handler is reported as, on `/error` or in stream trailers.
fn timeout_error() -> Error {
    Error::new("Runtime.Timeout", "the handler did not finish before its deadline")
}

/// What an invocation still running (or still arriving) at the end of the shutdown window is
/// reported as.
fn shutdown_error() -> Error {
    Error::new(
        "Runtime.Shutdown",
        "the execution environment shut down before the handler finished \
         (LAMBDA_ACTORS_SHUTDOWN_GRACE_MS bounds the wait)",
    )
}

/// Gives the invocation its one answer, according to how the handler ended.
pub(crate) async fn finish(answer: &Answer, outcome: Outcome) {
    if answer.state() == AnswerState::Streaming {
        return finish_stream(answer, outcome).await;
    }
    let pending = answer.state() == AnswerState::Pending;
    let result = match outcome {
        Outcome::Done(Ok(Reply::Buffered { body, content_type })) => answer.respond(body, content_type).await,
        Outcome::Done(Ok(Reply::Answered)) if pending => {
            let err = Error::new("Runtime.NoResponse", "the handler returned without sending a response");
            answer.error(&err).await
        }
        Outcome::Done(Ok(Reply::Answered)) => Ok(()),
        Outcome::Done(Err(err)) if pending => {
            tracing::warn!(errorType = err.error_type(), "handler failed: {}", err.message());
            answer.error(&err).await
        }
        Outcome::Done(Err(err)) if err.error_type() == RESPONSE_REJECTED => {
            tracing::warn!(errorType = err.error_type(), "{}", err.message());
            Ok(())
        }
        Outcome::Done(Err(err)) => {
            tracing::error!(
                errorType = err.error_type(),
                "handler failed after its response was sent: {}",
                err.message()
            );
            Ok(())
        }
        Outcome::Panicked(message) => {
            tracing::error!("handler panicked: {message}; the handler was rebuilt");
            if pending {
                answer.error(&panic_error(message)).await
            } else {
                Ok(())
            }
        }
        Outcome::TimedOut => {
            tracing::error!("handler still running past its deadline: dropped it and reclaimed the slot");
            if pending {
                answer.error(&timeout_error()).await
            } else {
                Ok(())
            }
        }
        Outcome::Unavailable(err) => {
            tracing::error!("no handler to run the invocation: {err}");
            answer.error(&err).await
        }
        Outcome::ShutDown => {
            tracing::error!("handler still running when the shutdown window ended: answered Runtime.Shutdown");
            if pending {
                answer.error(&shutdown_error()).await
            } else {
                Ok(())
            }
        }
    };
    report(answer, result);
}

/// Ends a stream the handler left open: normally if it returned `Ok`, else with error trailers.
async fn finish_stream(answer: &Answer, outcome: Outcome) {
    let Some(stream) = answer.stream() else {
        return;
    };
    let result = match outcome {
        Outcome::Done(Ok(_)) => stream.finish().await,
        Outcome::Done(Err(err)) => {
            tracing::warn!(
                errorType = err.error_type(),
                "handler failed mid-stream: {}",
                err.message()
            );
            stream.fail(&err).await
        }
        Outcome::Panicked(message) => {
            tracing::error!("handler panicked mid-stream: {message}; the handler was rebuilt");
            stream.fail(&panic_error(message)).await
        }
        Outcome::TimedOut => {
            tracing::error!("handler still streaming past its deadline: dropped it and reclaimed the slot");
            stream.fail(&timeout_error()).await
        }
        Outcome::Unavailable(err) => stream.fail(&err).await,
        Outcome::ShutDown => {
            tracing::error!("handler still streaming when the shutdown window ended: ended it with error trailers");
            stream.fail(&shutdown_error()).await
        }
    };
    answer.stream_ended();
    if let Err(e) = result {
        tracing::warn!(
            requestId = answer.request_id(),
            "could not end the response stream: {e}"
        );
    }
}

/// An event whose headers named it but whose body could not be read whole.
pub(crate) async fn unreadable(meta: &InvocationMeta, err: &ApiError) {
    tracing::error!(requestId = %meta.request_id, "cannot read the event: {err}");
    let answer = Answer::new(Context::new(meta.clone(), Default::default()));
    let error = Error::new("Runtime.InvalidEvent", err.to_string());
    report(&answer, answer.error(&error).await);
}

/// An event whose body was still arriving when the shutdown window ended.
pub(crate) async fn cut_while_arriving(meta: &InvocationMeta) {
    tracing::error!(
        requestId = %meta.request_id,
        "the event's body was still arriving when the shutdown window ended: answered Runtime.Shutdown"
    );
    let answer = Answer::new(Context::new(meta.clone(), Default::default()));
    report(&answer, answer.error(&shutdown_error()).await);
}

/// An invocation whose poller stopped (a runtime bug) before it was answered.
pub(crate) async fn worker_crashed(answer: &Answer) {
    let err = Error::new(
        "Runtime.WorkerCrashed",
        "the runtime worker serving this invocation stopped",
    );
    report(answer, answer.error(&err).await);
}

/// What Lambda refused of the answer to a second try, for [`crate::ResponseWriter::send`].
pub(crate) fn rejected_by_send(e: AnswerError) -> Error {
    match e {
        AnswerError::AlreadyAnswered => Error::new(
            "Runtime.AlreadyAnswered",
            "the response was already sent: an invocation is answered once",
        ),
        AnswerError::Api(e) => Error::new(RESPONSE_REJECTED, format!("Lambda did not take the response: {e}")),
    }
}

/// Logs what Lambda said to an answer; none of these stops the slot.
fn report(answer: &Answer, result: Result<(), AnswerError>) {
    let err = match result {
        Ok(()) => return,
        Err(AnswerError::AlreadyAnswered) => {
            tracing::error!(
                requestId = answer.request_id(),
                "refused a second answer to the same invocation"
            );
            return;
        }
        Err(AnswerError::Api(err)) => err,
    };
    let request_id = answer.request_id();
    match err.status() {
        Some(ReplyStatus::Gone) => tracing::info!(requestId = request_id, "answer not taken: {err}"),
        Some(ReplyStatus::TooLarge) => tracing::error!(requestId = request_id, "answer rejected: {err}"),
        _ => tracing::warn!(requestId = request_id, "answer not taken: {err}"),
    }
}
