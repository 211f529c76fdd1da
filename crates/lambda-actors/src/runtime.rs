//! Start-up: configuration, logging, init, arbiters, handlers, pollers — and the exit.

use crate::config::{Config, ConfigError, HandlerThreadPolicy, Scheduling};
use crate::extension::{self, ShutdownExtension};
use crate::handler::{FnHandler, Json, Raw, Service};
use crate::handler_actor::{Factory, HandlerActor, HandlerHooks, WorkerAddr};
use crate::pinning;
use crate::poller::Poller;
use crate::pool::load::ArbiterLoad;
use crate::pool::{Affinity, HandlerPool, Respawn};
use crate::shared::{ArbiterLocal, Shared};
use crate::supervisor::Supervisor;
use crate::supervisor::{Arbiters, ShutdownHook, StartPoller};
use crate::thread_policy;
use crate::{logging, Context, Error, Handler, RawHandler, RuntimeError};
use actix::prelude::*;
use actix_rt::{Arbiter, ArbiterHandle};
use lambda_actors_api::{Endpoint, ErrorBody, RuntimeClient};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

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
    example_event: &'static str,
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
    supervisor: Addr<Supervisor>,
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
                example_event: "{}",
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
        self.options.example_event = event;
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
        self.serve(move |s| factory(s).map(crate::writer::Responding))
    }

    /// Runs a [`BlockingHandler`](crate::BlockingHandler); `factory` builds one per slot.
    pub fn run_blocking<H, F>(self, factory: F) -> Result<(), RuntimeError>
    where
        H: crate::BlockingHandler,
        F: Fn(Arc<S>) -> Result<H, Error> + Send + Sync + 'static,
    {
        self.serve(move |s| factory(s).map(|h| crate::blocking::Blocking(Some(h))))
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
        self.run_response_handler(move |_| Ok(crate::stream_response::StreamFn(f.clone(), std::marker::PhantomData)))
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
        self.run_response_handler(move |_| Ok(crate::stream_response::WriterFn(f.clone(), std::marker::PhantomData)))
    }

    pub(crate) fn serve<Svc, F>(self, factory: F) -> Result<(), RuntimeError>
    where
        Svc: Service,
        F: Fn(Arc<S>) -> Result<Svc, Error> + Send + Sync + 'static,
    {
        let config = match self.config {
            Some(c) => Ok(c),
            None => Config::from_env(),
        };
        let system = actix_rt::System::new();
        let result = system.block_on(start(config, self.options, self.init, factory));
        if let Err(e) = &result {
            eprintln!("lambda-actors: {e}");
        }
        result
    }
}

