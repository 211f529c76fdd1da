//! Log output in Lambda's formats: flat JSON lines (Lambda's schema) or readable text, with
//! the invocation's `requestId` on every line emitted inside it.

use crate::config::LogFormat;
use parking_lot::RwLock;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Target of the per-invocation root span; its fields go on every line inside it.
pub(crate) const INVOCATION_TARGET: &str = "lambda_actors::invocation";

/// A receiver of every line logged for an invocation: its request id and the line as
/// written. The embedded local server takes them for `X-Amz-Log-Type: Tail`.
pub(crate) type LogTap = Arc<dyn Fn(&str, &[u8]) + Send + Sync>;

static TAPS: RwLock<Vec<(u64, LogTap)>> = RwLock::new(Vec::new());
/// `TAPS.len()`, so that a line costs one atomic load when nothing listens (on Lambda).
static TAP_COUNT: AtomicUsize = AtomicUsize::new(0);
#[cfg(feature = "local-server")]
static NEXT_TAP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Passes every invocation's log lines to `tap` until the guard is dropped.
#[cfg(feature = "local-server")]
pub(crate) fn add_tap(tap: LogTap) -> TapGuard {
    let id = NEXT_TAP.fetch_add(1, Ordering::Relaxed);
    let mut taps = TAPS.write();
    taps.push((id, tap));
    TAP_COUNT.store(taps.len(), Ordering::Release);
    TapGuard(id)
}

/// Removes its tap when dropped.
#[cfg(feature = "local-server")]
#[derive(Debug)]
pub(crate) struct TapGuard(u64);

#[cfg(feature = "local-server")]
impl Drop for TapGuard {
    fn drop(&mut self) {
        let mut taps = TAPS.write();
        taps.retain(|(id, _)| *id != self.0);
        TAP_COUNT.store(taps.len(), Ordering::Release);
    }
}

/// Installs the runtime's subscriber. Returns false (and changes nothing) when a global
/// subscriber is already set.
pub(crate) fn init(format: LogFormat, filter: &str) -> bool {
    let (targets, bad_filter) = match filter.parse::<Targets>() {
        Ok(t) => (t, None),
        Err(e) => (
            Targets::new().with_default(Level::INFO),
            Some(format!("{filter:?}: {e}")),
        ),
    };
    // The invocation span is always on, whatever the level: it is never printed itself, and
    // without it a line logged inside an invocation (at ERROR with AWS_LAMBDA_LOG_LEVEL=ERROR,
    // or under RUST_LOG=my_crate=debug) would lose its requestId.
    let targets = targets.with_target(INVOCATION_TARGET, Level::TRACE);
    let subscriber = tracing_subscriber::registry().with(LambdaLayer { format }.with_filter(targets));
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        return false;
    }
    if let Some(bad) = bad_filter {
        tracing::warn!("ignoring a log filter that does not parse, using INFO: {bad}");
    }
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = crate::panic::panic_message(info.payload());
        tracing::error!(panic = true, "panicked{location}: {message}");
    }));
    true
}

/// Text logs at INFO, for errors found before the configuration is known.
pub(crate) fn init_default() {
    init(LogFormat::Text, "info");
}

/// The fields of an invocation span that every line inside it carries.
#[derive(Default)]
struct InvocationFields {
    request_id: Option<String>,
    trace_id: Option<String>,
    tenant_id: Option<String>,
}

impl Visit for InvocationFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        let slot = match field.name() {
            "requestId" => &mut self.request_id,
            "traceId" => &mut self.trace_id,
            "tenantId" => &mut self.tenant_id,
            _ => return,
        };
        *slot = Some(value.to_owned());
    }

    // None of the three is a number; without this, tracing's default would format the number
    // with `Debug` (and link core's float printing).
    fn record_f64(&mut self, _: &Field, _: f64) {}

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let slot = match field.name() {
            "requestId" => &mut self.request_id,
            "traceId" => &mut self.trace_id,
            "tenantId" => &mut self.tenant_id,
            _ => return,
        };
        *slot = Some(format!("{value:?}"));
    }
}

