//! Shared helpers for the scenarios: start the testbed against a fresh mock, fail with context.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

pub use integration_tests::{
    base64_decode, binary, machine_busy_time, now_epoch_ms, Answer, AnswerKind, Deadline, Event, MockRuntimeApi,
    Process, ProcessBuilder, Stream,
};
pub use serde_json::{json, Value};

/// The testbed binary, built by cargo for this test target.
pub const TESTBED: &str = env!("CARGO_BIN_EXE_testbed");

/// Default bound for "this should happen soon" waits.
pub const T: Duration = Duration::from_secs(10);

/// Tests that measure time or load the CPU run alone; the others may share the machine.
static MACHINE: RwLock<()> = RwLock::new(());

/// Held by an ordinary scenario: may run beside other ordinary scenarios.
pub fn shared_machine() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(|e| e.into_inner())
}

/// Held by a timing-sensitive or CPU-heavy scenario: nothing else runs meanwhile.
pub fn whole_machine() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().unwrap_or_else(|e| e.into_inner())
}

/// A builder for the testbed pointed at this mock (parent Lambda env cleared).
pub fn testbed(mock: &MockRuntimeApi) -> ProcessBuilder {
    ProcessBuilder::new(binary(TESTBED)).runtime_api(&mock.runtime_api())
}

/// A mock and the testbed process talking to it. The process is dropped (killed) first.
pub struct Run {
    pub proc: Process,
    pub mock: MockRuntimeApi,
}

impl Run {
    /// Classic mode (no `AWS_LAMBDA_MAX_CONCURRENCY`) with extra env.
    pub fn classic(env: &[(&str, &str)]) -> Self {
        let mock = MockRuntimeApi::start();
        let proc = testbed(&mock).envs(env.iter().copied()).spawn();
        Self { mock, proc }
    }

    /// Managed mode with `AWS_LAMBDA_MAX_CONCURRENCY=n` and extra env.
    pub fn managed(n: usize, env: &[(&str, &str)]) -> Self {
        let mock = MockRuntimeApi::start();
        let proc = testbed(&mock)
            .env("AWS_LAMBDA_MAX_CONCURRENCY", &n.to_string())
            .envs(env.iter().copied())
            .spawn();
        Self { mock, proc }
    }

    /// Fails the test with the mock's state and the process output.
    #[track_caller]
    pub fn fail(&self, what: &str) -> ! {
        panic!(
            "{what}\n--- {}\n--- process output:\n{}",
            self.mock.describe(),
            self.proc.output()
        )
    }

    /// Asserts a condition, failing with full context.
    #[track_caller]
    pub fn check(&self, cond: bool, what: impl FnOnce() -> String) {
        if !cond {
            self.fail(&what());
        }
    }

    /// Sends SIGTERM and asserts the process drains and exits 0 within [`T`].
    #[track_caller]
    pub fn sigterm_and_expect_exit_zero(&mut self) {
        self.proc.sigterm();
        self.expect_exit_zero();
    }

    /// Asserts the process (already signalled) drains and exits 0 within [`T`].
    #[track_caller]
    pub fn expect_exit_zero(&mut self) {
        let Some(status) = self.proc.wait_exit(T) else {
            self.fail("still running after SIGTERM")
        };
        self.check(status.success(), || format!("exit after SIGTERM: {status}"));
    }

    /// Asserts that no answer went to a request id the mock never delivered.
    #[track_caller]
    pub fn assert_no_stray_answers(&self) {
        let strays: Vec<String> = self
            .mock
            .answers()
            .iter()
            .filter(|a| !a.delivered)
            .map(|a| a.request_id.clone())
            .collect();
        self.check(strays.is_empty(), || {
            format!("answers to ids never delivered: {strays:?}")
        });
    }

    /// Asserts that the process is still running.
    #[track_caller]
    pub fn assert_running(&mut self, what: &str) {
        if let Some(status) = self.proc.try_exit() {
            self.fail(&format!("{what}: the process exited ({status})"));
        }
    }

    /// Queues a JSON event with default headers; returns its request id.
    pub fn send(&self, event: Value) -> String {
        self.mock.queue(Event::json(&event))
    }

    /// The first answer to `id`, waiting up to `timeout`.
    #[track_caller]
    pub fn answer_within(&self, id: &str, timeout: Duration) -> Answer {
        self.mock.wait_for_answer(id, timeout).unwrap_or_else(|e| self.fail(&e))
    }

    /// The first answer to `id`, waiting up to [`T`].
    #[track_caller]
    pub fn answer(&self, id: &str) -> Answer {
        self.answer_within(id, T)
    }

    /// Waits for `n` parked `/next` calls.
    #[track_caller]
    pub fn parked(&self, n: usize) {
        self.mock.wait_for_parked(n, T).unwrap_or_else(|e| self.fail(&e));
    }

