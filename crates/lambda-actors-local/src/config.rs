//! What the local server is told: where to listen, how many invocations run at once, what
//! happens when all are busy, and how long an invocation may take.

use crate::LocalError;
use std::time::Duration;

/// Settings of the local server.
///
/// The runtime builds this from its environment (`LOCAL_LAMBDA_HOST`, `LOCAL_LAMBDA_PORT`,
/// `LOCAL_LAMBDA_INVOCATION_ENDPOINT`, `AWS_LAMBDA_MAX_CONCURRENCY` or
/// `LOCAL_LAMBDA_MAX_CONCURRENCY`, `LOCAL_LAMBDA_REJECT_WHEN_BUSY`, `LOCAL_LAMBDA_TIMEOUT_SECS`);
/// this crate reads no environment itself. [`LocalConfig::default`] gives the documented
/// defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    /// Interface to listen on. Default `127.0.0.1`; `0.0.0.0` exposes the server (in a
    /// container, say).
    pub host: String,
    /// TCP port. Default `7000`; `0` picks a free port (tests).
    pub port: u16,
    /// Path of the short invoke endpoint. Default `/invoke`. The AWS Invoke API path
    /// `/2015-03-31/functions/{name}/invocations` is always served too.
    pub invocation_endpoint: String,
    /// How many invocations may run at once: the runtime parks this many `GET /next`.
    /// Default 1 (classic Lambda); Managed Instances use `AWS_LAMBDA_MAX_CONCURRENCY`.
    pub max_concurrency: usize,
    /// When every slot is busy, fail an invoke at once with HTTP 400 and errorType
    /// `Runtime.Unavailable`, as Managed Instances do, instead of queueing it. Default `false`.
    pub reject_when_busy: bool,
    /// When every slot is busy, how many invokes may wait for one; past that an invoke gets
    /// HTTP 429. Ignored with `reject_when_busy`. Default 64.
    pub queue_limit: usize,
    /// How long an invocation may run (its `Lambda-Runtime-Deadline-Ms` is now plus this), and
    /// how long a queued invoke waits for a free slot. Default 900 s.
    pub timeout: Duration,
    /// The function's name, used in the invoked function ARN. Default `function`.
    pub function_name: String,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 7000,
            invocation_endpoint: "/invoke".to_owned(),
            max_concurrency: 1,
            reject_when_busy: false,
            queue_limit: 64,
            timeout: Duration::from_secs(900),
            function_name: "function".to_owned(),
        }
    }
}

impl LocalConfig {
    /// Checks the settings that cannot work, naming what is wrong.
    pub(crate) fn validate(&self) -> Result<(), LocalError> {
        let bad = |msg: String| Err(LocalError::config(msg));
        if self.host.trim().is_empty() {
            return bad("the local server's host (LOCAL_LAMBDA_HOST) is empty".to_owned());
        }
        let ep = &self.invocation_endpoint;
        if !ep.starts_with('/') || ep.len() < 2 || !ep.bytes().all(|b| b.is_ascii_graphic()) || ep.contains(['?', '#'])
        {
            return bad(format!(
                "the invocation endpoint (LOCAL_LAMBDA_INVOCATION_ENDPOINT) {ep:?} must be a path such as /invoke"
            ));
        }
        if ep.starts_with("/2018-06-01/") || ep == "/2018-06-01" {
            return bad(format!(
                "the invocation endpoint (LOCAL_LAMBDA_INVOCATION_ENDPOINT) {ep:?} collides with the Runtime API"
            ));
        }
        if self.max_concurrency == 0 {
            return bad("the local server's max concurrency must be at least 1".to_owned());
        }
        if self.timeout.is_zero() {
            return bad("the local server's timeout (LOCAL_LAMBDA_TIMEOUT_SECS) must be at least 1 s".to_owned());
        }
        let name_ok = !self.function_name.is_empty()
            && self
                .function_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return bad(format!(
                "the function name {:?} must be letters, digits, '-' or '_'",
                self.function_name
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        LocalConfig::default().validate().unwrap();
    }

    #[test]
    fn bad_settings_are_named() {
        type Change = fn(&mut LocalConfig);
        let cases: [(Change, &str); 5] = [
            (
                |c| c.invocation_endpoint = "invoke".into(),
                "LOCAL_LAMBDA_INVOCATION_ENDPOINT",
            ),
            (|c| c.invocation_endpoint = "/2018-06-01/x".into(), "collides"),
            (|c| c.max_concurrency = 0, "max concurrency"),
            (|c| c.timeout = Duration::ZERO, "LOCAL_LAMBDA_TIMEOUT_SECS"),
            (|c| c.function_name = "a b".into(), "function name"),
        ];
        for (change, expected) in cases {
            let mut cfg = LocalConfig::default();
            change(&mut cfg);
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