async fn start<S, Svc, F>(
    config: Result<Config, ConfigError>,
    mut options: Options,
    init: Box<dyn FnOnce() -> InitFuture<S>>,
    factory: F,
) -> Result<(), RuntimeError>
where
    S: Send + Sync + 'static,
    Svc: Service,
    F: Fn(Arc<S>) -> Result<Svc, Error> + Send + Sync + 'static,
{
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            if options.logging {
                logging::init_default();
            }
            tracing::error!("{e}");
            if let Some(endpoint) = e.runtime_api() {
                report_init_error(endpoint, &ErrorBody::new("Runtime.ConfigError", e.to_string())).await;
            }
            return Err(RuntimeError::config(e.to_string()));
        }
    };
    if options.logging {
        logging::init(config.log_format, &config.log_filter);
    }
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let (endpoint, _local_server) = match &config.runtime_api {
        Some(e) => (e.clone(), None),
        None => {
            let server = start_local_server(&config, options.example_event).await?;
            (server.0, Some(server.1))
        }
    };
    // The local server answers `X-Amz-Log-Type: Tail` from the lines this runtime logs.
    #[cfg(feature = "local-server")]
    let _log_tail = _local_server.as_ref().map(|server| {
        let sink = server.log_sink();
        logging::add_tap(Arc::new(move |request_id: &str, line: &[u8]| {
            sink.record(request_id, line)
        }))
    });

    RUNTIME_API.with(|api| *api.borrow_mut() = Some(endpoint.authority() + endpoint.prefix()));
    let state = match (init)().await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::error!(errorType = e.error_type(), "initialisation failed: {}", e.message());
            report_init_error(&endpoint, &e.to_body()).await;
            return Err(RuntimeError::init(format!("initialisation failed: {e}")));
        }
    };
    let factory: Factory<Svc> = Arc::new(move || factory(state.clone()));

    let config = Arc::new(config);
    let shared = Shared::new(config.clone());
    let slots = config.mode.concurrency();
    // Managed Instances, isolated (the default): the pollers' Runtime-API I/O on I/O arbiters
    // (this, the main thread, and K - 1 more), user code on K handler arbiters of its own, so
    // a handler that hogs its thread never holds up another slot's `/next` or answer.
    // Shared: pollers and handlers on one arbiter per core, this thread the first. Classic
    // mode: all on this thread.
    let main_arbiter = Arbiter::current();
    let (spawned, arbiters) = match (config.mode.is_managed(), config.scheduling) {
        (true, Scheduling::Isolated) => {
            // K handler arbiters, and as many I/O arbiters (this thread the first): one I/O
            // thread for every slot caps the throughput at one core's worth of HTTP work.
            let k = config.arbiters();
            let spawned: Vec<Arbiter> = (0..2 * k - 1).map(|_| Arbiter::new()).collect();
            let handlers: Vec<ArbiterHandle> = spawned[..k].iter().map(Arbiter::handle).collect();
            let io: Vec<ArbiterHandle> = std::iter::once(main_arbiter)
                .chain(spawned[k..].iter().map(Arbiter::handle))
                .collect();
            // I/O thread i and handler thread i on CPU i, when the CPUs are the process's own.
            let pinned = pinning::plan(config.pin_threads, k);
            if let Some(cores) = &pinned {
                for (thread, &core) in io.iter().zip(cores).chain(handlers.iter().zip(cores)) {
                    thread.spawn_fn(move || pinning::pin_current(core));
                }
            }
            (
                spawned,
                Arbiters {
                    io,
                    handlers,
                    shared: false,
                    pinned: pinned.is_some(),
                    batch: false,
                },
            )
        }
        (true, Scheduling::Shared) => {
            let spawned: Vec<Arbiter> = (1..config.arbiters()).map(|_| Arbiter::new()).collect();
            let all: Vec<ArbiterHandle> = std::iter::once(main_arbiter)
                .chain(spawned.iter().map(Arbiter::handle))
                .collect();
            (
                spawned,
                Arbiters {
                    io: all.clone(),
                    handlers: all,
                    shared: true,
                    pinned: false,
                    batch: false,
                },
            )
        }
        (false, _) => (
            Vec::new(),
            Arbiters {
                io: vec![main_arbiter.clone()],
                handlers: vec![main_arbiter],
                shared: true,
                pinned: false,
                batch: false,
            },
        ),
    };

    #[cfg(feature = "local-server")]
    let invoke_url = _local_server.as_ref().map(lambda_actors_local::LocalServer::invoke_url);
    #[cfg(not(feature = "local-server"))]
    let invoke_url = None;
    let on_started = options
        .on_started
        .take()
        .map(|f| move |handle| f(Started { invoke_url, handle }));
    #[cfg_attr(not(feature = "local-server"), allow(unused_mut))]
    let mut shutdown_hooks = std::mem::take(&mut options.shutdown_hooks);
    // Off Lambda, the local server tells the extensions of the shutdown as Lambda would.
    #[cfg(feature = "local-server")]
    if let Some(server) = &_local_server {
        let extensions = server.extension_shutdown();
        shutdown_hooks.insert(
            0,
            Box::pin(async move {
                extensions.send();
                // The parked `event/next` calls are answered by tasks of this thread: let them
                // write the event before the process can exit.
                actix_rt::time::sleep(Duration::from_millis(20)).await;
            }),
        );
    }
    let result = run_slots(
        &config,
        &endpoint,
        &shared,
        arbiters,
        factory,
        (slots, shutdown_hooks),
        on_started,
    )
    .await;
    for arbiter in &spawned {
        arbiter.stop();
    }
    result
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

#[cfg(feature = "local-server")]
type LocalServer = lambda_actors_local::LocalServer;
#[cfg(not(feature = "local-server"))]
type LocalServer = ();

/// Not on Lambda: serve the Runtime API (and an Invoke API for callers) in-process, on real
/// loopback HTTP, so the pollers run exactly the code path they run on Lambda.
#[cfg(feature = "local-server")]
async fn start_local_server(config: &Config, example_event: &str) -> Result<(Endpoint, LocalServer), RuntimeError> {
    let local = lambda_actors_local::LocalConfig {
        host: config.local.host.clone(),
        port: config.local.port,
        invocation_endpoint: config.local.invocation_endpoint.clone(),
        max_concurrency: config.mode.concurrency(),
        reject_when_busy: config.local.reject_when_busy,
        queue_limit: config.local.queue_limit,
        timeout: config.local.timeout,
        function_name: config.function.name.clone().unwrap_or_else(|| "function".to_owned()),
    };
    let server = lambda_actors_local::start(local)
        .await
        .map_err(|e| RuntimeError::config(e.to_string()))?;
    let endpoint = Endpoint::parse(&server.runtime_api()).map_err(|e| RuntimeError::config(e.to_string()))?;
    tracing::info!(
        "AWS_LAMBDA_RUNTIME_API is not set: serving the function locally at {}; try: {}",
        server.invoke_url(),
        server.curl_hint_with(example_event),
    );
    Ok((endpoint, server))
}

