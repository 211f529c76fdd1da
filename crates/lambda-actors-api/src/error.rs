//! The one error type of the Runtime API client.

use crate::{InvocationMeta, MetaError, ReplyStatus};
use std::fmt;

/// A Runtime API call that did not succeed.
///
/// One opaque type with predicates: [`is_connect`](Self::is_connect) for "the API is not
/// there", [`status`](Self::status) for an HTTP reply that was not 2xx, and
/// [`delivered`](Self::delivered) for an event whose headers named it but whose body could
/// not be read — that event still needs an answer.
#[derive(Debug)]
pub struct ApiError {
    kind: Kind,
    detail: String,
    delivered: Option<Box<InvocationMeta>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Connect,
    Unsent,
    Transport,
    Status(ReplyStatus, u16),
    Headers,
    Body,
    Input,
}

impl ApiError {
    pub(crate) fn connect(detail: impl fmt::Display) -> Self {
        Self::new(Kind::Connect, detail.to_string())
    }

    /// No reply: the connection broke while the request was being written, or before the
    /// API replied.
    pub(crate) fn unsent(detail: impl fmt::Display) -> Self {
        Self::new(Kind::Unsent, detail.to_string())
    }

    pub(crate) fn transport(detail: impl fmt::Display) -> Self {
        Self::new(Kind::Transport, detail.to_string())
    }

    pub(crate) fn from_status(code: u16, body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
        Self::new(Kind::Status(ReplyStatus::from_code(code), code), text)
    }

    pub(crate) fn headers(err: MetaError) -> Self {
        Self::new(Kind::Headers, err.to_string())
    }

    pub(crate) fn body(detail: impl fmt::Display, meta: InvocationMeta) -> Self {
        let mut err = Self::new(Kind::Body, detail.to_string());
        err.delivered = Some(Box::new(meta));
        err
    }

    /// A value the caller supplied cannot go on the wire (a header value with CR/LF, say).
    pub(crate) fn input(detail: impl fmt::Display) -> Self {
        Self::new(Kind::Input, detail.to_string())
    }

    fn new(kind: Kind, detail: String) -> Self {
        Self {
            kind,
            detail,
            delivered: None,
        }
    }

    /// The Runtime API could not be reached (refused, unresolvable, connect timeout).
    pub fn is_connect(&self) -> bool {
        self.kind == Kind::Connect
    }

    /// No reply came back: the connection was refused, broke while the request was being
    /// written, or closed before the API replied. Sending again is how an answer is not lost;
    /// if the first copy did arrive, Lambda rejects the repeat with 400 (`InvalidRequestID`).
    /// An error *with* a reply (any status, even a malformed one) is never retryable.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, Kind::Connect | Kind::Unsent)
    }

    /// The connection broke mid-request or the reply was not HTTP.
    pub fn is_transport(&self) -> bool {
        matches!(self.kind, Kind::Transport | Kind::Unsent)
    }

    /// The `/next` reply's headers did not name an invocation (no usable request id).
    pub fn is_bad_headers(&self) -> bool {
        self.kind == Kind::Headers
    }

    /// The class of a non-2xx reply, if the API answered with one.
    pub fn status(&self) -> Option<ReplyStatus> {
        match self.kind {
            Kind::Status(s, _) => Some(s),
            _ => None,
        }
    }

    /// The numeric HTTP status, if the API answered with a non-2xx one.
    pub fn code(&self) -> Option<u16> {
        match self.kind {
            Kind::Status(_, c) => Some(c),
            _ => None,
        }
    }

    /// An event that `/next` delivered (its headers were read) but whose body could not be:
    /// it must still be answered with an error.
    pub fn delivered(&self) -> Option<&InvocationMeta> {
        self.delivered.as_deref()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Connect => write!(f, "cannot connect to the Runtime API: {}", self.detail),
            Kind::Unsent => write!(f, "Runtime API connection failed while sending: {}", self.detail),
            Kind::Transport => write!(f, "Runtime API connection failed: {}", self.detail),
            Kind::Status(s, code) => write!(f, "Runtime API replied {code} ({}): {}", s.describe(), self.detail),
            Kind::Headers => f.write_str(&self.detail),
            Kind::Body => write!(f, "cannot read the event body: {}", self.detail),
            Kind::Input => write!(f, "cannot send this to the Runtime API: {}", self.detail),
        }
    }
}

impl std::error::Error for ApiError {}
