//! What each Runtime API status code means (protocol.md §4).

/// The class of a Runtime API reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyStatus {
    /// 200 or 202: accepted.
    Accepted,
    /// 400: unknown or already answered request id, truncated request, bad response mode.
    InvalidRequest,
    /// 403: call out of order (`InvalidStateTransition`); on `/init/error` in Managed
    /// Instances, another worker already reported.
    InvalidState,
    /// 410: the answer is for an attempt that already timed out.
    Gone,
    /// 413: buffered response over 6 MiB + 100 bytes.
    TooLarge,
    /// 500: the environment is in a non-recoverable state.
    ContainerError,
    /// Any other code.
    Unexpected(u16),
}

impl ReplyStatus {
    /// Classifies an HTTP status code.
    pub fn from_code(code: u16) -> Self {
        match code {
            200..=299 => Self::Accepted,
            400 => Self::InvalidRequest,
            403 => Self::InvalidState,
            410 => Self::Gone,
            413 => Self::TooLarge,
            500 => Self::ContainerError,
            other => Self::Unexpected(other),
        }
    }

    /// A short name of the class, for logs.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::InvalidRequest => "invalid request (unknown or already answered request id)",
            Self::InvalidState => "invalid state transition",
            Self::Gone => "invocation already timed out",
            Self::TooLarge => "response too large (Function.ResponseSizeTooLarge)",
            Self::ContainerError => "container error: the environment is not recoverable",
            Self::Unexpected(_) => "unexpected status",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_documented_code() {
        assert_eq!(ReplyStatus::from_code(200), ReplyStatus::Accepted);
        assert_eq!(ReplyStatus::from_code(202), ReplyStatus::Accepted);
        assert_eq!(ReplyStatus::from_code(400), ReplyStatus::InvalidRequest);
        assert_eq!(ReplyStatus::from_code(403), ReplyStatus::InvalidState);
        assert_eq!(ReplyStatus::from_code(410), ReplyStatus::Gone);
        assert_eq!(ReplyStatus::from_code(413), ReplyStatus::TooLarge);
        assert_eq!(ReplyStatus::from_code(500), ReplyStatus::ContainerError);
        assert_eq!(ReplyStatus::from_code(502), ReplyStatus::Unexpected(502));
    }
}
