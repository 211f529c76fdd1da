//! The response-stream actor: owns the connection of one streamed response, and runs the
//! commands a [`ResponseStream`](crate::ResponseStream) sends it, one at a time, in order;
//! sends the stream again on a fresh connection when one fails before Lambda's reply, and
//! posts the invocation's one `/error` when it cannot be delivered; with [`StreamHandle`], its
//! address as the invocation's answer keeps it.

use crate::shared::ArbiterLocal;
use crate::Error;
use actix::prelude::*;
use bytes::Bytes;
use lambda_actors_api::{ApiError, ErrorBody, HttpPrelude, StreamWriter};
use std::rc::Rc;

#[derive(Clone)]
pub(crate) enum Command {
    Prelude(HttpPrelude),
    Write(Bytes),
    Finish,
    Fail(ErrorBody),
}

struct StreamCommand(Command);

impl Message for StreamCommand {
    type Result = Result<(), String>;
}

/// Payload bytes of a stream kept so that it can be sent again, whole, on a fresh connection
/// when its connection fails before Lambda's reply. A stream longer than this cannot be
/// replayed: then a failed connection ends the invocation with one `/error`.
const REPLAY_LIMIT: usize = 256 * 1024;
/// Connections tried for one stream, the first included (as for buffered answers).
const STREAM_TRIES: u32 = 3;
/// What a stream whose connection failed for good is reported as, on `/error`.
const STREAM_BROKEN: &str = "Runtime.StreamBroken";

/// What has been sent on a stream so far, in order, while it fits in [`REPLAY_LIMIT`].
#[derive(Default)]
struct Replay {
    sent: Vec<Command>,
    bytes: usize,
}

/// Owns one streamed response's connection. Commands run one at a time, in order
/// (`AtomicResponse`), each finishing before the next starts.
///
/// When the connection fails with no reply from Lambda (refused, reset before or after the
/// head, closed without a reply), the stream is sent again from its first byte on a fresh
/// connection, up to [`STREAM_TRIES`] connections in all, as long as it is short enough to
/// replay. Otherwise, or when every try fails, the invocation gets one `/error` on another
/// connection (a 400 there means a copy had arrived after all, and is logged), and every later
/// command fails with the reason, so the handler learns of it.
pub(crate) struct ResponseStreamActor {
    writer: Option<StreamWriter>,
    ids: Rc<StreamIds>,
    /// `None` once the stream outgrew [`REPLAY_LIMIT`].
    replay: Option<Replay>,
    tries: u32,
    broken: Option<String>,
}

/// Which invocation a stream answers, and how.
struct StreamIds {
    request_id: String,
    invocation_id: Option<String>,
    content_type: String,
}

impl StreamIds {
    async fn connect(&self) -> Result<StreamWriter, ApiError> {
        let local = ArbiterLocal::current();
        StreamWriter::start(
            local.client.endpoint(),
            &self.request_id,
            self.invocation_id.as_deref(),
            &self.content_type,
        )
        .await
    }

    /// The invocation's one `/error`, after the stream could not be delivered.
    async fn give_up(&self, error: ErrorBody) {
        let local = ArbiterLocal::current();
        let sent = local
            .client
            .error(&self.request_id, self.invocation_id.as_deref(), &error)
            .await;
        match sent {
            Ok(()) => {}
            // As for any answer (`outcome.rs`): the invocation is over (timed out), nothing lost.
            Err(e) if e.code() == Some(410) => tracing::info!(
                requestId = %self.request_id,
                "answer not taken: {e}"
            ),
            Err(e) if e.code() == Some(400) => tracing::warn!(
                requestId = %self.request_id,
                "Lambda refused the /error that replaces a broken response stream (400: {e}): a copy of \
                 the stream had arrived after all"
            ),
            Err(e) => tracing::error!(
                requestId = %self.request_id,
                "could not post the /error that replaces a broken response stream: {e}"
            ),
        }
    }
}

/// Where one command left the stream.
enum Ran {
    /// The stream goes on on this connection.
    Open(StreamWriter),
    /// The stream ended (Lambda replied 2xx).
    Ended,
}

async fn run_once(writer: Option<StreamWriter>, ids: &StreamIds, cmd: Command) -> Result<Ran, ApiError> {
    let mut writer = match writer {
        Some(w) => w,
        None => ids.connect().await?,
    };
    match cmd {
        Command::Prelude(prelude) => writer.write_prelude(&prelude).await.map(|()| Ran::Open(writer)),
        Command::Write(data) => writer.write(&data).await.map(|()| Ran::Open(writer)),
        Command::Finish => writer.finish().await.map(|()| Ran::Ended),
        Command::Fail(body) => writer.fail(&body).await.map(|()| Ran::Ended),
    }
}

