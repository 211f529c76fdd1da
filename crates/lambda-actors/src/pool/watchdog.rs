//! The stall watchdog: one thread that marks handler arbiters stalled while handler code
//! holds them past the threshold, so that the router sends new events elsewhere before the
//! stalled poll ends (the poll that ends it logs it). It runs only in Managed Instances mode.
//!
//! It reads atomics only. While any invocation runs it wakes every half threshold (at least
//! 10 ms, at most 250 ms apart); while none runs it sleeps until an idle arbiter gets an event
//! (the router [wakes](Watchdog::wake) it), so an idle environment is never woken by it.

use super::load::{now_us, ArbiterLoad};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Longest wait between two checks while invocations run.
const BUSY_TICK_MAX: Duration = Duration::from_millis(250);

/// Stops the watchdog thread when dropped.
#[derive(Debug)]
pub(crate) struct Watchdog {
    stop: Arc<AtomicBool>,
    /// The watchdog is in its long, idle wait: only then is waking it worth a system call.
    idle: Arc<AtomicBool>,
    thread: std::thread::Thread,
}

impl Watchdog {
    /// Starts watching `loads` (held weakly: the watchdog ends with the pool).
    pub(crate) fn start(loads: &[Arc<ArbiterLoad>], threshold: Duration) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let loads: Vec<Weak<ArbiterLoad>> = loads.iter().map(Arc::downgrade).collect();
        let busy_tick = (threshold / 2).clamp(Duration::from_millis(10), BUSY_TICK_MAX);
        let flag = stop.clone();
        let idle = Arc::new(AtomicBool::new(false));
        let idle_flag = idle.clone();
        let handle = std::thread::Builder::new()
            .name("lambda-actors-watchdog".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    let now = now_us();
                    let mut busy = false;
                    for load in &loads {
                        let Some(load) = load.upgrade() else { return };
                        load.check(now, threshold);
                        busy |= load.busy.load(Ordering::Relaxed) > 0;
                    }
                    if busy {
                        std::thread::park_timeout(busy_tick);
                        continue;
                    }
                    // Idle from here, then a second look: an event routed before the flag
                    // was up is seen here; one routed after it unparks the thread.
                    idle_flag.store(true, Ordering::SeqCst);
                    let routed = loads
                        .iter()
                        .any(|l| l.upgrade().is_some_and(|l| l.busy.load(Ordering::SeqCst) > 0));
                    if !routed {
                        std::thread::park();
                    }
                    idle_flag.store(false, Ordering::SeqCst);
                }
            })?;
        Ok(Self {
            stop,
            idle,
            thread: handle.thread().clone(),
        })
    }

    /// Ends an idle wait early: an idle arbiter just got an event. While the watchdog ticks
    /// anyway (something runs) this is one atomic load.
    pub(crate) fn wake(&self) {
        // Orders the router's count of the event before this look at the flag (the watchdog
        // raises the flag, then looks at the counts): one of the two sees the other.
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.idle.swap(false, Ordering::SeqCst) {
            self.thread.unpark();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.unpark();
    }
}
