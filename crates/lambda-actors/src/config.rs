//! [`Config::from_env`]: the one place that reads the environment.

use lambda_actors_api::Endpoint;
use std::fmt;
use std::time::Duration;

/// Largest `AWS_LAMBDA_MAX_CONCURRENCY` accepted. Lambda allows 1–1600 per execution
/// environment; the local server may go higher, within reason.
pub const MAX_CONCURRENCY: usize = 10_000;

/// How the runtime runs, decided by `AWS_LAMBDA_MAX_CONCURRENCY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, Lambda's schema.
    Json,
}

/// Format of the periodic metrics summary (`LAMBDA_ACTORS_METRICS_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricsFormat {
    /// A log line (JSON in JSON mode).
    Log,
    /// A CloudWatch Embedded Metric Format document.
    Emf,
}

/// Where user code runs in Managed Instances mode (`LAMBDA_ACTORS_SCHEDULING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
#[non_exhaustive]
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
#[non_exhaustive]
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
#[non_exhaustive]
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
#[non_exhaustive]
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
#[non_exhaustive]
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
        Self::from_lookup(env_lookup)
    }

    /// Reads and validates variables through `lookup` (for tests and embedding).
    /// `Config::from_lookup(|_| None)` is the configuration of an empty environment: a base
    /// whose fields can then be changed one by one.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let runtime_api = var(&lookup, "AWS_LAMBDA_RUNTIME_API", None, |v| {
            Endpoint::parse(v).map(Some).map_err(|e| e.to_string())
        })?;
        Self::read(&lookup, runtime_api.clone()).map_err(|mut e| {
            e.endpoint = runtime_api.map(Box::new);
            e
        })
    }

    // `dyn`: one call per variable instead of the lookup (for the environment: `env::var` and
    // its conversions) inlined at each of some thirty sites; read once, at start-up.
    fn read(lookup: Lookup<'_>, runtime_api: Option<Endpoint>) -> Result<Self, ConfigError> {
        let mut warnings = Vec::new();
        let mode = read_mode(lookup, runtime_api.is_some(), &mut warnings)?;
        let (worker_threads, handler_pool_size, mailbox_capacity) = read_pool(lookup, mode, &mut warnings)?;
        let (scheduling, pin_threads, handler_thread_policy, stall_warn) = read_scheduling(lookup)?;
        let (deadline_reclaim, deadline_grace) = read_deadlines(lookup, mode)?;
        let (shutdown_grace, graceful_shutdown) = read_shutdown(lookup)?;
        let (metrics_interval, metrics_format) = read_metrics(lookup)?;
        let (log_format, log_filter) = read_logging(lookup, mode, &mut warnings)?;
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
            function: FunctionInfo::read(lookup)?,
            local: LocalSettings::read(lookup)?,
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

/// What an extension process (the `lambda-actors-extension` crate) reads from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtensionSettings {
    /// `AWS_LAMBDA_RUNTIME_API`, as set: the extension parses it where it reports its own errors.
    pub runtime_api: Option<String>,
    /// `AWS_LAMBDA_MAX_CONCURRENCY` set (any value), or
    /// `AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances`: Lambda then sends extensions
    /// `SHUTDOWN` only.
    pub managed_instances: bool,
    /// `LAMBDA_ACTORS_TELEMETRY_HOST`: the host the Telemetry API listener binds and Lambda
    /// posts to; unset, `sandbox.localdomain` where it resolves, else `127.0.0.1`.
    pub telemetry_host: Option<String>,
}

impl ExtensionSettings {
    /// Reads the environment.
    pub fn from_env() -> Self {
        Self::from_lookup(env_lookup)
    }

