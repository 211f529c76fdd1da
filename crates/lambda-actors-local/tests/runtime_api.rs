//! The Runtime API side: answers by request id, limits, init errors, start-up errors, and the
//! real awc client of `lambda-actors-api` against the server.

mod common;

use common::{invoke, request, Client, FakeRuntime, Harness};
use lambda_actors_local::{start, LocalConfig};
use std::time::Duration;

#[test]
fn an_unknown_or_already_answered_request_id_is_400() {
    let h = Harness::with(|_| {});
    let mut rt = FakeRuntime::connect(&h.runtime_api);
    let reply = rt.respond("no-such-id", "application/json", b"{}");
    assert_eq!(reply.status, 400);
    let json = reply.json();
    assert_eq!(json["errorType"], "InvalidRequestID");
    assert!(json["errorMessage"].as_str().unwrap().contains("no-such-id"));
    let reply = rt.error("no-such-id", "Function.X", b"{}");
    assert_eq!(reply.status, 400);

    // The connection is still usable: answer a real invocation twice.
    let caller = std::thread::spawn({
        let addr = h.addr;
        move || invoke(addr, b"{}")
    });
    let event = rt.next();
    let id = event.request_id();
    assert_eq!(rt.respond(&id, "application/json", b"1").status, 202);
    let second = rt.respond(&id, "application/json", b"2");
    assert_eq!(second.status, 400);
    assert_eq!(second.json()["errorType"], "InvalidRequestID");
    assert_eq!(rt.error(&id, "Function.X", b"{}").status, 400);
    assert_eq!(caller.join().unwrap().text(), "1");
}

#[test]
fn a_mismatched_invocation_id_echo_is_refused() {
    let h = Harness::with(|_| {});
    let caller = std::thread::spawn({
        let addr = h.addr;
        move || invoke(addr, b"{}")
    });
    let mut rt = FakeRuntime::connect(&h.runtime_api);
    let event = rt.next();
    let id = event.request_id();
    let path = format!("/2018-06-01/runtime/invocation/{id}/response");
    let wrong = rt
        .client()
        .request("POST", &path, &[("lambda-runtime-invocation-id", "stale")], b"x");
    assert_eq!(wrong.status, 400);
    let echo = event.header("lambda-runtime-invocation-id").unwrap().to_owned();
    let right = rt
        .client()
        .request("POST", &path, &[("lambda-runtime-invocation-id", &echo)], b"ok");
    assert_eq!(right.status, 202);
    assert_eq!(caller.join().unwrap().text(), "ok");
}

#[test]
fn a_buffered_response_over_6_mib_and_100_bytes_is_413() {
    let h = Harness::with(|_| {});
    let caller = std::thread::spawn({
        let addr = h.addr;
        move || invoke(addr, b"{}")
    });
    let mut rt = FakeRuntime::connect(&h.runtime_api);
    let id = rt.next().request_id();
    let big = vec![b'x'; 6 * 1024 * 1024 + 101];
    let reply = rt.respond(&id, "application/json", &big);
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json()["errorType"], "RequestEntityTooLarge");
    let answer = caller.join().unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(answer.json()["errorType"], "Function.ResponseSizeTooLarge");
    assert_eq!(h.stats().busy, 0);

    // Exactly at the limit passes, on the same keep-alive connection.
    let caller = std::thread::spawn({
        let addr = h.addr;
        move || invoke(addr, b"{}")
    });
    let id = rt.next().request_id();
    let max = vec![b'y'; 6 * 1024 * 1024 + 100];
    assert_eq!(rt.respond(&id, "application/octet-stream", &max).status, 202);
    let answer = caller.join().unwrap();
    assert_eq!(answer.body.len(), max.len());
    assert_eq!(answer.header("content-type"), Some("application/octet-stream"));
}

#[test]
fn an_init_error_is_kept_and_fails_invokes() {
    let h = Harness::with(|_| {});
    let body = br#"{"errorMessage":"no table","errorType":"Runtime.InitError"}"#;
    let mut client = Client::connect(h.addr);
    let headers = [("lambda-runtime-function-error-type", "Runtime.InitError")];
    let reply = client.request("POST", "/2018-06-01/runtime/init/error", &headers, body);
    assert_eq!(reply.status, 202);
    let init = h.server().init_error().expect("remembered");
    assert_eq!(init.error_type, "Runtime.InitError");
    assert!(init.body.contains("no table"));
    // Reported once only.
    let again = client.request("POST", "/2018-06-01/runtime/init/error", &headers, body);
    assert_eq!(again.status, 403);
    assert_eq!(again.json()["errorType"], "InvalidStateTransition");
    let answer = invoke(h.addr, b"{}");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(answer.json()["errorMessage"], "no table");
}

