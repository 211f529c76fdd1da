//! The telemetry-logs example: an external extension (deploy it as
//! `/opt/extensions/telemetry-logs`) that subscribes to the function's log lines through the
//! Telemetry API and forwards them, batch by batch, to a sink — stdout here; a file, a log
//! service or a queue in real life — and reports what it forwarded on `SHUTDOWN`.
//!
//! The listener takes every batch at once and queues it for the actor; if the actor falls
//! behind, batches are dropped and counted, so the function is never held up.

use lambda_actors::Error;
use lambda_actors_extension::{Events, Extension, RecordClass, ShutdownEvent, Telemetry, TelemetryRecord};

#[derive(Default)]
struct Forwarder {
    lines: u64,
    batches: u64,
}

impl Extension for Forwarder {
    type Error = Error;

    fn events(&self) -> Events {
        // Telemetry comes in on its own channel: the lifecycle is only needed to flush.
        Events {
            invoke: false,
            shutdown: true,
        }
    }

    fn telemetry(&self) -> Option<Telemetry> {
        Some(Telemetry::function_logs())
    }

    async fn on_telemetry(&mut self, batch: Vec<TelemetryRecord>) -> Result<(), Error> {
        self.batches += 1;
        for record in batch.iter().filter(|r| r.class() == RecordClass::Function) {
            self.lines += 1;
            let line = record
                .record
                .as_str()
                .map_or_else(|| record.record.to_string(), str::to_owned);
            println!("telemetry-logs: {} {line}", record.time);
        }
        Ok(())
    }

    async fn on_shutdown(&mut self, event: ShutdownEvent) -> Result<(), Error> {
        println!(
            "telemetry-logs: forwarded {} lines in {} batches ({})",
            self.lines, self.batches, event.shutdown_reason
        );
        Ok(())
    }
}

fn main() -> Result<(), lambda_actors_extension::ExitError> {
    lambda_actors_extension::run(Forwarder::default())
}
