//! Actor metrics, summarised in the logs.
//!
//! Each arbiter keeps its own [`Window`] (no lock, no shared cache line: the pollers and
//! handlers of one arbiter run on one thread). Every `LAMBDA_ACTORS_METRICS_INTERVAL_SECS`
//! the supervisor collects and resets every arbiter's window, merges them, adds the gauges,
//! and logs one summary: a log line, or a CloudWatch Embedded Metric Format document.
//! Counters (`*_count`, `bytes_*`) and latencies cover the interval since the previous
//! summary; gauges (`num_*`) are read at the moment of the summary.

use crate::config::MetricsFormat;
use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `tracing` target of the metrics summary.
pub(crate) const TARGET: &str = "lambda_actors::metrics";

/// The summary's one list field, passed to `tracing` as its JSON text (see `logging.rs`).
pub(crate) const LIST_FIELD: &str = "busy_by_arbiter";

/// Sub-buckets per power of two: latencies are kept within 1/8 (12.5 %) of their value.
const SUB: u32 = 8;
const BUCKETS: usize = (64 * SUB) as usize;

/// A log-linear histogram of microsecond values; merging is adding.
#[derive(Clone)]
pub(crate) struct Histogram {
    counts: Box<[u32; BUCKETS]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            max: 0,
        }
    }
}

impl Histogram {
    fn bucket(v: u64) -> usize {
        if v < u64::from(SUB) {
            return v as usize;
        }
        let log = 63 - v.leading_zeros();
        let shift = log - SUB.trailing_zeros();
        let sub = ((v >> shift) as u32) & (SUB - 1);
        ((log - SUB.trailing_zeros() + 1) * SUB + sub) as usize
    }

    /// Upper bound of a bucket's values.
    fn upper(b: usize) -> u64 {
        let b = b as u32;
        if b < SUB {
            return u64::from(b);
        }
        let group = b / SUB - 1;
        let sub = u64::from(b % SUB);
        ((u64::from(SUB) + sub + 1) << group) - 1
    }

