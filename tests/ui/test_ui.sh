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

CHECKS=$((CHECKS + 1))
if LH_URL=$URL LH_CHROMIUM=$CHROMIUM LH_PLAYWRIGHT=$PLAYWRIGHT \
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
