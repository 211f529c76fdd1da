//! `cargo run --release -p lambda-actors-bench -- [--quick] [options]`: lambda-actors'
//! `hello` beside the same hello on `lambda_runtime` 1.5 and a raw-socket floor, on a fast
//! mock Runtime API; medians and ratios printed as markdown. `--help` lists the options.

use lambda_actors_bench::run::{hello_event, run_once, spin_event, Candidate, Sample, Workload, HELLO_REPLY};
use lambda_actors_bench::{median, procfs};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str = "\
lambda-actors-bench: lambda-actors vs lambda_runtime 1.5 vs a raw-socket floor

USAGE: cargo run --release -p lambda-actors-bench -- [OPTIONS]

  --quick              short run: 3 rounds, a tenth of the events, a 20 MB stream
  --rounds R           rounds per configuration, candidates in turn (default 5)
  --scale F            multiply every event count K by F (default 1)
  --configs LIST       of classic,16,64,256,1600 (default: all)
  --sizes LIST         event sizes in bytes, k/m suffixes allowed (default: 64,256k)
  --candidates LIST    of ours,lambda_runtime,floor (default: all)
  --no-stream          skip the 100 MB streaming run
  --no-idle            skip the idle cost (context switches per second with every slot
                       parked on /next, classic, N=16, N=64: ours vs lambda_runtime)
  --no-mixed           skip the mixed load (one 50 ms CPU-bound invocation per 20 quick
                       ones, N=8 and N=64, lambda-actors `testbed` vs lambda_runtime)
  --startup-runs N     dedicated start-up runs per candidate, in turn (default 31; quick 11)
  --no-build           do not run cargo build first
  --bin NAME=PATH      use PATH for candidate NAME (ours, lambda_runtime, floor, testbed),
                       e.g. a build with symbols for profiling
  --wrap 'CMD ARGS'     run every candidate under CMD (profiling: valgrind, strace, perf);
                       it is stopped with SIGTERM, and its numbers are the wrapper's
  --timeout SECS       give up on a run after SECS (default 300)
  --out FILE           also write the report to FILE
";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Ours,
    LambdaRuntime,
    Floor,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::LambdaRuntime => "lambda_runtime",
            Kind::Floor => "floor",
        }
    }
}