    pub(crate) fn record(&mut self, micros: u64) {
        self.counts[Self::bucket(micros).min(BUCKETS - 1)] += 1;
        self.total += 1;
        self.max = self.max.max(micros);
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q` (0..=1), as the upper bound of its bucket, never above the max.
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return Self::upper(b).min(self.max);
            }
        }
        self.max
    }
}

/// What one arbiter counted since the last summary.
#[derive(Clone, Default)]
pub(crate) struct Window {
    pub(crate) invocations: u64,
    pub(crate) errors: u64,
    pub(crate) panics: u64,
    pub(crate) timeouts: u64,
    pub(crate) restarts: u64,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) max_pool_queue: u64,
    /// The longest a poller waited for a free handler, in ms.
    pub(crate) pool_wait_ms_max: u64,
    /// Polls of handler code that held their thread past the stall threshold.
    pub(crate) stalls: u64,
    pub(crate) stall_ms_max: u64,
    pub(crate) handler_us: Histogram,
    pub(crate) overhead_us: Histogram,
}

impl Window {
    pub(crate) fn merge(&mut self, o: &Window) {
        self.invocations += o.invocations;
        self.errors += o.errors;
        self.panics += o.panics;
        self.timeouts += o.timeouts;
        self.restarts += o.restarts;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.max_pool_queue = self.max_pool_queue.max(o.max_pool_queue);
        self.pool_wait_ms_max = self.pool_wait_ms_max.max(o.pool_wait_ms_max);
        self.stalls += o.stalls;
        self.stall_ms_max = self.stall_ms_max.max(o.stall_ms_max);
        self.handler_us.merge(&o.handler_us);
        self.overhead_us.merge(&o.overhead_us);
    }
}

/// Gauges read at summary time.
pub(crate) struct Gauges {
    pub(crate) num_pollers: u64,
    pub(crate) num_pollers_alive: u64,
    pub(crate) num_busy_handlers: u64,
    /// Invocations running on each handler arbiter.
    pub(crate) busy_by_arbiter: Vec<usize>,
}

/// One summary, ready to print.
pub(crate) struct Summary {
    fields: [(&'static str, f64); 19],
    /// `busy_by_arbiter`: a list, so a property of the EMF document rather than a metric.
    busy_by_arbiter: Vec<usize>,
    interval: Duration,
}

impl Summary {
    pub(crate) fn new(w: &Window, g: &Gauges, interval: Duration) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        let fields = [
            ("invocations_count", w.invocations as f64),
            ("errors_count", w.errors as f64),
            ("panics_count", w.panics as f64),
            ("timeouts_count", w.timeouts as f64),
            ("restarts_count", w.restarts as f64),
            ("num_pollers", g.num_pollers as f64),
            ("num_pollers_alive", g.num_pollers_alive as f64),
            ("num_busy_handlers", g.num_busy_handlers as f64),
            ("max_mailbox_depth", w.max_pool_queue as f64),
            ("pool_wait_ms_max", w.pool_wait_ms_max as f64),
            ("stalls_count", w.stalls as f64),
            ("stall_ms_max", w.stall_ms_max as f64),
            ("handler_ms_p50", ms(w.handler_us.quantile(0.5))),
            ("handler_ms_p99", ms(w.handler_us.quantile(0.99))),
            ("handler_ms_max", ms(w.handler_us.max)),
            ("overhead_us_p50", w.overhead_us.quantile(0.5) as f64),
            ("overhead_us_p99", w.overhead_us.quantile(0.99) as f64),
            ("bytes_in", w.bytes_in as f64),
            ("bytes_out", w.bytes_out as f64),
        ];
        Self {
            fields,
            busy_by_arbiter: g.busy_by_arbiter.clone(),
            interval,
        }
    }

    /// Emits the summary in the configured format.
    pub(crate) fn emit(&self, format: MetricsFormat, function_name: Option<&str>) {
        match format {
            MetricsFormat::Log => self.log(),
            MetricsFormat::Emf => {
                let mut line = serde_json::to_vec(&self.emf(function_name)).expect("metrics serialise");
                line.push(b'\n');
                let _ = std::io::stdout().lock().write_all(&line);
            }
        }
    }

    fn log(&self) {
        // In the order `new` builds them (a lookup by name per field, inlined 19 times, was a
        // third of this function's code).
        let v = self.fields.map(|(_, v)| v);
        let interval_ms = self.interval.as_millis() as u64;
        // Field names are spelled out: tracing needs them at compile time.
        tracing::info!(
            target: TARGET,
            interval_ms,
            invocations_count = v[0] as u64,
            errors_count = v[1] as u64,
            panics_count = v[2] as u64,
            timeouts_count = v[3] as u64,
            restarts_count = v[4] as u64,
            num_pollers = v[5] as u64,
            num_pollers_alive = v[6] as u64,
            num_busy_handlers = v[7] as u64,
            max_mailbox_depth = v[8] as u64,
            pool_wait_ms_max = v[9] as u64,
            stalls_count = v[10] as u64,
            stall_ms_max = v[11] as u64,
            busy_by_arbiter = %self.busy_list(),
            handler_ms_p50 = v[12],
            handler_ms_p99 = v[13],
            handler_ms_max = v[14],
            overhead_us_p50 = v[15] as u64,
            overhead_us_p99 = v[16] as u64,
            bytes_in = v[17] as u64,
            bytes_out = v[18] as u64,
            "metrics"
        );
    }

    /// `[1,0]`: JSON, which the JSON log lines write as a list ([`LIST_FIELD`]).
    fn busy_list(&self) -> String {
        serde_json::to_string(&self.busy_by_arbiter).expect("a list of numbers serialises")
    }

    /// A CloudWatch Embedded Metric Format document: the values at top level, declared under
    /// `_aws.CloudWatchMetrics` in namespace `LambdaActors` with the function name as dimension.
    pub(crate) fn emf(&self, function_name: Option<&str>) -> serde_json::Value {
        let unit = |name: &str| {
            if name.ends_with("_ms_p50") || name.ends_with("_ms_p99") || name.ends_with("_ms_max") {
                "Milliseconds"
            } else if name.starts_with("overhead_us") {
                "Microseconds"
            } else if name.starts_with("bytes_") {
                "Bytes"
            } else {
                "Count"
            }
        };
        let metrics: Vec<serde_json::Value> = self
            .fields
            .iter()
            .map(|(name, _)| serde_json::json!({"Name": name, "Unit": unit(name)}))
            .collect();
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let mut doc = serde_json::json!({
            "_aws": {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": "LambdaActors",
                    "Dimensions": [["FunctionName"]],
                    "Metrics": metrics,
                }],
            },
            "FunctionName": function_name.unwrap_or("local"),
            "interval_ms": self.interval.as_millis() as u64,
            "busy_by_arbiter": self.busy_by_arbiter,
        });
        for (name, value) in &self.fields {
            // Counts and bytes are whole numbers; latencies in ms keep their fraction.
            doc[*name] = if unit(name) == "Milliseconds" {
                serde_json::json!(value)
            } else {
                serde_json::json!(*value as u64)
            };
        }
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/observability.md's sample summary line has every field a summary writes, and no other.
    #[test]
    fn the_documented_sample_line_has_the_fields_a_summary_writes() {
        let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/observability.md"))
            .expect("docs/observability.md");
        let sample = page
            .lines()
            .find(|l| l.starts_with('{') && l.contains(r#""message":"metrics""#))
            .expect("a sample metrics line");
        let sample: serde_json::Map<String, serde_json::Value> = serde_json::from_str(sample).expect("JSON");
        let gauges = Gauges {
            num_pollers: 1,
            num_pollers_alive: 1,
            num_busy_handlers: 0,
            busy_by_arbiter: vec![0],
        };
        let summary = Summary::new(&Window::default(), &gauges, Duration::from_secs(1));
        let mut written: Vec<&str> = ["timestamp", "level", "message", "interval_ms", "busy_by_arbiter"].into();
        written.extend(summary.fields.iter().map(|(name, _)| *name));
        let mut documented: Vec<&str> = sample.keys().map(String::as_str).collect();
        written.sort_unstable();
        documented.sort_unstable();
        assert_eq!(documented, written);
    }

    #[test]
    fn histogram_quantiles_are_within_an_eighth() {
        let mut h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        let p50 = h.quantile(0.5) as f64;
        let p99 = h.quantile(0.99) as f64;
        assert!((5_000.0..=5_000.0 * 1.125).contains(&p50), "{p50}");
        assert!((9_900.0..=10_000.0).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0), 10_000);
        assert_eq!(Histogram::default().quantile(0.5), 0);
        for v in [0u64, 1, 7, 8, 9, 15, 16, 17, 1000, 123_456_789] {
            let b = Histogram::bucket(v);
            assert!(Histogram::upper(b) >= v, "{v}");
            assert!(b == 0 || Histogram::upper(b - 1) < v, "{v}");
        }
    }

    #[test]
    fn emf_document_declares_every_metric() {
        let mut w = Window {
            invocations: 3,
            errors: 1,
            ..Window::default()
        };
        w.handler_us.record(2_000);
        let s = Summary::new(
            &w,
            &Gauges {
                num_pollers: 4,
                num_pollers_alive: 4,
                num_busy_handlers: 0,
                busy_by_arbiter: vec![0, 0],
            },
            Duration::from_secs(60),
        );
        let doc = s.emf(Some("f"));
        let declared = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap();
        assert_eq!(declared.len(), 19);
        for m in declared {
            let name = m["Name"].as_str().unwrap();
            assert!(doc[name].is_number(), "{name} missing at top level");
        }
        assert_eq!(doc["invocations_count"], 3);
        assert_eq!(doc["num_pollers"], 4);
        assert_eq!(doc["handler_ms_max"], 2.0);
        assert_eq!(doc["FunctionName"], "f");
        assert_eq!(doc["busy_by_arbiter"], serde_json::json!([0, 0]));
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0], "FunctionName");
    }
}