/// A fresh connection with everything sent so far sent again.
async fn replayed(ids: &StreamIds, replay: &Replay) -> Result<StreamWriter, ApiError> {
    let mut writer = ids.connect().await?;
    for cmd in &replay.sent {
        match cmd {
            Command::Prelude(prelude) => writer.write_prelude(prelude).await?,
            Command::Write(data) => writer.write(data).await?,
            Command::Finish | Command::Fail(_) => {}
        }
    }
    Ok(writer)
}

/// No reply from Lambda: the stream may not have arrived, so sending it again is safe.
fn unanswered(e: &ApiError) -> bool {
    e.status().is_none() && (e.is_transport() || e.is_connect())
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
        let (writer, ids, mut replay, mut tries) =
            (self.writer.take(), self.ids.clone(), self.replay.take(), self.tries);
        let run = async move {
            let mut writer = writer;
            loop {
                let err = match run_once(writer.take(), &ids, cmd.clone()).await {
                    Ok(ran) => {
                        if let (Some(log), Command::Prelude(_) | Command::Write(_)) = (&mut replay, &cmd) {
                            log.bytes += match &cmd {
                                Command::Write(data) => data.len(),
                                _ => 1024,
                            };
                            log.sent.push(cmd);
                            if log.bytes > REPLAY_LIMIT {
                                replay = None;
                            }
                        }
                        return (Ok(ran), replay, tries);
                    }
                    Err(e) => e,
                };
                // Connections are tried again while the stream can be replayed whole.
                let Some(log) = replay.as_ref().filter(|_| unanswered(&err) && tries < STREAM_TRIES) else {
                    return (Err(err), replay, tries);
                };
                tries += 1;
                tracing::warn!(
                    requestId = %ids.request_id,
                    "the response stream's connection failed before Lambda replied ({err}); sending \
                     the stream again on a fresh connection (try {tries} of {STREAM_TRIES})"
                );
                actix_rt::time::sleep(std::time::Duration::from_millis(10 * u64::from(tries))).await;
                match replayed(&ids, log).await {
                    Ok(w) => writer = Some(w),
                    Err(e) if unanswered(&e) && tries < STREAM_TRIES => {}
                    Err(e) => return (Err(e), replay, tries),
                }
            }
        };
        let ids = self.ids.clone();
        AtomicResponse::new(Box::pin(run.into_actor(self).then(
            move |(result, replay, tries), act, ctx| {
                act.replay = replay;
                act.tries = tries;
                let settled = match result {
                    Ok(Ran::Open(writer)) => {
                        act.writer = Some(writer);
                        Ok(())
                    }
                    Ok(Ran::Ended) => {
                        ctx.stop();
                        Ok(())
                    }
                    Err(e) => {
                        let reason = e.to_string();
                        act.broken = Some(reason.clone());
                        if unanswered(&e) {
                            // Lambda has no answer from this stream: it gets one `/error`, now.
                            let given_up: ResponseActFuture<Self, Result<(), String>> = Box::pin(
                                async move {
                                    let body = ErrorBody::new(
                                        STREAM_BROKEN,
                                        format!("the response stream could not be delivered: {reason}"),
                                    );
                                    ids.give_up(body).await;
                                    Err(reason)
                                }
                                .into_actor(act),
                            );
                            return given_up;
                        }
                        Err(reason)
                    }
                };
                let settled: ResponseActFuture<Self, Result<(), String>> = Box::pin(actix::fut::ready(settled));
                settled
            },
        )))
    }
}

/// Where a stream stands, shared with the runtime so a stream the handler left open (it
/// panicked, ran past its deadline, or returned an error) is ended with error trailers.
#[derive(Clone)]
pub(crate) struct StreamHandle {
    addr: Addr<ResponseStreamActor>,
}

impl StreamHandle {
    /// Starts the actor of a new stream on the current arbiter; it connects on its first command.
    pub(crate) fn start(request_id: String, invocation_id: Option<String>, content_type: String) -> Self {
        let addr = ResponseStreamActor {
            writer: None,
            ids: Rc::new(StreamIds {
                request_id,
                invocation_id,
                content_type,
            }),
            replay: Some(Replay::default()),
            tries: 1,
            broken: None,
        }
        .start();
        Self { addr }
    }

    /// Runs one command, after those sent before it.
    pub(crate) async fn send(&self, cmd: Command) -> Result<(), String> {
        self.addr.send(StreamCommand(cmd)).await.map_err(|e| e.to_string())?
    }

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
