//! From an `http::Response` back to the JSON shape the invoking service expects.

use crate::request::RequestSource;
use crate::Body;
use aws_lambda_events::alb::AlbTargetGroupResponse;
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body as EventBody;
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlResponse;
use base64::Engine;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, SET_COOKIE};
use serde::Serialize;

/// The shape a response must take: the source of the request, and (for ALB) whether the
/// target group has multi-value headers on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseFormat {
    pub(crate) source: RequestSource,
    pub(crate) multi_value_headers: bool,
}

impl ResponseFormat {
    /// The format for a source (ALB: single-value headers).
    pub fn new(source: RequestSource) -> Self {
        Self {
            source,
            multi_value_headers: false,
        }
    }

    /// ALB only: answer with `multiValueHeaders` (the target group has multi-value headers on,
    /// which the adapter sees from the request's `multiValueHeaders`).
    pub fn with_multi_value_headers(mut self, on: bool) -> Self {
        self.multi_value_headers = on;
        self
    }

    /// The source of the request.
    pub fn source(&self) -> RequestSource {
        self.source
    }

    /// Converts a response into the JSON shape of the source:
    ///
    /// - REST API: `statusCode`, `multiValueHeaders` (every value, `Set-Cookie` included), `body`, `isBase64Encoded`;
    /// - HTTP API and Function URL: `statusCode`, `headers` (several values joined with `, `),
    ///   `cookies` (each `Set-Cookie`), `body`, `isBase64Encoded`;
    /// - ALB: `statusCode`, `statusDescription` (`"200 OK"`), `headers` or `multiValueHeaders`
    ///   as the target group uses (single-value: several values joined with `, `, and the last
    ///   `Set-Cookie` only, as ALB allows one), `body`, `isBase64Encoded`.
    ///
    /// A [`Body::Binary`] goes base64 unless its `Content-Type` is textual (`text/*`, JSON,
    /// XML, JavaScript, form data), it has no `Content-Encoding` and its bytes are UTF-8.
    pub fn response(&self, response: http::Response<Body>) -> LambdaResponse {
        let (parts, body) = response.into_parts();
        let status = parts.status;
        let (body, is_base64_encoded) = encode_body(body, &parts.headers);
        let event_body = Some(EventBody::Text(body.clone()));
        match self.source {
            RequestSource::ApiGatewayV1 => {
                let mut r = ApiGatewayProxyResponse::default();
                r.status_code = i64::from(status.as_u16());
                r.multi_value_headers = parts.headers;
                r.body = event_body;
                r.is_base64_encoded = is_base64_encoded;
                LambdaResponse::ApiGatewayV1(Box::new(r))
            }
            RequestSource::ApiGatewayV2 => {
                let (headers, cookies) = split_cookies(parts.headers);
                let mut r = ApiGatewayV2httpResponse::default();
                r.status_code = i64::from(status.as_u16());
                r.headers = headers;
                r.cookies = cookies;
                r.body = event_body;
                r.is_base64_encoded = is_base64_encoded;
                LambdaResponse::ApiGatewayV2(Box::new(r))
            }
            RequestSource::FunctionUrl => {
                let (headers, cookies) = split_cookies(parts.headers);
                let mut r = LambdaFunctionUrlResponse::default();
                r.status_code = i64::from(status.as_u16());
                r.headers = headers;
                r.cookies = cookies;
                r.body = Some(body);
                r.is_base64_encoded = is_base64_encoded;
                LambdaResponse::FunctionUrl(Box::new(r))
            }
            RequestSource::Alb => {
                let mut r = AlbTargetGroupResponse::default();
                r.status_code = i64::from(status.as_u16());
                r.status_description = Some(
                    format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or_default())
                        .trim_end()
                        .to_owned(),
                );
                if self.multi_value_headers {
                    r.multi_value_headers = parts.headers;
                } else {
                    let mut headers = parts.headers;
                    let last_cookie = headers.get_all(SET_COOKIE).iter().next_back().cloned();
                    headers.remove(SET_COOKIE);
                    let mut joined = join_values(headers);
                    if let Some(cookie) = last_cookie {
                        joined.insert(SET_COOKIE, cookie);
                    }
                    r.headers = joined;
                }
                r.body = event_body;
                r.is_base64_encoded = is_base64_encoded;
                LambdaResponse::Alb(Box::new(r))
            }
        }
    }
}

