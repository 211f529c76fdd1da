//! Start-up, in the supervisor's `started`: the thread layout from the configuration, one
//! worker per handler slot built on its handler arbiter (all of them before any poller asks
//! for an event, so a factory failure is an init error with no event taken), the internal
//! extension's registration (at the same time: it must come before the first `/next`), the
//! pool, the stall watchdog, then the N pollers and the extension actor.

use super::{Running, ShutdownHook, Supervisor};
use crate::config::{Config, HandlerThreadPolicy};
use crate::internal_extension::{self, ShutdownExtension};
use crate::pool::load::ArbiterLoad;
use crate::pool::worker::{HandlerHooks, WorkerAddr, Workers};
use crate::pool::HandlerPool;
use crate::runtime::layout::{install_local, Arbiters};
use crate::runtime::{report_init_error, thread_policy, RuntimeHandle};
use crate::shared::ArbiterLocal;
use crate::{Error, RuntimeError};
use actix::prelude::*;
use actix_rt::ArbiterHandle;
use lambda_actors_api::{Endpoint, RuntimeClient};
use std::rc::Rc;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Called once every slot is polling, with a handle that stops the runtime.
pub(crate) type OnStarted = Box<dyn FnOnce(RuntimeHandle)>;

/// What the supervisor starts: everything the runtime's entry points gathered.
pub(crate) struct Plan {
    pub(crate) config: Arc<Config>,
    pub(crate) endpoint: Endpoint,
    pub(crate) workers: Arc<dyn Workers>,
    pub(crate) shutdown_hooks: Vec<ShutdownHook>,
    pub(crate) on_started: Option<OnStarted>,
}

/// One handler arbiter's workers, built on its thread.
type Built = Result<Vec<(ArbiterHandle, Arc<ArbiterLoad>, Vec<WorkerAddr>)>, Error>;

impl Supervisor {
    pub(super) fn start_runtime(&mut self, plan: Plan, ctx: &mut Context<Self>) {
        let Plan {
            config,
            endpoint,
            workers,
            shutdown_hooks,
            on_started,
        } = plan;
        self.shutdown_hooks = shutdown_hooks;
        let respawn = super::restart::worker_respawn(workers.clone(), self.handler_hooks.clone());
        let arbiters = Arbiters::build(&config);
        let colocated = Arbiters::colocated(&config);
        if !colocated {
            // This thread's client first: the internal extension registers with it.
            install_local(&endpoint);
        }
        // Handler threads of their own (isolated layout) get the handler thread policy, on the
        // thread itself (a policy is a thread's own), before their handlers are built.
        let policy = (!colocated).then_some(config.handler_thread_policy);
        let building = {
            let (config, endpoint, hooks) = (config.clone(), endpoint.clone(), self.handler_hooks.clone());
            async move {
                let arbiters = arbiters.await;
                let built = build_workers(&arbiters, &config, &endpoint, workers, &hooks, policy).await;
                (arbiters, built)
            }
        };
        // The internal extension, before the first `/next` (Lambda closes registration then),
        // so that Lambda sends SIGTERM at shutdown instead of killing the process.
        let registering = {
            let (graceful, endpoint) = (config.graceful_shutdown, endpoint.clone());
            async move {
                if !graceful {
                    return None;
                }
                let client = ArbiterLocal::try_current()
                    .map_or_else(|| Rc::new(RuntimeClient::new(&endpoint)), |local| local.client.clone());
                internal_extension::register(&client)
                    .await
                    .map(|id| ShutdownExtension::new(id, client))
            }
        };
        let report_to = endpoint.clone();
        let both = async move {
            let ((arbiters, built), extension) = futures_util::future::join(building, registering).await;
            if let Err(e) = &built.0 {
                tracing::error!(errorType = e.error_type(), "cannot build a handler: {}", e.message());
                report_init_error(&report_to, &e.to_body()).await;
            }
            (arbiters, built, extension)
        };
        ctx.wait(
            both.into_actor(self)
                .map(move |(mut arbiters, (built, policy_refused), extension), act, ctx| {
                    let members = match built {
                        Ok(members) => members,
                        Err(e) => {
                            return act.exit(Err(RuntimeError::init(format!("cannot build a handler: {e}"))), ctx)
                        }
                    };
                    arbiters.batch = policy == Some(HandlerThreadPolicy::Batch) && policy_refused.is_none();
                    if let Some(e) = policy_refused {
                        tracing::warn!(
                            "the handler threads stay SCHED_OTHER (SCHED_BATCH refused: {e}): correct, at some \
                     more CPU per invocation; LAMBDA_ACTORS_HANDLER_THREAD_POLICY=normal asks for that"
                        );
                    }
                    let pool = HandlerPool::new(members, respawn);
                    let slots = config.mode.concurrency();
                    act.running = Some(Running {
                        arbiters,
                        pool,
                        pollers: Vec::with_capacity(slots),
                        restarts: super::restart::PollerRestarts::new(slots),
                        extension: None,
                    });
                    // Slot 0 first, on this thread: its `/next` is what ends init on Lambda; the
                    // rest (the other I/O threads, pollers, the watchdog) once it has sent it.
                    let first = act.start_poller(0, ctx);
                    ctx.wait(tokio::task::yield_now().into_actor(act).map(move |(), act, ctx| {
                        act.start_the_rest(first, extension, &config, &endpoint, ctx);
                        if let Some(f) = on_started {
                            f(RuntimeHandle {
                                supervisor: ctx.address(),
                            });
                        }
                    }));
                }),
        );
    }
}

