//! One measured run: a fresh mock, a fresh candidate process, K invocations.

use crate::mock::{Mock, MockOptions, StreamStats};
use crate::procfs;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A runtime binary under test.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Short name shown in the tables.
    pub label: String,
    /// The binary.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment added to the common one (which quiets logging for every candidate).
    pub env: Vec<(String, String)>,
    /// A command the candidate runs under (`valgrind --tool=callgrind`, `strace -c -f`), for
    /// profiling; then the measurements are the wrapper's, and the candidate is stopped with
    /// SIGTERM (so the wrapper can write its output) rather than SIGKILL.
    pub wrap: Vec<String>,
}

/// What one run asks of a candidate.
#[derive(Debug, Clone)]
pub struct Workload {
    /// `AWS_LAMBDA_MAX_CONCURRENCY`; `None` = classic (the variable is not set).
    pub concurrency: Option<usize>,
    /// K.
    pub events: usize,
    /// The event body.
    pub event: Arc<[u8]>,
    /// The reply every buffered `/response` must carry.
    pub expected_reply: Option<Vec<u8>>,
    /// A mixed load: every `.0`-th event is `.1` (see [`MockOptions::slow`](crate::mock::MockOptions)).
    pub slow: Option<(usize, Arc<[u8]>)>,
    /// Give up after this long.
    pub timeout: Duration,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Sample {
    /// K.
    pub events: usize,
    /// exec → first `GET /next`.
    pub startup: Duration,
    /// First `GET /next` → K-th answer.
    pub elapsed: Duration,
    /// The candidate's utime + stime when the K-th answer arrived.
    pub cpu: Duration,
    /// The harness's own CPU over the run (the mock, mostly).
    pub mock_cpu: Duration,
    /// The candidate's peak RSS (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// Median event-written → answer-read time.
    pub latency_p50: Duration,
    /// 99th percentile of the same.
    pub latency_p99: Duration,
    /// Median latency of the quick events of a mixed load (of all events otherwise).
    pub quick_p50: Duration,
    /// 99th percentile of the same.
    pub quick_p99: Duration,
    /// The streamed response, for a streaming run.
    pub stream: Option<StreamStats>,
}

impl Sample {
    /// Invocations per second.
    pub fn inv_per_s(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Wall time per invocation, µs (elapsed / K).
    pub fn wall_us(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e6 / self.events as f64
    }

    /// Candidate CPU per invocation, µs.
    pub fn cpu_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.events as f64
    }

    /// Harness (mock) CPU per invocation, µs.
    pub fn mock_cpu_us(&self) -> f64 {
        self.mock_cpu.as_secs_f64() * 1e6 / self.events as f64
    }

