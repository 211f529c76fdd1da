//! Which handler arbiter runs an event: a pure choice over what the router can see, kept
//! apart from the pool's bookkeeping so that it can be read and tested alone.
//!
//! The rule, in order of preference:
//! 1. an arbiter with a free handler (always one: a poller holds a permit for it);
//! 2. not stalled — no handler code is holding its thread past the stall threshold;
//! 3. not running handler code for a millisecond or more this instant (a hog shows that way
//!    long before it counts as stalled);
//! 4. not about to run handler code (an event routed there and not yet taken: so two events
//!    routed at once go to two threads);
//! 5. least busy — fewest invocations running there (so a free core is used before a
//!    thread is shared);
//! 6. among equals, round-robin from a rotating start (so that two events routed at once
//!    do not land on one thread because a count was a moment stale).
//!
//! A stalled arbiter is chosen only when every arbiter with a free handler is stalled.
//!
//! Before all of that, the poller's [`Affinity`] may name one arbiter that wins:
//! - a *home* arbiter — the one the poller itself runs on, when pollers and handlers share
//!   threads — wins if it has a free handler and is not stalled: the event then runs where it
//!   was read, with no hand-off between threads;
//! - a *near* arbiter — the handler thread pinned to the poller's CPU (isolated scheduling with
//!   pinned threads) — wins if it has a free handler and is not stalled, not hogging and not
//!   about to run another event: both hand-offs then stay on one CPU (no cross-CPU wake-up),
//!   and whatever rule 3 or 4 would pass over still goes to another thread.

/// What the router reads of one arbiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) free_handlers: usize,
    pub(crate) stalled: bool,
    pub(crate) hogging: bool,
    pub(crate) starting: bool,
    pub(crate) busy: usize,
}

/// The handler arbiter a poller's events go to first, when it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Affinity {
    /// None: the rule alone decides.
    None,
    /// The arbiter the poller runs on (its thread runs handlers too).
    Home(usize),
    /// The handler arbiter on the poller's CPU.
    Near(usize),
}

impl Affinity {
    /// The preferred arbiter, if it may take the event.
    fn pick(self, c: &Candidate) -> bool {
        match self {
            Affinity::None => false,
            Affinity::Home(_) => c.free_handlers > 0 && !c.stalled,
            Affinity::Near(_) => c.free_handlers > 0 && !c.stalled && !c.hogging && !c.starting,
        }
    }

    fn index(self) -> Option<usize> {
        match self {
            Affinity::None => None,
            Affinity::Home(i) | Affinity::Near(i) => Some(i),
        }
    }
}

/// The index of the arbiter to run the next event on; `None` when no handler is free. Ties
/// go to the first at or after `first` (modulo the count).
pub(crate) fn choose<I>(candidates: I, first: usize, affinity: Affinity) -> Option<usize>
where
    I: IntoIterator<Item = Candidate>,
    I::IntoIter: ExactSizeIterator + Clone,
{
    let candidates = candidates.into_iter();
    if let Some(h) = affinity.index() {
        if candidates.clone().nth(h).is_some_and(|c| affinity.pick(&c)) {
            return Some(h);
        }
    }
    let n = candidates.len().max(1);
    candidates
        .enumerate()
        .filter(|(_, c)| c.free_handlers > 0)
        .min_by_key(|(index, c)| (c.stalled, c.hogging, c.starting, c.busy, (index + n - first % n) % n))
        .map(|(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(free_handlers: usize, stalled: bool, busy: usize) -> Candidate {
        Candidate {
            free_handlers,
            stalled,
            hogging: false,
            starting: false,
            busy,
        }
    }

    #[test]
    fn a_free_core_is_used_before_a_thread_is_shared() {
        assert_eq!(choose([c(3, false, 1), c(4, false, 0)], 0, Affinity::None), Some(1));
        assert_eq!(choose([c(3, false, 0), c(4, false, 0)], 0, Affinity::None), Some(0));
    }

    #[test]
    fn equals_take_turns() {
        let equal = [c(3, false, 1), c(3, false, 1), c(3, false, 1)];
        let picks: Vec<_> = (0..4)
            .map(|first| choose(equal, first, Affinity::None).unwrap())
            .collect();
        assert_eq!(picks, [0, 1, 2, 0]);
    }

    #[test]
    fn a_stalled_thread_gets_nothing_while_another_has_a_free_handler() {
        // Arbiter 0 has one spinning handler; arbiter 1 already runs three quick ones.
        assert_eq!(choose([c(3, true, 1), c(1, false, 3)], 0, Affinity::None), Some(1));
        let only = choose([c(3, true, 1), c(0, false, 4)], 0, Affinity::None);
        assert_eq!(only, Some(0), "the only free handler");
    }

    #[test]
    fn a_thread_running_handler_code_now_is_passed_over_before_it_counts_as_stalled() {
        let hogging = Candidate {
            hogging: true,
            ..c(3, false, 1)
        };
        assert_eq!(choose([hogging, c(3, false, 1)], 0, Affinity::None), Some(1));
        assert_eq!(choose([hogging, c(3, false, 2)], 0, Affinity::None), Some(1));
    }

    #[test]
    fn two_events_routed_at_once_go_to_two_threads() {
        // Arbiter 0 just got an event its actor has not taken; arbiter 1 is finishing one.
        let starting = Candidate {
            starting: true,
            ..c(3, false, 1)
        };
        assert_eq!(choose([starting, c(3, false, 1)], 0, Affinity::None), Some(1));
        assert_eq!(choose([starting, c(3, false, 2)], 0, Affinity::None), Some(1));
    }

    #[test]
    fn a_home_arbiter_with_a_free_handler_runs_its_own_events() {
        assert_eq!(choose([c(3, false, 0), c(3, false, 2)], 0, Affinity::Home(1)), Some(1));
        assert_eq!(
            choose([c(3, false, 0), c(0, false, 4)], 0, Affinity::Home(1)),
            Some(0),
            "no free handler at home"
        );
        assert_eq!(
            choose([c(3, false, 0), c(3, true, 1)], 0, Affinity::Home(1)),
            Some(0),
            "home is stalled"
        );
    }

    #[test]
    fn a_near_arbiter_takes_its_cpus_events_unless_it_is_hogging_or_about_to_start_one() {
        let hogging = Candidate {
            hogging: true,
            ..c(3, false, 1)
        };
        let starting = Candidate {
            starting: true,
            ..c(3, false, 1)
        };
        assert_eq!(choose([c(3, false, 0), c(3, false, 2)], 0, Affinity::Near(1)), Some(1));
        assert_eq!(
            choose([c(3, false, 0), hogging], 0, Affinity::Near(1)),
            Some(0),
            "near is hogging"
        );
        assert_eq!(
            choose([c(3, false, 2), starting], 0, Affinity::Near(1)),
            Some(0),
            "an event is on its way there"
        );
        assert_eq!(
            choose([c(3, false, 0), c(3, true, 1)], 0, Affinity::Near(1)),
            Some(0),
            "near is stalled"
        );
        assert_eq!(
            choose([c(3, false, 0), c(0, false, 4)], 0, Affinity::Near(1)),
            Some(0),
            "no free handler near"
        );
    }

    #[test]
    fn no_free_handler_no_choice() {
        assert_eq!(choose([c(0, false, 0), c(0, true, 2)], 0, Affinity::None), None);
        assert_eq!(choose(std::iter::empty(), 0, Affinity::None), None);
    }
}
