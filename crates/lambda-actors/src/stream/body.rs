//! [`StreamResponse`]: a streamed answer as a value, what a streaming closure returns
//! ([`Runtime::run_stream_fn`](crate::Runtime::run_stream_fn)). Returning it is the one answer:
//! the types leave no way to answer twice or not at all.

use crate::handler::response::ResponseWriter;
use crate::stream::HttpPrelude;
use crate::{Error, IntoError};
use bytes::Bytes;
use futures_core::Stream;
use std::marker::PhantomData;
use std::pin::Pin;
use tokio::sync::mpsc;

type Body = Pin<Box<dyn Stream<Item = Result<Bytes, Error>>>>;

/// A streamed response: its body (from any `Stream` of byte chunks, or from a channel), and for
/// Function URLs and API Gateway streaming an HTTP status and headers that go first.
///
/// ```no_run
/// use lambda_actors::{Context, Error, Runtime, StreamResponse};
///
/// fn main() -> Result<(), lambda_actors::RuntimeError> {
///     Runtime::new().run_stream_fn(|count: u32, _ctx: Context| async move {
///         let (body, response) = StreamResponse::channel(4);
///         lambda_actors::spawn(async move {
///             for i in 0..count {
///                 // The caller sees each line as it is sent.
///                 if body.send(format!("line {i}\n")).await.is_err() {
///                     return; // the stream ended early (the connection broke)
///                 }
///             }
///         });
///         Ok::<_, Error>(response)
///     })
/// }
/// ```
pub struct StreamResponse {
    prelude: Option<HttpPrelude>,
    body: Body,
}

impl std::fmt::Debug for StreamResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResponse")
            .field("prelude", &self.prelude)
            .finish_non_exhaustive()
    }
}

impl StreamResponse {
    /// A response whose body is `stream`'s chunks, each sent as it comes. An `Err` item ends
    /// the stream with error trailers (its `errorType` and message, as for a handler error).
    pub fn from_stream<S, B, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<B, E>> + 'static,
        B: Into<Bytes> + 'static,
        E: IntoError + 'static,
    {
        Self {
            prelude: None,
            body: Box::pin(MapChunks(Box::pin(stream), PhantomData)),
        }
    }

    /// A response whose body is what is sent on the returned [`BodySender`] (at most `capacity`
    /// chunks wait; a full channel slows the sender). The body ends when the sender is dropped;
    /// [`BodySender::fail`] ends it with error trailers.
    pub fn channel(capacity: usize) -> (BodySender, Self) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let response = Self {
            prelude: None,
            body: Box::pin(Receiver(rx)),
        };
        (BodySender(tx), response)
    }

    /// Sends this HTTP status and headers first (Function URLs, API Gateway streaming).
    pub fn http(mut self, prelude: HttpPrelude) -> Self {
        self.prelude = Some(prelude);
        self
    }

    /// Sends the whole response on `out`.
    pub(crate) async fn send(self, out: ResponseWriter) -> Result<(), Error> {
        let Self { prelude, mut body } = self;
        let mut stream = out.stream();
        if let Some(prelude) = prelude {
            stream.http_response(prelude).await?;
        }
        while let Some(chunk) = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await {
            stream.write(chunk?).await?;
        }
        stream.finish().await
    }
}

/// The sending half of [`StreamResponse::channel`].
#[derive(Debug, Clone)]
pub struct BodySender(mpsc::Sender<Result<Bytes, Error>>);

impl BodySender {
    /// Sends one chunk; waits while the channel is full. `Err` when the stream has ended (its
    /// connection broke, or the invocation was reclaimed): stop producing.
    pub async fn send(&self, chunk: impl Into<Bytes>) -> Result<(), Error> {
        self.0
            .send(Ok(chunk.into()))
            .await
            .map_err(|_| Error::new("Runtime.StreamClosed", "the response stream has ended"))
    }

    /// Ends the stream with error trailers carrying `error`.
    pub async fn fail(self, error: impl IntoError) {
        let _ = self.0.send(Err(error.into_error())).await;
    }
}

struct Receiver(mpsc::Receiver<Result<Bytes, Error>>);

impl Stream for Receiver {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

struct MapChunks<S, B, E>(Pin<Box<S>>, PhantomData<fn() -> (B, E)>);

impl<S, B, E> Stream for MapChunks<S, B, E>
where
    S: Stream<Item = Result<B, E>>,
    B: Into<Bytes>,
    E: IntoError,
{
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        self.0
            .as_mut()
            .poll_next(cx)
            .map(|item| item.map(|r| r.map(Into::into).map_err(IntoError::into_error)))
    }
}
