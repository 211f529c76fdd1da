//! The extension actor (owns the user's [`Extension`], handles one lifecycle event at a time)
//! and the loop that registers, polls `GET /extension/event/next` and feeds it.

use crate::telemetry::{self, Telemetry};
use actix::prelude::*;
use lambda_actors::config::ExtensionSettings;
use lambda_actors::{Error, IntoError};
use lambda_actors_api::{
    Endpoint, ErrorBody, ExtensionEvent, InvokeEvent, RuntimeClient, ShutdownEvent, TelemetryRecord,
};
use std::future::Future;

/// An extension: what it does on each lifecycle event. Both handlers default to nothing.
pub trait Extension: 'static {
    /// The error its handlers return (see [`lambda_actors::IntoError`]).
    type Error: IntoError;

    /// The events to register for. On Managed Instances only `SHUTDOWN` is registered,
    /// whatever this says.
    fn events(&self) -> Events {
        Events {
            invoke: true,
            shutdown: true,
        }
    }

    /// An invocation started (classic Lambda only).
    fn on_invoke(&mut self, event: InvokeEvent) -> impl Future<Output = Result<(), Self::Error>> {
        let _ = event;
        std::future::ready(Ok(()))
    }

    /// The environment is shutting down: flush, close, within `event.deadline_ms`.
    fn on_shutdown(&mut self, event: ShutdownEvent) -> impl Future<Output = Result<(), Self::Error>> {
        let _ = event;
        std::future::ready(Ok(()))
    }

    /// Subscribe to the Telemetry API with this (record types, batching). Default: no.
    fn telemetry(&self) -> Option<Telemetry> {
        None
    }

    /// A batch of telemetry records, in the order Lambda posted them. An error here is logged,
    /// not fatal: a telemetry sink failing for a moment must not stop the extension.
    fn on_telemetry(&mut self, batch: Vec<TelemetryRecord>) -> impl Future<Output = Result<(), Self::Error>> {
        let _ = batch;
        std::future::ready(Ok(()))
    }
}

/// Which lifecycle events an extension registers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Events {
    /// `INVOKE` (classic Lambda only).
    pub invoke: bool,
    /// `SHUTDOWN`.
    pub shutdown: bool,
}

/// Why an extension stopped with a failure; its `Debug` is its message, for `main`.
pub struct ExitError(String);

impl std::fmt::Debug for ExitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for ExitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExitError {}

/// Runs `extension` under the name Lambda requires of an external extension: its file name.
pub fn run<X: Extension>(extension: X) -> Result<(), ExitError> {
    let name = std::env::args()
        .next()
        .and_then(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "extension".to_owned());
    run_named(&name, extension)
}

/// Runs `extension` registered as `name`.
pub fn run_named<X: Extension>(name: &str, extension: X) -> Result<(), ExitError> {
    let result = actix_rt::System::new().block_on(serve(name.to_owned(), extension));
    if let Err(e) = &result {
        eprintln!("{name}: {e}");
    }
    result
}

/// Whether this environment is a Managed Instances one (protocol.md §7).
/// The event names to register, by the mode's rules.
fn registered_events(wanted: Events, managed: bool) -> Vec<&'static str> {
    let mut events = Vec::new();
    if wanted.invoke && !managed {
        events.push("INVOKE");
    }
    if wanted.shutdown || managed {
        events.push("SHUTDOWN");
    }
    events
}

