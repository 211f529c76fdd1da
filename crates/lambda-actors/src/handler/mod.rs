//! The handler traits users implement, and the adapters that turn each into the one shape a
//! worker runs ([`Invocable`]): typed JSON and raw bytes here; closures, handlers that answer
//! by themselves (streams, work after the response), blocking handlers and tower services in
//! the files beside this one.

pub(crate) mod blocking;
pub(crate) mod closure;
pub(crate) mod response;
#[cfg(feature = "tower")]
pub mod tower;

use crate::answer::Answer;
use crate::{Context, Error, IntoError};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;

/// A typed Lambda handler: JSON event in, JSON output out.
///
/// Each concurrency slot owns its own handler, created by the factory you pass to
/// [`run`](crate::run) or [`Runtime::run`](crate::Runtime::run), so `handle` takes `&mut self`
/// and the handler needs neither `Sync` nor `Clone` — keep a cache, a counter or a
/// connection in it. One invocation runs per handler at a time.
///
/// ```
/// use lambda_actors::{Context, Error, Handler};
///
/// #[derive(serde::Deserialize)]
/// struct Request { name: String }
/// #[derive(serde::Serialize)]
/// struct Response { greetings: String, served_by_this_slot: u64 }
///
/// #[derive(Default)]
/// struct Greeter { served: u64 }
///
/// impl Handler for Greeter {
///     type Event = Request;
///     type Output = Response;
///     type Error = Error;
///     async fn handle(&mut self, event: Request, _ctx: Context) -> Result<Response, Error> {
///         self.served += 1;
///         Ok(Response { greetings: format!("Hello {}!", event.name), served_by_this_slot: self.served })
///     }
/// }
/// ```
pub trait Handler: 'static {
    /// The event, decoded from JSON (a decode failure is reported as `Runtime.UnmarshalError`).
    type Event: DeserializeOwned;
    /// The output, encoded as JSON (an encode failure is reported as `Runtime.MarshalError`).
    type Output: Serialize;
    /// The error: [`Error`] to choose the `errorType`, or any error type you use (see
    /// [`IntoError`]: a `thiserror` enum, `Box<dyn Error + Send + Sync>`, `anyhow::Error`...).
    type Error: IntoError;
    /// Handles one invocation.
    fn handle(&mut self, event: Self::Event, ctx: Context) -> impl Future<Output = Result<Self::Output, Self::Error>>;

    /// Runs once when the runtime shuts down (SIGTERM, or a [`RuntimeHandle`](crate::RuntimeHandle)),
    /// after this handler's last invocation, on its slot's thread: close connections, flush
    /// what it buffered. Bounded by the shutdown window (`LAMBDA_ACTORS_SHUTDOWN_GRACE_MS`); a
    /// hook that overruns it is abandoned and logged, one that panics is logged. Default: nothing.
    fn shutdown(&mut self) -> impl Future<Output = ()> {
        std::future::ready(())
    }
}

/// A handler of raw bytes: no JSON decoding or encoding.
pub trait RawHandler: 'static {
    /// The `Content-Type` of the output.
    const CONTENT_TYPE: &'static str = "application/octet-stream";
    /// The error (see [`IntoError`]).
    type Error: IntoError;
    /// Handles one invocation.
    fn handle(&mut self, event: Bytes, ctx: Context) -> impl Future<Output = Result<Bytes, Self::Error>>;

    /// Runs once when the runtime shuts down (SIGTERM, or a [`RuntimeHandle`](crate::RuntimeHandle)),
    /// after this handler's last invocation, on its slot's thread: close connections, flush
    /// what it buffered. Bounded by the shutdown window (`LAMBDA_ACTORS_SHUTDOWN_GRACE_MS`); a
    /// hook that overruns it is abandoned and logged, one that panics is logged. Default: nothing.
    fn shutdown(&mut self) -> impl Future<Output = ()> {
        std::future::ready(())
    }
}

