//! Start-up: configuration, logging, init, arbiters, handlers, pollers — and the exit.

pub(crate) mod layout;
pub(crate) mod pinning;
mod start;
pub(crate) mod thread_policy;

pub(crate) use start::report_init_error;

use crate::config::Config;
use crate::handler::closure::{FnHandler, StreamFn, WriterFn};
use crate::handler::{Invocable, Json, Raw};
use crate::supervisor::{ShutdownHook, Supervisor};
use crate::{Context, Error, Handler, RawHandler, RuntimeError};
use actix::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

type InitFuture<S> = Pin<Box<dyn Future<Output = Result<S, Error>>>>;

/// The runtime, for the cases [`run`](crate::run) and [`run_fn`](crate::run_fn) do not cover:
/// fallible async initialisation shared by every slot, an explicit [`Config`], or your own
/// `tracing` subscriber.
///
/// ```no_run
/// use lambda_actors::{Context, Error, Handler, Runtime};
/// use std::sync::Arc;
///
/// struct Clients { table: String }
/// struct MyHandler { clients: Arc<Clients> }
///
/// impl Handler for MyHandler {
///     type Event = serde_json::Value;
///     type Output = String;
///     type Error = Error;
///     async fn handle(&mut self, _event: serde_json::Value, _ctx: Context) -> Result<String, Error> {
///         Ok(self.clients.table.clone())
///     }
/// }
///
/// fn main() -> Result<(), lambda_actors::RuntimeError> {
///     Runtime::new()
///         // Runs once; an error here is reported to /init/error and the process exits non-zero.
///         .init(|| async { Ok(Clients { table: "orders".into() }) })
///         // Runs once per slot, on the slot's thread; gets the init value as an `Arc`.
///         .run(|clients| Ok(MyHandler { clients }))
/// }
/// ```
pub struct Runtime<S = ()> {
    init: Box<dyn FnOnce() -> InitFuture<S>>,
    config: Option<Config>,
    options: Options,
}

/// Start-up options that are not configuration.
struct Options {
    logging: bool,
    example_event: Option<&'static str>,
    on_started: Option<Box<dyn FnOnce(Started) + Send>>,
    shutdown_hooks: Vec<ShutdownHook>,
}

/// What [`Runtime::on_started`] gets once every slot is polling.
#[derive(Debug)]
pub struct Started {
    /// The local server's invoke URL, when the runtime serves the function locally.
    pub invoke_url: Option<String>,
    /// Stops the runtime gracefully from any thread.
    pub handle: RuntimeHandle,
}

/// Stops a running runtime from any thread, like SIGTERM: polling stops, in-flight
/// invocations finish (within `LAMBDA_ACTORS_SHUTDOWN_GRACE_MS`), then `run` returns `Ok`.
#[derive(Debug, Clone)]
pub struct RuntimeHandle {
    pub(crate) supervisor: Addr<Supervisor>,
}

impl RuntimeHandle {
    /// Starts the graceful shutdown.
    pub fn shutdown(&self) {
        self.supervisor.do_send(crate::supervisor::Shutdown);
    }
}

impl<S> std::fmt::Debug for Runtime<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .field("logging", &self.options.logging)
            .finish()
    }
}

impl Default for Runtime<()> {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime<()> {
    /// A runtime configured from the environment, with no shared init state.
    pub fn new() -> Self {
        Self {
            init: Box::new(|| Box::pin(async { Ok(()) })),
            config: None,
            options: Options {
                logging: true,
                example_event: None,
                on_started: None,
                shutdown_hooks: Vec::new(),
            },
        }
    }
}

impl<S: Send + Sync + 'static> Runtime<S> {
    /// Async initialisation run once before any slot starts (create SDK clients here). Its
    /// value is passed to the handler factory of every slot; its error goes to
    /// `/init/error` and the process exits non-zero.
    pub fn init<T, F, Fut>(self, init: F) -> Runtime<T>
    where
        F: FnOnce() -> Fut + 'static,
        Fut: Future<Output = Result<T, Error>> + 'static,
    {
        Runtime {
            init: Box::new(move || Box::pin(init())),
            config: self.config,
            options: self.options,
        }
    }

