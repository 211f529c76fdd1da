//! The Telemetry API side (protocol.md §10), as far as running a telemetry extension locally
//! needs: `PUT /2022-07-01/telemetry` subscribes a registered extension; from then on its
//! listener gets `platform.start` and `platform.report` records of each invocation and the
//! function's log lines (`function` records), posted in batches every 100 ms.

use crate::dispatch::Shared;
use crate::http::{Body, Conn, Head, HttpError, Response};
use crate::runtime_api::error_reply;
use lambda_actors_api::{headers, rfc3339_millis, Endpoint, RuntimeClient};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How often queued records go out.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// The subscriptions and the records waiting for them.
#[derive(Debug, Default)]
pub(crate) struct TelemetryHub {
    /// Subscriptions, so that a log line costs one atomic load when there are none.
    pub(crate) count: AtomicUsize,
    subscribers: Mutex<Vec<Subscriber>>,
}

#[derive(Debug)]
struct Subscriber {
    uri: String,
    types: Vec<String>,
    pending: Vec<serde_json::Value>,
}

impl TelemetryHub {
    /// Queues a record of `kind` (`function`, `platform.start`...) for every subscriber that
    /// asked for its class.
    pub(crate) fn push(&self, kind: &str, record: serde_json::Value) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let class = kind.split('.').next().unwrap_or(kind);
        let entry = serde_json::json!({ "time": rfc3339_millis(SystemTime::now()), "type": kind, "record": record });
        for sub in self.subscribers.lock().iter_mut() {
            if sub.types.iter().any(|t| t == class) {
                sub.pending.push(entry.clone());
            }
        }
    }

    /// Takes what waits, per destination.
    fn drain(&self) -> Vec<(String, Vec<serde_json::Value>)> {
        self.subscribers
            .lock()
            .iter_mut()
            .filter(|s| !s.pending.is_empty())
            .map(|s| (s.uri.clone(), std::mem::take(&mut s.pending)))
            .collect()
    }
}

/// `PUT /2022-07-01/telemetry`.
pub(crate) async fn subscribe(
    shared: &Arc<Shared>,
    conn: &mut Conn,
    head: &Head,
    body: &mut Body,
) -> Result<bool, HttpError> {
    let keep = head.keep_alive();
    let Ok(bytes) = conn.read_to_end(body, 64 * 1024).await else {
        conn.respond(&error_reply(400, "InvalidRequest", "the body could not be read"), false)
            .await?;
        return Ok(false);
    };
    let known = head
        .header(headers::EXTENSION_IDENTIFIER)
        .is_some_and(|id| shared.is_extension(id));
    let asked: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let uri = asked["destination"]["URI"].as_str().unwrap_or_default().to_owned();
    let types: Vec<String> = asked["types"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    let reply = if !known {
        error_reply(
            403,
            "Extension.UnknownExtensionIdentifier",
            format!("{} names no registered extension", headers::EXTENSION_IDENTIFIER),
        )
    } else if !uri.starts_with("http://") || types.is_empty() {
        error_reply(
            400,
            "ValidationError",
            "a subscription needs destination.URI (http://...) and at least one of the types platform, function, extension",
        )
    } else {
        tracing::info!("local server: telemetry subscription to {uri} for {types:?}");
        let hub = &shared.telemetry;
        hub.subscribers.lock().push(Subscriber {
            uri,
            types,
            pending: Vec::new(),
        });
        hub.count.fetch_add(1, Ordering::AcqRel);
        Response::new(200).json(&br#"{}"#[..])
    };
    conn.respond(&reply, keep).await?;
    Ok(keep)
}

/// Posts the queued records every [`FLUSH_EVERY`] until the server stops.
pub(crate) async fn forward(shared: Arc<Shared>, endpoint: Endpoint) {
    let client = RuntimeClient::new(&endpoint);
    let mut stopped = shared.shutdown.subscribe();
    loop {
        let stop = async {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        if let crate::http::Either::Right(()) = crate::http::race(tokio::time::sleep(FLUSH_EVERY), stop).await {
            return;
        }
        for (uri, batch) in shared.telemetry.drain() {
            let body = serde_json::Value::Array(batch).to_string();
            if let Err(e) = client.post_json(&uri, body).await {
                tracing::debug!("local server: telemetry post to {uri} failed: {e}");
            }
        }
    }
}
