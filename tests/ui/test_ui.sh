# The web UI in a real browser: playwright-core (web/node_modules) drives Debian's chromium,
# headless, against `lakehouse serve` on a free port over a fresh lake. The UI is the one
# the build produced (<build>/web, found next to the program). Screenshots of every tab go
# to <build>/ui-artifacts/. A missing chromium or UI build fails the test, never skips it.
. "$(dirname "$0")/../gateway/lib.sh"

BUILD_DIR=${LH_BUILD_DIR:-$(dirname "$LH_BIN")}
ARTIFACTS=$BUILD_DIR/ui-artifacts
PLAYWRIGHT=$LH_SOURCE_DIR/web/node_modules/playwright-core
CHROMIUM=${LH_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}

if [ -z "$CHROMIUM" ] || [ ! -x "$CHROMIUM" ]; then
    fail "chromium not found: the browser tests need Debian's chromium; run scripts/bootstrap (it installs it) or set LH_CHROMIUM"
    finish
fi
if ! command -v node >/dev/null; then
    fail "node not found: run scripts/bootstrap"
    finish
fi
if [ ! -f "$PLAYWRIGHT/package.json" ]; then
    fail "playwright-core is not installed in web/node_modules: run scripts/bootstrap (npm ci in web/)"
    finish
fi
if [ ! -f "$(dirname "$LH_BIN")/web/index.html" ]; then
    fail "the web UI was not built next to the program ($(dirname "$LH_BIN")/web): build with LH_WEB=ON"
    finish
fi

rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS"
start_server
# A plain file where dataset "blocked" keeps its data files: ingesting it fails in storage
# (ENOTDIR), which is the storage error the System tab is checked to show.
: >"$T/lake/data/blocked" 2>/dev/null || { mkdir -p "$T/lake/data" && : >"$T/lake/data/blocked"; }

# /ask with a model: the stand-in model server (tests/ai/standin.js, model sql-retry: a
# refused query first, then a good one) behind a second server on a lake of its own.
node "$LH_SOURCE_DIR/tests/ai/standin.js" >"$T/standin.out" 2>&1 &
STANDIN=$!
ASK_PID=""
trap 'kill $STANDIN $ASK_PID 2>/dev/null; cleanup' EXIT
for _ in $(seq 1 50); do grep -q listening "$T/standin.out" && break; sleep 0.1; done
SPORT=$(awk '/listening/ {print $2}' "$T/standin.out")
env LAKEHOUSE_GENERATOR=ollama LAKEHOUSE_GENERATOR_MODEL=sql-retry \
    LAKEHOUSE_GENERATOR_URL="http://127.0.0.1:$SPORT" \
    "$LH_BIN" serve --data "$T/asklake" --listen 127.0.0.1:0 >"$T/ask.out" 2>"$T/ask.err" &
ASK_PID=$!
ASK_URL=""
for _ in $(seq 1 300); do
    ASK_URL=$(sed -n '1s/^listening on \(http:\/\/[^ ]*\)$/\1/p' "$T/ask.out")
    [ -n "$ASK_URL" ] && break
    sleep 0.1
done
CHECKS=$((CHECKS + 1))
if [ -n "$SPORT" ] && [ -n "$ASK_URL" ] &&
    curl -sf -X POST "$ASK_URL/ingest?dataset=people&name=people.csv" -H 'Content-Type: text/csv' \
        --data-binary @"$LH_SOURCE_DIR/tests/ui/fixtures/people.csv" >/dev/null; then
    pass "a second server with the stand-in model is up ($ASK_URL)"
else
    fail "the stand-in model server or the /ask server did not start: $(cat "$T/standin.out" "$T/ask.err")"
fi

CHECKS=$((CHECKS + 1))
if LH_URL=$URL LH_ASK_URL=$ASK_URL LH_CHROMIUM=$CHROMIUM LH_PLAYWRIGHT=$PLAYWRIGHT \
    LH_FIXTURES=$LH_SOURCE_DIR/tests/ui/fixtures LH_ARTIFACTS=$ARTIFACTS \
    timeout 300 node "$LH_SOURCE_DIR/tests/ui/ui_test.cjs" >"$T/ui.out" 2>"$T/ui.err"; then
    pass "browser checks passed ($(grep -c '^ok - ' "$T/ui.out") checks; screenshots in $ARTIFACTS)"
else
    fail "browser checks failed:"
fi
grep -E '^(not ok|# )' "$T/ui.out" >&2 || true
if [ -s "$T/ui.err" ]; then
    echo "# node stderr:" >&2
    head -40 "$T/ui.err" >&2
fi
cp "$T/ui.out" "$ARTIFACTS/ui_test.log"
finish
