//! The adapters running in the real runtime (behind the embedded local server), invoked with
//! real event samples.

use lambda_actors::testing::TestFunction;
use lambda_actors::{Context, Error};
use lambda_actors_http::{
    http, Adapter, Body, HttpHandler, HttpResponseWriter, Request, RequestExt, StreamingAdapter, StreamingHttpHandler,
};
use serde_json::Value;

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Answers with the method, path and body it got; `/fail` fails.
#[derive(Default)]
struct Echo {
    served: u64,
}

impl HttpHandler for Echo {
    type Error = Error;
    async fn handle(&mut self, request: Request, ctx: Context) -> Result<http::Response<Body>, Error> {
        self.served += 1;
        if request.uri().path() == "/fail" {
            return Err(Error::new("EchoFailed", "asked to fail"));
        }
        let text = format!(
            "{} {} {:?} {} lambda-request-id-set={}",
            request.method(),
            request.uri().path(),
            request.source(),
            request.body().as_str().unwrap_or("<binary>"),
            !ctx.request_id().is_empty(),
        );
        Ok(http::Response::builder()
            .header("content-type", "text/plain")
            .header("x-served", self.served.to_string())
            .body(text.into())?)
    }
}

#[test]
fn the_buffered_adapter_answers_each_source_in_its_shape() {
    let function = TestFunction::start(|| Ok(Adapter::new(Echo::default()))).unwrap();

    let rest: Value = function
        .invoke(&serde_json::from_slice::<Value>(&sample("apigw-rest.json")).unwrap())
        .unwrap();
    assert_eq!(rest["statusCode"], 200);
    assert_eq!(
        rest["body"],
        r#"POST /items/42 Some(ApiGatewayV1) {"name":"teapot","price":12.5} lambda-request-id-set=true"#
    );
    assert_eq!(rest["multiValueHeaders"]["x-served"], serde_json::json!(["1"]));

    let url: Value = function
        .invoke(&serde_json::from_slice::<Value>(&sample("function-url.json")).unwrap())
        .unwrap();
    assert_eq!(
        url["body"],
        "POST /my/path Some(FunctionUrl) Hello from client! lambda-request-id-set=true"
    );
    assert_eq!(url["headers"]["x-served"], "2", "one handler per slot keeps its state");

    let alb: Value = function
        .invoke(&serde_json::from_slice::<Value>(&sample("alb.json")).unwrap())
        .unwrap();
    assert_eq!(alb["statusDescription"], "200 OK");

    let mut failing: Value = serde_json::from_slice(&sample("apigw-http.json")).unwrap();
    failing["rawPath"] = "/fail".into();
    let err = function.invoke::<_, Value>(&failing).unwrap_err();
    assert_eq!((err.error_type(), err.message()), ("EchoFailed", "asked to fail"));

    let err = function
        .invoke::<_, Value>(&serde_json::json!({"name": "World"}))
        .unwrap_err();
    assert_eq!(err.error_type(), "Runtime.UnmarshalError");
    assert!(err.message().contains("not an HTTP event"), "{}", err.message());
    function.stop().unwrap();
}

#[test]
fn closures_run_as_http_handlers() {
    let function = TestFunction::start(|| {
        Ok(Adapter::new(lambda_actors_http::FnHttpHandler::new(
            |request: Request, _ctx: Context| async move {
                let name = request.path_parameter("name").unwrap_or("nobody").to_owned();
                Ok::<_, Error>(http::Response::new(format!("hi {name}")))
            },
        )))
    })
    .unwrap();
    let out: Value = function
        .invoke(&serde_json::from_slice::<Value>(&sample("apigw-http.json")).unwrap())
        .unwrap();
    assert_eq!(out["body"], "hi ada");
    function.stop().unwrap();
}

/// Streams a 418 with headers and a cookie, then three chunks; `/fail` fails after the first.
struct Teapot;

impl StreamingHttpHandler for Teapot {
    type Error = Error;
    async fn handle(&mut self, request: Request, _ctx: Context, response: HttpResponseWriter) -> Result<(), Error> {
        if request.uri().path() == "/early" {
            return Err(Error::new("TooEarly", "failed before the head"));
        }
        let head = http::Response::builder()
            .status(418)
            .header("content-type", "text/plain")
            .header("x-brew", "earl grey")
            .header("set-cookie", "cup=full")
            .body(())?;
        let mut body = response.start(head).await?;
        for part in ["short ", "and ", "stout\n"] {
            body.write(part).await?;
        }
        body.finish().await
    }
}

#[test]
fn the_streaming_adapter_sends_the_head_as_the_prelude_then_the_chunks() {
    let function = TestFunction::start_response_handler(|| Ok(StreamingAdapter::new(Teapot))).unwrap();
    let reply = function.invoke_raw(&sample("function-url.json")).unwrap();
    assert_eq!(reply.status, 418, "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("text/plain"));
    assert_eq!(reply.header("x-brew"), Some("earl grey"));
    assert_eq!(reply.header("set-cookie"), Some("cup=full"));
    assert_eq!(String::from_utf8_lossy(&reply.body), "short and stout\n");
    assert!(!reply.is_function_error());

    let mut early: Value = serde_json::from_slice(&sample("function-url.json")).unwrap();
    early["rawPath"] = "/early".into();
    let err = function.invoke::<_, Value>(&early).unwrap_err();
    assert_eq!(err.error_type(), "TooEarly");
    function.stop().unwrap();
}

/// `send` is the whole response at once.
struct WholeResponse;

impl StreamingHttpHandler for WholeResponse {
    type Error = Error;
    async fn handle(&mut self, _request: Request, _ctx: Context, response: HttpResponseWriter) -> Result<(), Error> {
        response
            .send(
                http::Response::builder()
                    .status(201)
                    .header("x-kind", "whole")
                    .body("created".into())?,
            )
            .await
    }
}

#[test]
fn a_whole_response_can_go_through_the_streaming_adapter() {
    let function = TestFunction::start_response_handler(|| Ok(StreamingAdapter::new(WholeResponse))).unwrap();
    let reply = function.invoke_raw(&sample("function-url.json")).unwrap();
    assert_eq!((reply.status, reply.header("x-kind")), (201, Some("whole")));
    assert_eq!(reply.body, b"created");
    function.stop().unwrap();
}
