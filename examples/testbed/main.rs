//! testbed: the function the black-box tests drive. Its contract (the `op` of the event) is
//! fixed by the project's issues; keep every op exactly as specified.

use lambda_actors::{Context, Error, Handler};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Op {
    Echo,
    Sleep {
        ms: u64,
    },
    Spin {
        ms: u64,
    },
    Error {
        #[serde(rename = "type")]
        error_type: String,
        message: String,
    },
    Panic {
        message: String,
    },
    Context,
    Big {
        bytes: usize,
    },
    Log {
        level: String,
        message: String,
        sleep_ms: Option<u64>,
    },
    Hang,
}

struct Testbed;

impl Handler for Testbed {
    type Event = Value;
    type Output = Value;

    async fn handle(&mut self, event: Value, ctx: Context) -> Result<Value, Error> {
        let op: Op = serde_json::from_value(event.clone())
            .map_err(|e| Error::new("Runtime.UnmarshalError", format!("not a testbed event: {e}")))?;
        match op {
            Op::Echo => Ok(event),
            Op::Sleep { ms } => {
                actix_rt::time::sleep(Duration::from_millis(ms)).await;
                Ok(json!({ "slept_ms": ms }))
            }
            Op::Spin { ms } => {
                let until = Instant::now() + Duration::from_millis(ms);
                let mut x = 0u64;
                while Instant::now() < until {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
                Ok(json!({ "spun_ms": ms }))
            }
            Op::Error { error_type, message } => Err(Error::new(error_type, message)),
            Op::Panic { message } => panic!("{message}"),
            Op::Context => Ok(json!({
                "request_id": ctx.request_id(),
                "deadline_ms": ctx.deadline_ms(),
                "invoked_function_arn": ctx.invoked_function_arn(),
                "xray_trace_id": ctx.xray_trace_id(),
                "client_context": ctx.client_context(),
                "cognito_identity": ctx.cognito_identity(),
                "tenant_id": ctx.tenant_id(),
                "invocation_id": ctx.invocation_id(),
                "function_name": ctx.function_name(),
                "function_version": ctx.function_version(),
                "memory_size_mb": ctx.memory_size_mb(),
                "log_group_name": ctx.log_group_name(),
                "log_stream_name": ctx.log_stream_name(),
                "env_trace_id": std::env::var("_X_AMZN_TRACE_ID").ok(),
            })),
            Op::Big { bytes } => Ok(json!({ "data": "x".repeat(bytes) })),
            Op::Log {
                level,
                message,
                sleep_ms,
            } => {
                if let Some(ms) = sleep_ms {
                    actix_rt::time::sleep(Duration::from_millis(ms)).await;
                }
                match level.to_ascii_lowercase().as_str() {
                    "trace" => tracing::trace!("{message}"),
                    "debug" => tracing::debug!("{message}"),
                    "info" => tracing::info!("{message}"),
                    "warn" => tracing::warn!("{message}"),
                    "error" | "fatal" => tracing::error!("{message}"),
                    other => {
                        return Err(Error::new(
                            "Runtime.UnmarshalError",
                            format!("unknown log level {other:?}"),
                        ))
                    }
                }
                Ok(json!({ "logged": true }))
            }
            Op::Hang => std::future::pending().await,
        }
    }
}

fn main() -> Result<(), lambda_actors::RuntimeError> {
    lambda_actors::run(|| match std::env::var("TESTBED_INIT_FAIL") {
        Ok(message) => Err(Error::new("TestbedInitError", message)),
        Err(_) => Ok(Testbed),
    })
}
