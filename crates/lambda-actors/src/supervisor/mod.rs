//! The supervisor: the one actor that starts things and the one that restarts them. Its
//! `started` builds the thread layout from the configuration, starts the workers and the N
//! pollers and the internal extension (`start.rs`); it restarts a poller that dies
//! ([`PollerDied`]), writes the metrics summaries while there is something to report
//! (`summary.rs`), and turns SIGTERM, SIGINT, a `SHUTDOWN` event or a [`crate::RuntimeHandle`]
//! into the drain (`drain.rs`), then ends the process.
//!
//! Its messages, and who sends them:
//!
//! | message | from | what it does |
//! |---|---|---|
//! | [`PollerDied`] | a poller's `Drop` (a panic) | restart the slot's poller, with back-off if it keeps dying |
//! | [`Fatal`] | a poller (classic `/next` 500, API unreachable) | exit non-zero |
//! | [`SummaryWanted`] | a poller, at the first invocation after the timer slept | restart the metrics timer |
//! | [`Shutdown`] | the internal extension (`SHUTDOWN`), a `RuntimeHandle` | drain |
//! | `Signal` | the signal listener | drain; a second one exits at once |

mod drain;
mod restart;
mod start;
mod summary;

pub(crate) use start::{OnStarted, Plan};

use crate::internal_extension::ShutdownExtension;
use crate::poller::Poller;
use crate::pool::worker::{HandlerHooks, WorkerPool};
use crate::pool::Affinity;
pub(crate) use crate::reports::{Fatal, PollerDied, Reports, Shutdown, SummaryWanted};
use crate::runtime::layout::Arbiters;
use crate::shared::RuntimeShared;
use crate::RuntimeError;
use actix::prelude::*;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

struct Signal(&'static str, i32);

impl Message for Signal {
    type Result = ();
}

/// A runtime-wide shutdown hook ([`crate::Runtime::on_shutdown`]).
pub(crate) type ShutdownHook = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// What the supervisor started, once start-up has run.
struct Running {
    arbiters: Arbiters,
    pool: Arc<WorkerPool>,
    pollers: Vec<Addr<Poller>>,
    restarts: restart::PollerRestarts,
    extension: Option<Addr<ShutdownExtension>>,
}

/// The one place that starts the arbiters, workers and pollers, restarts pollers, and ends
/// the process.
pub(crate) struct Supervisor {
    shared: Arc<RuntimeShared>,
    /// Taken by `started`.
    plan: Option<Plan>,
    running: Option<Running>,
    handler_hooks: Arc<HandlerHooks>,
    shutdown_hooks: Vec<ShutdownHook>,
    /// Restarts since the last summary.
    restarts_unreported: u64,
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
    /// A supervisor that starts the runtime `plan` describes when it starts, and sends the
    /// exit status to `exit`.
    pub(crate) fn new(plan: Plan, exit: oneshot::Sender<Result<(), RuntimeError>>) -> Self {
        Self {
            shared: RuntimeShared::new(plan.config.clone()),
            plan: Some(plan),
            running: None,
            handler_hooks: Arc::new(HandlerHooks::default()),
            shutdown_hooks: Vec::new(),
            restarts_unreported: 0,
            exit: Some(exit),
            draining: false,
            exiting: false,
            signals: 0,
            last_summary: Instant::now(),
            summary_timer: None,
            quiet_summaries: 0,
        }
    }

    /// Starts the poller of `slot` on its I/O arbiter.
    fn start_poller(&self, slot: usize, ctx: &Context<Self>) -> Option<Addr<Poller>> {
        let running = self.running.as_ref()?;
        let io = &running.arbiters.io;
        let index = slot % io.len();
        // Pollers that share their thread with workers run their events there when they can;
        // pinned, they prefer the handler thread on their CPU.
        let affinity = match (running.arbiters.colocated, running.arbiters.pinned()) {
            (true, _) => Affinity::Home(index),
            (false, true) => Affinity::Near(index),
            (false, false) => Affinity::None,
        };
        let (shared, pool, me) = (self.shared.clone(), running.pool.clone(), Reports::to(&ctx.address()));
        // I/O arbiter 0 is this thread: started here, the poller runs as soon as this returns.
        if index == 0 {
            return Some(Poller::new(slot, affinity, shared, pool, me).start());
        }
        Some(Poller::start_in_arbiter(&io[index], move |_| {
            Poller::new(slot, affinity, shared, pool, me)
        }))
    }

    /// Ends the process: the last metrics summary, then the exit status to `run`, then the
    /// threads this runtime started.
    fn exit(&mut self, result: Result<(), RuntimeError>, ctx: &mut Context<Self>) {
        if std::mem::replace(&mut self.exiting, true) {
            return;
        }
        if let Some(timer) = self.summary_timer.take() {
            ctx.cancel_future(timer);
        }
        let summary = match (&self.running, self.shared.config.metrics_interval) {
            (Some(running), Some(_)) => Some(summary::collect(&running.arbiters)),
            _ => None,
        };
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
            if let Some(running) = &act.running {
                running.arbiters.stop();
            }
        }));
    }

    /// Restarts the poller of `slot` as the restart policy says (`restart.rs`), counted in the
    /// next summary (`restarts_count`).
    fn restart_poller(&mut self, slot: usize, ctx: &mut Context<Self>) {
        let Some(running) = self.running.as_mut() else {
            return;
        };
        let delay = running.restarts.next(slot);
        self.restarts_unreported += 1;
        ctx.run_later(delay, move |act, ctx| {
            if act.draining || act.exiting {
                return;
            }
            if let Some(poller) = act.start_poller(slot, ctx) {
                if let Some(running) = act.running.as_mut() {
                    running.pollers[slot] = poller;
                }
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
        if let Some(plan) = self.plan.take() {
            self.start_runtime(plan, ctx);
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
