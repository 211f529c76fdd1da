//! From a Lambda event to an `http::Request`: which source sent it, and what it becomes.

use crate::percent;
use crate::response::ResponseFormat;
use crate::{Body, Request};
use aws_lambda_events::alb::{AlbTargetGroupRequest, AlbTargetGroupRequestContext};
use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyRequestContext, ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
};
use aws_lambda_events::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlRequestContext};
use aws_lambda_events::query_map::QueryMap;
use base64::Engine;
use http::header::{HeaderMap, HeaderValue, COOKIE, HOST};
use http::Method;
use lambda_actors::Error;
use serde::de::{Deserialize, Deserializer, Error as _};
use serde_json::Value;
use std::collections::HashMap;

/// Which AWS service sent the HTTP event. It decides the shape of the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestSource {
    /// API Gateway REST API (payload format 1.0; also an HTTP API set to payload format 1.0).
    ApiGatewayV1,
    /// API Gateway HTTP API (payload format 2.0).
    ApiGatewayV2,
    /// Application Load Balancer target group.
    Alb,
    /// Lambda Function URL.
    FunctionUrl,
}

/// An HTTP event as it arrives, decoded with [`aws_lambda_events`]. The source is found by the
/// event's shape: `requestContext.elb` is an ALB; `version: "2.0"` (or `requestContext.http`)
/// is an HTTP API, or a Function URL when its `requestContext.domainName` is a
/// `*.lambda-url.*` domain; a top-level `httpMethod` is a REST API. Anything else does not
/// decode (the invocation fails with `Runtime.UnmarshalError`, naming what was expected).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LambdaRequest {
    /// API Gateway REST API (payload format 1.0).
    ApiGatewayV1(Box<ApiGatewayProxyRequest>),
    /// API Gateway HTTP API (payload format 2.0).
    ApiGatewayV2(Box<ApiGatewayV2httpRequest>),
    /// Application Load Balancer.
    Alb(Box<AlbTargetGroupRequest>),
    /// Lambda Function URL.
    FunctionUrl(Box<LambdaFunctionUrlRequest>),
}

/// The invoking service's request context, in the request's extensions (see
/// [`RequestExt::request_context`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RequestContext {
    /// API Gateway REST API.
    ApiGatewayV1(Box<ApiGatewayProxyRequestContext>),
    /// API Gateway HTTP API.
    ApiGatewayV2(Box<ApiGatewayV2httpRequestContext>),
    /// Application Load Balancer.
    Alb(Box<AlbTargetGroupRequestContext>),
    /// Lambda Function URL.
    FunctionUrl(Box<LambdaFunctionUrlRequestContext>),
}

impl RequestContext {
    /// The service that sent the request.
    pub fn source(&self) -> RequestSource {
        match self {
            RequestContext::ApiGatewayV1(_) => RequestSource::ApiGatewayV1,
            RequestContext::ApiGatewayV2(_) => RequestSource::ApiGatewayV2,
            RequestContext::Alb(_) => RequestSource::Alb,
            RequestContext::FunctionUrl(_) => RequestSource::FunctionUrl,
        }
    }

    /// The service's own id for the request (API Gateway and Function URLs; not ALB). This is
    /// not the Lambda request id: that one is [`Context::request_id`](lambda_actors::Context::request_id).
    pub fn request_id(&self) -> Option<&str> {
        match self {
            RequestContext::ApiGatewayV1(c) => c.request_id.as_deref(),
            RequestContext::ApiGatewayV2(c) => c.request_id.as_deref(),
            RequestContext::Alb(_) => None,
            RequestContext::FunctionUrl(c) => c.request_id.as_deref(),
        }
    }
}

/// Path parameters of the matched API Gateway route (`/items/{id}`), in the request's extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParameters(pub HashMap<String, String>);

/// API Gateway stage variables, in the request's extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageVariables(pub HashMap<String, String>);

