//! The supervisor actor: restarts what dies, turns signals into a drain (in-flight work,
//! spawned work, shutdown hooks, all within the shutdown window), ends the process.

use crate::handler_actor::{HandlerHooks, Pool};
use crate::metrics::{Gauges, Summary, Window};
use crate::panic::CatchUnwind;
use crate::shared::{ArbiterLocal, Shared, SpawnedWork};
use crate::RuntimeError;
use actix::prelude::*;
use actix_rt::ArbiterHandle;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A condition the process cannot go on from (classic `/next` 500, unreachable API).
pub(crate) struct Fatal(pub(crate) RuntimeError);

impl Message for Fatal {
    type Result = ();
}

/// A poller stopped without being asked to.
pub(crate) struct PollerDied {
    pub(crate) slot: usize,
}

impl Message for PollerDied {
    type Result = ();
}

/// Stop like SIGTERM, asked by a [`crate::RuntimeHandle`].
pub(crate) struct Shutdown;

impl Message for Shutdown {
    type Result = ();
}

struct Signal(&'static str, i32);

impl Message for Signal {
    type Result = ();
}

/// The threads of the runtime: the I/O arbiters run the pollers (and nothing of the user's),
/// the handler arbiters run the handler actors. In classic mode both are the main thread.
pub(crate) struct Arbiters {
    pub(crate) io: Vec<ArbiterHandle>,
    pub(crate) handlers: Vec<ArbiterHandle>,
    /// Classic mode: the handler arbiter is the I/O arbiter.
    pub(crate) shared: bool,
    /// I/O arbiter *i* and handler arbiter *i* are pinned to one CPU (`src/pinning.rs`).
    pub(crate) pinned: bool,
    /// The handler arbiters' threads run `SCHED_BATCH` (`src/thread_policy.rs`).
    pub(crate) batch: bool,
}

impl Arbiters {
    /// Every arbiter once (for the metrics).
    pub(crate) fn all(&self) -> Vec<ArbiterHandle> {
        let mut all = self.io.clone();
        if !self.shared {
            all.extend(self.handlers.iter().cloned());
        }
        all
    }
}

/// A runtime-wide shutdown hook ([`crate::Runtime::on_shutdown`]).
pub(crate) type ShutdownHook = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// How long, after the shutdown window, the answers to invocations cut short may take
/// before the process exits anyway.
const CUT_ANSWERS: Duration = Duration::from_millis(50);

/// How long past the window a handler's hook, abandoned at the window's end on its own
/// thread, has to log that and say it is done.
const HOOK_REPORT: Duration = Duration::from_millis(20);

/// Starts the poller of a slot on its I/O arbiter (made by the runtime, which knows the
/// poller; used again by the supervisor to restart one).
pub(crate) type StartPoller = Arc<dyn Fn(usize, Addr<Supervisor>) + Send + Sync>;

/// Starts nothing by itself: [`crate::runtime`] sets up arbiters and slots, then hands the
/// supervisor the arbiters so it can restart pollers where they lived.
pub(crate) struct Supervisor {
    shared: Arc<Shared>,
    arbiters: Arbiters,
    pool: Arc<Pool>,
    start_poller: StartPoller,
    handler_hooks: Arc<HandlerHooks>,
    shutdown_hooks: Vec<ShutdownHook>,
    exit: Option<oneshot::Sender<Result<(), RuntimeError>>>,
    exiting: bool,
    signals: u32,
    last_summary: Instant,
}

impl Supervisor {
    pub(crate) fn new(
        shared: Arc<Shared>,
        arbiters: Arbiters,
        pool: Arc<Pool>,
        start_poller: StartPoller,
        (handler_hooks, shutdown_hooks): (Arc<HandlerHooks>, Vec<ShutdownHook>),
        exit: oneshot::Sender<Result<(), RuntimeError>>,
    ) -> Self {
        Self {
            shared,
            arbiters,
            pool,
            start_poller,
            handler_hooks,
            shutdown_hooks,
            exit: Some(exit),
            exiting: false,
            signals: 0,
            last_summary: Instant::now(),
        }
    }

    /// Ends the process: the last metrics summary, then the exit status to `run`.
    fn exit(&mut self, result: Result<(), RuntimeError>, ctx: &mut Context<Self>) {
        if std::mem::replace(&mut self.exiting, true) {
            return;
        }
        self.shared.stop();
        let summary = self.shared.config.metrics_interval.is_some().then(|| self.collect());
        let finish = async move {
            match summary {
                Some(collect) => Some(collect.await),
                None => None,
            }
        };
        ctx.spawn(finish.into_actor(self).map(move |window, act, _| {
            if let Some(window) = window {
                act.emit(window);
            }
            if let Some(tx) = act.exit.take() {
                let _ = tx.send(result);
            }
        }));
    }

    /// Takes (and resets) every arbiter's metrics window, merged.
    fn collect(&self) -> impl std::future::Future<Output = Window> {
        let windows: Vec<_> = self
            .arbiters
            .all()
            .iter()
            .map(|arbiter| {
                let (tx, rx) = oneshot::channel();
                arbiter.spawn_fn(move || {
                    let window = ArbiterLocal::try_current().map(|l| std::mem::take(&mut *l.stats.borrow_mut()));
                    let _ = tx.send(window.unwrap_or_default());
                });
                rx
            })
            .collect();
        async move {
            let mut total = Window::default();
            for rx in windows {
                if let Ok(w) = rx.await {
                    total.merge(&w);
                }
            }
            total
        }
    }

    fn emit(&mut self, mut window: Window) {
        window.restarts += self.shared.poller_restarts.swap(0, Ordering::Relaxed);
        let gauges = Gauges {
            num_pollers: self.shared.config.mode.concurrency() as u64,
            num_pollers_alive: self.shared.pollers_alive.load(Ordering::Relaxed) as u64,
            num_busy_handlers: self.shared.in_flight.load(Ordering::Relaxed) as u64,
            busy_by_arbiter: self.pool.busy_by_arbiter(),
        };
        let interval = std::mem::replace(&mut self.last_summary, Instant::now()).elapsed();
        let config = &self.shared.config;
        Summary::new(&window, &gauges, interval).emit(config.metrics_format, config.function.name.as_deref());
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        #[cfg(unix)]
        {
            use actix_rt::signal::unix::{signal, SignalKind};
            let addr = ctx.address();
            actix_rt::spawn(async move {
                let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
                else {
                    tracing::warn!("cannot listen for SIGTERM/SIGINT; shutdown will not drain");
                    return;
                };
                loop {
                    let sig = std::future::poll_fn(|cx| {
                        if term.poll_recv(cx).is_ready() {
                            return std::task::Poll::Ready(Signal("SIGTERM", 15));
                        }
                        if int.poll_recv(cx).is_ready() {
                            return std::task::Poll::Ready(Signal("SIGINT", 2));
                        }
                        std::task::Poll::Pending
                    })
                    .await;
                    if addr.try_send(sig).is_err() {
                        return;
                    }
                }
            });
        }
        if let Some(interval) = self.shared.config.metrics_interval {
            ctx.run_interval(interval, |act, ctx| {
                ctx.spawn(act.collect().into_actor(act).map(|window, act, _| act.emit(window)));
            });
        }
    }
}

impl Handler<Fatal> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Fatal, ctx: &mut Self::Context) {
        tracing::error!("{}", msg.0);
        self.exit(Err(msg.0), ctx);
    }
}

