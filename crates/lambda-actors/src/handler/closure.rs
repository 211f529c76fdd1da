//! Closures as handlers: [`FnHandler`] (`run_fn`), and the adapters behind `run_stream_fn`
//! (a closure that returns a [`StreamResponse`]) and `run_response_fn` (a closure that gets
//! the [`ResponseWriter`]).

use crate::handler::response::{ResponseHandler, ResponseWriter};
use crate::handler::Handler;
use crate::stream::body::StreamResponse;
use crate::{Context, Error, IntoError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

/// A closure as a [`Handler`]: see [`run_fn`](crate::run_fn).
pub struct FnHandler<F, E, O> {
    f: Arc<F>,
    _types: PhantomData<fn(E) -> O>,
}

impl<F, E, O> FnHandler<F, E, O> {
    pub(crate) fn new(f: Arc<F>) -> Self {
        Self { f, _types: PhantomData }
    }
}

impl<F, E, O> std::fmt::Debug for FnHandler<F, E, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnHandler")
    }
}

impl<F, Fut, E, O, Er> Handler for FnHandler<F, E, O>
where
    F: Fn(E, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, Er>>,
    E: DeserializeOwned + 'static,
    O: Serialize + 'static,
    Er: IntoError,
{
    type Event = E;
    type Output = O;
    type Error = Er;
    fn handle(&mut self, event: E, ctx: Context) -> impl Future<Output = Result<O, Er>> {
        (self.f)(event, ctx)
    }
}

/// A closure that returns a [`StreamResponse`], as a [`ResponseHandler`].
pub(crate) struct StreamFn<F, E>(pub(crate) Arc<F>, pub(crate) PhantomData<fn(E)>);

impl<F, Fut, E, Er> ResponseHandler for StreamFn<F, E>
where
    F: Fn(E, Context) -> Fut + 'static,
    Fut: Future<Output = Result<StreamResponse, Er>>,
    E: DeserializeOwned + 'static,
    Er: IntoError,
{
    type Event = E;
    type Error = Error;

    async fn handle(&mut self, event: E, ctx: Context, out: ResponseWriter) -> Result<(), Error> {
        let response = (self.0)(event, ctx).await.map_err(IntoError::into_error)?;
        response.send(out).await
    }
}

/// A closure that gets the [`ResponseWriter`], as a [`ResponseHandler`].
pub(crate) struct WriterFn<F, E>(pub(crate) Arc<F>, pub(crate) PhantomData<fn(E)>);

impl<F, Fut, E, Er> ResponseHandler for WriterFn<F, E>
where
    F: Fn(E, Context, ResponseWriter) -> Fut + 'static,
    Fut: Future<Output = Result<(), Er>>,
    E: DeserializeOwned + 'static,
    Er: IntoError,
{
    type Event = E;
    type Error = Er;

    fn handle(&mut self, event: E, ctx: Context, out: ResponseWriter) -> impl Future<Output = Result<(), Er>> {
        (self.0)(event, ctx, out)
    }
}
