//! The `context` op returns every invocation field from the `/next` headers and every function
//! field from the environment; the invocation id is echoed on the answer only when present.

use crate::support::*;

const FUNCTION_ENV: &[(&str, &str)] = &[
    ("AWS_LAMBDA_FUNCTION_NAME", "ctx-fn"),
    ("AWS_LAMBDA_FUNCTION_VERSION", "17"),
    ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1536"),
    ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/ctx-fn"),
    ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/05/01/[17]abcdef0123"),
];

const CLIENT_CONTEXT: &str = r#"{"client":{"installation_id":"inst-1","app_title":"CtxApp","app_version_name":"1.0","app_version_code":"100","app_package_name":"com.example.ctx"},"custom":{"k":"v"},"env":{"platform":"Android","platform_version":"14","make":"M","model":"X","locale":"en_US"}}"#;
const COGNITO: &str = r#"{"cognitoIdentityId":"us-east-1:id-1","cognitoIdentityPoolId":"us-east-1:pool-1"}"#;

fn all_fields(run: &Run) {
    let deadline = now_epoch_ms() + 42_000;
    let arn = "arn:aws:lambda:eu-west-1:123456789012:function:ctx-fn:live";
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let id = run.mock.queue(
        Event::json(&json!({"op": "context"}))
            .request_id("ctx-req-1")
            .deadline(Deadline::AtEpochMs(deadline))
            .function_arn(arn)
            .trace_id(trace)
            .client_context(CLIENT_CONTEXT)
            .cognito_identity(COGNITO)
            .tenant_id("tenant-42")
            .invocation_id("inv-nonce-9"),
    );
    let answer = run.answer(&id);
    let c = run.ok_json(&answer);
    let field = |k: &str| c.get(k).cloned().unwrap_or(Value::Null);
    let expect = |k: &str, v: Value| {
        run.check(field(k) == v, || format!("context.{k} should be {v}, got {}", field(k)));
    };
    expect("request_id", json!("ctx-req-1"));
    expect("deadline_ms", json!(deadline));
    expect("invoked_function_arn", json!(arn));
    expect("xray_trace_id", json!(trace));
    expect("tenant_id", json!("tenant-42"));
    expect("invocation_id", json!("inv-nonce-9"));
    expect("function_name", json!("ctx-fn"));
    expect("function_version", json!("17"));
    expect("memory_size_mb", json!(1536));
    expect("log_group_name", json!("/aws/lambda/ctx-fn"));
    expect("log_stream_name", json!("2026/05/01/[17]abcdef0123"));

    // Parsed JSON, not the raw header string; the information must survive.
    let cc = field("client_context");
    let cc_text = cc.to_string();
    run.check(cc.is_object(), || {
        format!("client_context should be a JSON object: {cc}")
    });
    run.check(cc["custom"]["k"] == "v", || format!("client_context.custom.k: {cc}"));
    for needle in ["inst-1", "CtxApp", "Android", "en_US"] {
        run.check(cc_text.contains(needle), || {
            format!("client_context lost {needle:?}: {cc}")
        });
    }
    let ci = field("cognito_identity");
    let ci_text = ci.to_string();
    run.check(ci.is_object(), || {
        format!("cognito_identity should be a JSON object: {ci}")
    });
    for needle in ["us-east-1:id-1", "us-east-1:pool-1"] {
        run.check(ci_text.contains(needle), || {
            format!("cognito_identity lost {needle:?}: {ci}")
        });
    }

    run.check(
        answer.header("Lambda-Runtime-Invocation-Id") == Some("inv-nonce-9"),
        || {
            format!(
                "the answer must echo Lambda-Runtime-Invocation-Id; headers: {:?}",
                answer.headers
            )
        },
    );

    // Without the optional headers: nulls, and no invocation-id header on the answer.
    let id = run.send(json!({"op": "context"}));
    let answer = run.answer(&id);
    let c = run.ok_json(&answer);
    for k in [
        "xray_trace_id",
        "client_context",
        "cognito_identity",
        "tenant_id",
        "invocation_id",
    ] {
        run.check(c.get(k) == Some(&Value::Null), || {
            format!("context.{k} should be null without its header: {c}")
        });
    }
    run.check(c["request_id"] == json!(id), || format!("request_id: {c}"));
    run.check(answer.header("Lambda-Runtime-Invocation-Id").is_none(), || {
        format!(
            "no Lambda-Runtime-Invocation-Id header may be sent when /next had none: {:?}",
            answer.headers
        )
    });
}

#[test]
fn context_exposes_every_invocation_field_classic() {
    let _m = shared_machine();
    all_fields(&Run::classic(FUNCTION_ENV));
}

#[test]
fn context_exposes_every_invocation_field_managed() {
    let _m = shared_machine();
    all_fields(&Run::managed(2, FUNCTION_ENV));
}

#[test]
fn invocation_id_is_echoed_on_error_answers() {
    let _m = shared_machine();
    let run = Run::managed(2, &[]);
    let id = run
        .mock
        .queue(Event::json(&json!({"op": "error", "type": "EchoCheck", "message": "m"})).invocation_id("inv-err-1"));
    let answer = run.answer(&id);
    run.error_json(&answer, "EchoCheck");
    run.check(
        answer.header("Lambda-Runtime-Invocation-Id") == Some("inv-err-1"),
        || {
            format!(
                "the /error must echo Lambda-Runtime-Invocation-Id: {:?}",
                answer.headers
            )
        },
    );
}
