//! The metrics summaries: every `LAMBDA_ACTORS_METRICS_INTERVAL_SECS` while there is
//! something to report. After activity, two summaries with nothing to report (they show the
//! return to idle), then the timer sleeps until an invocation wakes it ([`SummaryWanted`]): an
//! idle environment runs no timer.
//!
//! [`SummaryWanted`]: super::SummaryWanted

use super::Supervisor;
use crate::metrics::{Gauges, Summary, Window};
use crate::runtime::layout::Arbiters;
use crate::shared::ArbiterLocal;
use actix::prelude::*;
use std::time::Instant;
use tokio::sync::oneshot;

/// Summaries with nothing to report written after activity before the metrics timer sleeps.
const QUIET_SUMMARIES: u32 = 2;

/// Takes (and resets) every arbiter's metrics window, merged.
pub(super) fn collect(arbiters: &Arbiters) -> impl std::future::Future<Output = Window> {
    let windows: Vec<_> = arbiters
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

impl Supervisor {
    pub(super) fn busy_handlers(&self) -> usize {
        self.running
            .as_ref()
            .map_or(0, |r| r.pool.busy_by_arbiter().iter().sum())
    }

    pub(super) fn emit(&mut self, mut window: Window) {
        window.restarts += std::mem::take(&mut self.restarts_unreported);
        let gauges = Gauges {
            num_pollers: self.shared.config.mode.concurrency() as u64,
            num_pollers_alive: self
                .running
                .as_ref()
                .map_or(0, |r| r.pollers.iter().filter(|p| p.connected()).count())
                as u64,
            num_busy_handlers: self.busy_handlers() as u64,
            busy_by_arbiter: self
                .running
                .as_ref()
                .map_or_else(Vec::new, |r| r.pool.busy_by_arbiter()),
        };
        let interval = std::mem::replace(&mut self.last_summary, Instant::now()).elapsed();
        let config = &self.shared.config;
        Summary::new(&window, &gauges, interval).emit(config.metrics_format, config.function.name.as_deref());
    }

    /// The next summary in one interval, unless one is due already or the process is exiting.
    pub(super) fn schedule_summary(&mut self, ctx: &mut Context<Self>) {
        let Some(interval) = self.shared.config.metrics_interval else {
            return;
        };
        if self.summary_timer.is_some() || self.exiting {
            return;
        }
        self.summary_timer = Some(ctx.run_later(interval, |act, ctx| {
            act.summary_timer = None;
            let Some(running) = &act.running else { return };
            ctx.spawn(
                collect(&running.arbiters)
                    .into_actor(act)
                    .map(|window, act, ctx| act.summarise(window, ctx)),
            );
        }));
    }

    /// Writes a summary. With nothing new to report and nothing in flight for
    /// [`QUIET_SUMMARIES`] summaries in a row, the timer then sleeps until the next invocation
    /// wakes it ([`super::SummaryWanted`]).
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
}