    /// Uses this configuration instead of reading the environment.
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// The event shown in the ready-to-paste `curl` command the local server logs at start.
    pub fn example_event(mut self, event: &'static str) -> Self {
        self.options.example_event = Some(event);
        self
    }

    /// Calls `f` once every slot is polling, with the local server's URL (if any) and a
    /// handle that stops the runtime. The test kit uses it; so can embedders.
    pub fn on_started(mut self, f: impl FnOnce(Started) + Send + 'static) -> Self {
        self.options.on_started = Some(Box::new(f));
        self
    }

    /// Runs `hook` once when the runtime shuts down (SIGTERM, a `SHUTDOWN` event, or a
    /// [`RuntimeHandle`]): flush a telemetry client, close a pool. It starts when the
    /// invocations in flight and the work started with [`spawn`](crate::spawn) are done, or
    /// halfway through the shutdown window at the latest, and must end within the window
    /// (`LAMBDA_ACTORS_SHUTDOWN_GRACE_MS`): one that overruns is abandoned and logged, one that
    /// panics is logged. Hooks run side by side, on the main thread.
    ///
    /// ```no_run
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    ///
    /// fn main() -> Result<(), lambda_actors::RuntimeError> {
    ///     let served = Arc::new(AtomicU64::new(0));
    ///     let total = served.clone();
    ///     lambda_actors::Runtime::new()
    ///         .on_shutdown(async move {
    ///             println!("served {} invocations", total.load(Ordering::Relaxed));
    ///         })
    ///         .run_fn(move |event: serde_json::Value, _ctx| {
    ///             served.fetch_add(1, Ordering::Relaxed);
    ///             async move { Ok::<_, lambda_actors::Error>(event) }
    ///         })
    /// }
    /// ```
    pub fn on_shutdown(mut self, hook: impl Future<Output = ()> + 'static) -> Self {
        self.options.shutdown_hooks.push(Box::pin(hook));
        self
    }

    /// Names the `errorType` of `E`'s values with its [`ErrorType`](crate::ErrorType) (one per
    /// enum variant, say) when a handler returns an `E` as it is.
    pub fn error_types<E: crate::ErrorType>(self) -> Self {
        crate::error::register_error_type::<E>();
        self
    }

    /// Leaves logging to you: the runtime installs no `tracing` subscriber. (It also installs
    /// none when a global one is already set.)
    pub fn without_logging(mut self) -> Self {
        self.options.logging = false;
        self
    }

    /// Runs a typed [`Handler`]; `factory` builds one handler per slot, on the slot's thread.
    pub fn run<H, F>(self, factory: F) -> Result<(), RuntimeError>
    where
        H: Handler,
        F: Fn(Arc<S>) -> Result<H, Error> + Send + Sync + 'static,
    {
        self.serve(move |s| factory(s).map(Json))
    }

    /// Runs a [`RawHandler`] (bytes in, bytes out).
    pub fn run_raw<H, F>(self, factory: F) -> Result<(), RuntimeError>
    where
        H: RawHandler,
        F: Fn(Arc<S>) -> Result<H, Error> + Send + Sync + 'static,
    {
        self.serve(move |s| factory(s).map(Raw))
    }

    /// Runs a [`ResponseHandler`](crate::ResponseHandler): streamed responses, or work after the response.
    pub fn run_response_handler<H, F>(self, factory: F) -> Result<(), RuntimeError>
    where
        H: crate::ResponseHandler,
        F: Fn(Arc<S>) -> Result<H, Error> + Send + Sync + 'static,
    {
        self.serve(move |s| factory(s).map(crate::handler::response::Responding))
    }

