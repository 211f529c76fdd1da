//! Parsing `AWS_LAMBDA_RUNTIME_API` into an endpoint and building the Runtime API URLs.

use std::fmt;

/// The API version segment every Runtime API path starts with.
pub const API_VERSION: &str = "2018-06-01";

/// The API version segment of the Extensions API (same host and port, protocol.md §5).
pub const EXTENSION_API_VERSION: &str = "2020-01-01";

/// Where the Runtime API lives: host, port and an optional path prefix.
///
/// Accepted forms: `127.0.0.1:9001` (what Lambda sets), `http://127.0.0.1:9001`,
/// `[::1]:9001`, `http://[::]:9000/.rt` (cargo-lambda), `localhost:9001`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    host: String,
    port: u16,
    prefix: String,
    base: String,
}

/// A value of `AWS_LAMBDA_RUNTIME_API` that is not a usable endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointError {
    value: String,
    reason: &'static str,
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AWS_LAMBDA_RUNTIME_API={:?} is not a Runtime API endpoint: {} \
             (expected host:port, optionally with http:// and a path prefix, e.g. 127.0.0.1:9001)",
            self.value, self.reason
        )
    }
}

impl std::error::Error for EndpointError {}

impl Endpoint {
    /// Parses the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn parse(value: &str) -> Result<Self, EndpointError> {
        let err = |reason| EndpointError {
            value: value.to_owned(),
            reason,
        };
        if value.is_empty() {
            return Err(err("it is empty"));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err("it contains whitespace"));
        }
        let rest = match value.find("://") {
            Some(i) if value[..i].eq_ignore_ascii_case("http") => &value[i + 3..],
            Some(_) => return Err(err("only the http:// scheme is supported")),
            None => value,
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if path.contains(['?', '#']) {
            return Err(err("a query or fragment is not allowed"));
        }
        // Only what RFC 3986 allows in a path, so every URL built from it parses (awc's
        // parser panics on some of the rest: non-ASCII, `<`, `>`, a backtick, `{`...).
        if !path.bytes().all(is_path_byte) {
            return Err(err("the path prefix has characters a URL path cannot have"));
        }
        let prefix = path.trim_end_matches('/').to_owned();
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6
                .find(']')
                .ok_or_else(|| err("an IPv6 address lacks its closing ']'"))?;
            let addr = &v6[..end];
            if addr.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(err("the bracketed host is not an IPv6 address"));
            }
            let port = v6[end + 1..]
                .strip_prefix(':')
                .ok_or_else(|| err("the port is missing"))?;
            (format!("[{addr}]"), port)
        } else {
            let (host, port) = authority.rsplit_once(':').ok_or_else(|| err("the port is missing"))?;
            if host.contains(':') {
                return Err(err("an IPv6 address must be in brackets"));
            }
            if host.is_empty() {
                return Err(err("the host is missing"));
            }
            if !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
            {
                return Err(err("the host has characters a host name cannot have"));
            }
            (host.to_owned(), port)
        };
        let port: u16 = port
            .parse()
            .map_err(|_| err("the port is not a number from 1 to 65535"))?;
        if port == 0 {
            return Err(err("the port is not a number from 1 to 65535"));
        }
        let base = format!("http://{host}:{port}{prefix}/{API_VERSION}");
        Ok(Self {
            host,
            port,
            prefix,
            base,
        })
    }

    /// The host as written in a URL (IPv6 keeps its brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path prefix before `/2018-06-01` (empty on Lambda).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `host:port` for a TCP connect (IPv6 without brackets is not valid here, so they stay).
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `http://host:port[/prefix]/2018-06-01`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// URL of `GET /runtime/invocation/next`.
    pub fn next_url(&self) -> String {
        format!("{}/runtime/invocation/next", self.base)
    }

    /// URL of `POST /runtime/invocation/{id}/response`.
    pub fn response_url(&self, request_id: &str) -> String {
        self.invocation_url(request_id, "/response")
    }

    /// `{base}/runtime/invocation/{id}{tail}`, built with `push_str` (this is on the hot path).
    fn invocation_url(&self, request_id: &str, tail: &str) -> String {
        invocation_at(&self.base, request_id, tail)
    }

    /// `[/prefix]/2018-06-01`: the base URL without scheme and authority.
    fn base_path(&self) -> &str {
        // The host never holds a `/` (an IPv6 address is in brackets), so the first `/` after
        // `http://` starts the path.
        let start = self.base[7..].find('/').map_or(self.base.len(), |i| i + 7);
        &self.base[start..]
    }

    /// Path (without scheme and authority) of `GET /runtime/invocation/next`.
    pub(crate) fn next_path(&self) -> String {
        format!("{}/runtime/invocation/next", self.base_path())
    }

    /// Path (without scheme and authority) of `/runtime/invocation/{id}{tail}`.
    pub(crate) fn invocation_path(&self, request_id: &str, tail: &str) -> String {
        invocation_at(self.base_path(), request_id, tail)
    }

    /// Path (without scheme and authority) of the response endpoint, for hand-written requests.
    pub fn response_path(&self, request_id: &str) -> String {
        format!(
            "{}/{API_VERSION}/runtime/invocation/{}/response",
            self.prefix,
            PathSegment(request_id)
        )
    }

    /// URL of `POST /runtime/invocation/{id}/error`.
    pub fn error_url(&self, request_id: &str) -> String {
        self.invocation_url(request_id, "/error")
    }

    /// URL of `POST /runtime/init/error`.
    pub fn init_error_url(&self) -> String {
        format!("{}/runtime/init/error", self.base)
    }

    /// URL of the Extensions API's `POST /extension/register`.
    pub fn extension_register_url(&self) -> String {
        self.extension_url("register")
    }

    /// URL of the Extensions API's `GET /extension/event/next`.
    pub fn extension_next_url(&self) -> String {
        self.extension_url("event/next")
    }

    /// URL of the Extensions API's `POST /extension/init/error`.
    pub fn extension_init_error_url(&self) -> String {
        self.extension_url("init/error")
    }

    /// URL of the Extensions API's `POST /extension/exit/error`.
    pub fn extension_exit_error_url(&self) -> String {
        self.extension_url("exit/error")
    }

    /// URL of the Telemetry API's `PUT /telemetry`.
    pub fn telemetry_url(&self) -> String {
        format!(
            "http://{}:{}{}/{}/telemetry",
            self.host,
            self.port,
            self.prefix,
            crate::TELEMETRY_API_VERSION
        )
    }

    fn extension_url(&self, tail: &str) -> String {
        format!(
            "http://{}:{}{}/{EXTENSION_API_VERSION}/extension/{tail}",
            self.host, self.port, self.prefix
        )
    }
}

