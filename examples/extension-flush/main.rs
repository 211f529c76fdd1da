//! The extension-flush example: an external extension (deploy the binary as
//! `/opt/extensions/extension-flush`, in a layer or the image) that buffers what it learns of
//! each invocation and flushes the buffer — to stdout here — when Lambda sends `SHUTDOWN`.
//! On Managed Instances it registers for `SHUTDOWN` only (Lambda sends no `INVOKE` there), so
//! it flushes an empty buffer: put what it should flush there from the function's side.
//!
//! `EXTENSION_FLUSH_FAIL=1` makes the flush fail and `EXTENSION_FLUSH_PANIC=1` makes an
//! `INVOKE` panic: both are reported to `/extension/exit/error`, as Lambda expects.

use lambda_actors::Error;
use lambda_actors_extension::{Extension, InvokeEvent, ShutdownEvent};

#[derive(Default)]
struct Flusher {
    buffered: Vec<String>,
}

impl Extension for Flusher {
    type Error = Error;

    async fn on_invoke(&mut self, event: InvokeEvent) -> Result<(), Error> {
        if std::env::var("EXTENSION_FLUSH_PANIC").is_ok_and(|v| v == "1") {
            panic!("extension-flush panicked on {}", event.request_id);
        }
        self.buffered.push(event.request_id);
        Ok(())
    }

    async fn on_shutdown(&mut self, event: ShutdownEvent) -> Result<(), Error> {
        if std::env::var("EXTENSION_FLUSH_FAIL").is_ok_and(|v| v == "1") {
            return Err(Error::new("FlushFailed", "the sink is gone"));
        }
        println!(
            "extension-flush: flushed {} invocations {:?} ({})",
            self.buffered.len(),
            self.buffered,
            event.shutdown_reason
        );
        Ok(())
    }
}

fn main() -> Result<(), lambda_actors_extension::ExitError> {
    lambda_actors_extension::run(Flusher::default())
}
