//! tower (feature `tower`): run any `tower::Service` of [`Invocation`] as the handler, so the
//! layers you already use (timeout, tracing, retry, load-shed) compose; and see a [`Handler`]
//! as a `Service`, to drive it in tests or wrap it in layers.
//!
//! ```no_run
//! use lambda_actors::tower::Invocation;
//! use lambda_actors::{Error, Runtime};
//!
//! fn main() -> Result<(), lambda_actors::RuntimeError> {
//!     Runtime::new().run_service(|_| {
//!         // One service per slot: layers need neither `Clone` nor `Send` here.
//!         Ok(tower::ServiceBuilder::new()
//!             .timeout(std::time::Duration::from_secs(2))
//!             .service_fn(|inv: Invocation<serde_json::Value>| async move {
//!                 Ok::<_, Error>(inv.event)
//!             }))
//!     })
//! }
//! ```

use crate::{Context, Error, Handler, IntoError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use tower_service::Service;

/// One invocation, as a tower `Service` gets it: the decoded event and its [`Context`].
#[derive(Debug, Clone)]
pub struct Invocation<E> {
    /// The event, decoded from JSON.
    pub event: E,
    /// The invocation's context.
    pub ctx: Context,
}

/// A tower `Service` of [`Invocation`] as a [`Handler`]: `poll_ready`, then `call`.
pub(crate) struct ServiceHandler<Svc, E>(pub(crate) Svc, pub(crate) PhantomData<fn(E)>);

impl<Svc, E> Handler for ServiceHandler<Svc, E>
where
    Svc: Service<Invocation<E>> + 'static,
    Svc::Response: Serialize,
    Svc::Error: IntoError,
    E: DeserializeOwned + 'static,
{
    type Event = E;
    type Output = Svc::Response;
    type Error = Error;

    async fn handle(&mut self, event: E, ctx: Context) -> Result<Svc::Response, Error> {
        poll_fn(|cx| self.0.poll_ready(cx))
            .await
            .map_err(IntoError::into_error)?;
        self.0
            .call(Invocation { event, ctx })
            .await
            .map_err(IntoError::into_error)
    }
}

/// A [`Handler`] as a tower `Service` of [`Invocation`]: drive it with `tower::ServiceExt`
/// in a test, or wrap it in layers. Calls run one at a time, as the runtime runs them (a call
/// made while one is running waits for it).
pub struct HandlerService<H> {
    handler: Rc<RefCell<Option<H>>>,
}

impl<H> std::fmt::Debug for HandlerService<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandlerService")
    }
}

impl<H> Clone for HandlerService<H> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
        }
    }
}

impl<H: Handler> HandlerService<H> {
    /// Wraps a handler.
    pub fn new(handler: H) -> Self {
        Self {
            handler: Rc::new(RefCell::new(Some(handler))),
        }
    }
}

impl<H: Handler> Service<Invocation<H::Event>> for HandlerService<H> {
    type Response = H::Output;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<H::Output, Error>>>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, inv: Invocation<H::Event>) -> Self::Future {
        let slot = self.handler.clone();
        Box::pin(async move {
            // Take the handler out for the call (one call at a time), put it back after.
            let mut handler = loop {
                if let Some(h) = slot.borrow_mut().take() {
                    break h;
                }
                tokio::task::yield_now().await;
            };
            let result = handler.handle(inv.event, inv.ctx).await;
            *slot.borrow_mut() = Some(handler);
            result.map_err(IntoError::into_error)
        })
    }
}

impl<S: Send + Sync + 'static> crate::Runtime<S> {
    /// Runs a tower `Service` of [`Invocation<E>`] as the handler; `factory` builds one per
    /// slot, on the slot's thread, so neither the service nor its futures need `Send`,
    /// `Sync` or `Clone`. Its response is encoded as JSON; its error may be any
    /// [`IntoError`] (tower's `BoxError` included).
    pub fn run_service<Svc, E, F>(self, factory: F) -> Result<(), crate::RuntimeError>
    where
        Svc: Service<Invocation<E>> + 'static,
        Svc::Response: Serialize,
        Svc::Error: IntoError,
        E: DeserializeOwned + 'static,
        F: Fn(std::sync::Arc<S>) -> Result<Svc, Error> + Send + Sync + 'static,
    {
        self.run(move |s| factory(s).map(|svc| ServiceHandler(svc, PhantomData)))
    }
}