/// What a service produced: a buffered body for the poller to post, or "already answered"
/// (background and streaming handlers answer by themselves).
#[derive(Debug)]
pub(crate) enum Reply {
    Buffered { body: Bytes, content_type: &'static str },
    Answered,
}

/// The one shape the handler actor runs: bytes in, a reply out, with the invocation's
/// [`Answer`] for handlers that answer by themselves.
pub(crate) trait Invocable: 'static {
    fn call(&mut self, event: Bytes, ctx: Context, answer: Answer) -> impl Future<Output = Result<Reply, Error>>;

    /// The user handler's shutdown hook.
    fn shutdown(&mut self) -> impl Future<Output = ()>;

    /// The user handler's type, to name its hook in logs.
    fn hook() -> &'static str {
        std::any::type_name::<Self>()
    }
}

/// Adapts a typed [`Handler`] into a [`Invocable`].
pub(crate) struct Json<H>(pub(crate) H);

impl<H: Handler> Invocable for Json<H> {
    fn hook() -> &'static str {
        std::any::type_name::<H>()
    }

    async fn call(&mut self, event: Bytes, ctx: Context, _answer: Answer) -> Result<Reply, Error> {
        let event = decode::<H::Event>(&event)?;
        let output = self.0.handle(event, ctx).await.map_err(IntoError::into_error)?;
        Ok(Reply::Buffered {
            body: encode(&output)?,
            content_type: "application/json",
        })
    }

    fn shutdown(&mut self) -> impl Future<Output = ()> {
        self.0.shutdown()
    }
}

pub(crate) fn decode<E: DeserializeOwned>(event: &[u8]) -> Result<E, Error> {
    serde_json::from_slice(event).map_err(|e| {
        Error::new(
            "Runtime.UnmarshalError",
            format!("the event is not a valid {}: {e}", std::any::type_name::<E>()),
        )
    })
}

pub(crate) fn encode<O: Serialize>(output: &O) -> Result<Bytes, Error> {
    serde_json::to_vec(output).map(Bytes::from).map_err(|e| {
        Error::new(
            "Runtime.MarshalError",
            format!(
                "the output {} could not be encoded as JSON: {e}",
                std::any::type_name::<O>()
            ),
        )
    })
}

/// Adapts a [`RawHandler`] into a [`Invocable`].
pub(crate) struct Raw<H>(pub(crate) H);

impl<H: RawHandler> Invocable for Raw<H> {
    fn hook() -> &'static str {
        std::any::type_name::<H>()
    }

    async fn call(&mut self, event: Bytes, ctx: Context, _answer: Answer) -> Result<Reply, Error> {
        let body = self.0.handle(event, ctx).await.map_err(IntoError::into_error)?;
        Ok(Reply::Buffered {
            body,
            content_type: H::CONTENT_TYPE,
        })
    }

    fn shutdown(&mut self) -> impl Future<Output = ()> {
        self.0.shutdown()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct BadOutput;

    impl Handler for BadOutput {
        type Event = u8;
        // JSON object keys must be strings: this output cannot be encoded.
        type Output = HashMap<Vec<u8>, u8>;
        type Error = Error;
        async fn handle(&mut self, event: u8, _ctx: Context) -> Result<Self::Output, Error> {
            Ok(HashMap::from([(vec![event], event)]))
        }
    }

    #[actix_rt::test]
    async fn undecodable_events_and_unencodable_outputs_get_runtime_error_types() {
        let mut service = Json(BadOutput);
        let call = |event: &'static [u8]| {
            let ctx = Context::for_test("id");
            (Bytes::from_static(event), ctx.clone(), Answer::new(ctx))
        };
        let (event, ctx, answer) = call(b"7");
        let err = service.call(event, ctx, answer).await.unwrap_err();
        assert_eq!(err.error_type(), "Runtime.MarshalError", "{err}");
        let (event, ctx, answer) = call(b"\"seven\"");
        let err = service.call(event, ctx, answer).await.unwrap_err();
        assert_eq!(err.error_type(), "Runtime.UnmarshalError", "{err}");
    }
}