impl Handler<PollerDied> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: PollerDied, ctx: &mut Self::Context) {
        if self.shared.is_stopping() {
            return;
        }
        self.shared.poller_restarts.fetch_add(1, Ordering::Relaxed);
        tracing::error!(slot = msg.slot, "poller stopped unexpectedly; restarting it");
        (self.start_poller)(msg.slot, ctx.address());
    }
}

impl Handler<Signal> for Supervisor {
    type Result = ();

    fn handle(&mut self, Signal(name, number): Signal, ctx: &mut Self::Context) {
        self.signals += 1;
        if self.signals > 1 {
            tracing::warn!("{name} received again: exiting now");
            std::process::exit(128 + number);
        }
        self.drain(&format!("{name} received"), ctx);
    }
}

impl Handler<Shutdown> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        if !self.shared.is_draining() {
            self.drain("shutdown requested", ctx);
        }
    }
}

impl Supervisor {
    /// The drain, all within the shutdown window `W` (`LAMBDA_ACTORS_SHUTDOWN_GRACE_MS`) from
    /// now: polling stops at once (an event whose reply head has arrived is still served);
    /// each handler's shutdown hook runs after its last invocation; the runtime's hooks once
    /// in-flight and spawned work are done, or at `W / 2` at the latest; at `W` whatever still
    /// runs is answered `Runtime.Shutdown`; then the process exits `Ok`.
    fn drain(&mut self, why: &str, ctx: &mut Context<Self>) {
        let window = self.shared.config.shutdown_grace;
        let start = Instant::now();
        let deadline = start + window;
        tracing::info!(
            in_flight = self.shared.in_flight.load(Ordering::SeqCst),
            "{why}: stopped polling; in-flight invocations, spawned work and shutdown hooks get {} ms",
            window.as_millis()
        );
        self.shared.start_drain();
        let shared = self.shared.clone();
        let handler_hooks = self.handler_hooks.clone();
        let runtime_hooks = std::mem::take(&mut self.shutdown_hooks);
        let drained = async move {
            let arriving = || shared.polling.load(Ordering::SeqCst) > 0 || shared.receiving.load(Ordering::SeqCst) > 0;
            let idle = || !arriving() && shared.in_flight.load(Ordering::SeqCst) == 0 && SpawnedWork::alive() == 0;
            // Events already arriving (a reply written just before the signal) reach their
            // handlers first, so every hook follows its handler's last invocation.
            wait_until(deadline, || !arriving()).await;
            let handlers_done = handler_hooks.stop_all(deadline);
            wait_until(start + window / 2, idle).await;
            run_shutdown_hooks(runtime_hooks, deadline).await;
            wait_until(deadline, idle).await;
            for done in handlers_done {
                let _ = tokio::time::timeout_at((deadline + HOOK_REPORT).into(), done).await;
            }
            let (in_flight, spawned) = (shared.in_flight.load(Ordering::SeqCst), SpawnedWork::alive());
            if in_flight > 0 || spawned > 0 {
                tracing::warn!(
                    in_flight,
                    spawned,
                    "the shutdown window ({} ms) is over with work still running: answering the \
                     invocations Runtime.Shutdown, dropping the rest",
                    window.as_millis()
                );
            }
            shared.cut();
            wait_until(Instant::now() + CUT_ANSWERS, || {
                shared.in_flight.load(Ordering::SeqCst) == 0
            })
            .await;
        };
        ctx.spawn(drained.into_actor(self).map(|(), act, ctx| act.exit(Ok(()), ctx)));
    }
}

/// Waits until `done()` holds or `until` comes, checking every 5 ms (only while draining).
async fn wait_until(until: Instant, mut done: impl FnMut() -> bool) {
    while !done() && Instant::now() < until {
        actix_rt::time::sleep(Duration::from_millis(5).min(until.saturating_duration_since(Instant::now()))).await;
    }
}

/// Runs the runtime-wide hooks side by side, each bounded by `deadline`; an overrun or a panic
/// is logged.
async fn run_shutdown_hooks(hooks: Vec<ShutdownHook>, deadline: Instant) {
    let running: Vec<_> = hooks
        .into_iter()
        .enumerate()
        .map(|(index, hook)| {
            actix_rt::spawn(async move {
                match tokio::time::timeout_at(deadline.into(), CatchUnwind(hook)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(panic)) => tracing::error!(hook = index, "a shutdown hook panicked: {panic}"),
                    Err(_) => tracing::warn!(
                        hook = index,
                        "a shutdown hook did not finish within the shutdown window \
                         (LAMBDA_ACTORS_SHUTDOWN_GRACE_MS): abandoned"
                    ),
                }
            })
        })
        .collect();
    for hook in running {
        let _ = hook.await;
    }
}
