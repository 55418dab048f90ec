#!/usr/bin/env bash
# A query over a view whose local copy of an S3 object was evicted from the object cache
# (a tiny cache_max_bytes, no grace period) or removed by hand: the engine fetches the copy
# again, rebuilds the view and runs the query once more, so the client never sees the miss.
. "$(dirname "$0")/../gateway/lib.sh"
export LAKEHOUSE_LOG_LEVEL=info
SRV="$T/s3srv"
export LH_S3_OWNER_PID=$$
EP=$("$LH_SOURCE_DIR/scripts/s3-server" start "$SRV") || { echo "cannot start the S3 server" >&2; exit 1; }
trap '"$LH_SOURCE_DIR/scripts/s3-server" stop "$SRV"; cleanup' EXIT
export LAKEHOUSE_S3_ACCESS_KEY_ID=S3RVER LAKEHOUSE_S3_SECRET_ACCESS_KEY=S3RVER
cat >"$T/lake.yaml" <<YAML
storage_backend: s3
s3_endpoint: $EP
s3_bucket: lake
s3_prefix: evict
cache_max_bytes: 1
cache_grace_ms: 0
YAML
copies() { find "$T/lake/.cache/objects" -maxdepth 1 -name '*.parquet' 2>/dev/null | wc -l; }
printf 'id,name\n1,ada\n2,grace\n3,linus\n' >"$T/people.csv"
printf 'id,total\n1,10.5\n2,20\n' >"$T/orders.csv"

SERVE_ARGS="--config $T/lake.yaml"
start_server
req POST '/ingest?dataset=people&format=csv&name=people.csv' --data-binary @"$T/people.csv" -H 'Content-Type: text/csv'
expect_status 201
req POST '/ingest?dataset=orders&format=csv&name=orders.csv' --data-binary @"$T/orders.csv" -H 'Content-Type: text/csv'
expect_status 201
expect_eq "$(copies)" 1 "the cache holds one copy: people's was evicted for orders'"

req POST /sql --data-binary '{"sql": "SELECT count(*), max(name) FROM people"}'
expect_status 200
expect_jq '.rows == [[3, "linus"]]' "query over the evicted copy answers"
CHECKS=$((CHECKS + 1))
if grep -q 'query.views_rematerialized' "$T/serve.err"; then pass "the view was rebuilt"; else fail "no rebuild logged"; fi
req POST /sql --data-binary '{"sql": "SELECT sum(total) FROM orders"}'
expect_status 200
expect_jq '.rows == [[30.5]]' "and back to the other dataset"
req POST /sql --data-binary '{"sql": "SELECT name FROM people ORDER BY id", "format": "csv"}'
expect_status 200
expect_eq "$(tr -d '\r' <"$T/body" | tr '\n' ' ')" "name ada grace linus " "streamed CSV after an eviction"

# Copies removed behind the server's back (another process, an operator): same recovery.
rm -f "$T"/lake/.cache/objects/*.parquet
req POST /sql --data-binary '{"sql": "SELECT count(*) FROM orders"}'
expect_status 200
expect_jq '.rows == [[2]]' "query after the cache was emptied"
# A real error is still an error, and a missing table is not retried into success.
req POST /sql --data-binary '{"sql": "SELECT * FROM nope"}'
expect_status 400
expect_contains "nope"
stop_server

# The CLI with the same tiny cache.
out=$("$LH_BIN" sql 'SELECT count(*) FROM people' --config "$T/lake.yaml" --data "$T/lake" --format csv 2>"$T/err")
expect_eq "$(echo "$out" | tail -1)" "3" "CLI query with a one-byte cache"
finish
