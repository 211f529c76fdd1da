//! The handler pool of one arbiter.
//!
//! Routing: a poller *acquires* a free handler before it parks `GET /next`, so Lambda is never
//! handed an event that has to wait for a handler. Handlers are handed out last-in first-out
//! (the warmest caches first); pollers waiting for one are served first-come first-served.
//! With the default pool size (one handler per slot) acquiring never waits. The pool lives on
//! one arbiter and is shared by the pollers there, so it needs no lock.

use crate::handler_actor::Invoke;
use actix::Recipient;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use tokio::sync::oneshot;

/// The free handler actors of one arbiter and the pollers waiting for one.
pub(crate) struct HandlerPool {
    free: RefCell<Vec<Recipient<Invoke>>>,
    waiters: RefCell<VecDeque<oneshot::Sender<Recipient<Invoke>>>>,
}

impl HandlerPool {
    pub(crate) fn new(handlers: Vec<Recipient<Invoke>>) -> Rc<Self> {
        Rc::new(Self {
            free: RefCell::new(handlers),
            waiters: RefCell::new(VecDeque::new()),
        })
    }

    /// Waits for a free handler. Dropping the future gives up the place in the queue.
    pub(crate) async fn acquire(self: &Rc<Self>) -> Lease {
        let ready = self.free.borrow_mut().pop();
        let handler = match ready {
            Some(h) => h,
            None => {
                let (tx, rx) = oneshot::channel();
                let queued = {
                    let mut waiters = self.waiters.borrow_mut();
                    waiters.push_back(tx);
                    waiters.len() as u64
                };
                crate::shared::ArbiterLocal::count(|w| w.max_pool_queue = w.max_pool_queue.max(queued));
                rx.await.expect("the pool outlives every lease and waiter")
            }
        };
        Lease {
            handler: Some(handler),
            pool: self.clone(),
        }
    }

    fn release(&self, mut handler: Recipient<Invoke>) {
        loop {
            let waiter = self.waiters.borrow_mut().pop_front();
            match waiter {
                Some(tx) => match tx.send(handler) {
                    Ok(()) => return,
                    Err(back) => handler = back,
                },
                None => {
                    self.free.borrow_mut().push(handler);
                    return;
                }
            }
        }
    }

    #[cfg(test)]
    fn free_count(&self) -> usize {
        self.free.borrow().len()
    }
}

/// A handler taken from the pool; it goes back when the lease is dropped.
pub(crate) struct Lease {
    handler: Option<Recipient<Invoke>>,
    pool: Rc<HandlerPool>,
}

impl Lease {
    pub(crate) fn handler(&self) -> &Recipient<Invoke> {
        self.handler.as_ref().expect("a lease holds its handler until dropped")
    }

    /// Swaps in a fresh handler actor (the old one is gone).
    pub(crate) fn replace(&mut self, handler: Recipient<Invoke>) {
        self.handler = Some(handler);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(h) = self.handler.take() {
            self.pool.release(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler_actor::{Invoked, Outcome};
    use actix::prelude::*;

    struct Dummy;
    impl Actor for Dummy {
        type Context = Context<Self>;
    }
    impl Handler<Invoke> for Dummy {
        type Result = MessageResult<Invoke>;
        fn handle(&mut self, _: Invoke, _: &mut Self::Context) -> Self::Result {
            MessageResult(Invoked {
                outcome: Outcome::TimedOut,
                handler_time: std::time::Duration::ZERO,
            })
        }
    }

    #[actix_rt::test]
    async fn waiters_get_released_handlers_in_order_and_cancelled_waiters_are_skipped() {
        let pool = HandlerPool::new(vec![Dummy.start().recipient()]);
        let first = pool.acquire().await;
        let cancelled = {
            let p = pool.clone();
            actix_rt::spawn(async move { p.acquire().await })
        };
        let second = {
            let p = pool.clone();
            actix_rt::spawn(async move { p.acquire().await })
        };
        actix_rt::task::yield_now().await;
        cancelled.abort();
        actix_rt::task::yield_now().await;
        drop(first);
        let lease = second.await.unwrap();
        assert_eq!(pool.free_count(), 0);
        drop(lease);
        assert_eq!(pool.free_count(), 1);
    }
}
