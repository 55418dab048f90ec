# POST /sql with format "parquet": the whole result (no row limit) as a Parquet download,
# refused exactly as a JSON query would be when hostile, stopped by the timeout, and no
# export file left in the cache afterwards. (The file's contents and types are read back
# in DuckDB by tests/query/test_query.c.)
. "$(dirname "$0")/lib.sh"
start_server

printf 'id,name,score\n1,ada,3.5\n2,grace,4\n' >"$T/people.csv"
req POST '/ingest?dataset=people&name=people.csv' --data-binary @"$T/people.csv"
expect_status 201

pq() { jq -n --arg s "$1" '{sql: $s, format: "parquet"}'; }
header() { tr -d '\r' <"$T/headers" | sed -n "s/^$1: //Ip" | head -1; }
is_parquet() { [ "$(head -c 4 "$T/body")" = PAR1 ] && [ "$(tail -c 4 "$T/body")" = PAR1 ]; }
check() {
    CHECKS=$((CHECKS + 1))
    if eval "$1"; then pass "$DESC: $2"; else fail "$DESC: $2 (status $STATUS, headers: $(tr -d '\r' <"$T/headers" | tr '\n' ' '))"; fi
}

req POST /sql --data-binary "$(pq 'SELECT * FROM people ORDER BY id -- a trailing comment')"
expect_status 200
check '[ "$(header Content-Type)" = application/vnd.apache.parquet ]' "Content-Type is application/vnd.apache.parquet"
check '[ "$(header Content-Disposition)" = "attachment; filename=\"result.parquet\"" ]' "sent as an attachment"
check '[ "$(header X-Lakehouse-Rows)" = 2 ]' "X-Lakehouse-Rows: 2"
check '[ "$(header Content-Length)" = "$(stat -c %s "$T/body")" ]' "Content-Length is the file's size"
check is_parquet "the body is a Parquet file (PAR1 at both ends)"

# The row limit is for JSON results: a download has every row.
req POST /sql --data-binary '{"sql": "SELECT range AS i FROM range(30000)", "format": "parquet", "limit": 5}'
expect_status 200
check '[ "$(header X-Lakehouse-Rows)" = 30000 ]' "all 30000 rows, limit ignored"
check is_parquet "a Parquet file"

# Refused exactly as for JSON: same status, same code, same message.
hostile=(
    "COPY people TO '/tmp/lh-parquet-stolen.csv'"
    "SELECT 1; DROP VIEW people"
    "SELECT 1) TO '/tmp/lh-parquet-stolen.parquet' (FORMAT parquet); --"
    "SELECT * FROM read_csv('/etc/passwd')"
    "ATTACH '/tmp/lh-parquet.duckdb' AS x"
    "INSTALL httpfs"
    "SELECT * FROM no_such_table"
    "SELEC 1"
    "/* hi */ -- there
 DETACH x"
)
for s in "${hostile[@]}"; do
    req POST /sql --data-binary "$(jq -n --arg s "$s" '{sql: $s}')"
    json_status=$STATUS
    json_error=$(jq -c .error "$T/body")
    req POST /sql --data-binary "$(pq "$s")"
    DESC="parquet: $s"
    CHECKS=$((CHECKS + 1))
    if [ "$STATUS" = "$json_status" ] && [ "$(jq -c .error "$T/body")" = "$json_error" ] &&
        [ "$STATUS" -ge 400 ]; then
        pass "$DESC refused as for JSON ($STATUS $(jq -r .error.code "$T/body"))"
    else
        fail "$DESC: $STATUS $(head -c 300 "$T/body"), for JSON: $json_status $json_error"
    fi
done
CHECKS=$((CHECKS + 1))
if [ ! -e /tmp/lh-parquet-stolen.csv ] && [ ! -e /tmp/lh-parquet-stolen.parquet ]; then
    pass "nothing was written outside the lake"
else
    fail "a hostile statement wrote a file"
fi

# Only queries can be downloaded as Parquet; EXPLAIN and friends are for JSON or CSV.
req POST /sql --data-binary "$(pq 'EXPLAIN SELECT 1')"
expect_status 400
expect_contains "Parquet download needs a query"

# The timeout applies.
req POST /sql --data-binary '{"sql": "SELECT a.range * b.range AS x FROM range(100000000) a, range(100000000) b", "format": "parquet", "timeout_ms": 300}'
expect_status 504
expect_contains "time limit"

req POST /sql --data-binary '{"sql": "SELECT 1", "format": "xlsx"}'
expect_status 400
expect_contains '"parquet"'

# No export outlives its request.
CHECKS=$((CHECKS + 1))
left=$(find "$T/lake/.cache/exports" -type f | wc -l)
if [ -d "$T/lake/.cache/exports" ] && [ "$left" = 0 ]; then
    pass "no export files left in the cache"
else
    fail "export files left behind: $(find "$T/lake/.cache/exports" -type f 2>&1 | head -3)"
fi

# And the server still answers.
req POST /sql --data-binary '{"sql": "SELECT count(*) FROM people"}'
expect_status 200
expect_jq '.rows == [[2]]'
finish
