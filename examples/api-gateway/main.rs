//! The api-gateway example: an API Gateway HTTP API (payload format 2.0) served through the
//! `lambda-actors-http` adapter, as plain `http::Request` → `http::Response`.
//!
//! - `GET /hello/{name}` → `{"greetings": "Hello {name}!"}` (the name from the route's path
//!   parameter, or the last path segment)
//! - `POST /echo` → the body back, with its content type (binary bodies stay binary)
//! - anything else → 404
//!
//! The same binary answers REST APIs, ALBs and Function URLs in their own shapes.

use lambda_actors::{Context, Error};
use lambda_actors_http::{http, Body, HttpRuntime, Request, RequestExt};
use serde_json::json;

async fn api(request: Request, ctx: Context) -> Result<http::Response<Body>, Error> {
    let path = request.uri().path().to_owned();
    let response = http::Response::builder().header("x-request-id", ctx.request_id());
    match (request.method(), path.as_str()) {
        (&http::Method::GET, p) if p.starts_with("/hello/") => {
            let name = request
                .path_parameter("name")
                .map(str::to_owned)
                .unwrap_or_else(|| p.trim_start_matches("/hello/").to_owned());
            let body = json!({ "greetings": format!("Hello {name}!") }).to_string();
            Ok(response.header("content-type", "application/json").body(body.into())?)
        }
        (&http::Method::POST, "/echo") => {
            let content_type = request
                .headers()
                .get("content-type")
                .cloned()
                .unwrap_or_else(|| http::HeaderValue::from_static("application/octet-stream"));
            Ok(response
                .header("content-type", content_type)
                .body(request.into_body())?)
        }
        _ => Ok(response
            .status(404)
            .header("content-type", "application/json")
            .body(json!({ "message": format!("no route for {path}") }).to_string().into())?),
    }
}

fn main() -> Result<(), lambda_actors::RuntimeError> {
    lambda_actors::Runtime::new()
        .example_event(
            r#"{"version": "2.0", "rawPath": "/hello/World", "rawQueryString": "", "headers": {"host": "localhost"}, "requestContext": {"http": {"method": "GET", "path": "/hello/World"}}, "isBase64Encoded": false}"#,
        )
        .run_http_fn(api)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_actors::testing::TestFunction;
    use serde_json::Value;

    /// An HTTP API (payload format 2.0) event, as API Gateway sends it.
    fn http_api_event(method: &str, path: &str, body: Option<(&str, bool)>, content_type: &str) -> Value {
        json!({
            "version": "2.0",
            "routeKey": format!("{method} {path}"),
            "rawPath": path,
            "rawQueryString": "",
            "headers": {
                "accept": "*/*",
                "content-type": content_type,
                "host": "r3pmxmplak.execute-api.us-east-2.amazonaws.com",
                "user-agent": "curl/8.5.0",
                "x-forwarded-proto": "https"
            },
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "r3pmxmplak",
                "domainName": "r3pmxmplak.execute-api.us-east-2.amazonaws.com",
                "domainPrefix": "r3pmxmplak",
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "205.255.255.176", "userAgent": "curl/8.5.0"},
                "requestId": "JKJaXmPLvHcESHA=",
                "routeKey": format!("{method} {path}"),
                "stage": "$default",
                "time": "10/Mar/2020:05:16:23 +0000",
                "timeEpoch": 1583817383220u64
            },
            "body": body.map(|(b, _)| b),
            "isBase64Encoded": body.is_some_and(|(_, base64)| base64)
        })
    }

    #[test]
    fn routes_answer_in_the_http_api_shape() {
        let function = TestFunction::start_with(1, |rt| rt.run_http_fn(api)).unwrap();

        let out: Value = function
            .invoke(&http_api_event("GET", "/hello/Ada", None, "text/plain"))
            .unwrap();
        assert_eq!(out["statusCode"], 200);
        assert_eq!(out["headers"]["content-type"], "application/json");
        assert_eq!(out["isBase64Encoded"], false);
        let body: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
        assert_eq!(body, json!({"greetings": "Hello Ada!"}));
        assert!(!out["headers"]["x-request-id"].as_str().unwrap().is_empty());

        // A binary body comes in decoded and goes back base64.
        let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
        let out: Value = function
            .invoke(&http_api_event("POST", "/echo", Some((png, true)), "image/png"))
            .unwrap();
        assert_eq!(
            (out["body"].as_str(), &out["isBase64Encoded"]),
            (Some(png), &json!(true))
        );
        assert_eq!(out["headers"]["content-type"], "image/png");

        let out: Value = function
            .invoke(&http_api_event("DELETE", "/nothing", None, "text/plain"))
            .unwrap();
        assert_eq!(out["statusCode"], 404);
        function.stop().unwrap();
    }
}
