# Bad input gets a clear error naming the problem and changes nothing in the catalog.
. "$(dirname "$0")/lib.sh"
start_server LAKEHOUSE_MAX_BODY=64k

printf 'id,name,rate\n1,ada,95.5\n2,grace,120\n' >"$T/good.csv"
req POST '/ingest?dataset=people&name=good.csv' --data-binary @"$T/good.csv"
expect_status 201

# unchanged: the catalog fingerprint is the same as before the bad request. It re-baselines
# so that one failure does not cascade into the checks after it.
unchanged() {
    local now
    now=$(catalog_snapshot)
    expect_eq "$now" "$before" "catalog unchanged after $1"
    before=$now
}

before=$(catalog_snapshot)

printf 'id,name,rate\n1,ada,95.5\n2,grace,120,extra\n3,linus,80\n' >"$T/ragged.csv"
req POST '/ingest?dataset=ragged&name=ragged.csv' --data-binary @"$T/ragged.csv"
expect_status 400
expect_jq '.error.code == "invalid_input"'
expect_contains "ragged.csv:"
expect_contains ":3"
unchanged "ragged CSV row"

printf 'id,name\n1,"ada\n2,grace\n' >"$T/quote.csv"
req POST '/ingest?dataset=quoted&name=quote.csv' --data-binary @"$T/quote.csv"
expect_status 400
expect_contains "quote.csv"
unchanged "unterminated quote"

printf 'id,name\n1,ada\n2,gr\xffce\n' >"$T/latin.csv"
req POST '/ingest?dataset=latin&name=latin.csv' --data-binary @"$T/latin.csv"
expect_status 400
expect_contains "latin.csv:3"
expect_contains "invalid UTF-8"
unchanged "invalid UTF-8"

# A malformed NDJSON upload: DuckDB's message names the spool file; the client must only
# ever see the name it gave.
printf '{"id":1,"name":"ada"}\n{"id":2,"name":\n' >"$T/broken.ndjson"
req POST '/ingest?dataset=broken&format=ndjson&name=broken.ndjson' --data-binary @"$T/broken.ndjson"
expect_status 400
expect_contains "broken.ndjson"
CHECKS=$((CHECKS + 1))
if grep -q -e '\.cache' -e 'uploads/' -e "$T" "$T/body"; then
    fail "the error reveals a server path: $(cat "$T/body")"
else
    pass "no server path in the NDJSON error"
fi
unchanged "malformed NDJSON"

req POST '/ingest?dataset=empty&name=empty.csv' --data-binary @/dev/null
expect_status 400
expect_contains "empty"
unchanged "empty upload"
: >"$T/empty.csv"
req POST /ingest -F "file=@$T/empty.csv" -F dataset=empty
expect_status 400
expect_contains "empty"
unchanged "empty multipart file"

printf 'id,fullname,rate,extra\n9,zed,1.5,x\n' >"$T/other.csv"
req POST '/ingest?dataset=people&name=other.csv' --data-binary @"$T/other.csv"
expect_status 400
expect_contains "does not fit dataset 'people'"
expect_contains "'name'"
expect_contains "'fullname'"
expect_contains "'extra'"
unchanged "incompatible append"

head -c 200000 /dev/zero | tr '\0' 'a' >"$T/big.csv"
req POST '/ingest?dataset=big&name=big.csv' --data-binary @"$T/big.csv"
expect_status 413
expect_jq '.error.code == "too_large"'
expect_contains "65536 bytes"
unchanged "upload over the limit (Content-Length)"
req POST /ingest -F "file=@$T/big.csv" -F dataset=big
expect_status 413
unchanged "multipart upload over the limit"
STATUS=$(head -c 200000 /dev/zero | curl -s -o "$T/body" -w '%{http_code}' \
    -H 'Transfer-Encoding: chunked' --data-binary @- "$URL/ingest?dataset=big")
DESC="POST /ingest (chunked, over limit)"
expect_status 413
unchanged "chunked upload over the limit"
CHECKS=$((CHECKS + 1))
if [ -z "$(ls -A "$T/lake/.cache/uploads" 2>/dev/null)" ]; then
    pass "no temp files left behind"
else
    fail "temp uploads left: $(ls "$T/lake/.cache/uploads")"
fi

req POST '/ingest?dataset=Bad-Name' --data-binary @"$T/good.csv"
expect_status 400
expect_contains "invalid dataset name"
req POST '/ingest?dataset=..%2Fetc' --data-binary @"$T/good.csv"
expect_status 400
expect_contains "invalid dataset name"
req POST '/ingest' --data-binary @"$T/good.csv"
expect_status 400
expect_contains "'dataset' is required"
req POST '/ingest?dataset=x&format=xml' --data-binary @"$T/good.csv"
expect_status 400
expect_contains "format 'xml'"
req POST '/ingest?dataset=x&types=rate' --data-binary @"$T/good.csv"
expect_status 400
expect_contains "column:TYPE"
req POST '/ingest?dataset=x&rejects=perhaps' --data-binary @"$T/good.csv"
expect_status 400
expect_contains "rejects"
req POST '/ingest?dataset=x&datset=y' --data-binary @"$T/good.csv"
expect_status 400
expect_contains "unknown query parameter 'datset'"
unchanged "bad parameters"

# /ingest/file: only regular files strictly inside the ingest folder.
cp "$T/good.csv" "$T/ingest/inside.csv"
cp "$T/good.csv" "$T/outside.csv"
ln -s "$T/outside.csv" "$T/ingest/escape.csv"
mkdir -p "$T/ingest/sub"
for p in "../outside.csv" "sub/../../outside.csv" "$T/outside.csv" "/etc/passwd" "escape.csv" "sub"; do
    req POST /ingest/file --data-binary "$(jq -n --arg p "$p" '{path: $p, dataset: "sneaky"}')"
    DESC="POST /ingest/file path=$p"
    expect_status 403
    expect_jq '.error.code == "denied"'
    expect_contains "$p"
done
req POST /ingest/file --data-binary '{"path": "/etc/passwd", "dataset": "sneaky"}'
expect_contains "outside the ingest folder"
expect_contains "$(cd "$T/ingest" && pwd -P)"
req POST /ingest/file --data-binary '{"path": "missing.csv", "dataset": "sneaky"}'
expect_status 404
req POST /ingest/file --data-binary '{"path": "inside.csv"}'
expect_status 400
expect_contains "'dataset' is required"
req POST /ingest/file --data-binary '{"path": "inside.csv", "dataset": "x", "bogus": 1}'
expect_status 400
expect_contains "unknown field 'bogus'"
unchanged "refused /ingest/file"

# With no ingest folder configured the route is disabled.
stop_server
start_server LAKEHOUSE_INGEST_DIR=off
req POST /ingest/file --data-binary '{"path": "inside.csv", "dataset": "x"}'
expect_status 403
expect_contains "disabled"
unchanged "disabled /ingest/file"
finish
