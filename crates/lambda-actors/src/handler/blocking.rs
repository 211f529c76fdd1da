//! Blocking code: [`BlockingHandler`], a handler whose `handle` is a plain function run on a
//! thread of its own, and [`spawn_blocking`] for a blocking part of an async handler.
//!
//! Both run the code on tokio's blocking thread pool, not on the handler arbiter, so the
//! other invocations on that arbiter keep running; the code runs inside the invocation's span,
//! so its log lines carry the `requestId`. At the deadline (Managed Instances mode, reclaim
//! on) the invocation is answered `Runtime.Timeout` and its slot freed although the blocking
//! thread is still busy: that thread runs the call to its end, and what it returns — the
//! handler's state included — is dropped then; the slot gets a fresh handler from the
//! factory.

use crate::answer::Answer;
use crate::handler::{decode, encode, Invocable, Reply};
use crate::{Context, Error};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A handler of blocking code: synchronous `handle`, run on a thread of its own for each
/// invocation (one invocation per handler at a time, as for [`Handler`](crate::Handler)).
///
/// ```no_run
/// use lambda_actors::{BlockingHandler, Context, Error};
///
/// struct Thumbnailer;
///
/// impl BlockingHandler for Thumbnailer {
///     type Event = Vec<u8>;
///     type Output = usize;
///     type Error = Error;
///     fn handle(&mut self, image: Vec<u8>, _ctx: Context) -> Result<usize, Error> {
///         // CPU-heavy or blocking work: the other slots' invocations are not delayed.
///         Ok(image.len())
///     }
/// }
///
/// fn main() -> Result<(), lambda_actors::RuntimeError> {
///     lambda_actors::Runtime::new().run_blocking(|_| Ok(Thumbnailer))
/// }
/// ```
pub trait BlockingHandler: Send + 'static {
    /// The event, decoded from JSON (a decode failure is reported as `Runtime.UnmarshalError`).
    type Event: DeserializeOwned;
    /// The output, encoded as JSON (an encode failure is reported as `Runtime.MarshalError`).
    type Output: Serialize;
    /// The error (see [`IntoError`](crate::IntoError)).
    type Error: crate::IntoError;
    /// Handles one invocation, on a blocking thread.
    fn handle(&mut self, event: Self::Event, ctx: Context) -> Result<Self::Output, Self::Error>;

    /// Runs once when the runtime shuts down, after this handler's last invocation, on a
    /// blocking thread. Bounded by the shutdown window (`LAMBDA_ACTORS_SHUTDOWN_GRACE_MS`): a
    /// hook that overruns it is abandoned (its thread runs on until the process exits) and
    /// logged, one that panics is logged. Default: nothing.
    fn shutdown(&mut self) {}
}

/// Runs `f` on a thread of tokio's blocking pool, inside the current invocation's span, and
/// waits for it without holding the handler's thread. A panic in `f` is re-raised here, so it
/// is reported as the handler's panic (`Runtime.HandlerPanic`).
///
/// ```no_run
/// # async fn handler(data: Vec<u8>) -> Result<usize, lambda_actors::Error> {
/// let checksum = lambda_actors::spawn_blocking(move || data.iter().map(|&b| b as usize).sum()).await;
/// # Ok(checksum)
/// # }
/// ```
pub async fn spawn_blocking<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = tracing::Span::current();
    match tokio::task::spawn_blocking(move || span.in_scope(f)).await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: only when the runtime shuts down, and then nobody waits for this.
        Err(e) => std::panic::panic_any(format!("the blocking task did not run: {e}")),
    }
}

/// Adapts a [`BlockingHandler`] into a [`Invocable`]: the handler is moved to the blocking
/// thread for the call and back after it.
pub(crate) struct Blocking<H>(pub(crate) Option<H>);

impl<H: BlockingHandler> Invocable for Blocking<H> {
    fn hook() -> &'static str {
        std::any::type_name::<H>()
    }

    async fn call(&mut self, event: Bytes, ctx: Context, _answer: Answer) -> Result<Reply, Error> {
        let mut handler = self
            .0
            .take()
            .ok_or_else(|| Error::new("Runtime.HandlerUnavailable", "the blocking handler was not returned"))?;
        let (handler, result) = spawn_blocking(move || {
            let result = decode::<H::Event>(&event)
                .and_then(|event| handler.handle(event, ctx).map_err(crate::IntoError::into_error))
                .and_then(|output| encode(&output));
            (handler, result)
        })
        .await;
        self.0 = Some(handler);
        Ok(Reply::Buffered {
            body: result?,
            content_type: "application/json",
        })
    }

    async fn shutdown(&mut self) {
        if let Some(mut handler) = self.0.take() {
            self.0 = Some(
                spawn_blocking(move || {
                    handler.shutdown();
                    handler
                })
                .await,
            );
        }
    }
}
