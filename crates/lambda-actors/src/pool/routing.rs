//! Which handler arbiter runs an event: a pure choice over what the router can see, kept
//! apart from the pool's bookkeeping so that it can be read and tested alone.
//!
//! The rule, in order of preference:
//! 1. an arbiter with a free handler (always one: a poller holds a permit for it);
//! 2. not stalled — no handler code is holding its thread past the stall threshold;
//! 3. least busy — fewest invocations running there (so a free core is used before a
//!    thread is shared);
//! 4. the lowest index, among equals (the warm threads first).
//!
//! A stalled arbiter is chosen only when every arbiter with a free handler is stalled.

/// What the router reads of one arbiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) free_handlers: usize,
    pub(crate) stalled: bool,
    pub(crate) busy: usize,
}

/// The index of the arbiter to run the next event on; `None` when no handler is free.
pub(crate) fn choose(candidates: impl IntoIterator<Item = Candidate>) -> Option<usize> {
    candidates
        .into_iter()
        .enumerate()
        .filter(|(_, c)| c.free_handlers > 0)
        .min_by_key(|(index, c)| (c.stalled, c.busy, *index))
        .map(|(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(free_handlers: usize, stalled: bool, busy: usize) -> Candidate {
        Candidate {
            free_handlers,
            stalled,
            busy,
        }
    }

    #[test]
    fn a_free_core_is_used_before_a_thread_is_shared() {
        assert_eq!(choose([c(3, false, 1), c(4, false, 0)]), Some(1));
        assert_eq!(choose([c(3, false, 0), c(4, false, 0)]), Some(0));
    }

    #[test]
    fn a_stalled_thread_gets_nothing_while_another_has_a_free_handler() {
        // Arbiter 0 has one spinning handler; arbiter 1 already runs three quick ones.
        assert_eq!(choose([c(3, true, 1), c(1, false, 3)]), Some(1));
        assert_eq!(
            choose([c(3, true, 1), c(0, false, 4)]),
            Some(0),
            "the only free handler"
        );
    }

    #[test]
    fn no_free_handler_no_choice() {
        assert_eq!(choose([c(0, false, 0), c(0, true, 2)]), None);
        assert_eq!(choose(std::iter::empty()), None);
    }
}