#[test]
fn an_init_error_fails_invokes_already_queued() {
    let h = Harness::with(|_| {});
    let caller = std::thread::spawn({
        let addr = h.addr;
        move || invoke(addr, b"{}")
    });
    h.wait_until("the invoke to queue", |s| s.queued == 1);
    let reply = request(
        h.addr,
        "POST",
        "/2018-06-01/runtime/init/error",
        &[],
        br#"{"errorMessage":"bad config","errorType":"Runtime.InitError"}"#,
    );
    assert_eq!(reply.status, 202);
    let answer = caller.join().unwrap();
    assert_eq!(answer.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(answer.json()["errorType"], "Runtime.InitError");
}

#[test]
fn a_port_already_in_use_is_a_clear_error_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = match Harness::start(LocalConfig {
        port,
        ..LocalConfig::default()
    }) {
        Ok(_) => panic!("bound a port that is in use"),
        Err(err) => err,
    };
    assert!(err.is_addr_in_use(), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(message.contains("already in use"), "{message}");
    assert!(message.contains("LOCAL_LAMBDA_PORT"), "{message}");
}

#[test]
fn bad_settings_fail_start() {
    let err = Harness::start(LocalConfig {
        port: 0,
        max_concurrency: 0,
        ..LocalConfig::default()
    })
    .err()
    .expect("refused");
    assert!(err.is_invalid_config());
}

#[test]
fn the_handle_names_the_urls_and_stop_frees_the_port() {
    let h = Harness::with(|_| {});
    let port = h.addr.port();
    let server = h.server();
    assert_eq!(server.runtime_api(), format!("127.0.0.1:{port}"));
    assert_eq!(server.invoke_url(), format!("http://127.0.0.1:{port}/invoke"));
    assert_eq!(server.endpoint_url(), format!("http://127.0.0.1:{port}"));
    assert_eq!(
        server.curl_hint_with(r#"{"name":"it's"}"#),
        format!(
            r#"curl -sS -X POST http://127.0.0.1:{port}/invoke -H 'content-type: application/json' -d '{{"name":"it'\''s"}}'"#
        )
    );
    h.stop();
    let mut rebound = false;
    for _ in 0..200 {
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            rebound = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(rebound, "port {port} still taken after stop");
}

#[test]
fn the_runtime_client_of_lambda_actors_api_works_against_the_server() {
    use lambda_actors_api::{Endpoint, ErrorBody, RuntimeClient};
    actix_rt::System::new().block_on(async {
        let server = start(LocalConfig {
            port: 0,
            timeout: Duration::from_secs(30),
            ..LocalConfig::default()
        })
        .await
        .unwrap();
        let endpoint = Endpoint::parse(&server.runtime_api()).unwrap();
        // The runtime side, on this arbiter, with the real awc client: one keep-alive
        // connection, a success then an error.
        actix_rt::spawn(async move {
            let client = RuntimeClient::new(&endpoint);
            let event = client.next().await.unwrap();
            assert!(event.meta.deadline_ms.is_some());
            assert!(event.meta.invocation_id.is_some());
            let mut out = b"got ".to_vec();
            out.extend_from_slice(&event.body);
            client
                .respond(
                    &event.meta.request_id,
                    event.meta.invocation_id.as_deref(),
                    "text/plain",
                    out.into(),
                )
                .await
                .unwrap();
            let event = client.next().await.unwrap();
            let error = ErrorBody::new("Function.Boom", "it broke");
            client
                .error(&event.meta.request_id, event.meta.invocation_id.as_deref(), &error)
                .await
                .unwrap();
        });
        let addr = server.local_addr();
        let replies = actix_rt::task::spawn_blocking(move || (invoke(addr, b"one"), invoke(addr, b"two")))
            .await
            .unwrap();
        assert_eq!(replies.0.text(), "got one");
        assert_eq!(replies.0.header("content-type"), Some("text/plain"));
        assert_eq!(replies.1.header("x-amz-function-error"), Some("Unhandled"));
        assert_eq!(replies.1.json()["errorType"], "Function.Boom");
        server.stop();
    });
}

#[test]
fn an_answer_sent_after_expect_100_continue_is_accepted() {
    let h = Harness::with(|_| {});
    let caller = std::thread::spawn({
        let addr = h.addr;
        move || invoke(addr, b"{}")
    });
    let mut rt = FakeRuntime::connect(&h.runtime_api);
    let id = rt.next().request_id();
    // As a shell runtime posting with curl does.
    let path = format!("/2018-06-01/runtime/invocation/{id}/response");
    let client = rt.client();
    client.send_head("POST", &path, &[("content-length", "4"), ("expect", "100-continue")]);
    assert_eq!(client.read_exact(25), b"HTTP/1.1 100 Continue\r\n\r\n");
    client.write_raw(b"done");
    assert_eq!(client.read_reply().status, 202);
    assert_eq!(caller.join().unwrap().text(), "done");
}

#[test]
fn an_internal_extension_registers_during_init_and_its_event_next_stays_parked() {
    let h = Harness::with(|_| {});
    let register = [("Lambda-Extension-Name", "probe")];
    let reply = request(
        h.addr,
        "POST",
        "/2020-01-01/extension/register",
        &register,
        br#"{"events":[]}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let id = reply
        .header("lambda-extension-identifier")
        .expect("an identifier")
        .to_owned();
    assert!(!id.is_empty());
    assert_eq!(reply.json()["functionVersion"], "$LATEST");

    // An unknown identifier is refused at once.
    let reply = request(
        h.addr,
        "GET",
        "/2020-01-01/extension/event/next",
        &[("Lambda-Extension-Identifier", "nobody")],
        b"",
    );
    assert_eq!(reply.status, 403, "{}", reply.text());

    // The registered one parks: no reply while the server runs. It is parked by the time an
    // invoke made after it is answered (one connection each, both served in order of arrival
    // of their requests; the parked call cannot have been answered in between).
    let mut parked = Client::connect(h.addr);
    parked.send(
        "GET",
        "/2020-01-01/extension/event/next",
        &[("Lambda-Extension-Identifier", &id)],
        b"",
    );
    let mut rt = FakeRuntime::connect(&h.runtime_api);
    let caller = std::thread::spawn({
        let addr = h.addr;
        move || invoke(addr, b"{}")
    });
    let event = rt.next();
    assert_eq!(rt.respond(&event.request_id(), "application/json", b"7").status, 202);
    assert_eq!(caller.join().unwrap().text(), "7");
    assert!(parked.is_waiting(), "the parked event/next was answered or closed");

    // Init is over once the runtime has asked for an event. Lambda would refuse a registration
    // now; the local server cannot (an external extension starts after the function's process
    // here), so it accepts it and logs what Lambda would say.
    let reply = request(
        h.addr,
        "POST",
        "/2020-01-01/extension/register",
        &register,
        br#"{"events":[]}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());

    // Stopping the server ends the parked call.
    h.stop();
    assert!(parked.is_closed(), "the parked event/next outlived the server");
}

#[test]
fn an_external_extension_gets_invoke_events_and_shutdown_when_the_server_stops() {
    let h = Harness::with(|_| {});
    let register = [("Lambda-Extension-Name", "flusher")];
    let reply = request(
        h.addr,
        "POST",
        "/2020-01-01/extension/register",
        &register,
        br#"{"events":["INVOKE","SHUTDOWN"]}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let id = reply.header("lambda-extension-identifier").unwrap().to_owned();
    let next = |c: &mut Client| {
        c.request(
            "GET",
            "/2020-01-01/extension/event/next",
            &[("Lambda-Extension-Identifier", &id)],
            b"",
        )
    };

    // One invocation: its INVOKE event names its request id.
    let mut rt = FakeRuntime::connect(&h.runtime_api);
    let caller = std::thread::spawn({
        let addr = h.addr;
        move || invoke(addr, b"{}")
    });
    let event = rt.next();
    let mut ext = Client::connect(h.addr);
    let invoke_event = next(&mut ext).json();
    assert_eq!(invoke_event["eventType"], "INVOKE");
    assert_eq!(invoke_event["requestId"], event.request_id());
    assert!(invoke_event["deadlineMs"].as_u64().is_some());
    assert_eq!(rt.respond(&event.request_id(), "application/json", b"1").status, 202);
    assert_eq!(caller.join().unwrap().text(), "1");

    // Parked, then SHUTDOWN when the function's drain starts (what lambda-actors calls on
    // Ctrl-C), before the server stops.
    ext.send(
        "GET",
        "/2020-01-01/extension/event/next",
        &[("Lambda-Extension-Identifier", &id)],
        b"",
    );
    assert!(ext.is_waiting());
    h.server().extension_shutdown().send();
    let shutdown = ext.read_reply().json();
    assert_eq!(shutdown["eventType"], "SHUTDOWN");
    assert_eq!(shutdown["shutdownReason"], "spindown");
    h.stop();
}

#[test]
fn on_managed_instances_an_extension_may_register_for_shutdown_only() {
    let h = Harness::with(|cfg| cfg.max_concurrency = 4);
    let register = [("Lambda-Extension-Name", "flusher")];
    let reply = request(
        h.addr,
        "POST",
        "/2020-01-01/extension/register",
        &register,
        br#"{"events":["INVOKE","SHUTDOWN"]}"#,
    );
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert_eq!(reply.json()["errorType"], "Extension.InvalidEvents");
    let reply = request(
        h.addr,
        "POST",
        "/2020-01-01/extension/register",
        &register,
        br#"{"events":["SHUTDOWN"]}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
}
