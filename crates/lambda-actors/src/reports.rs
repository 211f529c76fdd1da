//! What the supervisor's children tell it, as messages, and [`Reports`], the addresses they
//! tell it through. Kept apart from the supervisor so that a poller or the internal extension
//! reports upwards without depending on the supervisor's module (no import cycle): the
//! supervisor handles each of these (`src/supervisor/mod.rs`).

use crate::RuntimeError;
use actix::prelude::*;

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

/// Where a poller sends its reports (the internal extension holds a `Recipient<Shutdown>`): the supervisor, seen only through the messages it takes.
#[derive(Clone)]
pub(crate) struct Reports {
    pub(crate) fatal: Recipient<Fatal>,
    pub(crate) died: Recipient<PollerDied>,
    pub(crate) summary_wanted: Recipient<SummaryWanted>,
}

impl Reports {
    /// The reports of an actor that handles them all.
    pub(crate) fn to<A>(actor: &Addr<A>) -> Self
    where
        A: Actor + Handler<Fatal> + Handler<PollerDied> + Handler<SummaryWanted>,
        A::Context: actix::dev::ToEnvelope<A, Fatal>
            + actix::dev::ToEnvelope<A, PollerDied>
            + actix::dev::ToEnvelope<A, SummaryWanted>,
    {
        Self {
            fatal: actor.clone().recipient(),
            died: actor.clone().recipient(),
            summary_wanted: actor.clone().recipient(),
        }
    }
}
