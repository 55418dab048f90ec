# Health, OpenAPI, routing errors, identity header, JSON body errors and limits.
. "$(dirname "$0")/lib.sh"
start_server LAKEHOUSE_MAX_JSON=2048

req GET /health
expect_status 200
expect_jq '.status == "ok" and .version != null and (.duckdb | startswith("v")) and .storage == "local" and .datasets == 0 and (.uptime_s | type) == "number"' "health fields"
expect_header Content-Type application/json

req HEAD /health
expect_status 200

req GET /openapi.json
expect_status 200
CHECKS=$((CHECKS + 1))
if diff <(jq -S . "$T/body") <(jq -S . "$LH_SOURCE_DIR/src/gateway/openapi.json") >/dev/null; then
    pass "served OpenAPI document equals src/gateway/openapi.json"
else
    fail "served /openapi.json differs from src/gateway/openapi.json (rebuild after editing it)"
fi

req GET /no/such/route
expect_status 404
expect_jq '.error.code == "not_found" and (.error.detail | type) == "object"' "error shape"
expect_contains "no route for GET /no/such/route"

req GET $'/caf\xe9/\xff'
expect_status 404
expect_jq '.error.code == "not_found"' "raw non-UTF-8 path still gets a JSON error"
req GET /health -H $'X-Lakehouse-Profile: \xff'
expect_status 403
expect_jq '.error.code == "denied"' "non-UTF-8 profile header still gets a JSON error"

req DELETE /health
expect_status 405
expect_header Allow GET
expect_jq '.error.code == "unsupported"'
expect_contains "not allowed"

req GET /sql
expect_status 405
expect_header Allow POST

req GET /health -H 'X-Lakehouse-Profile: default'
expect_status 200
req GET /health -H 'X-Lakehouse-Profile: intruder'
expect_status 403
expect_jq '.error.code == "denied"'
expect_contains "profile 'intruder'"

# Dataset names in paths: encoded traversal, raw traversal, bad characters.
req GET '/catalog/datasets/..%2F..%2Fetc'
expect_status 400
expect_contains "invalid dataset name"
req GET '/catalog/datasets/../../etc/passwd' --path-as-is
expect_status 400
expect_contains "'..'"
req GET '/catalog/datasets/Bad-Name'
expect_status 400
expect_contains "invalid dataset name"
req GET '/catalog/datasets/nope'
expect_status 404
expect_jq '.error.code == "not_found"'
req GET '/catalog/datasets/nope?version=x'
expect_status 400
req GET '/catalog/datasets/x?a=1&a=2'
expect_status 400
expect_contains "more than once"

# JSON bodies.
req POST /sql --data-binary '{"sql": "SELECT 1",'
expect_status 400
expect_contains "malformed JSON body at line 1, column"
expect_jq '.error.detail.line == 1 and (.error.detail.column | type) == "number"' "line/column in detail"
req POST /sql --data-binary $'{\n  "sql": "SELECT 1"\n  "format": "csv"\n}'
expect_status 400
expect_contains "line 3"
req POST /sql --data-binary $'{"sql": "SELECT \'\xff\xfe\'"}'
expect_status 400
expect_contains "not valid UTF-8"
req POST /sql --data-binary '[1,2]'
expect_status 400
expect_contains "must be an object"
req POST /sql
expect_status 400
expect_contains "empty"
req POST /sql --data-binary '{"sql": "SELECT 1", "fromat": "csv"}'
expect_status 400
expect_contains "unknown field 'fromat'"
req POST /sql --data-binary '{"sql": 42}'
expect_status 400
expect_contains "'sql'"
req POST /sql --data-binary '{"sql": "SELECT 1", "format": "xml"}'
expect_status 400
expect_contains "'format'"
big=$(printf '{"sql": "SELECT %04000d"}' 1)
req POST /sql --data-binary "$big"
expect_status 413
expect_jq '.error.code == "too_large"'
expect_contains "2048 bytes"
req POST /sql --data-binary "$big" -H 'Transfer-Encoding: chunked'
expect_status 413

# The server is still healthy after all of that.
req GET /health
expect_status 200
finish