/// What the adapter put in a request, read back.
///
/// ```
/// use lambda_actors_http::{http, Body, RequestExt};
///
/// let request = http::Request::builder().uri("/search?q=red+shoes&page=2").body(Body::Empty).unwrap();
/// assert_eq!(request.query_parameter("q").as_deref(), Some("red shoes"));
/// assert_eq!(request.path_parameter("id"), None);
/// ```
pub trait RequestExt {
    /// The invoking service's request context.
    fn request_context(&self) -> Option<&RequestContext>;
    /// The service that sent the request.
    fn source(&self) -> Option<RequestSource> {
        self.request_context().map(RequestContext::source)
    }
    /// A path parameter of the matched API Gateway route.
    fn path_parameter(&self, name: &str) -> Option<&str>;
    /// An API Gateway stage variable.
    fn stage_variable(&self, name: &str) -> Option<&str>;
    /// The query string's `name=value` pairs, decoded, in order.
    fn query_parameters(&self) -> Vec<(String, String)>;
    /// The first value of a query parameter, decoded.
    fn query_parameter(&self, name: &str) -> Option<String> {
        self.query_parameters()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

impl<B> RequestExt for http::Request<B> {
    fn request_context(&self) -> Option<&RequestContext> {
        self.extensions().get::<RequestContext>()
    }

    fn path_parameter(&self, name: &str) -> Option<&str> {
        self.extensions()
            .get::<PathParameters>()
            .and_then(|p| p.0.get(name))
            .map(String::as_str)
    }

    fn stage_variable(&self, name: &str) -> Option<&str> {
        self.extensions()
            .get::<StageVariables>()
            .and_then(|p| p.0.get(name))
            .map(String::as_str)
    }

    fn query_parameters(&self) -> Vec<(String, String)> {
        self.uri().query().map(percent::parse_query).unwrap_or_default()
    }
}

fn classify(event: &Value) -> Option<RequestSource> {
    let ctx = event.get("requestContext")?;
    if ctx.get("elb").is_some() {
        return Some(RequestSource::Alb);
    }
    if event.get("version").and_then(Value::as_str) == Some("2.0") || ctx.get("http").is_some() {
        let domain = ctx.get("domainName").and_then(Value::as_str).unwrap_or_default();
        return Some(if domain.contains(".lambda-url.") {
            RequestSource::FunctionUrl
        } else {
            RequestSource::ApiGatewayV2
        });
    }
    if event.get("httpMethod").is_some() {
        return Some(RequestSource::ApiGatewayV1);
    }
    None
}

impl<'de> Deserialize<'de> for LambdaRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let event = Value::deserialize(deserializer)?;
        let Some(source) = classify(&event) else {
            return Err(D::Error::custom(
                "not an HTTP event: expected an API Gateway REST API (httpMethod), HTTP API (version 2.0), \
                 ALB (requestContext.elb) or Function URL event",
            ));
        };
        let what = |e: serde_json::Error| D::Error::custom(format!("a malformed {source:?} event: {e}"));
        Ok(match source {
            RequestSource::ApiGatewayV1 => LambdaRequest::ApiGatewayV1(serde_json::from_value(event).map_err(what)?),
            RequestSource::ApiGatewayV2 => LambdaRequest::ApiGatewayV2(serde_json::from_value(event).map_err(what)?),
            RequestSource::Alb => LambdaRequest::Alb(serde_json::from_value(event).map_err(what)?),
            RequestSource::FunctionUrl => LambdaRequest::FunctionUrl(serde_json::from_value(event).map_err(what)?),
        })
    }
}

/// The parts every source gives, before they become a request.
struct Parts {
    method: Method,
    path: String,
    /// Already encoded.
    query: String,
    headers: HeaderMap,
    domain_name: Option<String>,
    body: Option<String>,
    base64: bool,
    context: RequestContext,
    path_parameters: HashMap<String, String>,
    stage_variables: HashMap<String, String>,
}

fn unmarshal(message: impl Into<String>) -> Error {
    Error::new("Runtime.UnmarshalError", message)
}

