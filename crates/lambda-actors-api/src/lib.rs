#![warn(missing_docs)]
//! The AWS Lambda Runtime API wire protocol, as `lambda-actors` speaks it.
//!
//! No actors live here: endpoint parsing ([`Endpoint`]), the invocation headers
//! ([`InvocationMeta`]), error bodies ([`ErrorBody`]), status classes ([`ReplyStatus`]), the
//! awc-based client ([`RuntimeClient`]) and the hand-written chunked writer for streamed
//! responses with real HTTP trailers ([`stream`]).

mod client;
mod conn;
mod endpoint;
mod error;
mod error_body;
mod extension;
pub mod headers;
mod invocation;
mod status;
pub mod stream;
mod telemetry;
mod time;

pub use bytes::Bytes;
pub use client::{EventRead, NextEvent, NextReply, RuntimeClient, MAX_EVENT_BYTES, MAX_RESPONSE_BYTES};
pub use endpoint::{Endpoint, EndpointError, API_VERSION, EXTENSION_API_VERSION};
pub use error::ApiError;
pub use error_body::{header_error_type, ErrorBody};
pub use extension::{ExtensionEvent, InvokeEvent, ShutdownEvent, Tracing};
pub use invocation::{InvocationMeta, MetaError};
pub use status::ReplyStatus;
pub use stream::{HttpPrelude, StreamWriter, PRELUDE_SEPARATOR};
pub use telemetry::{
    Buffering, Destination, RecordClass, TelemetryRecord, TelemetrySubscription, TELEMETRY_API_VERSION,
};
pub use time::rfc3339_millis;
