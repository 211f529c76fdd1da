//! The metadata Lambda sends with each event on `GET /next`.

use crate::headers;

/// The headers `from_raw` reads, as raw bytes.
#[derive(Default)]
struct RawHeaders<'a> {
    values: [Option<&'a [u8]>; 10],
}

impl<'a> RawHeaders<'a> {
    const NAMES: [&'static str; 10] = [
        headers::REQUEST_ID,
        headers::DEADLINE_MS,
        headers::INVOKED_FUNCTION_ARN,
        headers::TRACE_ID,
        headers::CLIENT_CONTEXT,
        headers::COGNITO_IDENTITY,
        headers::TENANT_ID,
        headers::INVOCATION_ID,
        "content-type",
        "content-length",
    ];

    fn set(&mut self, name: &str, value: &'a [u8]) {
        if let Some(i) = Self::NAMES.iter().position(|n| *n == name) {
            self.values[i] = Some(value);
        }
    }

    fn get(&self, name: &str) -> Option<&'a [u8]> {
        Self::NAMES.iter().position(|n| *n == name).and_then(|i| self.values[i])
    }
}

/// Deadlines below this (2001-09-09 in epoch ms) are durations, not instants.
const EARLIEST_EPOCH_DEADLINE_MS: u64 = 1_000_000_000_000;

/// Everything the headers of a `GET /next` reply say about one invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvocationMeta {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// `Lambda-Runtime-Deadline-Ms`, absent when Lambda sent none (or an unreadable value).
    pub deadline_ms: Option<u64>,
    /// The raw deadline header when it was present but not a number, for a warning.
    pub bad_deadline: Option<String>,
    /// The deadline header held a duration (some emulators send e.g. `600000`), not epoch
    /// milliseconds: `deadline_ms` was computed as now plus that duration.
    pub relative_deadline: bool,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub invoked_function_arn: Option<String>,
    /// `Lambda-Runtime-Trace-Id`.
    pub trace_id: Option<String>,
    /// `Lambda-Runtime-Client-Context`, raw JSON text.
    pub client_context: Option<String>,
    /// `Lambda-Runtime-Cognito-Identity`, raw JSON text.
    pub cognito_identity: Option<String>,
    /// `Lambda-Runtime-Aws-Tenant-Id`.
    pub tenant_id: Option<String>,
    /// `Lambda-Runtime-Invocation-Id`: echoed back on the answer when present.
    pub invocation_id: Option<String>,
    /// `Content-Type` of the event.
    pub content_type: Option<String>,
}

/// Why a `/next` reply's headers cannot name an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaError {
    /// No `Lambda-Runtime-Aws-Request-Id`.
    MissingRequestId,
    /// A request id that is empty or not visible ASCII.
    BadRequestId(String),
}

impl std::fmt::Display for MetaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingRequestId => f.write_str("the /next reply has no Lambda-Runtime-Aws-Request-Id header"),
            Self::BadRequestId(v) => write!(
                f,
                "the /next reply's Lambda-Runtime-Aws-Request-Id {v:?} is not a request id"
            ),
        }
    }
}

impl std::error::Error for MetaError {}

