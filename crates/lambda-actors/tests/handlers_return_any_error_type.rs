//! Handlers written with the habits of `lambda_runtime` users compile unchanged and answer
//! correctly, served by the in-process local server over real HTTP: a closure returning
//! `anyhow::Result` with `?`, an `async fn` returning `Box<dyn Error + Send + Sync>`, one
//! returning a `thiserror` enum, tokio APIs inside a handler. Then the wire form of every error
//! kind: `errorType` (the user's choice, else a short name, never a type path), `errorMessage`,
//! `stackTrace` (the cause chain, outermost first).

#![cfg(feature = "local-server")]

use lambda_actors::testing::TestFunction;
use lambda_actors::{Context, Error};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Deserialize, Serialize)]
struct Order {
    qty: String,
}

/// Starts `run` behind the local server, invokes it with `event`, stops it.
fn invoke(
    run: impl FnOnce(lambda_actors::Runtime) -> Result<(), lambda_actors::RuntimeError> + Send + 'static,
    event: Value,
) -> Result<Value, Error> {
    let function = TestFunction::start_with(1, run).expect("the function starts");
    let result = function.invoke::<_, Value>(&event);
    function.stop().expect("the function stops cleanly");
    result
}

fn fails(
    run: impl FnOnce(lambda_actors::Runtime) -> Result<(), lambda_actors::RuntimeError> + Send + 'static,
    event: Value,
) -> Error {
    invoke(run, event).expect_err("the handler fails")
}

#[test]
fn a_closure_returning_anyhow_result_with_question_marks() {
    use anyhow::Context as _;
    let handler = |event: Order, _ctx: Context| async move {
        let qty: u32 = event.qty.parse().context("reading the quantity")?;
        anyhow::ensure!(qty > 0, "the quantity must be positive");
        anyhow::Ok(json!({ "qty": qty }))
    };
    assert_eq!(
        invoke(move |rt| rt.run_fn(handler), json!({"qty": "3"})).unwrap(),
        json!({"qty": 3})
    );
    let err = fails(move |rt| rt.run_fn(handler), json!({"qty": "three"}));
    assert_eq!(err.error_type(), "FunctionError");
    assert_eq!(err.message(), "reading the quantity");
    assert_eq!(err.causes(), ["invalid digit found in string"]);
    let err = fails(move |rt| rt.run_fn(handler), json!({"qty": "0"}));
    assert_eq!(
        (err.error_type(), err.message()),
        ("FunctionError", "the quantity must be positive")
    );
}

async fn boxed(event: Order, _ctx: Context) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
    if event.qty.is_empty() {
        return Err("no quantity".into());
    }
    let qty: u32 = event.qty.parse()?;
    Ok(json!({ "qty": qty }))
}

#[test]
fn an_async_fn_returning_a_boxed_error() {
    assert_eq!(
        invoke(|rt| rt.run_fn(boxed), json!({"qty": "5"})).unwrap(),
        json!({"qty": 5})
    );
    let err = fails(|rt| rt.run_fn(boxed), json!({"qty": ""}));
    assert_eq!((err.error_type(), err.message()), ("FunctionError", "no quantity"));
    let err = fails(|rt| rt.run_fn(boxed), json!({"qty": "x"}));
    assert_eq!(
        (err.error_type(), err.message()),
        ("FunctionError", "invalid digit found in string")
    );
}

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("order {0} not found")]
    NotFound(u64),
    #[error("storage failed")]
    Storage(#[source] std::io::Error),
}

async fn lookup(event: Value, _ctx: Context) -> Result<Value, AppError> {
    match event["id"].as_u64() {
        Some(7) => Ok(json!({ "id": 7 })),
        Some(9) => Err(AppError::Storage(std::io::Error::other("disk full"))),
        other => Err(AppError::NotFound(other.unwrap_or_default())),
    }
}

