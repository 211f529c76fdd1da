//! The Extensions API side (protocol.md §10): `POST /2020-01-01/extension/register` and
//! `GET /2020-01-01/extension/event/next`. An extension gets an `INVOKE` event for each
//! invocation handed to the runtime (classic mode: one slot) and a `SHUTDOWN` event when the
//! server stops (Ctrl-C on the function, or [`LocalServer::stop`](crate::LocalServer::stop)),
//! if it asked for them.

use crate::dispatch::{ExtensionNext, Shared};
use crate::http::{race, Body, Conn, Either, Head, HttpError, Response};
use crate::runtime_api::error_reply;
use lambda_actors_api::headers;
use std::sync::Arc;

/// `POST /extension/register`: an identifier (a late registration is accepted and logged:
/// see `Shared::register_extension`).
pub(crate) async fn register(
    shared: &Arc<Shared>,
    conn: &mut Conn,
    head: &Head,
    body: &mut Body,
) -> Result<bool, HttpError> {
    let bytes = match conn.read_to_end(body, 64 * 1024).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let reply = error_reply(400, "InvalidRequest", "the registration body could not be read");
            conn.respond(&reply, false).await?;
            return Ok(false);
        }
    };
    let keep = head.keep_alive();
    let asked: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let events: Vec<&str> = asked["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str())
        .collect();
    let reply = match head.header(headers::EXTENSION_NAME).filter(|n| !n.is_empty()) {
        None => error_reply(
            400,
            "InvalidRequest",
            format!("a registration needs the {} header", headers::EXTENSION_NAME),
        ),
        Some(_) if events.iter().any(|e| *e != "INVOKE" && *e != "SHUTDOWN") => error_reply(
            400,
            "InvalidRequest",
            format!("events may be INVOKE and SHUTDOWN, got {events:?}"),
        ),
        Some(name) => match shared.register_extension(events.contains(&"INVOKE"), events.contains(&"SHUTDOWN")) {
            Ok((id, late)) => {
                if late {
                    tracing::warn!(
                        "local server: extension {name} registered after init (for {events:?}); Lambda \
                         refuses that with 403 Extension.RegistrationClosed: on Lambda it must register \
                         before the runtime's first /next"
                    );
                } else {
                    tracing::info!("local server: extension {name} registered for {events:?}");
                }
                let info = serde_json::json!({
                    "functionName": shared.cfg.function_name,
                    "functionVersion": "$LATEST",
                    "handler": "bootstrap",
                });
                Response::new(200)
                    .header(headers::EXTENSION_IDENTIFIER, id)
                    .json(info.to_string())
            }
            Err((error_type, message)) => error_reply(403, error_type, message),
        },
    };
    conn.respond(&reply, keep).await?;
    Ok(keep)
}

/// `GET /extension/event/next`: the extension's next event; parked until there is one, the
/// server stops or the extension goes away.
pub(crate) async fn next_event(
    shared: &Arc<Shared>,
    conn: &mut Conn,
    head: &Head,
    body: &mut Body,
) -> Result<bool, HttpError> {
    let keep = head.keep_alive() && conn.drain(body, 64 * 1024).await;
    let id = head.header(headers::EXTENSION_IDENTIFIER).unwrap_or_default();
    let event = match shared.next_extension_event(id) {
        ExtensionNext::Ready(event) => event,
        ExtensionNext::Unknown => {
            let reply = error_reply(
                403,
                "Extension.UnknownExtensionIdentifier",
                format!("{} names no registered extension", headers::EXTENSION_IDENTIFIER),
            );
            conn.respond(&reply, keep).await?;
            return Ok(keep);
        }
        ExtensionNext::Parked(mut rx) => {
            let mut stopped = shared.shutdown.subscribe();
            let stop = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            let waited = race(&mut rx, race(Box::pin(stop), conn.closed())).await;
            match waited {
                Either::Left(Ok(event)) => event,
                // A SHUTDOWN sent just as the server stopped is still delivered.
                _ => match rx.try_recv() {
                    Ok(event) => event,
                    Err(_) => return Ok(false),
                },
            }
        }
    };
    conn.respond(&Response::new(200).json(event), keep).await?;
    Ok(keep)
}
