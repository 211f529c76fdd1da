//! Header names of the Runtime API (protocol.md §2), lower-case as HTTP/1.1 parsers store them.

/// The request id: required on every `/next` reply.
pub const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
/// Deadline in Unix epoch milliseconds.
pub const DEADLINE_MS: &str = "lambda-runtime-deadline-ms";
/// ARN of the invoked function, version or alias.
pub const INVOKED_FUNCTION_ARN: &str = "lambda-runtime-invoked-function-arn";
/// X-Ray trace header.
pub const TRACE_ID: &str = "lambda-runtime-trace-id";
/// Mobile SDK client context (JSON).
pub const CLIENT_CONTEXT: &str = "lambda-runtime-client-context";
/// Cognito identity (JSON).
pub const COGNITO_IDENTITY: &str = "lambda-runtime-cognito-identity";
/// Tenant id of tenant-isolation functions.
pub const TENANT_ID: &str = "lambda-runtime-aws-tenant-id";
/// Per-attempt nonce, echoed back on `/response` and `/error`.
pub const INVOCATION_ID: &str = "lambda-runtime-invocation-id";
/// Error type on `/error`, `/init/error` and as a streaming trailer.
pub const FUNCTION_ERROR_TYPE: &str = "lambda-runtime-function-error-type";
/// Base64 error JSON, as a streaming trailer.
pub const FUNCTION_ERROR_BODY: &str = "lambda-runtime-function-error-body";
/// `streaming` on a streamed `/response`.
pub const RESPONSE_MODE: &str = "lambda-runtime-function-response-mode";
/// Content type of the HTTP-integration stream (Function URLs, API Gateway streaming).
pub const HTTP_INTEGRATION_CONTENT_TYPE: &str = "application/vnd.awslambda.http-integration-response";
/// The `User-Agent` this runtime sends.
pub const USER_AGENT: &str = concat!("lambda-actors/", env!("CARGO_PKG_VERSION"));
/// The extension's name on `POST /extension/register` (Extensions API).
pub const EXTENSION_NAME: &str = "lambda-extension-name";
/// The id Lambda gives a registered extension; sent on every later Extensions API call.
pub const EXTENSION_IDENTIFIER: &str = "lambda-extension-identifier";
/// The error type on `/extension/init/error` and `/extension/exit/error`.
pub const EXTENSION_ERROR_TYPE: &str = "lambda-extension-function-error-type";
