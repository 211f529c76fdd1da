//! Handlers that answer by themselves: stream a response, or send the response and keep
//! working afterwards (background work).

use crate::answer::Answer;
use crate::handler::{decode, encode, Invocable, Reply};
use crate::stream::ResponseStream;
use crate::{Context, Error};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;

/// A handler that answers through a [`ResponseWriter`]: it can stream the response
/// ([`ResponseWriter::stream`]) or send a buffered response and keep working after it
/// ([`ResponseWriter::send`]) — the slot asks for its next event only when `handle` returns.
///
/// An error returned after the response was sent is logged with the request id, never posted
/// and never fatal. Returning without answering is reported as `Runtime.NoResponse`.
///
/// ```
/// use lambda_actors::{Context, Error, ResponseHandler, ResponseWriter};
///
/// struct Ingest;
///
/// impl ResponseHandler for Ingest {
///     type Event = serde_json::Value;
///     type Error = Error;
///     async fn handle(&mut self, event: serde_json::Value, _ctx: Context, out: ResponseWriter) -> Result<(), Error> {
///         out.send(&serde_json::json!({"accepted": true})).await?; // the caller has its answer now
///         let _ = event; // ...work after the response: index, notify, clean up...
///         Ok(())
///     }
/// }
/// ```
pub trait ResponseHandler: 'static {
    /// The event, decoded from JSON (`Runtime.UnmarshalError` if it does not decode).
    type Event: DeserializeOwned;
    /// The error (see [`IntoError`](crate::IntoError)): reported on `/error` before the
    /// response, in the stream's trailers during it, logged after it.
    type Error: crate::IntoError;
    /// Handles one invocation; answer through `response`.
    fn handle(
        &mut self,
        event: Self::Event,
        ctx: Context,
        response: ResponseWriter,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// Runs once when the runtime shuts down (SIGTERM, or a [`RuntimeHandle`](crate::RuntimeHandle)),
    /// after this handler's last invocation, on its slot's thread: close connections, flush
    /// what it buffered. Bounded by the shutdown window (`LAMBDA_ACTORS_SHUTDOWN_GRACE_MS`); a
    /// hook that overruns it is abandoned and logged, one that panics is logged. Default: nothing.
    fn shutdown(&mut self) -> impl Future<Output = ()> {
        std::future::ready(())
    }
}

/// The answer side of one invocation, for a [`ResponseHandler`].
pub struct ResponseWriter {
    answer: Answer,
}

impl std::fmt::Debug for ResponseWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseWriter")
            .field("request_id", &self.answer.request_id())
            .finish()
    }
}

impl ResponseWriter {
    /// Sends `output` as the JSON response now and waits for Lambda to take it. The handler
    /// may go on working afterwards. A second answer is an error.
    pub async fn send<O: Serialize>(&self, output: &O) -> Result<(), Error> {
        self.send_bytes(encode(output)?, "application/json").await
    }

    /// Sends a raw response body now and waits for Lambda to take it.
    pub async fn send_bytes(&self, body: impl Into<Bytes>, content_type: &str) -> Result<(), Error> {
        self.answer
            .respond(body.into(), content_type)
            .await
            .map_err(crate::outcome::rejected_by_send)
    }

    /// Starts a streamed response. Nothing is sent until its first write.
    pub fn stream(&self) -> ResponseStream {
        ResponseStream::new(self.answer.clone())
    }
}

/// Adapts a [`ResponseHandler`] into a service.
pub(crate) struct Responding<H>(pub(crate) H);

impl<H: ResponseHandler> Invocable for Responding<H> {
    fn hook() -> &'static str {
        std::any::type_name::<H>()
    }

    async fn call(&mut self, event: Bytes, ctx: Context, answer: Answer) -> Result<Reply, Error> {
        let event = decode::<H::Event>(&event)?;
        self.0
            .handle(event, ctx, ResponseWriter { answer })
            .await
            .map_err(crate::IntoError::into_error)?;
        Ok(Reply::Answered)
    }

    fn shutdown(&mut self) -> impl Future<Output = ()> {
        self.0.shutdown()
    }
}
