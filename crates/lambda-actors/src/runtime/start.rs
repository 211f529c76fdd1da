//! The runtime's start, before the supervisor: the configuration (an error here is reported to
//! `/init/error` when the Runtime API is known), logging, the local server when not on Lambda,
//! the user's init; then the supervisor, which starts everything else, and the wait for its
//! exit status.

use crate::config::{Config, ConfigError};
use crate::handler::Invocable;
use crate::pool::worker::{Factory, WorkerFactory};
use crate::supervisor::{OnStarted, Plan, Supervisor};
use crate::{logging, Error, RuntimeError};
use actix::prelude::*;
use lambda_actors_api::{Endpoint, ErrorBody, RuntimeClient};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

pub(super) async fn start<S, Inv, F>(
    config: Result<Config, ConfigError>,
    mut options: super::Options,
    init: Box<dyn FnOnce() -> super::InitFuture<S>>,
    factory: F,
) -> Result<(), RuntimeError>
where
    S: Send + Sync + 'static,
    Inv: Invocable,
    F: Fn(Arc<S>) -> Result<Inv, Error> + Send + Sync + 'static,
{
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            if options.logging {
                logging::init_default();
            }
            tracing::error!("{e}");
            if let Some(endpoint) = e.runtime_api() {
                report_init_error(endpoint, &ErrorBody::new("Runtime.ConfigError", e.to_string())).await;
            }
            return Err(RuntimeError::config(e.to_string()));
        }
    };
    if options.logging {
        logging::init(config.log_format, &config.log_filter);
    }
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let (endpoint, _local_server) = match &config.runtime_api {
        Some(e) => (e.clone(), None),
        None => {
            let server = start_local_server(&config, options.example_event).await?;
            (server.0, Some(server.1))
        }
    };
    // The local server answers `X-Amz-Log-Type: Tail` from the lines this runtime logs.
    #[cfg(feature = "local-server")]
    let _log_tail = _local_server.as_ref().map(|server| {
        let sink = server.log_sink();
        logging::add_tap(Arc::new(move |request_id: &str, line: &[u8]| {
            sink.record(request_id, line)
        }))
    });

    super::RUNTIME_API.with(|api| *api.borrow_mut() = Some(endpoint.authority() + endpoint.prefix()));
    let state = match (init)().await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::error!(errorType = e.error_type(), "initialisation failed: {}", e.message());
            report_init_error(&endpoint, &e.to_body()).await;
            return Err(RuntimeError::init(format!("initialisation failed: {e}")));
        }
    };
    let factory: Factory<Inv> = Arc::new(move || factory(state.clone()));

    #[cfg(feature = "local-server")]
    let invoke_url = _local_server.as_ref().map(lambda_actors_local::LocalServer::invoke_url);
    #[cfg(not(feature = "local-server"))]
    let invoke_url = None;
    let on_started = options
        .on_started
        .take()
        .map(|f| -> OnStarted { Box::new(move |handle| f(super::Started { invoke_url, handle })) });
    #[cfg_attr(not(feature = "local-server"), allow(unused_mut))]
    let mut shutdown_hooks = std::mem::take(&mut options.shutdown_hooks);
    // Off Lambda, the local server tells the extensions of the shutdown as Lambda would.
    #[cfg(feature = "local-server")]
    if let Some(server) = &_local_server {
        let extensions = server.extension_shutdown();
        shutdown_hooks.insert(
            0,
            Box::pin(async move {
                extensions.send();
                // The parked `event/next` calls are answered by tasks of this thread: let them
                // write the event before the process can exit.
                actix_rt::time::sleep(Duration::from_millis(20)).await;
            }),
        );
    }
    let (exit_tx, exit_rx) = oneshot::channel();
    let plan = Plan {
        workers: Arc::new(WorkerFactory {
            factory,
            mailbox_capacity: config.mailbox_capacity,
            stall_warn: config.stall_warn,
        }),
        config: Arc::new(config),
        endpoint,
        shutdown_hooks,
        on_started,
    };
    Supervisor::new(plan, exit_tx).start();
    exit_rx
        .await
        .unwrap_or_else(|_| Err(RuntimeError::api("the supervisor stopped without an exit status")))
}

#[cfg(feature = "local-server")]
type LocalServer = lambda_actors_local::LocalServer;
#[cfg(not(feature = "local-server"))]
type LocalServer = ();

/// Not on Lambda: serve the Runtime API (and an Invoke API for callers) in-process, on real
/// loopback HTTP, so the pollers run exactly the code path they run on Lambda.
#[cfg(feature = "local-server")]
async fn start_local_server(
    config: &Config,
    example_event: Option<&str>,
) -> Result<(Endpoint, LocalServer), RuntimeError> {
    let local = lambda_actors_local::LocalConfig {
        host: config.local.host.clone(),
        port: config.local.port,
        invocation_endpoint: config.local.invocation_endpoint.clone(),
        max_concurrency: config.mode.concurrency(),
        reject_when_busy: config.local.reject_when_busy,
        queue_limit: config.local.queue_limit,
        timeout: config.local.timeout,
        function_name: config.function.name.clone().unwrap_or_else(|| "function".to_owned()),
    };
    let server = lambda_actors_local::start(local)
        .await
        .map_err(|e| RuntimeError::config(e.to_string()))?;
    let endpoint = Endpoint::parse(&server.runtime_api()).map_err(|e| RuntimeError::config(e.to_string()))?;
    let hint = match example_event {
        Some(event) => server.curl_hint_with(event),
        None => format!(
            "{} ({{}} is a placeholder: Runtime::example_event sets an event your handler takes)",
            server.curl_hint_with("{}")
        ),
    };
    tracing::info!(
        "AWS_LAMBDA_RUNTIME_API is not set: serving the function locally at {}; try: {hint}",
        server.invoke_url(),
    );
    Ok((endpoint, server))
}

#[cfg(not(feature = "local-server"))]
async fn start_local_server(_: &Config, _: Option<&str>) -> Result<(Endpoint, LocalServer), RuntimeError> {
    Err(RuntimeError::config(
        "AWS_LAMBDA_RUNTIME_API is not set: this process is not running on Lambda, and this binary \
         was built without the `local-server` feature of lambda-actors (set AWS_LAMBDA_RUNTIME_API \
         to the Runtime API's host:port, or enable the feature)",
    ))
}

/// Posts to `/init/error`, bounded in time; in Managed Instances a 403 means another worker
/// already reported, which is fine.
pub(crate) async fn report_init_error(endpoint: &Endpoint, body: &ErrorBody) {
    let client = RuntimeClient::new(endpoint);
    match actix_rt::time::timeout(Duration::from_secs(2), client.init_error(body)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.code() == Some(403) => {}
        Ok(Err(e)) => tracing::warn!("could not report the init error: {e}"),
        Err(_) => tracing::warn!("could not report the init error: the Runtime API did not answer in 2 s"),
    }
}
