//! [`Config::from_env`]: the one place that reads the environment.

use lambda_actors_api::Endpoint;
use std::fmt;
use std::time::Duration;

/// Largest `AWS_LAMBDA_MAX_CONCURRENCY` accepted. Lambda allows 1–1600 per execution
/// environment; the local server may go higher, within reason.
pub const MAX_CONCURRENCY: usize = 10_000;

/// How the runtime runs, decided by `AWS_LAMBDA_MAX_CONCURRENCY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Classic Lambda: one invocation at a time, one poller.
    Classic,
    /// Lambda Managed Instances: this many invocations at once.
    Managed {
        /// `AWS_LAMBDA_MAX_CONCURRENCY`.
        concurrency: usize,
    },
}

impl Mode {
    /// Number of concurrency slots (pollers).
    pub fn concurrency(self) -> usize {
        match self {
            Mode::Classic => 1,
            Mode::Managed { concurrency } => concurrency,
        }
    }

    /// True in Managed Instances mode.
    pub fn is_managed(self) -> bool {
        matches!(self, Mode::Managed { .. })
    }
}

/// Log line format (`AWS_LAMBDA_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, Lambda's schema.
    Json,
}

/// Format of the periodic metrics summary (`LAMBDA_ACTORS_METRICS_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsFormat {
    /// A log line (JSON in JSON mode).
    Log,
    /// A CloudWatch Embedded Metric Format document.
    Emf,
}

/// Where user code runs in Managed Instances mode (`LAMBDA_ACTORS_SCHEDULING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduling {
    /// The pollers' Runtime-API I/O on I/O threads that run no user code; handlers on
    /// their own threads, each event routed to a free handler on a thread that is not busy.
    /// A handler that hogs its thread never delays another slot while a core is free.
    Isolated,
    /// Pollers and handlers together on one thread per core, each event run on its poller's
    /// thread when that thread's handler is free: no hand-off between threads, so less CPU per
    /// invocation, but a handler that hogs its thread delays the slots polling on it.
    Shared,
}

/// Whether the threads of the isolated layout are pinned to CPUs (`LAMBDA_ACTORS_PIN_THREADS`,
/// default [`Never`](ThreadPinning::Never)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadPinning {
    /// Pin when the process may run on exactly as many CPUs as it has handler threads (a
    /// Lambda microVM, a container with a cpuset): the CPUs are then the process's own.
    /// Elsewhere (a quota-limited container on a larger host) other processes would be
    /// crowded onto the same CPUs, so nothing is pinned.
    Auto,
    /// Pin I/O thread *i* and handler thread *i* to the *i*-th CPU the process may use.
    Always,
    /// Leave placement to the kernel.
    Never,
}

/// The Linux scheduling policy of the isolated layout's handler threads
/// (`LAMBDA_ACTORS_HANDLER_THREAD_POLICY`, default [`Batch`](HandlerThreadPolicy::Batch)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerThreadPolicy {
    /// `SCHED_BATCH`: the same share of the CPU as any thread, but a handler thread that wakes
    /// does not preempt the thread running on its CPU; it runs when that one blocks or its
    /// time slice ends. The I/O threads stay `SCHED_OTHER`, so they still preempt a handler
    /// thread that hogs their CPU.
    Batch,
    /// `SCHED_OTHER`, the kernel's default: a thread that wakes after sleeping may preempt.
    Normal,
}