    /// Runs a [`BlockingHandler`](crate::BlockingHandler); `factory` builds one per slot.
    pub fn run_blocking<H, F>(self, factory: F) -> Result<(), RuntimeError>
    where
        H: crate::BlockingHandler,
        F: Fn(Arc<S>) -> Result<H, Error> + Send + Sync + 'static,
    {
        self.serve(move |s| factory(s).map(|h| crate::handler::blocking::Blocking(Some(h))))
    }

    /// Runs a closure as the handler of every slot.
    pub fn run_fn<F, Fut, E, O, Er>(self, f: F) -> Result<(), RuntimeError>
    where
        F: Fn(E, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, Er>> + 'static,
        E: DeserializeOwned + 'static,
        O: Serialize + 'static,
        Er: crate::IntoError + 'static,
    {
        let f = Arc::new(f);
        self.serve(move |_| Ok(Json(FnHandler::new(f.clone()))))
    }

    /// Runs a closure that returns a [`StreamResponse`](crate::StreamResponse) (a body from a
    /// stream or a channel, optionally an HTTP status and headers first): streaming with no
    /// trait to implement, and no way to answer twice or not at all.
    pub fn run_stream_fn<F, Fut, E, Er>(self, f: F) -> Result<(), RuntimeError>
    where
        F: Fn(E, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<crate::StreamResponse, Er>> + 'static,
        E: DeserializeOwned + 'static,
        Er: crate::IntoError + 'static,
    {
        let f = Arc::new(f);
        self.run_response_handler(move |_| Ok(StreamFn(f.clone(), std::marker::PhantomData)))
    }

    /// Runs a closure that answers through a [`ResponseWriter`](crate::ResponseWriter):
    /// `out.send(&output)` then keep working (work after the response), or `out.stream()`.
    ///
    /// ```no_run
    /// fn main() -> Result<(), lambda_actors::RuntimeError> {
    ///     lambda_actors::Runtime::new().run_response_fn(|order: serde_json::Value, _ctx, out| async move {
    ///         out.send(&serde_json::json!({"accepted": true})).await?; // the caller has its answer
    ///         tracing::info!(%order, "indexing the order"); // work after the response
    ///         Ok::<_, lambda_actors::Error>(())
    ///     })
    /// }
    /// ```
    pub fn run_response_fn<F, Fut, E, Er>(self, f: F) -> Result<(), RuntimeError>
    where
        F: Fn(E, Context, crate::ResponseWriter) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Er>> + 'static,
        E: DeserializeOwned + 'static,
        Er: crate::IntoError + 'static,
    {
        let f = Arc::new(f);
        self.run_response_handler(move |_| Ok(WriterFn(f.clone(), std::marker::PhantomData)))
    }

    pub(crate) fn serve<Inv, F>(self, factory: F) -> Result<(), RuntimeError>
    where
        Inv: Invocable,
        F: Fn(Arc<S>) -> Result<Inv, Error> + Send + Sync + 'static,
    {
        let config = match self.config {
            Some(c) => Ok(c),
            None => Config::from_env(),
        };
        let system = actix_rt::System::new();
        // An error is logged where it happens, and `main` returning it prints it once more on
        // stderr: nothing is printed here.
        system.block_on(start::start(config, self.options, self.init, factory))
    }
}

thread_local! {
    /// The Runtime API of the runtime started on this thread (see [`runtime_api`]).
    static RUNTIME_API: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The Runtime API (`host:port` and any path prefix, as in `AWS_LAMBDA_RUNTIME_API`) that the
/// runtime started on this thread talks to — the embedded local server's when it serves the
/// function locally. Set before `Runtime::init` runs, so code there can reach the Lambda APIs
/// (registering an internal extension, say); `None` elsewhere.
pub fn runtime_api() -> Option<String> {
    RUNTIME_API.with(|api| api.borrow().clone())
}
