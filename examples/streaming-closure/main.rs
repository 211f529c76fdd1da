//! The streaming-closure example: a Function URL style streamed response from a closure, with
//! no trait to implement. The closure returns a `StreamResponse` (status and headers first,
//! then a body fed through a channel by work started with `lambda_actors::spawn`), so it
//! answers exactly once by construction.
//!
//! Deploy it like `streaming` (a Function URL with `InvokeMode: RESPONSE_STREAM`, see
//! `examples/sam/`). The event is the number of lines: `{"lines": 5}`.

use lambda_actors::stream::HttpPrelude;
use lambda_actors::{Context, Error, Runtime, StreamResponse};
use std::time::Duration;

#[derive(serde::Deserialize)]
struct Request {
    lines: u32,
    #[serde(default = "default_delay")]
    delay_ms: u64,
}

fn default_delay() -> u64 {
    100
}

async fn count(request: Request, ctx: Context) -> Result<StreamResponse, Error> {
    if request.lines > 1000 {
        return Err(Error::new("TooManyLines", "at most 1000 lines"));
    }
    let (body, response) = StreamResponse::channel(8);
    lambda_actors::spawn(async move {
        for i in 1..=request.lines {
            if i > 1 {
                tokio::time::sleep(Duration::from_millis(request.delay_ms)).await;
            }
            if body.send(format!("line {i}/{}\n", request.lines)).await.is_err() {
                return; // the stream ended early: stop producing
            }
        }
    });
    Ok(response.http(
        HttpPrelude::new(200)
            .header("content-type", "text/plain; charset=utf-8")
            .header("x-request-id", ctx.request_id()),
    ))
}

fn main() -> Result<(), lambda_actors::RuntimeError> {
    Runtime::new().example_event(r#"{"lines": 5}"#).run_stream_fn(count)
}

#[cfg(all(test, feature = "local-server"))]
mod tests {
    use super::*;
    use lambda_actors::testing::TestFunction;
    use std::time::Instant;

    #[test]
    fn streams_the_lines_after_the_status_and_headers() {
        let function = TestFunction::start_with(1, |rt| rt.run_stream_fn(count)).unwrap();
        let started = Instant::now();
        let reply = function.invoke_raw(br#"{"lines": 3, "delay_ms": 50}"#).unwrap();
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.header("content-type"), Some("text/plain; charset=utf-8"));
        assert!(reply.header("x-request-id").is_some_and(|id| !id.is_empty()));
        assert_eq!(String::from_utf8_lossy(&reply.body), "line 1/3\nline 2/3\nline 3/3\n");
        assert!(
            started.elapsed() >= Duration::from_millis(100),
            "two 50 ms pauses between lines"
        );
        assert!(!reply.is_function_error());
        function.stop().unwrap();
    }

    #[test]
    fn an_error_before_the_stream_is_a_plain_function_error() {
        let function = TestFunction::start_with(1, |rt| rt.run_stream_fn(count)).unwrap();
        let err = function
            .invoke::<_, serde_json::Value>(&serde_json::json!({"lines": 5000}))
            .unwrap_err();
        assert_eq!(
            (err.error_type(), err.message()),
            ("TooManyLines", "at most 1000 lines")
        );
        function.stop().unwrap();
    }
}