    /// Every answer of the testbed carries JSON (`Content-Type: application/json`, which Lambda
    /// passes on to the caller) and a `User-Agent` of the `<runtime-name>/<version>` form.
    #[track_caller]
    pub fn check_common_headers(&self, answer: &Answer) {
        let ct = answer.header("Content-Type");
        self.check(ct.is_some_and(|v| v.starts_with("application/json")), || {
            format!(
                "{:?} for {}: Content-Type {ct:?}, expected application/json",
                answer.kind, answer.request_id
            )
        });
        let ua = answer.header("User-Agent");
        self.check(ua.is_some_and(|v| v.contains('/')), || {
            format!(
                "{:?} for {}: User-Agent {ua:?}, expected <runtime-name>/<version>",
                answer.kind, answer.request_id
            )
        });
    }

    /// Asserts that `answer` is a successful response and returns its JSON body.
    #[track_caller]
    pub fn ok_json(&self, answer: &Answer) -> Value {
        if answer.kind != AnswerKind::Response {
            self.fail(&format!(
                "expected a /response for {}, got {:?}: {}",
                answer.request_id,
                answer.kind,
                answer.body_text()
            ));
        }
        self.check_common_headers(answer);
        serde_json::from_slice(&answer.body).unwrap_or_else(|e| {
            self.fail(&format!(
                "/response for {} is not JSON ({e}): {}",
                answer.request_id,
                answer.body_text()
            ))
        })
    }

    /// Asserts that `answer` is an `/error` with this `errorType` in the body, that the body has
    /// the documented shape, and that the error-type header has the `Runtime.X`/`Function.X`
    /// form. Returns the body.
    #[track_caller]
    pub fn error_json(&self, answer: &Answer, error_type: &str) -> Value {
        if answer.kind != AnswerKind::Error {
            self.fail(&format!(
                "expected an /error ({error_type}) for {}, got {:?}: {}",
                answer.request_id,
                answer.kind,
                answer.body_text()
            ));
        }
        self.check_common_headers(answer);
        let body: Value = serde_json::from_slice(&answer.body).unwrap_or_else(|e| {
            self.fail(&format!(
                "/error body for {} is not JSON ({e}): {}",
                answer.request_id,
                answer.body_text()
            ))
        });
        self.check(body["errorType"] == error_type, || {
            format!("errorType should be {error_type:?}: {body}")
        });
        self.check(body["errorMessage"].is_string(), || {
            format!("errorMessage should be a string: {body}")
        });
        self.check(
            body.get("stackTrace").is_none() || body["stackTrace"].is_array(),
            || format!("stackTrace, when present, should be an array: {body}"),
        );
        match answer.error_type_header() {
            Some(h) => self.check(is_error_type_form(h), || {
                format!("Lambda-Runtime-Function-Error-Type {h:?} is not (Runtime|Function).Reason")
            }),
            None => self.fail(&format!(
                "/error for {} has no Lambda-Runtime-Function-Error-Type header",
                answer.request_id
            )),
        }
        body
    }
}

/// `(Runtime|Function)\.[A-Z][a-zA-Z]+`
pub fn is_error_type_form(s: &str) -> bool {
    let Some(reason) = s.strip_prefix("Runtime.").or_else(|| s.strip_prefix("Function.")) else {
        return false;
    };
    let mut chars = reason.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && reason.len() >= 2
        && chars.all(|c| c.is_ascii_alphabetic())
}

/// Starts the testbed with this env against a fresh mock and expects it to fail initialisation:
/// an `/init/error` naming every string in `must_mention`, a non-zero exit, and no `/next`.
/// Returns the run for further checks.
#[track_caller]
pub fn expect_init_failure(env: &[(&str, &str)], must_mention: &[&str]) -> Run {
    let mut run = Run::classic(env);
    // Were the runtime to poll anyway, this event would be consumed: a visible failure.
    let id = run.send(json!({"op": "echo"}));
    let errors = run
        .mock
        .wait_for_init_errors(1, T)
        .unwrap_or_else(|e| run.fail(&format!("env {env:?}: no /init/error: {e}")));
    let status = run.proc.wait_exit(T);
    let Some(status) = status else {
        run.fail(&format!("env {env:?}: process still running {T:?} after init error"))
    };
    run.check(!status.success(), || {
        format!("env {env:?}: init failure must exit non-zero, got {status}")
    });
    let e = &errors[0];
    let msg = e.error_message().unwrap_or_default();
    for m in must_mention {
        run.check(msg.contains(m), || {
            format!(
                "env {env:?}: init error message should mention {m:?}: {}",
                e.body_text()
            )
        });
    }
    run.check(e.error_type().is_some_and(|t| !t.is_empty()), || {
        format!("env {env:?}: init error needs an errorType: {}", e.body_text())
    });
    run.check(
        e.header("Lambda-Runtime-Function-Error-Type")
            .is_some_and(is_error_type_form),
        || format!("env {env:?}: init error needs a Lambda-Runtime-Function-Error-Type header of the Runtime.Reason form: {:?}", e.headers),
    );
    run.check(run.mock.answers_for(&id).is_empty(), || {
        format!("env {env:?}: the queued event was answered")
    });
    run.check(run.mock.deliveries().is_empty(), || {
        format!("env {env:?}: an event was consumed by /next before the init error")
    });
    run.check(run.mock.next_calls() == 0, || {
        format!(
            "env {env:?}: /next was called {} times although init failed",
            run.mock.next_calls()
        )
    });
    run
}

