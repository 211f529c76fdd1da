//! An `AWS_LAMBDA_RUNTIME_API` that cannot be parsed stops the process at init with a message on
//! stderr that names the value, and a non-zero exit.

use crate::support::*;

#[test]
fn invalid_runtime_api_is_reported() {
    let _m = shared_machine();
    for value in [
        "ftp://127.0.0.1:9001",
        "127.0.0.1:notaport",
        "[::1:9001",
        "http://",
        "host name:9001",
        "127.0.0.1:99999",
        // Pass a naive host:port check, but no URL can have them in its path.
        "127.0.0.1:9001/<rt>",
        "127.0.0.1:9001/caf\u{e9}",
    ] {
        let mut proc = ProcessBuilder::new(binary(TESTBED)).runtime_api(value).spawn();
        let Some(status) = proc.wait_exit(T) else {
            panic!(
                "AWS_LAMBDA_RUNTIME_API={value:?}: still running after {T:?}\n{}",
                proc.output()
            )
        };
        assert!(
            !status.success(),
            "AWS_LAMBDA_RUNTIME_API={value:?}: exit {status}, expected non-zero\n{}",
            proc.output()
        );
        let stderr = proc.stream_lines(Stream::Stderr).join("\n");
        assert!(
            stderr.contains(value),
            "AWS_LAMBDA_RUNTIME_API={value:?}: stderr should name the value\n{}",
            proc.output()
        );
        assert!(
            stderr.contains("AWS_LAMBDA_RUNTIME_API"),
            "AWS_LAMBDA_RUNTIME_API={value:?}: stderr should name the variable\n{}",
            proc.output()
        );
    }
}
