#!/usr/bin/env bash
# The lake on S3 (a real S3-compatible server, scripts/s3-server): ingest -> SQL through the
# CLI and the HTTP server, secrets file checks, wrong credentials, the single-writer lease
# refusing a second writer, and a server killed in the middle of an ingest's multipart upload
# (no partial object, no catalog commit).
. "$(dirname "$0")/../gateway/lib.sh"
export LAKEHOUSE_LOG_LEVEL=warn
SRV="$T/s3srv"
export LH_S3_OWNER_PID=$$
EP=$("$LH_SOURCE_DIR/scripts/s3-server" start "$SRV") || { echo "cannot start the S3 server" >&2; exit 1; }
trap '"$LH_SOURCE_DIR/scripts/s3-server" stop "$SRV"; cleanup' EXIT

SECRET=S3RVER
printf 's3_access_key_id: S3RVER\ns3_secret_access_key: %s\n' "$SECRET" >"$T/secrets.yaml"
chmod 600 "$T/secrets.yaml"
cat >"$T/lake.yaml" <<YAML
storage_backend: s3
s3_endpoint: $EP
s3_bucket: lake
s3_prefix: lake1
secrets_file: $T/secrets.yaml
YAML
lh() { "$LH_BIN" "$@" --config "$T/lake.yaml" --data "$T/lake"; }
check() { # check DESC CMD...: the command must succeed
    local d=$1; shift
    CHECKS=$((CHECKS + 1))
    if "$@"; then pass "$d"; else fail "$d"; fi
}

printf 'id,name,city,rate\n1,ada,Chicago,95.5\n2,grace,Boston,120\n3,linus,Chicago,80.25\n' >"$T/people.csv"

# --- CLI: ingest, then SQL, with every object in the bucket and none in the local folder.
out=$(lh ingest "$T/people.csv" --dataset people 2>"$T/err") || fail "ingest: $(cat "$T/err")"
expect_eq "$(echo "$out" | grep -c 'people version 1')" 1 "ingest reports version 1"
res=$(lh sql "SELECT count(*), sum(rate) FROM people WHERE city = 'Chicago'" --format csv 2>"$T/err")
expect_eq "$(echo "$res" | tail -1)" "2,175.75" "SQL over the S3 lake"
check "manifest is in the bucket" test -n "$(find "$SRV/data/lake/lake1/_catalog/people" -name 'v00000001.json*object')"
check "parquet is in the bucket" test -n "$(find "$SRV/data/lake/lake1/data/people" -name '*.parquet._S3rver_object')"
check "no parquet in the local lake folder" test -z "$(find "$T/lake/data" -name '*.parquet' 2>/dev/null)"
check "the query read a verified local copy" test -n "$(find "$T/lake/.cache/objects" -name '*.parquet')"
out=$(lh ingest "$T/people.csv" --dataset people 2>&1)
expect_eq "$(echo "$out" | grep -ci 'no-op\|unchanged\|already')" 1 "same bytes again: a no-op"
check "no secret in CLI output" bash -c "! grep -q -- '$SECRET' '$T/err'"

# --- Secrets: a file others can read is refused, saying why; so is a missing one.
chmod 644 "$T/secrets.yaml"
msg=$(lh catalog list 2>&1); rc=$?
CHECKS=$((CHECKS + 1))
if [ $rc -ne 0 ] && [[ "$msg" == *"mode 0644"* && "$msg" == *"chmod 600"* ]]; then pass "world-readable secrets file refused: $msg"; else fail "0644 secrets file: rc=$rc $msg"; fi
chmod 600 "$T/secrets.yaml"
msg=$(LAKEHOUSE_SECRETS_FILE=$T/nope.yaml lh catalog list 2>&1); rc=$?
CHECKS=$((CHECKS + 1))
if [ $rc -ne 0 ] && [[ "$msg" == *"nope.yaml"* ]]; then pass "missing secrets file refused"; else fail "missing secrets file: rc=$rc $msg"; fi

# --- Wrong credentials (the environment wins over the file): a clear 403, no secret shown.
msg=$(LAKEHOUSE_S3_SECRET_ACCESS_KEY=not-the-secret-42 lh catalog list 2>&1); rc=$?
CHECKS=$((CHECKS + 1))
if [ $rc -ne 0 ] && [[ "$msg" == *"403"* && "$msg" == *"SignatureDoesNotMatch"* && "$msg" == *"credentials"* && "$msg" != *"not-the-secret-42"* ]]; then
    pass "wrong secret: $msg"
else
    fail "wrong secret: rc=$rc $msg"
fi

# --- The HTTP server over the same lake: SQL, ingest, /health without secrets.
start_server LAKEHOUSE_STORAGE=s3 LAKEHOUSE_S3_ENDPOINT="$EP" LAKEHOUSE_S3_BUCKET=lake \
    LAKEHOUSE_S3_PREFIX=lake1 LAKEHOUSE_S3_ACCESS_KEY_ID=S3RVER LAKEHOUSE_S3_SECRET_ACCESS_KEY="$SECRET"
