//! Black-box test kit for lambda-actors.
//!
//! - [`MockRuntimeApi`]: the Lambda Runtime API on a real socket (`127.0.0.1`, ephemeral port,
//!   HTTP/1.1 keep-alive, `Content-Length` and chunked bodies with trailers). Queue [`Event`]s,
//!   script failures, and read back every [`Answer`] and [`InitError`] it received.
//! - [`Process`]: a binary under test with a controlled environment, its stdout and stderr
//!   captured line by line, bounded waits, signals, and a kill on drop.
//!
//! ```no_run
//! use integration_tests::{binary, Event, MockRuntimeApi, ProcessBuilder};
//! use std::time::Duration;
//!
//! let mock = MockRuntimeApi::start();
//! let _function = ProcessBuilder::new(binary("/path/to/testbed"))
//!     .runtime_api(&mock.runtime_api())
//!     .spawn();
//! let id = mock.queue(Event::json(&serde_json::json!({"op": "echo"})));
//! let answer = mock.wait_for_answer(&id, Duration::from_secs(10)).unwrap();
//! assert_eq!(answer.json()["op"], "echo");
//! ```
//!
//! The integration scenarios themselves live in `tests/` and are compiled as the `integration`
//! test of the examples package, so that `env!("CARGO_BIN_EXE_testbed")` names the testbed.

mod http;
mod mock;
mod process;

pub use http::ChunkInfo;
pub use mock::{
    now_epoch_ms, Answer, AnswerFault, AnswerKind, Deadline, Delivery, Event, ExtensionError, InitError,
    MockRuntimeApi, NextFault, Registration, API_VERSION, EXTENSION_API,
};
pub use process::{binary, machine_busy_time, Line, Process, ProcessBuilder, Stream};