    /// Reads variables through `lookup` (for tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let lookup: Lookup<'_> = &lookup;
        let managed_type = var(lookup, "AWS_LAMBDA_INITIALIZATION_TYPE", false, |v| {
            Ok(v == "lambda-managed-instances")
        });
        Self {
            runtime_api: text(lookup, "AWS_LAMBDA_RUNTIME_API"),
            managed_instances: text(lookup, "AWS_LAMBDA_MAX_CONCURRENCY").is_some() || matches!(managed_type, Ok(true)),
            telemetry_host: text(lookup, "LAMBDA_ACTORS_TELEMETRY_HOST"),
        }
    }
}

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn env_lookup(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) => Some(v),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(v)) => Some(v.to_string_lossy().into_owned()),
    }
}

/// Reads one variable: `default` when it is unset, else what `parse` makes of its value. A
/// value `parse` refuses (its error says what was expected) is an error naming the variable
/// and the value.
fn var<T>(
    lookup: Lookup<'_>,
    name: &'static str,
    default: T,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    match lookup(name) {
        None => Ok(default),
        Some(value) => parse(&value).map_err(|expected| ConfigError::new(name, &value, expected)),
    }
}

/// A variable any text is a good value for.
fn text(lookup: Lookup<'_>, name: &'static str) -> Option<String> {
    // The parser accepts everything, so `var` cannot fail here.
    var(lookup, name, None, |v| Ok(Some(v.to_owned()))).unwrap_or_default()
}