/// A response in the JSON shape of its source (serialize it as the invocation's output).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum LambdaResponse {
    /// For an API Gateway REST API.
    ApiGatewayV1(Box<ApiGatewayProxyResponse>),
    /// For an API Gateway HTTP API.
    ApiGatewayV2(Box<ApiGatewayV2httpResponse>),
    /// For an Application Load Balancer.
    Alb(Box<AlbTargetGroupResponse>),
    /// For a Lambda Function URL.
    FunctionUrl(Box<LambdaFunctionUrlResponse>),
}

/// True for content types whose bodies are text.
pub(crate) fn is_text_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || matches!(
            essence.as_str(),
            "application/json" | "application/xml" | "application/javascript" | "application/x-www-form-urlencoded"
        )
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
}

/// The body as the event's string, and whether it is base64.
fn encode_body(body: Body, headers: &HeaderMap) -> (String, bool) {
    match body {
        Body::Empty => (String::new(), false),
        Body::Text(text) => (text, false),
        Body::Binary(bytes) => {
            let textual = !headers.contains_key(CONTENT_ENCODING)
                && headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(is_text_content_type);
            match String::from_utf8(bytes) {
                Ok(text) if textual => (text, false),
                Ok(text) => (base64::engine::general_purpose::STANDARD.encode(text), true),
                Err(e) => (base64::engine::general_purpose::STANDARD.encode(e.into_bytes()), true),
            }
        }
    }
}

/// Several values of one header joined with `, ` (the single-value `headers` maps take one).
fn join_values(headers: HeaderMap) -> HeaderMap {
    let mut joined = HeaderMap::with_capacity(headers.keys_len());
    let mut current: Option<(HeaderName, Vec<u8>)> = None;
    let flush = |joined: &mut HeaderMap, entry: Option<(HeaderName, Vec<u8>)>| {
        if let Some((name, value)) = entry {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                joined.insert(name, value);
            }
        }
    };
    for (name, value) in headers {
        match (name, current.as_mut()) {
            (Some(name), _) => {
                flush(&mut joined, current.take());
                current = Some((name, value.as_bytes().to_vec()));
            }
            (None, Some((_, joined_value))) => {
                joined_value.extend_from_slice(b", ");
                joined_value.extend_from_slice(value.as_bytes());
            }
            (None, None) => {}
        }
    }
    flush(&mut joined, current);
    joined
}

/// `Set-Cookie` values apart (HTTP API and Function URL responses carry them in `cookies`),
/// the other headers joined.
fn split_cookies(mut headers: HeaderMap) -> (HeaderMap, Vec<String>) {
    let cookies = headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    headers.remove(SET_COOKIE);
    (join_values(headers), cookies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_content_types_are_recognised() {
        for ct in [
            "text/plain",
            "text/html; charset=utf-8",
            "application/json",
            "application/problem+json",
            "image/svg+xml",
            "Application/XML",
        ] {
            assert!(is_text_content_type(ct), "{ct}");
        }
        for ct in ["image/png", "application/octet-stream", "application/gzip", ""] {
            assert!(!is_text_content_type(ct), "{ct}");
        }
    }

    #[test]
    fn several_values_are_joined_in_order() {
        let mut headers = HeaderMap::new();
        headers.append("vary", HeaderValue::from_static("accept"));
        headers.append("x-one", HeaderValue::from_static("1"));
        headers.append("vary", HeaderValue::from_static("origin"));
        let joined = join_values(headers);
        assert_eq!(joined.get("vary").unwrap(), "accept, origin");
        assert_eq!(joined.get("x-one").unwrap(), "1");
        assert_eq!(joined.len(), 2);
    }
}
