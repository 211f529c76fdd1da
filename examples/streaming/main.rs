//! The streaming example: a Function URL style streamed response written with the runtime's
//! own API — `ResponseStream::http_response` sends the status (418) and the headers as the
//! HTTP-integration prelude, then each `write` sends one chunk at once.
//!
//! Deploy it behind a Function URL with `InvokeMode: RESPONSE_STREAM` (see
//! `examples/sam/`). The event is not read: any JSON will do.

use lambda_actors::stream::HttpPrelude;
use lambda_actors::{Context, Error, ResponseHandler, ResponseWriter};
use std::time::Duration;

struct Stream {
    chunks: usize,
    delay: Duration,
}

impl ResponseHandler for Stream {
    type Event = serde_json::Value;
    type Error = Error;

    async fn handle(&mut self, _event: serde_json::Value, ctx: Context, out: ResponseWriter) -> Result<(), Error> {
        let mut stream = out.stream();
        stream
            .http_response(
                HttpPrelude::new(418)
                    .header("content-type", "text/plain; charset=utf-8")
                    .header("x-streamed-by", "lambda-actors")
                    .header("x-request-id", ctx.request_id())
                    .cookie("visited=1; Path=/"),
            )
            .await?;
        for i in 1..=self.chunks {
            if i > 1 {
                tokio::time::sleep(self.delay).await;
            }
            stream.write(format!("chunk {i}/{}\n", self.chunks)).await?;
        }
        stream.finish().await
    }
}

fn main() -> Result<(), lambda_actors::RuntimeError> {
    lambda_actors::Runtime::new().run_response_handler(|_| {
        Ok(Stream {
            chunks: 5,
            delay: Duration::from_millis(200),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_actors::testing::TestFunction;
    use std::time::Instant;

    #[test]
    fn sends_the_status_and_headers_then_chunks_spread_over_time() {
        let function = TestFunction::start_response_handler(|| {
            Ok(Stream {
                chunks: 4,
                delay: Duration::from_millis(50),
            })
        })
        .unwrap();
        let started = Instant::now();
        let reply = function.invoke_raw(b"{}").unwrap();
        assert_eq!(reply.status, 418, "{reply:?}");
        assert_eq!(reply.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(reply.header("x-streamed-by"), Some("lambda-actors"));
        assert_eq!(reply.header("set-cookie"), Some("visited=1; Path=/"));
        assert_eq!(
            String::from_utf8_lossy(&reply.body),
            "chunk 1/4\nchunk 2/4\nchunk 3/4\nchunk 4/4\n"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "three 50 ms pauses between chunks"
        );
        assert!(!reply.is_function_error());
        function.stop().unwrap();
    }
}
