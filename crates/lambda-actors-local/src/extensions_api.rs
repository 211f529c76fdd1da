//! The Extensions API side (protocol.md §10), as far as an internal extension needs it:
//! `POST /2020-01-01/extension/register` and a parked `GET /2020-01-01/extension/event/next`
//! (the local server sends no lifecycle events: an internal extension registers for none).

use crate::dispatch::Shared;
use crate::http::{race, Body, Conn, Either, Head, HttpError, Response};
use crate::runtime_api::error_reply;
use lambda_actors_api::headers;
use std::sync::Arc;

/// `POST /extension/register`: an identifier while init lasts, else 403.
pub(crate) async fn register(
    shared: &Arc<Shared>,
    conn: &mut Conn,
    head: &Head,
    body: &mut Body,
) -> Result<bool, HttpError> {
    let keep = head.keep_alive() && conn.drain(body, 64 * 1024).await;
    let reply = match head.header(headers::EXTENSION_NAME).filter(|n| !n.is_empty()) {
        None => error_reply(
            400,
            "InvalidRequest",
            format!("a registration needs the {} header", headers::EXTENSION_NAME),
        ),
        Some(name) => match shared.register_extension() {
            Ok(id) => {
                tracing::debug!("local server: extension {name} registered");
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

/// `GET /extension/event/next`: parked until the server stops or the extension goes away.
pub(crate) async fn next_event(
    shared: &Arc<Shared>,
    conn: &mut Conn,
    head: &Head,
    body: &mut Body,
) -> Result<bool, HttpError> {
    let keep = head.keep_alive() && conn.drain(body, 64 * 1024).await;
    let known = head
        .header(headers::EXTENSION_IDENTIFIER)
        .is_some_and(|id| shared.is_extension(id));
    if !known {
        let reply = error_reply(
            403,
            "Extension.UnknownExtensionIdentifier",
            format!("{} names no registered extension", headers::EXTENSION_IDENTIFIER),
        );
        conn.respond(&reply, keep).await?;
        return Ok(keep);
    }
    let mut stopped = shared.shutdown.subscribe();
    let stop = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    match race(Box::pin(stop), conn.closed()).await {
        Either::Left(()) | Either::Right(()) => Ok(false),
    }
}
