//! The internal extension actor: registered during init so that Lambda sends this process
//! SIGTERM at shutdown (with no extension registered, Lambda kills the runtime outright and
//! the drain never runs), its `GET /extension/event/next` kept parked as Lambda requires.

use crate::reports::Shutdown;
use actix::prelude::*;
use lambda_actors_api::RuntimeClient;
use std::rc::Rc;
use std::time::Duration;

/// The `Lambda-Extension-Name` it registers under.
pub(crate) const EXTENSION_NAME: &str = "lambda-actors-graceful-shutdown";

/// Longest wait between two tries of a failing `/extension/event/next`.
const RETRY_CAP: Duration = Duration::from_secs(2);

/// `POST /extension/register` for no events (an internal extension may not ask for
/// `SHUTDOWN`: registering at all is what buys the SIGTERM). `None`, after one WARN naming
/// the reply, when it fails: the runtime runs on without the SIGTERM.
pub(crate) async fn register(client: &RuntimeClient) -> Option<String> {
    let registered = tokio::time::timeout(Duration::from_secs(2), client.register_extension(EXTENSION_NAME, &[]));
    let result = match registered.await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("the Extensions API did not answer in 2 s".to_owned()),
    };
    match result {
        Ok(id) => {
            tracing::debug!(extension = EXTENSION_NAME, "registered the internal extension");
            Some(id)
        }
        Err(e) => {
            tracing::warn!(
                "could not register the internal extension {EXTENSION_NAME}: {e}; Lambda stops an \
                 environment without extensions with SIGKILL, so the shutdown drain, hooks and last \
                 metrics summary will not run there (LAMBDA_ACTORS_GRACEFUL_SHUTDOWN=0 skips the \
                 registration)"
            );
            None
        }
    }
}

/// Keeps the extension's `/extension/event/next` parked for the life of the process. An event
/// it is sent anyway is logged; a `SHUTDOWN` one starts the drain, as SIGTERM would. The
/// supervisor stops it when the drain starts ([`StopExtension`]).
pub(crate) struct ShutdownExtension {
    id: String,
    client: Rc<RuntimeClient>,
    supervisor: Option<Recipient<Shutdown>>,
}

impl ShutdownExtension {
    pub(crate) fn new(id: String, client: Rc<RuntimeClient>) -> Self {
        Self {
            id,
            client,
            supervisor: None,
        }
    }

    /// Who is told of a `SHUTDOWN` event.
    pub(crate) fn reporting_to(mut self, supervisor: Recipient<Shutdown>) -> Self {
        self.supervisor = Some(supervisor);
        self
    }
}

/// Stop keeping `event/next` parked: the drain has started.
pub(crate) struct StopExtension;

impl Message for StopExtension {
    type Result = ();
}

impl Handler<StopExtension> for ShutdownExtension {
    type Result = ();

    fn handle(&mut self, _: StopExtension, ctx: &mut Self::Context) {
        // Stopping the actor drops its parked call with it.
        ctx.stop();
    }
}

impl Actor for ShutdownExtension {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let (id, client, supervisor) = (self.id.clone(), self.client.clone(), self.supervisor.clone());
        let parked = async move {
            // Let the pollers started just before send the first `/next` first (it ends init).
            tokio::task::yield_now().await;
            let mut delay = Duration::from_millis(50);
            loop {
                match client.next_extension_event(&id).await {
                    Ok(body) => {
                        let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                        let kind = event.get("eventType").and_then(|v| v.as_str()).unwrap_or("");
                        if kind.eq_ignore_ascii_case("SHUTDOWN") {
                            let reason = event.get("shutdownReason").and_then(|v| v.as_str()).unwrap_or("none");
                            tracing::info!(reason, "the Extensions API sent SHUTDOWN: draining");
                            if let Some(supervisor) = &supervisor {
                                supervisor.do_send(Shutdown);
                            }
                            return;
                        }
                        tracing::debug!(
                            "the internal extension got an event it did not register for: {}",
                            String::from_utf8_lossy(&body)
                        );
                        delay = Duration::from_millis(50);
                    }
                    Err(e) => {
                        tracing::warn!(
                            "GET /extension/event/next of the internal extension failed: {e}; \
                             retrying in {} ms",
                            delay.as_millis()
                        );
                        actix_rt::time::sleep(delay).await;
                        delay = (delay * 2).min(RETRY_CAP);
                    }
                }
            }
        };
        ctx.spawn(parked.into_actor(self).map(|(), _, ctx| ctx.stop()));
    }
}
