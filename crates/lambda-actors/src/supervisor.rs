//! The supervisor actor: restarts what dies, writes the metrics summaries, turns signals into
//! a drain (in-flight work, spawned work, shutdown hooks, all within the shutdown window), ends
//! the process. The drain is messages: [`StopPolling`] to every poller, whose replies say when
//! no event can arrive and when each slot's last invocation has its answer; [`StopHandler`] to
//! every handler actor; [`EndOfWindow`] to the pollers still busy when the window ends. No
//! timer runs while nothing is in flight.

use crate::extension::{ShutdownExtension, StopExtension};
use crate::handler_actor::{HandlerHooks, Pool};
use crate::metrics::{Gauges, Summary, Window};
use crate::panic::CatchUnwind;
use crate::poller::{EndOfWindow, Poller, StopPolling};
use crate::shared::{ArbiterLocal, Shared, SpawnedWork};
use crate::RuntimeError;
use actix::prelude::*;
use actix_rt::ArbiterHandle;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Notify};

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

/// An invocation started while the metrics timer slept: time for summaries again.
pub(crate) struct SummaryWanted;

impl Message for SummaryWanted {
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

/// Summaries with nothing to report written after activity (they show the return to idle)
/// before the metrics timer sleeps.
const QUIET_SUMMARIES: u32 = 2;

/// A poller that dies again within this long of its last restart waits before the next one.
const RESTART_CALM: Duration = Duration::from_secs(10);
/// First wait before restarting a poller that keeps dying; doubles, up to [`RESTART_CAP`].
const RESTART_BASE: Duration = Duration::from_millis(50);
const RESTART_CAP: Duration = Duration::from_secs(2);

/// Starts the poller of a slot on its I/O arbiter (made by the runtime, which knows the
/// poller; used again by the supervisor to restart one).
pub(crate) type StartPoller = Arc<dyn Fn(usize, Addr<Supervisor>) -> Addr<Poller> + Send + Sync>;

/// The one place that starts pollers and restarts them, and that ends the process.
pub(crate) struct Supervisor {
    shared: Arc<Shared>,
    arbiters: Arbiters,
    pool: Arc<Pool>,
    start_poller: StartPoller,
    pollers: Vec<Addr<Poller>>,
    /// Per slot: restarts in a row (each within [`RESTART_CALM`] of the last), and when the last was.
    restarts: Vec<(u32, Option<Instant>)>,
    /// Restarts since the last summary.
    restarts_unreported: u64,
    extension: Option<Addr<ShutdownExtension>>,
    handler_hooks: Arc<HandlerHooks>,
    shutdown_hooks: Vec<ShutdownHook>,
    exit: Option<oneshot::Sender<Result<(), RuntimeError>>>,
    draining: bool,
    exiting: bool,
    signals: u32,
    last_summary: Instant,
    summary_timer: Option<SpawnHandle>,
    /// Summaries in a row with nothing to report.
    quiet_summaries: u32,
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
            pollers: Vec::new(),
            restarts: Vec::new(),
            restarts_unreported: 0,
            extension: None,
            handler_hooks,
            shutdown_hooks,
            exit: Some(exit),
            draining: false,
            exiting: false,
            signals: 0,
            last_summary: Instant::now(),
            summary_timer: None,
            quiet_summaries: 0,
        }
    }

    /// Starts one poller per slot, then the internal extension (after them: its parked
    /// `event/next` need not delay the first `/next`, which is what ends init on Lambda).
    pub(crate) fn start_slots(&mut self, slots: usize, extension: Option<ShutdownExtension>, ctx: &mut Context<Self>) {
        let me = ctx.address();
        self.pollers = (0..slots).map(|slot| (self.start_poller)(slot, me.clone())).collect();
        self.restarts = vec![(0, None); slots];
        self.extension = extension.map(|e| e.reporting_to(me).start());
    }

    /// Ends the process: the last metrics summary, then the exit status to `run`.
    fn exit(&mut self, result: Result<(), RuntimeError>, ctx: &mut Context<Self>) {
        if std::mem::replace(&mut self.exiting, true) {
            return;
        }
        if let Some(timer) = self.summary_timer.take() {
            ctx.cancel_future(timer);
        }
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

    fn busy_handlers(&self) -> usize {
        self.pool.busy_by_arbiter().iter().sum()
    }

    fn emit(&mut self, mut window: Window) {
        window.restarts += std::mem::take(&mut self.restarts_unreported);
        let gauges = Gauges {
            num_pollers: self.shared.config.mode.concurrency() as u64,
            num_pollers_alive: self.pollers.iter().filter(|p| p.connected()).count() as u64,
            num_busy_handlers: self.busy_handlers() as u64,
            busy_by_arbiter: self.pool.busy_by_arbiter(),
        };
        let interval = std::mem::replace(&mut self.last_summary, Instant::now()).elapsed();
        let config = &self.shared.config;
        Summary::new(&window, &gauges, interval).emit(config.metrics_format, config.function.name.as_deref());
    }

    /// The next summary in one interval, unless one is due already or the process is exiting.
    fn schedule_summary(&mut self, ctx: &mut Context<Self>) {
        let Some(interval) = self.shared.config.metrics_interval else {
            return;
        };
        if self.summary_timer.is_some() || self.exiting {
            return;
        }
        self.summary_timer = Some(ctx.run_later(interval, |act, ctx| {
            act.summary_timer = None;
            ctx.spawn(
                act.collect()
                    .into_actor(act)
                    .map(|window, act, ctx| act.summarise(window, ctx)),
            );
        }));
    }

    /// Writes a summary. With nothing new to report and nothing in flight for
    /// [`QUIET_SUMMARIES`] summaries in a row, the timer then sleeps until the next invocation
    /// wakes it ([`SummaryWanted`]).
    fn summarise(&mut self, window: Window, ctx: &mut Context<Self>) {
        let quiet =
            window.invocations == 0 && window.stalls == 0 && window.restarts == 0 && self.restarts_unreported == 0;
        if !quiet || self.busy_handlers() > 0 {
            self.quiet_summaries = 0;
        } else if self.quiet_summaries < QUIET_SUMMARIES {
            self.quiet_summaries += 1;
        } else {
            self.shared.summary_sleeps();
            // An invocation routed before the timer fell asleep did not wake it: look again.
            if self.busy_handlers() == 0 || !self.shared.summary_woken() {
                return;
            }
        }
        self.emit(window);
        self.schedule_summary(ctx);
    }

    /// Restarts the poller of `slot`: at once the first time, after a growing wait when it
    /// keeps dying. Logged and counted in the next summary (`restarts_count`).
    fn restart_poller(&mut self, slot: usize, ctx: &mut Context<Self>) {
        let (in_a_row, last) = self.restarts[slot];
        let in_a_row = match last {
            Some(at) if at.elapsed() < RESTART_CALM => in_a_row + 1,
            _ => 0,
        };
        let delay = match in_a_row {
            0 => Duration::ZERO,
            n => RESTART_BASE.saturating_mul(1 << (n - 1).min(6)).min(RESTART_CAP),
        };
        self.restarts[slot] = (in_a_row, Some(Instant::now() + delay));
        self.restarts_unreported += 1;
        tracing::error!(
            slot,
            delay_ms = delay.as_millis() as u64,
            "poller stopped unexpectedly; restarting it"
        );
        ctx.run_later(delay, move |act, ctx| {
            if !act.draining && !act.exiting {
                act.pollers[slot] = (act.start_poller)(slot, ctx.address());
            }
        });
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
        // The timer sleeps until the first invocation: an idle environment is never woken.
        self.shared.summary_sleeps();
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
        if self.draining || self.exiting {
            return;
        }
        self.restart_poller(msg.slot, ctx);
    }
}