#[cfg(not(feature = "local-server"))]
async fn start_local_server(_: &Config, _: &str) -> Result<(Endpoint, LocalServer), RuntimeError> {
    Err(RuntimeError::config(
        "AWS_LAMBDA_RUNTIME_API is not set: this process is not running on Lambda, and this binary \
         was built without the `local-server` feature of lambda-actors (set AWS_LAMBDA_RUNTIME_API \
         to the Runtime API's host:port, or enable the feature)",
    ))
}

async fn run_slots<Svc: Service>(
    config: &Config,
    endpoint: &Endpoint,
    shared: &Arc<Shared>,
    mut arbiters: Arbiters,
    factory: Factory<Svc>,
    (slots, shutdown_hooks): (usize, Vec<ShutdownHook>),
    on_started: Option<impl FnOnce(RuntimeHandle)>,
) -> Result<(), RuntimeError> {
    let hooks = Arc::new(HandlerHooks::default());
    // Phase 1: every handler is built before any poller asks for an event, so a factory
    // failure is an init error with no event taken. Handlers are spread round-robin over the
    // handler arbiters; every arbiter gets an awc client for the answers sent from it.
    let handler_count = arbiters.handlers.len();
    let (capacity, stall_warn) = (config.mailbox_capacity, config.stall_warn);
    let mut ready = Vec::with_capacity(handler_count);
    // Handler threads of their own (isolated layout) get the handler thread policy, on the
    // thread itself (a policy is a thread's own), before their handlers are built.
    let policy = (!arbiters.shared).then_some(config.handler_thread_policy);
    for (index, arbiter) in arbiters.handlers.iter().enumerate() {
        let handlers = (0..config.handler_pool_size)
            .filter(|h| h % handler_count == index)
            .count();
        let load = Arc::new(ArbiterLoad::default());
        let (tx, rx) = oneshot::channel();
        let (factory, endpoint, thread_load, hooks) = (factory.clone(), endpoint.clone(), load.clone(), hooks.clone());
        arbiter.spawn_fn(move || {
            let policy_set = policy.map(thread_policy::apply_current);
            let built = build_handlers(handlers, factory, &endpoint, capacity, (thread_load, hooks), stall_warn);
            let _ = tx.send((policy_set, built));
        });
        ready.push((arbiter.clone(), load, rx));
    }
    let mut members = Vec::with_capacity(handler_count);
    let mut policy_refused = None;
    for (arbiter, load, rx) in ready {
        let (policy_set, built) = rx.await.unwrap_or_else(|_| {
            (
                None,
                Err(Error::new("Runtime.InitError", "the handler factory panicked")),
            )
        });
        if let Some(Err(e)) = policy_set {
            policy_refused.get_or_insert(e);
        }
        match built {
            Ok(handlers) => members.push((arbiter, load, handlers)),
            Err(e) => {
                tracing::error!(errorType = e.error_type(), "cannot build a handler: {}", e.message());
                report_init_error(endpoint, &e.to_body()).await;
                return Err(RuntimeError::init(format!("cannot build a handler: {e}")));
            }
        }
    }
    arbiters.batch = policy == Some(HandlerThreadPolicy::Batch) && policy_refused.is_none();
    if let Some(e) = policy_refused {
        tracing::warn!(
            "the handler threads stay SCHED_OTHER (SCHED_BATCH refused: {e}): correct, at some \
             more CPU per invocation; LAMBDA_ACTORS_HANDLER_THREAD_POLICY=normal asks for that"
        );
    }
    if !arbiters.shared {
        for io in &arbiters.io {
            let endpoint = endpoint.clone();
            io.spawn_fn(move || install_local(&endpoint));
        }
    }
    let respawn: Respawn<WorkerAddr> = {
        let hooks = hooks.clone();
        Arc::new(move |arbiter: &ArbiterHandle, load: Arc<ArbiterLoad>| {
            let (factory, hooks) = (factory.clone(), hooks.clone());
            WorkerAddr::start_in(arbiter, move || {
                HandlerActor::new(None, factory, capacity, load, stall_warn, hooks)
            })
        })
    };
    let pool = HandlerPool::new(members, respawn);
    // Stalls steer the router only where there is a choice: in Managed Instances mode.
    if let (Some(threshold), true) = (stall_warn, config.mode.is_managed()) {
        if let Err(e) = pool.watch(threshold) {
            tracing::warn!("cannot start the stall watchdog thread: {e}; stalls are still logged when they end");
        }
    }

    // The internal extension, before the first `/next` (Lambda closes registration then), so
    // that Lambda sends SIGTERM at shutdown instead of killing the process.
    let extension = if config.graceful_shutdown {
        let client = Rc::new(RuntimeClient::new(endpoint));
        extension::register(&client).await.map(|id| (id, client))
    } else {
        None
    };

    // Phase 2: the supervisor, then one poller per slot on its I/O arbiter.
    let (exit_tx, exit_rx) = oneshot::channel();
    let (handler_arbiters, pinned_threads) = (arbiters.handlers.len(), arbiters.pinned);
    let handler_thread_policy = if arbiters.batch { "batch" } else { "normal" };
    let start_poller: StartPoller = {
        let (shared, pool, io) = (shared.clone(), pool.clone(), arbiters.io.clone());
        // Pollers that share their thread with handlers run their events there when they can;
        // pinned, they prefer the handler thread on their CPU.
        let (colocated, pinned) = (arbiters.shared, arbiters.pinned);
        Arc::new(move |slot, supervisor| {
            let (shared, pool) = (shared.clone(), pool.clone());
            let index = slot % io.len();
            let affinity = match (colocated, pinned) {
                (true, _) => Affinity::Home(index),
                (false, true) => Affinity::Near(index),
                (false, false) => Affinity::None,
            };
            Poller::start_in_arbiter(&io[index], move |_| {
                Poller::new(slot, affinity, shared, pool, supervisor)
            })
        })
    };
    let extension = extension.map(|(id, client)| ShutdownExtension::new(id, client));
    let supervisor = Supervisor::create(move |ctx| {
        let mut supervisor = Supervisor::new(
            shared.clone(),
            arbiters,
            pool.clone(),
            start_poller,
            (hooks, shutdown_hooks),
            exit_tx,
        );
        supervisor.start_slots(slots, extension, ctx);
        supervisor
    });
    tracing::info!(
        mode = if config.mode.is_managed() {
            "managed-instances"
        } else {
            "classic"
        },
        slots,
        handlers = config.handler_pool_size,
        handler_arbiters,
        pinned_threads,
        handler_thread_policy,
        runtime_api = endpoint.base_url(),
        "lambda-actors {} started",
        env!("CARGO_PKG_VERSION"),
    );
    if let Some(f) = on_started {
        f(RuntimeHandle { supervisor });
    }
    exit_rx
        .await
        .unwrap_or_else(|_| Err(RuntimeError::api("the supervisor stopped without an exit status")))
}

