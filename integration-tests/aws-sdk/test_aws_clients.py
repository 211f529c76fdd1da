"""The AWS SDK for Python (boto3) and the AWS CLI as real clients of the embedded local server.

Starts the testbed example with AWS_LAMBDA_RUNTIME_API unset, so that it serves itself on a
free 127.0.0.1 port, then drives it with:
  - boto3 `invoke`: a buffered answer, a function error, `LogType='Tail'`;
  - boto3 `invoke_with_response_stream`: chunks that arrive spread over time with the payload
    exact, a stream that fails mid-way (an `InvokeComplete` with an `ErrorCode`, and only the
    bytes sent before the failure), an HTTP-integration prelude, `LogType='Tail'`;
  - the AWS CLI: `aws lambda invoke`. (`invoke-with-response-stream` is a command of AWS CLI v2
    only, which is not published on PyPI; boto3 above reads the same event stream.)

Needs boto3 and awscli (installed, pinned, by .ci/venv.sh) and the testbed binary
(target/debug/testbed, built by `cargo test --workspace`; TESTBED=path overrides). Every wait is
bounded; the testbed is stopped on exit. Ends with "N passed, N failed"; exits non-zero when
anything failed.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import boto3
import botocore
from botocore.config import Config

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TESTBED = os.environ.get("TESTBED", os.path.join(ROOT, "target", "debug", "testbed"))
FUNCTION = "testbed"
READY_SECS = 30
CALL_SECS = 30

# Every AWS client here talks to 127.0.0.1 only, with dummy credentials and no profile.
CLIENT_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_PAGER": "",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Testbed:
    """The testbed example serving itself locally; its output is collected by a thread."""

    def __init__(self):
        self.port = free_port()
        self.lines = []
        self.ready = threading.Event()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"LOCAL_LAMBDA_HOST": "127.0.0.1", "LOCAL_LAMBDA_PORT": str(self.port),
                    "AWS_LAMBDA_FUNCTION_NAME": FUNCTION})
        self.proc = subprocess.Popen([TESTBED], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(READY_SECS):
            self.stop()
            raise RuntimeError("testbed did not start within %d s:\n%s" % (READY_SECS, self.output()))

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            # The runtime logs this once every slot is polling the local server.
            if " started " in line and "lambda-actors" in line:
                self.ready.set()

    def output(self):
        return "\n".join(self.lines[-30:])

    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, name, fn):
        try:
            fn()
        except Exception:  # noqa: BLE001 - a failing check of any kind is reported, the rest go on
            self.failed += 1
            print("FAIL %s" % name)
            for line in traceback.format_exc().rstrip().splitlines():
                print("     " + line)
        else:
            self.passed += 1
            print("PASS %s" % name)


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def tail_lines(log_result):
    return base64.b64decode(log_result).decode("utf-8", "replace").splitlines()


def stream_events(client, payload, **kwargs):
    """Invokes with a streamed reply; returns (reply, [(seconds since the call, event)])."""
    started = time.monotonic()
    reply = client.invoke_with_response_stream(FunctionName=FUNCTION, Payload=json.dumps(payload), **kwargs)
    events = [(time.monotonic() - started, event) for event in reply["EventStream"]]
    return reply, events


def payload_of(events):
    return b"".join(e["PayloadChunk"]["Payload"] for _, e in events if "PayloadChunk" in e)


def completion_of(events):
    complete = [e["InvokeComplete"] for _, e in events if "InvokeComplete" in e]
    expect(len(complete) == 1, "exactly one InvokeComplete, got %r" % (events,))
    expect("InvokeComplete" in events[-1][1], "InvokeComplete comes last: %r" % (events,))
    return complete[0]


def main():
    if not os.access(TESTBED, os.X_OK):
        print("FAIL setup\n     no testbed binary at %s: cargo build -p lambda-actors-examples --bin testbed" % TESTBED)
        print("0 passed, 1 failed")
        return 1
    os.environ.update(CLIENT_ENV)
    started = time.monotonic()
    checks = Checks()
    testbed = Testbed()
    try:
        client = boto3.client(
            "lambda",
            endpoint_url=testbed.endpoint(),
            config=Config(read_timeout=CALL_SECS, connect_timeout=5, retries={"total_max_attempts": 1}),
        )
        print("boto3 %s, botocore %s, testbed on %s" % (boto3.__version__, botocore.__version__, testbed.endpoint()))

        def invoke_buffered():
            event = {"op": "echo", "n": 1, "text": "héllo"}
            reply = client.invoke(FunctionName=FUNCTION, Payload=json.dumps(event))
            expect(reply["StatusCode"] == 200, reply)
            expect("FunctionError" not in reply, reply)
            expect(reply["ExecutedVersion"] == "$LATEST", reply)
            expect(json.loads(reply["Payload"].read()) == event, "the echo is the event")

        def invoke_function_error():
            event = {"op": "error", "type": "ValidationError", "message": "bad order id"}
            reply = client.invoke(FunctionName=FUNCTION, Payload=json.dumps(event))
            expect(reply["StatusCode"] == 200, reply)
            expect(reply.get("FunctionError") == "Unhandled", reply)
            error = json.loads(reply["Payload"].read())
            expect(error["errorType"] == "ValidationError", error)
            expect(error["errorMessage"] == "bad order id", error)

        def invoke_log_tail():
            marker = "tail-marker-%d" % os.getpid()
            event = {"op": "log", "level": "info", "message": marker}
            reply = client.invoke(FunctionName=FUNCTION, Payload=json.dumps(event), LogType="Tail")
            request_id = reply["ResponseMetadata"]["RequestId"]
            lines = tail_lines(reply["LogResult"])
            expect(lines[0] == "START RequestId: %s Version: $LATEST" % request_id, lines)
            expect(any(marker in line and request_id in line for line in lines), "the marker line: %r" % lines)
            expect("END RequestId: %s" % request_id in lines, lines)
            expect(lines[-1].startswith("REPORT RequestId: %s\tDuration: " % request_id), lines)
            # Without Tail, no log comes back.
            plain = client.invoke(FunctionName=FUNCTION, Payload=json.dumps(event))
            expect("LogResult" not in plain, plain)

        def stream_spread_over_time():
            chunks, size, delay_ms = 5, 1000, 300
            event = {"op": "stream", "chunks": chunks, "chunk_bytes": size, "delay_ms": delay_ms}
            reply, events = stream_events(client, event)
            expect(reply["StatusCode"] == 200, reply)
            expect(reply["ExecutedVersion"] == "$LATEST", reply)
            expect(reply["ResponseStreamContentType"] == "application/vnd.amazon.eventstream", reply)
            expect(payload_of(events) == b"a" * (chunks * size), "the payload is exact")
            completion = completion_of(events)
            expect(not completion.get("ErrorCode"), completion)
            first = next(t for t, e in events if "PayloadChunk" in e)
            last = events[-1][0]
            # The function takes 4 x 300 ms between its chunks: a relay that buffered would
            # deliver the first chunk with the last. Half of that is a generous bound.
            expect(last - first >= (chunks - 1) * delay_ms / 1000 / 2,
                   "chunks arrived spread over time: first at %.3f s, end at %.3f s" % (first, last))

        def stream_failing_mid_way():
            size = 700
            event = {"op": "stream", "chunks": 5, "chunk_bytes": size, "delay_ms": 20, "fail_after": 2}
            _, events = stream_events(client, event)
            expect(payload_of(events) == b"a" * (2 * size), "only the bytes sent before the failure")
            completion = completion_of(events)
            expect(completion.get("ErrorCode") == "StreamFailed", completion)
            expect(completion.get("ErrorDetails") == "failed after 2 chunks", completion)

        def stream_error_before_first_byte():
            _, events = stream_events(client, {"op": "error", "type": "EarlyError", "message": "no bytes"})
            expect(payload_of(events) == b"", events)
            completion = completion_of(events)
            expect(completion.get("ErrorCode") == "EarlyError", completion)
            expect(completion.get("ErrorDetails") == "no bytes", completion)

        def stream_buffered_answer():
            event = {"op": "echo", "streamed": False}
            _, events = stream_events(client, event)
            expect(json.loads(payload_of(events)) == event, events)
            expect(not completion_of(events).get("ErrorCode"), events)

        def stream_http_prelude():
            event = {"op": "stream", "chunks": 2, "chunk_bytes": 3,
                     "http": {"statusCode": 201, "headers": {"x-kind": "prelude"}, "cookies": ["a=b"]}}
            _, events = stream_events(client, event)
            expect(payload_of(events) == b"aaaaaa", "the body without its prelude: %r" % payload_of(events))
            expect(not completion_of(events).get("ErrorCode"), events)

        def stream_log_tail():
            _, events = stream_events(client, {"op": "stream", "chunks": 1, "chunk_bytes": 5}, LogType="Tail")
            lines = tail_lines(completion_of(events)["LogResult"])
            expect(lines[0].startswith("START RequestId: "), lines)
            expect(lines[-1].startswith("REPORT RequestId: "), lines)

        def aws_cli(*args):
            return subprocess.run(["aws", "lambda", *args, "--endpoint-url", testbed.endpoint()],
                                  capture_output=True, text=True, timeout=CALL_SECS, env=os.environ)

        def cli_invoke():
            work = tempfile.mkdtemp()
            try:
                out = os.path.join(work, "out.json")
                event = {"op": "echo", "from": "aws-cli"}
                # AWS CLI v1 (the one on PyPI) takes the payload as it is; v2 would need
                # --cli-binary-format raw-in-base64-out.
                done = aws_cli("invoke", "--function-name", FUNCTION, "--payload", json.dumps(event),
                               "--log-type", "Tail", out)
                expect(done.returncode == 0, "aws lambda invoke: %d\n%s%s" % (done.returncode, done.stdout, done.stderr))
                summary = json.loads(done.stdout)
                expect(summary["StatusCode"] == 200, summary)
                expect(tail_lines(summary["LogResult"])[0].startswith("START RequestId: "), summary)
                with open(out) as f:
                    expect(json.load(f) == event, "the CLI wrote the echo")
            finally:
                shutil.rmtree(work)

        for name, fn in [
            ("boto3 invoke: buffered answer", invoke_buffered),
            ("boto3 invoke: function error", invoke_function_error),
            ("boto3 invoke: LogType=Tail", invoke_log_tail),
            ("boto3 invoke_with_response_stream: chunks spread over time, payload exact", stream_spread_over_time),
            ("boto3 invoke_with_response_stream: failure mid-way ends in InvokeComplete.ErrorCode", stream_failing_mid_way),
            ("boto3 invoke_with_response_stream: error before the first byte", stream_error_before_first_byte),
            ("boto3 invoke_with_response_stream: a buffered answer is one chunk", stream_buffered_answer),
            ("boto3 invoke_with_response_stream: HTTP-integration prelude", stream_http_prelude),
            ("boto3 invoke_with_response_stream: LogType=Tail", stream_log_tail),
            ("aws lambda invoke", cli_invoke),
        ]:
            checks.run(name, fn)
        alive = testbed.proc.poll() is None
        checks.run("the testbed is still running", lambda: expect(alive, testbed.output()))
    finally:
        testbed.stop()
    if checks.failed:
        print("----- testbed output (last 30 lines)\n" + testbed.output())
    print("aws clients test: finished in %.1f s" % (time.monotonic() - started))
    print("%d passed, %d failed" % (checks.passed, checks.failed))
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