impl Handler<SummaryWanted> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: SummaryWanted, ctx: &mut Self::Context) {
        self.schedule_summary(ctx);
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
        if !self.draining {
            self.drain("shutdown requested", ctx);
        }
    }
}

/// Counts down the replies of a set of actors (each a oneshot: sent, or dropped with its
/// sender), and wakes whoever waits for the last one. Lives on the supervisor's thread.
#[derive(Clone)]
struct Countdown(Rc<(Cell<usize>, Notify)>);

impl Countdown {
    fn of(replies: Vec<oneshot::Receiver<()>>) -> Self {
        let countdown = Self(Rc::new((Cell::new(replies.len()), Notify::new())));
        for reply in replies {
            let countdown = countdown.clone();
            actix_rt::spawn(async move {
                let _ = reply.await;
                let (left, done) = &*countdown.0;
                left.set(left.get() - 1);
                if left.get() == 0 {
                    done.notify_waiters();
                }
            });
        }
        countdown
    }

    fn left(&self) -> usize {
        self.0 .0.get()
    }

    async fn done(&self) {
        loop {
            let done = self.0 .1.notified();
            if self.left() == 0 {
                return;
            }
            done.await;
        }
    }
}

impl Supervisor {
    /// The drain, all within the shutdown window `W` (`LAMBDA_ACTORS_SHUTDOWN_GRACE_MS`) from
    /// now: every poller stops taking events (an event whose reply head has arrived is still
    /// served); once none can arrive, each handler runs its shutdown hook after its last
    /// invocation; the runtime's hooks run once every slot and all spawned work are done, or
    /// at `W / 2` at the latest; at `W` what still runs or arrives is answered
    /// `Runtime.Shutdown`; then the process exits `Ok`.
    fn drain(&mut self, why: &str, ctx: &mut Context<Self>) {
        self.draining = true;
        let window = self.shared.config.shutdown_grace;
        let start = Instant::now();
        let deadline = start + window;
        tracing::info!(
            in_flight = self.busy_handlers(),
            "{why}: stopped polling; in-flight invocations, spawned work and shutdown hooks get {} ms",
            window.as_millis()
        );
        let (mut arrivals, mut drained) = (Vec::new(), Vec::new());
        for poller in &self.pollers {
            let (arrivals_over, arrived) = oneshot::channel();
            let (slot_drained, drain) = oneshot::channel();
            // A poller that is gone drops the message, and with it both senders: done.
            poller.do_send(StopPolling {
                arrivals_over,
                drained: slot_drained,
            });
            arrivals.push(arrived);
            drained.push(drain);
        }
        if let Some(extension) = self.extension.take() {
            extension.do_send(StopExtension);
        }
        let (arrivals, slots) = (Countdown::of(arrivals), Countdown::of(drained));
        let pollers = self.pollers.clone();
        let handler_hooks = self.handler_hooks.clone();
        let runtime_hooks = std::mem::take(&mut self.shutdown_hooks);
        let drained = async move {
            let idle = || async {
                slots.done().await;
                SpawnedWork::all_ended().await;
            };
            // Events already arriving (a reply written just before the signal) reach their
            // handlers first, so every hook follows its handler's last invocation.
            let _ = tokio::time::timeout_at(deadline.into(), arrivals.done()).await;
            let handlers_done = handler_hooks.stop_all(deadline);
            let _ = tokio::time::timeout_at((start + window / 2).into(), idle()).await;
            run_shutdown_hooks(runtime_hooks, deadline).await;
            let finished = tokio::time::timeout_at(deadline.into(), idle()).await.is_ok();
            for done in handlers_done {
                let _ = tokio::time::timeout_at((deadline + HOOK_REPORT).into(), done).await;
            }
            if !finished {
                tracing::warn!(
                    in_flight = slots.left(),
                    spawned = SpawnedWork::alive(),
                    "the shutdown window ({} ms) is over with work still running: answering the \
                     invocations Runtime.Shutdown, dropping the rest",
                    window.as_millis()
                );
                for poller in &pollers {
                    poller.do_send(EndOfWindow);
                }
                let _ = tokio::time::timeout(CUT_ANSWERS, slots.done()).await;
            }
        };
        ctx.spawn(drained.into_actor(self).map(|(), act, ctx| act.exit(Ok(()), ctx)));
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
