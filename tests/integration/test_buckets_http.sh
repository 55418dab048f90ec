#!/usr/bin/env bash
# Per-request buckets: one server, three configured buckets — the primary (local), `side`
# (another local folder) and `remote` (on the S3 test server). X-Lakehouse-Bucket makes a
# request work on the bucket it names (its catalog, query engine and ingest, opened at the
# first request); each bucket sees only its own datasets; an unknown name is a 400 listing
# the known ones. The CLI's --bucket does the same for a command.
. "$(dirname "$0")/../gateway/lib.sh"
export LAKEHOUSE_LOG_LEVEL=error
SRV="$T/s3srv"
export LH_S3_OWNER_PID=$$
EP=$("$LH_SOURCE_DIR/scripts/s3-server" start "$SRV") || { echo "cannot start the S3 server" >&2; exit 1; }
trap '"$LH_SOURCE_DIR/scripts/s3-server" stop "$SRV"; cleanup' EXIT
export LAKEHOUSE_S3_ACCESS_KEY_ID=S3RVER LAKEHOUSE_S3_SECRET_ACCESS_KEY=S3RVER
cat >"$T/lake.yaml" <<YAML
buckets:
  side:
    storage_backend: local
    data_dir: $T/side
  remote:
    storage_backend: s3
    s3_endpoint: $EP
    s3_bucket: lake
    s3_prefix: remote
YAML
lh() { "$LH_BIN" "$@" --config "$T/lake.yaml" --data "$T/lake"; }
ingest() { # ingest BUCKET DATASET FILE: POST /ingest into that bucket
    req POST "/ingest?dataset=$2&format=csv&name=$(basename "$3")" --data-binary @"$3" \
        -H 'Content-Type: text/csv' -H "X-Lakehouse-Bucket: $1"
}
sqlb() { # sqlb BUCKET SQL
    req POST /sql -H "X-Lakehouse-Bucket: $1" --data-binary "$(jq -n --arg s "$2" '{sql: $s}')"
}

printf 'id,name\n1,ada\n2,grace\n' >"$T/people.csv"
printf 'id,total\n1,10.5\n2,20\n3,30\n' >"$T/orders.csv"
printf 'sku,qty\na,1\nb,2\nc,3\nd,4\n' >"$T/items.csv"

SERVE_ARGS="--config $T/lake.yaml"
start_server
req POST '/ingest?dataset=people&format=csv&name=people.csv' --data-binary @"$T/people.csv" -H 'Content-Type: text/csv'
expect_status 201
ingest remote orders "$T/orders.csv"
expect_status 201
expect_jq '.dataset == "orders" and .rows == 3 and .version == 1' "ingest into the S3 bucket"
ingest side items "$T/items.csv"
expect_status 201
expect_jq '.dataset == "items" and .rows == 4' "ingest into the local side bucket"
ingest primary people "$T/people.csv"
expect_status 200
expect_jq '.noop == true' "X-Lakehouse-Bucket: primary is the served bucket (same bytes: no-op)"

# Each bucket sees only its own datasets.
req GET /catalog/datasets
expect_jq '[.datasets[].name] == ["people"]' "primary: people only"
req GET /catalog/datasets -H 'X-Lakehouse-Bucket: remote'
expect_status 200
expect_jq '[.datasets[].name] == ["orders"]' "remote: orders only"
req GET /catalog/datasets -H 'X-Lakehouse-Bucket: side'
expect_jq '[.datasets[].name] == ["items"]' "side: items only"
req GET /catalog/datasets/orders -H 'X-Lakehouse-Bucket: remote'
expect_status 200
# Text search and embed jobs belong to the served bucket: another bucket is refused plainly,
# never answered from the served bucket's indexes.
req POST /search -H 'X-Lakehouse-Bucket: side' --data-binary '{"query":"anything","dataset":"items"}'
expect_status 400
expect_contains "bucket this server serves"
req GET /catalog/datasets/orders
expect_status 404
req GET /health -H 'X-Lakehouse-Bucket: remote'
expect_jq '.bucket == "remote" and .storage == "s3" and .datasets == 1' "health of the S3 bucket"
req GET /health
expect_jq '.bucket == "primary" and .storage == "local"' "health of the served bucket"

# SQL on each bucket's engine.
sqlb remote 'SELECT count(*), sum(total) FROM orders'
expect_status 200
expect_jq '.rows == [[3, 60.5]]' "SQL on the S3 bucket"
sqlb side 'SELECT sum(qty) FROM items'
expect_jq '.rows == [[10]]' "SQL on the side bucket"
sqlb remote 'SELECT * FROM people'
expect_status 400
expect_contains "people"
sqlb primary 'SELECT count(*) FROM orders'
expect_status 400

