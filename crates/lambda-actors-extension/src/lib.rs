//! Lambda extensions as actors.
//!
//! An extension is a process Lambda starts beside the function (an *external* extension: a
//! binary in `/opt/extensions/`, from a layer or the image). It registers with the Extensions
//! API during init, then receives lifecycle events — `INVOKE` (classic Lambda only) and
//! `SHUTDOWN` — until the environment shuts down. Here each event is a message in the mailbox
//! of an actor that owns your [`Extension`], handled one at a time, in order.
//!
//! ```no_run
//! use lambda_actors_extension::{Extension, InvokeEvent, ShutdownEvent};
//!
//! #[derive(Default)]
//! struct Counter { invokes: u64 }
//!
//! impl Extension for Counter {
//!     type Error = lambda_actors::Error;
//!     async fn on_invoke(&mut self, _event: InvokeEvent) -> Result<(), Self::Error> {
//!         self.invokes += 1;
//!         Ok(())
//!     }
//!     async fn on_shutdown(&mut self, event: ShutdownEvent) -> Result<(), Self::Error> {
//!         println!("{} invocations; shutting down: {}", self.invokes, event.shutdown_reason);
//!         Ok(())
//!     }
//! }
//!
//! fn main() -> Result<(), lambda_actors_extension::ExitError> {
//!     lambda_actors_extension::run(Counter::default())
//! }
//! ```
//!
//! Registration rules, applied for you:
//! - classic Lambda: the events [`Extension::events`] asks for (`INVOKE` and `SHUTDOWN` by
//!   default);
//! - Managed Instances (`AWS_LAMBDA_MAX_CONCURRENCY` set, or
//!   `AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances`): `SHUTDOWN` only, since Lambda
//!   accepts nothing else there and never sends `INVOKE`.
//!
//! An error returned by a handler, or a panic in it, is posted to `/extension/exit/error`
//! (`Extension.<Type>`, `Extension.Crash` for a panic) and the process exits non-zero, as Lambda
//! expects of a failed extension (on Managed Instances the environment is then replaced). After
//! `SHUTDOWN` has been handled the process exits 0.
#![warn(missing_docs)]

// docs/extensions.md's Rust snippet compiles as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/extensions.md")]
struct ExtensionsDoc;

mod actor;
mod internal;
mod telemetry;

pub use actor::{run, run_named, Events, ExitError, Extension};
pub use internal::register_internal;
pub use lambda_actors_api::{Buffering, RecordClass, TelemetryRecord};
pub use lambda_actors_api::{ExtensionEvent, InvokeEvent, ShutdownEvent, Tracing};
pub use telemetry::Telemetry;
