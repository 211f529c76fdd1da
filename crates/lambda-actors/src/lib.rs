#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod answer;
pub mod config;
mod context;
mod error;
mod handler;
mod internal_extension;
mod logging;
mod metrics;
mod outcome;
mod panic;
mod poller;
mod pool;
mod reports;
mod runtime;
mod shared;
pub mod stream;
mod supervisor;
#[cfg(feature = "local-server")]
pub mod testing;

pub use bytes::Bytes;
pub use config::{Config, ConfigError, HandlerThreadPolicy, Mode, Scheduling, ThreadPinning};
pub use context::{CognitoIdentity, Context};
pub use error::{Error, ErrorType, IntoError, RuntimeError};
pub use handler::blocking::{spawn_blocking, BlockingHandler};
pub use handler::closure::FnHandler;
pub use handler::response::{ResponseHandler, ResponseWriter};
#[cfg(feature = "tower")]
pub use handler::tower;
pub use handler::{Handler, RawHandler};
pub use runtime::{runtime_api, Runtime, RuntimeHandle, Started};
pub use stream::body::{BodySender, StreamResponse};
pub use stream::ResponseStream;

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;

// The repository README's code blocks compile as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct RepositoryReadme;

// So do the shutdown examples of docs/reliability.md.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/reliability.md")]
struct ReliabilityDoc;

// And the streaming ones of docs/streaming.md.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/streaming.md")]
struct StreamingDoc;

// The mistake docs/handler-compile-errors.md quotes rustc on still fails to compile, with the
// error code quoted.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/handler-compile-errors.md")]
struct HandlerCompileErrorsDoc;

// And the unit-test and TestFunction examples of docs/testing.md.
#[cfg(all(doctest, feature = "local-server"))]
#[doc = include_str!("../../../docs/testing.md")]
struct TestingDoc;

/// The names most handlers need: `use lambda_actors::prelude::*;`.
pub mod prelude {
    pub use crate::{
        run, run_fn, spawn_blocking, BlockingHandler, Context, Error, Handler, IntoError, RawHandler, ResponseHandler,
        ResponseStream, ResponseWriter, Runtime, RuntimeError, StreamResponse,
    };
}

/// Runs a closure as the handler, reading the configuration from the environment: a
/// shortcut for `Runtime::new().run_fn(f)`. [`Runtime`] is the way in for everything else
/// (shared init, streaming, work after the response, blocking handlers, tower services). The same
/// binary serves classic Lambda and Managed Instances (`AWS_LAMBDA_MAX_CONCURRENCY` slots).
///
/// ```no_run
/// #[derive(serde::Deserialize)]
/// struct HelloRequest { name: String }
/// #[derive(serde::Serialize)]
/// struct HelloResponse { greetings: String }
///
/// fn main() -> Result<(), lambda_actors::RuntimeError> {
///     lambda_actors::run_fn(|event: HelloRequest, _ctx| async move {
///         // The closure names its error type (any, see `IntoError`): here the runtime's own.
///         Ok::<_, lambda_actors::Error>(HelloResponse { greetings: format!("Hello {}!", event.name) })
///     })
/// }
/// ```
pub fn run_fn<F, Fut, E, O, Er>(f: F) -> Result<(), RuntimeError>
where
    F: Fn(E, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, Er>> + 'static,
    E: DeserializeOwned + 'static,
    O: Serialize + 'static,
    Er: IntoError + 'static,
{
    Runtime::new().run_fn(f)
}

/// Runs a [`Handler`]; `factory` builds one per slot (on the slot's own thread), so the
/// handler's state needs neither `Sync` nor `Clone`. A shortcut for
/// `Runtime::new().run(|_| factory())`.
///
/// ```no_run
/// use lambda_actors::{Context, Error, Handler};
///
/// #[derive(Default)]
/// struct Counter { seen: u64 }
///
/// impl Handler for Counter {
///     type Event = serde_json::Value;
///     type Output = u64;
///     type Error = Error;
///     async fn handle(&mut self, _event: serde_json::Value, _ctx: Context) -> Result<u64, Error> {
///         self.seen += 1;
///         Ok(self.seen)
///     }
/// }
///
/// fn main() -> Result<(), lambda_actors::RuntimeError> {
///     lambda_actors::run(|| Ok(Counter::default()))
/// }
/// ```
pub fn run<H, F>(factory: F) -> Result<(), RuntimeError>
where
    H: Handler,
    F: Fn() -> Result<H, Error> + Send + Sync + 'static,
{
    Runtime::new().run(move |_| factory())
}

/// Spawns a future on the current thread that keeps the current invocation's span, so its
/// log lines carry the invocation's `requestId`. At shutdown the drain waits for it, within
/// the shutdown window (`LAMBDA_ACTORS_SHUTDOWN_GRACE_MS`). The future need not be `Send`.
///
/// ```no_run
/// # async fn handler(event: serde_json::Value, _ctx: lambda_actors::Context) -> Result<(), lambda_actors::Error> {
/// let audit = lambda_actors::spawn(async move {
///     tokio::time::sleep(std::time::Duration::from_millis(10)).await;
///     tracing::info!(%event, "audited");
/// });
/// audit.await?; // or let it run on: the drain waits for it at shutdown
/// # Ok(())
/// # }
/// ```
pub fn spawn<F: Future<Output = ()> + 'static>(fut: F) -> SpawnHandle {
    use tracing::Instrument;
    let counted = shared::SpawnedWork::start();
    SpawnHandle(actix_rt::spawn(
        async move {
            let _counted = counted;
            fut.await;
        }
        .in_current_span(),
    ))
}

/// Work started with [`spawn`]. Await it for its end (`Err` if it panicked or was aborted),
/// abort it, or drop it to let it run on.
#[derive(Debug)]
pub struct SpawnHandle(tokio::task::JoinHandle<()>);

impl SpawnHandle {
    /// Stops the work at its next `.await`.
    pub fn abort(&self) {
        self.0.abort();
    }

    /// Whether the work has ended.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Future for SpawnHandle {
    type Output = Result<(), Error>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|ended| {
            ended.map_err(|e| {
                if e.is_panic() {
                    Error::new("Runtime.SpawnPanic", panic::panic_message(e.into_panic().as_ref()))
                } else {
                    Error::new("Runtime.SpawnAborted", "the spawned work was aborted")
                }
            })
        })
    }
}
