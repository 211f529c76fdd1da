//! The background example: answer at once, then keep working. The caller gets
//! `{"accepted": true, "job": .., "requestId": ..}` as soon as the event is read; the handler
//! then runs the job's steps, and every log line it writes carries the invocation's
//! `requestId` (the work runs inside the invocation's span — JSON logs on Managed Instances
//! show it as a `requestId` key). The slot takes its next event only when the work is done.

use lambda_actors::{Context, Error, ResponseHandler, ResponseWriter};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

#[derive(Deserialize)]
struct Job {
    job: String,
    #[serde(default = "default_steps")]
    steps: u32,
}

fn default_steps() -> u32 {
    3
}

struct Worker {
    step_time: Duration,
}

impl ResponseHandler for Worker {
    type Event = Job;
    type Error = Error;

    async fn handle(&mut self, event: Job, ctx: Context, out: ResponseWriter) -> Result<(), Error> {
        out.send(&json!({ "accepted": true, "job": event.job, "requestId": ctx.request_id() }))
            .await?; // the caller has its answer now
        tracing::info!("job {} accepted, {} steps to go", event.job, event.steps);
        for step in 1..=event.steps {
            tokio::time::sleep(self.step_time).await;
            tracing::info!("job {}: step {step}/{} done", event.job, event.steps);
        }
        tracing::info!("job {} finished", event.job);
        Ok(())
    }
}

fn main() -> Result<(), lambda_actors::RuntimeError> {
    lambda_actors::Runtime::new()
        .example_event(r#"{"job": "thumbnails-42", "steps": 3}"#)
        .run_response_handler(|_| {
            Ok(Worker {
                step_time: Duration::from_millis(500),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_actors::testing::TestFunction;
    use serde_json::Value;
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    /// Collects the formatted log lines.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    #[test]
    fn answers_first_then_works_with_the_request_id_on_every_line() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();

        let function = TestFunction::start_response_handler(|| {
            Ok(Worker {
                step_time: Duration::from_millis(300),
            })
        })
        .unwrap();
        let started = Instant::now();
        let out: Value = function.invoke(&json!({"job": "thumbnails-42", "steps": 2})).unwrap();
        let answered_after = started.elapsed();
        assert_eq!((&out["accepted"], &out["job"]), (&json!(true), &json!("thumbnails-42")));
        let request_id = out["requestId"].as_str().unwrap().to_owned();
        assert!(!lines.text().contains("finished"), "answered before the work ended");
        assert!(
            answered_after < Duration::from_millis(600),
            "answered after {answered_after:?}"
        );

        let deadline = Instant::now() + Duration::from_secs(10);
        while !lines.text().contains("job thumbnails-42 finished") {
            assert!(Instant::now() < deadline, "the work did not finish: {}", lines.text());
            std::thread::sleep(Duration::from_millis(20));
        }
        let text = lines.text();
        let work: Vec<&str> = text.lines().filter(|l| l.contains("job thumbnails-42")).collect();
        assert_eq!(work.len(), 4, "accepted, two steps, finished: {text}");
        for line in work {
            assert!(line.contains(&request_id), "no request id {request_id} in {line:?}");
        }
        function.stop().unwrap();
    }
}
