//! `X-Amz-Log-Type: Tail`: the last 4 KB of one invocation's log output, base64, as Lambda
//! returns it in `X-Amz-Log-Result` (and in a streamed invoke's `InvokeComplete.LogResult`).
//!
//! The server sees no log output of its own: the process that embeds it passes each log line
//! that belongs to an invocation to [`LogSink::record`] (lambda-actors does, from its log
//! layer). Only invocations whose caller asked for `Tail` are captured, so the cost for every
//! other line is one atomic load. Like Lambda, the tail is framed by `START`, `END` and
//! `REPORT` lines.

use base64::Engine as _;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// What Lambda returns: the last 4 KB.
pub(crate) const TAIL_BYTES: usize = 4 * 1024;

/// Invocations being captured, by request id.
#[derive(Debug, Default)]
pub(crate) struct LogTails {
    captures: Mutex<HashMap<String, Capture>>,
    /// `captures.len()`, read without the lock by [`LogSink::record`].
    active: AtomicUsize,
}

#[derive(Debug)]
struct Capture {
    started: Instant,
    /// The lines so far; trimmed to the last [`TAIL_BYTES`] whenever it doubles that.
    text: Vec<u8>,
}

impl LogTails {
    /// Starts capturing the lines of `request_id`, with Lambda's `START` line.
    pub(crate) fn begin(&self, request_id: &str) {
        let mut text = Vec::with_capacity(TAIL_BYTES);
        text.extend_from_slice(format!("START RequestId: {request_id} Version: $LATEST\n").as_bytes());
        let mut captures = self.captures.lock();
        captures.insert(
            request_id.to_owned(),
            Capture {
                started: Instant::now(),
                text,
            },
        );
        self.active.store(captures.len(), Ordering::Release);
    }

    fn append(&self, request_id: &str, line: &[u8]) {
        let mut captures = self.captures.lock();
        if let Some(capture) = captures.get_mut(request_id) {
            capture.push(line);
        }
    }

    /// Ends the capture: `END` and `REPORT` lines, then base64 of the last 4 KB. `None` when
    /// `request_id` was not being captured.
    pub(crate) fn finish(&self, request_id: &str) -> Option<String> {
        let mut capture = self.remove(request_id)?;
        let elapsed = capture.started.elapsed();
        let ms = crate::fixed::millis(elapsed);
        capture.push(format!("END RequestId: {request_id}\n").as_bytes());
        capture.push(
            format!(
                "REPORT RequestId: {request_id}\tDuration: {ms} ms\tBilled Duration: {} ms\t\n",
                elapsed.as_micros().div_ceil(1000)
            )
            .as_bytes(),
        );
        let from = capture.text.len().saturating_sub(TAIL_BYTES);
        Some(base64::engine::general_purpose::STANDARD.encode(&capture.text[from..]))
    }

    /// Drops the capture of an invocation whose caller went away.
    pub(crate) fn discard(&self, request_id: &str) {
        self.remove(request_id);
    }

    fn remove(&self, request_id: &str) -> Option<Capture> {
        if self.active.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut captures = self.captures.lock();
        let capture = captures.remove(request_id);
        self.active.store(captures.len(), Ordering::Release);
        capture
    }
}

impl Capture {
    fn push(&mut self, line: &[u8]) {
        self.text.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            self.text.push(b'\n');
        }
        if self.text.len() > 2 * TAIL_BYTES {
            let from = self.text.len() - TAIL_BYTES;
            self.text.drain(..from);
        }
    }
}

/// Where the embedding process sends log lines, for `X-Amz-Log-Type: Tail` and for the
/// Telemetry API's `function` records; from
/// [`LocalServer::log_sink`](crate::LocalServer::log_sink). Cheap to clone, usable from any
/// thread.
#[derive(Debug, Clone)]
pub struct LogSink(pub(crate) Arc<crate::dispatch::Shared>);

impl LogSink {
    /// Records one log line (with or without its newline) of the invocation `request_id`.
    /// Lines of invocations whose caller did not ask for `Tail` are ignored at the cost of
    /// one atomic load.
    pub fn record(&self, request_id: &str, line: &[u8]) {
        let tails = &self.0.tails;
        if tails.active.load(Ordering::Acquire) > 0 {
            tails.append(request_id, line);
        }
        if self.0.telemetry.count.load(Ordering::Acquire) > 0 {
            let text = String::from_utf8_lossy(line);
            self.0
                .telemetry
                .push("function", serde_json::Value::String(text.trim_end().to_owned()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(tail: &str) -> String {
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(tail).unwrap()).unwrap()
    }

    #[test]
    fn the_tail_is_framed_like_lambdas() {
        let tails = LogTails::default();
        tails.begin("r1");
        tails.append("r1", b"first line\n");
        tails.append("r1", b"second line");
        tails.append("other", b"not mine\n");
        let text = decoded(&tails.finish("r1").unwrap());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "START RequestId: r1 Version: $LATEST");
        assert_eq!(lines[1..3], ["first line", "second line"]);
        assert_eq!(lines[3], "END RequestId: r1");
        assert!(lines[4].starts_with("REPORT RequestId: r1\tDuration: "), "{}", lines[4]);
        assert_eq!(lines.len(), 5);
        assert!(tails.finish("r1").is_none(), "a capture ends once");
        assert_eq!(tails.active.load(Ordering::Acquire), 0);
    }

    #[test]
    fn only_the_last_four_kilobytes_are_kept() {
        let tails = LogTails::default();
        tails.begin("r2");
        for i in 0..1000 {
            tails.append("r2", format!("line {i:04} of the invocation\n").as_bytes());
        }
        let text = decoded(&tails.finish("r2").unwrap());
        assert_eq!(text.len(), TAIL_BYTES);
        assert!(text.contains("line 0999 of the invocation\nEND RequestId: r2\n"));
        assert!(!text.contains("START"), "the start scrolled out of the last 4 KB");
    }

    #[test]
    fn a_discarded_capture_records_nothing_more() {
        let tails = LogTails::default();
        tails.begin("r3");
        tails.discard("r3");
        tails.append("r3", b"late\n");
        assert!(tails.finish("r3").is_none());
        assert_eq!(tails.active.load(Ordering::Acquire), 0);
    }
}
