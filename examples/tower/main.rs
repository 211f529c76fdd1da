//! The tower example: the handler is a `tower::Service` built with `ServiceBuilder`, so layers
//! that `lambda_runtime` users already have compose as they are — here a timeout that fails an
//! invocation taking longer than 500 ms (`{"work_ms": N}` says how long it takes).

use lambda_actors::tower::Invocation;
use lambda_actors::{Error, Runtime};
use std::time::Duration;

#[derive(serde::Deserialize)]
struct Job {
    work_ms: u64,
}

#[derive(serde::Serialize)]
struct Done {
    worked_ms: u64,
    request_id: String,
}

async fn work(inv: Invocation<Job>) -> Result<Done, Error> {
    tokio::time::sleep(Duration::from_millis(inv.event.work_ms)).await;
    Ok(Done {
        worked_ms: inv.event.work_ms,
        request_id: inv.ctx.request_id().to_owned(),
    })
}

/// The layers compose with a service whose error is `lambda_actors::Error`: the runtime gets it
/// back whole (its `errorType`) from tower's `BoxError`.
fn service() -> impl tower::Service<Invocation<Job>, Response = Done, Error = tower::BoxError> {
    tower::ServiceBuilder::new()
        .timeout(Duration::from_millis(500))
        .service_fn(work)
}

fn main() -> Result<(), lambda_actors::RuntimeError> {
    Runtime::new()
        .example_event(r#"{"work_ms": 100}"#)
        .run_service(|_| Ok(service()))
}

#[cfg(all(test, feature = "local-server"))]
mod tests {
    use super::*;
    use lambda_actors::testing::TestFunction;
    use lambda_actors::tower::HandlerService;
    use lambda_actors::{Context, Handler};
    use tower::ServiceExt;

    #[test]
    fn the_layered_service_answers_and_its_timeout_fails_slow_invocations() {
        let function = TestFunction::start_with(1, |rt| rt.run_service(|_| Ok(service()))).unwrap();
        let done: serde_json::Value = function.invoke(&serde_json::json!({"work_ms": 10})).unwrap();
        assert_eq!(done["worked_ms"], 10);
        assert!(done["request_id"].as_str().is_some_and(|id| !id.is_empty()));
        let err = function
            .invoke::<_, serde_json::Value>(&serde_json::json!({"work_ms": 2000}))
            .unwrap_err();
        // tower's BoxError is a boxed error: the generic type, tower's message.
        assert_eq!(
            (err.error_type(), err.message()),
            ("FunctionError", "request timed out")
        );
        function.stop().unwrap();
    }

    struct Doubler;

    impl Handler for Doubler {
        type Event = u32;
        type Output = u32;
        type Error = Error;
        async fn handle(&mut self, n: u32, _ctx: Context) -> Result<u32, Error> {
            Ok(n * 2)
        }
    }

    #[test]
    fn a_handler_is_a_service_for_tests() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let service = HandlerService::new(Doubler);
            let inv = Invocation {
                event: 21,
                ctx: Context::for_test("req-1"),
            };
            assert_eq!(service.clone().oneshot(inv).await.unwrap(), 42);
            // And layers wrap it like any service.
            let timed = tower::ServiceBuilder::new()
                .timeout(Duration::from_secs(1))
                .service(service);
            let inv = Invocation {
                event: 5,
                ctx: Context::for_test("req-2"),
            };
            assert_eq!(timed.oneshot(inv).await.unwrap(), 10);
        });
    }

    #[test]
    fn an_error_type_chosen_inside_the_layers_reaches_lambda() {
        let function = TestFunction::start_with(1, |rt| {
            rt.run_service(|_| {
                Ok(tower::ServiceBuilder::new().timeout(Duration::from_secs(5)).service_fn(
                    |_: Invocation<serde_json::Value>| async { Err::<(), _>(Error::new("ValidationError", "bad job")) },
                ))
            })
        })
        .unwrap();
        let err = function.invoke::<_, ()>(&serde_json::json!({})).unwrap_err();
        assert_eq!((err.error_type(), err.message()), ("ValidationError", "bad job"));
        function.stop().unwrap();
    }
}
