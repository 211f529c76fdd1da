//! [`Answer`]: the one answer an invocation gets, and who has given it.

use crate::shared::ArbiterLocal;
use crate::stream::actor::StreamHandle;
use crate::{Context, Error};
use bytes::Bytes;
use lambda_actors_api::ApiError;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// Where an invocation's answer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnswerState {
    /// Nothing sent yet: `/response` or `/error` may still be used.
    Pending,
    /// A streamed response has started and is not finished: only trailers can carry an error.
    Streaming,
    /// `/response` or `/error` was sent, or the stream ended (whatever Lambda replied).
    Sent,
}

const PENDING: u8 = 0;
const STREAMING: u8 = 1;
const SENT: u8 = 2;

/// The answer side of one invocation, shared by the poller and the handler. It makes "exactly
/// one answer" a property of one object: the first `respond`/`error` wins, any later one is
/// refused without touching the network. Answers go out through the awc client of the
/// arbiter they are sent from.
#[derive(Clone)]
pub(crate) struct Answer(Arc<Inner>);

struct Inner {
    /// The invocation's context: its ids, shared rather than copied.
    ctx: Context,
    state: AtomicU8,
    stream: Mutex<Option<StreamHandle>>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("request_id", &self.request_id())
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
    pub(crate) fn new(ctx: Context) -> Self {
        Self(Arc::new(Inner {
            ctx,
            state: AtomicU8::new(PENDING),
            stream: Mutex::new(None),
        }))
    }

    pub(crate) fn state(&self) -> AnswerState {
        match self.0.state.load(Ordering::SeqCst) {
            PENDING => AnswerState::Pending,
            STREAMING => AnswerState::Streaming,
            _ => AnswerState::Sent,
        }
    }

    pub(crate) fn request_id(&self) -> &str {
        self.0.ctx.request_id()
    }

    pub(crate) fn invocation_id(&self) -> Option<&str> {
        self.0.ctx.invocation_id()
    }

    fn claim(&self) -> Result<(), AnswerError> {
        self.0
            .state
            .compare_exchange(PENDING, SENT, Ordering::SeqCst, Ordering::SeqCst)
            .map(drop)
            .map_err(|_| AnswerError::AlreadyAnswered)
    }

    /// Pending → Streaming; false if the invocation was already answered or is streaming.
    pub(crate) fn claim_stream(&self) -> bool {
        self.0
            .state
            .compare_exchange(PENDING, STREAMING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    pub(crate) fn set_stream(&self, handle: StreamHandle) {
        *self.0.stream.lock() = Some(handle);
    }

    /// The stream of a Streaming answer, for the runtime to end it.
    pub(crate) fn stream(&self) -> Option<StreamHandle> {
        self.0.stream.lock().clone()
    }

    /// The stream was finished or failed: the invocation has its answer.
    pub(crate) fn stream_ended(&self) {
        self.0.state.store(SENT, Ordering::SeqCst);
        self.0.stream.lock().take();
    }

    /// `POST /response`.
    pub(crate) async fn respond(&self, body: Bytes, content_type: &str) -> Result<(), AnswerError> {
        self.claim()?;
        let local = ArbiterLocal::current();
        local.stats.borrow_mut().bytes_out += body.len() as u64;
        let (id, invocation) = (self.request_id(), self.invocation_id());
        retrying(|| local.client.respond(id, invocation, content_type, body.clone())).await
    }

    /// `POST /error`.
    pub(crate) async fn error(&self, error: &Error) -> Result<(), AnswerError> {
        self.claim()?;
        let body = &error.to_body();
        let local = ArbiterLocal::current();
        let (id, invocation) = (self.request_id(), self.invocation_id());
        retrying(|| local.client.error(id, invocation, body)).await
    }
}

/// Tries an answer up to three times while no reply comes back (refused, broken while being
/// written, closed or reset before the reply): an answer lost to a broken connection is sent
/// again. An answer that got any reply is never repeated. If a copy without a reply did
/// arrive, Lambda rejects the repeat with 400, which is logged and survived: a repeated
/// attempt beats a lost answer.
async fn retrying<F, Fut>(mut send: F) -> Result<(), AnswerError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), ApiError>>,
{
    let mut tries = 1;
    loop {
        match send().await {
            Err(e) if e.is_retryable() && tries < 3 => {
                tracing::warn!("answer not delivered ({e}); retrying on a fresh connection");
                actix_rt::time::sleep(std::time::Duration::from_millis(10 * tries)).await;
                tries += 1;
            }
            result => return result.map_err(AnswerError::Api),
        }
    }
}