/// `name=value` pairs of decoded values, encoded, names sorted (the event's map has no order)
/// and each name's values in the event's order.
fn query_from_decoded(query: &QueryMap) -> String {
    let mut pairs: Vec<(&str, &str)> = query.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    pairs
        .iter()
        .map(|(n, v)| format!("{}={}", percent::encode_component(n), percent::encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// ALB passes the query as the client sent it (not decoded): keep it, just make it URI-safe.
fn query_from_raw_pairs(query: &QueryMap) -> String {
    let mut pairs: Vec<(&str, &str)> = query.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    pairs
        .iter()
        .map(|(n, v)| format!("{}={}", percent::encode_raw_query(n), percent::encode_raw_query(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn method_of(name: Option<&str>) -> Result<Method, Error> {
    let name = name.ok_or_else(|| unmarshal("the event has no HTTP method"))?;
    Method::from_bytes(name.as_bytes()).map_err(|_| unmarshal(format!("the event's HTTP method {name:?} is not valid")))
}

/// Adds the `Cookie` header of an HTTP API or Function URL event (its cookies are not among
/// its headers).
fn add_cookies(headers: &mut HeaderMap, cookies: Option<Vec<String>>) {
    let Some(cookies) = cookies.filter(|c| !c.is_empty()) else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&cookies.join("; ")) {
        headers.insert(COOKIE, value);
    }
}

impl LambdaRequest {
    /// The service that sent the event.
    pub fn source(&self) -> RequestSource {
        match self {
            LambdaRequest::ApiGatewayV1(_) => RequestSource::ApiGatewayV1,
            LambdaRequest::ApiGatewayV2(_) => RequestSource::ApiGatewayV2,
            LambdaRequest::Alb(_) => RequestSource::Alb,
            LambdaRequest::FunctionUrl(_) => RequestSource::FunctionUrl,
        }
    }

    /// The `http::Request` and the shape its response must take.
    ///
    /// The URI is absolute (`https://{Host}{path}?{query}`, the scheme from
    /// `X-Forwarded-Proto`) when the event names a host; the body is decoded from base64 when
    /// the event says so. The extensions hold the [`RequestContext`], [`PathParameters`] and
    /// [`StageVariables`] (read them with [`RequestExt`]).
    pub fn into_http(self) -> Result<(Request, ResponseFormat), Error> {
        let source = self.source();
        let mut multi_value_headers = false;
        let parts = match self {
            LambdaRequest::ApiGatewayV1(e) => {
                let e = *e;
                let query = if e.multi_value_query_string_parameters.is_empty() {
                    &e.query_string_parameters
                } else {
                    &e.multi_value_query_string_parameters
                };
                Parts {
                    method: e.http_method,
                    path: e
                        .path
                        .or_else(|| e.request_context.path.clone())
                        .unwrap_or_else(|| "/".into()),
                    query: query_from_decoded(query),
                    headers: if e.multi_value_headers.is_empty() {
                        e.headers
                    } else {
                        e.multi_value_headers
                    },
                    domain_name: e.request_context.domain_name.clone(),
                    body: e.body,
                    base64: e.is_base64_encoded,
                    context: RequestContext::ApiGatewayV1(Box::new(e.request_context)),
                    path_parameters: e.path_parameters,
                    stage_variables: e.stage_variables,
                }
            }
            LambdaRequest::ApiGatewayV2(e) => {
                let e = *e;
                let mut headers = e.headers;
                add_cookies(&mut headers, e.cookies);
                Parts {
                    method: e.request_context.http.method.clone(),
                    path: e
                        .raw_path
                        .or_else(|| e.request_context.http.path.clone())
                        .unwrap_or_else(|| "/".into()),
                    query: percent::encode_raw_query(e.raw_query_string.as_deref().unwrap_or_default()),
                    headers,
                    domain_name: e.request_context.domain_name.clone(),
                    body: e.body,
                    base64: e.is_base64_encoded,
                    context: RequestContext::ApiGatewayV2(Box::new(e.request_context)),
                    path_parameters: e.path_parameters,
                    stage_variables: e.stage_variables,
                }
            }
            LambdaRequest::Alb(e) => {
                let e = *e;
                multi_value_headers = !e.multi_value_headers.is_empty();
                let query = if e.multi_value_query_string_parameters.is_empty() {
                    &e.query_string_parameters
                } else {
                    &e.multi_value_query_string_parameters
                };
                Parts {
                    method: e.http_method,
                    path: e.path.unwrap_or_else(|| "/".into()),
                    query: query_from_raw_pairs(query),
                    headers: if multi_value_headers {
                        e.multi_value_headers
                    } else {
                        e.headers
                    },
                    domain_name: None,
                    body: e.body,
                    base64: e.is_base64_encoded,
                    context: RequestContext::Alb(Box::new(e.request_context)),
                    path_parameters: HashMap::new(),
                    stage_variables: HashMap::new(),
                }
            }
            LambdaRequest::FunctionUrl(e) => {
                let e = *e;
                let mut headers = e.headers;
                add_cookies(&mut headers, e.cookies);
                Parts {
                    method: method_of(e.request_context.http.method.as_deref())?,
                    path: e
                        .raw_path
                        .or_else(|| e.request_context.http.path.clone())
                        .unwrap_or_else(|| "/".into()),
                    query: percent::encode_raw_query(e.raw_query_string.as_deref().unwrap_or_default()),
                    headers,
                    domain_name: e.request_context.domain_name.clone(),
                    body: e.body,
                    base64: e.is_base64_encoded,
                    context: RequestContext::FunctionUrl(Box::new(e.request_context)),
                    path_parameters: HashMap::new(),
                    stage_variables: HashMap::new(),
                }
            }
        };
        let request = build(parts)?;
        Ok((
            request,
            ResponseFormat {
                source,
                multi_value_headers,
            },
        ))
    }
}

fn build(parts: Parts) -> Result<Request, Error> {
    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or(parts.domain_name)
        .filter(|h| !h.is_empty());
    let mut path = percent::encode_path(&parts.path);
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let mut uri = match host {
        Some(host) => {
            let scheme = parts
                .headers
                .get("x-forwarded-proto")
                .and_then(|h| h.to_str().ok())
                .filter(|s| matches!(*s, "http" | "https"))
                .unwrap_or("https");
            format!("{scheme}://{host}{path}")
        }
        None => path,
    };
    if !parts.query.is_empty() {
        uri.push('?');
        uri.push_str(&parts.query);
    }
    let uri: http::Uri = uri
        .parse()
        .map_err(|e| unmarshal(format!("the event's URI {uri:?} is not valid: {e}")))?;
    let body = match parts.body {
        None => Body::Empty,
        Some(b) if parts.base64 => Body::Binary(
            base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map_err(|e| unmarshal(format!("the event's body is marked base64 but does not decode: {e}")))?,
        ),
        Some(b) if b.is_empty() => Body::Empty,
        Some(b) => Body::Text(b),
    };
    let mut request = http::Request::new(body);
    *request.method_mut() = parts.method;
    *request.uri_mut() = uri;
    *request.headers_mut() = parts.headers;
    let extensions = request.extensions_mut();
    extensions.insert(parts.context);
    extensions.insert(PathParameters(parts.path_parameters));
    extensions.insert(StageVariables(parts.stage_variables));
    Ok(request)
}
