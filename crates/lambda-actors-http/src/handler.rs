//! Buffered HTTP handlers and their adapter to [`lambda_actors::Handler`].

use crate::request::LambdaRequest;
use crate::response::LambdaResponse;
use crate::{Body, Request};
use lambda_actors::{Context, Error, IntoError};
use std::future::Future;
use std::sync::Arc;

/// A handler of HTTP requests: `http::Request<Body>` in, `http::Response<Body>` out.
///
/// Like [`lambda_actors::Handler`], each concurrency slot owns one (built by the factory given
/// to [`run`](crate::run)), so `handle` takes `&mut self` and the handler needs neither `Sync`
/// nor `Clone`. An `Err` is a function error (API Gateway answers 502, a Function URL 502, ALB
/// 502); to answer a 4xx or 5xx yourself, return an `Ok` response with that status.
///
/// ```
/// use lambda_actors::{Context, Error};
/// use lambda_actors_http::{http, Body, HttpHandler, Request};
///
/// #[derive(Default)]
/// struct Hits { count: u64 }
///
/// impl HttpHandler for Hits {
///     type Error = Error;
///     async fn handle(&mut self, request: Request, _ctx: Context) -> Result<http::Response<Body>, Error> {
///         self.count += 1;
///         let text = format!("{} {} (hit {} of this slot)", request.method(), request.uri().path(), self.count);
///         Ok(http::Response::builder().header("content-type", "text/plain").body(text.into())?)
///     }
/// }
/// ```
pub trait HttpHandler: 'static {
    /// The error (see [`lambda_actors::IntoError`]): a `thiserror` enum, `anyhow::Error`, a
    /// boxed error, [`Error`] to choose the `errorType`...
    type Error: IntoError;
    /// Handles one request.
    fn handle(
        &mut self,
        request: Request,
        ctx: Context,
    ) -> impl Future<Output = Result<http::Response<Body>, Self::Error>>;

    /// Runs once at shutdown, after this handler's last request, on its slot's thread, within
    /// the shutdown window: see [`lambda_actors::Handler::shutdown`]. Default: nothing.
    fn shutdown(&mut self) -> impl Future<Output = ()> {
        std::future::ready(())
    }
}

/// Runs an [`HttpHandler`] as a [`lambda_actors::Handler`]: decodes the event (API Gateway
/// REST or HTTP API, ALB, Function URL), calls the handler and answers in the event's shape.
///
/// Use it with any way of running a handler, e.g. with shared initialisation:
///
/// ```no_run
/// use lambda_actors::{Context, Error, Runtime};
/// use lambda_actors_http::{http, Adapter, Body, HttpHandler, Request};
/// use std::sync::Arc;
///
/// struct Api { greeting: Arc<String> }
///
/// impl HttpHandler for Api {
///     type Error = Error;
///     async fn handle(&mut self, _request: Request, _ctx: Context) -> Result<http::Response<Body>, Error> {
///         Ok(http::Response::new(Body::from(self.greeting.as_str())))
///     }
/// }
///
/// fn main() -> Result<(), lambda_actors::RuntimeError> {
///     Runtime::new()
///         .init(|| async { Ok(String::from("hello")) })
///         // The init value arrives as an `Arc`.
///         .run(|greeting| Ok(Adapter::new(Api { greeting })))
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Adapter<H> {
    handler: H,
}

impl<H> Adapter<H> {
    /// Wraps a handler.
    pub fn new(handler: H) -> Self {
        Self { handler }
    }

    /// The wrapped handler.
    pub fn get_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// Unwraps the handler.
    pub fn into_inner(self) -> H {
        self.handler
    }
}

impl<H: HttpHandler> lambda_actors::Handler for Adapter<H> {
    type Event = LambdaRequest;
    type Output = LambdaResponse;

    type Error = Error;

    async fn handle(&mut self, event: LambdaRequest, ctx: Context) -> Result<LambdaResponse, Error> {
        let (request, format) = event.into_http()?;
        let response = self.handler.handle(request, ctx).await.map_err(IntoError::into_error)?;
        Ok(format.response(response))
    }

    fn shutdown(&mut self) -> impl Future<Output = ()> {
        self.handler.shutdown()
    }
}

/// A closure as an [`HttpHandler`]: see [`run_fn`](crate::run_fn).
pub struct FnHttpHandler<F> {
    f: Arc<F>,
}

impl<F> FnHttpHandler<F> {
    /// Wraps a closure or an `async fn` of `(Request, Context)` returning
    /// `Result<http::Response<B>, Error>`, `B` anything that converts into a [`Body`]. Clones
    /// share the closure, so one value can serve every slot:
    ///
    /// ```no_run
    /// use lambda_actors::{Context, Error};
    /// use lambda_actors_http::{http, Adapter, FnHttpHandler, Request};
    ///
    /// async fn hello(_request: Request, _ctx: Context) -> Result<http::Response<String>, Error> {
    ///     Ok(http::Response::new("hello".to_string()))
    /// }
    ///
    /// fn main() -> Result<(), lambda_actors::RuntimeError> {
    ///     let handler = Adapter::new(FnHttpHandler::new(hello));
    ///     lambda_actors::Runtime::new()
    ///         .example_event(r#"{"version": "2.0", "rawPath": "/", "requestContext": {"http": {"method": "GET"}}}"#)
    ///         .run(move |_| Ok(handler.clone()))
    /// }
    /// ```
    pub fn new(f: F) -> Self {
        Self { f: Arc::new(f) }
    }
}

impl<F> Clone for FnHttpHandler<F> {
    fn clone(&self) -> Self {
        Self { f: self.f.clone() }
    }
}

impl<F> std::fmt::Debug for FnHttpHandler<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnHttpHandler")
    }
}

impl<F, Fut, B, Er> HttpHandler for FnHttpHandler<F>
where
    F: Fn(Request, Context) -> Fut + 'static,
    Fut: Future<Output = Result<http::Response<B>, Er>>,
    B: Into<Body>,
    Er: IntoError,
{
    type Error = Er;

    async fn handle(&mut self, request: Request, ctx: Context) -> Result<http::Response<Body>, Er> {
        Ok((self.f)(request, ctx).await?.map(Into::into))
    }
}
