//! testbed: the function the black-box tests drive. Its contract (the `op` of the event) is
//! fixed by the project's issues; keep every op exactly as specified.
//!
//! `TESTBED_INTERNAL_EXTENSION=1` registers an internal extension, `testbed-audit`, during init:
//! it logs `internal extension saw INVOKE <requestId>` for each `INVOKE` event.
//!
//! At shutdown every handler logs `handler shutdown hook ran` (with how many invocations it
//! served) and the runtime logs `runtime shutdown hook ran`. `TESTBED_HOOK_MS=N` makes each
//! hook sleep N ms first; `TESTBED_HOOK_PANIC=1` makes them panic instead.
//!
//! `TESTBED_FACTORY_PANIC_ON_CALL=N` makes the handler factory panic on its N-th call (once):
//! with N one more than the slots, that is the rebuild after a handler panic, which takes its
//! worker down.

use lambda_actors::stream::HttpPrelude;
use lambda_actors::{Context, Error, ResponseHandler, ResponseWriter};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
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
    Stream {
        chunks: usize,
        chunk_bytes: usize,
        #[serde(default)]
        delay_ms: u64,
        fail_after: Option<usize>,
        /// Not in the contract: panics after this many chunks (the stream-panic test).
        panic_after: Option<usize>,
        http: Option<HttpHead>,
    },
    Background {
        ms: u64,
    },
    /// Answers `{"spawned":true}` at once; work started with `lambda_actors::spawn` sleeps
    /// `ms`, then logs `spawned work done`.
    Spawn {
        ms: u64,
    },
    /// Blocks the handler's thread: `std::thread::sleep` inside the async handler.
    Block {
        ms: u64,
    },
    /// Spins on the blocking-handler path: `lambda_actors::spawn_blocking`, off the handler's
    /// thread.
    BlockingSpin {
        ms: u64,
    },
}

#[derive(Deserialize)]
struct HttpHead {
    #[serde(rename = "statusCode", default = "ok")]
    status_code: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    cookies: Vec<String>,
}

fn ok() -> u16 {
    200
}

#[derive(Default)]
struct Testbed {
    served: u64,
}

impl ResponseHandler for Testbed {
    type Event = Value;
    type Error = Error;

    async fn handle(&mut self, event: Value, ctx: Context, out: ResponseWriter) -> Result<(), Error> {
        self.served += 1;
        let op: Op = serde_json::from_value(event.clone())
            .map_err(|e| Error::new("Runtime.UnmarshalError", format!("not a testbed event: {e}")))?;
        match op {
            Op::Stream {
                chunks,
                chunk_bytes,
                delay_ms,
                fail_after,
                panic_after,
                http,
            } => {
                let mut stream = out.stream();
                if let Some(head) = http {
                    let mut prelude = HttpPrelude::new(head.status_code);
                    prelude.headers = head.headers.into_iter().collect();
                    prelude.cookies = head.cookies;
                    stream.http_response(prelude).await?;
                }
                let chunk = vec![b'a'; chunk_bytes];
                for i in 0..chunks {
                    if panic_after == Some(i) {
                        panic!("stream panicked after {i} chunks");
                    }
                    if fail_after == Some(i) {
                        return Err(Error::new("StreamFailed", format!("failed after {i} chunks")));
                    }
                    if i > 0 && delay_ms > 0 {
                        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    }
                    stream.write(chunk.clone()).await?;
                }
                if fail_after == Some(chunks) {
                    return Err(Error::new("StreamFailed", format!("failed after {chunks} chunks")));
                }
                stream.finish().await
            }
            Op::Background { ms } => {
                out.send(&json!({ "accepted": true })).await?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                tracing::info!("background done");
                Ok(())
            }
            Op::Spawn { ms } => {
                lambda_actors::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    tracing::info!("spawned work done");
                });
                out.send(&json!({ "spawned": true })).await
            }
            buffered => out.send(&buffered_op(buffered, event, ctx).await?).await,
        }
    }

    async fn shutdown(&mut self) {
        shutdown_hook().await;
        tracing::info!(served = self.served, "handler shutdown hook ran");
    }
}

/// What both shutdown hooks do first, as `TESTBED_HOOK_MS` / `TESTBED_HOOK_PANIC` say.
async fn shutdown_hook() {
    if std::env::var("TESTBED_HOOK_PANIC").is_ok_and(|v| v == "1") {
        panic!("testbed shutdown hook panicked");
    }
    let ms = std::env::var("TESTBED_HOOK_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

async fn buffered_op(op: Op, event: Value, ctx: Context) -> Result<Value, Error> {
    match op {
        Op::Echo => Ok(event),
        Op::Sleep { ms } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(json!({ "slept_ms": ms }))
        }
        Op::Spin { ms } => {
            spin(ms);
            Ok(json!({ "spun_ms": ms }))
        }
        Op::Block { ms } => {
            std::thread::sleep(Duration::from_millis(ms));
            Ok(json!({ "blocked_ms": ms }))
        }
        Op::BlockingSpin { ms } => {
            lambda_actors::spawn_blocking(move || spin(ms)).await;
            Ok(json!({ "spun_ms": ms, "blocking": true }))
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
                tokio::time::sleep(Duration::from_millis(ms)).await;
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
        Op::Stream { .. } | Op::Background { .. } | Op::Spawn { .. } => unreachable!("answered by the caller"),
    }
}

/// Busy-waits for `ms` milliseconds of wall-clock time.
fn spin(ms: u64) {
    let until = Instant::now() + Duration::from_millis(ms);
    let mut x = 0u64;
    while Instant::now() < until {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

/// The internal extension of `TESTBED_INTERNAL_EXTENSION=1`.
struct Audit;

impl lambda_actors_extension::Extension for Audit {
    type Error = Error;

    async fn on_invoke(&mut self, event: lambda_actors_extension::InvokeEvent) -> Result<(), Error> {
        tracing::info!("internal extension saw INVOKE {}", event.request_id);
        Ok(())
    }
}

fn main() -> Result<(), lambda_actors::RuntimeError> {
    lambda_actors::Runtime::new()
        .init(|| async {
            if std::env::var("TESTBED_INTERNAL_EXTENSION").is_ok_and(|v| v == "1") {
                lambda_actors_extension::register_internal("testbed-audit", Audit).await?;
            }
            Ok(())
        })
        .on_shutdown(async {
            shutdown_hook().await;
            tracing::info!("runtime shutdown hook ran");
        })
        .run_response_handler(|_| {
            static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let panic_on = std::env::var("TESTBED_FACTORY_PANIC_ON_CALL")
                .ok()
                .and_then(|v| v.parse().ok());
            if panic_on == Some(call) {
                panic!("testbed factory panic on call {call}");
            }
            match std::env::var("TESTBED_INIT_FAIL") {
                Ok(message) => Err(Error::new("TestbedInitError", message)),
                Err(_) => Ok(Testbed::default()),
            }
        })
}