/// Identity of the function, as Lambda sets it in the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionInfo {
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub name: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_VERSION`.
    pub version: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in MB.
    pub memory_size_mb: Option<u32>,
    /// `AWS_LAMBDA_LOG_GROUP_NAME`.
    pub log_group_name: Option<String>,
    /// `AWS_LAMBDA_LOG_STREAM_NAME`.
    pub log_stream_name: Option<String>,
}

/// Settings of the embedded local server, used when `AWS_LAMBDA_RUNTIME_API` is unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSettings {
    /// `LOCAL_LAMBDA_HOST`, default `127.0.0.1`.
    pub host: String,
    /// `LOCAL_LAMBDA_PORT`, default 7000.
    pub port: u16,
    /// `LOCAL_LAMBDA_INVOCATION_ENDPOINT`, default `/invoke`.
    pub invocation_endpoint: String,
    /// `LOCAL_LAMBDA_REJECT_WHEN_BUSY`, default off.
    pub reject_when_busy: bool,
    /// `LOCAL_LAMBDA_QUEUE_LIMIT`, default 64.
    pub queue_limit: usize,
    /// `LOCAL_LAMBDA_TIMEOUT_SECS`, default 900.
    pub timeout: Duration,
}

/// Everything the runtime reads from the environment, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `AWS_LAMBDA_RUNTIME_API`; `None` when unset (not on Lambda: the local server is used).
    pub runtime_api: Option<Endpoint>,
    /// Classic or Managed Instances.
    pub mode: Mode,
    /// `LAMBDA_ACTORS_WORKER_THREADS`: K, the handler arbiters (OS threads) that run user code
    /// in Managed Instances mode, and, with isolated scheduling, as many I/O arbiters (the main
    /// thread the first) for the pollers. Default: available parallelism (1 in classic
    /// mode, which runs on one thread). At most one per handler.
    pub worker_threads: usize,
    /// `LAMBDA_ACTORS_HANDLER_POOL_SIZE`: handler actors. Default: one per slot.
    pub handler_pool_size: usize,
    /// `LAMBDA_ACTORS_MAILBOX_CAPACITY`: mailbox capacity of each handler actor. Default 16.
    pub mailbox_capacity: usize,
    /// `LAMBDA_ACTORS_DEADLINE_RECLAIM`: drop a handler still running past its deadline.
    /// Default on in Managed Instances mode, off in classic mode (Lambda stops the
    /// environment itself there).
    pub deadline_reclaim: bool,
    /// `LAMBDA_ACTORS_DEADLINE_GRACE_MS`: how long past the deadline before reclaiming. Default 100.
    pub deadline_grace: Duration,
    /// `LAMBDA_ACTORS_SHUTDOWN_GRACE_MS`: the shutdown window, from SIGTERM/SIGINT to exit:
    /// in-flight invocations, work started with [`spawn`](crate::spawn) and the shutdown hooks
    /// all end within it; what still runs then is answered `Runtime.Shutdown`. Default 200:
    /// Lambda's shortest SIGTERM-to-SIGKILL time (300 ms, classic with external extensions),
    /// less up to 50 ms for those last answers and 50 ms to log the last lines and exit
    /// (docs/reliability.md).
    pub shutdown_grace: Duration,
    /// `LAMBDA_ACTORS_GRACEFUL_SHUTDOWN`: register an internal extension during init, so that
    /// Lambda sends SIGTERM (and the drain runs) instead of killing the process outright.
    /// Default on; `0` turns it off.
    pub graceful_shutdown: bool,
    /// `LAMBDA_ACTORS_STALL_WARN_MS`: a handler that keeps its thread busy this long without
    /// yielding is a stall (one WARN per invocation, counted in the metrics; in Managed
    /// Instances mode its thread gets no new events until it yields). Default 100; 0 = off.
    pub stall_warn: Option<Duration>,
    /// `LAMBDA_ACTORS_METRICS_INTERVAL_SECS`: metrics summary period; `None` = off. Default 60.
    pub metrics_interval: Option<Duration>,
    /// `LAMBDA_ACTORS_METRICS_FORMAT`: `log` (default) or `emf`.
    pub metrics_format: MetricsFormat,
    /// `LAMBDA_ACTORS_SCHEDULING`: `isolated` (default) or `shared`; Managed Instances mode only.
    pub scheduling: Scheduling,
    /// `LAMBDA_ACTORS_PIN_THREADS`: off by default; `auto`, or a switch (`1`/`0`, …). Isolated
    /// scheduling only: I/O thread *i* and handler thread *i* share CPU *i*, and the router
    /// prefers handler thread *i* for the events that I/O thread *i* reads, so both hand-offs
    /// of an invocation stay on one CPU. Off by default because a thread inherits the CPU
    /// affinity of the thread that starts it: a thread pool a handler starts (rayon's, say) or
    /// tokio's blocking pool (`spawn_blocking`, `BlockingHandler`) would run on one CPU only.
    pub pin_threads: ThreadPinning,
    /// `LAMBDA_ACTORS_HANDLER_THREAD_POLICY`: `batch` (default) or `normal`. Isolated
    /// scheduling only: the handler threads run `SCHED_BATCH`, so waking one for an event does
    /// not preempt the I/O thread that woke it (one context switch fewer, most invocations).
    /// Threads a handler starts inherit it (a batch policy suits CPU-bound pools; a thread
    /// whose wake-up latency matters can set its own).
    pub handler_thread_policy: HandlerThreadPolicy,
    /// `AWS_LAMBDA_LOG_FORMAT`: `Text` or `JSON` (any case). Managed mode defaults to JSON.
    pub log_format: LogFormat,
    /// `RUST_LOG` if set, else `AWS_LAMBDA_LOG_LEVEL`, else `info`.
    pub log_filter: String,
    /// Warnings found while reading (bad values that have a safe default), logged at start.
    pub warnings: Vec<String>,
    /// Function identity.
    pub function: FunctionInfo,
    /// Local server settings.
    pub local: LocalSettings,
}

/// A variable with a value the runtime cannot use. Names the variable and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    variable: &'static str,
    value: String,
    expected: String,
    endpoint: Option<Box<Endpoint>>,
}

impl ConfigError {
    fn new(variable: &'static str, value: &str, expected: impl Into<String>) -> Self {
        Self {
            variable,
            value: value.to_owned(),
            expected: expected.into(),
            endpoint: None,
        }
    }

    /// The Runtime API endpoint, when `AWS_LAMBDA_RUNTIME_API` itself was fine: the error is
    /// then reported to `/init/error` there.
    pub fn runtime_api(&self) -> Option<&Endpoint> {
        self.endpoint.as_deref()
    }

    /// The environment variable at fault.
    pub fn variable(&self) -> &str {
        self.variable
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.variable == "AWS_LAMBDA_RUNTIME_API" {
            // The endpoint parser's message already names the variable and the value.
            return f.write_str(&self.expected);
        }
        write!(f, "invalid {}={:?}: {}", self.variable, self.value, self.expected)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and validates the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| match std::env::var(name) {
            Ok(v) => Some(v),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(v)) => Some(v.to_string_lossy().into_owned()),
        })
    }

    /// Reads and validates variables through `lookup` (for tests and embedding).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let runtime_api = match lookup("AWS_LAMBDA_RUNTIME_API") {
            None => None,
            Some(v) => Some(Endpoint::parse(&v).map_err(|e| {
                let mut err = ConfigError::new("AWS_LAMBDA_RUNTIME_API", &v, "");
                err.expected = e.to_string();
                err
            })?),
        };
        Self::read(&lookup, runtime_api.clone()).map_err(|mut e| {
            e.endpoint = runtime_api.map(Box::new);
            e
        })
    }

    // `dyn`: one call per variable instead of the lookup (for the environment: `env::var` and
    // its conversions) inlined at each of some thirty sites; read once, at start-up.
    fn read(lookup: &dyn Fn(&str) -> Option<String>, runtime_api: Option<Endpoint>) -> Result<Self, ConfigError> {
        let mut warnings = Vec::new();
        // Read only where it is used: in classic mode it would be a dozen system calls
        // (cgroup files) on the start-up path for a number nothing needs.
        let cpus = || std::thread::available_parallelism().map_or(1, |n| n.get());

        let concurrency_var = if runtime_api.is_none() && lookup("AWS_LAMBDA_MAX_CONCURRENCY").is_none() {
            "LOCAL_LAMBDA_MAX_CONCURRENCY"
        } else {
            "AWS_LAMBDA_MAX_CONCURRENCY"
        };
        let mode = match lookup(concurrency_var) {
            Some(v) => Mode::Managed {
                concurrency: count(concurrency_var, &v, MAX_CONCURRENCY)?,
            },
            None if lookup("AWS_LAMBDA_INITIALIZATION_TYPE").as_deref() == Some("lambda-managed-instances") => {
                let concurrency = (8 * cpus()).min(MAX_CONCURRENCY);
                warnings.push(format!(
                    "AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances without AWS_LAMBDA_MAX_CONCURRENCY: \
                     using {concurrency} slots (8 per CPU, the documented default)"
                ));
                Mode::Managed { concurrency }
            }
            None => Mode::Classic,
        };
        if !cfg!(feature = "managed-instances") && mode.concurrency() > 1 {
            return Err(ConfigError::new(
                "AWS_LAMBDA_MAX_CONCURRENCY",
                &mode.concurrency().to_string(),
                "this binary was built without the `managed-instances` feature of lambda-actors, \
                 so it runs one invocation at a time; rebuild with the feature to serve Managed Instances",
            ));
        }
        let n = mode.concurrency();

        let worker_threads = match lookup("LAMBDA_ACTORS_WORKER_THREADS") {
            Some(v) => count("LAMBDA_ACTORS_WORKER_THREADS", &v, 4096)?,
            None if mode.is_managed() => cpus(),
            None => 1,
        };
        let handler_pool_size = match lookup("LAMBDA_ACTORS_HANDLER_POOL_SIZE") {
            Some(v) => {
                let size = count("LAMBDA_ACTORS_HANDLER_POOL_SIZE", &v, MAX_CONCURRENCY)?;
                if size > n {
                    warnings.push(format!(
                        "LAMBDA_ACTORS_HANDLER_POOL_SIZE={size} is more than the {n} slots; using {n}"
                    ));
                }
                size.min(n)
            }
            None => n,
        };
        let mailbox_capacity = match lookup("LAMBDA_ACTORS_MAILBOX_CAPACITY") {
            Some(v) => count("LAMBDA_ACTORS_MAILBOX_CAPACITY", &v, 1 << 20)?,
            None => 16,
        };
        let deadline_reclaim = match lookup("LAMBDA_ACTORS_DEADLINE_RECLAIM") {
            Some(v) => switch("LAMBDA_ACTORS_DEADLINE_RECLAIM", &v)?,
            None => mode.is_managed(),
        };
        let deadline_grace = millis(
            "LAMBDA_ACTORS_DEADLINE_GRACE_MS",
            lookup("LAMBDA_ACTORS_DEADLINE_GRACE_MS"),
            100,
        )?;
        let stall_warn = millis(
            "LAMBDA_ACTORS_STALL_WARN_MS",
            lookup("LAMBDA_ACTORS_STALL_WARN_MS"),
            100,
        )?;
        let stall_warn = (!stall_warn.is_zero()).then_some(stall_warn);
        let shutdown_grace = millis(
            "LAMBDA_ACTORS_SHUTDOWN_GRACE_MS",
            lookup("LAMBDA_ACTORS_SHUTDOWN_GRACE_MS"),
            200,
        )?;
        let graceful_shutdown = match lookup("LAMBDA_ACTORS_GRACEFUL_SHUTDOWN") {
            Some(v) => switch("LAMBDA_ACTORS_GRACEFUL_SHUTDOWN", &v)?,
            None => true,
        };
        let metrics_interval = match lookup("LAMBDA_ACTORS_METRICS_INTERVAL_SECS") {
            Some(v) => match whole("LAMBDA_ACTORS_METRICS_INTERVAL_SECS", &v, 86_400)? {
                0 => None,
                s => Some(Duration::from_secs(s)),
            },
            None => Some(Duration::from_secs(60)),
        };
        let metrics_format = match lookup("LAMBDA_ACTORS_METRICS_FORMAT") {
            None => MetricsFormat::Log,
            Some(v) if v.eq_ignore_ascii_case("log") => MetricsFormat::Log,
            Some(v) if v.eq_ignore_ascii_case("emf") => MetricsFormat::Emf,
            Some(v) => {
                return Err(ConfigError::new(
                    "LAMBDA_ACTORS_METRICS_FORMAT",
                    &v,
                    "expected `log` or `emf`",
                ))
            }
        };

        let pin_threads = match lookup("LAMBDA_ACTORS_PIN_THREADS") {
            None => ThreadPinning::Never,
            Some(v) if v.eq_ignore_ascii_case("auto") => ThreadPinning::Auto,
            Some(v) => match switch("LAMBDA_ACTORS_PIN_THREADS", &v) {
                Ok(true) => ThreadPinning::Always,
                Ok(false) => ThreadPinning::Never,
                Err(_) => {
                    return Err(ConfigError::new(
                        "LAMBDA_ACTORS_PIN_THREADS",
                        &v,
                        "expected `auto` or one of 1, 0, true, false, on, off",
                    ))
                }
            },
        };
        let handler_thread_policy = match lookup("LAMBDA_ACTORS_HANDLER_THREAD_POLICY") {
            None => HandlerThreadPolicy::Batch,
            Some(v) if v.eq_ignore_ascii_case("batch") => HandlerThreadPolicy::Batch,
            Some(v) if v.eq_ignore_ascii_case("normal") => HandlerThreadPolicy::Normal,
            Some(v) => {
                return Err(ConfigError::new(
                    "LAMBDA_ACTORS_HANDLER_THREAD_POLICY",
                    &v,
                    "expected `batch` or `normal`",
                ))
            }
        };
        let scheduling = match lookup("LAMBDA_ACTORS_SCHEDULING") {
            None => Scheduling::Isolated,
            Some(v) if v.eq_ignore_ascii_case("isolated") => Scheduling::Isolated,
            Some(v) if v.eq_ignore_ascii_case("shared") => Scheduling::Shared,
            Some(v) => {
                return Err(ConfigError::new(
                    "LAMBDA_ACTORS_SCHEDULING",
                    &v,
                    "expected `isolated` or `shared`",
                ))
            }
        };

        let default_format = if mode.is_managed() {
            LogFormat::Json
        } else {
            LogFormat::Text
        };
        let log_format = match lookup("AWS_LAMBDA_LOG_FORMAT") {
            None => default_format,
            Some(v) if v.eq_ignore_ascii_case("json") => LogFormat::Json,
            Some(v) if v.eq_ignore_ascii_case("text") => LogFormat::Text,
            Some(v) => {
                warnings.push(format!(
                    "AWS_LAMBDA_LOG_FORMAT={v:?} is neither Text nor JSON; using {}",
                    if default_format == LogFormat::Json {
                        "JSON"
                    } else {
                        "Text"
                    }
                ));
                default_format
            }
        };
        let log_filter = match (lookup("RUST_LOG"), lookup("AWS_LAMBDA_LOG_LEVEL")) {
            (Some(v), _) if !v.trim().is_empty() => v,
            (_, Some(v)) => match v.to_ascii_lowercase().as_str() {
                l @ ("trace" | "debug" | "info" | "warn" | "error") => l.to_owned(),
                "fatal" => "error".to_owned(),
                _ => {
                    warnings.push(format!(
                        "AWS_LAMBDA_LOG_LEVEL={v:?} is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL; using INFO"
                    ));
                    "info".to_owned()
                }
            },
            _ => "info".to_owned(),
        };

        let function = FunctionInfo {
            name: lookup("AWS_LAMBDA_FUNCTION_NAME"),
            version: lookup("AWS_LAMBDA_FUNCTION_VERSION"),
            memory_size_mb: match lookup("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") {
                Some(v) => Some(whole("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &v, 1 << 20)? as u32),
                None => None,
            },
            log_group_name: lookup("AWS_LAMBDA_LOG_GROUP_NAME"),
            log_stream_name: lookup("AWS_LAMBDA_LOG_STREAM_NAME"),
        };

        let local = LocalSettings {
            host: lookup("LOCAL_LAMBDA_HOST").unwrap_or_else(|| "127.0.0.1".to_owned()),
            port: match lookup("LOCAL_LAMBDA_PORT") {
                Some(v) => whole("LOCAL_LAMBDA_PORT", &v, 65_535)? as u16,
                None => 7000,
            },
            invocation_endpoint: match lookup("LOCAL_LAMBDA_INVOCATION_ENDPOINT") {
                Some(v) if v.starts_with('/') && !v.contains(char::is_whitespace) => v,
                Some(v) => {
                    return Err(ConfigError::new(
                        "LOCAL_LAMBDA_INVOCATION_ENDPOINT",
                        &v,
                        "expected a path starting with '/', such as /invoke",
                    ))
                }
                None => "/invoke".to_owned(),
            },
            reject_when_busy: match lookup("LOCAL_LAMBDA_REJECT_WHEN_BUSY") {
                Some(v) => switch("LOCAL_LAMBDA_REJECT_WHEN_BUSY", &v)?,
                None => false,
            },
            queue_limit: match lookup("LOCAL_LAMBDA_QUEUE_LIMIT") {
                Some(v) => whole("LOCAL_LAMBDA_QUEUE_LIMIT", &v, 1 << 20)? as usize,
                None => 64,
            },
            timeout: Duration::from_secs(match lookup("LOCAL_LAMBDA_TIMEOUT_SECS") {
                Some(v) => count("LOCAL_LAMBDA_TIMEOUT_SECS", &v, 86_400)? as u64,
                None => 900,
            }),
        };

        Ok(Self {
            runtime_api,
            mode,
            worker_threads,
            handler_pool_size,
            mailbox_capacity,
            deadline_reclaim,
            deadline_grace,
            shutdown_grace,
            graceful_shutdown,
            stall_warn,
            scheduling,
            pin_threads,
            handler_thread_policy,
            metrics_interval,
            metrics_format,
            log_format,
            log_filter,
            warnings,
            function,
            local,
        })
    }

    /// Arbiters (OS threads) the slots run on: one per worker thread, never more than there
    /// are slots or handlers.
    pub fn arbiters(&self) -> usize {
        self.worker_threads
            .min(self.mode.concurrency())
            .min(self.handler_pool_size)
            .max(1)
    }
}

/// A whole number of digits only (no sign, no spaces) from 0 to `max`.
fn whole(variable: &'static str, value: &str, max: u64) -> Result<u64, ConfigError> {
    let expected = || format!("expected a whole number from 0 to {max}");
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ConfigError::new(variable, value, expected()));
    }
    match value.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(ConfigError::new(variable, value, expected())),
    }
}

/// Like [`whole`], but from 1.
fn count(variable: &'static str, value: &str, max: usize) -> Result<usize, ConfigError> {
    match whole(variable, value, max as u64) {
        Ok(n) if n >= 1 => Ok(n as usize),
        _ => Err(ConfigError::new(
            variable,
            value,
            format!("expected a whole number from 1 to {max}"),
        )),
    }
}

fn millis(variable: &'static str, value: Option<String>, default: u64) -> Result<Duration, ConfigError> {
    Ok(Duration::from_millis(match value {
        Some(v) => whole(variable, &v, 3_600_000)?,
        None => default,
    }))
}

fn switch(variable: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err(ConfigError::new(
            variable,
            value,
            "expected one of 1, 0, true, false, on, off",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn modes_follow_the_table() {
        let api = ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001");
        assert_eq!(cfg(&[api]).unwrap().mode, Mode::Classic);
        assert_eq!(
            cfg(&[api, ("AWS_LAMBDA_MAX_CONCURRENCY", "1")]).unwrap().mode,
            Mode::Managed { concurrency: 1 }
        );
        #[cfg(feature = "managed-instances")]
        assert_eq!(
            cfg(&[api, ("AWS_LAMBDA_MAX_CONCURRENCY", "64")]).unwrap().mode,
            Mode::Managed { concurrency: 64 }
        );
        for bad in ["abc", "0", "-3", " 8", "8x", "+8", "", "10001", "1.5"] {
            let err = cfg(&[api, ("AWS_LAMBDA_MAX_CONCURRENCY", bad)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("AWS_LAMBDA_MAX_CONCURRENCY"), "{err}");
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn pool_settings_are_validated_like_concurrency() {
        let api = ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001");
        for var in ["LAMBDA_ACTORS_WORKER_THREADS", "LAMBDA_ACTORS_HANDLER_POOL_SIZE"] {
            for bad in ["abc", "0", "-1", "2 "] {
                let err = cfg(&[api, (var, bad)]).unwrap_err().to_string();
                assert!(err.contains(var) && err.contains(&format!("{bad:?}")), "{err}");
            }
        }
        #[cfg(feature = "managed-instances")]
        {
            let c = cfg(&[
                api,
                ("AWS_LAMBDA_MAX_CONCURRENCY", "8"),
                ("LAMBDA_ACTORS_HANDLER_POOL_SIZE", "2"),
                ("LAMBDA_ACTORS_WORKER_THREADS", "4"),
            ])
            .unwrap();
            assert_eq!(c.handler_pool_size, 2);
            assert_eq!(c.arbiters(), 2);
            let c = cfg(&[api, ("AWS_LAMBDA_MAX_CONCURRENCY", "8")]).unwrap();
            assert_eq!(c.handler_pool_size, 8);
        }
    }

    #[test]
    fn log_format_is_case_insensitive_and_bad_values_warn() {
        let api = ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001");
        assert_eq!(cfg(&[api]).unwrap().log_format, LogFormat::Text);
        assert_eq!(
            cfg(&[api, ("AWS_LAMBDA_MAX_CONCURRENCY", "1")]).unwrap().log_format,
            LogFormat::Json
        );
        assert_eq!(
            cfg(&[api, ("AWS_LAMBDA_LOG_FORMAT", "json")]).unwrap().log_format,
            LogFormat::Json
        );
        let c = cfg(&[api, ("AWS_LAMBDA_LOG_FORMAT", "yaml")]).unwrap();
        assert_eq!(c.log_format, LogFormat::Text);
        assert!(c.warnings[0].contains("\"yaml\""), "{:?}", c.warnings);
    }

    #[test]
    fn bad_endpoint_names_the_value() {
        let err = cfg(&[("AWS_LAMBDA_RUNTIME_API", "https://x:1")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("AWS_LAMBDA_RUNTIME_API") && err.contains("https://x:1"),
            "{err}"
        );
    }

    #[test]
    fn defaults() {
        let c = cfg(&[("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")]).unwrap();
        assert!(!c.deadline_reclaim);
        assert_eq!(c.metrics_interval, Some(Duration::from_secs(60)));
        assert_eq!(c.local.port, 7000);
        assert_eq!(c.local.invocation_endpoint, "/invoke");
        assert_eq!(c.local.timeout, Duration::from_secs(900));
        assert_eq!(c.log_filter, "info");
        let c = cfg(&[]).unwrap();
        assert_eq!(c.runtime_api, None);
        #[cfg(feature = "managed-instances")]
        assert_eq!(
            cfg(&[("LOCAL_LAMBDA_MAX_CONCURRENCY", "4")]).unwrap().mode,
            Mode::Managed { concurrency: 4 }
        );
    }

    #[test]
    fn thread_pinning_is_off_unless_asked_for_and_a_bad_value_is_named() {
        assert_eq!(
            cfg(&[]).unwrap().pin_threads,
            ThreadPinning::Never,
            "off unless asked for"
        );
        for (value, want) in [
            ("AUTO", ThreadPinning::Auto),
            ("1", ThreadPinning::Always),
            ("on", ThreadPinning::Always),
            ("0", ThreadPinning::Never),
            ("false", ThreadPinning::Never),
        ] {
            let c = cfg(&[("LAMBDA_ACTORS_PIN_THREADS", value)]).unwrap();
            assert_eq!(c.pin_threads, want, "{value}");
        }
        let err = cfg(&[("LAMBDA_ACTORS_PIN_THREADS", "cpu0")]).unwrap_err().to_string();
        assert!(
            err.contains("LAMBDA_ACTORS_PIN_THREADS") && err.contains("cpu0"),
            "{err}"
        );
    }

    #[test]
    fn handler_threads_run_batch_unless_asked_otherwise_and_a_bad_value_is_named() {
        assert_eq!(cfg(&[]).unwrap().handler_thread_policy, HandlerThreadPolicy::Batch);
        for (value, want) in [
            ("batch", HandlerThreadPolicy::Batch),
            ("NORMAL", HandlerThreadPolicy::Normal),
        ] {
            let c = cfg(&[("LAMBDA_ACTORS_HANDLER_THREAD_POLICY", value)]).unwrap();
            assert_eq!(c.handler_thread_policy, want, "{value}");
        }
        let err = cfg(&[("LAMBDA_ACTORS_HANDLER_THREAD_POLICY", "fifo")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("LAMBDA_ACTORS_HANDLER_THREAD_POLICY") && err.contains("fifo"),
            "{err}"
        );
    }

    #[test]
    fn scheduling_and_stall_settings_are_read_and_bad_values_named() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.scheduling, Scheduling::Isolated);
        assert_eq!(c.stall_warn, Some(Duration::from_millis(100)));
        let c = cfg(&[
            ("LAMBDA_ACTORS_SCHEDULING", "Shared"),
            ("LAMBDA_ACTORS_STALL_WARN_MS", "0"),
        ])
        .unwrap();
        assert_eq!(c.scheduling, Scheduling::Shared);
        assert_eq!(c.stall_warn, None, "0 turns stall detection off");
        for (var, bad) in [
            ("LAMBDA_ACTORS_SCHEDULING", "fast"),
            ("LAMBDA_ACTORS_STALL_WARN_MS", "-5"),
        ] {
            let err = cfg(&[(var, bad)]).unwrap_err().to_string();
            assert!(err.contains(var) && err.contains(bad), "{err}");
        }
    }
}
