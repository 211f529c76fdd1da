//! The Telemetry API (protocol.md §10): what an extension subscribes with
//! (`PUT /2022-07-01/telemetry`) and the records Lambda then posts to its listener.

use serde::{Deserialize, Serialize};

/// The API version segment of the Telemetry API.
pub const TELEMETRY_API_VERSION: &str = "2022-07-01";

/// A subscription: where to post, which record types, how to batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TelemetrySubscription {
    /// `2022-12-13` on classic Lambda, `2025-01-29` on Managed Instances.
    pub schema_version: String,
    /// The listener Lambda posts the batches to.
    pub destination: Destination,
    /// Record types: `platform`, `function`, `extension`.
    pub types: Vec<String>,
    /// How Lambda batches the records.
    pub buffering: Buffering,
}

/// Where the batches go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destination {
    /// Always `HTTP`.
    pub protocol: String,
    /// `http://sandbox.localdomain:PORT/PATH` on Lambda.
    #[serde(rename = "URI")]
    pub uri: String,
}

/// Lambda's batching of the records it posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Buffering {
    /// At most this many records per batch (1,000 to 10,000).
    pub max_items: u32,
    /// At most this many bytes per batch (262,144 to 1,048,576).
    pub max_bytes: u32,
    /// A batch is posted at least this often, in ms (25 to 30,000).
    pub timeout_ms: u32,
}

impl Default for Buffering {
    fn default() -> Self {
        Self {
            max_items: 1000,
            max_bytes: 256 * 1024,
            timeout_ms: 100,
        }
    }
}

/// One telemetry record: `{"time", "type", "record"}`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TelemetryRecord {
    /// ISO 8601 time.
    pub time: String,
    /// `function`, `extension`, or `platform.start`, `platform.report`...
    #[serde(rename = "type")]
    pub kind: String,
    /// A log line (function, extension) or an object (platform records).
    pub record: serde_json::Value,
}

/// What a record is about, by its `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordClass {
    /// A line the function logged.
    Function,
    /// A line an extension logged.
    Extension,
    /// A `platform.*` record (start, report, runtime done...).
    Platform,
    /// A type this crate does not know.
    Other,
}

impl TelemetryRecord {
    /// The record's class.
    pub fn class(&self) -> RecordClass {
        match self.kind.as_str() {
            "function" => RecordClass::Function,
            "extension" => RecordClass::Extension,
            k if k.starts_with("platform.") => RecordClass::Platform,
            _ => RecordClass::Other,
        }
    }

    /// Parses a batch as Lambda posts it (a JSON array of records); the error names what came.
    pub fn parse_batch(body: &[u8]) -> Result<Vec<Self>, String> {
        serde_json::from_slice(body).map_err(|e| {
            format!(
                "expected a JSON array of telemetry records ({{\"time\", \"type\", \"record\"}}), got {:?}: {e}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_parse_and_records_are_classed_by_type() {
        let batch = br#"[{"time":"2026-12-01T00:00:00.000Z","type":"function","record":"hello"},
            {"time":"2026-12-01T00:00:00.001Z","type":"platform.start","record":{"requestId":"r"}}]"#;
        let records = TelemetryRecord::parse_batch(batch).unwrap();
        assert_eq!(records[0].class(), RecordClass::Function);
        assert_eq!(records[0].record, "hello");
        assert_eq!(records[1].class(), RecordClass::Platform);
        assert!(TelemetryRecord::parse_batch(b"{}").unwrap_err().contains("JSON array"));
        let sub = TelemetrySubscription {
            schema_version: "2022-12-13".into(),
            destination: Destination {
                protocol: "HTTP".into(),
                uri: "http://sandbox.localdomain:4243".into(),
            },
            types: vec!["function".into()],
            buffering: Buffering::default(),
        };
        let json = serde_json::to_value(&sub).unwrap();
        assert_eq!(json["destination"]["URI"], "http://sandbox.localdomain:4243");
        assert_eq!(json["buffering"]["timeoutMs"], 100);
        assert_eq!(json["schemaVersion"], "2022-12-13");
    }
}
