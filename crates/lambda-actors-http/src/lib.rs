//! HTTP for [lambda-actors](lambda_actors): write a handler of `http::Request<Body>` →
//! `http::Response<Body>` and serve it behind API Gateway (REST and HTTP APIs), an Application
//! Load Balancer or a Lambda Function URL — or stream the response (Function URLs,
//! API Gateway REST response streaming).
//!
//! The event is decoded with [`aws_lambda_events`]; which service sent it is found by its
//! shape ([`LambdaRequest`]), and the response goes back in that service's JSON shape
//! ([`ResponseFormat::response`]), with binary bodies base64-encoded. Built only on the public
//! API of `lambda-actors`: [`Adapter`] is a [`lambda_actors::Handler`] and
//! [`StreamingAdapter`] a [`lambda_actors::ResponseHandler`], so everything the runtime does
//! (Managed Instances slots, one handler per slot, deadlines, logs) applies unchanged.
//!
//! ```no_run
//! use lambda_actors::{Context, Error};
//! use lambda_actors_http::{http, Body, Request, RequestExt};
//!
//! async fn hello(request: Request, _ctx: Context) -> Result<http::Response<Body>, Error> {
//!     let name = request.query_parameter("name").unwrap_or_else(|| "World".into());
//!     Ok(http::Response::builder()
//!         .status(200)
//!         .header("content-type", "text/plain")
//!         .body(Body::from(format!("Hello {name}!")))?)
//! }
//!
//! fn main() -> Result<(), lambda_actors::RuntimeError> {
//!     lambda_actors_http::run_fn(hello)
//! }
//! ```
//!
//! Streaming:
//!
//! ```no_run
//! use lambda_actors::{Context, Error, Runtime};
//! use lambda_actors_http::{http, HttpResponseWriter, HttpRuntime, Request, StreamingHttpHandler};
//!
//! struct Teapot;
//!
//! impl StreamingHttpHandler for Teapot {
//!     type Error = Error;
//!     async fn handle(&mut self, _req: Request, _ctx: Context, out: HttpResponseWriter) -> Result<(), Error> {
//!         let head = http::Response::builder().status(418).header("content-type", "text/plain").body(())?;
//!         let mut body = out.start(head).await?;
//!         body.write("short and stout\n").await?;
//!         body.finish().await
//!     }
//! }
//!
//! fn main() -> Result<(), lambda_actors::RuntimeError> {
//!     Runtime::new().run_http_streaming(|_| Ok(Teapot))
//! }
//! ```
#![warn(missing_docs)]

mod body;
mod handler;
mod percent;
mod request;
mod response;
mod streaming;

pub use aws_lambda_events;
pub use body::Body;
pub use handler::{Adapter, FnHttpHandler, HttpHandler};
pub use http;
pub use request::{LambdaRequest, PathParameters, RequestContext, RequestExt, RequestSource, StageVariables};
pub use response::{LambdaResponse, ResponseFormat};
pub use streaming::{http_prelude, HttpResponseWriter, StreamingAdapter, StreamingHttpHandler};

use lambda_actors::{Context, Error, RuntimeError};
use std::future::Future;

// docs/migrating.md's lambda-actors snippets compile as doctests (the lambda_runtime and Swift
// ones it compares them with are marked `ignore`).
#[cfg(doctest)]
#[doc = include_str!("../../../docs/migrating.md")]
struct MigratingDoc;

/// An HTTP request as the handler gets it.
pub type Request = http::Request<Body>;

/// Runs an [`HttpHandler`]; `factory` builds one per slot. Configuration comes from the
/// environment, as for [`lambda_actors::run`]; a shortcut for `Runtime::new().run_http(...)`
/// ([`HttpRuntime`]).
///
/// ```no_run
/// use lambda_actors::{Context, Error};
/// use lambda_actors_http::{http, Body, HttpHandler, Request};
///
/// struct Ok200;
/// impl HttpHandler for Ok200 {
///     type Error = Error;
///     async fn handle(&mut self, _req: Request, _ctx: Context) -> Result<http::Response<Body>, Error> {
///         Ok(http::Response::new(Body::from("ok")))
///     }
/// }
///
/// fn main() -> Result<(), lambda_actors::RuntimeError> {
///     lambda_actors_http::run(|| Ok(Ok200))
/// }
/// ```
pub fn run<H, F>(factory: F) -> Result<(), RuntimeError>
where
    H: HttpHandler,
    F: Fn() -> Result<H, Error> + Send + Sync + 'static,
{
    lambda_actors::Runtime::new().run_http(move |_| factory())
}