async fn serve<X: Extension>(name: String, extension: X) -> Result<(), ExitError> {
    let settings = ExtensionSettings::from_env();
    let api = settings
        .runtime_api
        .ok_or_else(|| ExitError("AWS_LAMBDA_RUNTIME_API is not set: not running as a Lambda extension".into()))?;
    let endpoint = Endpoint::parse(&api).map_err(|e| ExitError(e.to_string()))?;
    let client = RuntimeClient::new(&endpoint);
    let managed = settings.managed_instances;
    let events = registered_events(extension.events(), managed);
    let id = client
        .register_extension(&name, &events)
        .await
        .map_err(|e| ExitError(format!("registering as {name:?} for {events:?}: {e}")))?;
    let wants_telemetry = extension.telemetry();
    let actor = ExtensionActor::new(extension).start();
    if let Some(config) = wants_telemetry {
        if let Err(e) = telemetry::subscribe(&client, &id, config, managed, actor.clone().recipient()).await {
            let body = ErrorBody::new("Extension.TelemetrySubscription", e.clone());
            if let Err(report) = client.extension_error(&id, false, &body).await {
                eprintln!("{name}: could not report the failure to /extension/init/error: {report}");
            }
            return Err(ExitError(format!("subscribing to the Telemetry API: {e}")));
        }
    }
    loop {
        let body = client.next_extension_event(&id).await.map_err(|e| {
            ExitError(format!(
                "GET /extension/event/next failed ({e}); exiting, as Lambda expects"
            ))
        })?;
        let event = match ExtensionEvent::parse(&body) {
            Ok(event) => event,
            Err(e) => {
                // Not ours to answer: say what came, and wait for the next one.
                eprintln!("{name}: skipping an event: {e}");
                continue;
            }
        };
        let shutdown = matches!(event, ExtensionEvent::Shutdown(_));
        let handled = match actor.send(Work::Event(event)).await {
            Ok(result) => result,
            Err(_) => Err(Error::new("Extension.Crash", "the extension's handler panicked")),
        };
        if let Err(err) = handled {
            let body: ErrorBody = ErrorBody {
                error_message: err.message().to_owned(),
                error_type: err.error_type().to_owned(),
                stack_trace: err.causes().to_vec(),
            };
            if let Err(e) = client.extension_error(&id, true, &body).await {
                eprintln!("{name}: could not report the failure to /extension/exit/error: {e}");
            }
            return Err(ExitError(format!("the extension failed: {err}")));
        }
        if shutdown {
            return Ok(());
        }
    }
}

/// What the actor handles: a lifecycle event, or a batch of telemetry records.
pub(crate) enum Work {
    Event(ExtensionEvent),
    Telemetry(Vec<TelemetryRecord>),
}

impl Message for Work {
    type Result = Result<(), Error>;
}

/// Owns the user's extension; handles its events one at a time, in order (`AtomicResponse`).
pub(crate) struct ExtensionActor<X: Extension> {
    // Out of the actor while a handler runs, put back after. Boxed: actors must be `Unpin`,
    // user extensions need not be.
    extension: Option<Box<X>>,
}

impl<X: Extension> ExtensionActor<X> {
    pub(crate) fn new(extension: X) -> Self {
        Self {
            extension: Some(Box::new(extension)),
        }
    }
}

impl<X: Extension> Actor for ExtensionActor<X> {
    type Context = Context<Self>;
}

impl<X: Extension> Handler<Work> for ExtensionActor<X> {
    type Result = AtomicResponse<Self, Result<(), Error>>;

    fn handle(&mut self, work: Work, _: &mut Self::Context) -> Self::Result {
        let Some(mut extension) = self.extension.take() else {
            return AtomicResponse::new(Box::pin(actix::fut::ready(Err(Error::new(
                "Extension.Crash",
                "the extension is gone after an earlier panic",
            )))));
        };
        let run = async move {
            let result = match work {
                Work::Event(ExtensionEvent::Invoke(e)) => extension.on_invoke(e).await,
                Work::Event(ExtensionEvent::Shutdown(e)) => extension.on_shutdown(e).await,
                Work::Telemetry(batch) => extension.on_telemetry(batch).await,
            };
            (extension, result.map_err(IntoError::into_error))
        };
        AtomicResponse::new(Box::pin(run.into_actor(self).map(|(extension, result), act, _| {
            act.extension = Some(extension);
            result
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_instances_register_for_shutdown_only() {
        let both = Events {
            invoke: true,
            shutdown: true,
        };
        assert_eq!(registered_events(both, false), ["INVOKE", "SHUTDOWN"]);
        assert_eq!(registered_events(both, true), ["SHUTDOWN"]);
        let invoke_only = Events {
            invoke: true,
            shutdown: false,
        };
        assert_eq!(registered_events(invoke_only, false), ["INVOKE"]);
        // An external extension on Managed Instances must take SHUTDOWN: it is all there is.
        assert_eq!(registered_events(invoke_only, true), ["SHUTDOWN"]);
    }
}
