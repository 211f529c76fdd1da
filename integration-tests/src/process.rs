//! [`Process`]: a child process under test, with its output captured line by line.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Parent environment variables that never leak into a process under test: they would change
/// the runtime's mode or configuration behind the test's back.
const CLEARED_PREFIXES: &[&str] = &[
    "AWS_",
    "_X_AMZN_",
    "LAMBDA_ACTORS_",
    "LOCAL_LAMBDA_",
    "TESTBED_",
    "RUST_LOG",
    "RUST_BACKTRACE",
    "RUST_LIB_BACKTRACE",
];
const CLEARED_NAMES: &[&str] = &["_HANDLER", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"];

/// Resolves the binary a test passes in (usually `env!("CARGO_BIN_EXE_<name>")`) and checks
/// that it exists, with a clear panic message otherwise.
pub fn binary(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.is_file(),
        "binary under test not found at {path}: build it first (cargo builds it for tests \
         declared in the package that owns it)"
    );
    p
}

/// Which output stream a [`Line`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line of output from the process.
#[derive(Debug, Clone)]
pub struct Line {
    /// Where it was written.
    pub stream: Stream,
    /// Its text, without the line terminator (invalid UTF-8 replaced).
    pub text: String,
    /// When the harness read it.
    pub at: Instant,
}

#[derive(Default)]
struct OutputState {
    lines: Vec<Line>,
    open_streams: usize,
}

#[derive(Default)]
struct Output {
    state: Mutex<OutputState>,
    changed: Condvar,
}

impl Output {
    fn lock(&self) -> MutexGuard<'_, OutputState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Builds the command for a [`Process`]: a binary, its environment and arguments.
#[derive(Debug)]
pub struct ProcessBuilder {
    command: Command,
    name: String,
}

impl ProcessBuilder {
    /// A builder for this binary. Lambda- and runtime-related variables of the parent
    /// environment (`AWS_*`, `LAMBDA_ACTORS_*`, `_X_AMZN_TRACE_ID`, `RUST_LOG`, …) are removed.
    pub fn new(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        let mut command = Command::new(path);
        for (key, _) in std::env::vars_os() {
            let Some(k) = key.to_str() else { continue };
            if CLEARED_PREFIXES.iter().any(|p| k.starts_with(p)) || CLEARED_NAMES.contains(&k) {
                command.env_remove(&key);
            }
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let name = path
            .file_name()
            .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        Self { command, name }
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.command.env(key, value);
        self
    }

    /// Sets several environment variables.
    pub fn envs<'a>(mut self, vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        for (k, v) in vars {
            self.command.env(k, v);
        }
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(mut self, key: &str) -> Self {
        self.command.env_remove(key);
        self
    }

    /// Sets `AWS_LAMBDA_RUNTIME_API`.
    pub fn runtime_api(self, value: &str) -> Self {
        self.env("AWS_LAMBDA_RUNTIME_API", value)
    }

    /// Adds a command-line argument.
    pub fn arg(mut self, arg: &str) -> Self {
        self.command.arg(arg);
        self
    }

    /// Starts the process and its output readers; panics if it cannot start.
    pub fn spawn(mut self) -> Process {
        let mut child = self
            .command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.name));
        let output = Arc::new(Output::default());
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        output.lock().open_streams = 2;
        spawn_reader(&output, stdout, Stream::Stdout, &self.name);
        spawn_reader(&output, stderr, Stream::Stderr, &self.name);
        Process {
            child,
            output,
            name: self.name,
            started: Instant::now(),
            exit: None,
        }
    }
}

fn spawn_reader(output: &Arc<Output>, pipe: impl Read + Send + 'static, stream: Stream, name: &str) {
    let out = Arc::clone(output);
    let thread_name = format!("{name}-{stream:?}").to_lowercase();
    let reader = move || {
        let mut r = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    while matches!(buf.last(), Some(b'\n' | b'\r')) {
                        buf.pop();
                    }
                    let line = Line {
                        stream,
                        text: String::from_utf8_lossy(&buf).into_owned(),
                        at: Instant::now(),
                    };
                    out.lock().lines.push(line);
                    out.changed.notify_all();
                }
            }
        }
        out.lock().open_streams -= 1;
        out.changed.notify_all();
    };
    std::thread::Builder::new()
        .name(thread_name)
        .spawn(reader)
        .expect("spawn an output reader thread");
}

/// A running process under test. Dropping it kills the process (SIGKILL) and reaps it.
pub struct Process {
    child: Child,
    output: Arc<Output>,
    name: String,
    started: Instant,
    exit: Option<ExitStatus>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.child.id())
            .field("exit", &self.exit)
            .finish_non_exhaustive()
    }
}

impl Process {
    /// Starts `path` with these environment variables (parent Lambda variables cleared).
    pub fn spawn<'a>(path: impl AsRef<Path>, env: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        ProcessBuilder::new(path).envs(env).spawn()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// When the process was started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Every line captured so far, both streams, in arrival order.
    pub fn lines(&self) -> Vec<Line> {
        self.output.lock().lines.clone()
    }

