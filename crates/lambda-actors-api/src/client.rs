//! The Runtime API client over awc: `GET /next`, `POST /response`, `/error`, `/init/error`.
//! The three calls of every invocation run on owned connections through awc's HTTP/1 codec
//! (`conn.rs`); the rest through `awc::Client`.

use crate::conn::{BodyError, Connections, Reply};
use crate::{headers, ApiError, Endpoint, ErrorBody, InvocationMeta};
use actix_http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use actix_http::Method;
use awc::error::SendRequestError;
use bytes::Bytes;
use std::rc::Rc;
use std::time::Duration;

/// Largest event body read from `/next`. Lambda's synchronous limit is 6 MB; reading more
/// than that still lets the runtime answer an oversized event instead of losing it.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// Largest buffered response Lambda accepts: 6 MiB + 100 bytes.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024 + 100;

const INVOCATION_ID: HeaderName = HeaderName::from_static(headers::INVOCATION_ID);
const EXTENSION_IDENTIFIER: HeaderName = HeaderName::from_static(headers::EXTENSION_IDENTIFIER);
const EXTENSION_NAME: HeaderName = HeaderName::from_static(headers::EXTENSION_NAME);
const FUNCTION_ERROR_TYPE: HeaderName = HeaderName::from_static(headers::FUNCTION_ERROR_TYPE);
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Replies to answers are tiny JSON documents; anything bigger is cut here.
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// One event from `GET /next`.
#[derive(Debug)]
pub struct NextEvent {
    /// What the headers said.
    pub meta: InvocationMeta,
    /// The event bytes.
    pub body: Bytes,
}

/// A Runtime API client. It holds an [`awc::Client`], which is `!Send`: make one per thread.
///
/// The settings are the ones the Runtime API needs: no request timeout (the `/next` long poll
/// may last hours), no connection limit (every slot parks one `/next`), a body limit above
/// Lambda's, and every reply body read to the end so the keep-alive connection stays usable.
pub struct RuntimeClient {
    http: awc::Client,
    endpoint: Endpoint,
    /// `GET /next`, `POST /response` and `POST /error`, on this thread's owned connections.
    conns: Rc<Connections>,
    next_path: String,
}

