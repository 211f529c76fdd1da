//! The worker: the actor that owns one user handler and runs one invocation at a time
//! ([`Invoke`], answered with how it ended); at shutdown, runs the handler's shutdown hook after
//! its last invocation ([`RunShutdownHook`]). [`Workers`] builds them, with the handler type
//! erased, for the supervisor.

use crate::answer::Answer;
use crate::handler::Invocable;
use crate::outcome::{Invoked, Outcome};
use crate::panic::CatchUnwind;
use crate::pool::load::{ArbiterLoad, Watched};
use crate::pool::{HandlerPool, Lease, Release};
use crate::shared::ArbiterLocal;
use crate::{Context, Error};
use actix::prelude::*;
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tracing::Instrument;

/// Builds a service on the arbiter that will run it (so it needs neither `Send` nor `Sync`).
pub(crate) type Factory<S> = Arc<dyn Fn() -> Result<S, Error> + Send + Sync>;

/// Run one invocation.
pub(crate) struct Invoke {
    pub(crate) event: Bytes,
    pub(crate) ctx: Context,
    pub(crate) answer: Answer,
    /// When to give up on the handler (deadline + grace), if reclaim is on.
    pub(crate) reclaim_at: Option<Instant>,
    pub(crate) span: tracing::Span,
    /// How this actor goes back to the pool when the invocation ends.
    pub(crate) release: Release<WorkerAddr>,
}

impl Message for Invoke {
    type Result = Invoked;
}

/// Run the handler's shutdown hook, once the invocation it may be running has ended; `done`
/// is sent when the hook has returned, panicked or been abandoned at `deadline`.
pub(crate) struct RunShutdownHook {
    pub(crate) deadline: Instant,
    pub(crate) done: oneshot::Sender<()>,
}

impl Message for RunShutdownHook {
    type Result = ();
}

/// Every handler actor of the runtime, by its [`RunShutdownHook`] address (each adds itself when
/// it starts), so the drain can reach them all, idle or busy.
#[derive(Default)]
pub(crate) struct HandlerHooks(parking_lot::Mutex<Vec<Recipient<RunShutdownHook>>>);

impl HandlerHooks {
    /// Asks every live handler actor to run its hook; one receiver per actor asked.
    pub(crate) fn stop_all(&self, deadline: Instant) -> Vec<oneshot::Receiver<()>> {
        let actors = std::mem::take(&mut *self.0.lock());
        actors
            .into_iter()
            .filter(Recipient::connected)
            .filter_map(|actor| {
                let (done, rx) = oneshot::channel();
                actor.try_send(RunShutdownHook { deadline, done }).ok().map(|()| rx)
            })
            .collect()
    }
}

/// A handler actor as the pool holds it: its address, and the name of its handler's shutdown
/// hook (for the line that says a hook did not run).
#[derive(Clone)]
pub(crate) struct WorkerAddr {
    pub(crate) invoke: Recipient<Invoke>,
    pub(crate) hook: &'static str,
}

impl WorkerAddr {
    fn of<S: Invocable>(actor: Addr<Worker<S>>) -> Self {
        Self {
            invoke: actor.recipient(),
            hook: S::hook(),
        }
    }

    /// Starts a handler actor on the current arbiter.
    pub(crate) fn start<S: Invocable>(actor: Worker<S>) -> Self {
        Self::of(actor.start())
    }

    /// Starts a handler actor on `arbiter`, its handler built on first use.
    pub(crate) fn start_in<S: Invocable>(
        arbiter: &actix_rt::ArbiterHandle,
        actor: impl FnOnce() -> Worker<S> + Send + 'static,
    ) -> Self {
        Self::of(Worker::start_in_arbiter(arbiter, move |_| actor()))
    }
}

/// Builds workers for the supervisor, which knows nothing of the handler's type.
pub(crate) trait Workers: Send + Sync + 'static {
    /// Builds `count` workers (and their handlers) on the calling thread: the handlers are
    /// built on the thread that runs them, so they need neither `Send` nor `Sync`.
    fn build_here(
        &self,
        count: usize,
        load: &Arc<ArbiterLoad>,
        hooks: &Arc<HandlerHooks>,
    ) -> Result<Vec<WorkerAddr>, Error>;

    /// Starts a fresh worker on `arbiter`, its handler built on first use.
    fn respawn(
        &self,
        arbiter: &actix_rt::ArbiterHandle,
        load: Arc<ArbiterLoad>,
        hooks: Arc<HandlerHooks>,
    ) -> WorkerAddr;
}

/// The [`Workers`] of one handler type.
pub(crate) struct WorkerFactory<S: Invocable> {
    pub(crate) factory: Factory<S>,
    pub(crate) mailbox_capacity: usize,
    pub(crate) stall_warn: Option<Duration>,
}

impl<S: Invocable> Workers for WorkerFactory<S> {
    fn build_here(
        &self,
        count: usize,
        load: &Arc<ArbiterLoad>,
        hooks: &Arc<HandlerHooks>,
    ) -> Result<Vec<WorkerAddr>, Error> {
        (0..count)
            .map(|_| {
                let service = (self.factory)()?;
                Ok(WorkerAddr::start(Worker::new(
                    Some(service),
                    self.factory.clone(),
                    self.mailbox_capacity,
                    load.clone(),
                    self.stall_warn,
                    hooks.clone(),
                )))
            })
            .collect()
    }

    fn respawn(
        &self,
        arbiter: &actix_rt::ArbiterHandle,
        load: Arc<ArbiterLoad>,
        hooks: Arc<HandlerHooks>,
    ) -> WorkerAddr {
        let (factory, capacity, stall_warn) = (self.factory.clone(), self.mailbox_capacity, self.stall_warn);
        WorkerAddr::start_in(arbiter, move || {
            Worker::new(None, factory, capacity, load, stall_warn, hooks)
        })
    }
}

