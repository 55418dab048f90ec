# Shared helpers for the gateway's HTTP integration tests (sourced, not run).
#
# start_server [VAR=value ...]  starts `$LH_BIN serve` on a free port (port 0; the first
#                               stdout line is "listening on http://HOST:PORT") over a fresh
#                               lake in $T, waits for /health; sets $URL. Stopped on exit.
#                               $SERVE_ARGS (word-split) are extra arguments of `serve`.
# req METHOD PATH [curl args]   one request; sets $STATUS, body in $T/body, headers in $T/headers
# expect_status N / expect_jq EXPR [MSG] / expect_contains TEXT
# catalog_snapshot              prints a fingerprint of every committed manifest
set -uo pipefail

: "${LH_BIN:?LH_BIN must point at the lakehouse binary}"
LH_SOURCE_DIR=${LH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
T=$(mktemp -d /tmp/lh_gw_test.XXXXXX)
SERVER_PID=""
FAILS=0
CHECKS=0
TEST_NAME=$(basename "$0" .sh)

cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null
    fi
    if [ "${KEEP_TMP:-0}" = 1 ] || [ "$FAILS" -ne 0 ]; then
        echo "# kept $T (server log: $T/serve.err)" >&2
    else
        rm -rf "$T"
    fi
}
trap cleanup EXIT

fail() {
    FAILS=$((FAILS + 1))
    echo "not ok - $*" >&2
}

pass() {
    echo "ok - $*"
}

start_server() {
    mkdir -p "$T/lake" "$T/ingest"
    stop_server
    : >"$T/serve.out"
    env LAKEHOUSE_INGEST_DIR="$T/ingest" "$@" \
        "$LH_BIN" serve --data "$T/lake" --listen 127.0.0.1:0 ${SERVE_ARGS:-} >"$T/serve.out" 2>>"$T/serve.err" &
    SERVER_PID=$!
    URL=""
    for _ in $(seq 1 300); do
        URL=$(sed -n '1s/^listening on \(http:\/\/[^ ]*\)$/\1/p' "$T/serve.out")
        [ -n "$URL" ] && break
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "server exited early:" >&2
            cat "$T/serve.err" >&2
            exit 1
        fi
        sleep 0.1
    done
    if [ -z "$URL" ]; then
        echo "server did not print its URL; stdout: $(cat "$T/serve.out")" >&2
        exit 1
    fi
    for _ in $(seq 1 100); do
        if curl -sf "$URL/health" >/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "server at $URL never answered /health" >&2
    exit 1
}

# Stops the server with SIGTERM; it must exit 0 without sanitizer reports.
stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null
        local rc=$?
        CHECKS=$((CHECKS + 1))
        if [ "$rc" -eq 0 ]; then pass "server stopped cleanly"; else fail "server exited with $rc on SIGTERM"; fi
    fi
    SERVER_PID=""
    if [ -f "$T/serve.err" ] && grep -qE 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|ThreadSanitizer' "$T/serve.err"; then
        fail "sanitizer report in the server log: $(grep -m1 -A12 -E 'Sanitizer|runtime error' "$T/serve.err")"
        : >"$T/serve.err.checked"
        mv "$T/serve.err" "$T/serve.err.reported"
    fi
}

req() {
    local method=$1 path=$2
    shift 2
    STATUS=$(curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' -X "$method" "$@" \
        "$URL$path")
    DESC="$method $path"
}

expect_status() {
    CHECKS=$((CHECKS + 1))
    if [ "$STATUS" = "$1" ]; then
        pass "$DESC -> $1"
    else
        fail "$DESC: expected status $1, got $STATUS: $(head -c 600 "$T/body")"
    fi
}

# expect_jq EXPR [what]: EXPR must evaluate to true on the last body.
expect_jq() {
    CHECKS=$((CHECKS + 1))
    if jq -e "$1" "$T/body" >/dev/null 2>&1; then
        pass "$DESC: ${2:-$1}"
    else
        fail "$DESC: expected $1 on: $(head -c 600 "$T/body")"
    fi
}

# expect_contains TEXT: the error message (or the body) contains TEXT.
# Polls GET $1 (up to 5 s) until the jq filter $2 holds on its answer; a check after it
# says whether it did.
wait_jq() {
    for _ in $(seq 1 50); do
        curl -s "$URL$1" | jq -e "$2" >/dev/null && return 0
        sleep 0.1
    done
    return 0
}

expect_contains() {
    CHECKS=$((CHECKS + 1))
    local msg
    msg=$(jq -r '.error.message // empty' "$T/body" 2>/dev/null)
    [ -n "$msg" ] || msg=$(cat "$T/body")
    if [[ "$msg" == *"$1"* ]]; then
        pass "$DESC: message mentions '$1'"
    else
        fail "$DESC: message should mention '$1': $msg"
    fi
}

expect_header() {
    CHECKS=$((CHECKS + 1))
    if grep -qi "^$1: *$2" "$T/headers"; then
        pass "$DESC: header $1: $2"
    else
        fail "$DESC: expected header '$1: $2' in: $(tr -d '\r' <"$T/headers" | tr '\n' '|')"
    fi
}

expect_eq() {
    CHECKS=$((CHECKS + 1))
    if [ "$1" = "$2" ]; then
        pass "${3:-value} as expected"
    else
        fail "${3:-value}: expected '$2', got '$1'"
    fi
}

# The committed manifests (names and bytes) plus the API's view of the catalog.
catalog_snapshot() {
    (cd "$T/lake" 2>/dev/null && find . -path '*_catalog*' -type f -print0 | sort -z |
        xargs -0 -r sha256sum)
    curl -s "$URL/catalog/datasets" | jq -S '[.datasets[] | {name, version, rows}]'
}

# sql QUERY: runs a JSON query and prints the body.
sql() {
    curl -s "$URL/sql" -H 'Content-Type: application/json' \
        --data-binary "$(jq -n --arg s "$1" '{sql: $s}')"
}

finish() {
    stop_server
    echo "# $TEST_NAME: $CHECKS checks, $FAILS failed"
    [ "$FAILS" -eq 0 ]
    exit $?
}