impl InvocationMeta {
    /// Reads the metadata through `get`, which returns a header's raw value by lower-case name.
    ///
    /// Only the request id is required. Optional headers that are not UTF-8 count as absent;
    /// a deadline that is not a number is kept in `bad_deadline` and treated as "no deadline".
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a [u8]>) -> Result<Self, MetaError> {
        let mut raw = RawHeaders::default();
        for name in RawHeaders::NAMES {
            if let Some(value) = get(name) {
                raw.set(name, value);
            }
        }
        Self::from_raw(&raw)
    }

    /// Reads the metadata in one pass over `(lower-case name, value)` pairs (what an HTTP
    /// parser hands out), without a lookup per header.
    pub fn from_header_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Result<Self, MetaError> {
        let mut raw = RawHeaders::default();
        for (name, value) in pairs {
            raw.set(name, value);
        }
        Self::from_raw(&raw)
    }

    fn from_raw(raw: &RawHeaders<'_>) -> Result<Self, MetaError> {
        let get = |name: &str| raw.get(name);
        let text = |name: &str| {
            get(name)
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let raw_id = get(headers::REQUEST_ID).ok_or(MetaError::MissingRequestId)?;
        let request_id = match std::str::from_utf8(raw_id) {
            Ok(id) if !id.trim().is_empty() && id.trim().bytes().all(|b| b.is_ascii_graphic()) => id.trim().to_owned(),
            _ => return Err(MetaError::BadRequestId(String::from_utf8_lossy(raw_id).into_owned())),
        };
        let (mut deadline_ms, bad_deadline) = match text(headers::DEADLINE_MS) {
            None => (None, None),
            Some(v) => match v.parse::<u64>() {
                Ok(ms) => (Some(ms), None),
                Err(_) => (None, Some(v)),
            },
        };
        // Lambda sends Unix epoch milliseconds; a value before 2001-09-09 cannot be one, and
        // emulators that send a duration mean "this much from now".
        let relative_deadline = deadline_ms.is_some_and(|ms| ms < EARLIEST_EPOCH_DEADLINE_MS);
        if relative_deadline {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64;
            deadline_ms = deadline_ms.map(|d| now + d);
        }
        Ok(Self {
            request_id,
            deadline_ms,
            bad_deadline,
            relative_deadline,
            invoked_function_arn: text(headers::INVOKED_FUNCTION_ARN),
            trace_id: text(headers::TRACE_ID),
            client_context: text(headers::CLIENT_CONTEXT),
            cognito_identity: text(headers::COGNITO_IDENTITY),
            tenant_id: text(headers::TENANT_ID),
            invocation_id: text(headers::INVOCATION_ID),
            content_type: text("content-type"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &[u8])]) -> Result<InvocationMeta, MetaError> {
        InvocationMeta::from_headers(|name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
    }

    #[test]
    fn reads_every_header() {
        let meta = parse(&[
            (headers::REQUEST_ID, b"id-1"),
            (headers::DEADLINE_MS, b"1700000000000"),
            (headers::INVOKED_FUNCTION_ARN, b"arn:aws:lambda:us-east-1:1:function:f"),
            (headers::TRACE_ID, b"Root=1-2-3;Parent=4;Sampled=1"),
            (headers::CLIENT_CONTEXT, br#"{"custom":{"a":"b"}}"#),
            (
                headers::COGNITO_IDENTITY,
                br#"{"cognitoIdentityId":"x","cognitoIdentityPoolId":"y"}"#,
            ),
            (headers::TENANT_ID, b"tenant-7"),
            (headers::INVOCATION_ID, b"nonce-9"),
            ("content-type", b"application/json"),
        ])
        .unwrap();
        assert_eq!(meta.request_id, "id-1");
        assert_eq!(meta.deadline_ms, Some(1_700_000_000_000));
        assert_eq!(meta.tenant_id.as_deref(), Some("tenant-7"));
        assert_eq!(meta.invocation_id.as_deref(), Some("nonce-9"));
        assert_eq!(meta.trace_id.as_deref(), Some("Root=1-2-3;Parent=4;Sampled=1"));
        assert!(meta.client_context.unwrap().contains("custom"));
        assert!(meta.cognito_identity.unwrap().contains("cognitoIdentityId"));
        assert_eq!(meta.content_type.as_deref(), Some("application/json"));
    }

    #[test]
    fn one_pass_over_pairs_reads_the_same_as_lookups() {
        let pairs: [(&str, &[u8]); 5] = [
            ("x-other", b"1"),
            (headers::REQUEST_ID, b"id-2"),
            (headers::TENANT_ID, b"t"),
            (headers::INVOCATION_ID, b"n"),
            ("content-type", b"application/json"),
        ];
        let by_pass = InvocationMeta::from_header_pairs(pairs).unwrap();
        assert_eq!(by_pass, parse(&pairs).unwrap());
        assert_eq!(by_pass.request_id, "id-2");
        assert_eq!(by_pass.tenant_id.as_deref(), Some("t"));
    }

    #[test]
    fn tolerates_missing_or_garbage_deadline_and_non_utf8_optionals() {
        let meta = parse(&[(headers::REQUEST_ID, b"id")]).unwrap();
        assert_eq!(meta.deadline_ms, None);
        assert_eq!(meta.bad_deadline, None);
        let meta = parse(&[
            (headers::REQUEST_ID, b"id"),
            (headers::DEADLINE_MS, b"soon"),
            (headers::TENANT_ID, b"\xff\xfe"),
        ])
        .unwrap();
        assert_eq!(meta.deadline_ms, None);
        assert_eq!(meta.bad_deadline.as_deref(), Some("soon"));
        assert_eq!(meta.tenant_id, None);
    }

    #[test]
    fn a_duration_in_the_deadline_header_counts_from_now() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let meta = parse(&[(headers::REQUEST_ID, b"id"), (headers::DEADLINE_MS, b"600000")]).unwrap();
        assert!(meta.relative_deadline);
        let d = meta.deadline_ms.unwrap();
        assert!(d >= before + 600_000 && d < before + 660_000, "{d} vs {before}");
        let meta = parse(&[(headers::REQUEST_ID, b"id"), (headers::DEADLINE_MS, b"1795705711123")]).unwrap();
        assert!(!meta.relative_deadline);
        assert_eq!(meta.deadline_ms, Some(1_795_705_711_123));
    }

    #[test]
    fn request_id_is_required_and_must_be_visible_ascii() {
        assert_eq!(parse(&[]), Err(MetaError::MissingRequestId));
        assert!(matches!(
            parse(&[(headers::REQUEST_ID, b"")]),
            Err(MetaError::BadRequestId(_))
        ));
        assert!(matches!(
            parse(&[(headers::REQUEST_ID, b"a b")]),
            Err(MetaError::BadRequestId(_))
        ));
        assert!(matches!(
            parse(&[(headers::REQUEST_ID, b"\xff")]),
            Err(MetaError::BadRequestId(_))
        ));
    }
}
