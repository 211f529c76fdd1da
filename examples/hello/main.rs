//! The hello example: `{"name": "X"}` → `{"greetings": "Hello X!"}`.
//!
//! Runs unchanged on classic Lambda and on Lambda Managed Instances.

use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct HelloRequest {
    name: String,
}

#[derive(Serialize)]
struct HelloResponse {
    greetings: String,
}

fn main() -> Result<(), lambda_actors::RuntimeError> {
    lambda_actors::run_fn(|event: HelloRequest, _ctx| async move {
        Ok(HelloResponse {
            greetings: format!("Hello {}!", event.name),
        })
    })
}
