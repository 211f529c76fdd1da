//! `hello` on `lambda_runtime` 1.5: `{"name": "X"}` → `{"greetings": "Hello X!"}`, written the
//! way the official examples write it (`#[tokio::main]`, the default tracing subscriber,
//! `service_fn`).
//!
//! An event may also carry `"spin_ms": N`: the handler then spins the CPU for N ms first,
//! inside the async handler (the benchmark's mixed load).
//!
//! `lambda-runtime-hello run` uses `lambda_runtime::run` (classic, sequential);
//! `lambda-runtime-hello run-concurrent` uses `lambda_runtime::run_concurrent` (feature
//! `concurrency-tokio`): `AWS_LAMBDA_MAX_CONCURRENCY` worker tasks, sequential when it is unset.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct HelloRequest {
    name: String,
    #[serde(default)]
    spin_ms: u64,
}

#[derive(Serialize)]
struct HelloResponse {
    greetings: String,
}

async fn hello(event: LambdaEvent<HelloRequest>) -> Result<HelloResponse, Error> {
    if event.payload.spin_ms > 0 {
        let until = std::time::Instant::now() + std::time::Duration::from_millis(event.payload.spin_ms);
        let mut x = 0u64;
        while std::time::Instant::now() < until {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
    Ok(HelloResponse {
        greetings: format!("Hello {}!", event.payload.name),
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Honours AWS_LAMBDA_LOG_LEVEL / RUST_LOG, as lambda-actors does.
    lambda_runtime::tracing::init_default_subscriber();
    let concurrent = std::env::args().nth(1).as_deref() == Some("run-concurrent");
    let func = service_fn(hello);
    if concurrent {
        lambda_runtime::run_concurrent(func).await
    } else {
        lambda_runtime::run(func).await
    }
}