req GET /health
expect_status 200
expect_jq '.storage == "s3" or .storage.backend == "s3" or (tostring | test("\"s3\""))' "health names the s3 backend"
CHECKS=$((CHECKS + 1))
if grep -q "$SECRET" "$T/body"; then fail "/health shows a secret"; else pass "/health shows no secret"; fi
req POST /sql --data-binary '{"sql": "SELECT count(*) FROM people"}'
expect_status 200
expect_jq '.rows[0][0] == 3' "serve reads the S3 lake"
printf 'id,name,city,rate\n4,barbara,Denver,99\n' >"$T/more.csv"
req POST '/ingest?dataset=people&format=csv&name=more.csv' --data-binary @"$T/more.csv" -H 'Content-Type: text/csv'
expect_status 201
expect_jq '.version == 2' "serve appends version 2 (and now holds the writer lease)"
req POST /sql --data-binary '{"sql": "SELECT count(*) FROM people"}'
expect_jq '.rows[0][0] == 4' "serve sees its own append"

# --- A second writer while serve holds the lease: refused, clearly; reading still works.
printf 'id,name,city,rate\n5,edsger,Austin,70\n' >"$T/other.csv"
msg=$(lh ingest "$T/other.csv" --dataset people 2>&1); rc=$?
CHECKS=$((CHECKS + 1))
if [ $rc -ne 0 ] && [[ "$msg" == *"single-writer mode"* && "$msg" == *"lease"* ]]; then pass "second writer refused: $msg"; else fail "second writer: rc=$rc $msg"; fi
res=$(lh sql "SELECT count(*) FROM people" --format csv 2>&1)
expect_eq "$(echo "$res" | tail -1)" "4" "a reader needs no lease"
stop_server
CHECKS=$((CHECKS + 1))
if grep -q -- "$SECRET" "$T/serve.err"; then fail "the server log shows a secret"; else pass "no secret in the server log"; fi
out=$(lh ingest "$T/other.csv" --dataset people 2>&1) || fail "ingest after serve released the lease: $out"
expect_eq "$(echo "$out" | grep -c 'version 3')" 1 "the lease is free once serve stops"

# --- The server killed mid-upload (at the second part of a multipart upload), then
# restarted: the ingest fails, no partial object is visible, the catalog is unchanged.
awk 'BEGIN { srand(7); print "id,a,b,c"; for (i = 0; i < 250000; i++) printf "%d,%08x%08x,%08x%08x,%08x\n", i, rand()*4294967295, rand()*4294967295, rand()*4294967295, rand()*4294967295, rand()*4294967295 }' >"$T/big.csv"
node "$LH_SOURCE_DIR/tests/storage/s3_proxy.js" "$(cat "$SRV/port")" kill-at-part "$SRV/pid" >"$T/proxy.out" 2>&1 &
PROXY=$!
for _ in $(seq 1 100); do grep -q listening "$T/proxy.out" && break; sleep 0.05; done
PEP="http://127.0.0.1:$(sed 's/listening //' "$T/proxy.out")"
before=$(lh catalog list 2>&1 | grep people)
# A short lease: the dying writer cannot hand its lease back, so it must expire.
msg=$(LAKEHOUSE_S3_ENDPOINT=$PEP LAKEHOUSE_S3_MULTIPART_THRESHOLD=5MiB LAKEHOUSE_S3_PART_SIZE=5MiB \
    LAKEHOUSE_S3_RETRY_MAX_MS=500 LAKEHOUSE_S3_LEASE_TTL_MS=1000 lh ingest "$T/big.csv" --dataset big 2>&1); rc=$?
CHECKS=$((CHECKS + 1))
if [ $rc -ne 0 ] && [[ "$msg" == *"s3"* ]]; then pass "ingest fails when the server dies: $msg"; else fail "ingest during a crash: rc=$rc $msg"; fi
kill "$PROXY" 2>/dev/null
port=$(cat "$SRV/port")
"$LH_SOURCE_DIR/scripts/s3-server" stop "$SRV"
"$LH_SOURCE_DIR/scripts/s3-server" start "$SRV" --port "$port" >/dev/null || fail "server restart"
check "no object of the failed ingest" test -z "$(find "$SRV/data/lake/lake1" -path '*big*' -name '*_S3rver_object')"
expect_eq "$(lh catalog list 2>&1 | grep -c '^big ')" 0 "no catalog commit for the failed ingest"
expect_eq "$(lh catalog list 2>&1 | grep people)" "$before" "other datasets untouched"
sleep 1.2 # past the dead writer's lease expiry
out=$(lh ingest "$T/big.csv" --dataset big 2>&1) || fail "ingest after the restart: $out"
res=$(lh sql "SELECT count(*) FROM big" --format csv 2>&1)
expect_eq "$(echo "$res" | tail -1)" "250000" "the retried ingest lands whole"

finish
