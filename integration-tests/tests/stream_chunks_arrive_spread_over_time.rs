//! A streamed response leaves the runtime chunk by chunk: five 100-byte writes 200 ms apart
//! reach the Runtime API as five chunks spread over ~800 ms (not one read at the end, not held
//! back to fill an 8 KiB buffer), on a `/response` declared as a stream. Prints the time to
//! first byte: from the `/next` reply to the first chunk's arrival.

use crate::support::*;
use std::time::Duration;

const CHUNKS: usize = 5;
const CHUNK_BYTES: usize = 100;
const DELAY_MS: u64 = 200;

#[test]
fn stream_chunks_arrive_spread_over_time() {
    let _m = whole_machine();
    let run = Run::classic(&[]);
    let mut first_bytes = Vec::new();
    for round in 0..3 {
        let id = run.send(json!({
            "op": "stream", "chunks": CHUNKS, "chunk_bytes": CHUNK_BYTES, "delay_ms": DELAY_MS,
        }));
        let answer = run.answer(&id);
        run.check(answer.kind == AnswerKind::Response, || {
            format!("round {round}: expected a streamed /response, got {:?}", answer.kind)
        });
        run.check(
            answer.header("Lambda-Runtime-Function-Response-Mode") == Some("streaming"),
            || format!("round {round}: not declared as a stream: {:?}", answer.headers),
        );
        run.check(
            answer.body.len() == CHUNKS * CHUNK_BYTES && answer.body.iter().all(|&b| b == b'a'),
            || {
                format!(
                    "round {round}: body of {} bytes: {:?}",
                    answer.body.len(),
                    answer.body_text()
                )
            },
        );
        let lens: Vec<usize> = answer.chunks.iter().map(|c| c.len).collect();
        run.check(lens == [CHUNK_BYTES; CHUNKS], || {
            format!("round {round}: each write should be one chunk, got chunk sizes {lens:?}")
        });
        run.check(answer.trailers.is_empty(), || {
            format!(
                "round {round}: a stream that succeeded has no trailers: {:?}",
                answer.trailers
            )
        });
        let first = answer.chunks[0].at;
        let last = answer.chunks[CHUNKS - 1].at;
        let spread = last - first;
        run.check(spread >= Duration::from_millis(600), || {
            format!("round {round}: first and last chunk arrived {spread:?} apart; written ~800 ms apart")
        });
        for (n, pair) in answer.chunks.windows(2).enumerate() {
            let gap = pair[1].at - pair[0].at;
            run.check(gap >= Duration::from_millis(100), || {
                format!(
                    "round {round}: chunks {n} and {} arrived {gap:?} apart (written 200 ms apart)",
                    n + 1
                )
            });
        }
        let delivered = run
            .mock
            .deliveries()
            .iter()
            .find(|d| d.request_id == id)
            .map(|d| d.at)
            .unwrap_or_else(|| run.fail(&format!("round {round}: no delivery recorded for {id}")));
        let ttfb = first.saturating_duration_since(delivered);
        run.check(ttfb < Duration::from_millis(500), || {
            format!("round {round}: first chunk {ttfb:?} after /next; it is written at once")
        });
        first_bytes.push(ttfb);
    }
    first_bytes.sort();
    eprintln!(
        "stream time to first byte (/next reply -> first chunk at the Runtime API, debug build): \
         min {:?}, median {:?}, max {:?}",
        first_bytes[0], first_bytes[1], first_bytes[2]
    );
}
