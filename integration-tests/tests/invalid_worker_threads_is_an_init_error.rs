//! A bad `LAMBDA_ACTORS_WORKER_THREADS` is an init error naming the variable and the value,
//! in managed and in classic mode.

use crate::support::*;

#[test]
fn invalid_worker_threads_is_an_init_error() {
    let _m = shared_machine();
    for value in ["abc", "0", "-1", "2x"] {
        expect_init_failure(
            &[
                ("AWS_LAMBDA_MAX_CONCURRENCY", "4"),
                ("LAMBDA_ACTORS_WORKER_THREADS", value),
            ],
            &["LAMBDA_ACTORS_WORKER_THREADS", value],
        );
    }
    expect_init_failure(
        &[("LAMBDA_ACTORS_WORKER_THREADS", "abc")],
        &["LAMBDA_ACTORS_WORKER_THREADS", "abc"],
    );
}
