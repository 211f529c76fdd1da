//! Real event samples of each source: decoded into an `http::Request`, answered in the
//! source's shape.

use lambda_actors_http::{http, Body, LambdaRequest, RequestContext, RequestExt, RequestSource, ResponseFormat};
use serde_json::{json, Value};

fn event(name: &str) -> LambdaRequest {
    let path = format!("{}/tests/events/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{name} does not decode: {e}"))
}

fn answer(format: ResponseFormat, response: http::Response<Body>) -> Value {
    serde_json::to_value(format.response(response)).unwrap()
}

fn teapot(body: impl Into<Body>) -> http::Response<Body> {
    http::Response::builder()
        .status(418)
        .header("content-type", "text/plain")
        .header("vary", "accept")
        .header("vary", "origin")
        .header("set-cookie", "a=1; Path=/")
        .header("set-cookie", "b=2; HttpOnly")
        .body(body.into())
        .unwrap()
}

#[test]
fn rest_api_events_become_requests_and_get_the_rest_api_shape_back() {
    let event = event("apigw-rest.json");
    assert_eq!(event.source(), RequestSource::ApiGatewayV1);
    let (request, format) = event.into_http().unwrap();
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(
        request.uri().to_string(),
        "https://1234567890.execute-api.us-east-1.amazonaws.com/items/42?colour=dark%20red&size=s&size=m"
    );
    let tags: Vec<_> = request.headers().get_all("x-tag").iter().collect();
    assert_eq!(tags, ["a", "b"], "every value of multiValueHeaders");
    assert_eq!(request.headers()["content-type"], "application/json");
    assert_eq!(request.body(), &Body::Text(r#"{"name":"teapot","price":12.5}"#.into()));
    assert_eq!(request.path_parameter("id"), Some("42"));
    assert_eq!(request.stage_variable("table"), Some("items-prod"));
    assert_eq!(
        request.query_parameters(),
        [("colour", "dark red"), ("size", "s"), ("size", "m")].map(|(n, v)| (n.to_string(), v.to_string()))
    );
    assert_eq!(request.source(), Some(RequestSource::ApiGatewayV1));
    match request.request_context() {
        Some(RequestContext::ApiGatewayV1(ctx)) => {
            assert_eq!(ctx.stage.as_deref(), Some("prod"));
            assert_eq!(ctx.resource_path.as_deref(), Some("/items/{id}"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        request.request_context().unwrap().request_id(),
        Some("c6af9ac6-7b61-11e6-9a41-93e8deadbeef")
    );

    let out = answer(format, teapot("I'm a teapot"));
    assert_eq!(out["statusCode"], 418);
    assert_eq!(out["body"], "I'm a teapot");
    assert_eq!(out["isBase64Encoded"], false);
    assert_eq!(out["multiValueHeaders"]["vary"], json!(["accept", "origin"]));
    assert_eq!(
        out["multiValueHeaders"]["set-cookie"],
        json!(["a=1; Path=/", "b=2; HttpOnly"])
    );
    assert_eq!(out["multiValueHeaders"]["content-type"], json!(["text/plain"]));
}

#[test]
fn http_api_events_become_requests_and_get_the_http_api_shape_back() {
    let event = event("apigw-http.json");
    assert_eq!(event.source(), RequestSource::ApiGatewayV2);
    let (request, format) = event.into_http().unwrap();
    assert_eq!(request.method(), http::Method::GET);
    assert_eq!(
        request.uri().to_string(),
        "https://r3pmxmplak.execute-api.us-east-2.amazonaws.com/hello/ada?greeting=good%20morning&lang=en&lang=fr"
    );
    assert_eq!(
        request.headers()["cookie"],
        "session=abc; theme=dark",
        "cookies become a Cookie header"
    );
    assert_eq!(request.body(), &Body::Empty);
    assert_eq!(request.path_parameter("name"), Some("ada"));
    assert_eq!(request.query_parameter("greeting").as_deref(), Some("good morning"));
    let langs: Vec<_> = request
        .query_parameters()
        .into_iter()
        .filter(|(n, _)| n == "lang")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(langs, ["en", "fr"]);
    match request.request_context() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            let claims = &ctx.authorizer.as_ref().unwrap().jwt.as_ref().unwrap().claims;
            assert_eq!(claims["sub"], "ada");
        }
        other => panic!("{other:?}"),
    }

    let out = answer(format, teapot("I'm a teapot"));
    assert_eq!(out["statusCode"], 418);
    assert_eq!(out["headers"]["vary"], "accept, origin");
    assert_eq!(out["headers"]["content-type"], "text/plain");
    assert!(
        out["headers"].get("set-cookie").is_none(),
        "cookies go in `cookies`: {out}"
    );
    assert_eq!(out["cookies"], json!(["a=1; Path=/", "b=2; HttpOnly"]));
    assert_eq!(out["body"], "I'm a teapot");
    assert_eq!(out["isBase64Encoded"], false);
}

#[test]
fn alb_events_become_requests_and_get_the_alb_shape_back() {
    let event = event("alb.json");
    assert_eq!(event.source(), RequestSource::Alb);
    let (request, format) = event.into_http().unwrap();
    assert_eq!(request.method(), http::Method::GET);
    // ALB passes the query as sent (not decoded): it stays encoded in the URI.
    assert_eq!(
        request.uri().to_string(),
        "http://lambda-alb-123578498.us-east-2.elb.amazonaws.com/lambda?q=a%20b&query=1234ABCD"
    );
    assert_eq!(request.query_parameter("q").as_deref(), Some("a b"));
    assert_eq!(request.headers()["accept-encoding"], "gzip");
    assert_eq!(request.body(), &Body::Empty);
    match request.request_context() {
        Some(RequestContext::Alb(ctx)) => assert!(ctx
            .elb
            .target_group_arn
            .as_deref()
            .unwrap()
            .contains("targetgroup/lambda-279XGJDqGZ5rsrHC2Fjr")),
        other => panic!("{other:?}"),
    }

    let out = answer(format, teapot("I'm a teapot"));
    assert_eq!(out["statusCode"], 418);
    assert_eq!(out["statusDescription"], "418 I'm a teapot");
    assert_eq!(out["headers"]["vary"], "accept, origin");
    assert_eq!(
        out["headers"]["set-cookie"], "b=2; HttpOnly",
        "single-value ALB keeps one cookie"
    );
    assert_eq!(out["multiValueHeaders"], json!({}));
    assert_eq!(out["body"], "I'm a teapot");
}

#[test]
fn alb_multi_value_events_get_multi_value_headers_and_binary_bodies_back_as_base64() {
    let event = event("alb-multi-value.json");
    let (request, format) = event.into_http().unwrap();
    assert_eq!(request.method(), http::Method::PUT);
    assert_eq!(
        request.uri().to_string(),
        "https://lambda-test-alb-1234567.us-east-1.elb.amazonaws.com/upload?tag=x&tag=y"
    );
    let mine: Vec<_> = request.headers().get_all("x-myheader").iter().collect();
    assert_eq!(mine, ["123", "456"]);
    assert_eq!(request.body(), &Body::Binary(b"\x89PNG\r\n\x1a\n".to_vec()));

    let response = http::Response::builder()
        .header("content-type", "image/png")
        .header("set-cookie", "a=1")
        .header("set-cookie", "b=2")
        .body(Body::Binary(vec![0x89, b'P', b'N', b'G', 0xff]))
        .unwrap();
    let out = answer(format, response);
    assert_eq!(out["statusCode"], 200);
    assert_eq!(out["statusDescription"], "200 OK");
    assert_eq!(out["multiValueHeaders"]["set-cookie"], json!(["a=1", "b=2"]));
    assert_eq!(out["headers"], json!({}));
    assert_eq!(out["isBase64Encoded"], true);
    assert_eq!(out["body"], "iVBOR/8=");
}

#[test]
fn function_url_events_become_requests_and_get_the_function_url_shape_back() {
    let event = event("function-url.json");
    assert_eq!(event.source(), RequestSource::FunctionUrl);
    let (request, format) = event.into_http().unwrap();
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(
        request.uri().to_string(),
        "https://a1b2c3d4e5f6g7h8i9j0.lambda-url.us-west-2.on.aws/my/path?parameter1=value1&parameter1=value2&parameter2=value"
    );
    assert_eq!(request.headers()["cookie"], "cookie1; cookie2");
    assert_eq!(request.headers()["header2"], "value1,value2");
    assert_eq!(request.body().as_str(), Some("Hello from client!"));
    match request.request_context() {
        Some(RequestContext::FunctionUrl(ctx)) => {
            let iam = ctx.authorizer.as_ref().unwrap().iam.as_ref().unwrap();
            assert_eq!(
                iam.user_arn.as_deref(),
                Some("arn:aws:iam::111122223333:user/example-user")
            );
        }
        other => panic!("{other:?}"),
    }

    let out = answer(format, teapot("I'm a teapot"));
    assert_eq!(out["statusCode"], 418);
    assert_eq!(out["headers"]["vary"], "accept, origin");
    assert_eq!(out["cookies"], json!(["a=1; Path=/", "b=2; HttpOnly"]));
    assert_eq!(out["body"], "I'm a teapot");
    assert_eq!(out["isBase64Encoded"], false);
}

#[test]
fn binary_bodies_are_decoded_in_and_encoded_out_unless_textual() {
    let (request, format) = event("function-url-binary.json").into_http().unwrap();
    assert_eq!(request.method(), http::Method::PUT);
    let body = request.into_body();
    assert!(matches!(body, Body::Binary(_)));
    assert_eq!(&body[..8], b"\x89PNG\r\n\x1a\n");

    // Binary out: base64.
    let png = http::Response::builder()
        .header("content-type", "image/png")
        .body(body.clone())
        .unwrap();
    let out = answer(format, png);
    assert_eq!(out["isBase64Encoded"], true);
    assert_eq!(
        out["body"],
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    );

    // UTF-8 bytes with a textual type: as text.
    let json_bytes = http::Response::builder()
        .header("content-type", "application/json; charset=utf-8")
        .body(Body::Binary(br#"{"ok":true}"#.to_vec()))
        .unwrap();
    let out = answer(format, json_bytes);
    assert_eq!(
        (out["body"].as_str(), &out["isBase64Encoded"]),
        (Some(r#"{"ok":true}"#), &json!(false))
    );

    // Textual type but compressed: base64.
    let gzipped = http::Response::builder()
        .header("content-type", "text/plain")
        .header("content-encoding", "gzip")
        .body(Body::Binary(b"abc".to_vec()))
        .unwrap();
    let out = answer(format, gzipped);
    assert_eq!(
        (out["body"].as_str(), &out["isBase64Encoded"]),
        (Some("YWJj"), &json!(true))
    );

    // No body: an empty string.
    let out = answer(format, http::Response::builder().status(204).body(Body::Empty).unwrap());
    assert_eq!(
        (out["statusCode"].as_u64(), out["body"].as_str()),
        (Some(204), Some(""))
    );
}

#[test]
fn events_of_other_sources_do_not_decode_and_say_what_was_expected() {
    for other in [
        json!({"Records": [{"messageId": "1", "body": "x", "eventSource": "aws:sqs"}]}),
        json!({"name": "World"}),
        json!({"requestContext": {"connectionId": "abc", "routeKey": "$connect"}}),
    ] {
        let err = serde_json::from_value::<LambdaRequest>(other).unwrap_err().to_string();
        assert!(err.contains("not an HTTP event"), "{err}");
    }
    let broken = json!({"version": "2.0", "requestContext": {"http": {"method": 12}}});
    let err = serde_json::from_value::<LambdaRequest>(broken).unwrap_err().to_string();
    assert!(err.contains("malformed ApiGatewayV2 event"), "{err}");
}

#[test]
fn a_bad_base64_body_is_an_unmarshal_error() {
    let mut v: Value = serde_json::from_slice(
        &std::fs::read(format!("{}/tests/events/alb.json", env!("CARGO_MANIFEST_DIR"))).unwrap(),
    )
    .unwrap();
    v["body"] = json!("not base64!");
    v["isBase64Encoded"] = json!(true);
    let err = serde_json::from_value::<LambdaRequest>(v)
        .unwrap()
        .into_http()
        .unwrap_err();
    assert_eq!(err.error_type(), "Runtime.UnmarshalError");
    assert!(err.message().contains("base64"), "{}", err.message());
}

#[test]
fn paths_with_spaces_and_unicode_are_encoded_into_the_uri() {
    let mut v: Value = serde_json::from_slice(
        &std::fs::read(format!("{}/tests/events/apigw-rest.json", env!("CARGO_MANIFEST_DIR"))).unwrap(),
    )
    .unwrap();
    v["path"] = json!("/files/my report é.pdf");
    let (request, _) = serde_json::from_value::<LambdaRequest>(v).unwrap().into_http().unwrap();
    assert_eq!(request.uri().path(), "/files/my%20report%20%C3%A9.pdf");
}
