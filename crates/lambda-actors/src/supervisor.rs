//! The supervisor actor: restarts what dies, turns signals into a drain, ends the process.

use crate::handler_actor::Pool;
use crate::metrics::{Gauges, Summary, Window};
use crate::shared::{ArbiterLocal, Shared};
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
        exit: oneshot::Sender<Result<(), RuntimeError>>,
    ) -> Self {
        Self {
            shared,
            arbiters,
            pool,
            start_poller,
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
    /// Stops polling, waits for in-flight invocations (up to the grace), then exits `Ok`.
    fn drain(&mut self, why: &str, ctx: &mut Context<Self>) {
        let grace = self.shared.config.shutdown_grace;
        tracing::info!(
            in_flight = self.shared.in_flight.load(Ordering::SeqCst),
            "{why}: stopped polling, letting in-flight invocations finish (up to {} ms)",
            grace.as_millis()
        );
        self.shared.start_drain();
        let until = Instant::now() + grace;
        ctx.run_interval(Duration::from_millis(10), move |act, ctx| {
            let in_flight = act.shared.in_flight.load(Ordering::SeqCst);
            if in_flight == 0 || Instant::now() >= until {
                if in_flight > 0 {
                    tracing::warn!(in_flight, "shutdown grace over with invocations still running");
                }
                act.exit(Ok(()), ctx);
            }
        });
    }
}
