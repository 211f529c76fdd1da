//! The function-url-streaming example: a Function URL (`InvokeMode: RESPONSE_STREAM`) answered
//! through the `lambda-actors-http` streaming adapter: the response head (a custom status, 418,
//! and headers) goes first, then the body, one chunk at a time, each on the wire as it is
//! written.
//!
//! `?lines=N` (default 5, at most 100) sets how many lines are streamed, 100 ms apart.

use lambda_actors::{Context, Error};
use lambda_actors_http::{http, HttpResponseWriter, HttpRuntime, Request, RequestExt, StreamingHttpHandler};
use std::time::Duration;

struct Teapot {
    delay: Duration,
}

impl StreamingHttpHandler for Teapot {
    type Error = Error;
    async fn handle(&mut self, request: Request, ctx: Context, response: HttpResponseWriter) -> Result<(), Error> {
        let lines: usize = match request.query_parameter("lines") {
            Some(n) => n
                .parse()
                .map_err(|_| Error::new("BadRequest", format!("lines={n:?} is not a number")))?,
            None => 5,
        };
        let head = http::Response::builder()
            .status(http::StatusCode::IM_A_TEAPOT)
            .header("content-type", "text/plain; charset=utf-8")
            .header("x-teapot", "short and stout")
            .header("x-request-id", ctx.request_id())
            .header("set-cookie", "brewed=1; Path=/; HttpOnly")
            .body(())?;
        // The caller has the status and the headers from here on.
        let mut body = response.start(head).await?;
        for i in 1..=lines.min(100) {
            if i > 1 {
                tokio::time::sleep(self.delay).await;
            }
            body.write(format!("line {i} of {lines}\n")).await?;
        }
        body.finish().await
    }
}

fn main() -> Result<(), lambda_actors::RuntimeError> {
    lambda_actors::Runtime::new()
        .example_event(
            r#"{"version": "2.0", "rawPath": "/", "rawQueryString": "lines=3", "headers": {"host": "abc.lambda-url.us-east-1.on.aws"}, "requestContext": {"domainName": "abc.lambda-url.us-east-1.on.aws", "timeEpoch": 0, "http": {"method": "GET", "path": "/"}}, "isBase64Encoded": false}"#,
        )
        .run_http_streaming(|_| {
            Ok(Teapot {
                delay: Duration::from_millis(100),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_actors::testing::TestFunction;
    use serde_json::json;

    /// A Function URL event, as Lambda sends it.
    fn function_url_event(raw_query: &str) -> serde_json::Value {
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/brew",
            "rawQueryString": raw_query,
            "headers": {
                "accept": "*/*",
                "host": "a1b2c3d4e5f6g7h8i9j0.lambda-url.us-west-2.on.aws",
                "user-agent": "curl/8.5.0",
                "x-forwarded-proto": "https"
            },
            "requestContext": {
                "accountId": "anonymous",
                "apiId": "a1b2c3d4e5f6g7h8i9j0",
                "domainName": "a1b2c3d4e5f6g7h8i9j0.lambda-url.us-west-2.on.aws",
                "domainPrefix": "a1b2c3d4e5f6g7h8i9j0",
                "http": {"method": "GET", "path": "/brew", "protocol": "HTTP/1.1", "sourceIp": "198.51.100.10", "userAgent": "curl/8.5.0"},
                "requestId": "4a9f1e5c-0f42-4b52-8d0c-6a4c2f4f1e11",
                "routeKey": "$default",
                "stage": "$default",
                "time": "02/Dec/2025:10:00:00 +0000",
                "timeEpoch": 1764669600000u64
            },
            "isBase64Encoded": false
        })
    }

    #[test]
    fn streams_a_teapot_status_headers_then_lines() {
        let function = TestFunction::start_with(1, |rt| {
            rt.run_http_streaming(|_| {
                Ok(Teapot {
                    delay: Duration::from_millis(20),
                })
            })
        })
        .unwrap();
        let event = serde_json::to_vec(&function_url_event("lines=3")).unwrap();
        let reply = function.invoke_raw(&event).unwrap();
        assert_eq!(reply.status, 418, "{reply:?}");
        assert_eq!(reply.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(reply.header("x-teapot"), Some("short and stout"));
        assert_eq!(reply.header("set-cookie"), Some("brewed=1; Path=/; HttpOnly"));
        assert!(reply.header("x-request-id").is_some_and(|id| !id.is_empty()));
        assert_eq!(
            String::from_utf8_lossy(&reply.body),
            "line 1 of 3\nline 2 of 3\nline 3 of 3\n"
        );

        // A bad query fails before the head: a plain function error.
        let err = function
            .invoke::<_, serde_json::Value>(&function_url_event("lines=many"))
            .unwrap_err();
        assert_eq!(err.error_type(), "BadRequest");
        function.stop().unwrap();
    }
}
