//! Test helpers: the server in its own actix system thread, a raw blocking HTTP/1.1 client
//! that sees chunk timing and trailers, and a fake runtime that polls `/next` and answers.

#![allow(dead_code)]

use lambda_actors_local::{start, LocalConfig, LocalError, LocalServer, LocalStats};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Every socket read in the tests gives up after this long.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// A server running on an ephemeral port in its own actix system thread.
pub struct Harness {
    server: Option<LocalServer>,
    system: actix_rt::System,
    thread: Option<JoinHandle<()>>,
    pub addr: SocketAddr,
    pub runtime_api: String,
}

impl Harness {
    pub fn start(cfg: LocalConfig) -> Result<Self, LocalError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let sys = actix_rt::System::new();
            let started = sys.block_on(start(cfg));
            let ok = started.is_ok();
            tx.send((started, actix_rt::System::current())).unwrap();
            if ok {
                sys.run().unwrap();
            }
        });
        let (started, system) = rx.recv_timeout(IO_TIMEOUT).expect("the server thread answers");
        match started {
            Ok(server) => Ok(Self {
                addr: server.local_addr(),
                runtime_api: server.runtime_api(),
                server: Some(server),
                system,
                thread: Some(thread),
            }),
            Err(e) => {
                thread.join().unwrap();
                Err(e)
            }
        }
    }

    /// A server on 127.0.0.1, an ephemeral port, a 60 s timeout unless `cfg` says otherwise.
    pub fn with(change: impl FnOnce(&mut LocalConfig)) -> Self {
        let mut cfg = LocalConfig {
            port: 0,
            timeout: Duration::from_secs(60),
            ..LocalConfig::default()
        };
        change(&mut cfg);
        Self::start(cfg).expect("the server starts")
    }

    pub fn server(&self) -> &LocalServer {
        self.server.as_ref().unwrap()
    }

    pub fn stats(&self) -> LocalStats {
        self.server().stats()
    }

    /// Waits (bounded) until `ok(stats)` holds.
    pub fn wait_until(&self, what: &str, ok: impl Fn(&LocalStats) -> bool) {
        let end = Instant::now() + IO_TIMEOUT;
        loop {
            let stats = self.stats();
            if ok(&stats) {
                return;
            }
            assert!(Instant::now() < end, "timed out waiting for {what}: {stats:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn wait_polling(&self, n: usize) {
        self.wait_until(&format!("{n} parked /next"), |s| s.polling >= n);
    }

    /// Stops the server and its system, and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
        self.system.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A parsed HTTP response.
#[derive(Debug, Default)]
pub struct Reply {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Lower-case names.
    pub trailers: Vec<(String, String)>,
    /// When each chunk of a chunked body arrived, and its size.
    pub chunks: Vec<(Instant, usize)>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn trailer(&self, name: &str) -> Option<&str> {
        find(&self.trailers, name)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn request_id(&self) -> String {
        self.header("lambda-runtime-aws-request-id")
            .expect("a /next reply has a request id")
            .to_owned()
    }
}

fn find<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// A keep-alive client connection.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    pub fn connect(addr: impl std::net::ToSocketAddrs) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    /// Sends a request with a `Content-Length` body.
    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        self.writer.write_all(head.as_bytes()).unwrap();
        self.writer.write_all(body).unwrap();
    }

    /// Sends only a request head (the caller writes the body itself).
    pub fn send_head(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) {
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: test\r\n");
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        self.writer.write_all(head.as_bytes()).unwrap();
    }

    pub fn write_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
        self.writer.flush().unwrap();
    }

    pub fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        self.send(method, path, headers, body);
        self.read_reply()
    }

    /// Reads one response (skipping `100 Continue`).
    pub fn read_reply(&mut self) -> Reply {
        self.try_read_reply().expect("a complete HTTP response")
    }

    pub fn try_read_reply(&mut self) -> std::io::Result<Reply> {
        loop {
            let reply = self.read_one()?;
            if reply.status != 100 {
                return Ok(reply);
            }
        }
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }

    fn fields(&mut self) -> std::io::Result<Vec<(String, String)>> {
        let mut fields = Vec::new();
        loop {
            let line = self.line()?;
            if line.is_empty() {
                return Ok(fields);
            }
            let (n, v) = line.split_once(':').expect("a header line");
            fields.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }

    fn read_one(&mut self) -> std::io::Result<Reply> {
        let status_line = self.line()?;
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let mut reply = Reply {
            status,
            headers: self.fields()?,
            ..Reply::default()
        };
        if status == 100 || status == 204 {
            return Ok(reply);
        }
        if reply
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let size_line = self.line()?;
                let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16).expect("chunk size");
                if size == 0 {
                    reply.trailers = self.fields()?;
                    return Ok(reply);
                }
                let mut data = vec![0; size];
                self.reader.read_exact(&mut data)?;
                reply.chunks.push((Instant::now(), size));
                reply.body.extend_from_slice(&data);
                let mut crlf = [0; 2];
                self.reader.read_exact(&mut crlf)?;
                assert_eq!(&crlf, b"\r\n");
            }
        }
        match reply.header("content-length") {
            Some(len) => {
                let mut data = vec![0; len.parse().unwrap()];
                self.reader.read_exact(&mut data)?;
                reply.body = data;
            }
            None => {
                self.reader.read_to_end(&mut reply.body)?;
            }
        }
        Ok(reply)
    }

    /// Reads exactly `n` raw bytes.
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut data = vec![0; n];
        self.reader.read_exact(&mut data).unwrap();
        data
    }

    /// Whether the server has neither replied nor closed the connection yet (checked without
    /// waiting).
    pub fn is_waiting(&mut self) -> bool {
        if !self.reader.buffer().is_empty() {
            return false;
        }
        let sock = self.reader.get_ref();
        sock.set_nonblocking(true).unwrap();
        let mut byte = [0; 1];
        let waiting = matches!(sock.peek(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        sock.set_nonblocking(false).unwrap();
        waiting
    }

    /// Whether the server closed the connection (reads end of stream).
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0; 1];
        matches!(self.reader.read(&mut byte), Ok(0) | Err(_))
    }
}

