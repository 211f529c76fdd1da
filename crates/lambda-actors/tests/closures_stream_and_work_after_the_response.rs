//! The closure forms of streaming and of work after the response, served by the local server:
//! `run_stream_fn` with a body from a `Stream` (an `Err` item ends it with error trailers, which
//! the local server reports as a function error after the bytes sent), and `run_response_fn`,
//! which answers through the writer and goes on working.

#![cfg(feature = "local-server")]

use lambda_actors::testing::TestFunction;
use lambda_actors::{Context, Error, ResponseWriter, StreamResponse};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A stream of `n` chunks, or of `n` chunks then an error when `fail`.
struct Chunks {
    left: u32,
    fail: bool,
}

impl futures_core::Stream for Chunks {
    type Item = Result<String, Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(match (self.left, self.fail) {
            (0, false) => None,
            (0, true) => {
                self.fail = false;
                Some(Err(Error::new("ChunkFailed", "the source broke")))
            }
            (n, _) => {
                self.left -= 1;
                Some(Ok(format!("chunk{n};")))
            }
        })
    }
}

async fn chunks(fail: bool, _ctx: Context) -> Result<StreamResponse, Error> {
    Ok(StreamResponse::from_stream(Chunks { left: 3, fail }))
}

#[test]
fn a_stream_closure_sends_every_chunk_and_an_error_in_the_trailers() {
    let function = TestFunction::start_with(1, |rt| rt.run_stream_fn(chunks)).unwrap();
    let reply = function.invoke_raw(b"false").unwrap();
    assert_eq!(String::from_utf8_lossy(&reply.body), "chunk3;chunk2;chunk1;");
    assert!(!reply.is_function_error(), "{reply:?}");
    let reply = function.invoke_raw(b"true").unwrap();
    assert!(
        String::from_utf8_lossy(&reply.body).starts_with("chunk3;chunk2;chunk1;"),
        "{reply:?}"
    );
    assert!(
        reply.is_function_error(),
        "the error trailers should make it a function error: {reply:?}"
    );
    function.stop().unwrap();
}

#[test]
fn a_writer_closure_answers_then_keeps_working() {
    let done = Arc::new(AtomicU32::new(0));
    let work = done.clone();
    let function = TestFunction::start_with(1, move |rt| {
        rt.run_response_fn(move |n: u32, _ctx: Context, out: ResponseWriter| {
            let work = work.clone();
            async move {
                out.send(&serde_json::json!({ "accepted": n })).await?;
                tokio::time::sleep(Duration::from_millis(300)).await;
                work.store(n, Ordering::SeqCst);
                Ok::<_, Error>(())
            }
        })
    })
    .unwrap();
    let started = Instant::now();
    let answer: serde_json::Value = function.invoke(&7).unwrap();
    assert_eq!(answer, serde_json::json!({ "accepted": 7 }));
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "the answer waited for the work"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while done.load(Ordering::SeqCst) != 7 {
        assert!(Instant::now() < deadline, "the work after the response never finished");
        std::thread::sleep(Duration::from_millis(10));
    }
    function.stop().unwrap();
}
