# The SQL sandbox over HTTP: hostile statements are refused (403), SQL errors are 400, a
# runaway query hits its timeout (504), and the server keeps serving. Then NDJSON and CSV
# streaming of a 100K-row result, JSON results below and above the whole-response bound, and
# row limits.
. "$(dirname "$0")/lib.sh"
start_server

printf 'id,name\n1,ada\n2,grace\n' >"$T/people.csv"
req POST '/ingest?dataset=people&name=people.csv' --data-binary @"$T/people.csv"
expect_status 201

# Reading files outside the lake: refused either by the statement check (403) or by DuckDB's
# locked file-system settings (400 with its Permission/Catalog error); never any content.
readers=(
    "SELECT * FROM read_csv('/etc/passwd')"
    "SELECT * FROM read_text('/etc/passwd')"
    "SELECT * FROM read_blob('/etc/passwd')"
    "SELECT * FROM '/etc/passwd'"
    "SELECT * FROM read_parquet('/etc/*.parquet')"
    "SELECT * FROM glob('/etc/*')"
)
for s in "${readers[@]}"; do
    req POST /sql --data-binary "$(jq -n --arg s "$s" '{sql: $s}')"
    DESC="sql: $s"
    CHECKS=$((CHECKS + 1))
    if { [ "$STATUS" = 403 ] || [ "$STATUS" = 400 ]; } && ! grep -q 'root:' "$T/body" &&
        jq -e '.error.code' "$T/body" >/dev/null; then
        pass "$DESC refused ($STATUS $(jq -r .error.code "$T/body"))"
    else
        fail "$DESC: expected a refusal, got $STATUS: $(head -c 300 "$T/body")"
    fi
done

hostile=(
    "COPY people TO '/tmp/lh_gw_exfil.csv'"
    "COPY (SELECT 1) TO '/tmp/lh_gw_exfil.parquet' (FORMAT parquet)"
    "ATTACH '/tmp/lh_gw_evil.db' AS evil"
    "INSTALL httpfs"
    "LOAD httpfs"
    "SET enable_external_access = true"
    "SET allowed_directories = ['/']"
    "PRAGMA database_list"
    "CREATE TABLE t AS SELECT 1"
    "DROP VIEW people"
    "INSERT INTO people VALUES (3, 'eve')"
    "SELECT 1; SELECT 2"
    "SELECT 1; DROP VIEW people"
    "CALL pragma_version()"
    "EXPORT DATABASE '/tmp/lh_gw_export'"
)
for s in "${hostile[@]}"; do
    req POST /sql --data-binary "$(jq -n --arg s "$s" '{sql: $s}')"
    DESC="sql: $s"
    expect_status 403
    expect_jq '.error.code == "denied" and (.error.message | length) > 0' "refused with code denied"
done
CHECKS=$((CHECKS + 1))
if ls /tmp/lh_gw_exfil.* /tmp/lh_gw_evil.db /tmp/lh_gw_export >/dev/null 2>&1; then
    fail "a refused statement wrote a file"
    rm -rf /tmp/lh_gw_exfil.* /tmp/lh_gw_evil.db /tmp/lh_gw_export
else
    pass "no file written by refused statements"
fi

req POST /sql --data-binary '{"sql": "SELECT FROM WHERE 1"}'
expect_status 400
expect_jq '.error.code == "invalid_input"'
req POST /sql --data-binary '{"sql": "SELECT no_such_column FROM people"}'
expect_status 400
expect_contains "no_such_column"

t0=$(date +%s%N)
req POST /sql --data-binary '{"sql": "SELECT count(*) FROM range(1000000000) a, range(1000000000) b", "timeout_ms": 500}'
t1=$(date +%s%N)
DESC="runaway cross join with timeout_ms=500"
expect_status 504
expect_jq '.error.code == "timeout"'
elapsed=$(((t1 - t0) / 1000000))
CHECKS=$((CHECKS + 1))
if [ "$elapsed" -lt 10000 ]; then pass "timed out after ${elapsed} ms"; else fail "timeout took ${elapsed} ms"; fi

# Still serving, and the data is intact.
req GET /health
expect_status 200
req POST /sql --data-binary '{"sql": "SELECT count(*) FROM people"}'
expect_status 200
expect_jq '.rows[0][0] == 2' "views intact after hostile statements"

# Streaming 100K rows.
N=100000
curl -s -D "$T/h1" -o "$T/rows.ndjson" "$URL/sql" \
    --data-binary "{\"sql\": \"SELECT i, 'row ' || i AS label FROM range($N) t(i)\", \"format\": \"ndjson\"}"
