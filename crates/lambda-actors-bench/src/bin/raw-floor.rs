//! The floor: the hello function on the least runtime there can be. Blocking `std::net`,
//! hand-parsed HTTP/1.1 on one keep-alive connection per slot, one OS thread per slot
//! (`AWS_LAMBDA_MAX_CONCURRENCY`, 1 when unset), the same serde JSON hello as the others.
//! No logging, no retries, no deadlines, no streaming: what is left is the cost of the
//! sockets and the JSON.

use lambda_actors_bench::http::{write_all_vectored, Reader};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::TcpStream;
use std::time::Duration;

#[derive(Deserialize)]
struct HelloRequest {
    name: String,
}

#[derive(Serialize)]
struct HelloResponse {
    greetings: String,
}

fn main() {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").expect("AWS_LAMBDA_RUNTIME_API is not set");
    let api = api.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let slots: usize = std::env::var("AWS_LAMBDA_MAX_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    for _ in 1..slots {
        let api = api.clone();
        std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(move || exit_on_error(slot(&api)))
            .expect("cannot start a slot thread");
    }
    exit_on_error(slot(&api));
}

fn exit_on_error(result: io::Result<()>) {
    if let Err(e) = result {
        eprintln!("raw-floor: {e}");
        std::process::exit(1);
    }
}

fn slot(api: &str) -> io::Result<()> {
    let stream = TcpStream::connect(api)?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = Reader::new(stream, 4096);
    let next =
        format!("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: {api}\r\nuser-agent: raw-floor\r\n\r\n");
    let (mut event, mut reply, mut head) = (Vec::new(), Vec::new(), String::new());
    let mut request_id = String::new();
    loop {
        writer.write_all(next.as_bytes())?;
        let h = reader.read_head()?.ok_or(io::ErrorKind::UnexpectedEof)?;
        let (len, status, body_len) = (h.len(), h.status(), h.content_length().unwrap_or(0));
        request_id.clear();
        request_id
            .push_str(std::str::from_utf8(h.header("lambda-runtime-aws-request-id").unwrap_or_default()).unwrap_or(""));
        reader.consume_head(len);
        reader.read_body_into(body_len, &mut event)?;
        if status != Some(200) || request_id.is_empty() {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let (path, body) = match serde_json::from_slice::<HelloRequest>(&event) {
            Ok(req) => (
                "response",
                serde_json::to_vec(&HelloResponse {
                    greetings: format!("Hello {}!", req.name),
                })?,
            ),
            Err(e) => (
                "error",
                serde_json::to_vec(
                    &serde_json::json!({"errorType": "Runtime.UnmarshalError", "errorMessage": e.to_string()}),
                )?,
            ),
        };
        head.clear();
        let _ = write!(
            head,
            "POST /2018-06-01/runtime/invocation/{request_id}/{path} HTTP/1.1\r\nhost: {api}\r\n\
             user-agent: raw-floor\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        write_all_vectored(&mut writer, &[head.as_bytes(), &body])?;
        let h = reader.read_head()?.ok_or(io::ErrorKind::UnexpectedEof)?;
        let (len, body_len) = (h.len(), h.content_length().unwrap_or(0));
        reader.consume_head(len);
        reader.read_body_into(body_len, &mut reply)?;
    }
}
