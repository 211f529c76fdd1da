//! `TESTBED_INIT_FAIL=<message>` makes initialisation fail: the message goes to `/init/error`,
//! the process exits non-zero, and no event is ever polled.

use crate::support::*;

const MESSAGE: &str = "database unreachable: code 7 (ü)";

#[test]
fn init_failure_is_posted_and_exits_classic() {
    let _m = shared_machine();
    expect_init_failure(&[("TESTBED_INIT_FAIL", MESSAGE)], &[MESSAGE]);
}

#[test]
fn init_failure_is_posted_and_exits_managed() {
    let _m = shared_machine();
    let run = expect_init_failure(
        &[("TESTBED_INIT_FAIL", MESSAGE), ("AWS_LAMBDA_MAX_CONCURRENCY", "4")],
        &[MESSAGE],
    );
    // Several workers must not each report the same init failure.
    let n = run.mock.init_errors().len();
    run.check(n == 1, || format!("{n} init errors posted, expected exactly one"));
}
