//! The response-stream actor: owns the connection of one streamed response, and runs the
//! commands a [`ResponseStream`](crate::ResponseStream) sends it, one at a time, in order;
//! with [`StreamHandle`], its address as the invocation's answer keeps it.

use crate::shared::ArbiterLocal;
use crate::Error;
use actix::prelude::*;
use bytes::Bytes;
use lambda_actors_api::{ErrorBody, HttpPrelude, StreamWriter};

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
    /// Starts the actor of a new stream on the current arbiter; it connects on its first command.
    pub(crate) fn start(request_id: String, invocation_id: Option<String>, content_type: String) -> Self {
        let addr = ResponseStreamActor {
            writer: None,
            request_id,
            invocation_id,
            content_type,
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
