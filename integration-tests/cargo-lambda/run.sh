#!/usr/bin/env bash
# cargo-lambda compatibility test: our runtime against a Runtime API written by others.
#
# Starts `cargo lambda watch --only-lambda-apis` (cargo-lambda's Runtime API and Invoke API
# emulator) on a free loopback port, starts the testbed example against it in Managed
# Instances mode (AWS_LAMBDA_MAX_CONCURRENCY=4), then checks:
#   1. echo: a round trip through `cargo lambda invoke`;
#   2. concurrency: 4 simultaneous {"op":"sleep","ms":1000} all succeed in about one sleep
#      (well under the 4 s they would take one after the other);
#   3. error: {"op":"error"} comes back as a function error, with its type and message, both
#      through the Invoke API and through `cargo lambda invoke` (which must exit non-zero);
#   4. the testbed process is still running after all of it.
#
# Needs: cargo-lambda on PATH (`pip install cargo-lambda`), curl, python3, and the testbed
# binary (target/debug/testbed, built by `cargo test --workspace`; TESTBED=path overrides).
# Every wait is bounded; everything started here is stopped on exit. Ends with
# "N passed, N failed" and exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.."

TESTBED="${TESTBED:-target/debug/testbed}"
SLEEP_MS=1000
CONCURRENT=4
# "About one sleep": all four within this many ms (one after the other they take 4000 ms).
CONCURRENT_LIMIT_MS="${CONCURRENT_LIMIT_MS:-2500}"

passed=0
failed=0
started_at=$(date +%s%N)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cargo-lambda-test.XXXXXX")
WATCH_PID=""
TESTBED_PID=""

log() { echo "cargo-lambda test: $*"; }
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; shift; for line in "$@"; do echo "     $line"; done; }

# Starts a command in a new session (its own process group, so that stopping it stops
# whatever it starts) and prints the group's id. setsid may fork, so the id is taken from
# inside: the shell that execs the command leads the group.
spawn_group() {
    local pidfile=$1 logfile=$2
    shift 2
    rm -f "$pidfile"
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >"$logfile" 2>&1 </dev/null &
    for _ in $(seq 100); do
        [ -s "$pidfile" ] && break
        sleep 0.02
    done
    cat "$pidfile" 2>/dev/null
}

# Stops process groups started by spawn_group, all at once: TERM, up to 5 s, then KILL.
stop_groups() {
    local pid live
    for pid in "$@"; do
        [ -n "$pid" ] && kill -TERM -- "-$pid" 2>/dev/null
    done
    for _ in $(seq 50); do
        live=""
        for pid in "$@"; do
            [ -n "$pid" ] && kill -0 -- "-$pid" 2>/dev/null && live=yes
        done
        [ -n "$live" ] || return 0
        sleep 0.1
    done
    for pid in "$@"; do
        [ -n "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null
    done
    return 0
}

cleanup() {
    stop_groups "$TESTBED_PID" "$WATCH_PID"
    TESTBED_PID=""
    WATCH_PID=""
    [ -n "$WORK" ] && rm -rf "$WORK"
    WORK=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stops everything, then prints the closing line (last, after any cleanup output).
summary() {
    cleanup
    local elapsed_ms=$((($(date +%s%N) - started_at) / 1000000))
    log "finished in $((elapsed_ms / 1000)).$(printf %03d $((elapsed_ms % 1000))) s"
    echo "$passed passed, $failed failed"
}

# A setup failure: say why, show the logs, count it, stop.
abort() {
    fail "$1" "${@:2}"
    for f in "$WORK/watch.log" "$WORK/testbed.log"; do
        [ -s "$f" ] && { echo "----- $(basename "$f") (last 30 lines)"; tail -n 30 "$f"; }
    done
    summary
    exit 1
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# JSON helpers (python3, present wherever pip is).
json_equal() { python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1]) == json.loads(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null; }
json_field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]); print(v.get(sys.argv[2], "") if isinstance(v, dict) else "")' "$1" "$2" 2>/dev/null; }

# ---- prerequisites
# pip may put cargo-lambda where PATH does not look yet (a fresh pyenv, a user install).
if ! command -v cargo-lambda >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1; then
    scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["scripts"])' 2>/dev/null || true)
    [ -n "$scripts" ] && [ -x "$scripts/cargo-lambda" ] && PATH="$scripts:$PATH"
