//! The Telemetry API side: the listener Lambda posts record batches to, the subscription, and
//! the back-pressure rule — a batch is taken at once (Lambda's post never waits for the
//! extension, so the function is never held up by it) and queued for the actor; when the queue
//! is full the batch is dropped and counted.

use crate::actor::Work;
use actix::Recipient;
use lambda_actors::config::ExtensionSettings;
use lambda_actors_api::{Buffering, Destination, RuntimeClient, TelemetryRecord, TelemetrySubscription};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Batches waiting for the actor; past this, new batches are dropped (and counted).
const QUEUE: usize = 64;

/// What to subscribe to.
#[derive(Debug, Clone)]
pub struct Telemetry {
    /// Record types: any of `platform`, `function`, `extension`.
    pub types: Vec<&'static str>,
    /// How Lambda batches the records.
    pub buffering: Buffering,
    /// The listener's port (`0`: any free one).
    pub port: u16,
}

impl Telemetry {
    /// The function's log lines, in Lambda's default batches, on a free port.
    pub fn function_logs() -> Self {
        Self {
            types: vec!["function"],
            buffering: Buffering::default(),
            port: 0,
        }
    }
}

/// The host the listener binds and Lambda posts to: `sandbox.localdomain` in a Lambda
/// execution environment (the Telemetry API's documented destination), else `127.0.0.1`;
/// `LAMBDA_ACTORS_TELEMETRY_HOST` overrides both.
async fn listener_host() -> String {
    if let Some(host) = ExtensionSettings::from_env().telemetry_host {
        return host;
    }
    let resolves = tokio::net::lookup_host(("sandbox.localdomain", 0))
        .await
        .is_ok_and(|mut addrs| addrs.next().is_some());
    if resolves { "sandbox.localdomain" } else { "127.0.0.1" }.to_owned()
}

/// Starts the listener, subscribes, and forwards batches to `actor`.
pub(crate) async fn subscribe(
    client: &RuntimeClient,
    id: &str,
    config: Telemetry,
    managed: bool,
    actor: Recipient<Work>,
) -> Result<(), String> {
    let host = listener_host().await;
    let listener = tokio::net::TcpListener::bind((host.as_str(), config.port))
        .await
        .map_err(|e| format!("cannot listen on {host}:{}: {e}", config.port))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let (tx, mut rx) = mpsc::channel::<Vec<TelemetryRecord>>(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    actix_rt::spawn(lambda_actors_local::listener::serve_posts(
        listener,
        move |body| match TelemetryRecord::parse_batch(&body) {
            Ok(batch) => {
                if tx.try_send(batch).is_err() {
                    let n = dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    if n == 1 || n.is_power_of_two() {
                        eprintln!(
                            "telemetry: the extension is behind; dropped {n} batches so far (the function is not held up)"
                        );
                    }
                }
            }
            Err(e) => eprintln!("telemetry: skipping a post: {e}"),
        },
    ));
    actix_rt::spawn(async move {
        while let Some(batch) = rx.recv().await {
            match actor.send(Work::Telemetry(batch)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("telemetry: the extension's batch handler failed: {e}"),
                Err(_) => return,
            }
        }
    });
    let subscription = TelemetrySubscription {
        schema_version: if managed { "2025-01-29" } else { "2022-12-13" }.to_owned(),
        destination: Destination {
            protocol: "HTTP".to_owned(),
            uri: format!("http://{host}:{port}/telemetry"),
        },
        types: config.types.iter().map(|t| (*t).to_owned()).collect(),
        buffering: config.buffering,
    };
    client
        .subscribe_telemetry(id, &subscription)
        .await
        .map_err(|e| format!("PUT /2022-07-01/telemetry failed: {e}"))
}
