//! A small HTTP listener for JSON posts, on the local server's own HTTP code: what a
//! Telemetry API destination needs (lambda-actors-extension uses it). Every `POST` body goes to
//! the callback, and the poster gets `200` at once: the callback must not block.

use crate::http::{Conn, Response};
use bytes::Bytes;
use std::rc::Rc;
use std::time::Duration;

/// Largest body taken (Lambda's telemetry batches are at most 1 MiB).
const MAX_BODY: usize = 2 * 1024 * 1024;

/// Serves `listener` until the task is dropped: each `POST`'s body to `on_body`, then `200`.
/// Other methods get `405`.
pub async fn serve_posts(listener: tokio::net::TcpListener, on_body: impl Fn(Bytes) + 'static) {
    let on_body: Rc<dyn Fn(Bytes)> = Rc::new(on_body);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let on_body = on_body.clone();
        actix_rt::spawn(async move {
            let _ = stream.set_nodelay(true);
            let mut conn = Conn::new(stream);
            while let Ok(Some(head)) = conn.read_head(Duration::from_secs(600)).await {
                let Ok(mut body) = head.body() else {
                    return;
                };
                let keep = head.keep_alive();
                let reply = if head.method == "POST" {
                    match conn.read_to_end(&mut body, MAX_BODY).await {
                        Ok(bytes) => {
                            on_body(bytes);
                            Response::new(200)
                        }
                        Err(_) => return,
                    }
                } else {
                    Response::new(405).header("allow", "POST")
                };
                if conn.respond(&reply, keep).await.is_err() || !keep {
                    return;
                }
            }
        });
    }
}
