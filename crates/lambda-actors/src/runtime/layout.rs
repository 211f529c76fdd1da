//! The thread layout, from the configuration: which arbiters (one OS thread each) run the
//! pollers' Runtime-API I/O and which run user code, pinned or not, with which scheduling
//! policy. The supervisor builds it first thing at start-up (`src/supervisor/start.rs`).
//!
//! | mode, `LAMBDA_ACTORS_SCHEDULING` | I/O arbiters | handler arbiters |
//! |---|---|---|
//! | classic | the main thread | the same thread |
//! | managed, `isolated` (default) | the main thread and K − 1 more | K of their own (`SCHED_BATCH` by default) |
//! | managed, `shared` | the main thread and K − 1 more | the same K |
//!
//! K is `LAMBDA_ACTORS_WORKER_THREADS`, by default the CPUs the process may use (at most N).
//! Isolated, a handler that hogs its thread never holds up another slot's `/next` or answer;
//! one I/O thread for every slot would cap the throughput at one core's worth of HTTP work.

use super::pinning;
use crate::config::{Config, Scheduling};
use crate::shared::ArbiterLocal;
use actix_rt::{Arbiter, ArbiterHandle};
use lambda_actors_api::{Endpoint, RuntimeClient};
use std::rc::Rc;

/// The threads of the runtime: the I/O arbiters run the pollers (and nothing of the user's),
/// the handler arbiters run the workers. In classic mode both are the main thread.
pub(crate) struct Arbiters {
    pub(crate) io: Vec<ArbiterHandle>,
    pub(crate) handlers: Vec<ArbiterHandle>,
    /// Pollers and workers share their arbiters (classic mode, `shared` scheduling).
    pub(crate) colocated: bool,
    /// The handler arbiters' threads run `SCHED_BATCH` (`thread_policy.rs`).
    pub(crate) batch: bool,
    /// The CPU thread pair *i* (I/O arbiter *i*, handler arbiter *i*) is pinned to, when the
    /// threads are pinned (`pinning.rs`).
    cores: Option<Vec<core_affinity::CoreId>>,
    /// How many I/O arbiters the layout has once [`Arbiters::add_io_threads`] has run.
    io_wanted: usize,
    /// The threads this runtime started (not the main thread), stopped at exit.
    spawned: Vec<Arbiter>,
}

impl Arbiters {
    /// Pollers and workers share their arbiters with this layout.
    pub(crate) fn colocated(config: &Config) -> bool {
        !(config.mode.is_managed() && config.scheduling == Scheduling::Isolated)
    }

    /// Starts the arbiters the configuration asks for, but the I/O arbiters past the first
    /// (the current, main thread) of the isolated layout: [`add_io_threads`](Self::add_io_threads)
    /// starts those once the first poller is polling, so that their start does not delay the
    /// first `/next` (what ends init on Lambda). The threads are started from a thread of
    /// their own (each start waits for its thread's runtime), so that this thread goes on
    /// meanwhile (registering the internal extension).
    pub(crate) fn build(config: &Config) -> impl std::future::Future<Output = Self> {
        let main = Arbiter::current();
        let (managed, scheduling, k) = (config.mode.is_managed(), config.scheduling, config.arbiters());
        let cores = (managed && scheduling == Scheduling::Isolated)
            .then(|| pinning::plan(config.pin_threads, k))
            .flatten();
        let threads = match (managed, scheduling) {
            (true, Scheduling::Isolated) => k,
            (true, Scheduling::Shared) => k - 1,
            (false, _) => 0,
        };
        let started = start_arbiters(threads);
        async move {
            let spawned = started.await;
            match (managed, scheduling) {
                (true, Scheduling::Isolated) => {
                    let handlers: Vec<ArbiterHandle> = spawned.iter().map(Arbiter::handle).collect();
                    // I/O thread i and handler thread i on CPU i, when the CPUs are the process's own.
                    if let Some(cores) = &cores {
                        for (thread, &core) in std::iter::once(&main)
                            .chain(&handlers)
                            .zip(std::iter::once(&cores[0]).chain(cores))
                        {
                            thread.spawn_fn(move || pinning::pin_current(core));
                        }
                    }
                    Self {
                        io: vec![main],
                        handlers,
                        colocated: false,
                        cores,
                        io_wanted: k,
                        batch: false,
                        spawned,
                    }
                }
                (true, Scheduling::Shared) => {
                    let all: Vec<ArbiterHandle> = std::iter::once(main)
                        .chain(spawned.iter().map(Arbiter::handle))
                        .collect();
                    Self {
                        io_wanted: all.len(),
                        io: all.clone(),
                        handlers: all,
                        colocated: true,
                        cores: None,
                        batch: false,
                        spawned,
                    }
                }
                (false, _) => Self {
                    io: vec![main.clone()],
                    handlers: vec![main],
                    colocated: true,
                    cores: None,
                    io_wanted: 1,
                    batch: false,
                    spawned,
                },
            }
        }
    }

    /// Starts the I/O arbiters [`build`](Self::build) left for later (pinned as planned), and
    /// gives each its awc client and metrics window.
    pub(crate) fn add_io_threads(&mut self, endpoint: &Endpoint) {
        while self.io.len() < self.io_wanted {
            let arbiter = Arbiter::new();
            let handle = arbiter.handle();
            if let Some(&core) = self.cores.as_ref().and_then(|c| c.get(self.io.len())) {
                handle.spawn_fn(move || pinning::pin_current(core));
            }
            let endpoint = endpoint.clone();
            handle.spawn_fn(move || install_local(&endpoint));
            self.io.push(handle);
            self.spawned.push(arbiter);
        }
    }

    /// I/O arbiter *i* and handler arbiter *i* are pinned to one CPU.
    pub(crate) fn pinned(&self) -> bool {
        self.cores.is_some()
    }

    /// Every arbiter once (for the metrics).
    pub(crate) fn all(&self) -> Vec<ArbiterHandle> {
        let mut all = self.io.clone();
        if !self.colocated {
            all.extend(self.handlers.iter().cloned());
        }
        all
    }

    /// Stops the threads this runtime started.
    pub(crate) fn stop(&self) {
        for arbiter in &self.spawned {
            arbiter.stop();
        }
    }
}

/// Starts `n` arbiters from a thread of its own; here, if that thread cannot be started.
fn start_arbiters(n: usize) -> impl std::future::Future<Output = Vec<Arbiter>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let system = actix_rt::System::current();
    let starter = (n > 0)
        .then(|| {
            std::thread::Builder::new()
                .name("lambda-actors-start".into())
                .spawn(move || {
                    actix_rt::System::set_current(system);
                    let _ = tx.send((0..n).map(|_| Arbiter::new()).collect::<Vec<_>>());
                })
                .ok()
        })
        .flatten();
    async move {
        match starter {
            Some(_) => match rx.await {
                Ok(arbiters) => arbiters,
                // `Arbiter::new` panicked there: here it panics with the same message.
                Err(_) => (0..n).map(|_| Arbiter::new()).collect(),
            },
            None => (0..n).map(|_| Arbiter::new()).collect(),
        }
    }
}

/// Gives the calling arbiter its awc client and metrics window (once per arbiter).
pub(crate) fn install_local(endpoint: &Endpoint) {
    ArbiterLocal::install(ArbiterLocal {
        client: Rc::new(RuntimeClient::new(endpoint)),
        stats: Default::default(),
    });
}
