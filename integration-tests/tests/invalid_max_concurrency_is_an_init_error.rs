//! An `AWS_LAMBDA_MAX_CONCURRENCY` that is not an integer ≥ 1 is an init error naming the
//! variable and the value: posted to `/init/error`, non-zero exit, no `/next`, and printed.

use crate::support::*;

#[test]
fn invalid_max_concurrency_is_an_init_error() {
    let _m = shared_machine();
    for value in ["abc", "0", "-3", "8x", " 8", "1.5", "99999999999999999999999"] {
        let run = expect_init_failure(
            &[("AWS_LAMBDA_MAX_CONCURRENCY", value)],
            &["AWS_LAMBDA_MAX_CONCURRENCY", value],
        );
        let printed = run
            .proc
            .lines()
            .iter()
            .any(|l| l.text.contains("AWS_LAMBDA_MAX_CONCURRENCY"));
        run.check(printed, || {
            format!("value {value:?}: the init error should also be printed")
        });
    }
}
