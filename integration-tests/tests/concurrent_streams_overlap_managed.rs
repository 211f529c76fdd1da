//! With `AWS_LAMBDA_MAX_CONCURRENCY=4`, four streams of five chunks 200 ms apart run at once:
//! all four end in well under 4 × one stream's time, their chunks interleave in time, and each
//! stream's bytes arrive complete on its own `/response`, none mixed with another's (each
//! stream uses its own chunk size, so a stray chunk would show).

use crate::support::*;
use std::time::{Duration, Instant};

const CHUNKS: usize = 5;
const DELAY_MS: u64 = 200;

fn stream_event(chunk_bytes: usize) -> Value {
    json!({"op": "stream", "chunks": CHUNKS, "chunk_bytes": chunk_bytes, "delay_ms": DELAY_MS})
}

#[track_caller]
fn check_whole(run: &Run, answer: &Answer, chunk_bytes: usize) {
    run.check(answer.kind == AnswerKind::Response, || {
        format!("{}: {:?}", answer.request_id, answer.kind)
    });
    let lens: Vec<usize> = answer.chunks.iter().map(|c| c.len).collect();
    run.check(lens == [chunk_bytes; CHUNKS], || {
        format!(
            "{}: chunk sizes {lens:?}, expected {CHUNKS} × {chunk_bytes}",
            answer.request_id
        )
    });
    run.check(
        answer.body.len() == CHUNKS * chunk_bytes && answer.body.iter().all(|&b| b == b'a'),
        || format!("{}: body of {} bytes", answer.request_id, answer.body.len()),
    );
    run.check(answer.trailers.is_empty(), || {
        format!("{}: trailers {:?}", answer.request_id, answer.trailers)
    });
}

#[test]
fn four_streams_run_at_once_managed() {
    let _m = whole_machine();
    let run = Run::managed(4, &[]);
    run.parked(4);

    let start = Instant::now();
    let single = run.send(stream_event(999));
    let answer = run.answer(&single);
    let one_stream = start.elapsed();
    check_whole(&run, &answer, 999);

    run.parked(4);
    let sizes = [1000, 1001, 1002, 1003];
    let start = Instant::now();
    let ids: Vec<String> = sizes.iter().map(|&b| run.send(stream_event(b))).collect();
    let answers: Vec<Answer> = ids.iter().map(|id| run.answer(id)).collect();
    let four_streams = start.elapsed();
    for (answer, &size) in answers.iter().zip(&sizes) {
        check_whole(&run, answer, size);
    }
    eprintln!("one stream of {CHUNKS} chunks {DELAY_MS} ms apart: {one_stream:?}; four at once: {four_streams:?}");
    let nominal = Duration::from_millis(DELAY_MS * (CHUNKS as u64 - 1));
    run.check(four_streams >= nominal, || {
        format!("four streams ended after {four_streams:?}: the delays did not happen")
    });
    run.check(four_streams < 2 * one_stream.max(nominal), || {
        format!("four concurrent streams took {four_streams:?}; one alone took {one_stream:?} (serial: 4×)")
    });
    // They overlapped: every stream's first chunk came before any stream's last.
    let latest_first = answers.iter().map(|a| a.chunks[0].at).max().unwrap();
    let earliest_last = answers.iter().map(|a| a.chunks[CHUNKS - 1].at).min().unwrap();
    run.check(latest_first < earliest_last, || {
        "the streams did not overlap: one ended before another began".to_string()
    });
    run.check(run.mock.max_in_flight() == 4, || {
        format!("max in flight {}, expected 4", run.mock.max_in_flight())
    });
    for id in ids.iter().chain([&single]) {
        let n = run.mock.answers_for(id).len();
        run.check(n == 1, || format!("{id} answered {n} times"));
    }
}