/// The pool of this runtime's handler actors, by their address.
pub(crate) type WorkerPool = HandlerPool<WorkerAddr>;

/// One handler actor taken from the [`WorkerPool`] for one invocation.
pub(crate) type WorkerLease = Lease<WorkerAddr>;

/// Owns one user handler. Its state is taken out for the length of an invocation and put
/// back when the handler returns; after a panic or a reclaim it is rebuilt from the factory.
pub(crate) struct Worker<S: Invocable> {
    // Boxed: actors must be `Unpin`, user handlers need not be.
    service: Option<Box<S>>,
    factory: Factory<S>,
    mailbox_capacity: usize,
    /// The load of the arbiter this actor runs on, measured around each poll of its handler.
    load: Arc<ArbiterLoad>,
    stall_warn: Option<Duration>,
    hooks: Arc<HandlerHooks>,
    /// A shutdown asked for while an invocation ran: the hook runs when it ends.
    stop_after_invocation: Option<RunShutdownHook>,
}

impl<S: Invocable> Worker<S> {
    pub(crate) fn new(
        service: Option<S>,
        factory: Factory<S>,
        mailbox_capacity: usize,
        load: Arc<ArbiterLoad>,
        stall_warn: Option<Duration>,
        hooks: Arc<HandlerHooks>,
    ) -> Self {
        Self {
            service: service.map(Box::new),
            factory,
            mailbox_capacity,
            load,
            stall_warn,
            hooks,
            stop_after_invocation: None,
        }
    }

    /// Runs the handler's shutdown hook (bounded by the deadline), then puts the handler back,
    /// so an event delivered in the last moment before the drain is still served.
    fn run_shutdown_hook(&mut self, stop: RunShutdownHook, ctx: &mut actix::Context<Self>) {
        let RunShutdownHook { deadline, done } = stop;
        let Some(mut service) = self.service.take() else {
            let _ = done.send(());
            return;
        };
        let hook = CatchUnwind(Box::pin(async move {
            service.shutdown().await;
            service
        }));
        let bounded = tokio::time::timeout_at(deadline.into(), hook);
        ctx.spawn(bounded.into_actor(self).map(move |ended, act, _| {
            match ended {
                Ok(Ok(service)) => act.service = Some(service),
                Ok(Err(panic)) => tracing::error!("a handler's shutdown hook panicked: {panic}"),
                Err(_) => tracing::warn!(
                    "a handler's shutdown hook did not finish within the shutdown window \
                     (LAMBDA_ACTORS_SHUTDOWN_GRACE_MS): abandoned"
                ),
            }
            let _ = done.send(());
        }));
    }

    fn rebuild(&mut self) -> Result<Box<S>, Error> {
        ArbiterLocal::count(|w| w.restarts += 1);
        (self.factory)()
            .map(Box::new)
            .inspect_err(|e| tracing::error!("cannot rebuild the handler: {e}"))
    }
}

impl<S: Invocable> Actor for Worker<S> {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox_capacity);
        self.hooks.0.lock().push(ctx.address().recipient());
    }
}

impl<S: Invocable> Handler<RunShutdownHook> for Worker<S> {
    type Result = ();

    fn handle(&mut self, msg: RunShutdownHook, ctx: &mut Self::Context) {
        if self.service.is_some() {
            self.run_shutdown_hook(msg, ctx);
        } else {
            // Mid-invocation (its handler is out of the actor): after it.
            self.stop_after_invocation = Some(msg);
        }
    }
}

impl<S: Invocable> Handler<Invoke> for Worker<S> {
    type Result = ResponseActFuture<Self, Invoked>;

    fn handle(&mut self, msg: Invoke, ctx: &mut Self::Context) -> Self::Result {
        self.load.taken();
        let me = WorkerAddr::of(ctx.address());
        let mut service = match self.service.take().map_or_else(|| self.rebuild(), Ok) {
            Ok(s) => s,
            Err(e) => {
                self.load.finished();
                msg.release.handler_done(me);
                return Box::pin(actix::fut::ready(Invoked {
                    outcome: Outcome::Unavailable(e),
                    handler_time: Duration::ZERO,
                }));
            }
        };
        let Invoke {
            event,
            ctx,
            answer,
            reclaim_at,
            span,
            release,
        } = msg;
        let call = async move {
            let result = service.call(event, ctx, answer).await;
            (service, result)
        };
        let run = CatchUnwind(Box::pin(
            Watched::new(call, self.load.clone(), self.stall_warn).instrument(span),
        ));
        let started = Instant::now();
        let timed = async move {
            match reclaim_at {
                Some(at) => tokio::time::timeout_at(at.into(), run).await.ok(),
                None => Some(run.await),
            }
        };
        Box::pin(timed.into_actor(self).map(move |ended, act, ctx| {
            act.load.finished();
            let handler_time = started.elapsed();
            let outcome = match ended {
                Some(Ok((service, result))) => {
                    act.service = Some(service);
                    Outcome::Done(result)
                }
                Some(Err(panic)) => {
                    act.service = act.rebuild().ok();
                    Outcome::Panicked(panic)
                }
                None => {
                    act.service = act.rebuild().ok();
                    Outcome::TimedOut
                }
            };
            // Back to the pool with its service in place, before the poller posts the answer.
            release.handler_done(me);
            if let Some(stop) = act.stop_after_invocation.take() {
                act.run_shutdown_hook(stop, ctx);
            }
            Invoked { outcome, handler_time }
        }))
    }
}