/// Runs a closure `(Request, Context) -> Result<http::Response<B>, E>` (`B` anything that
/// converts into a [`Body`], `E` any error type: see [`lambda_actors::IntoError`]) as the
/// handler of every slot; a shortcut for `Runtime::new().run_http_fn(f)` ([`HttpRuntime`]).
pub fn run_fn<F, Fut, B, Er>(f: F) -> Result<(), RuntimeError>
where
    F: Fn(Request, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<http::Response<B>, Er>> + 'static,
    B: Into<Body> + 'static,
    Er: lambda_actors::IntoError + 'static,
{
    lambda_actors::Runtime::new().run_http_fn(f)
}

/// The HTTP entry points on [`lambda_actors::Runtime`], the way in for everything beyond the two
/// shortcuts [`run`] and [`run_fn`] (shared init state, an explicit config, streaming):
///
/// ```no_run
/// use lambda_actors::{Context, Error, Runtime};
/// use lambda_actors_http::{http, Body, HttpRuntime, Request};
///
/// async fn hello(_request: Request, _ctx: Context) -> Result<http::Response<Body>, Error> {
///     Ok(http::Response::new(Body::from("hello")))
/// }
///
/// fn main() -> Result<(), lambda_actors::RuntimeError> {
///     Runtime::new().run_http_fn(hello)
/// }
/// ```
pub trait HttpRuntime<S> {
    /// Runs an [`HttpHandler`]; `factory` builds one per slot, with the init state.
    fn run_http<H, F>(self, factory: F) -> Result<(), RuntimeError>
    where
        H: HttpHandler,
        F: Fn(std::sync::Arc<S>) -> Result<H, Error> + Send + Sync + 'static;

    /// Runs a closure or `async fn` of `(Request, Context)` as the handler of every slot.
    fn run_http_fn<F, Fut, B, Er>(self, f: F) -> Result<(), RuntimeError>
    where
        F: Fn(Request, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<http::Response<B>, Er>> + 'static,
        B: Into<Body> + 'static,
        Er: lambda_actors::IntoError + 'static;

    /// Runs a [`StreamingHttpHandler`]; `factory` builds one per slot, with the init state.
    fn run_http_streaming<H, F>(self, factory: F) -> Result<(), RuntimeError>
    where
        H: StreamingHttpHandler,
        F: Fn(std::sync::Arc<S>) -> Result<H, Error> + Send + Sync + 'static;
}

impl<S: Send + Sync + 'static> HttpRuntime<S> for lambda_actors::Runtime<S> {
    fn run_http<H, F>(self, factory: F) -> Result<(), RuntimeError>
    where
        H: HttpHandler,
        F: Fn(std::sync::Arc<S>) -> Result<H, Error> + Send + Sync + 'static,
    {
        self.run(move |s| factory(s).map(Adapter::new))
    }

    fn run_http_fn<F, Fut, B, Er>(self, f: F) -> Result<(), RuntimeError>
    where
        F: Fn(Request, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<http::Response<B>, Er>> + 'static,
        B: Into<Body> + 'static,
        Er: lambda_actors::IntoError + 'static,
    {
        let handler = Adapter::new(FnHttpHandler::new(f));
        self.run(move |_| Ok(handler.clone()))
    }

    fn run_http_streaming<H, F>(self, factory: F) -> Result<(), RuntimeError>
    where
        H: StreamingHttpHandler,
        F: Fn(std::sync::Arc<S>) -> Result<H, Error> + Send + Sync + 'static,
    {
        self.run_response_handler(move |s| factory(s).map(StreamingAdapter::new))
    }
}
