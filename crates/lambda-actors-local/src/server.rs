//! Binding, the accept loop, routing, and the handle the runtime keeps.

use crate::dispatch::Shared;
use crate::http::{race, Conn, Either, HttpError, Response};
use crate::invoke_api::InvokeApi;
use crate::runtime_api::{error_reply, AnswerKind};
use crate::{invoke_api, runtime_api, InitError, LocalConfig, LocalError, LocalStats, LogSink};
use actix_rt::net::{TcpListener, TcpStream};
use lambda_actors_api::API_VERSION;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a keep-alive connection may sit idle between requests. Longer than the idle time
/// of awc's pool (60 s), so the runtime's pooled connections are never closed under it.
const IDLE_KEEP_ALIVE: Duration = Duration::from_secs(600);
/// Connections open at once beyond two per slot (a parked `/next` and a streamed answer).
const SPARE_CONNECTIONS: usize = 256;

/// A running local server. Made by [`start`](crate::start).
///
/// Dropping the handle leaves the server running until the actix system stops; call
/// [`stop`](LocalServer::stop) to end it sooner.
#[derive(Debug)]
pub struct LocalServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

/// Binds the server and starts serving; the runtime then points its pollers at
/// [`LocalServer::runtime_api`].
///
/// Call it inside an actix-rt `System` (or arbiter): the accept loop and every connection run
/// as tasks of the calling arbiter. Failing to bind (a port already in use above all) is a
/// [`LocalError`] whose message names the address and says how to choose another.
pub async fn start(cfg: LocalConfig) -> Result<LocalServer, LocalError> {
    cfg.validate()?;
    let host = cfg.host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let listener = TcpListener::bind((host.as_str(), cfg.port))
        .await
        .map_err(|e| LocalError::bind(&cfg.host, cfg.port, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| LocalError::bind(&cfg.host, cfg.port, e))?;
    let shared = Arc::new(Shared::new(cfg));
    actix_rt::spawn(accept(Arc::clone(&shared), listener));
    if let Ok(own) = lambda_actors_api::Endpoint::parse(&addr.to_string()) {
        actix_rt::spawn(crate::telemetry_api::forward(Arc::clone(&shared), own));
    }
    tracing::debug!(%addr, "local Lambda server listening");
    Ok(LocalServer { shared, addr })
}

impl LocalServer {
    /// The address the server listens on (with the real port when the config said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`: `host:port` as Lambda sets it, with no path
    /// prefix, e.g. `127.0.0.1:7000`. A server listening on all interfaces is reached
    /// through loopback.
    pub fn runtime_api(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.addr.port()).to_string()
    }

    /// The URL callers invoke the function at, e.g. `http://127.0.0.1:7000/invoke`.
    pub fn invoke_url(&self) -> String {
        format!("http://{}{}", self.runtime_api(), self.shared.cfg.invocation_endpoint)
    }

    /// The URL of the AWS Invoke API path, for `aws lambda invoke --endpoint-url` and
    /// `cargo lambda invoke`: `http://127.0.0.1:7000`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.runtime_api())
    }

    /// A ready-to-paste curl command that invokes the function with `{}`.
    pub fn curl_hint(&self) -> String {
        self.curl_hint_with("{}")
    }

    /// A ready-to-paste curl command that invokes the function with `payload` (shell-quoted).
    pub fn curl_hint_with(&self, payload: &str) -> String {
        let quoted = format!("'{}'", payload.replace('\'', r"'\''"));
        format!(
            "curl -sS -X POST {} -H 'content-type: application/json' -d {quoted}",
            self.invoke_url()
        )
    }

    /// What the function posted to `/runtime/init/error`, if it did. Every queued and later
    /// invoke fails with it (200, `X-Amz-Function-Error: Unhandled`).
    pub fn init_error(&self) -> Option<InitError> {
        self.shared.init_error()
    }

    /// Slots, queue and pollers right now.
    pub fn stats(&self) -> LocalStats {
        self.shared.stats()
    }

    /// Where the embedding process sends its log lines, so that callers who ask for
    /// `X-Amz-Log-Type: Tail` get the invocation's last 4 KB of logs (lambda-actors does this
    /// by itself).
    pub fn log_sink(&self) -> LogSink {
        LogSink(Arc::clone(&self.shared))
    }

    /// What tells the registered extensions that the environment shuts down, as Lambda does
    /// when it sends the runtime SIGTERM (lambda-actors calls it when its drain starts).
    pub fn extension_shutdown(&self) -> ExtensionShutdown {
        ExtensionShutdown(Arc::clone(&self.shared))
    }

    /// The settings the server runs with.
    pub fn config(&self) -> &LocalConfig {
        &self.shared.cfg
    }

    /// Stops the server: it stops accepting, closes every connection (parked `/next`s and
    /// waiting callers included) and releases the port as soon as its tasks next run. The
    /// extensions that asked for `SHUTDOWN` are sent one first, best effort (a parked
    /// `event/next` may be closed before it is written): send it earlier with
    /// [`extension_shutdown`](Self::extension_shutdown), as lambda-actors does when its drain
    /// starts.
    pub fn stop(self) {
        self.shared.shutdown_extensions();
        self.shared.shutdown.send_replace(true);
    }
}

