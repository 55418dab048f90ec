#!/usr/bin/env bash
# Bucket registry over HTTP: a lake on S3 with a local rescue bucket (a mirror). With the S3
# server stopped, the server still starts and answers catalog and SQL reads from the rescue
# bucket; every fallback and failure shows in GET /storage/errors (filters, counts), and
# X-Lakehouse-Bucket names the bucket a request is for.
. "$(dirname "$0")/../gateway/lib.sh"
export LAKEHOUSE_LOG_LEVEL=error
SRV="$T/s3srv"
export LH_S3_OWNER_PID=$$
EP=$("$LH_SOURCE_DIR/scripts/s3-server" start "$SRV") || { echo "cannot start the S3 server" >&2; exit 1; }
trap '"$LH_SOURCE_DIR/scripts/s3-server" stop "$SRV"; cleanup' EXIT
export LAKEHOUSE_S3_ACCESS_KEY_ID=S3RVER LAKEHOUSE_S3_SECRET_ACCESS_KEY=S3RVER
cat >"$T/lake.yaml" <<YAML
storage_backend: s3
s3_endpoint: $EP
s3_bucket: lake
s3_retry_max_ms: 300
rescue_bucket: rescue
buckets:
  rescue:
    storage_backend: local
    data_dir: $T/rescue
YAML
lh() { "$LH_BIN" "$@" --config "$T/lake.yaml" --data "$T/lake"; }

printf 'id,name,city\n1,ada,Chicago\n2,grace,Boston\n3,linus,Chicago\n' >"$T/people.csv"
lh ingest "$T/people.csv" --dataset people >/dev/null 2>"$T/err" || fail "ingest on S3: $(cat "$T/err")"

# Mirror the bucket into the rescue folder, as replication would (s3rver keeps each object
# as <key>._S3rver_object).
(cd "$SRV/data/lake" && find . -name '*._S3rver_object' | while read -r f; do
    k=${f#./}; k=${k%._S3rver_object}
    mkdir -p "$T/rescue/$(dirname "$k")" && cp "$f" "$T/rescue/$k"
done)
"$LH_SOURCE_DIR/scripts/s3-server" stop "$SRV"

# The primary is down: the server starts anyway and reads come from the rescue bucket.
SERVE_ARGS="--config $T/lake.yaml"
start_server
req GET /health
expect_status 200
expect_jq '.storage == "s3" and .bucket == "primary"' "health names the backend and the bucket"
req GET /catalog/datasets
expect_status 200
expect_jq '.datasets | length == 1 and .[0].name == "people" and .[0].rows == 3' "catalog from the rescue bucket"
req POST /sql --data-binary '{"sql": "SELECT city, count(*) FROM people GROUP BY 1 ORDER BY 1"}'
expect_status 200
expect_jq '.rows == [["Boston",1],["Chicago",2]]' "SQL from the rescue bucket's copy"

# The journal: failures of the primary and the fallbacks, filtered and counted.
req GET /storage/errors
expect_status 200
expect_jq '.total >= 2 and (.events | length) == .total' "events recorded"
expect_jq '[.events[] | select(.rescued_by == "rescue")] | length >= 1' "fallbacks name the rescue bucket"
expect_jq '[.events[] | select(.rescued_by == null)] | all(.code == "unavailable" and .attempts >= 2)' "primary failures: unavailable after retries"
expect_jq '.events[0].time >= .events[-1].time' "newest first"
expect_jq '(.counts | map(.count) | add) == .total' "counts add up to the total"
expect_jq '.counts | all(.bucket == "primary")' "all on the primary"
req GET '/storage/errors?op=list&limit=1'
expect_status 200
expect_jq '(.events | length) <= 1 and (.events | all(.op == "list")) and (.counts | all(.op == "list"))' "op filter and limit"
req GET '/storage/errors?bucket=rescue'
expect_jq '.total == 0' "nothing failed on the rescue bucket"
req GET '/storage/errors?since=2999-01-01T00:00:00Z'
expect_jq '.total == 0' "since in the future: nothing"
req GET '/storage/errors?until=2000-01-01T00:00:00Z'
expect_jq '.total == 0' "until in the past: nothing"
req GET '/storage/errors?since=yesterday'
expect_status 400
expect_contains "since"
req GET '/storage/errors?limit=5000'
expect_status 400
expect_contains "limit"

# X-Lakehouse-Bucket: the served bucket passes, another configured one and an unknown one
# are refused with the known names.
req GET /catalog/datasets -H 'X-Lakehouse-Bucket: primary'
expect_status 200
req GET /catalog/datasets -H 'X-Lakehouse-Bucket: nope'
expect_status 400
expect_contains "unknown bucket 'nope' (known: primary, rescue)"
expect_jq '.error.detail.known == ["primary","rescue"]' "detail lists the known buckets"
req GET /catalog/datasets -H 'X-Lakehouse-Bucket: rescue'
expect_status 400
expect_contains "serve --bucket rescue"

# Writes have no fallback: an ingest fails clearly and commits nothing.
printf 'id,name,city
4,barbara,Denver
' >"$T/more.csv"
req POST '/ingest?dataset=people&format=csv&name=more.csv' --data-binary @"$T/more.csv" -H 'Content-Type: text/csv'
CHECKS=$((CHECKS + 1))
if [ "$STATUS" -ge 500 ] || [ "$STATUS" = 409 ]; then pass "ingest with the primary down fails ($STATUS)"; else fail "ingest with the primary down: $STATUS $(head -c 300 "$T/body")"; fi
req GET /catalog/datasets
expect_jq '.datasets[0].version == 1' "nothing committed"
stop_server

# The journal persists under _errors/bucket_errors/ of the primary (the events above could
# not be written: the primary was down). With the primary back: serve, lose it for a
# moment (reads fall back, events recorded), bring it back, stop: the batch is written, and
# the next server loads it.
"$LH_SOURCE_DIR/scripts/s3-server" start "$SRV" --port "${EP##*:}" >/dev/null || fail "restart"
start_server
"$LH_SOURCE_DIR/scripts/s3-server" stop "$SRV"
req GET /catalog/datasets
expect_jq '.datasets[0].name == "people"' "read during the outage"
"$LH_SOURCE_DIR/scripts/s3-server" start "$SRV" --port "${EP##*:}" >/dev/null || fail "restart"
req GET /storage/errors
n_before=$(jq .total "$T/body")
stop_server
CHECKS=$((CHECKS + 1))
if [ -n "$(find "$SRV/data/lake/_errors/bucket_errors" -name 'batch_*.jsonl._S3rver_object' 2>/dev/null)" ]; then pass "journal batch object in the bucket"; else fail "no journal batch in the bucket"; fi
start_server
req GET /storage/errors
expect_jq ".total == $n_before and .total >= 2" "the next server loads the persisted events"
# --bucket serves another bucket as the lake.
stop_server
SERVE_ARGS="--config $T/lake.yaml --bucket rescue"
start_server
req GET /catalog/datasets -H 'X-Lakehouse-Bucket: rescue'
expect_status 200
expect_jq '.datasets[0].name == "people"' "serve --bucket rescue"
finish