impl Supervisor {
    /// After slot 0's poller: the other I/O threads, the other pollers, the watchdog, the
    /// internal extension's actor, the start-up line.
    fn start_the_rest(
        &mut self,
        first: Option<Addr<crate::poller::Poller>>,
        extension: Option<ShutdownExtension>,
        config: &Config,
        endpoint: &Endpoint,
        ctx: &mut Context<Self>,
    ) {
        let Some(running) = self.running.as_mut() else {
            return;
        };
        running.arbiters.add_io_threads(endpoint);
        // Stalls steer the router only where there is a choice: in Managed Instances mode.
        if let (Some(threshold), true) = (config.stall_warn, config.mode.is_managed()) {
            if let Err(e) = running.pool.watch(threshold) {
                tracing::warn!("cannot start the stall watchdog thread: {e}; stalls are still logged when they end");
            }
        }
        let (handler_arbiters, pinned_threads) = (running.arbiters.handlers.len(), running.arbiters.pinned());
        let handler_thread_policy = if running.arbiters.batch { "batch" } else { "normal" };
        let slots = config.mode.concurrency();
        let pollers: Vec<_> = first
            .into_iter()
            .chain((1..slots).filter_map(|slot| self.start_poller(slot, ctx)))
            .collect();
        // After the pollers: its parked `event/next` (a connection of its own) need not delay
        // the first `/next`.
        let extension = extension.map(|e| e.reporting_to(ctx.address().recipient()).start());
        if let Some(running) = self.running.as_mut() {
            running.pollers = pollers;
            running.extension = extension;
        }
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
    }
}

/// Builds every handler arbiter's workers on its own thread (spread round-robin), each
/// arbiter's awc client with them; and whether the thread policy was refused anywhere.
fn build_workers(
    arbiters: &Arbiters,
    config: &Config,
    endpoint: &Endpoint,
    workers: Arc<dyn Workers>,
    hooks: &Arc<HandlerHooks>,
    policy: Option<HandlerThreadPolicy>,
) -> impl std::future::Future<Output = (Built, Option<String>)> {
    let count = arbiters.handlers.len();
    let ready: Vec<_> = arbiters
        .handlers
        .iter()
        .enumerate()
        .map(|(index, arbiter)| {
            let handlers = (0..config.handler_pool_size).filter(|h| h % count == index).count();
            let load = Arc::new(ArbiterLoad::default());
            let (tx, rx) = oneshot::channel();
            let (workers, endpoint, thread_load, hooks) =
                (workers.clone(), endpoint.clone(), load.clone(), hooks.clone());
            arbiter.spawn_fn(move || {
                let policy_set = policy.map(thread_policy::apply_current);
                let built = workers.build_here(handlers, &thread_load, &hooks);
                let _ = tx.send((policy_set.and_then(Result::err).map(|e| e.to_string()), built));
                // After the reply (the first `/next` need not wait for it), before this thread
                // runs anything else: its workers' first invocation comes after.
                install_local(&endpoint);
            });
            (arbiter.clone(), load, rx)
        })
        .collect();
    async move {
        let mut members = Vec::with_capacity(ready.len());
        let mut policy_refused = None;
        for (arbiter, load, rx) in ready {
            let (refused, built) = rx.await.unwrap_or_else(|_| {
                (
                    None,
                    Err(Error::new("Runtime.InitError", "the handler factory panicked")),
                )
            });
            if let Some(e) = refused {
                policy_refused.get_or_insert(e);
            }
            match built {
                Ok(handlers) => members.push((arbiter, load, handlers)),
                Err(e) => return (Err(e), policy_refused),
            }
        }
        (Ok(members), policy_refused)
    }
}