/// Sends `SHUTDOWN` to the extensions that registered for it: see
/// [`LocalServer::extension_shutdown`].
#[derive(Debug, Clone)]
pub struct ExtensionShutdown(Arc<Shared>);

impl ExtensionShutdown {
    /// Queues (or hands to a parked `event/next`) one `SHUTDOWN` event per extension.
    pub fn send(&self) {
        self.0.shutdown_extensions();
    }
}

/// Accepts connections until the server stops.
async fn accept(shared: Arc<Shared>, listener: TcpListener) {
    let open = Arc::new(AtomicUsize::new(0));
    let limit = shared
        .cfg
        .max_concurrency
        .saturating_mul(2)
        .saturating_add(SPARE_CONNECTIONS);
    let mut stop = shared.shutdown.subscribe();
    loop {
        let accepted = match race(listener.accept(), stop.wait_for(|stopped| *stopped)).await {
            Either::Left(accepted) => accepted,
            Either::Right(_) => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: wait instead of spinning.
                tracing::warn!("local server: accept failed: {e}");
                actix_rt::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if open.load(Ordering::SeqCst) >= limit {
            tracing::warn!("local server: {limit} connections open, refusing another");
            drop(stream);
            continue;
        }
        open.fetch_add(1, Ordering::SeqCst);
        let open = Arc::clone(&open);
        let shared = Arc::clone(&shared);
        let mut stop = shared.shutdown.subscribe();
        actix_rt::spawn(async move {
            race(serve(&shared, stream), stop.wait_for(|stopped| *stopped)).await;
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Serves the requests of one connection, one after the other.
async fn serve(shared: &Arc<Shared>, stream: TcpStream) {
    let mut conn = Conn::new(stream);
    loop {
        let head = match conn.read_head(IDLE_KEEP_ALIVE).await {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(e) => {
                let reply = match e {
                    HttpError::HeadTooLarge => error_reply(
                        431,
                        "RequestHeaderFieldsTooLarge",
                        "the request head is over 64 KiB or has over 100 headers",
                    ),
                    HttpError::Malformed(why) => error_reply(400, "BadRequest", why),
                    _ => return,
                };
                if conn.respond(&reply, false).await.is_ok() {
                    conn.linger().await;
                }
                return;
            }
        };
        let mut body = match head.body() {
            Ok(body) => body,
            Err(e) => {
                if conn
                    .respond(&error_reply(400, "BadRequest", e.to_string()), false)
                    .await
                    .is_ok()
                {
                    conn.linger().await;
                }
                return;
            }
        };
        match route(shared, &mut conn, &head, &mut body).await {
            Ok(true) if body.is_done() => {}
            Ok(_) => return conn.linger().await,
            Err(e) => {
                tracing::debug!("local server: connection ends: {e}");
                return;
            }
        }
    }
}

/// Picks the handler for a request.
async fn route(
    shared: &Arc<Shared>,
    conn: &mut Conn,
    head: &crate::http::Head,
    body: &mut crate::http::Body,
) -> Result<bool, HttpError> {
    let path = head.path.as_str();
    let method = head.method.as_str();
    if path == "/2022-07-01/telemetry" {
        return match method {
            "PUT" => crate::telemetry_api::subscribe(shared, conn, head, body).await,
            _ => {
                let reply =
                    error_reply(405, "MethodNotAllowed", "use PUT /2022-07-01/telemetry").header("allow", "PUT");
                refuse(conn, head, body, reply).await
            }
        };
    }
    if let Some(rest) = path.strip_prefix("/2020-01-01/extension/") {
        return match (method, rest) {
            ("POST", "register") => crate::extensions_api::register(shared, conn, head, body).await,
            ("GET", "event/next") => crate::extensions_api::next_event(shared, conn, head, body).await,
            _ => {
                let reply = error_reply(
                    404,
                    "NotFound",
                    format!("{method} {path} is not an Extensions API call"),
                );
                refuse(conn, head, body, reply).await
            }
        };
    }
    if let Some(rest) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(API_VERSION))
        .and_then(|p| p.strip_prefix("/runtime/"))
    {
        let route = match rest.split('/').collect::<Vec<_>>().as_slice() {
            ["invocation", "next"] => Some(("GET", None)),
            ["invocation", id, "response"] if !id.is_empty() => Some(("POST", Some((*id, AnswerKind::Response)))),
            ["invocation", id, "error"] if !id.is_empty() => Some(("POST", Some((*id, AnswerKind::Error)))),
            ["init", "error"] => Some(("POST", None)),
            _ => None,
        };
        if head.expects_continue() {
            // A runtime that posts with curl asks before sending a large answer.
            conn.continue_100().await?;
        }
        return match route {
            Some((expected, _)) if method != expected => {
                let reply =
                    error_reply(405, "MethodNotAllowed", format!("use {expected} {path}")).header("allow", expected);
                refuse(conn, head, body, reply).await
            }
            Some((_, Some((id, kind)))) => runtime_api::answer(shared, conn, head, body, id, kind).await,
            Some(("GET", None)) => runtime_api::next(shared, conn, head, body).await,
            Some(_) => runtime_api::init_error(shared, conn, head, body).await,
            None => {
                let reply = error_reply(404, "NotFound", format!("{path} is not a Runtime API path"));
                refuse(conn, head, body, reply).await
            }
        };
    }
    if path == shared.cfg.invocation_endpoint || is_invoke_api_path(path) {
        return invoke_api::invoke(shared, conn, head, body, InvokeApi::Invoke).await;
    }
    if is_stream_invoke_path(path) {
        return invoke_api::invoke(shared, conn, head, body, InvokeApi::InvokeWithResponseStream).await;
    }
    let endpoint = &shared.cfg.invocation_endpoint;
    let reply = error_reply(
        404,
        "ResourceNotFoundException",
        format!(
            "nothing at {method} {path}: invoke the function with POST {endpoint}, POST \
             /2015-03-31/functions/{{name}}/invocations or POST \
             /2021-11-15/functions/{{name}}/response-streaming-invocations"
        ),
    );
    refuse(conn, head, body, reply).await
}

/// `/2015-03-31/functions/{name}/invocations`, any name: this server runs one function.
fn is_invoke_api_path(path: &str) -> bool {
    is_function_path(path, "/2015-03-31/functions/", "/invocations")
}

/// `/2021-11-15/functions/{name}/response-streaming-invocations` (`InvokeWithResponseStream`).
fn is_stream_invoke_path(path: &str) -> bool {
    is_function_path(path, "/2021-11-15/functions/", "/response-streaming-invocations")
}

fn is_function_path(path: &str, prefix: &str, suffix: &str) -> bool {
    path.strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(suffix))
        .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// Answers without handling the request, after reading (a bounded amount of) its body.
async fn refuse(
    conn: &mut Conn,
    head: &crate::http::Head,
    body: &mut crate::http::Body,
    reply: Response,
) -> Result<bool, HttpError> {
    let keep = head.keep_alive() && conn.drain(body, runtime_api::DRAIN_LIMIT).await;
    conn.respond(&reply, keep).await?;
    Ok(keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::display_addr;

    #[test]
    fn invoke_api_paths() {
        assert!(is_invoke_api_path("/2015-03-31/functions/hello/invocations"));
        assert!(is_invoke_api_path(
            "/2015-03-31/functions/arn%3Aaws%3Alambda/invocations"
        ));
        assert!(!is_invoke_api_path("/2015-03-31/functions//invocations"));
        assert!(!is_invoke_api_path("/2015-03-31/functions/a/b/invocations"));
        assert!(!is_invoke_api_path("/2015-03-31/functions/a"));
        assert!(is_stream_invoke_path(
            "/2021-11-15/functions/testbed/response-streaming-invocations"
        ));
        assert!(!is_stream_invoke_path(
            "/2021-11-15/functions//response-streaming-invocations"
        ));
        assert!(!is_stream_invoke_path(
            "/2015-03-31/functions/testbed/response-streaming-invocations"
        ));
        assert!(!is_invoke_api_path(
            "/2021-11-15/functions/testbed/response-streaming-invocations"
        ));
    }

    #[test]
    fn addresses_are_displayed_with_brackets_for_ipv6() {
        assert_eq!(display_addr("127.0.0.1", 7000), "127.0.0.1:7000");
        assert_eq!(display_addr("::1", 7000), "[::1]:7000");
        assert_eq!(display_addr("[::1]", 7000), "[::1]:7000");
    }
}
