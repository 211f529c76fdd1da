//! [`Context`]: what a handler knows about its invocation.

use crate::config::FunctionInfo;
use lambda_actors_api::InvocationMeta;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The Cognito identity of the caller (`Lambda-Runtime-Cognito-Identity`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct CognitoIdentity {
    /// `cognitoIdentityId`.
    #[serde(rename = "cognitoIdentityId")]
    pub identity_id: String,
    /// `cognitoIdentityPoolId`.
    #[serde(rename = "cognitoIdentityPoolId")]
    pub identity_pool_id: String,
}

/// What a handler knows about its invocation: ids, deadline, trace, caller context, and the
/// function's identity. Cheap to clone; `Send` and `Sync`.
///
/// In Managed Instances mode many invocations share the process, so the trace id lives here
/// (and in every log line), never in `_X_AMZN_TRACE_ID`.
#[derive(Debug, Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    meta: InvocationMeta,
    client_context: Option<serde_json::Value>,
    cognito_identity: Option<CognitoIdentity>,
    function: Arc<FunctionInfo>,
}

impl Context {
    pub(crate) fn new(meta: InvocationMeta, function: Arc<FunctionInfo>) -> Self {
        // `from_slice`, not `from_str`: the same parse, and the only use of serde_json's
        // `&str` reader would cost 13 KB of binary (a second copy of the `Value` parser).
        let client_context =
            meta.client_context
                .as_deref()
                .and_then(|raw| match serde_json::from_slice(raw.as_bytes()) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        tracing::warn!(requestId = %meta.request_id, "ignoring a client context that is not JSON: {e}");
                        None
                    }
                });
        let cognito_identity = meta.cognito_identity.as_deref().and_then(|raw| match serde_json::from_slice(raw.as_bytes()) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(requestId = %meta.request_id, "ignoring a Cognito identity that does not parse: {e}");
                None
            }
        });
        Self {
            inner: Arc::new(Inner {
                meta,
                client_context,
                cognito_identity,
                function,
            }),
        }
    }

    /// A context for tests of your own handlers.
    pub fn for_test(request_id: &str) -> Self {
        Self::new(
            InvocationMeta {
                request_id: request_id.to_owned(),
                ..InvocationMeta::default()
            },
            Arc::default(),
        )
    }

    /// `Lambda-Runtime-Aws-Request-Id`.
    pub fn request_id(&self) -> &str {
        &self.inner.meta.request_id
    }

    /// The deadline, in Unix epoch milliseconds, if Lambda sent one.
    pub fn deadline_ms(&self) -> Option<u64> {
        self.inner.meta.deadline_ms
    }

    /// The deadline as a [`SystemTime`].
    pub fn deadline(&self) -> Option<SystemTime> {
        self.deadline_ms().map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
    }

    /// Time left before the deadline (zero once past it); `None` without a deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline()
            .map(|d| d.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
    }

    /// ARN of the invoked function, version or alias.
    pub fn invoked_function_arn(&self) -> Option<&str> {
        self.inner.meta.invoked_function_arn.as_deref()
    }

    /// X-Ray trace header (`Root=...;Parent=...;Sampled=...`).
    pub fn xray_trace_id(&self) -> Option<&str> {
        self.inner.meta.trace_id.as_deref()
    }

    /// The mobile SDK client context, parsed.
    pub fn client_context(&self) -> Option<&serde_json::Value> {
        self.inner.client_context.as_ref()
    }

    /// The Cognito identity, parsed.
    pub fn cognito_identity(&self) -> Option<&CognitoIdentity> {
        self.inner.cognito_identity.as_ref()
    }

    /// Tenant id of a tenant-isolation function.
    pub fn tenant_id(&self) -> Option<&str> {
        self.inner.meta.tenant_id.as_deref()
    }

    /// `Lambda-Runtime-Invocation-Id`: the per-attempt nonce.
    pub fn invocation_id(&self) -> Option<&str> {
        self.inner.meta.invocation_id.as_deref()
    }

    /// Content type of the event.
    pub fn content_type(&self) -> Option<&str> {
        self.inner.meta.content_type.as_deref()
    }

    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub fn function_name(&self) -> Option<&str> {
        self.inner.function.name.as_deref()
    }

    /// `AWS_LAMBDA_FUNCTION_VERSION`.
    pub fn function_version(&self) -> Option<&str> {
        self.inner.function.version.as_deref()
    }

    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in MB.
    pub fn memory_size_mb(&self) -> Option<u32> {
        self.inner.function.memory_size_mb
    }

    /// `AWS_LAMBDA_LOG_GROUP_NAME`.
    pub fn log_group_name(&self) -> Option<&str> {
        self.inner.function.log_group_name.as_deref()
    }

    /// `AWS_LAMBDA_LOG_STREAM_NAME`.
    pub fn log_stream_name(&self) -> Option<&str> {
        self.inner.function.log_stream_name.as_deref()
    }
}