/// `AWS_LAMBDA_MAX_CONCURRENCY` (off Lambda, `LOCAL_LAMBDA_MAX_CONCURRENCY`) and
/// `AWS_LAMBDA_INITIALIZATION_TYPE`.
fn read_mode(lookup: Lookup<'_>, on_lambda: bool, warnings: &mut Vec<String>) -> Result<Mode, ConfigError> {
    let slots = |name| var(lookup, name, None, |v| count(MAX_CONCURRENCY)(v).map(Some));
    let mut concurrency = slots("AWS_LAMBDA_MAX_CONCURRENCY")?;
    if concurrency.is_none() && !on_lambda {
        concurrency = slots("LOCAL_LAMBDA_MAX_CONCURRENCY")?;
    }
    let managed_type = var(lookup, "AWS_LAMBDA_INITIALIZATION_TYPE", false, |v| {
        Ok(v == "lambda-managed-instances")
    })?;
    let mode = match concurrency {
        Some(concurrency) => Mode::Managed { concurrency },
        None if managed_type => {
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
    Ok(mode)
}

// Read only where it is used: in classic mode it would be a dozen system calls (cgroup files)
// on the start-up path for a number nothing needs.
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Worker threads, handler pool size and mailbox capacity.
fn read_pool(lookup: Lookup<'_>, mode: Mode, warnings: &mut Vec<String>) -> Result<(usize, usize, usize), ConfigError> {
    let n = mode.concurrency();
    let worker_threads = match var(lookup, "LAMBDA_ACTORS_WORKER_THREADS", None, |v| {
        count(4096)(v).map(Some)
    })? {
        Some(threads) => threads,
        None if mode.is_managed() => cpus(),
        None => 1,
    };
    let pool_size = var(lookup, "LAMBDA_ACTORS_HANDLER_POOL_SIZE", n, count(MAX_CONCURRENCY))?;
    if pool_size > n {
        warnings.push(format!(
            "LAMBDA_ACTORS_HANDLER_POOL_SIZE={pool_size} is more than the {n} slots; using {n}"
        ));
    }
    let mailbox_capacity = var(lookup, "LAMBDA_ACTORS_MAILBOX_CAPACITY", 16, count(1 << 20))?;
    Ok((worker_threads, pool_size.min(n), mailbox_capacity))
}

/// Where handlers run in Managed Instances mode, and when a busy one is a stall.
fn read_scheduling(
    lookup: Lookup<'_>,
) -> Result<(Scheduling, ThreadPinning, HandlerThreadPolicy, Option<Duration>), ConfigError> {
    const SCHEDULING: &[(&str, Scheduling)] = &[("isolated", Scheduling::Isolated), ("shared", Scheduling::Shared)];
    const POLICIES: &[(&str, HandlerThreadPolicy)] = &[
        ("batch", HandlerThreadPolicy::Batch),
        ("normal", HandlerThreadPolicy::Normal),
    ];
    let scheduling = var(
        lookup,
        "LAMBDA_ACTORS_SCHEDULING",
        Scheduling::Isolated,
        one_of(SCHEDULING),
    )?;
    let pin_threads = var(lookup, "LAMBDA_ACTORS_PIN_THREADS", ThreadPinning::Never, |v| {
        if v.eq_ignore_ascii_case("auto") {
            return Ok(ThreadPinning::Auto);
        }
        match switch(v) {
            Ok(true) => Ok(ThreadPinning::Always),
            Ok(false) => Ok(ThreadPinning::Never),
            Err(_) => Err("expected `auto` or one of 1, 0, true, false, on, off".to_owned()),
        }
    })?;
    let policy = var(
        lookup,
        "LAMBDA_ACTORS_HANDLER_THREAD_POLICY",
        HandlerThreadPolicy::Batch,
        one_of(POLICIES),
    )?;
    let stall_warn = var(
        lookup,
        "LAMBDA_ACTORS_STALL_WARN_MS",
        Duration::from_millis(100),
        millis,
    )?;
    Ok((
        scheduling,
        pin_threads,
        policy,
        (!stall_warn.is_zero()).then_some(stall_warn),
    ))
}

/// Whether, and how long after its deadline, a handler still running is dropped.
fn read_deadlines(lookup: Lookup<'_>, mode: Mode) -> Result<(bool, Duration), ConfigError> {
    let reclaim = var(lookup, "LAMBDA_ACTORS_DEADLINE_RECLAIM", mode.is_managed(), switch)?;
    let grace = var(
        lookup,
        "LAMBDA_ACTORS_DEADLINE_GRACE_MS",
        Duration::from_millis(100),
        millis,
    )?;
    Ok((reclaim, grace))
}

/// The shutdown window, and whether Lambda is asked for a SIGTERM at all.
fn read_shutdown(lookup: Lookup<'_>) -> Result<(Duration, bool), ConfigError> {
    let grace = var(
        lookup,
        "LAMBDA_ACTORS_SHUTDOWN_GRACE_MS",
        Duration::from_millis(200),
        millis,
    )?;
    let graceful = var(lookup, "LAMBDA_ACTORS_GRACEFUL_SHUTDOWN", true, switch)?;
    Ok((grace, graceful))
}

/// The metrics summary's period (`None`: off) and format.
fn read_metrics(lookup: Lookup<'_>) -> Result<(Option<Duration>, MetricsFormat), ConfigError> {
    const FORMATS: &[(&str, MetricsFormat)] = &[("log", MetricsFormat::Log), ("emf", MetricsFormat::Emf)];
    let interval = var(lookup, "LAMBDA_ACTORS_METRICS_INTERVAL_SECS", 60, whole(86_400))?;
    let format = var(
        lookup,
        "LAMBDA_ACTORS_METRICS_FORMAT",
        MetricsFormat::Log,
        one_of(FORMATS),
    )?;
    Ok(((interval > 0).then(|| Duration::from_secs(interval)), format))
}

/// The log format and filter. Bad values here have a safe default: a warning, not an error.
fn read_logging(
    lookup: Lookup<'_>,
    mode: Mode,
    warnings: &mut Vec<String>,
) -> Result<(LogFormat, String), ConfigError> {
    const FORMATS: &[(&str, LogFormat)] = &[("json", LogFormat::Json), ("text", LogFormat::Text)];
    const LEVELS: &[(&str, &str)] = &[
        ("trace", "trace"),
        ("debug", "debug"),
        ("info", "info"),
        ("warn", "warn"),
        ("error", "error"),
        ("fatal", "error"),
    ];
    let (default_format, default_name) = if mode.is_managed() {
        (LogFormat::Json, "JSON")
    } else {
        (LogFormat::Text, "Text")
    };
    let format = var(lookup, "AWS_LAMBDA_LOG_FORMAT", default_format, one_of(FORMATS)).unwrap_or_else(|e| {
        let value = &e.value;
        warnings.push(format!(
            "AWS_LAMBDA_LOG_FORMAT={value:?} is neither Text nor JSON; using {default_name}"
        ));
        default_format
    });
    let rust_log = text(lookup, "RUST_LOG").filter(|v| !v.trim().is_empty());
    let level = var(lookup, "AWS_LAMBDA_LOG_LEVEL", "info", one_of(LEVELS)).unwrap_or_else(|e| {
        let value = &e.value;
        warnings.push(format!(
            "AWS_LAMBDA_LOG_LEVEL={value:?} is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL; using INFO"
        ));
        "info"
    });
    Ok((format, rust_log.unwrap_or_else(|| level.to_owned())))
}

impl FunctionInfo {
    fn read(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        let megabytes = |v: &str| whole(1 << 20)(v).map(|mb| Some(mb as u32));
        Ok(Self {
            name: text(lookup, "AWS_LAMBDA_FUNCTION_NAME"),
            version: text(lookup, "AWS_LAMBDA_FUNCTION_VERSION"),
            memory_size_mb: var(lookup, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", None, megabytes)?,
            log_group_name: text(lookup, "AWS_LAMBDA_LOG_GROUP_NAME"),
            log_stream_name: text(lookup, "AWS_LAMBDA_LOG_STREAM_NAME"),
        })
    }
}

impl LocalSettings {
    fn read(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        let path = |v: &str| {
            if v.starts_with('/') && !v.contains(char::is_whitespace) {
                Ok(v.to_owned())
            } else {
                Err("expected a path starting with '/', such as /invoke".to_owned())
            }
        };
        let secs = |v: &str| count(86_400)(v).map(|s| Duration::from_secs(s as u64));
        Ok(Self {
            host: text(lookup, "LOCAL_LAMBDA_HOST").unwrap_or_else(|| "127.0.0.1".to_owned()),
            port: var(lookup, "LOCAL_LAMBDA_PORT", 7000, |v| {
                whole(65_535)(v).map(|p| p as u16)
            })?,
            invocation_endpoint: var(lookup, "LOCAL_LAMBDA_INVOCATION_ENDPOINT", "/invoke".to_owned(), path)?,
            reject_when_busy: var(lookup, "LOCAL_LAMBDA_REJECT_WHEN_BUSY", false, switch)?,
            queue_limit: var(lookup, "LOCAL_LAMBDA_QUEUE_LIMIT", 64, |v| {
                whole(1 << 20)(v).map(|n| n as usize)
            })?,
            timeout: var(lookup, "LOCAL_LAMBDA_TIMEOUT_SECS", Duration::from_secs(900), secs)?,
        })
    }
}

/// A whole number of digits only (no sign, no spaces) from 0 to `max`.
fn whole(max: u64) -> impl Fn(&str) -> Result<u64, String> {
    move |value| match value.parse::<u64>() {
        Ok(n) if n <= max && value.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!("expected a whole number from 0 to {max}")),
    }
}

/// Like [`whole`], but from 1.
fn count(max: usize) -> impl Fn(&str) -> Result<usize, String> {
    move |value| match whole(max as u64)(value) {
        Ok(n) if n >= 1 => Ok(n as usize),
        _ => Err(format!("expected a whole number from 1 to {max}")),
    }
}

fn millis(value: &str) -> Result<Duration, String> {
    whole(3_600_000)(value).map(Duration::from_millis)
}

fn switch(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err("expected one of 1, 0, true, false, on, off".to_owned()),
    }
}

/// One of `choices`' names, any case.
fn one_of<T: Copy>(choices: &'static [(&'static str, T)]) -> impl Fn(&str) -> Result<T, String> {
    move |value| {
        choices
            .iter()
            .find(|(name, _)| value.eq_ignore_ascii_case(name))
            .map(|&(_, choice)| choice)
            .ok_or_else(|| {
                let names: Vec<String> = choices.iter().map(|(name, _)| format!("`{name}`")).collect();
                match names.split_last() {
                    Some((last, [])) => format!("expected {last}"),
                    Some((last, rest)) => format!("expected {} or {last}", rest.join(", ")),
                    None => "expected nothing".to_owned(),
                }
            })
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

    #[test]
    fn a_bad_value_is_one_line_naming_the_variable_the_value_and_what_was_expected() {
        let cases = [
            (
                "LAMBDA_ACTORS_METRICS_FORMAT",
                "xml",
                r#"invalid LAMBDA_ACTORS_METRICS_FORMAT="xml": expected `log` or `emf`"#,
            ),
            (
                "LAMBDA_ACTORS_MAILBOX_CAPACITY",
                "0",
                r#"invalid LAMBDA_ACTORS_MAILBOX_CAPACITY="0": expected a whole number from 1 to 1048576"#,
            ),
            (
                "LAMBDA_ACTORS_GRACEFUL_SHUTDOWN",
                "maybe",
                r#"invalid LAMBDA_ACTORS_GRACEFUL_SHUTDOWN="maybe": expected one of 1, 0, true, false, on, off"#,
            ),
            (
                "LOCAL_LAMBDA_INVOCATION_ENDPOINT",
                "invoke",
                r#"invalid LOCAL_LAMBDA_INVOCATION_ENDPOINT="invoke": expected a path starting with '/', such as /invoke"#,
            ),
            (
                "LOCAL_LAMBDA_PORT",
                "+80",
                r#"invalid LOCAL_LAMBDA_PORT="+80": expected a whole number from 0 to 65535"#,
            ),
        ];
        for (var, bad, want) in cases {
            let err = cfg(&[(var, bad)]).unwrap_err();
            assert_eq!(err.to_string(), want);
            assert_eq!(err.variable(), var);
        }
    }

    #[test]
    fn log_level_falls_back_to_info_with_a_warning_and_rust_log_wins() {
        assert_eq!(cfg(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]).unwrap().log_filter, "error");
        let c = cfg(&[("AWS_LAMBDA_LOG_LEVEL", "loud")]).unwrap();
        assert_eq!(c.log_filter, "info");
        assert!(c.warnings[0].contains("\"loud\""), "{:?}", c.warnings);
        let c = cfg(&[("AWS_LAMBDA_LOG_LEVEL", "debug"), ("RUST_LOG", "my_crate=trace")]).unwrap();
        assert_eq!(c.log_filter, "my_crate=trace");
        let c = cfg(&[("AWS_LAMBDA_LOG_LEVEL", "debug"), ("RUST_LOG", " ")]).unwrap();
        assert_eq!(c.log_filter, "debug", "a blank RUST_LOG does not count");
    }

    #[test]
    fn extensions_see_managed_instances_by_either_variable() {
        let settings = |vars: &[(&str, &str)]| {
            ExtensionSettings::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
        };
        assert!(settings(&[("AWS_LAMBDA_MAX_CONCURRENCY", "8")]).managed_instances);
        assert!(settings(&[("AWS_LAMBDA_INITIALIZATION_TYPE", "lambda-managed-instances")]).managed_instances);
        assert!(!settings(&[("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")]).managed_instances);
        let s = settings(&[
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("LAMBDA_ACTORS_TELEMETRY_HOST", "0.0.0.0"),
        ]);
        assert_eq!(s.runtime_api.as_deref(), Some("127.0.0.1:9001"));
        assert_eq!(s.telemetry_host.as_deref(), Some("0.0.0.0"));
        assert_eq!(settings(&[]), ExtensionSettings::default());
    }
}