    /// Peak RSS, MiB.
    pub fn rss_mib(&self) -> f64 {
        self.peak_rss_kib as f64 / 1024.0
    }
}

/// The environment every candidate gets: a plausible Lambda function, logging at ERROR only,
/// lambda-actors' periodic metrics off. Nothing else of the harness's environment leaks in.
pub fn common_env(runtime_api: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", "bench"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]0123456789abcdef"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_LAMBDA_LOG_LEVEL", "ERROR"),
        ("LAMBDA_ACTORS_METRICS_INTERVAL_SECS", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Runs `candidate` once against a fresh mock and measures it. `ticks_per_s` is the clock of
/// `/proc/<pid>/stat` ([`procfs::clock_ticks_per_second`]).
pub fn run_once(candidate: &Candidate, work: &Workload, ticks_per_s: u64) -> Result<Sample, String> {
    let mock = Mock::start(MockOptions {
        events: work.events,
        event: work.event.clone(),
        expected_reply: work.expected_reply.clone(),
        slow: work.slow.clone(),
    })
    .map_err(|e| format!("cannot start the mock: {e}"))?;
    let log_path = std::env::temp_dir().join(format!("lambda-actors-bench-{}.log", std::process::id()));
    let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut cmd = match candidate.wrap.split_first() {
        Some((wrapper, wrapper_args)) => {
            let mut cmd = Command::new(wrapper);
            cmd.args(wrapper_args).arg(&candidate.program);
            cmd
        }
        None => Command::new(&candidate.program),
    };
    cmd.args(&candidate.args)
        .env_clear()
        .envs(common_env(&mock.runtime_api()))
        .envs(candidate.env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    if let Some(n) = work.concurrency {
        cmd.env("AWS_LAMBDA_MAX_CONCURRENCY", n.to_string());
    }
    let ticks = |pid: &str| procfs::cpu_ticks(pid).map_err(|e| format!("/proc/{pid}/stat: {e}"));
    let self_before = ticks("self")?;
    let exec = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", candidate.program.display()))?;
    let pid = child.id().to_string();
    let finished = mock.wait_finished(work.timeout, || matches!(child.try_wait(), Ok(None)));
    let measured = if finished {
        ticks(&pid).and_then(|cpu| {
            let rss = procfs::peak_rss_kib(&pid).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
            Ok((cpu, rss))
        })
    } else {
        Err(String::new())
    };
    let self_after = ticks("self")?;
    let status = stop(&mut child, !candidate.wrap.is_empty());
    let report = mock.report();
    mock.stop();
    if !candidate.wrap.is_empty() {
        eprintln!(
            "--- {} under {} ({status}), the end of its output ---\n{}",
            candidate.label,
            candidate.wrap.join(" "),
            tail(&log_path, 16 * 1024)
        );
    }
    let (cpu_ticks, peak_rss_kib) = measured.map_err(|e| {
        format!(
            "{} did not answer {} events (answered {}, errors {}, status {status}) {e}\n--- its output ---\n{}",
            candidate.label,
            work.events,
            report.answered,
            report.errors,
            tail(&log_path, 4096)
        )
    })?;
    if report.errors > 0 || report.bad > 0 || report.duplicates > 0 || report.init_errors > 0 {
        return Err(format!(
            "{}: {} /error answers, {} unexpected replies, {} duplicate or unknown answers, {} init errors\n{}",
            candidate.label,
            report.errors,
            report.bad,
            report.duplicates,
            report.init_errors,
            tail(&log_path, 4096)
        ));
    }
    let (Some(first_next), Some(done)) = (report.first_next, report.finished) else {
        return Err(format!("{}: the mock saw no /next", candidate.label));
    };
    let to_duration = |t: u64| Duration::from_secs_f64(t as f64 / ticks_per_s as f64);
    let percentile_of =
        |l: &[u64], p: usize| Duration::from_nanos(if l.is_empty() { 0 } else { l[(l.len() - 1) * p / 100] });
    let percentile = |p: usize| percentile_of(&report.latencies_ns, p);
    Ok(Sample {
        events: work.events,
        startup: first_next.saturating_duration_since(exec),
        elapsed: done.saturating_duration_since(first_next),
        cpu: to_duration(cpu_ticks),
        mock_cpu: to_duration(self_after.saturating_sub(self_before)),
        peak_rss_kib,
        latency_p50: percentile(50),
        latency_p99: percentile(99),
        quick_p50: percentile_of(&report.quick_latencies_ns, 50),
        quick_p99: percentile_of(&report.quick_latencies_ns, 99),
        stream: report.stream,
    })
}

fn stop(child: &mut Child, gently: bool) -> String {
    if let Ok(Some(status)) = child.try_wait() {
        return format!("exited: {status}");
    }
    if gently {
        // A wrapper (strace, perf) may leave the candidate running when it exits: note the
        // whole tree now, and kill what is left of it afterwards.
        let tree = procfs::descendants(child.id());
        let status = stop_gently(child);
        for pid in tree {
            if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            }
        }
        return status;
    }
    let _ = child.kill();
    let _ = child.wait();
    "running (killed)".to_owned()
}

/// SIGTERM, up to 30 s to exit, then SIGKILL.
fn stop_gently(child: &mut Child) -> String {
    // No libc here (unsafe code is forbidden): the `kill` command sends the SIGTERM.
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    for _ in 0..600 {
        if let Ok(Some(status)) = child.try_wait() {
            return format!("exited after SIGTERM: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    "running (killed)".to_owned()
}

/// The last `bytes` of the candidate's output.
fn tail(path: &std::path::Path, bytes: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(bytes)));
        let mut bytes = Vec::new();
        let _ = f.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

/// A JSON event `{"name":"World","pad":"xx…"}` of exactly `size` bytes (at least 31).
pub fn hello_event(size: usize) -> Vec<u8> {
    let head = br#"{"name":"World","pad":""#;
    let mut event = head.to_vec();
    event.resize(size.max(head.len() + 2) - 2, b'x');
    event.extend_from_slice(b"\"}");
    event
}

/// A hello event that also asks the handler to spin the CPU for `ms` first (the mixed load's
/// CPU-bound invocation): `{"name":"World","spin_ms":ms}`.
pub fn spin_event(ms: u64) -> Vec<u8> {
    format!(r#"{{"name":"World","spin_ms":{ms}}}"#).into_bytes()
}

/// What every hello answers to [`hello_event`].
pub const HELLO_REPLY: &[u8] = br#"{"greetings":"Hello World!"}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_events_have_the_asked_size_and_parse() {
        for size in [64, 1000, 256 * 1024] {
            let event = hello_event(size);
            assert_eq!(event.len(), size);
            let v: serde_json::Value = serde_json::from_slice(&event).unwrap();
            assert_eq!(v["name"], "World");
        }
    }
}
