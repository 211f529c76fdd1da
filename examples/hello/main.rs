//! The hello example: `{"name": "X"}` → `{"greetings": "Hello X!"}`.
//!
//! Runs unchanged on classic Lambda and on Lambda Managed Instances. Run it on your machine
//! with `cargo run --bin hello` and invoke it with the curl command it prints.

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
    lambda_actors::Runtime::new()
        .example_event(r#"{"name": "World"}"#)
        .run_fn(|event: HelloRequest, _ctx| async move {
            Ok(HelloResponse {
                greetings: format!("Hello {}!", event.name),
            })
        })
}