impl std::fmt::Debug for RuntimeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeClient")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl RuntimeClient {
    /// A client for `endpoint`.
    pub fn new(endpoint: &Endpoint) -> Self {
        let connector = awc::Connector::new()
            .limit(0)
            .timeout(Duration::from_secs(2))
            .conn_keep_alive(Duration::from_secs(60))
            .conn_lifetime(Duration::from_secs(3600));
        let http = awc::Client::builder()
            .disable_timeout()
            .disable_redirects()
            .no_default_headers()
            .add_default_header(("user-agent", headers::USER_AGENT))
            .connector(connector)
            .finish();
        Self {
            http,
            conns: Rc::new(Connections::new(endpoint.authority(), headers::USER_AGENT)),
            next_path: endpoint.next_path(),
            endpoint: endpoint.clone(),
        }
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// `GET /runtime/invocation/next`: waits, with no timeout, for the next event.
    pub async fn next(&self) -> Result<NextEvent, ApiError> {
        self.next_head().await?.read().await
    }

    /// The first half of [`next`](Self::next): waits for the reply head. Once it is here the
    /// event counts as delivered (its request id went out), so a caller that stops waiting for
    /// events must still [`read`](NextReply::read) it and answer it.
    pub async fn next_head(&self) -> Result<NextReply, ApiError> {
        let reply = self.conns.send(Method::GET, &self.next_path, &[], None).await?;
        Ok(NextReply {
            reply,
            conns: self.conns.clone(),
        })
    }

    /// `POST /extension/register` (Extensions API): registers an extension named `name` for
    /// `events` (`INVOKE`, `SHUTDOWN`, or none). Returns the `Lambda-Extension-Identifier` the
    /// other Extensions API calls must carry.
    pub async fn register_extension(&self, name: &str, events: &[&str]) -> Result<String, ApiError> {
        // On an owned connection, as `/next`: the runtime's internal extension registers before
        // the first `/next`, and through `awc::Client` its pool and codec set-up were the
        // longest step of start-up in Managed Instances mode.
        let body = serde_json::json!({ "events": events }).to_string();
        let url = self.endpoint.extension_register_url();
        let headers = [
            (EXTENSION_NAME, header_value(headers::EXTENSION_NAME, name)?),
            (CONTENT_TYPE, APPLICATION_JSON),
        ];
        let reply = self
            .conns
            .send(Method::POST, path_of(&url), &headers, Some(Bytes::from(body)))
            .await?;
        let code = reply.head.status.as_u16();
        let id = reply.head.headers.get(headers::EXTENSION_IDENTIFIER).cloned();
        let body = self.conns.read_body(reply, MAX_REPLY_BYTES).await.unwrap_or_default();
        if !(200..300).contains(&code) {
            return Err(ApiError::from_status(code, &body));
        }
        match id.as_ref().map(|v| v.to_str()) {
            Some(Ok(id)) if !id.is_empty() => Ok(id.to_owned()),
            Some(_) => Err(ApiError::unsent(format_args!(
                "the registration reply's {} header is empty or not text",
                headers::EXTENSION_IDENTIFIER
            ))),
            None => Err(ApiError::unsent(format_args!(
                "the registration reply has no {} header",
                headers::EXTENSION_IDENTIFIER
            ))),
        }
    }

    /// `POST /extension/init/error` or `/extension/exit/error` (Extensions API), for the
    /// extension `id`: `exit` picks which. The `Lambda-Extension-Function-Error-Type` header is
    /// the error's type as `Extension.X` (kept as is when it already has a category).
    pub async fn extension_error(&self, id: &str, exit: bool, error: &ErrorBody) -> Result<(), ApiError> {
        let header = if error.error_type.contains('.') {
            error.error_type.clone()
        } else {
            format!("Extension.{}", error.error_type)
        };
        let url = if exit {
            self.endpoint.extension_exit_error_url()
        } else {
            self.endpoint.extension_init_error_url()
        };
        let req = self
            .http
            .post(url)
            .insert_header((headers::EXTENSION_IDENTIFIER, id))
            .insert_header(("content-type", "application/json"))
            .insert_header((headers::EXTENSION_ERROR_TYPE, header));
        read_reply(req.send_body(error.to_json()).await).await
    }

    /// `PUT /2022-07-01/telemetry` (Telemetry API): subscribes the extension `id`.
    pub async fn subscribe_telemetry(
        &self,
        id: &str,
        subscription: &crate::TelemetrySubscription,
    ) -> Result<(), ApiError> {
        let body = serde_json::to_string(subscription).map_err(ApiError::input)?;
        let req = self
            .http
            .put(self.endpoint.telemetry_url())
            .insert_header((headers::EXTENSION_IDENTIFIER, id))
            .insert_header(("content-type", "application/json"));
        read_reply(req.send_body(body).await).await
    }

    /// `POST` of a JSON body to any URL (a telemetry listener, from an emulator); `Ok` on 2xx.
    pub async fn post_json(&self, url: &str, body: String) -> Result<(), ApiError> {
        let req = self.http.post(url).insert_header(("content-type", "application/json"));
        read_reply(req.send_body(body).await).await
    }

    /// `GET /extension/event/next` (Extensions API): waits, with no timeout, for the next
    /// lifecycle event of the extension `id`; returns its JSON body.
    pub async fn next_extension_event(&self, id: &str) -> Result<Bytes, ApiError> {
        // On an owned connection, as `/next`: through `awc::Client` a call parked for hours would
        // keep a codec whose date service wakes the thread twice a second (see `conn.rs`).
        let url = self.endpoint.extension_next_url();
        let headers = [(EXTENSION_IDENTIFIER, header_value(headers::EXTENSION_IDENTIFIER, id)?)];
        let reply = self.conns.send(Method::GET, path_of(&url), &headers, None).await?;
        let code = reply.head.status.as_u16();
        let body = self
            .conns
            .read_body(reply, MAX_REPLY_BYTES)
            .await
            .map_err(|e| match e {
                BodyError::Cut(read) => ApiError::transport(format_args!("the reply ended after {read} bytes")),
                BodyError::Bad(e) => ApiError::transport(e),
            })?;
        if (200..300).contains(&code) {
            Ok(body)
        } else {
            Err(ApiError::from_status(code, &body))
        }
    }

    /// `POST /runtime/invocation/{id}/response` with a buffered body.
    pub async fn respond(
        &self,
        request_id: &str,
        invocation_id: Option<&str>,
        content_type: &str,
        body: Bytes,
    ) -> Result<(), ApiError> {
        let mut headers = Vec::with_capacity(2);
        headers.push((CONTENT_TYPE, header_value("content-type", content_type)?));
        if let Some(id) = invocation_id {
            headers.push((INVOCATION_ID, header_value(headers::INVOCATION_ID, id)?));
        }
        let path = self.endpoint.invocation_path(request_id, "/response");
        self.answer(&path, &headers, body).await
    }

    /// `POST /runtime/invocation/{id}/error`.
    pub async fn error(
        &self,
        request_id: &str,
        invocation_id: Option<&str>,
        error: &ErrorBody,
    ) -> Result<(), ApiError> {
        let mut headers = Vec::with_capacity(3);
        headers.push((CONTENT_TYPE, APPLICATION_JSON));
        headers.push((
            FUNCTION_ERROR_TYPE,
            header_value(headers::FUNCTION_ERROR_TYPE, error.header_type().as_ref())?,
        ));
        if let Some(id) = invocation_id {
            headers.push((INVOCATION_ID, header_value(headers::INVOCATION_ID, id)?));
        }
        let path = self.endpoint.invocation_path(request_id, "/error");
        self.answer(&path, &headers, Bytes::from(error.to_json())).await
    }

    /// An answer on an owned connection: the reply's body read to the end (so the connection
    /// can be reused), 2xx or the status as an error.
    async fn answer(&self, path: &str, headers: &[(HeaderName, HeaderValue)], body: Bytes) -> Result<(), ApiError> {
        let reply = self.conns.send(Method::POST, path, headers, Some(body)).await?;
        let code = reply.head.status.as_u16();
        let body = self.conns.read_body(reply, MAX_REPLY_BYTES).await.unwrap_or_default();
        if (200..300).contains(&code) {
            Ok(())
        } else {
            Err(ApiError::from_status(code, &body))
        }
    }

    /// `POST /runtime/init/error`.
    pub async fn init_error(&self, error: &ErrorBody) -> Result<(), ApiError> {
        let req = self
            .http
            .post(self.endpoint.init_error_url())
            .insert_header(("content-type", "application/json"))
            .insert_header((headers::FUNCTION_ERROR_TYPE, error.header_type().as_ref()));
        read_reply(req.send_body(error.to_json()).await).await
    }
}

