//! Which CPU each thread of the isolated layout runs on (`LAMBDA_ACTORS_PIN_THREADS`).
//!
//! Isolated scheduling hands every invocation from an I/O thread to a handler thread and its
//! answer back. When the kernel places the two threads on different CPUs, each hand-off wakes
//! the other CPU — on a virtual machine (Lambda's microVMs included) an inter-processor
//! interrupt and often a halted vCPU to resume, the dearest part of an invocation. Pinning I/O
//! thread *i* and handler thread *i* to CPU *i*, with the router preferring handler thread *i*
//! for I/O thread *i*'s events (`Affinity::Near`), keeps both hand-offs on one CPU. A hog on
//! handler thread *i* does not hold up I/O thread *i*: the kernel's fair scheduler runs a
//! thread that wakes after sleeping ahead of one that has been spinning, and the router sends
//! the events it reads to the other CPUs meanwhile.
//!
//! Off unless asked for: Linux gives a new thread the affinity of the thread that starts it, so
//! a thread pool started from handler code (rayon's global pool on first use, say) and tokio's
//! blocking pool (`spawn_blocking`, `BlockingHandler`) would be held to that handler thread's
//! one CPU — a slowdown nothing would report. Worth it for handlers that start no threads and
//! do microseconds of work each: 3–13 % of the CPU per invocation (docs/benchmarks.md).

use crate::config::ThreadPinning;
use core_affinity::CoreId;

/// The CPU of each of `k` thread pairs, or `None` to leave placement to the kernel.
pub(crate) fn plan(pinning: ThreadPinning, k: usize) -> Option<Vec<CoreId>> {
    if pinning == ThreadPinning::Never {
        return None;
    }
    let cores = core_affinity::get_core_ids()?;
    pins(pinning, cores.len(), k).then(|| (0..k).map(|i| cores[i % cores.len()]).collect())
}

/// Whether to pin `k` thread pairs when the process may run on `allowed` CPUs.
fn pins(pinning: ThreadPinning, allowed: usize, k: usize) -> bool {
    match pinning {
        ThreadPinning::Never => false,
        ThreadPinning::Always => allowed > 0,
        // Only when the CPUs are the process's own, and there are two or more to keep apart.
        ThreadPinning::Auto => k >= 2 && allowed == k,
    }
}

/// Pins the calling thread. A refusal (a seccomp filter, say) leaves it where the kernel puts
/// it, which is correct, only dearer: nothing to report beyond the start-up line's plan.
pub(crate) fn pin_current(core: CoreId) {
    let _ = core_affinity::set_for_current(core);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_pins_only_when_the_process_owns_exactly_its_cpus() {
        assert!(pins(ThreadPinning::Auto, 2, 2), "a 2-vCPU microVM");
        assert!(
            !pins(ThreadPinning::Auto, 64, 2),
            "a quota-limited container on a 64-CPU host"
        );
        assert!(!pins(ThreadPinning::Auto, 1, 1), "one CPU: nothing to keep apart");
        assert!(
            !pins(ThreadPinning::Auto, 4, 2),
            "LAMBDA_ACTORS_WORKER_THREADS below the CPUs"
        );
    }

    #[test]
    fn a_switch_overrides_auto() {
        assert!(pins(ThreadPinning::Always, 64, 2));
        assert!(!pins(ThreadPinning::Always, 0, 2), "no CPU list to pin to");
        assert!(!pins(ThreadPinning::Never, 2, 2));
    }
}
