//! The one error [`start`](crate::start) can return.

use std::fmt;

/// Why the local server could not start.
///
/// Its message is written for the person who ran the program: it names the address and says
/// what to change. Predicates tell the cases apart.
#[derive(Debug)]
pub struct LocalError {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    AddrInUse { addr: String },
    Bind { addr: String, source: std::io::Error },
    Config(String),
}

impl LocalError {
    pub(crate) fn bind(host: &str, port: u16, source: std::io::Error) -> Self {
        let addr = display_addr(host, port);
        let kind = if source.kind() == std::io::ErrorKind::AddrInUse {
            Kind::AddrInUse { addr }
        } else {
            Kind::Bind { addr, source }
        };
        Self { kind }
    }

    pub(crate) fn config(message: String) -> Self {
        Self {
            kind: Kind::Config(message),
        }
    }

    /// The port is taken by another process (or another local function).
    pub fn is_addr_in_use(&self) -> bool {
        matches!(self.kind, Kind::AddrInUse { .. })
    }

    /// A setting in [`LocalConfig`](crate::LocalConfig) cannot work.
    pub fn is_invalid_config(&self) -> bool {
        matches!(self.kind, Kind::Config(_))
    }
}

impl fmt::Display for LocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::AddrInUse { addr } => write!(
                f,
                "the local Lambda server cannot listen on {addr}: the port is already in use \
                 (is another copy of this function still running?). Pick another port with \
                 LOCAL_LAMBDA_PORT, e.g. LOCAL_LAMBDA_PORT=7001, or LOCAL_LAMBDA_PORT=0 for any free port"
            ),
            Kind::Bind { addr, source } => write!(
                f,
                "the local Lambda server cannot listen on {addr}: {source}. Check LOCAL_LAMBDA_HOST \
                 and LOCAL_LAMBDA_PORT"
            ),
            Kind::Config(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for LocalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Bind { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// `host:port`, with brackets around an IPv6 host.
pub(crate) fn display_addr(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