/// A `/next` reply whose head has arrived: the event is delivered, its body still to read.
pub struct NextReply {
    reply: Reply,
    conns: Rc<Connections>,
}

impl std::fmt::Debug for NextReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NextReply")
            .field("status", &self.reply.head.status)
            .finish()
    }
}

impl NextReply {
    /// Reads the body; the event, or why it cannot be had (with its request id when the
    /// headers named one, so it can still be answered).
    pub async fn read(self) -> Result<NextEvent, ApiError> {
        match self.read_unless(std::future::pending()).await? {
            EventRead::Whole(event) => Ok(event),
            // `pending()` never completes: kept total all the same.
            EventRead::Stopped(meta) => Err(ApiError::body("the read was stopped", meta)),
        }
    }

    /// [`read`](Self::read), unless `stop` completes first: then the body is given up and the
    /// invocation the headers named is returned, for its answer.
    pub async fn read_unless(self, stop: impl std::future::Future<Output = ()>) -> Result<EventRead, ApiError> {
        let Self { reply, conns } = self;
        let code = reply.head.status.as_u16();
        if !(200..300).contains(&code) {
            let body = conns.read_body(reply, MAX_REPLY_BYTES).await.unwrap_or_default();
            return Err(ApiError::from_status(code, &body));
        }
        let headers = &reply.head.headers;
        let meta = InvocationMeta::from_header_pairs(headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())));
        let body = {
            let mut body = std::pin::pin!(conns.read_body(reply, MAX_EVENT_BYTES));
            let mut stop = std::pin::pin!(stop);
            std::future::poll_fn(|cx| {
                if let std::task::Poll::Ready(body) = std::future::Future::poll(body.as_mut(), cx) {
                    return std::task::Poll::Ready(Some(body));
                }
                std::future::Future::poll(stop.as_mut(), cx).map(|()| None)
            })
            .await
        };
        let meta = meta.map_err(ApiError::headers)?;
        match body {
            Some(Ok(body)) => Ok(EventRead::Whole(NextEvent { meta, body })),
            None => Ok(EventRead::Stopped(meta)),
            // A cut event must not reach the handler as if it were whole.
            // The codec holds the body to its declared length (or chunking): it ended early.
            Some(Err(BodyError::Cut(read))) => Err(ApiError::body(
                format_args!("the body ended after {read} bytes, before the length its headers declared"),
                meta,
            )),
            Some(Err(BodyError::Bad(e))) => Err(ApiError::body(e, meta)),
        }
    }
}

/// What [`NextReply::read_unless`] got.
#[derive(Debug)]
pub enum EventRead {
    /// The whole event.
    Whole(NextEvent),
    /// Told to stop before the body arrived whole: the invocation its headers named.
    Stopped(InvocationMeta),
}

/// The path of an `http://authority/path` URL (the host never holds a `/`).
fn path_of(url: &str) -> &str {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    rest.find('/').map_or("/", |i| &rest[i..])
}

/// A header value from the caller, or why it cannot go on the wire.
fn header_value(name: &str, value: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(value).map_err(|_| {
        ApiError::input(format_args!(
            "the {name} header value {value:?} is not a valid header value"
        ))
    })
}

type SendResult = Result<awc::ClientResponse, SendRequestError>;

async fn read_reply(sent: SendResult) -> Result<(), ApiError> {
    let mut resp = sent.map_err(send_error)?;
    let code = resp.status().as_u16();
    // Read the body even on success: an unread body poisons the pooled connection.
    let body = resp.body().limit(MAX_REPLY_BYTES).await.unwrap_or_default();
    if (200..300).contains(&code) {
        Ok(())
    } else {
        Err(ApiError::from_status(code, &body))
    }
}

fn send_error(e: SendRequestError) -> ApiError {
    match e {
        // awc's name for "closed before the reply head", not a failed connect.
        SendRequestError::Connect(awc::error::ConnectError::Disconnected) => {
            ApiError::unsent("the connection closed before the API replied")
        }
        SendRequestError::Connect(e) => ApiError::connect(e),
        // No reply came back: the connection broke while the request was written, or was
        // reset before the API replied (a pooled keep-alive connection the server had
        // already closed looks exactly like this).
        SendRequestError::Send(e) => ApiError::unsent(e),
        SendRequestError::Response(actix_http::error::ParseError::Io(e)) => ApiError::unsent(e),
        other => ApiError::transport(other),
    }
}
