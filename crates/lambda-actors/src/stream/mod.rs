//! Streamed responses: the [`ResponseStream`] a handler writes to. The connection is owned by
//! the response-stream actor (`response_stream.rs`).
//!
//! awc cannot stream a request body chunk by chunk (it buffers up to 8 KiB) nor send HTTP
//! trailers, so each streamed response is written by [`StreamWriter`](lambda_actors_api::StreamWriter) on its own fresh TCP
//! connection: `TCP_NODELAY`, one chunk per write, the `Trailer:` declaration in the head, and
//! a mid-stream error sent as real trailers (`Lambda-Runtime-Function-Error-Type` and a base64
//! `Lambda-Runtime-Function-Error-Body`). Each `write` waits until its chunk is handed to the
//! kernel, so a slow Runtime API slows the writer and memory stays bounded.

pub(crate) mod actor;
pub(crate) mod body;

use crate::answer::Answer;
use crate::shared::ArbiterLocal;
use crate::stream::actor::{Command, StreamHandle};
use crate::Error;
use bytes::Bytes;

pub use lambda_actors_api::HttpPrelude;

/// Content type of the HTTP-integration stream (Function URLs, API Gateway streaming).
pub const HTTP_INTEGRATION_CONTENT_TYPE: &str = lambda_actors_api::headers::HTTP_INTEGRATION_CONTENT_TYPE;

/// A streamed response. Each [`write`](Self::write) sends one chunk to the caller now.
///
/// Nothing goes on the wire before the first `write` (or [`http_response`](Self::http_response)),
/// so until then the content type can still change and an error returned by the handler is
/// reported through `/error` like any other. After the first byte, an error (returned, or a
/// panic) ends the stream with HTTP trailers; the body keeps the bytes already written.
/// A handler that returns `Ok` without calling [`finish`](Self::finish) is finished for it.
pub struct ResponseStream {
    answer: Answer,
    content_type: String,
    handle: Option<StreamHandle>,
    bytes: u64,
    finished: bool,
}

impl std::fmt::Debug for ResponseStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseStream")
            .field("request_id", &self.answer.request_id())
            .field("content_type", &self.content_type)
            .field("started", &self.handle.is_some())
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl ResponseStream {
    pub(crate) fn new(answer: Answer) -> Self {
        Self {
            answer,
            content_type: "application/octet-stream".to_owned(),
            handle: None,
            bytes: 0,
            finished: false,
        }
    }

    /// True once the first byte (or the prelude) went out.
    pub fn is_started(&self) -> bool {
        self.handle.is_some()
    }

    /// Bytes of payload written so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Sets the `Content-Type` of the stream; only before the first byte.
    pub fn set_content_type(&mut self, content_type: impl Into<String>) -> Result<(), Error> {
        if self.is_started() {
            return Err(too_late("set_content_type"));
        }
        self.content_type = content_type.into();
        Ok(())
    }

    /// Starts an HTTP-integration response (Function URLs, API Gateway streaming): the caller
    /// gets this status, these headers and cookies. Sends the JSON prelude and the 8 NUL bytes
    /// as their own chunks. Only before the first byte: afterwards it is an error (the caller
    /// already has a status).
    pub async fn http_response(&mut self, prelude: HttpPrelude) -> Result<(), Error> {
        if self.is_started() {
            return Err(too_late("http_response"));
        }
        self.content_type = HTTP_INTEGRATION_CONTENT_TYPE.to_owned();
        self.send(Command::Prelude(prelude)).await
    }

    /// Sends one chunk now. An empty chunk sends nothing (a zero-length chunk would end the body).
    pub async fn write(&mut self, data: impl Into<Bytes>) -> Result<(), Error> {
        let data = data.into();
        if data.is_empty() {
            return Ok(());
        }
        let len = data.len() as u64;
        self.send(Command::Write(data)).await?;
        self.bytes += len;
        ArbiterLocal::count(|w| w.bytes_out += len);
        Ok(())
    }

    /// Ends the stream (an empty response if nothing was written) and waits for Lambda's reply.
    pub async fn finish(mut self) -> Result<(), Error> {
        if self.finished {
            return Ok(());
        }
        let handle = self.started().await?;
        self.finished = true;
        let result = handle.finish().await;
        self.answer.stream_ended();
        result.map_err(stream_error)
    }

    async fn started(&mut self) -> Result<StreamHandle, Error> {
        if let Some(h) = &self.handle {
            return Ok(h.clone());
        }
        if !self.answer.claim_stream() {
            return Err(Error::new(
                "Runtime.AlreadyAnswered",
                "this invocation was already answered; it cannot also stream",
            ));
        }
        let handle = StreamHandle::start(
            self.answer.request_id().to_owned(),
            self.answer.invocation_id().map(str::to_owned),
            self.content_type.clone(),
        );
        self.answer.set_stream(handle.clone());
        self.handle = Some(handle.clone());
        Ok(handle)
    }

    async fn send(&mut self, cmd: Command) -> Result<(), Error> {
        if self.finished {
            return Err(Error::new("Runtime.StreamClosed", "the stream was already finished"));
        }
        let handle = self.started().await?;
        handle.send(cmd).await.map_err(stream_error)
    }
}

fn too_late(what: &str) -> Error {
    Error::new(
        "Runtime.StreamAlreadyStarted",
        format!("{what} must be called before the first byte of the stream is written"),
    )
}

fn stream_error(detail: String) -> Error {
    Error::new("Runtime.StreamError", format!("the response stream failed: {detail}"))
}