/// Every field a metrics summary carries (the EMF document declares the same).
pub const METRIC_FIELDS: [&str; 19] = [
    "invocations_count",
    "errors_count",
    "panics_count",
    "timeouts_count",
    "restarts_count",
    "num_pollers",
    "num_pollers_alive",
    "num_busy_handlers",
    "max_mailbox_depth",
    "pool_wait_ms_max",
    "stalls_count",
    "stall_ms_max",
    "handler_ms_p50",
    "handler_ms_p99",
    "handler_ms_max",
    "overhead_us_p50",
    "overhead_us_p99",
    "bytes_in",
    "bytes_out",
];

/// A panic inside invocation `id` was logged as ERROR JSON lines (those containing `marker`)
/// carrying `id`, and the metrics summaries count exactly one panic and at least one restart
/// (the rebuilt handler). Needs JSON logs and `LAMBDA_ACTORS_METRICS_INTERVAL_SECS=1`.
pub fn assert_panic_logged_and_counted(run: &Run, id: &str, marker: &str) {
    // The runtime's "…; the handler was rebuilt" line comes last; the output is read
    // asynchronously, so wait for it before collecting.
    run.proc
        .wait_for_line(|l| l.contains(marker) && l.contains("rebuilt"), T)
        .unwrap_or_else(|e| run.fail(&format!("the panic ({marker}) was not logged: {e}")));
    let logged: Vec<Value> = run
        .proc
        .stream_lines(Stream::Stdout)
        .iter()
        .filter(|l| l.contains(marker))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| run.fail(&format!("not JSON ({e}): {l}"))))
        .collect();
    run.check(!logged.is_empty(), || format!("the panic ({marker}) was not logged"));
    for v in &logged {
        run.check(v["level"] == "ERROR" && v["requestId"] == json!(id), || {
            format!("the panic should be logged as ERROR with requestId {id}: {v}")
        });
    }
    let (mut panics, mut restarts) = (0, 0);
    run.proc
        .wait_for_line(
            |l| {
                if let Ok(v) = serde_json::from_str::<Value>(l) {
                    if v["message"] == "metrics" {
                        panics += v["panics_count"].as_u64().unwrap_or(0);
                        restarts += v["restarts_count"].as_u64().unwrap_or(0);
                    }
                }
                panics >= 1 && restarts >= 1
            },
            Duration::from_secs(5),
        )
        .unwrap_or_else(|e| run.fail(&format!("no summary counting the panic and the restart: {e}")));
    run.check(panics == 1, || format!("summaries counted {panics} panics, expected 1"));
}

/// Sums a counter over the JSON metrics summaries seen so far, waiting until it reaches `want`.
pub fn counted(run: &Run, field: &str, want: u64, timeout: Duration) -> u64 {
    let mut total = 0;
    let _ = run.proc.wait_for_line(
        |l| {
            if let Ok(v) = serde_json::from_str::<Value>(l) {
                if v["message"] == "metrics" {
                    total += v[field].as_u64().unwrap_or(0);
                }
            }
            total >= want
        },
        timeout,
    );
    total
}

/// The testbed serving itself through the embedded local server on a free port of
/// `127.0.0.1`, with extra env; returns it once it says it is serving, and the port.
pub fn serve_locally(env: &[(&str, &str)]) -> (Process, u16) {
    let port = MockRuntimeApi::reserve_port();
    let proc = ProcessBuilder::new(binary(TESTBED))
        .env("LOCAL_LAMBDA_PORT", &port.to_string())
        .envs(env.iter().copied())
        .spawn();
    proc.wait_for_line(|l| l.contains("serving the function locally"), T)
        .unwrap_or_else(|e| panic!("{e}\n{}", proc.output()));
    (proc, port)
}

/// One `POST` of a JSON body on a fresh connection to `authority` (`127.0.0.1:PORT`); the
/// whole reply, as text.
pub fn http_post(authority: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(authority).unwrap();
    conn.set_read_timeout(Some(T)).unwrap();
    write!(
        conn,
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    reply
}