# Where the objects went.
CHECKS=$((CHECKS + 1))
if [ -n "$(find "$SRV/data/lake/remote/data/orders" -name '*.parquet._S3rver_object' 2>/dev/null)" ] &&
   [ -z "$(find "$T/lake/data" -path '*orders*' 2>/dev/null)" ]; then pass "orders stored in the S3 bucket only"; else fail "orders not (only) in the S3 bucket"; fi
CHECKS=$((CHECKS + 1))
if [ -n "$(find "$T/side/data/items" -name '*.parquet' 2>/dev/null)" ] && [ -z "$(find "$T/lake/data" -path '*items*' 2>/dev/null)" ]; then pass "items stored in the side folder only"; else fail "items not (only) in the side folder"; fi

# Unknown names: 400 with the known ones, nothing opened, nothing committed.
req GET /catalog/datasets -H 'X-Lakehouse-Bucket: nope'
expect_status 400
expect_contains "unknown bucket 'nope' (known: primary, side, remote)"
expect_jq '.error.detail.known == ["primary","side","remote"] and .error.detail.bucket == "nope"' "detail lists the known buckets"
ingest nope more "$T/people.csv"
expect_status 400
req GET /catalog/datasets/more
expect_status 404
req GET /health -H 'X-Lakehouse-Bucket: ../etc'
expect_status 400

# Concurrent first requests to a bucket not yet opened open it once and all succeed.
stop_server
start_server
pids=()
for i in 1 2 3 4; do
    curl -s -o "$T/c$i" -w '%{http_code}\n' "$URL/catalog/datasets" -H 'X-Lakehouse-Bucket: remote' >"$T/s$i" &
    pids+=($!)
done
wait "${pids[@]}"
CHECKS=$((CHECKS + 1))
if [ "$(cat "$T"/s[1-4] | sort -u)" = 200 ] && [ "$(jq -s 'map(.datasets[0].name) | unique' "$T"/c[1-4] -c)" = '["orders"]' ]; then
    pass "concurrent first requests"
else
    fail "concurrent first requests: $(cat "$T"/s[1-4]) $(cat "$T"/c[1-4])"
fi
CHECKS=$((CHECKS + 1))
if [ "$(grep -c 'bucket_opened' "$T/serve.err")" -le 1 ]; then pass "bucket opened once"; else fail "opened more than once"; fi
stop_server

# The CLI: --bucket works on that bucket; a repeated or unknown one is refused.
out=$(lh sql 'SELECT sum(total) FROM orders' --bucket remote --format csv 2>"$T/err")
expect_eq "$(echo "$out" | tail -1)" "60.5" "CLI sql --bucket remote"
out=$(lh catalog list --bucket side 2>"$T/err")
CHECKS=$((CHECKS + 1))
if [[ "$out" == *items* && "$out" != *people* ]]; then pass "CLI catalog list --bucket side"; else fail "catalog list --bucket side: $out $(cat "$T/err")"; fi
printf 'id,total\n4,40\n' >"$T/more_orders.csv"
lh ingest "$T/more_orders.csv" --dataset orders --bucket remote >/dev/null 2>"$T/err" || fail "CLI ingest --bucket remote: $(cat "$T/err")"
out=$(lh sql 'SELECT count(*) FROM orders' --bucket remote --format csv 2>&1)
expect_eq "$(echo "$out" | tail -1)" "4" "CLI ingest --bucket remote appended"
msg=$(lh catalog list --bucket side --bucket remote 2>&1); rc=$?
CHECKS=$((CHECKS + 1))
if [ $rc -eq 2 ] && [[ "$msg" == *"--bucket is given more than once"* ]]; then pass "repeated --bucket refused"; else fail "repeated --bucket: rc=$rc $msg"; fi
msg=$("$LH_BIN" sql 'SELECT 1' --data a --data b --data c --data d --data e --data f --data g --data h --data i 2>&1); rc=$?
CHECKS=$((CHECKS + 1))
if [ $rc -eq 2 ] && [[ "$msg" == *"--data is given more than once"* ]]; then pass "many repeated flags refused, no overflow"; else fail "repeated --data: rc=$rc $msg"; fi
msg=$(lh catalog list --bucket nope 2>&1); rc=$?
CHECKS=$((CHECKS + 1))
if [ $rc -ne 0 ] && [[ "$msg" == *"unknown bucket 'nope' (known: primary, side, remote)"* ]]; then pass "CLI unknown bucket"; else fail "CLI unknown bucket: rc=$rc $msg"; fi

# The server sees the CLI's append on its next request.
start_server
sqlb remote 'SELECT count(*) FROM orders'
expect_jq '.rows == [[4]]' "server sees the CLI's append"
finish