    /// Lines captured so far from one stream.
    pub fn stream_lines(&self, stream: Stream) -> Vec<String> {
        self.output
            .lock()
            .lines
            .iter()
            .filter(|l| l.stream == stream)
            .map(|l| l.text.clone())
            .collect()
    }

    /// Everything captured so far, each line tagged `out|` or `err|`, for failure messages.
    pub fn output(&self) -> String {
        let st = self.output.lock();
        let mut s = String::new();
        let skip = st.lines.len().saturating_sub(400);
        if skip > 0 {
            s.push_str(&format!("[{skip} earlier lines left out]\n"));
        }
        for l in &st.lines[skip..] {
            let tag = match l.stream {
                Stream::Stdout => "out| ",
                Stream::Stderr => "err| ",
            };
            s.push_str(tag);
            s.push_str(&l.text);
            s.push('\n');
        }
        s
    }

    /// Waits for a line (already captured or new) for which `pred` holds; returns it.
    pub fn wait_for_line(&self, mut pred: impl FnMut(&str) -> bool, timeout: Duration) -> Result<String, String> {
        let start = Instant::now();
        let end = start + timeout;
        let mut seen = 0;
        let mut st = self.output.lock();
        loop {
            if let Some(l) = st.lines[seen..].iter().find(|l| pred(&l.text)) {
                return Ok(l.text.clone());
            }
            seen = st.lines.len();
            let now = Instant::now();
            if now >= end || st.open_streams == 0 {
                let why = if st.open_streams == 0 {
                    "its output closed"
                } else {
                    "timed out"
                };
                return Err(format!(
                    "{} (pid {}): {why} after {:?} without the awaited line; {} lines captured",
                    self.name,
                    self.pid(),
                    now - start,
                    st.lines.len()
                ));
            }
            st = self
                .output
                .changed
                .wait_timeout(st, end - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The exit status if the process has exited (non-blocking).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(status);
                self.settle_output();
            }
        }
        self.exit
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.try_exit().is_none()
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still running. Once it has
    /// exited, waits briefly for its remaining output to be captured.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit() {
                return Some(status);
            }
            let now = Instant::now();
            if now >= end {
                return None;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(10)));
        }
    }

    /// Waits (at most 2 s) until both output pipes are closed, so every line is captured.
    fn settle_output(&self) {
        let end = Instant::now() + Duration::from_secs(2);
        let mut st = self.output.lock();
        while st.open_streams > 0 {
            let now = Instant::now();
            if now >= end {
                return;
            }
            st = self
                .output
                .changed
                .wait_timeout(st, end - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// CPU time (user + system, all threads) the process has used so far, read from
    /// `/proc/<pid>/stat`; `None` where that is unavailable (not Linux, or already reaped).
    pub fn cpu_time(&self) -> Option<Duration> {
        stat_cpu_time(&format!("/proc/{}/stat", self.pid()))
    }

    /// CPU time used so far by each thread of the process, by thread id (Linux only; empty
    /// elsewhere).
    pub fn thread_cpu_times(&self) -> Vec<(u32, Duration)> {
        let Ok(dir) = std::fs::read_dir(format!("/proc/{}/task", self.pid())) else {
            return Vec::new();
        };
        let mut out: Vec<(u32, Duration)> = dir
            .flatten()
            .filter_map(|e| {
                let tid: u32 = e.file_name().to_str()?.parse().ok()?;
                let cpu = stat_cpu_time(&format!("{}/stat", e.path().display()))?;
                Some((tid, cpu))
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`, …) with the `kill` command.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run `kill -{signal}`: {e}"));
        assert!(
            status.success() || self.exit.is_some(),
            "`kill -{signal} {}` failed: {status}",
            self.pid()
        );
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        self.signal("TERM");
    }

    /// Sends SIGINT.
    pub fn sigint(&self) {
        self.signal("INT");
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if self.try_exit().is_none() {
            let _ = self.child.kill();
            if let Ok(status) = self.child.wait() {
                self.exit = Some(status);
            }
        }
    }
}

/// utime + stime from a `/proc/.../stat` file.
fn stat_cpu_time(path: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks_to_duration(ticks))
}

fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
}

/// Busy CPU time of the whole machine so far, all cores summed (`/proc/stat`; Linux only).
/// Comparing two readings with a process's [`Process::cpu_time`] tells how much other load
/// the machine had meanwhile.
pub fn machine_busy_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal: everything but idle and iowait.
    let busy: u64 = v
        .iter()
        .enumerate()
        .filter(|(i, _)| *i < 8 && *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    Some(ticks_to_duration(busy))
}

/// `getconf CLK_TCK`, or the usual 100 when that cannot be run.
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .stderr(Stdio::null())
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}
