//! Streamed HTTP responses over the HTTP-integration prelude (Function URLs in
//! `RESPONSE_STREAM` invoke mode, API Gateway REST APIs with response streaming).

use crate::request::{LambdaRequest, RequestSource};
use crate::{Body, Request};
use http::header::SET_COOKIE;
use lambda_actors::stream::HttpPrelude;
use lambda_actors::{Context, Error, ResponseHandler, ResponseStream, ResponseWriter};
use std::future::Future;

/// A handler of HTTP requests whose response is streamed: it gets the request and an
/// [`HttpResponseWriter`], sends the response head (status, headers, cookies) with
/// [`HttpResponseWriter::start`], then writes the body chunk by chunk to the
/// [`ResponseStream`] that returns.
///
/// For Function URLs with `InvokeMode: RESPONSE_STREAM` and API Gateway REST APIs with
/// response streaming. ALB and HTTP APIs do not stream: use [`HttpHandler`](crate::HttpHandler) for them.
///
/// ```
/// use lambda_actors::{Context, Error};
/// use lambda_actors_http::{http, HttpResponseWriter, Request, StreamingHttpHandler};
///
/// struct Countdown;
///
/// impl StreamingHttpHandler for Countdown {
///     type Error = Error;
///     async fn handle(&mut self, _request: Request, _ctx: Context, response: HttpResponseWriter) -> Result<(), Error> {
///         let head = http::Response::builder().status(200).header("content-type", "text/plain").body(())?;
///         let mut body = response.start(head).await?; // the caller has the status and headers now
///         for n in (1..=3).rev() {
///             body.write(format!("{n}...\n")).await?; // one chunk, sent now
///         }
///         body.finish().await
///     }
/// }
/// ```
pub trait StreamingHttpHandler: 'static {
    /// The error (see [`lambda_actors::IntoError`]).
    type Error: lambda_actors::IntoError;
    /// Handles one request; answers through `response`.
    fn handle(
        &mut self,
        request: Request,
        ctx: Context,
        response: HttpResponseWriter,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// Runs once at shutdown, after this handler's last request, on its slot's thread, within
    /// the shutdown window: see [`lambda_actors::Handler::shutdown`]. Default: nothing.
    fn shutdown(&mut self) -> impl Future<Output = ()> {
        std::future::ready(())
    }
}

/// The answer side of a streamed HTTP response.
///
/// Returning without answering gets `Runtime.NoResponse`. An error returned before
/// [`start`](Self::start) is a plain function error; after it, the stream ends with error
/// trailers and the caller keeps the status and the bytes already sent.
#[derive(Debug)]
pub struct HttpResponseWriter {
    out: ResponseWriter,
    source: RequestSource,
}

impl HttpResponseWriter {
    /// The service that sent the request.
    pub fn source(&self) -> RequestSource {
        self.source
    }

    /// Sends the response head now — status, headers, and each `Set-Cookie` as a cookie — as
    /// the HTTP-integration prelude, and returns the stream to write the body to.
    pub async fn start(self, head: http::Response<()>) -> Result<ResponseStream, Error> {
        let mut stream = self.out.stream();
        stream.http_response(http_prelude(&head)).await?;
        Ok(stream)
    }

    /// Sends a whole response: the head, the body as one chunk, the end.
    pub async fn send(self, response: http::Response<Body>) -> Result<(), Error> {
        let (parts, body) = response.into_parts();
        let mut stream = self.start(http::Response::from_parts(parts, ())).await?;
        stream.write(body.into_bytes()).await?;
        stream.finish().await
    }

    /// The runtime's writer, to answer another way (a plain JSON response, a raw stream).
    pub fn into_inner(self) -> ResponseWriter {
        self.out
    }
}

/// The HTTP-integration prelude of a response head: its status, its headers (values that are
/// not UTF-8 are converted lossily) and its `Set-Cookie` values as cookies.
///
/// ```
/// use lambda_actors_http::{http, http_prelude};
///
/// let head = http::Response::builder()
///     .status(418)
///     .header("content-type", "text/plain")
///     .header("set-cookie", "flavour=earl-grey")
///     .body(())
///     .unwrap();
/// let prelude = http_prelude(&head);
/// assert_eq!(prelude.status_code, 418);
/// assert_eq!(prelude.headers, vec![("content-type".to_string(), "text/plain".to_string())]);
/// assert_eq!(prelude.cookies, vec!["flavour=earl-grey".to_string()]);
/// ```
pub fn http_prelude<B>(response: &http::Response<B>) -> HttpPrelude {
    let mut prelude = HttpPrelude::new(response.status().as_u16());
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == SET_COOKIE {
            prelude.cookies.push(value);
        } else {
            prelude.headers.push((name.as_str().to_owned(), value));
        }
    }
    prelude
}

/// Runs a [`StreamingHttpHandler`] as a [`lambda_actors::ResponseHandler`].
///
/// ```no_run
/// # use lambda_actors::{Context, Error};
/// # use lambda_actors_http::{HttpResponseWriter, Request, StreamingHttpHandler};
/// # struct Countdown;
/// # impl StreamingHttpHandler for Countdown {
/// #     type Error = Error;
/// #     async fn handle(&mut self, _r: Request, _c: Context, _w: HttpResponseWriter) -> Result<(), Error> { Ok(()) }
/// # }
/// use lambda_actors_http::StreamingAdapter;
///
/// fn main() -> Result<(), lambda_actors::RuntimeError> {
///     lambda_actors::Runtime::new().run_response_handler(|_| Ok(StreamingAdapter::new(Countdown)))
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct StreamingAdapter<H> {
    handler: H,
}

impl<H> StreamingAdapter<H> {
    /// Wraps a handler.
    pub fn new(handler: H) -> Self {
        Self { handler }
    }

    /// Unwraps the handler.
    pub fn into_inner(self) -> H {
        self.handler
    }
}

impl<H: StreamingHttpHandler> ResponseHandler for StreamingAdapter<H> {
    type Event = LambdaRequest;
    type Error = Error;

    async fn handle(&mut self, event: LambdaRequest, ctx: Context, response: ResponseWriter) -> Result<(), Error> {
        let (request, format) = event.into_http()?;
        let writer = HttpResponseWriter {
            out: response,
            source: format.source(),
        };
        self.handler
            .handle(request, ctx, writer)
            .await
            .map_err(lambda_actors::IntoError::into_error)
    }

    fn shutdown(&mut self) -> impl Future<Output = ()> {
        self.handler.shutdown()
    }
}
