//! The Extensions API's lifecycle events (protocol.md §10), typed: what
//! `GET /2020-01-01/extension/event/next` returns.

use serde::Deserialize;

/// One lifecycle event of an extension.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "eventType", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExtensionEvent {
    /// An invocation started (classic Lambda only; never sent on Managed Instances).
    Invoke(InvokeEvent),
    /// The execution environment is shutting down.
    Shutdown(ShutdownEvent),
}

/// An `INVOKE` event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvokeEvent {
    /// The invocation's deadline, Unix epoch milliseconds.
    pub deadline_ms: u64,
    /// The invocation's request id.
    pub request_id: String,
    /// The ARN the function was invoked with.
    pub invoked_function_arn: String,
    /// The X-Ray tracing header, when there is one.
    #[serde(default)]
    pub tracing: Option<Tracing>,
}

/// A `SHUTDOWN` event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShutdownEvent {
    /// Why: `spindown`, `timeout` or `failure`.
    pub shutdown_reason: String,
    /// When the process is killed, Unix epoch milliseconds.
    pub deadline_ms: u64,
}

/// The tracing field of an `INVOKE` event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Tracing {
    /// `X-Amzn-Trace-Id`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The trace header.
    pub value: String,
}

impl ExtensionEvent {
    /// Parses an `event/next` reply body; the error names what was expected and what came.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(body).map_err(|e| {
            format!(
                "expected an INVOKE or SHUTDOWN event ({{\"eventType\": ..}}), got {:?}: {e}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_events_parse_from_the_documented_shapes() {
        let invoke = br#"{"eventType":"INVOKE","deadlineMs":1700000000000,"requestId":"r-1",
            "invokedFunctionArn":"arn:aws:lambda:us-east-1:1:function:f",
            "tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1-abc"}}"#;
        match ExtensionEvent::parse(invoke).unwrap() {
            ExtensionEvent::Invoke(e) => {
                assert_eq!(e.request_id, "r-1");
                assert_eq!(e.tracing.unwrap().value, "Root=1-abc");
            }
            other => panic!("{other:?}"),
        }
        let shutdown = br#"{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":1}"#;
        assert_eq!(
            ExtensionEvent::parse(shutdown).unwrap(),
            ExtensionEvent::Shutdown(ShutdownEvent {
                shutdown_reason: "spindown".into(),
                deadline_ms: 1
            })
        );
        let err = ExtensionEvent::parse(b"{\"eventType\":\"PARTY\"}").unwrap_err();
        assert!(err.contains("PARTY") && err.contains("INVOKE or SHUTDOWN"), "{err}");
    }
}
