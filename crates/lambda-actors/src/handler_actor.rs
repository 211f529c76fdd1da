//! The handler actor: owns one user handler and runs one invocation at a time; at shutdown,
//! runs the handler's shutdown hook after its last invocation ([`StopHandler`]).

use crate::answer::Answer;
use crate::handler::Service;
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
pub(crate) struct StopHandler {
    pub(crate) deadline: Instant,
    pub(crate) done: oneshot::Sender<()>,
}

impl Message for StopHandler {
    type Result = ();
}

/// Every handler actor of the runtime, by its [`StopHandler`] address (each adds itself when
/// it starts), so the drain can reach them all, idle or busy.
#[derive(Default)]
pub(crate) struct HandlerHooks(parking_lot::Mutex<Vec<Recipient<StopHandler>>>);

impl HandlerHooks {
    /// Asks every live handler actor to run its hook; one receiver per actor asked.
    pub(crate) fn stop_all(&self, deadline: Instant) -> Vec<oneshot::Receiver<()>> {
        let actors = std::mem::take(&mut *self.0.lock());
        actors
            .into_iter()
            .filter(Recipient::connected)
            .filter_map(|actor| {
                let (done, rx) = oneshot::channel();
                actor.try_send(StopHandler { deadline, done }).ok().map(|()| rx)
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
    fn of<S: Service>(actor: Addr<HandlerActor<S>>) -> Self {
        Self {
            invoke: actor.recipient(),
            hook: S::hook(),
        }
    }

    /// Starts a handler actor on the current arbiter.
    pub(crate) fn start<S: Service>(actor: HandlerActor<S>) -> Self {
        Self::of(actor.start())
    }

    /// Starts a handler actor on `arbiter`, its handler built on first use.
    pub(crate) fn start_in<S: Service>(
        arbiter: &actix_rt::ArbiterHandle,
        actor: impl FnOnce() -> HandlerActor<S> + Send + 'static,
    ) -> Self {
        Self::of(HandlerActor::start_in_arbiter(arbiter, move |_| actor()))
    }
}

/// The pool of this runtime's handler actors, by their address.
pub(crate) type Pool = HandlerPool<WorkerAddr>;

/// One handler actor taken from the [`Pool`] for one invocation.
pub(crate) type HandlerLease = Lease<WorkerAddr>;

/// Owns one user handler. Its state is taken out for the length of an invocation and put
/// back when the handler returns; after a panic or a reclaim it is rebuilt from the factory.
pub(crate) struct HandlerActor<S: Service> {
    // Boxed: actors must be `Unpin`, user handlers need not be.
    service: Option<Box<S>>,
    factory: Factory<S>,
    mailbox_capacity: usize,
    /// The load of the arbiter this actor runs on, measured around each poll of its handler.
    load: Arc<ArbiterLoad>,
    stall_warn: Option<Duration>,
    hooks: Arc<HandlerHooks>,
    /// A shutdown asked for while an invocation ran: the hook runs when it ends.
    stop_after_invocation: Option<StopHandler>,
}

impl<S: Service> HandlerActor<S> {
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
    fn run_shutdown_hook(&mut self, stop: StopHandler, ctx: &mut actix::Context<Self>) {
        let StopHandler { deadline, done } = stop;
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

impl<S: Service> Actor for HandlerActor<S> {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox_capacity);
        self.hooks.0.lock().push(ctx.address().recipient());
    }
}

impl<S: Service> Handler<StopHandler> for HandlerActor<S> {
    type Result = ();

    fn handle(&mut self, msg: StopHandler, ctx: &mut Self::Context) {
        if self.service.is_some() {
            self.run_shutdown_hook(msg, ctx);
        } else {
            // Mid-invocation (its handler is out of the actor): after it.
            self.stop_after_invocation = Some(msg);
        }
    }
}

impl<S: Service> Handler<Invoke> for HandlerActor<S> {
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