/// A byte RFC 3986 allows in a path: unreserved, sub-delims, `:`, `@`, `/` and `%` (of a
/// percent-encoding).
fn is_path_byte(b: u8) -> bool {
    PathSegment::is_unreserved(b) || b"!$&'()*+,;=:@/%".contains(&b)
}

/// Percent-encodes a request id for use as one path segment. Lambda's ids are UUIDs, which
/// pass through untouched; anything else cannot break the path.
struct PathSegment<'a>(&'a str);

impl PathSegment<'_> {
    fn is_unreserved(b: u8) -> bool {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
    }
}

impl fmt::Display for PathSegment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.bytes() {
            if Self::is_unreserved(b) {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "%{b:02X}")?;
            }
        }
        Ok(())
    }
}

/// `{base}/runtime/invocation/{id}{tail}`, with the request id as one path segment.
fn invocation_at(base: &str, request_id: &str, tail: &str) -> String {
    let mut url = String::with_capacity(base.len() + 20 + request_id.len() + tail.len());
    url.push_str(base);
    url.push_str("/runtime/invocation/");
    if request_id.bytes().all(PathSegment::is_unreserved) {
        url.push_str(request_id);
    } else {
        use std::fmt::Write;
        let _ = write!(url, "{}", PathSegment(request_id));
    }
    url.push_str(tail);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_documented_form() {
        let cases = [
            ("127.0.0.1:9001", "http://127.0.0.1:9001/2018-06-01"),
            ("http://127.0.0.1:9001", "http://127.0.0.1:9001/2018-06-01"),
            ("HTTP://127.0.0.1:9001/", "http://127.0.0.1:9001/2018-06-01"),
            ("[::1]:9001", "http://[::1]:9001/2018-06-01"),
            ("http://[::]:9000/.rt", "http://[::]:9000/.rt/2018-06-01"),
            ("localhost:7000/a/b/", "http://localhost:7000/a/b/2018-06-01"),
        ];
        for (input, base) in cases {
            let ep = Endpoint::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(ep.base_url(), base, "{input}");
        }
        let ep = Endpoint::parse("http://[::]:9000/.rt").unwrap();
        assert_eq!(ep.prefix(), "/.rt");
        assert_eq!(ep.authority(), "[::]:9000");
        assert_eq!(
            ep.response_path("abc-1"),
            "/.rt/2018-06-01/runtime/invocation/abc-1/response"
        );
    }

    #[test]
    fn rejects_bad_values_naming_them() {
        for bad in [
            "",
            "127.0.0.1",
            "127.0.0.1:",
            "127.0.0.1:http",
            "127.0.0.1:0",
            "127.0.0.1:70000",
            "https://127.0.0.1:9001",
            "::1:9001",
            "[::1:9001",
            "[nothost]:9001",
            " 127.0.0.1:9001",
            ":9001",
            "host name:1",
            "127.0.0.1:9001/x?y=1",
            "127.0.0.1:9001/<x>",
            "127.0.0.1:9001/`",
            "127.0.0.1:9001/caf\u{e9}",
            "127.0.0.1:9001/{a}",
        ] {
            let err = Endpoint::parse(bad).expect_err(bad).to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
            assert!(err.contains("AWS_LAMBDA_RUNTIME_API"), "{err}");
        }
    }

    #[test]
    fn request_ids_cannot_break_the_path() {
        let ep = Endpoint::parse("127.0.0.1:1").unwrap();
        assert_eq!(
            ep.error_url("a/b c"),
            "http://127.0.0.1:1/2018-06-01/runtime/invocation/a%2Fb%20c/error"
        );
    }
}
