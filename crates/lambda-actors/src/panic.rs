//! Turning a panic inside a handler's future into a value.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Polls the inner future inside `catch_unwind`; a panic becomes `Err(message)`.
pub(crate) struct CatchUnwind<F: ?Sized>(pub(crate) Pin<Box<F>>);

impl<F: Future + ?Sized> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The handler's state is dropped with the future after a panic and rebuilt from the
        // factory, so nothing observes it half-updated: asserting unwind safety is sound.
        match catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
        }
    }
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn panics_become_errors_and_values_pass_through() {
        let ok = CatchUnwind(Box::pin(async { 7 })).await;
        assert_eq!(ok, Ok(7));
        let err = CatchUnwind(Box::pin(async {
            if ok.is_ok() {
                panic!("boom {}", 1);
            }
        }))
        .await;
        assert_eq!(err, Err("boom 1".to_owned()));
    }
}