#[derive(Debug)]
struct Options {
    rounds: usize,
    scale: f64,
    configs: Vec<Option<usize>>,
    sizes: Vec<usize>,
    kinds: Vec<Kind>,
    stream: bool,
    mixed: bool,
    idle: bool,
    stream_bytes: usize,
    startup_runs: usize,
    build: bool,
    bins: BTreeMap<String, PathBuf>,
    timeout: Duration,
    out: Option<PathBuf>,
    quick: bool,
    wrap: Vec<String>,
    load_before: String,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        rounds: 5,
        scale: 1.0,
        configs: vec![None, Some(16), Some(64), Some(256), Some(1600)],
        sizes: vec![64, 256 * 1024],
        kinds: vec![Kind::Ours, Kind::LambdaRuntime, Kind::Floor],
        stream: true,
        mixed: true,
        idle: true,
        stream_bytes: 100_000_000,
        startup_runs: 31,
        build: true,
        bins: BTreeMap::new(),
        timeout: Duration::from_secs(300),
        out: None,
        quick: false,
        wrap: vec![],
        load_before: std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    };
    let mut rounds = None;
    let mut startup_runs = None;
    let mut scale = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--quick" => o.quick = true,
            "--rounds" => rounds = Some(value()?.parse().map_err(|e| format!("--rounds: {e}"))?),
            "--scale" => scale = Some(value()?.parse().map_err(|e| format!("--scale: {e}"))?),
            "--configs" => {
                o.configs = list(&value()?)
                    .map(|c| match c {
                        "classic" => Ok(None),
                        n => n.parse().map(Some).map_err(|e| format!("--configs {n}: {e}")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--sizes" => o.sizes = list(&value()?).map(parse_size).collect::<Result<_, _>>()?,
            "--candidates" => {
                o.kinds = list(&value()?)
                    .map(|c| match c {
                        "ours" => Ok(Kind::Ours),
                        "lambda_runtime" | "lambda-runtime" => Ok(Kind::LambdaRuntime),
                        "floor" => Ok(Kind::Floor),
                        other => Err(format!("unknown candidate {other:?}")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--no-stream" => o.stream = false,
            "--no-mixed" => o.mixed = false,
            "--no-idle" => o.idle = false,
            "--startup-runs" => startup_runs = Some(value()?.parse().map_err(|e| format!("--startup-runs: {e}"))?),
            "--no-build" => o.build = false,
            "--bin" => {
                let v = value()?;
                let (name, path) = v.split_once('=').ok_or("--bin wants NAME=PATH")?;
                o.bins.insert(name.to_owned(), PathBuf::from(path));
            }
            "--timeout" => o.timeout = Duration::from_secs(value()?.parse().map_err(|e| format!("--timeout: {e}"))?),
            "--out" => o.out = Some(PathBuf::from(value()?)),
            "--wrap" => o.wrap = value()?.split_whitespace().map(str::to_owned).collect(),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if o.quick {
        o.stream_bytes = 20_000_000;
    }
    o.startup_runs = startup_runs.unwrap_or(if o.quick { 11 } else { 31 });
    o.rounds = rounds.unwrap_or(if o.quick { 3 } else { 5 }).max(1);
    o.scale = scale.unwrap_or(if o.quick { 0.1 } else { 1.0 });
    Ok(o)
}

fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn parse_size(s: &str) -> Result<usize, String> {
    let lower = s.to_ascii_lowercase();
    let (num, mul) = match lower.strip_suffix('k') {
        Some(n) => (n, 1024),
        None => match lower.strip_suffix('m') {
            Some(n) => (n, 1024 * 1024),
            None => (lower.as_str(), 1),
        },
    };
    num.parse::<usize>()
        .map(|n| n * mul)
        .map_err(|e| format!("--sizes {s}: {e}"))
}

/// Events per run: large enough that 100 Hz CPU ticks and start-up are noise, and at least
/// four per slot so every slot reaches its steady state.
fn events_for(config: Option<usize>, size: usize, scale: f64) -> usize {
    let big = size > 16 * 1024;
    let base = match (config, big) {
        (None, false) => 20_000,
        (None, true) => 2_000,
        (Some(_), false) => 50_000,
        (Some(_), true) => 5_000,
    };
    ((base as f64 * scale) as usize).max(config.unwrap_or(1) * 4).max(100)
}

struct Paths {
    root: PathBuf,
    target: PathBuf,
    lr_manifest: PathBuf,
    lr_target: PathBuf,
}

impl Paths {
    fn new() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .unwrap_or_else(|_| PathBuf::from("."));
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let lr = root.join("bench/lambda-runtime-hello");
        Self {
            target,
            lr_manifest: lr.join("Cargo.toml"),
            lr_target: lr.join("target"),
            root,
        }
    }

    fn bin(&self, o: &Options, name: &str) -> PathBuf {
        if let Some(p) = o.bins.get(name) {
            return p.clone();
        }
        match name {
            "ours" => self.target.join("release/hello"),
            "testbed" => self.target.join("release/testbed"),
            "floor" => self.target.join("release/raw-floor"),
            _ => self.lr_target.join("release/lambda-runtime-hello"),
        }
    }
}

fn build(paths: &Paths) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let steps: [&[&str]; 3] = [
        &[
            "build",
            "--release",
            "-p",
            "lambda-actors-examples",
            "--bin",
            "hello",
            "--bin",
            "testbed",
        ],
        &["build", "--release", "-p", "lambda-actors-bench", "--bin", "raw-floor"],
        &["build", "--release", "--manifest-path"],
    ];
    for (i, step) in steps.iter().enumerate() {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(&paths.root).args(*step);
        if i == 2 {
            cmd.arg(&paths.lr_manifest).arg("--target-dir").arg(&paths.lr_target);
        }
        eprintln!("bench: cargo {}", step.join(" "));
        let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!("cargo {} failed: {status}", step.join(" ")));
        }
    }
    Ok(())
}

fn candidate(o: &Options, paths: &Paths, kind: Kind, config: Option<usize>) -> Candidate {
    let (label, args) = match (kind, config) {
        (Kind::Ours, _) => ("lambda-actors", vec![]),
        (Kind::LambdaRuntime, None) => ("lambda_runtime run", vec!["run".to_owned()]),
        (Kind::LambdaRuntime, Some(_)) => ("lambda_runtime run_concurrent", vec!["run-concurrent".to_owned()]),
        (Kind::Floor, _) => ("raw floor", vec![]),
    };
    Candidate {
        label: label.to_owned(),
        program: paths.bin(o, kind.key()),
        args,
        env: vec![],
        wrap: o.wrap.clone(),
    }
}

fn config_name(c: Option<usize>) -> String {
    c.map_or_else(|| "classic".to_owned(), |n| format!("N={n}"))
}

fn size_name(s: usize) -> String {
    if s >= 1024 * 1024 && s.is_multiple_of(1024 * 1024) {
        format!("{} MiB", s / (1024 * 1024))
    } else if s >= 1024 && s.is_multiple_of(1024) {
        format!("{} KiB", s / 1024)
    } else {
        format!("{s} B")
    }
}

/// Medians of one candidate's samples in one cell.
#[derive(Debug, Clone, Copy)]
struct Medians {
    startup_ms: f64,
    inv_per_s: f64,
    wall_us: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us: f64,
    rss_mib: f64,
    mock_cpu_us: f64,
}

fn medians(samples: &[Sample]) -> Medians {
    let m = |f: &dyn Fn(&Sample) -> f64| median(&samples.iter().map(f).collect::<Vec<_>>());
    Medians {
        startup_ms: m(&|s| s.startup.as_secs_f64() * 1e3),
        inv_per_s: m(&|s| s.inv_per_s()),
        wall_us: m(&|s| s.wall_us()),
        p50_us: m(&|s| s.latency_p50.as_secs_f64() * 1e6),
        p99_us: m(&|s| s.latency_p99.as_secs_f64() * 1e6),
        cpu_us: m(&|s| s.cpu_us()),
        rss_mib: m(&|s| s.rss_mib()),
        mock_cpu_us: m(&|s| s.mock_cpu_us()),
    }
}

type CellKey = (Option<usize>, usize);

struct Cell {
    events: usize,
    rows: Vec<Row>,
}

/// One candidate in one cell: its runs in round order (`None`: that round failed).
struct Row {
    kind: Kind,
    label: String,
    runs: Vec<Option<Sample>>,
}

impl Row {
    fn samples(&self) -> Vec<Sample> {
        self.runs.iter().flatten().cloned().collect()
    }

    fn failed(&self) -> usize {
        self.runs.iter().filter(|r| r.is_none()).count()
    }
}

/// Per-round ratios of `f` (ours / lambda_runtime, the two runs of the same round, next to each
/// other in time): their median, min and max. Pairing by round cancels most of a shared
/// machine's drift.
fn paired_ratios(cell: &Cell, f: impl Fn(&Sample) -> f64) -> Option<(f64, f64, f64)> {
    let ours = cell.rows.iter().find(|r| r.kind == Kind::Ours)?;
    let base = cell.rows.iter().find(|r| r.kind == Kind::LambdaRuntime)?;
    let ratios: Vec<f64> = ours
        .runs
        .iter()
        .zip(&base.runs)
        .filter_map(|(a, b)| Some(ratio(f(a.as_ref()?), f(b.as_ref()?))))
        .collect();
    spread(&ratios)
}

fn spread(v: &[f64]) -> Option<(f64, f64, f64)> {
    let min = v.iter().copied().reduce(f64::min)?;
    let max = v.iter().copied().reduce(f64::max)?;
    Some((median(v), min, max))
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) if e.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let paths = Paths::new();
    if o.build {
        if let Err(e) = build(&paths) {
            eprintln!("bench: {e}");
            return ExitCode::FAILURE;
        }
    }
    let needed = o
        .kinds
        .iter()
        .map(|k| k.key())
        .chain((o.stream || o.mixed).then_some("testbed"));
    for name in needed {
        let bin = paths.bin(&o, name);
        if !bin.is_file() {
            eprintln!("bench: {} is missing (build it, or drop --no-build)", bin.display());
            return ExitCode::FAILURE;
        }
    }
    let max_n = o.configs.iter().flatten().max().copied().unwrap_or(1);
    if let Some(limit) = procfs::open_files_limit() {
        if limit < (max_n as u64) * 2 + 256 {
            eprintln!(
                "bench: warning: `ulimit -n` is {limit}; N={max_n} needs about {}",
                max_n * 2 + 256
            );
        }
    }
    let ticks = procfs::clock_ticks_per_second();

    let mut cells: BTreeMap<CellKey, Cell> = BTreeMap::new();
    for &config in &o.configs {
        for &size in &o.sizes {
            let events = events_for(config, size, o.scale);
            let work = Workload {
                concurrency: config,
                events,
                event: Arc::from(hello_event(size)),
                expected_reply: Some(HELLO_REPLY.to_vec()),
                slow: None,
                timeout: o.timeout,
            };
            let cands: Vec<(Kind, Candidate)> =
                o.kinds.iter().map(|&k| (k, candidate(&o, &paths, k, config))).collect();
            let mut rows: Vec<Row> = cands
                .iter()
                .map(|(k, c)| Row {
                    kind: *k,
                    label: c.label.clone(),
                    runs: vec![],
                })
                .collect();
            for round in 1..=o.rounds {
                for (i, (_, cand)) in cands.iter().enumerate() {
                    match run_once(cand, &work, ticks) {
                        Ok(s) => {
                            eprintln!(
                                "bench: {} {} round {round}/{}: {:<30} {:>9.0} inv/s {:>8.1} µs CPU/inv {:>7.1} MiB start-up {:.1} ms",
                                config_name(config),
                                size_name(size),
                                o.rounds,
                                cand.label,
                                s.inv_per_s(),
                                s.cpu_us(),
                                s.rss_mib(),
                                s.startup.as_secs_f64() * 1e3
                            );
                            rows[i].runs.push(Some(s));
                        }
                        Err(e) => {
                            eprintln!(
                                "bench: {} {} round {round}: FAILED: {e}",
                                config_name(config),
                                size_name(size)
                            );
                            rows[i].runs.push(None);
                        }
                    }
                }
            }
            cells.insert((config, size), Cell { events, rows });
        }
    }

    let startups = run_startups(&o, &paths, ticks, None);
    // Start-up in Managed Instances mode too: its threads and N pollers come before the first
    // `/next`.
    let managed_startups: Vec<(usize, StartupRuns)> = [16, 64]
        .into_iter()
        .filter(|n| o.configs.contains(&Some(*n)))
        .map(|n| (n, run_startups(&o, &paths, ticks, Some(n))))
        .collect();

    let stream = if o.stream && o.kinds.contains(&Kind::Ours) {
        run_stream(&o, &paths, ticks)
    } else {
        vec![]
    };

    let mixed = if o.mixed && o.kinds.contains(&Kind::Ours) && o.kinds.contains(&Kind::LambdaRuntime) {
        run_mixed(&o, &paths, ticks)
    } else {
        vec![]
    };

    let idle = if o.idle { run_idle(&o, &paths) } else { vec![] };

    let mut report = render(&o, &paths, &cells, (&startups, &managed_startups), &stream);
    report.push_str(&render_mixed(&mixed));
    report.push_str(&render_idle(&idle));
    print!("{report}");
    if let Some(out) = &o.out {
        if let Err(e) = std::fs::write(out, &report) {
            eprintln!("bench: cannot write {}: {e}", out.display());
        }
    }
    ExitCode::SUCCESS
}

/// One idle measurement: config, candidate, wake-ups per second, threads.
type IdleRow = (Option<usize>, Kind, Result<lambda_actors_bench::idle::Idle, String>);

/// The idle cost of classic, N=16 and N=64 (those of `--configs`), ours and `lambda_runtime`.
fn run_idle(o: &Options, paths: &Paths) -> Vec<IdleRow> {
    let mut rows = Vec::new();
    for &config in o.configs.iter().filter(|c| matches!(c, None | Some(16) | Some(64))) {
        for &kind in o.kinds.iter().filter(|k| **k != Kind::Floor) {
            let cand = candidate(o, paths, kind, config);
            let idle = lambda_actors_bench::idle::idle_wakeups(&cand, config, std::time::Duration::from_secs(5));
            match &idle {
                Ok(i) => eprintln!(
                    "bench: idle {} {:<30} {:.1} wake-ups/s ({} threads)",
                    config_name(config),
                    cand.label,
                    i.wakeups_per_s,
                    i.threads
                ),
                Err(e) => eprintln!("bench: idle {}: FAILED: {e}", config_name(config)),
            }
            rows.push((config, kind, idle));
        }
    }
    rows
}

fn render_idle(rows: &[IdleRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut r = String::from(
        "\n### Idle cost\n\nEvery slot parked on `GET /next`, no event arriving, metrics at the \
         candidate's default: context switches per second of all its threads over 5 s \
         (`/proc/<pid>/task/*/status`), each one a wake-up.\n\n| config | candidate | wake-ups/s | threads |\n|---|---|--:|--:|\n",
    );
    for (config, kind, idle) in rows {
        let (rate, threads) = match idle {
            Ok(i) => (format!("{:.1}", i.wakeups_per_s), i.threads.to_string()),
            Err(_) => ("failed".to_owned(), "—".to_owned()),
        };
        let _ = writeln!(r, "| {} | {} | {rate} | {threads} |", config_name(*config), kind.key());
    }
    r
}

/// Start-up alone (exec → first `GET /next`), classic mode, many short runs in turn: one
/// sample per run is noisy on a shared machine, so it gets its own, larger set.
/// Start-up runs of each candidate, in ms (`None`: a failed run).
type StartupRuns = BTreeMap<Kind, Vec<Option<f64>>>;

fn run_startups(o: &Options, paths: &Paths, ticks: u64, concurrency: Option<usize>) -> StartupRuns {
    let mut out: StartupRuns = BTreeMap::new();
    let work = Workload {
        concurrency,
        events: 10,
        event: Arc::from(hello_event(64)),
        expected_reply: Some(HELLO_REPLY.to_vec()),
        slow: None,
        timeout: o.timeout,
    };
    let cands: Vec<(Kind, Candidate)> = o
        .kinds
        .iter()
        .map(|&k| (k, candidate(o, paths, k, concurrency)))
        .collect();
    for _ in 0..o.startup_runs {
        for (kind, cand) in &cands {
            match run_once(cand, &work, ticks) {
                Ok(s) => out.entry(*kind).or_default().push(Some(s.startup.as_secs_f64() * 1e3)),
                Err(e) => {
                    eprintln!("bench: start-up run: FAILED: {e}");
                    out.entry(*kind).or_default().push(None);
                }
            }
        }
    }
    for (kind, v) in &out {
        let ok: Vec<f64> = v.iter().flatten().copied().collect();
        eprintln!(
            "bench: start-up {} {}: median {:.2} ms over {} runs",
            config_name(concurrency),
            kind.key(),
            median(&ok),
            ok.len()
        );
    }
    out
}

/// The streaming path: one `{"op":"stream"}` invocation of `testbed`, 64 KiB chunks.
fn run_stream(o: &Options, paths: &Paths, ticks: u64) -> Vec<Sample> {
    let chunk = 64 * 1024;
    let chunks = o.stream_bytes.div_ceil(chunk);
    let event = format!(r#"{{"op":"stream","chunks":{chunks},"chunk_bytes":{chunk}}}"#);
    let cand = Candidate {
        label: "lambda-actors testbed stream".to_owned(),
        program: paths.bin(o, "testbed"),
        args: vec![],
        env: vec![],
        wrap: o.wrap.clone(),
    };
    let work = Workload {
        concurrency: None,
        events: 1,
        event: Arc::from(event.into_bytes()),
        expected_reply: None,
        slow: None,
        timeout: o.timeout,
    };
    let mut samples = vec![];
    for round in 1..=o.rounds.min(3) {
        match run_once(&cand, &work, ticks) {
            Ok(s) if s.stream.is_some() => {
                let st = s.stream.as_ref().map(|st| (st.first_byte, st.bytes, st.complete));
                if let Some((ttfb, bytes, complete)) = st {
                    eprintln!(
                        "bench: stream round {round}: {bytes} bytes, first byte {:.2} ms, {:.0} MB/s",
                        ttfb.as_secs_f64() * 1e3,
                        bytes as f64 / 1e6 / complete.as_secs_f64()
                    );
                }
                samples.push(s);
            }
            Ok(_) => eprintln!("bench: stream round {round}: FAILED: the response was not streamed"),
            Err(e) => eprintln!("bench: stream round {round}: FAILED: {e}"),
        }
    }
    samples
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| procfs::parse_status_kib(&m, "MemTotal:").ok())
        .map_or(0.0, |k| k as f64 / 1024.0 / 1024.0);
    format!(
        "{cores} cores (`nproc`), CPU `{cpu}`, {mem_gib:.0} GiB, Linux {}",
        kernel.trim()
    )
}

fn command_output(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let out = Command::new(program).args(args).current_dir(dir).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn ratio(ours: f64, base: f64) -> f64 {
    if base > 0.0 {
        ours / base
    } else {
        f64::NAN
    }
}

fn render(
    o: &Options,
    paths: &Paths,
    cells: &BTreeMap<CellKey, Cell>,
    (startups, managed_startups): (&StartupRuns, &[(usize, StartupRuns)]),
    stream: &[Sample],
) -> String {
    let mut r = String::new();
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"], &paths.root).unwrap_or_default();
    let commit = command_output("git", &["rev-parse", "--short", "HEAD"], &paths.root).unwrap_or_default();
    let dirty = command_output("git", &["status", "--porcelain"], &paths.root).is_some_and(|s| !s.is_empty());
    let _ = writeln!(r, "## Results\n");
    let _ = writeln!(
        r,
        "- machine: {}\n- run: {date}, commit `{commit}`{}, {} rounds per cell (candidates in turn), medians{}\n\
         - load average when the harness started: {} (other work on the machine moves the numbers; see docs/benchmarks.md)\n",
        machine(),
        if dirty { " (with uncommitted changes)" } else { "" },
        o.rounds,
        if o.quick { ", `--quick`" } else { "" },
        o.load_before
    );
    let _ = writeln!(
        r,
        "× columns: the candidate's median over `lambda_runtime`'s in the same cell \
         (`run` in classic mode, `run_concurrent` at N > 1). inv/s: K over first `/next` → K-th answer; \
         wall µs/inv: the same time / K; p50/p99: event written → answer read; CPU µs/inv: the \
         process's utime+stime / K; RSS: VmHWM; mock CPU: the harness's own CPU / K.\n"
    );
    let _ = writeln!(
        r,
        "| config | event | K | candidate | start-up ms | inv/s | wall µs/inv | p50 µs | p99 µs | CPU µs/inv | peak RSS MiB | × inv/s | × CPU/inv | × RSS | × start-up | mock CPU µs/inv |"
    );
    let _ = writeln!(r, "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for ((config, size), cell) in cells {
        let base = cell
            .rows
            .iter()
            .find(|row| row.kind == Kind::LambdaRuntime && row.failed() < row.runs.len())
            .map(|row| medians(&row.samples()));
        for row in &cell.rows {
            let (label, samples, failed) = (&row.label, row.samples(), row.failed());
            let name = if failed > 0 {
                format!("{label} ({failed} failed)")
            } else {
                label.clone()
            };
            if samples.is_empty() {
                let _ = writeln!(
                    r,
                    "| {} | {} | {} | {name} | — | — | — | — | — | — | — | — | — | — | — | — |",
                    config_name(*config),
                    size_name(*size),
                    cell.events
                );
                continue;
            }
            let m = medians(&samples);
            let x = |f: fn(&Medians) -> f64| base.map_or("—".to_owned(), |b| format!("{:.2}", ratio(f(&m), f(&b))));
            let _ = writeln!(
                r,
                "| {} | {} | {} | {name} | {:.1} | {:.0} | {:.1} | {:.0} | {:.0} | {:.1} | {:.1} | {} | {} | {} | {} | {:.1} |",
                config_name(*config),
                size_name(*size),
                cell.events,
                m.startup_ms,
                m.inv_per_s,
                m.wall_us,
                m.p50_us,
                m.p99_us,
                m.cpu_us,
                m.rss_mib,
                x(|m| m.inv_per_s),
                x(|m| m.cpu_us),
                x(|m| m.rss_mib),
                x(|m| m.startup_ms),
                m.mock_cpu_us,
            );
        }
    }

    if !stream.is_empty() {
        let st: Vec<_> = stream
            .iter()
            .filter_map(|s| s.stream.clone().map(|st| (s, st)))
            .collect();
        let ttfb = median(
            &st.iter()
                .map(|(_, t)| t.first_byte.as_secs_f64() * 1e3)
                .collect::<Vec<_>>(),
        );
        let mbps = median(
            &st.iter()
                .map(|(_, t)| t.bytes as f64 / 1e6 / t.complete.as_secs_f64())
                .collect::<Vec<_>>(),
        );
        let cpu = median(&st.iter().map(|(s, _)| s.cpu.as_secs_f64() * 1e3).collect::<Vec<_>>());
        let rss = median(&st.iter().map(|(s, _)| s.rss_mib()).collect::<Vec<_>>());
        let bytes = st.first().map_or(0, |(_, t)| t.bytes);
        let _ = writeln!(
            r,
            "\n### Streaming (lambda-actors `testbed`, `{{\"op\":\"stream\"}}`, 64 KiB chunks, {} runs)\n",
            st.len()
        );
        let _ = writeln!(
            r,
            "| bytes | time to first byte ms | MB/s (event written → last byte) | process CPU ms | peak RSS MiB |"
        );
        let _ = writeln!(r, "|--:|--:|--:|--:|--:|");
        let _ = writeln!(r, "| {bytes} | {ttfb:.2} | {mbps:.0} | {cpu:.0} | {rss:.1} |");
    }

    let sizes: Vec<(&str, PathBuf)> = vec![
        ("lambda-actors `hello`", paths.bin(o, "ours")),
        ("lambda_runtime `hello`", paths.bin(o, "lambda_runtime")),
        ("raw floor", paths.bin(o, "floor")),
    ];
    let _ = writeln!(r, "\n### Release binaries (stripped: lto, codegen-units = 1, strip)\n");
    let _ = writeln!(r, "| binary | bytes | MiB |");
    let _ = writeln!(r, "|---|--:|--:|");
    let mut hello_size = None;
    for (i, (name, path)) in sizes.iter().enumerate() {
        if let Ok(meta) = std::fs::metadata(path) {
            if i == 0 {
                hello_size = Some(meta.len());
            }
            let _ = writeln!(
                r,
                "| {name} | {} | {:.2} |",
                meta.len(),
                meta.len() as f64 / 1024.0 / 1024.0
            );
        }
    }

    let _ = writeln!(
        r,
        "\n### Targets (64 B events, ours / lambda_runtime, this run)\n\n\
         Each verdict is on the median of the per-round ratios (ours and lambda_runtime run next \
         to each other in every round); the range of those ratios follows it.\n"
    );
    let cell = |config: Option<usize>| cells.get(&(config, 64));
    let mut target = |what: &str, value: Option<(f64, f64, f64)>, limit: f64, at_most: bool| {
        let verdict = match value {
            None => "not measured".to_owned(),
            Some((v, lo, hi)) => format!(
                "**{}** ({v:.2}×; rounds {lo:.2}–{hi:.2}×)",
                if (at_most && v <= limit) || (!at_most && v >= limit) {
                    "holds"
                } else {
                    "does not hold"
                }
            ),
        };
        let _ = writeln!(r, "- {what} {} {limit}×: {verdict}", if at_most { "≤" } else { "≥" });
    };
    target(
        "classic CPU/inv",
        cell(None).and_then(|c| paired_ratios(c, Sample::cpu_us)),
        0.5,
        true,
    );
    for n in [16, 64] {
        target(
            &format!("N={n} throughput"),
            cell(Some(n)).and_then(|c| paired_ratios(c, Sample::inv_per_s)),
            1.0,
            false,
        );
        target(
            &format!("N={n} CPU/inv"),
            cell(Some(n)).and_then(|c| paired_ratios(c, Sample::cpu_us)),
            0.8,
            true,
        );
    }
    for n in [64, 1600] {
        target(
            &format!("N={n} peak RSS"),
            cell(Some(n)).and_then(|c| paired_ratios(c, Sample::rss_mib)),
            1.0,
            true,
        );
    }
    // The dedicated start-up runs, paired by run; without them, every classic run's.
    let startup_ratios: Vec<f64> = match (startups.get(&Kind::Ours), startups.get(&Kind::LambdaRuntime)) {
        (Some(a), Some(b)) => a.iter().zip(b).filter_map(|(a, b)| Some(ratio((*a)?, (*b)?))).collect(),
        _ => cells
            .iter()
            .filter(|((config, _), _)| config.is_none())
            .filter_map(|(_, c)| paired_ratios(c, |s| s.startup.as_secs_f64()))
            .map(|(m, _, _)| m)
            .collect(),
    };
    target("start-up (classic)", spread(&startup_ratios), 1.0, true);
    let fmt_ms = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{v:.1} ms"));
    for (n, runs) in managed_startups {
        let ratios: Vec<f64> = match (runs.get(&Kind::Ours), runs.get(&Kind::LambdaRuntime)) {
            (Some(a), Some(b)) => a.iter().zip(b).filter_map(|(a, b)| Some(ratio((*a)?, (*b)?))).collect(),
            _ => vec![],
        };
        let median_of = |kind: Kind| {
            let ok: Vec<f64> = runs.get(&kind).into_iter().flatten().flatten().copied().collect();
            (!ok.is_empty()).then(|| median(&ok))
        };
        let what = format!(
            "start-up (N={n}: exec → first `/next`, median of {} runs each, lambda-actors {}, lambda_runtime {})",
            runs.values().map(Vec::len).max().unwrap_or(0),
            fmt_ms(median_of(Kind::Ours)),
            fmt_ms(median_of(Kind::LambdaRuntime)),
        );
        target(&what, spread(&ratios), 1.0, true);
    }
    let startup = |kind: Kind| -> Option<f64> {
        let all: Vec<f64> = match startups.get(&kind) {
            Some(v) if v.iter().any(Option::is_some) => v.iter().flatten().copied().collect(),
            _ => cells
                .iter()
                .filter(|((config, _), _)| config.is_none())
                .flat_map(|(_, cell)| cell.rows.iter().filter(|row| row.kind == kind))
                .flat_map(|row| row.samples().into_iter().map(|s| s.startup.as_secs_f64() * 1e3))
                .collect(),
        };
        (!all.is_empty()).then(|| median(&all))
    };
    let ms = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{v:.1} ms"));
    let _ = writeln!(
        r,
        "  (exec → first `/next`, median of {}: lambda-actors {}, lambda_runtime {}, raw floor {})",
        match startups.values().map(Vec::len).max().unwrap_or(0) {
            0 => "every classic run".to_owned(),
            n => format!("{n} start-up runs each"),
        },
        ms(startup(Kind::Ours)),
        ms(startup(Kind::LambdaRuntime)),
        ms(startup(Kind::Floor))
    );
    let _ = match hello_size {
        Some(b) => writeln!(
            r,
            "- stripped `hello` ≤ 3 MB (3,000,000 bytes): {} ({b} bytes)",
            if b <= 3_000_000 {
                "**holds**"
            } else {
                "**does not hold**"
            }
        ),
        None => writeln!(r, "- stripped `hello` ≤ 3 MB: not measured"),
    };
    r
}

/// The mixed load: how long each CPU-bound invocation spins, and how many quick ones come
/// with each.
const MIXED_SPIN_MS: u64 = 50;
const MIXED_QUICK_PER_SLOW: usize = 20;

/// One candidate's runs of the mixed load at one concurrency.
struct MixedRow {
    config: usize,
    label: &'static str,
    runs: Vec<Sample>,
}

/// The mixed load: at N=8 and N=64, one invocation that spins the CPU for 50 ms per 20 quick
/// ones, in turn for lambda-actors' `testbed` (`{"op":"spin"}` / `{"op":"echo"}`) and the
/// lambda_runtime hello (`spin_ms`); both read the same events, each acting on its own field.
fn run_mixed(o: &Options, paths: &Paths, ticks: u64) -> Vec<MixedRow> {
    let every = MIXED_QUICK_PER_SLOW + 1;
    // 100 CPU-bound invocations (5 s of spinning) per run; a fifth with --quick.
    let events = if o.quick { 20 * every } else { 100 * every };
    let quick = br#"{"op":"echo","name":"World"}"#.to_vec();
    let slow = {
        let mut e = spin_event(MIXED_SPIN_MS);
        // `{"name":"World","spin_ms":50}` plus the testbed's own fields.
        e.pop();
        e.extend_from_slice(format!(r#","op":"spin","ms":{MIXED_SPIN_MS}}}"#).as_bytes());
        e
    };
    let mut rows = vec![];
    for config in [8, 64] {
        let work = Workload {
            concurrency: Some(config),
            events,
            event: Arc::from(quick.clone()),
            // The two candidates answer differently (an echo, a greeting): answers are
            // counted and checked for errors, not compared.
            expected_reply: None,
            slow: Some((every, Arc::from(slow.clone()))),
            timeout: o.timeout,
        };
        let cands = [
            (
                "lambda-actors testbed",
                Candidate {
                    label: "lambda-actors testbed".to_owned(),
                    program: paths.bin(o, "testbed"),
                    args: vec![],
                    env: vec![],
                    wrap: o.wrap.clone(),
                },
            ),
            (
                "lambda_runtime run_concurrent",
                candidate(o, paths, Kind::LambdaRuntime, Some(config)),
            ),
        ];
        let mut runs: Vec<Vec<Sample>> = vec![vec![], vec![]];
        for round in 1..=o.rounds.min(3) {
            for (i, (label, cand)) in cands.iter().enumerate() {
                match run_once(cand, &work, ticks) {
                    Ok(s) => {
                        eprintln!(
                            "bench: mixed N={config} round {round}: {label:<30} {:>7.0} inv/s quick p50 {:.2} ms p99 {:.2} ms",
                            s.inv_per_s(),
                            s.quick_p50.as_secs_f64() * 1e3,
                            s.quick_p99.as_secs_f64() * 1e3
                        );
                        runs[i].push(s);
                    }
                    Err(e) => eprintln!("bench: mixed N={config} round {round}: FAILED: {e}"),
                }
            }
        }
        for ((label, _), runs) in cands.iter().zip(runs) {
            rows.push(MixedRow { config, label, runs });
        }
    }
    rows
}

fn render_mixed(rows: &[MixedRow]) -> String {
    let mut r = String::new();
    if rows.is_empty() {
        return r;
    }
    let _ = writeln!(
        r,
        "\n### Mixed load (one {MIXED_SPIN_MS} ms CPU-bound invocation per {MIXED_QUICK_PER_SLOW} quick ones)\n\n\
         quick p50/p99: event written → answer read, quick invocations only; × columns: ours / lambda_runtime at the same N.\n"
    );
    let _ = writeln!(
        r,
        "| config | candidate | runs | inv/s | quick p50 ms | quick p99 ms | × inv/s | × quick p99 |"
    );
    let _ = writeln!(r, "|---|---|--:|--:|--:|--:|--:|--:|");
    let stat = |runs: &[Sample], f: &dyn Fn(&Sample) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    for row in rows {
        let base = rows
            .iter()
            .find(|b| b.config == row.config && b.label.starts_with("lambda_runtime"))
            .map(|b| b.runs.as_slice())
            .unwrap_or(&[]);
        let inv = |runs: &[Sample]| stat(runs, &|s| s.inv_per_s());
        let p99 = |runs: &[Sample]| stat(runs, &|s| s.quick_p99.as_secs_f64() * 1e3);
        let _ = writeln!(
            r,
            "| N={} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            row.config,
            row.label,
            row.runs.len(),
            inv(&row.runs),
            stat(&row.runs, &|s| s.quick_p50.as_secs_f64() * 1e3),
            p99(&row.runs),
            ratio(inv(&row.runs), inv(base)),
            ratio(p99(&row.runs), p99(base)),
        );
    }
    r
}
