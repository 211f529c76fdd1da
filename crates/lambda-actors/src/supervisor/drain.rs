//! The drain, as messages: SIGTERM (or `SHUTDOWN`, or a `RuntimeHandle`) → the supervisor
//! sends [`StopPolling`] to every poller → each says when no event can arrive at its slot any
//! more, then when its last invocation has its answer → [`RunShutdownHook`] to every worker once
//! no event can arrive (each runs its hook after its own last invocation) → the runtime's
//! hooks → exit. Spawned work reports its end the same way (`SpawnedWork`). At the window's
//! end, [`EndOfWindow`] to the pollers still busy: they answer what they hold
//! `Runtime.Shutdown`. Nothing here sleeps and looks again: every wait is for a reply, bounded
//! by the window.
//!
//! [`RunShutdownHook`]: crate::pool::worker::RunShutdownHook

use super::{ShutdownHook, Supervisor};
use crate::internal_extension::StopExtension;
use crate::panic::CatchUnwind;
use crate::poller::{EndOfWindow, StopPolling};
use crate::shared::SpawnedWork;
use actix::prelude::*;
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Notify};

/// How long, after the shutdown window, the answers to invocations cut short may take
/// before the process exits anyway.
const CUT_ANSWERS: Duration = Duration::from_millis(50);

/// How long past the window a handler's hook, abandoned at the window's end on its own
/// thread, has to log that and say it is done.
const HOOK_REPORT: Duration = Duration::from_millis(20);

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
    pub(super) fn drain(&mut self, why: &str, ctx: &mut Context<Self>) {
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
        let (pollers, extension) = match self.running.as_mut() {
            Some(running) => (running.pollers.clone(), running.extension.take()),
            None => (Vec::new(), None),
        };
        for poller in &pollers {
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
        if let Some(extension) = extension {
            extension.do_send(StopExtension);
        }
        let (arrivals, slots) = (Countdown::of(arrivals), Countdown::of(drained));
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
