//! [`Answer`]: the one answer an invocation gets, and who has given it.

use crate::shared::ArbiterLocal;
use crate::Error;
use bytes::Bytes;
use lambda_actors_api::{ApiError, ErrorBody};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Where an invocation's answer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnswerState {
    /// Nothing sent yet: `/response` or `/error` may still be used.
    Pending,
    /// `/response` or `/error` was sent (whatever Lambda replied).
    Sent,
}

/// The answer side of one invocation, shared by the poller and the handler. It makes "exactly
/// one answer" a property of one object: the first `respond`/`error` wins, any later one is
/// refused without touching the network. Answers go out through the awc client of the
/// arbiter they are sent from.
#[derive(Clone)]
pub(crate) struct Answer(Arc<Inner>);

struct Inner {
    request_id: String,
    invocation_id: Option<String>,
    sent: AtomicBool,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("request_id", &self.0.request_id)
            .field("state", &self.state())
            .finish()
    }
}

/// An answer that did not go through.
#[derive(Debug)]
pub(crate) enum AnswerError {
    /// Refused before the network: the invocation already had its answer.
    AlreadyAnswered,
    /// Lambda (or the connection) said no.
    Api(ApiError),
}

impl std::fmt::Display for AnswerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AlreadyAnswered => f.write_str("this invocation was already answered"),
            Self::Api(e) => e.fmt(f),
        }
    }
}

impl Answer {
    pub(crate) fn new(request_id: String, invocation_id: Option<String>) -> Self {
        Self(Arc::new(Inner {
            request_id,
            invocation_id,
            sent: AtomicBool::new(false),
        }))
    }

    pub(crate) fn state(&self) -> AnswerState {
        if self.0.sent.load(Ordering::SeqCst) {
            AnswerState::Sent
        } else {
            AnswerState::Pending
        }
    }

    pub(crate) fn request_id(&self) -> &str {
        &self.0.request_id
    }

    fn claim(&self) -> Result<(), AnswerError> {
        if self.0.sent.swap(true, Ordering::SeqCst) {
            return Err(AnswerError::AlreadyAnswered);
        }
        Ok(())
    }

    /// `POST /response`.
    pub(crate) async fn respond(&self, body: Bytes, content_type: &str) -> Result<(), AnswerError> {
        self.claim()?;
        ArbiterLocal::current()
            .client
            .respond(&self.0.request_id, self.0.invocation_id.as_deref(), content_type, body)
            .await
            .map_err(AnswerError::Api)
    }

    /// `POST /error`.
    pub(crate) async fn error(&self, error: &Error) -> Result<(), AnswerError> {
        self.error_body(&error.to_body()).await
    }

    pub(crate) async fn error_body(&self, body: &ErrorBody) -> Result<(), AnswerError> {
        self.claim()?;
        ArbiterLocal::current()
            .client
            .error(&self.0.request_id, self.0.invocation_id.as_deref(), body)
            .await
            .map_err(AnswerError::Api)
    }
}
