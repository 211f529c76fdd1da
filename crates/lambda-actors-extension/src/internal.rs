//! Internal extensions: registered from inside a function built on lambda-actors, during its
//! `Runtime::init`, receiving `INVOKE` events on the function's main thread. Lambda allows an
//! internal extension `INVOKE` only, and sends none on Managed Instances: there it is not
//! registered (one INFO line says so).

use crate::actor::{ExtensionActor, Work};
use crate::Extension;
use actix::prelude::*;
use lambda_actors::config::ExtensionSettings;
use lambda_actors::Error;
use lambda_actors_api::{Endpoint, ExtensionEvent, RuntimeClient};
use std::time::Duration;

/// Registers `extension` as the internal extension `name` for `INVOKE` and starts its actor on
/// the current thread. Call it in `Runtime::init` (registration closes with the first
/// `/next`); an error there is the function's init error. A handler error is logged with the
/// extension's name and the function goes on.
///
/// ```no_run
/// use lambda_actors::{Error, Runtime};
/// use lambda_actors_extension::{Extension, InvokeEvent};
///
/// struct Audit;
///
/// impl Extension for Audit {
///     type Error = Error;
///     async fn on_invoke(&mut self, event: InvokeEvent) -> Result<(), Error> {
///         println!("invocation {} started", event.request_id);
///         Ok(())
///     }
/// }
///
/// fn main() -> Result<(), lambda_actors::RuntimeError> {
///     Runtime::new()
///         .init(|| async {
///             lambda_actors_extension::register_internal("audit", Audit).await?;
///             Ok(())
///         })
///         .run_fn(|event: serde_json::Value, _ctx| async move { Ok::<_, Error>(event) })
/// }
/// ```
pub async fn register_internal<X: Extension>(name: &str, extension: X) -> Result<(), Error> {
    let settings = ExtensionSettings::from_env();
    if settings.managed_instances {
        eprintln!("{name}: Managed Instances send internal extensions no events; not registered");
        return Ok(());
    }
    let api = lambda_actors::runtime_api()
        .or(settings.runtime_api)
        .ok_or_else(|| Error::new("Extension.NoRuntimeApi", "register_internal runs inside Runtime::init"))?;
    let endpoint = Endpoint::parse(&api).map_err(|e| Error::new("Extension.ConfigError", e.to_string()))?;
    let client = RuntimeClient::new(&endpoint);
    let id = client
        .register_extension(name, &["INVOKE"])
        .await
        .map_err(|e| Error::new("Extension.RegistrationFailed", format!("registering {name}: {e}")))?;
    let actor = ExtensionActor::new(extension).start();
    let name = name.to_owned();
    actix_rt::spawn(async move {
        let mut delay = Duration::from_millis(50);
        loop {
            let event = match client
                .next_extension_event(&id)
                .await
                .map(|b| ExtensionEvent::parse(&b))
            {
                Ok(Ok(event)) => event,
                Ok(Err(e)) => {
                    eprintln!("{name}: skipping an event: {e}");
                    continue;
                }
                Err(e) => {
                    eprintln!(
                        "{name}: GET /extension/event/next failed: {e}; retrying in {} ms",
                        delay.as_millis()
                    );
                    actix_rt::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                    continue;
                }
            };
            delay = Duration::from_millis(50);
            match actor.send(Work::Event(event)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("{name}: the internal extension failed: {e}"),
                Err(_) => {
                    eprintln!("{name}: the internal extension panicked; it gets no more events");
                    return;
                }
            }
        }
    });
    Ok(())
}
