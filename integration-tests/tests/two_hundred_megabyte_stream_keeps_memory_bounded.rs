//! A 200 MiB stream (200 writes of 1 MiB, no delay) goes through the runtime whole, while the
//! runtime's peak resident memory (`VmHWM`) stays under 64 MiB: a stream is never accumulated.
//! The mock counts the bytes and throws them away, so the test holds none of them either.
//! Prints the measured peak.

use crate::support::*;
use std::time::{Duration, Instant};

const CHUNKS: u64 = 200;
const CHUNK_BYTES: u64 = 1 << 20;
const PEAK_LIMIT_KIB: u64 = 64 * 1024;

/// A `kB` field of `/proc/<pid>/status` (`VmHWM`, `VmRSS`).
fn status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(&format!("{field}:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn two_hundred_megabyte_stream_keeps_memory_bounded() {
    let _m = whole_machine();
    let mut run = Run::classic(&[]);
    run.mock.discard_chunked_bodies();
    run.parked(1);
    let pid = run.proc.pid().to_string();
    let Some(idle_peak) = status_kib(&pid, "VmHWM") else {
        eprintln!("/proc/{pid}/status has no VmHWM (not Linux?): skipping the memory check");
        return;
    };
    let start = Instant::now();
    let id = run.send(json!({
        "op": "stream", "chunks": CHUNKS, "chunk_bytes": CHUNK_BYTES, "delay_ms": 0,
    }));
    let answer = run.answer_within(&id, Duration::from_secs(60));
    let took = start.elapsed();
    // Read before anything can end the process.
    run.assert_running("process died during the 200 MiB stream");
    let peak = status_kib(&pid, "VmHWM").unwrap_or_else(|| run.fail("VmHWM unreadable after the stream"));
    let own_peak = status_kib("self", "VmHWM");
    eprintln!(
        "200 MiB stream: {took:?}; runtime VmHWM {peak} KiB after the stream ({idle_peak} KiB when idle); \
         test process VmHWM {own_peak:?} KiB"
    );
    run.check(answer.kind == AnswerKind::Response, || format!("{:?}", answer.kind));
    run.check(answer.discarded_bytes == CHUNKS * CHUNK_BYTES, || {
        format!("{} bytes arrived of {}", answer.discarded_bytes, CHUNKS * CHUNK_BYTES)
    });
    run.check(answer.body.is_empty(), || {
        format!("the mock kept {} bytes of the stream", answer.body.len())
    });
    let lens_ok = answer.chunks.len() as u64 == CHUNKS && answer.chunks.iter().all(|c| c.len as u64 == CHUNK_BYTES);
    run.check(lens_ok, || {
        format!(
            "{} chunks; expected {CHUNKS} of {CHUNK_BYTES} bytes",
            answer.chunks.len()
        )
    });
    run.check(answer.trailers.is_empty(), || {
        format!("trailers: {:?}", answer.trailers)
    });
    run.check(peak < PEAK_LIMIT_KIB, || {
        format!("the runtime's peak RSS reached {peak} KiB streaming 200 MiB (limit {PEAK_LIMIT_KIB} KiB)")
    });
    if let Some(own) = own_peak {
        run.check(own < CHUNKS * CHUNK_BYTES / 1024, || {
            format!("the test process peaked at {own} KiB: did the mock keep the stream?")
        });
    }
    let next = run.send(json!({"op": "echo", "after": "200 MiB"}));
    let body = run.ok_json(&run.answer(&next));
    run.check(body["after"] == "200 MiB", || format!("echo after the stream: {body}"));
}