DESC="ndjson stream"
expect_eq "$(wc -l <"$T/rows.ndjson")" "$N" "ndjson line count"
expect_eq "$(jq -s 'map(.i) | add' "$T/rows.ndjson")" "$((N * (N - 1) / 2))" "ndjson sum of i"
expect_eq "$(tail -1 "$T/rows.ndjson" | jq -c .)" "{\"i\":$((N - 1)),\"label\":\"row $((N - 1))\"}" "last ndjson row"
CHECKS=$((CHECKS + 1))
if grep -qi '^Content-Type: application/x-ndjson' "$T/h1"; then pass "ndjson content type"; else fail "ndjson content type: $(cat "$T/h1")"; fi

curl -s -D "$T/h2" -o "$T/rows.csv" "$URL/sql" \
    --data-binary "{\"sql\": \"SELECT i, 'x,\\\"y\\\"' AS q FROM range($N) t(i)\", \"format\": \"csv\"}"
expect_eq "$(head -1 "$T/rows.csv" | tr -d '\r')" "i,q" "csv header"
expect_eq "$(wc -l <"$T/rows.csv")" "$((N + 1))" "csv line count"
expect_eq "$(sed -n 2p "$T/rows.csv" | tr -d '\r')" '0,"x,""y"""' "csv quoting"
CHECKS=$((CHECKS + 1))
if grep -qi '^Transfer-Encoding: chunked' "$T/h2"; then pass "csv is streamed (chunked)"; else fail "csv not chunked: $(cat "$T/h2")"; fi

curl -s -o "$T/lim.ndjson" "$URL/sql" \
    --data-binary '{"sql": "SELECT i FROM range(1000000) t(i)", "format": "ndjson", "limit": 7}'
expect_eq "$(wc -l <"$T/lim.ndjson")" "7" "ndjson limit"
curl -s -o "$T/lim.csv" "$URL/sql" \
    --data-binary '{"sql": "SELECT i, '"'a\\nb'"' AS s FROM range(1000000) t(i)", "format": "csv", "limit": 3}'
expect_eq "$(grep -c '^[0-9]' "$T/lim.csv")" "3" "csv limit counts records, not lines"
req POST /sql --data-binary '{"sql": "SELECT i FROM range(1000) t(i)", "limit": 10}'
expect_status 200
expect_jq '.row_count == 10 and .truncated == true' "json limit truncates"

# JSON runs on the request thread: a small result is one response with a Content-Length; one
# past the whole-response bound (8 MiB) is sent chunked, its encoding finished by a producer.
curl -s -D "$T/h3" -o "$T/small.json" "$URL/sql" --data-binary '{"sql": "SELECT 7 AS seven"}'
expect_eq "$(jq -c .rows "$T/small.json")" '[[7]]' "small json rows"
CHECKS=$((CHECKS + 1))
if grep -qi '^Content-Length: ' "$T/h3" && grep -qi '^X-Lakehouse-Rows: 1' "$T/h3"; then
    pass "small json: Content-Length and row header"
else
    fail "small json headers: $(cat "$T/h3")"
fi
N=120000
curl -s -D "$T/h4" -o "$T/big.json" "$URL/sql" --data-binary \
    "{\"sql\": \"SELECT i, repeat('x', 60) || i AS s FROM range($N) t(i) ORDER BY i\", \"limit\": $((N + 5))}"
DESC="big json"
CHECKS=$((CHECKS + 1))
size=$(stat -c %s "$T/big.json")
if [ "$size" -gt $((8 << 20)) ] && grep -qi '^Transfer-Encoding: chunked' "$T/h4"; then
    pass "big json ($size bytes) is streamed"
else
    fail "big json: $size bytes, headers: $(cat "$T/h4")"
fi
expect_eq "$(jq -c '[.row_count, .truncated, (.rows | length), .rows[0][0], .rows[-1][1], (.rows | map(.[0]) | add)]' "$T/big.json")" \
    "[$N,false,$N,0,\"$(printf 'x%.0s' $(seq 60))$((N - 1))\",$((N * (N - 1) / 2))]" "big json complete and in order"
curl -s -o "$T/bigcut.json" "$URL/sql" --data-binary \
    "{\"sql\": \"SELECT i, repeat('x', 60) AS s FROM range($N) t(i)\", \"limit\": $((N - 1))}"
expect_eq "$(jq -c '[.row_count, .truncated]' "$T/bigcut.json")" "[$((N - 1)),true]" "big json truncated at its limit"
curl -s "$URL/sql" --data-binary "{\"sql\": \"SELECT i, repeat('y', 200) AS s FROM range(400000) t(i)\", \"limit\": 400000}" |
    head -c 100000 >/dev/null

# A client that hangs up mid-stream does not wedge the server.
curl -s "$URL/sql" --data-binary '{"sql": "SELECT i FROM range(50000000) t(i)", "format": "ndjson"}' |
    head -c 100000 >/dev/null
for i in 1 2 3 4 5 6; do
    req POST /sql --data-binary '{"sql": "SELECT 42"}'
done
expect_status 200
expect_jq '.rows[0][0] == 42' "serving after an abandoned stream"
finish
