//! Streamed responses: the [`ResponseStream`] a handler writes to, and the response-stream
//! actor that owns the connection.
//!
//! awc cannot stream a request body chunk by chunk (it buffers up to 8 KiB) nor send HTTP
//! trailers, so each streamed response is written by [`StreamWriter`] on its own fresh TCP
//! connection: `TCP_NODELAY`, one chunk per write, the `Trailer:` declaration in the head, and
//! a mid-stream error sent as real trailers (`Lambda-Runtime-Function-Error-Type` and a base64
//! `Lambda-Runtime-Function-Error-Body`). Each `write` waits until its chunk is handed to the
//! kernel, so a slow Runtime API slows the writer and memory stays bounded.

use crate::answer::Answer;
use crate::shared::ArbiterLocal;
use crate::Error;
use actix::prelude::*;
use bytes::Bytes;
use lambda_actors_api::{ErrorBody, StreamWriter};

pub use lambda_actors_api::HttpPrelude;

/// Content type of the HTTP-integration stream (Function URLs, API Gateway streaming).
pub const HTTP_INTEGRATION_CONTENT_TYPE: &str = lambda_actors_api::headers::HTTP_INTEGRATION_CONTENT_TYPE;

enum Command {
    Prelude(HttpPrelude),
    Write(Bytes),
    Finish,
    Fail(ErrorBody),
}

struct StreamCommand(Command);

impl Message for StreamCommand {
    type Result = Result<(), String>;
}

/// Owns one streamed response's connection. Commands run one at a time, in order
/// (`AtomicResponse`), each finishing before the next starts.
pub(crate) struct ResponseStreamActor {
    writer: Option<StreamWriter>,
    request_id: String,
    invocation_id: Option<String>,
    content_type: String,
    broken: Option<String>,
}

impl Actor for ResponseStreamActor {
    type Context = Context<Self>;
}

impl Handler<StreamCommand> for ResponseStreamActor {
    type Result = AtomicResponse<Self, Result<(), String>>;

    fn handle(&mut self, StreamCommand(cmd): StreamCommand, _: &mut Self::Context) -> Self::Result {
        if let Some(err) = &self.broken {
            return AtomicResponse::new(Box::pin(actix::fut::ready(Err(err.clone()))));
        }
        let writer = self.writer.take();
        let (request_id, invocation_id, content_type) = (
            self.request_id.clone(),
            self.invocation_id.clone(),
            self.content_type.clone(),
        );
        let run = async move {
            let mut writer = match writer {
                Some(w) => w,
                None => {
                    let local = ArbiterLocal::current();
                    let endpoint = local.client.endpoint();
                    StreamWriter::start(endpoint, &request_id, invocation_id.as_deref(), &content_type)
                        .await
                        .map_err(|e| e.to_string())?
                }
            };
            let kept = match cmd {
                Command::Prelude(prelude) => writer.write_prelude(&prelude).await.map(|()| Some(writer)),
                Command::Write(data) => writer.write(&data).await.map(|()| Some(writer)),
                Command::Finish => writer.finish().await.map(|()| None),
                Command::Fail(body) => writer.fail(&body).await.map(|()| None),
            };
            kept.map_err(|e| e.to_string())
        };
        AtomicResponse::new(Box::pin(run.into_actor(self).map(|result, act, ctx| match result {
            Ok(Some(writer)) => {
                act.writer = Some(writer);
                Ok(())
            }
            Ok(None) => {
                ctx.stop();
                Ok(())
            }
            Err(e) => {
                act.broken = Some(e.clone());
                Err(e)
            }
        })))
    }
}

/// Where a stream stands, shared with the runtime so a stream the handler left open (it
/// panicked, ran past its deadline, or returned an error) is ended with error trailers.
#[derive(Clone)]
pub(crate) struct StreamHandle {
    addr: Addr<ResponseStreamActor>,
}

impl StreamHandle {
    /// Ends the stream with error trailers.
    pub(crate) async fn fail(&self, error: &Error) -> Result<(), String> {
        self.addr
            .send(StreamCommand(Command::Fail(error.to_body())))
            .await
            .map_err(|e| e.to_string())?
    }

    /// Ends the stream normally.
    pub(crate) async fn finish(&self) -> Result<(), String> {
        self.addr
            .send(StreamCommand(Command::Finish))
            .await
            .map_err(|e| e.to_string())?
    }
}

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
        let addr = ResponseStreamActor {
            writer: None,
            request_id: self.answer.request_id().to_owned(),
            invocation_id: self.answer.invocation_id().map(str::to_owned),
            content_type: self.content_type.clone(),
            broken: None,
        }
        .start();
        let handle = StreamHandle { addr };
        self.answer.set_stream(handle.clone());
        self.handle = Some(handle.clone());
        Ok(handle)
    }

    async fn send(&mut self, cmd: Command) -> Result<(), Error> {
        if self.finished {
            return Err(Error::new("Runtime.StreamClosed", "the stream was already finished"));
        }
        let handle = self.started().await?;
        handle
            .addr
            .send(StreamCommand(cmd))
            .await
            .map_err(|e| stream_error(e.to_string()))?
            .map_err(stream_error)
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
