//! The sqs example: an SQS batch with a partial-failure response.
//!
//! Each message body is an order (`{"order_id": "o-1", "quantity": 2}`). Orders that do not
//! decode, or ask for no item, are reported in `batchItemFailures`, so SQS retries only those
//! messages (the event source mapping needs `FunctionResponseTypes: [ReportBatchItemFailures]`,
//! as in `examples/sam/classic.yaml`). The event and the response are `aws_lambda_events` types.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_actors::{Context, Error};
use serde::Deserialize;

#[derive(Deserialize)]
struct Order {
    order_id: String,
    quantity: u32,
}

fn process(message: &SqsMessage) -> Result<Order, String> {
    let body = message.body.as_deref().ok_or("the message has no body")?;
    let order: Order = serde_json::from_str(body).map_err(|e| format!("not an order: {e}"))?;
    if order.quantity == 0 {
        return Err(format!("order {} asks for no item", order.order_id));
    }
    Ok(order)
}

async fn handle_batch(event: SqsEvent, _ctx: Context) -> Result<SqsBatchResponse, Error> {
    let mut response = SqsBatchResponse::default();
    for message in &event.records {
        let id = message.message_id.clone().unwrap_or_default();
        match process(message) {
            Ok(order) => {
                tracing::info!(message_id = %id, "order {} for {} item(s) accepted", order.order_id, order.quantity)
            }
            Err(why) => {
                tracing::warn!(message_id = %id, "message rejected: {why}");
                response.add_failure(id);
            }
        }
    }
    Ok(response)
}

fn main() -> Result<(), lambda_actors::RuntimeError> {
    lambda_actors::Runtime::new()
        .example_event(
            r#"{"Records": [{"messageId": "m-1", "body": "{\"order_id\": \"o-1\", \"quantity\": 2}"}, {"messageId": "m-2", "body": "oops"}]}"#,
        )
        .run_fn(handle_batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_actors::testing::TestFunction;
    use serde_json::{json, Value};

    fn message(id: &str, body: &str) -> Value {
        // The shape SQS delivers (see the Lambda docs' sample SQS event).
        json!({
            "messageId": id,
            "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1545082649183",
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": "1545082649185"
            },
            "messageAttributes": {},
            "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:orders",
            "awsRegion": "us-east-2"
        })
    }

    #[test]
    fn only_the_bad_messages_are_reported_as_failures() {
        let function = TestFunction::start_with(1, |rt| rt.run_fn(handle_batch)).unwrap();
        let event = json!({"Records": [
            message("059f36b4-87a3-44ab-83d2-661975830a7d", r#"{"order_id": "o-1", "quantity": 2}"#),
            message("2e1424d4-f796-459a-8184-9c92662be6da", "not json"),
            message("b7a1b0e5-5f57-4b4f-9d55-6e0f2c7d9d11", r#"{"order_id": "o-3", "quantity": 0}"#),
            message("c0ffee00-0000-4000-8000-000000000004", r#"{"order_id": "o-4", "quantity": 1}"#)
        ]});
        let out: Value = function.invoke(&event).unwrap();
        assert_eq!(
            out,
            json!({"batchItemFailures": [
                {"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"},
                {"itemIdentifier": "b7a1b0e5-5f57-4b4f-9d55-6e0f2c7d9d11"}
            ]})
        );
        let all_good: Value = function
            .invoke(&json!({"Records": [message("m-1", r#"{"order_id": "o", "quantity": 1}"#)]}))
            .unwrap();
        assert_eq!(all_good, json!({"batchItemFailures": []}));
        function.stop().unwrap();
    }
}
