//! The hello example: `{"name": "X"}` → `{"greetings": "Hello X!"}`.
//!
//! Runs unchanged on classic Lambda and on Lambda Managed Instances. Run it on your machine
//! with `cargo run --bin hello` and invoke it with the curl command it prints.

use lambda_actors::{Context, Error};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize)]
struct HelloRequest {
    name: String,
}

#[derive(Deserialize, Serialize, Debug, PartialEq)]
struct HelloResponse {
    greetings: String,
}

async fn hello(event: HelloRequest, _ctx: Context) -> Result<HelloResponse, Error> {
    Ok(HelloResponse {
        greetings: format!("Hello {}!", event.name),
    })
}

fn main() -> Result<(), lambda_actors::RuntimeError> {
    lambda_actors::Runtime::new()
        .example_event(r#"{"name": "World"}"#)
        .run_fn(hello)
}

#[cfg(all(test, feature = "local-server"))]
mod tests {
    use super::*;
    use lambda_actors::testing::TestFunction;

    #[test]
    fn greets_by_name_and_rejects_events_without_one() {
        let function = TestFunction::start_with(1, |rt| rt.run_fn(hello)).unwrap();
        let out: HelloResponse = function.invoke(&HelloRequest { name: "Ada".into() }).unwrap();
        assert_eq!(out.greetings, "Hello Ada!");
        let err = function
            .invoke::<_, HelloResponse>(&serde_json::json!({"nom": "Ada"}))
            .unwrap_err();
        assert_eq!(err.error_type(), "Runtime.UnmarshalError");
        function.stop().unwrap();
    }
}