/// Builds one handler arbiter's handlers and its awc client; runs on that arbiter's thread.
fn build_handlers<Svc: Service>(
    handlers: usize,
    factory: Factory<Svc>,
    endpoint: &Endpoint,
    capacity: usize,
    (load, hooks): (Arc<ArbiterLoad>, Arc<HandlerHooks>),
    stall_warn: Option<Duration>,
) -> Result<Vec<WorkerAddr>, Error> {
    let mut built = Vec::with_capacity(handlers);
    for _ in 0..handlers {
        let service = factory()?;
        built.push(WorkerAddr::start(HandlerActor::new(
            Some(service),
            factory.clone(),
            capacity,
            load.clone(),
            stall_warn,
            hooks.clone(),
        )));
    }
    install_local(endpoint);
    Ok(built)
}

/// The awc client and metrics window of the calling arbiter.
fn install_local(endpoint: &Endpoint) {
    ArbiterLocal::install(ArbiterLocal {
        client: Rc::new(RuntimeClient::new(endpoint)),
        stats: Default::default(),
    });
}

/// Posts to `/init/error`, bounded in time; in Managed Instances a 403 means another worker
/// already reported, which is fine.
async fn report_init_error(endpoint: &Endpoint, body: &ErrorBody) {
    let client = RuntimeClient::new(endpoint);
    match actix_rt::time::timeout(Duration::from_secs(2), client.init_error(body)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.code() == Some(403) => {}
        Ok(Err(e)) => tracing::warn!("could not report the init error: {e}"),
        Err(_) => tracing::warn!("could not report the init error: the Runtime API did not answer in 2 s"),
    }
}