struct LambdaLayer {
    format: LogFormat,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for LambdaLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().target() != INVOCATION_TARGET {
            return;
        }
        let mut fields = InvocationFields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut line = String::with_capacity(256);
        let mut fields = EventFields {
            format: self.format,
            summary: event.metadata().target() == crate::metrics::TARGET,
            message: String::new(),
            rest: String::new(),
            ids: InvocationFields::default(),
        };
        event.record(&mut fields);
        let level = match *event.metadata().level() {
            Level::TRACE => "TRACE",
            Level::DEBUG => "DEBUG",
            Level::INFO => "INFO",
            Level::WARN => "WARN",
            Level::ERROR => "ERROR",
        };
        let timestamp = rfc3339_millis(SystemTime::now());
        let scope = ctx.event_scope(event);
        let invocation = scope.and_then(|scope| {
            scope
                .from_root()
                .find(|span| span.extensions().get::<InvocationFields>().is_some())
        });
        let ext = invocation.as_ref().map(|span| span.extensions());
        let inv = ext.as_ref().and_then(|e| e.get::<InvocationFields>());
        // An id given on the event itself wins over the span's: never two `requestId` keys.
        let pick = |own: &Option<String>, span: Option<&Option<String>>| -> Option<String> {
            own.clone().or_else(|| span.and_then(Clone::clone))
        };
        let request_id = pick(&fields.ids.request_id, inv.map(|i| &i.request_id));
        let trace_id = pick(&fields.ids.trace_id, inv.map(|i| &i.trace_id));
        let tenant_id = pick(&fields.ids.tenant_id, inv.map(|i| &i.tenant_id));
        match self.format {
            LogFormat::Json => {
                line.push_str("{\"timestamp\":\"");
                line.push_str(&timestamp);
                line.push_str("\",\"level\":\"");
                line.push_str(level);
                line.push_str("\",\"message\":");
                push_json_str(&mut line, &fields.message);
                for (key, value) in [
                    ("requestId", &request_id),
                    ("traceId", &trace_id),
                    ("tenantId", &tenant_id),
                ] {
                    if let Some(v) = value {
                        let _ = write!(line, ",\"{key}\":");
                        push_json_str(&mut line, v);
                    }
                }
                line.push_str(&fields.rest);
                line.push_str("}\n");
            }
            LogFormat::Text => {
                line.push_str(&timestamp);
                let _ = write!(line, " {level:>5}");
                if let Some(id) = &request_id {
                    let _ = write!(line, " [{id}]");
                }
                line.push(' ');
                // One record is one line, even when a message has newlines in it.
                push_one_line(&mut line, &fields.message);
                line.push_str(&fields.rest);
                line.push('\n');
            }
        }
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
        if let Some(id) = &request_id {
            if TAP_COUNT.load(Ordering::Acquire) > 0 {
                for (_, tap) in TAPS.read().iter() {
                    tap(id, line.as_bytes());
                }
            }
        }
    }
}

struct EventFields {
    format: LogFormat,
    /// The metrics summary: its list fields are written as JSON lists, not strings.
    summary: bool,
    message: String,
    rest: String,
    ids: InvocationFields,
}

impl EventFields {
    fn push(&mut self, name: &str, value: JsonValue<'_>) {
        if let ("requestId" | "traceId" | "tenantId", JsonValue::Str(s)) = (name, &value) {
            let field = match name {
                "requestId" => &mut self.ids.request_id,
                "traceId" => &mut self.ids.trace_id,
                _ => &mut self.ids.tenant_id,
            };
            *field = Some((*s).to_owned());
            return;
        }
        if name == "message" {
            // A message that ends a line itself (a panic message, a formatted error) would end
            // in a visible `\n` once escaped onto one line.
            match value {
                JsonValue::Str(s) | JsonValue::Raw(s) => self.message.push_str(s.trim_end_matches(['\n', '\r'])),
            }
            return;
        }
        match self.format {
            LogFormat::Json => {
                self.rest.push(',');
                push_json_str(&mut self.rest, name);
                self.rest.push(':');
                match value {
                    JsonValue::Str(s) => push_json_str(&mut self.rest, s),
                    JsonValue::Raw(s) => self.rest.push_str(s),
                }
            }
            LogFormat::Text => {
                let _ = write!(self.rest, " {name}=");
                match value {
                    JsonValue::Str(s) => push_one_line(&mut self.rest, s),
                    JsonValue::Raw(s) => self.rest.push_str(s),
                }
            }
        }
    }
}

enum JsonValue<'a> {
    Str(&'a str),
    Raw(&'a str),
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field.name(), JsonValue::Str(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field.name(), JsonValue::Raw(&value.to_string()));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field.name(), JsonValue::Raw(&value.to_string()));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field.name(), JsonValue::Raw(&f64_json(value)));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field.name(), JsonValue::Raw(if value { "true" } else { "false" }));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field.name(), JsonValue::Str(&value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        // tracing has no list values: the summary passes `busy_by_arbiter` as its JSON text.
        if self.summary && field.name() == crate::metrics::LIST_FIELD {
            return self.push(field.name(), JsonValue::Raw(&text));
        }
        self.push(field.name(), JsonValue::Str(&text));
    }
}

/// A JSON number; JSON has no NaN or infinity, so those are strings. serde_json's float
/// printing is already in the binary: `f64`'s `Display` would link core's (about 12 KB) for
/// this one field type.
fn f64_json(value: f64) -> String {
    match serde_json::Number::from_f64(value) {
        Some(number) => number.to_string(),
        None if value.is_nan() => "\"NaN\"".to_owned(),
        None if value > 0.0 => "\"inf\"".to_owned(),
        None => "\"-inf\"".to_owned(),
    }
}

fn push_json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).expect("a str always serialises"));
}

fn push_one_line(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// `2026-11-26T15:08:31.123Z` (shared with the local server's telemetry records).
pub(crate) use lambda_actors_api::rfc3339_millis;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use std::time::UNIX_EPOCH;

    #[test]
    fn float_fields_are_json_numbers_or_named_strings() {
        assert_eq!(f64_json(1.5), "1.5");
        assert_eq!(f64_json(0.001), "0.001");
        assert_eq!(f64_json(-2.25), "-2.25");
        assert_eq!(f64_json(f64::NAN), "\"NaN\"");
        assert_eq!(f64_json(f64::INFINITY), "\"inf\"");
        assert_eq!(f64_json(f64::NEG_INFINITY), "\"-inf\"");
    }

    #[test]
    fn timestamps_are_rfc3339_utc_millis() {
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_705_711_123);
        assert_eq!(rfc3339_millis(t), "2026-11-26T15:08:31.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339_millis(leap), "2000-02-29T00:00:00.000Z");
    }
}