/// One request on a fresh connection.
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    Client::connect(addr).request(method, path, headers, body)
}

/// `POST /invoke` on a fresh connection.
pub fn invoke(addr: SocketAddr, body: &[u8]) -> Reply {
    request(addr, "POST", "/invoke", &[("content-type", "application/json")], body)
}

/// A fake runtime poller on one keep-alive connection, as awc keeps it.
pub struct FakeRuntime {
    client: Client,
}

impl FakeRuntime {
    pub fn connect(runtime_api: &str) -> Self {
        Self {
            client: Client::connect(runtime_api),
        }
    }

    /// `GET /next`; waits (up to [`IO_TIMEOUT`]) for an event.
    pub fn next(&mut self) -> Reply {
        self.try_next().expect("a /next reply")
    }

    pub fn try_next(&mut self) -> std::io::Result<Reply> {
        self.client.send("GET", "/2018-06-01/runtime/invocation/next", &[], b"");
        self.client.try_read_reply()
    }

    pub fn respond(&mut self, request_id: &str, content_type: &str, body: &[u8]) -> Reply {
        let path = format!("/2018-06-01/runtime/invocation/{request_id}/response");
        self.client
            .request("POST", &path, &[("content-type", content_type)], body)
    }

    pub fn error(&mut self, request_id: &str, error_type: &str, body: &[u8]) -> Reply {
        let path = format!("/2018-06-01/runtime/invocation/{request_id}/error");
        let headers = [
            ("content-type", "application/json"),
            ("lambda-runtime-function-error-type", error_type),
        ];
        self.client.request("POST", &path, &headers, body)
    }

    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// Runs a poller thread that answers each event with `answer(event)` until the server goes.
pub fn spawn_poller(runtime_api: &str, answer: impl Fn(&mut FakeRuntime, Reply) + Send + 'static) -> JoinHandle<()> {
    let api = runtime_api.to_owned();
    std::thread::spawn(move || {
        let mut rt = FakeRuntime::connect(&api);
        while let Ok(event) = rt.try_next() {
            answer(&mut rt, event);
        }
    })
}

/// One piece of a streamed response.
pub enum Part<'a> {
    Data(&'a [u8]),
    Sleep(Duration),
}

/// Streams a response on a fresh connection, as the runtime's ResponseStream does: chunked,
/// `Trailer:` declared, optional error trailers. Returns the server's reply.
pub fn stream_response(
    runtime_api: &str,
    request_id: &str,
    content_type: &str,
    parts: &[Part<'_>],
    error: Option<(&str, &str)>,
) -> Reply {
    let mut client = Client::connect(runtime_api);
    let path = format!("/2018-06-01/runtime/invocation/{request_id}/response");
    client.send_head(
        "POST",
        &path,
        &[
            ("content-type", content_type),
            ("lambda-runtime-function-response-mode", "streaming"),
            ("transfer-encoding", "chunked"),
            (
                "trailer",
                "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
            ),
        ],
    );
    for part in parts {
        match part {
            Part::Data(data) => {
                let mut frame = format!("{:x}\r\n", data.len()).into_bytes();
                frame.extend_from_slice(data);
                frame.extend_from_slice(b"\r\n");
                client.write_raw(&frame);
            }
            Part::Sleep(d) => std::thread::sleep(*d),
        }
    }
    let mut end = String::from("0\r\n");
    if let Some((error_type, body_b64)) = error {
        end.push_str(&format!(
            "Lambda-Runtime-Function-Error-Type: {error_type}\r\nLambda-Runtime-Function-Error-Body: {body_b64}\r\n"
        ));
    }
    end.push_str("\r\n");
    client.write_raw(end.as_bytes());
    client.read_reply()
}