fi
command -v cargo-lambda >/dev/null 2>&1 || abort "setup" "cargo-lambda is not installed: pip install cargo-lambda"
command -v curl >/dev/null 2>&1 || abort "setup" "curl is not installed"
command -v python3 >/dev/null 2>&1 || abort "setup" "python3 is not installed"
[ -x "$TESTBED" ] || abort "setup" "no testbed binary at $TESTBED: build it with 'cargo build -p lambda-actors-examples --bin testbed' (cargo test --workspace does)"
log "$(cargo lambda --version 2>&1 | head -n 1)"

# ---- cargo lambda watch --only-lambda-apis on a free loopback port
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

start_watch() {
    PORT=$(free_port) || abort "setup" "cannot find a free port"
    # Its own process group, so that cleanup stops it and anything it starts. It runs
    # `cargo metadata`, so it starts from the workspace root.
    WATCH_PID=$(spawn_group "$WORK/watch.pid" "$WORK/watch.log" \
        cargo lambda watch --only-lambda-apis --invoke-address 127.0.0.1 --invoke-port "$PORT")
    [ -n "$WATCH_PID" ] || return 1
    local deadline=$(($(now_ms) + 30000))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        kill -0 -- "-$WATCH_PID" 2>/dev/null || return 1
        # Listening? (A TCP connect only: any HTTP request to it could start an invocation.)
        if grep -q "AWS_LAMBDA_RUNTIME_API=" "$WORK/watch.log" && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# The port may be taken between choosing and binding: try three ports.
watch_started=""
for attempt in 1 2 3; do
    if start_watch; then
        watch_started=yes
        break
    fi
    stop_groups "$WATCH_PID"
    WATCH_PID=""
    log "cargo lambda watch did not start (attempt $attempt)"
done
[ -n "$watch_started" ] || abort "setup" "cargo lambda watch --only-lambda-apis did not serve within 30 s"

# What cargo-lambda tells the function to set (AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:PORT/.rt,
# the function name, version and memory), taken from its own output.
mapfile -t WATCH_ENV < <(grep -oE 'AWS_LAMBDA_[A-Z_]+=[^[:space:]]+' "$WORK/watch.log" | sort -u)
RUNTIME_API=$(printf '%s\n' "${WATCH_ENV[@]}" | sed -n 's/^AWS_LAMBDA_RUNTIME_API=//p' | head -n 1)
[ -n "$RUNTIME_API" ] || abort "setup" "cargo lambda watch printed no AWS_LAMBDA_RUNTIME_API"
log "cargo lambda watch serves on 127.0.0.1:$PORT; runtime API $RUNTIME_API"
INVOKE_URL="http://127.0.0.1:$PORT/2015-03-31/functions/_/invocations"

# ---- the testbed, in Managed Instances mode with 4 slots
TESTBED_PID=$(spawn_group "$WORK/testbed.pid" "$WORK/testbed.log" \
    env "${WATCH_ENV[@]}" AWS_LAMBDA_MAX_CONCURRENCY=4 "$TESTBED")
[ -n "$TESTBED_PID" ] || abort "setup" "the testbed did not start"
deadline=$(($(now_ms) + 20000))
until grep -q '"slots":4' "$WORK/testbed.log" 2>/dev/null; do
    kill -0 -- "-$TESTBED_PID" 2>/dev/null || abort "setup" "the testbed exited at start"
    [ "$(now_ms)" -lt "$deadline" ] || abort "setup" "the testbed did not report 4 slots within 20 s"
    sleep 0.1
done
log "testbed started with 4 slots (pid $TESTBED_PID)"

# ---- 1. echo through cargo lambda invoke
echo_event='{"op":"echo","n":42,"text":"héllo"}'
if echo_out=$(timeout 30 cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$PORT" \
    --output-format json --data-ascii "$echo_event" 2>"$WORK/invoke.err") && json_equal "$echo_event" "$echo_out"; then
    pass "echo round trip through cargo lambda invoke"
else
    fail "echo round trip through cargo lambda invoke" "sent $echo_event" "got ${echo_out:-<nothing>} $(tr '\n' ' ' <"$WORK/invoke.err")"
fi

# ---- 2. four sleeps at once
t0=$(now_ms)
curls=()
for i in $(seq "$CONCURRENT"); do
    curl -sS --max-time 15 -o "$WORK/sleep$i.body" -w '%{http_code}' -X POST "$INVOKE_URL" \
        -d "{\"op\":\"sleep\",\"ms\":$SLEEP_MS}" >"$WORK/sleep$i.status" 2>"$WORK/sleep$i.err" &
    curls+=($!)
done
wait "${curls[@]}"
elapsed=$(($(now_ms) - t0))
ok=0
problems=()
for i in $(seq "$CONCURRENT"); do
    status=$(cat "$WORK/sleep$i.status" 2>/dev/null)
    body=$(cat "$WORK/sleep$i.body" 2>/dev/null)
    if [ "$status" = 200 ] && json_equal "{\"slept_ms\":$SLEEP_MS}" "$body"; then
        ok=$((ok + 1))
    else
        problems+=("sleep $i: HTTP ${status:-none} ${body:-<no body>} $(cat "$WORK/sleep$i.err" 2>/dev/null)")
    fi
done
if [ "$ok" = "$CONCURRENT" ] && [ "$elapsed" -ge "$SLEEP_MS" ] && [ "$elapsed" -lt "$CONCURRENT_LIMIT_MS" ]; then
    pass "$CONCURRENT concurrent ${SLEEP_MS} ms sleeps took $elapsed ms (one after the other: $((CONCURRENT * SLEEP_MS)) ms)"
else
    if printf '%s\n' "${problems[@]}" | grep -q 'Runtime.Timeout'; then
        ctx=$(curl -sS --max-time 10 -X POST "$INVOKE_URL" -d '{"op":"context"}' 2>/dev/null)
        problems+=("the handlers were reclaimed at their deadline: the testbed saw deadline_ms=$(json_field "$ctx" deadline_ms)"
            "(cargo-lambda sends Lambda-Runtime-Deadline-Ms as a duration, not as Unix epoch milliseconds)")
    fi
    fail "$CONCURRENT concurrent sleeps: $ok of $CONCURRENT succeeded in $elapsed ms (limit $CONCURRENT_LIMIT_MS ms)" "${problems[@]}"
fi

# ---- 3. a function error
error_event='{"op":"error","type":"CargoLambdaProbe","message":"it broke on purpose"}'
status=$(curl -sS --max-time 15 -o "$WORK/error.body" -w '%{http_code}' -X POST "$INVOKE_URL" -d "$error_event" 2>"$WORK/error.err")
body=$(cat "$WORK/error.body" 2>/dev/null)
if [ "$(json_field "$body" errorType)" = CargoLambdaProbe ] && [ "$(json_field "$body" errorMessage)" = "it broke on purpose" ] &&
    [ "${status:0:1}" != 2 ]; then
    pass "an error op comes back as a function error (HTTP $status, errorType CargoLambdaProbe)"
else
    fail "an error op comes back as a function error" "HTTP ${status:-none}: ${body:-<no body>} $(cat "$WORK/error.err")"
fi
if out=$(timeout 30 cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$PORT" --data-ascii "$error_event" 2>&1); then
    fail "cargo lambda invoke reports the function error" "it exited 0: $out"
elif grep -q CargoLambdaProbe <<<"$out" && grep -q "it broke on purpose" <<<"$out"; then
    pass "cargo lambda invoke reports the function error and exits non-zero"
else
    fail "cargo lambda invoke reports the function error" "$out"
fi

# ---- 4. still serving
if kill -0 -- "-$TESTBED_PID" 2>/dev/null &&
    after=$(curl -sS --max-time 10 -X POST "$INVOKE_URL" -d '{"op":"echo","after":"error"}') &&
    json_equal '{"op":"echo","after":"error"}' "$after"; then
    pass "the testbed still serves after the error"
else
    fail "the testbed still serves after the error" "${after:-no answer}" "$(tail -n 5 "$WORK/testbed.log")"
fi

if [ "$failed" -gt 0 ]; then
    echo "----- testbed.log (last 20 lines)"
    tail -n 20 "$WORK/testbed.log"
fi
summary
[ "$failed" -eq 0 ]
