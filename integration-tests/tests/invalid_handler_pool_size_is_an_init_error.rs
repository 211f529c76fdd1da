//! A bad `LAMBDA_ACTORS_HANDLER_POOL_SIZE` is an init error naming the variable and the value,
//! in managed and in classic mode.

use crate::support::*;

#[test]
fn invalid_handler_pool_size_is_an_init_error() {
    let _m = shared_machine();
    for value in ["abc", "0", "-2", "3x"] {
        expect_init_failure(
            &[
                ("AWS_LAMBDA_MAX_CONCURRENCY", "4"),
                ("LAMBDA_ACTORS_HANDLER_POOL_SIZE", value),
            ],
            &["LAMBDA_ACTORS_HANDLER_POOL_SIZE", value],
        );
    }
    expect_init_failure(
        &[("LAMBDA_ACTORS_HANDLER_POOL_SIZE", "abc")],
        &["LAMBDA_ACTORS_HANDLER_POOL_SIZE", "abc"],
    );
}