#[test]
fn an_async_fn_returning_a_thiserror_enum_as_is() {
    assert_eq!(
        invoke(|rt| rt.run_fn(lookup), json!({"id": 7})).unwrap(),
        json!({"id": 7})
    );
    let err = fails(|rt| rt.run_fn(lookup), json!({"id": 3}));
    assert_eq!((err.error_type(), err.message()), ("AppError", "order 3 not found"));
    assert!(err.causes().is_empty(), "{err:?}");
    let err = fails(|rt| rt.run_fn(lookup), json!({"id": 9}));
    assert_eq!((err.error_type(), err.message()), ("AppError", "storage failed"));
    assert_eq!(err.causes(), ["disk full"]);
}

#[test]
fn tokio_apis_work_inside_a_handler() {
    let handler = |n: u64, _ctx: Context| async move {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let counter = std::sync::Arc::new(tokio::sync::Mutex::new(n));
        let spawned = tokio::spawn({
            let counter = counter.clone();
            async move { *counter.lock().await += 1 }
        });
        spawned.await?;
        let doubled = tokio::task::spawn_blocking(move || n * 2).await?;
        let total = *counter.lock().await + doubled;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(total)
    };
    assert_eq!(invoke(move |rt| rt.run_fn(handler), json!(10)).unwrap(), json!(31));
}

#[test]
fn every_error_kind_has_a_meaningful_wire_form() {
    // Chosen by the user: the type as given.
    let err = fails(
        |rt| rt.run_fn(|_: Value, _ctx| async { Err::<Value, _>(Error::new("ValidationError", "name is empty")) }),
        json!({}),
    );
    assert_eq!((err.error_type(), err.message()), ("ValidationError", "name is empty"));
    // A std error: its short name.
    let err = fails(
        |rt| rt.run_fn(|_: Value, _ctx| async { Err::<Value, _>(std::io::Error::other("gone")) }),
        json!({}),
    );
    assert_eq!((err.error_type(), err.message()), ("IoError", "gone"));
    // Strings and wrapped errors say nothing of a type.
    let err = fails(
        |rt| rt.run_fn(|_: Value, _ctx| async { Err::<Value, _>("plain") }),
        json!({}),
    );
    assert_eq!((err.error_type(), err.message()), ("FunctionError", "plain"));
    let err = fails(
        |rt| rt.run_fn(|_: Value, _ctx| async { Err::<Value, _>(String::from("owned")) }),
        json!({}),
    );
    assert_eq!((err.error_type(), err.message()), ("FunctionError", "owned"));
    let err = fails(
        |rt| rt.run_fn(|_: Value, _ctx| async { Err::<Value, _>(eyre::eyre!("inner").wrap_err("outer")) }),
        json!({}),
    );
    assert_eq!((err.error_type(), err.message()), ("FunctionError", "outer"));
    assert_eq!(err.causes(), ["inner"]);
}

#[derive(Debug, thiserror::Error)]
enum OrderError {
    #[error("order {0} not found")]
    NotFound(u64),
    #[error("the quantity must be positive")]
    Invalid,
}

impl lambda_actors::ErrorType for OrderError {
    fn error_type(&self) -> std::borrow::Cow<'static, str> {
        match self {
            OrderError::NotFound(_) => "NotFound".into(),
            OrderError::Invalid => "ValidationError".into(),
        }
    }
}

async fn order(event: Value, _ctx: Context) -> Result<Value, OrderError> {
    match event["id"].as_u64() {
        Some(0) => Err(OrderError::Invalid),
        Some(id) => Err(OrderError::NotFound(id)),
        None => Ok(json!(null)),
    }
}

#[test]
fn an_enum_names_the_error_type_of_each_variant() {
    let err = fails(|rt| rt.error_types::<OrderError>().run_fn(order), json!({"id": 4}));
    assert_eq!((err.error_type(), err.message()), ("NotFound", "order 4 not found"));
    let err = fails(|rt| rt.error_types::<OrderError>().run_fn(order), json!({"id": 0}));
    assert_eq!(
        (err.error_type(), err.message()),
        ("ValidationError", "the quantity must be positive")
    );
}