/// Standard base64 (RFC 4648, with padding) to bytes; `None` if it is not that (the streaming
/// error trailer carries its JSON this way).
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    const T: Duration = Duration::from_secs(5);

    /// A tiny raw HTTP/1.1 client: one keep-alive connection.
    struct Client {
        reader: BufReader<TcpStream>,
        writer: TcpStream,
    }

    #[derive(Debug)]
    struct Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Reply {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
        fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.body).unwrap()
        }
    }

    impl Client {
        fn connect(addr: &str) -> Self {
            let s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            Self {
                writer: s.try_clone().unwrap(),
                reader: BufReader::new(s),
            }
        }

        fn send(&mut self, raw: &[u8]) {
            self.writer.write_all(raw).unwrap();
        }

        fn request(&mut self, method: &str, path: &str, headers: &str, body: &[u8]) -> Reply {
            let head = format!(
                "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n{headers}\r\n",
                body.len()
            );
            self.send(head.as_bytes());
            self.send(body);
            self.read_reply().expect("a reply")
        }

        fn read_reply(&mut self) -> Option<Reply> {
            let mut line = String::new();
            if self.reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let status: u16 = line.split(' ').nth(1)?.parse().ok()?;
            let mut headers = Vec::new();
            loop {
                let mut l = String::new();
                self.reader.read_line(&mut l).ok()?;
                let l = l.trim_end();
                if l.is_empty() {
                    break;
                }
                let (n, v) = l.split_once(':')?;
                headers.push((n.to_string(), v.trim().to_string()));
            }
            let len: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; len];
            self.reader.read_exact(&mut body).ok()?;
            Some(Reply { status, headers, body })
        }
    }

    const NEXT: &str = "/2018-06-01/runtime/invocation/next";

    #[test]
    fn queued_event_is_delivered_with_headers() {
        let mock = MockRuntimeApi::start();
        let id = mock.queue(
            Event::json(&serde_json::json!({"op": "echo"}))
                .trace_id("Root=1-2-3")
                .client_context("{\"custom\":{}}")
                .cognito_identity("{\"cognitoIdentityId\":\"i\"}")
                .tenant_id("t-1")
                .invocation_id("inv-1"),
        );
        let auto = mock.queue_json(&serde_json::json!({"op": "echo"}));
        assert_ne!(id, auto, "generated request ids are unique");
        let mut c = Client::connect(&mock.addr());
        let before = now_epoch_ms();
        let r = c.request("GET", NEXT, "", b"");
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), serde_json::json!({"op": "echo"}));
        assert_eq!(r.header("lambda-runtime-aws-request-id"), Some(id.as_str()));
        assert_eq!(r.header("Lambda-Runtime-Trace-Id"), Some("Root=1-2-3"));
        assert_eq!(r.header("Lambda-Runtime-Aws-Tenant-Id"), Some("t-1"));
        assert_eq!(r.header("Lambda-Runtime-Invocation-Id"), Some("inv-1"));
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert!(r.header("Lambda-Runtime-Client-Context").is_some());
        assert!(r.header("Lambda-Runtime-Cognito-Identity").is_some());
        assert!(r.header("Lambda-Runtime-Invoked-Function-Arn").is_some());
        let deadline: u64 = r.header("Lambda-Runtime-Deadline-Ms").unwrap().parse().unwrap();
        assert!(deadline >= before + 59_000 && deadline <= now_epoch_ms() + 61_000);
        // Same connection (keep-alive): the second event, without optional headers.
        let r = c.request("GET", NEXT, "", b"");
        assert_eq!(r.header("lambda-runtime-aws-request-id"), Some(auto.as_str()));
        assert_eq!(r.header("Lambda-Runtime-Trace-Id"), None);
        assert_eq!(r.header("Lambda-Runtime-Invocation-Id"), None);
        assert_eq!(mock.next_calls(), 2);
        assert_eq!(mock.deliveries().len(), 2);
        assert_eq!(mock.in_flight(), 2);
    }

    #[test]
    fn deadline_can_be_absent_or_fixed() {
        let mock = MockRuntimeApi::start();
        mock.queue(Event::raw("x").no_deadline());
        mock.queue(Event::raw("y").deadline(Deadline::AtEpochMs(1234)));
        let mut c = Client::connect(&mock.addr());
        let r = c.request("GET", NEXT, "", b"");
        assert_eq!(r.body, b"x");
        assert_eq!(r.header("Lambda-Runtime-Deadline-Ms"), None);
        let r = c.request("GET", NEXT, "", b"");
        assert_eq!(r.header("Lambda-Runtime-Deadline-Ms"), Some("1234"));
    }

    #[test]
    fn next_parks_until_an_event_is_queued() {
        let mock = MockRuntimeApi::start();
        let addr = mock.addr();
        let poller = std::thread::spawn(move || {
            let mut c = Client::connect(&addr);
            c.request("GET", NEXT, "", b"")
        });
        mock.wait_for_parked(1, T).unwrap();
        assert_eq!(mock.parked(), 1);
        let id = mock.queue(Event::raw("late").request_id("rid-late"));
        let r = poller.join().unwrap();
        assert_eq!(r.body, b"late");
        assert_eq!(r.header("Lambda-Runtime-Aws-Request-Id"), Some(id.as_str()));
        assert_eq!(mock.parked(), 0);
        assert_eq!(mock.max_parked(), 1);
    }

    #[test]
    fn answers_are_recorded_and_acknowledged() {
        let mock = MockRuntimeApi::start();
        let id = mock.queue(Event::raw("{}").request_id("r-1"));
        let mut c = Client::connect(&mock.addr());
        c.request("GET", NEXT, "", b"");
        let r = c.request(
            "POST",
            &format!("/2018-06-01/runtime/invocation/{id}/response"),
            "Lambda-Runtime-Invocation-Id: inv-9\r\n",
            b"{\"ok\":true}",
        );
        assert_eq!(r.status, 202);
        assert_eq!(r.json(), serde_json::json!({"status": "OK"}));
        let a = mock.wait_for_answer("r-1", T).unwrap();
        assert_eq!(a.kind, AnswerKind::Response);
        assert_eq!(a.json(), serde_json::json!({"ok": true}));
        assert_eq!(a.header("lambda-runtime-invocation-id"), Some("inv-9"));
        assert!(a.delivered);
        assert_eq!(a.status, 202);
        assert_eq!(mock.in_flight(), 0);
        assert_eq!(mock.max_in_flight(), 1);
        // An answer for an id never handed out is recorded as such.
        c.request(
            "POST",
            "/2018-06-01/runtime/invocation/nope/error",
            "Lambda-Runtime-Function-Error-Type: Function.X\r\n",
            b"{\"errorType\":\"X\",\"errorMessage\":\"m\"}",
        );
        let a = mock.wait_for_answer("nope", T).unwrap();
        assert_eq!(a.kind, AnswerKind::Error);
        assert!(!a.delivered);
        assert_eq!(a.error_type().as_deref(), Some("X"));
        assert_eq!(a.error_message().as_deref(), Some("m"));
        assert_eq!(a.error_type_header(), Some("Function.X"));
        assert_eq!(mock.answers_for("nope").len(), 1);
        assert_eq!(mock.answers().len(), 2);
    }

    #[test]
    fn chunked_answer_with_trailers_and_expect_continue() {
        let mock = MockRuntimeApi::start();
        let mut c = Client::connect(&mock.addr());
        c.send(
            b"POST /2018-06-01/runtime/invocation/s-1/response HTTP/1.1\r\nHost: x\r\n\
              Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\
              Trailer: Lambda-Runtime-Function-Error-Type\r\n\r\n",
        );
        let cont = c.read_reply().unwrap();
        assert_eq!(cont.status, 100);
        c.send(b"5\r\nhello\r\n");
        std::thread::sleep(Duration::from_millis(30));
        c.send(b"6\r\n world\r\n0\r\nLambda-Runtime-Function-Error-Type: Function.Boom\r\n\r\n");
        let r = c.read_reply().unwrap();
        assert_eq!(r.status, 202);
        let a = mock.wait_for_answer("s-1", T).unwrap();
        assert_eq!(a.body, b"hello world");
        assert_eq!(a.chunks.len(), 2);
        assert!(a.chunks[1].at.duration_since(a.chunks[0].at) >= Duration::from_millis(20));
        assert_eq!(a.trailer("lambda-runtime-function-error-type"), Some("Function.Boom"));
        // The connection is still usable.
        let r = c.request("POST", "/2018-06-01/runtime/init/error", "", b"{}");
        assert_eq!(r.status, 202);
    }

    #[test]
    fn scripted_next_failures_then_parking() {
        let mock = MockRuntimeApi::start();
        mock.fail_next(2, 500);
        let mut c = Client::connect(&mock.addr());
        assert_eq!(c.request("GET", NEXT, "", b"").status, 500);
        assert_eq!(c.request("GET", NEXT, "", b"").status, 500);
        mock.queue(Event::raw("ok"));
        let r = c.request("GET", NEXT, "", b"");
        assert_eq!(r.status, 200);
        assert_eq!(mock.next_calls(), 3);
        assert_eq!(mock.next_call_times().len(), 3);
        assert_eq!(mock.deliveries().len(), 1);
    }

    #[test]
    fn scripted_answer_statuses() {
        let mock = MockRuntimeApi::start();
        mock.reply_to("gone", 410);
        mock.reply_every(3, 413);
        mock.reply_init_error(403);
        let mut c = Client::connect(&mock.addr());
        let path = |id: &str| format!("/2018-06-01/runtime/invocation/{id}/response");
        assert_eq!(c.request("POST", &path("gone"), "", b"1").status, 410);
        assert_eq!(c.request("POST", &path("a"), "", b"1").status, 202);
        assert_eq!(c.request("POST", &path("b"), "", b"1").status, 413);
        let r = c.request("POST", &path("c"), "", b"1");
        assert_eq!(r.status, 202);
        let r = c.request("POST", "/2018-06-01/runtime/init/error", "", b"{}");
        assert_eq!(r.status, 403);
        assert_eq!(r.json()["errorType"], "InvalidStateTransition");
        let statuses: Vec<u16> = mock.answers().iter().map(|a| a.status).collect();
        assert_eq!(statuses, [410, 202, 413, 202]);
        assert_eq!(mock.wait_for_init_errors(1, T).unwrap()[0].status, 403);
    }

    #[test]
    fn path_prefix_is_required_when_set() {
        let mock = MockRuntimeApi::with_prefix("/.rt");
        assert_eq!(mock.runtime_api(), format!("{}/.rt", mock.addr()));
        mock.queue(Event::raw("p"));
        let mut c = Client::connect(&mock.addr());
        let r = c.request("GET", NEXT, "", b"");
        assert_eq!(r.status, 404);
        assert_eq!(mock.unexpected_requests(), [format!("GET {NEXT}")]);
        let r = c.request("GET", &format!("/.rt{NEXT}"), "", b"");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"p");
    }

    #[test]
    fn headers_can_be_omitted_and_a_port_reused() {
        let mock = MockRuntimeApi::start();
        let port = mock.port();
        mock.queue(
            Event::raw("o")
                .request_id("hidden")
                .omit_header("lambda-runtime-aws-request-id")
                .omit_header("Lambda-Runtime-Invoked-Function-Arn"),
        );
        let mut c = Client::connect(&mock.addr());
        let r = c.request("GET", NEXT, "", b"");
        assert_eq!(r.header("Lambda-Runtime-Aws-Request-Id"), None);
        assert_eq!(r.header("Lambda-Runtime-Invoked-Function-Arn"), None);
        assert!(r.header("Lambda-Runtime-Deadline-Ms").is_some());
        assert_eq!(mock.deliveries()[0].request_id, "hidden");
        drop(c);
        drop(mock);
        let again = MockRuntimeApi::start_on(port, "").expect("the port is free again");
        assert_eq!(again.port(), port);
        again.queue(Event::raw("back"));
        let mut c = Client::connect(&again.addr());
        assert_eq!(c.request("GET", NEXT, "", b"").body, b"back");
    }

    #[test]
    fn waits_time_out_with_a_description() {
        let mock = MockRuntimeApi::start();
        let start = Instant::now();
        let err = mock.wait_for_answers(1, Duration::from_millis(100)).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(err.contains("1 answers") && err.contains("0 answers"), "{err}");
        assert!(mock.wait_for_parked(1, Duration::from_millis(10)).is_err());
        assert!(mock.wait_for_init_errors(1, Duration::from_millis(10)).is_err());
        assert!(mock.wait_for_next_calls(1, Duration::from_millis(10)).is_err());
        assert!(mock.wait_for_deliveries(1, Duration::from_millis(10)).is_err());
        assert!(mock.wait_for_answer("x", Duration::from_millis(10)).is_err());
    }

    #[test]
    fn parked_client_that_leaves_is_not_handed_an_event() {
        let mock = MockRuntimeApi::start();
        {
            let mut c = Client::connect(&mock.addr());
            c.send(format!("GET {NEXT} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
            mock.wait_for_parked(1, T).unwrap();
        }
        let start = Instant::now();
        while mock.parked() > 0 {
            assert!(start.elapsed() < T, "a closed parked client is noticed");
            std::thread::sleep(Duration::from_millis(10));
        }
        mock.queue(Event::raw("kept"));
        let mut c = Client::connect(&mock.addr());
        assert_eq!(c.request("GET", NEXT, "", b"").body, b"kept");
        assert_eq!(mock.deliveries().len(), 1);
    }

    #[test]
    fn dropping_the_mock_closes_parked_connections() {
        let mock = MockRuntimeApi::start();
        let addr = mock.addr();
        let poller = std::thread::spawn(move || {
            let mut c = Client::connect(&addr);
            c.send(format!("GET {NEXT} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
            c.read_reply()
        });
        mock.wait_for_parked(1, T).unwrap();
        let start = Instant::now();
        drop(mock);
        assert!(poller.join().unwrap().is_none(), "connection closed, no reply");
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    /// Reads a reply head and whatever body arrives until the connection ends.
    fn read_raw_until_closed(c: &mut Client) -> (Option<Reply>, std::io::Result<Vec<u8>>) {
        let mut line = String::new();
        if c.reader.read_line(&mut line).unwrap_or(0) == 0 {
            return (None, Ok(Vec::new()));
        }
        let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            let mut l = Vec::new();
            c.reader.read_until(b'\n', &mut l).unwrap();
            let l = String::from_utf8_lossy(&l).trim_end().to_string();
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':').unwrap();
            headers.push((n.to_string(), v.trim().to_string()));
        }
        let mut rest = Vec::new();
        let read = c.reader.read_to_end(&mut rest).map(|_| rest);
        (
            Some(Reply {
                status,
                headers,
                body: Vec::new(),
            }),
            read,
        )
    }

    #[test]
    fn scripted_next_faults_break_the_connection_as_told() {
        let mock = MockRuntimeApi::start();
        let get = format!("GET {NEXT} HTTP/1.1\r\nHost: x\r\n\r\n");
        // Reset before headers: no reply at all, no event used.
        mock.script_next(NextFault::ResetBeforeHeaders);
        mock.queue(Event::raw("0123456789").request_id("cut"));
        let mut c = Client::connect(&mock.addr());
        c.send(get.as_bytes());
        let (reply, _) = read_raw_until_closed(&mut c);
        assert!(reply.is_none());
        assert!(mock.deliveries().is_empty());
        // Truncated body: the head (with the id) and half the body, then FIN.
        mock.script_next(NextFault::TruncatedBody);
        let mut c = Client::connect(&mock.addr());
        c.send(get.as_bytes());
        let (reply, rest) = read_raw_until_closed(&mut c);
        let reply = reply.expect("a head");
        assert_eq!(reply.header("Lambda-Runtime-Aws-Request-Id"), Some("cut"));
        assert_eq!(reply.header("Content-Length"), Some("10"));
        assert_eq!(rest.unwrap(), b"01234");
        assert_eq!(mock.deliveries()[0].request_id, "cut");
        // Reset after headers: the head, half the body, then RST.
        mock.script_next(NextFault::ResetAfterHeaders);
        mock.queue(Event::raw("abcdef").request_id("rst"));
        let mut c = Client::connect(&mock.addr());
        c.send(get.as_bytes());
        let (reply, _) = read_raw_until_closed(&mut c);
        assert_eq!(reply.unwrap().header("Lambda-Runtime-Aws-Request-Id"), Some("rst"));
        assert_eq!(mock.deliveries().len(), 2);
        // Slow headers: the event arrives whole, late.
        mock.script_next(NextFault::SlowHeaders(Duration::from_millis(300)));
        mock.queue(Event::raw("slow").request_id("slow"));
        let mut c = Client::connect(&mock.addr());
        let start = Instant::now();
        let r = c.request("GET", NEXT, "", b"");
        assert!(start.elapsed() >= Duration::from_millis(250), "{:?}", start.elapsed());
        assert_eq!(r.body, b"slow");
        // A window of failures, then normal service.
        mock.script_next_for(Duration::from_millis(200), NextFault::Status(503));
        assert_eq!(c.request("GET", NEXT, "", b"").status, 503);
        std::thread::sleep(Duration::from_millis(250));
        mock.queue(Event::raw("after"));
        assert_eq!(c.request("GET", NEXT, "", b"").body, b"after");
    }

    #[test]
    fn raw_header_values_need_not_be_utf8() {
        let mock = MockRuntimeApi::start();
        mock.queue(Event::raw("r").raw_header("Lambda-Runtime-Aws-Tenant-Id", b"\xff\xfe".to_vec()));
        let mut c = Client::connect(&mock.addr());
        c.send(format!("GET {NEXT} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            c.reader.read_exact(&mut b).unwrap();
            head.push(b[0]);
        }
        let needle = b"Lambda-Runtime-Aws-Tenant-Id: \xff\xfe\r\n";
        assert!(head.windows(needle.len()).any(|w| w == needle));
    }

    #[test]
    fn scripted_answer_faults() {
        let mock = MockRuntimeApi::start();
        let path = |id: &str| format!("/2018-06-01/runtime/invocation/{id}/response");
        mock.script_answer("a", AnswerFault::ResetMidUpload);
        mock.script_answer("a", AnswerFault::Status(410));
        mock.script_answer("b", AnswerFault::SlowReply(Duration::from_millis(300)));
        // Reset mid-upload: no reply, not recorded.
        let mut c = Client::connect(&mock.addr());
        let body = vec![b'x'; 100];
        c.send(format!("POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", path("a")).as_bytes());
        let _ = c.writer.write_all(&body);
        assert!(c.read_reply().is_none());
        assert_eq!(mock.reset_uploads(), ["a"]);
        assert!(mock.answers().is_empty());
        // Then the one-off status, then the default again.
        let mut c = Client::connect(&mock.addr());
        assert_eq!(c.request("POST", &path("a"), "", b"1").status, 410);
        assert_eq!(c.request("POST", &path("a"), "", b"1").status, 202);
        // Slow reply: recorded at once, replied late.
        let start = Instant::now();
        assert_eq!(c.request("POST", &path("b"), "", b"1").status, 202);
        assert!(start.elapsed() >= Duration::from_millis(250));
        let b = mock.answers_for("b");
        assert_eq!(b.len(), 1);
        assert!(b[0].received < start + Duration::from_millis(200));
        // Close without a reply: recorded, then the connection ends.
        mock.script_answer("d", AnswerFault::CloseWithoutReply);
        let mut d = Client::connect(&mock.addr());
        d.send(format!("POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n1", path("d")).as_bytes());
        assert!(d.read_reply().is_none());
        assert_eq!(mock.answers_for("d").len(), 1);
        // Bodies can be counted and dropped.
        mock.discard_answer_bodies();
        c.request("POST", &path("c"), "", b"12345");
        let a = mock.wait_for_answer("c", T).unwrap();
        assert!(a.body.is_empty());
        assert_eq!(a.discarded_bytes, 5);
    }

    #[test]
    fn a_reserved_port_refuses_until_a_mock_starts_on_it() {
        let port = MockRuntimeApi::reserve_port();
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
        let mock = MockRuntimeApi::start_on_retrying(port, "", T);
        assert_eq!(mock.port(), port);
        assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    }

    #[test]
    fn process_output_exit_and_signals() {
        let mut p = ProcessBuilder::new("/bin/sh")
            .arg("-c")
            .arg("echo \"out $FOO $AWS_LAMBDA_MAX_CONCURRENCY\"; echo err >&2; exit 3")
            .env("FOO", "bar")
            .spawn();
        let line = p.wait_for_line(|l| l.starts_with("out"), T).unwrap();
        assert_eq!(line.trim_end(), "out bar");
        let status = p.wait_exit(T).expect("exited");
        assert_eq!(status.code(), Some(3));
        assert_eq!(p.stream_lines(Stream::Stderr), ["err"]);
        assert!(p.output().contains("err| err"));
        let err = p.wait_for_line(|l| l == "never", T).unwrap_err();
        assert!(err.contains("output closed"), "{err}");

        let mut p = ProcessBuilder::new("/bin/sh")
            .arg("-c")
            .arg("trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done")
            .spawn();
        p.wait_for_line(|l| l == "ready", T).unwrap();
        assert!(p.wait_exit(Duration::from_millis(50)).is_none());
        p.sigterm();
        let status = p.wait_exit(T).expect("exited on SIGTERM");
        assert_eq!(status.code(), Some(0));
        assert!(p.lines().iter().any(|l| l.text == "got-term"));

        // CPU time: a shell busy for a while uses some; a sleeping one almost none.
        let p = ProcessBuilder::new("/bin/sh")
            .arg("-c")
            .arg("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo done; sleep 30")
            .spawn();
        p.wait_for_line(|l| l == "done", Duration::from_secs(30)).unwrap();
        let cpu = p.cpu_time().expect("cpu time on Linux");
        assert!(cpu > Duration::from_millis(10), "{cpu:?}");
        let threads = p.thread_cpu_times();
        assert_eq!(threads.len(), 1, "{threads:?}");
        assert!(threads[0].1 > Duration::from_millis(10), "{threads:?}");
        assert!(machine_busy_time().expect("machine busy time on Linux") >= cpu);
        drop(p);

        let mut p = ProcessBuilder::new("/bin/sleep").arg("30").spawn();
        assert!(p.cpu_time().expect("cpu time on Linux") < Duration::from_millis(50));
        assert!(p.is_running());
        p.kill();
        assert!(!p.is_running());
    }
}
