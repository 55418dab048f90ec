# POST /vectors/search and GET /vectors/indexes: an NDJSON dataset uploaded over HTTP,
# indexed with the CLI on the same lake while the server runs; searches with and without
# filters and rows; the standard errors (unknown index 404, wrong dimension / k / filter
# 400, sandbox 403, oversized body 413); many concurrent searches; and a rebuild picked up
# by the running server without a restart.
. "$(dirname "$0")/lib.sh"
start_server

awk 'BEGIN {
    srand(42);
    split("Chicago Boston Austin", city, " ");
    for (i = 0; i < 600; i++) {
        printf "{\"id\":%d,\"city\":\"%s\",\"vector\":[", i, city[i % 3 + 1];
        for (j = 0; j < 8; j++)
            printf "%s%.5f", (j ? "," : ""), (j == i % 4 ? 1 : 0) + 0.6 * (rand() - 0.5);
        printf "]}\n";
    }
}' >"$T/docs.ndjson"
req POST '/ingest?dataset=docs&format=ndjson&name=docs.ndjson' --data-binary @"$T/docs.ndjson"
expect_status 201

req GET /vectors/indexes
expect_status 200
expect_jq '.indexes == []' "no indexes yet"

"$LH_BIN" index build docs --column vector --id-column id --threads 1 --data "$T/lake" >"$T/build.out" 2>&1
expect_eq "$?" 0 "index build on the served lake ($(cat "$T/build.out"))"

req GET /vectors/indexes
expect_status 200
expect_jq '.indexes | length == 1 and .[0].name == "docs_vector"' "the index is listed"
expect_jq '.indexes[0].current | .generation == "g00000001" and .dim == 8 and .count == 600 and .dataset == "docs" and .metric == "cosine"' "with its metadata"
expect_jq '.indexes[0].generations | length == 1 and .[0].current == true' "and its generations"

vec=$(sed -n '11p' "$T/docs.ndjson" | jq -c .vector) # row 10
search() { req POST /vectors/search -H 'Content-Type: application/json' --data-binary "$1"; }

search "{\"index\":\"docs_vector\",\"vector\":$vec,\"k\":4}"
DESC="search row 10's vector"
expect_status 200
expect_jq '.hits | length == 4' "4 hits"
expect_jq '.hits[0].id == 10 and .hits[0].row == 10 and .hits[0].distance < 1e-5' "row 10 first"
expect_jq '.generation == "g00000001" and .dataset == "docs" and .strategy == "graph"' "index, generation, strategy"
expect_jq '.hits | map(.distance) | . == sort' "nearest first"

search "{\"index\":\"docs_vector\",\"vector\":$vec,\"k\":10,\"filter\":\"city = 'Boston' AND id > 100\",\"include_rows\":true}"
DESC="search with a filter and rows"
expect_status 200
expect_jq '.filter_matches == 166' "166 rows match"
expect_jq '(.hits | length == 10) and (.hits | all(.fields.city == "Boston" and .fields.id > 100 and .fields.id == .id))' "only matching rows, with their fields"
expect_jq '.hits | all(.fields | has("vector") | not)' "fields leave the vector out"

search "{\"index\":\"docs_vector\",\"vector\":$vec,\"k\":3,\"filter\":\"id IN (7, 8)\"}"
DESC="search with a 2-row filter"
expect_status 200
expect_jq '[.hits[].id] | sort == [7, 8]' "exactly the allowed rows"

# --- errors ---------------------------------------------------------------------------
search '{"index":"nope","vector":[1,2,3,4,5,6,7,8]}'
DESC="unknown index"
expect_status 404
expect_jq '.error.code == "not_found" and .error.detail.index == "nope"' "not_found"
search '{"index":"docs_vector","vector":[1,2,3]}'
DESC="wrong dimension"
expect_status 400
expect_jq '.error.detail.expected_dim == 8 and .error.detail.got == 3' "says 8 expected, 3 given"
for k in 0 1001 '"5"' 2.5; do
    search "{\"index\":\"docs_vector\",\"vector\":$vec,\"k\":$k}"
    DESC="k = $k"
    expect_status 400
    expect_contains "field 'k' must be an integer in 1..1000"
done
search "{\"index\":\"docs_vector\",\"vector\":$vec,\"ef_search\":0}"
DESC="ef_search = 0"
expect_status 400
search '{"index":"docs_vector"}'
DESC="no vector"
expect_status 400
expect_contains "field 'vector' is required"
search "{\"index\":\"docs_vector\",\"vector\":$vec,\"topk\":3}"
DESC="unknown field"
expect_status 400
expect_contains "unknown field 'topk'"
search '{"index":"docs_vector","vector":[1,2,3,4,5,6,7,"x"]}'
DESC="a non-number in the vector"
expect_status 400
search '{"index":"docs_vector","vector":[0,0,0,0,0,0,0,0]}'
DESC="a zero vector under cosine"
expect_status 400
search '{"index":"Bad Name","vector":[1]}'
DESC="an invalid index name"
expect_status 400

hostile=(
    "1=1; DROP VIEW docs"
    "1=1) UNION SELECT id FROM docs WHERE (1=1"
    "1=1 -- comment"
    "id = \$1"
    "no_such_column = 1"
)
for f in "${hostile[@]}"; do
    search "$(jq -nc --arg f "$f" --argjson v "$vec" '{index: "docs_vector", vector: $v, filter: $f}')"
    DESC="filter: $f"
    expect_status 400
    expect_jq '.error.code == "invalid_input" and .error.detail.field == "filter"' "refused as a bad filter"
done
for f in "id IN (SELECT * FROM read_csv('/etc/passwd'))" "id IN (SELECT 1 FROM read_text('/etc/passwd'))"; do
    search "$(jq -nc --arg f "$f" --argjson v "$vec" '{index: "docs_vector", vector: $v, filter: $f}')"
    DESC="filter: $f"
    expect_status 403
    CHECKS=$((CHECKS + 1))
    if grep -q 'root:' "$T/body"; then fail "$DESC leaked file content"; else pass "$DESC leaked nothing"; fi
done

head -c 1200000 /dev/zero | tr '\0' '1' | sed 's/^/{"index":"docs_vector","vector":[/; s/$/]}/' >"$T/big.json"
req POST /vectors/search -H 'Content-Type: application/json' --data-binary @"$T/big.json"
DESC="a body over max_json_bytes"
expect_status 413

req GET /vectors/search
DESC="GET /vectors/search"
expect_status 405

# --- concurrency: many searches at once, all correct -----------------------------------
for i in $(seq 0 199); do
    row=$((i % 600))
    v=$(sed -n "$((row + 1))p" "$T/docs.ndjson" | jq -c .vector)
    printf '%s\t{"index":"docs_vector","vector":%s,"k":1}\n' "$row" "$v"
done >"$T/queries.tsv"
# shellcheck disable=SC2016
xargs -P 8 -d '\n' -n 1 bash -c 'row=${0%%	*}; body=${0#*	};
    got=$(curl -s "'"$URL"'/vectors/search" --data-binary "$body" | jq ".hits[0].id");
    [ "$got" = "$row" ] || echo "row $row: got $got"' <"$T/queries.tsv" >"$T/conc.out" 2>&1
CHECKS=$((CHECKS + 1))
if [ ! -s "$T/conc.out" ]; then pass "200 concurrent searches (8 at a time) all found their row"; else fail "concurrent searches: $(head -5 "$T/conc.out")"; fi

# --- a rebuild is served without a restart ---------------------------------------------
"$LH_BIN" index build docs --column vector --metric l2 --threads 1 --data "$T/lake" >"$T/build2.out" 2>&1
expect_eq "$?" 0 "rebuild ($(cat "$T/build2.out"))"
gen=""
for _ in $(seq 1 50); do
    search "{\"index\":\"docs_vector\",\"vector\":$vec,\"k\":1}"
    gen=$(jq -r .generation "$T/body")
    [ "$gen" = g00000002 ] && break
    sleep 0.1
done
expect_eq "$gen" g00000002 "the server switched to the new generation"
DESC="search on the new generation"
expect_status 200
expect_jq '.hits[0].row == 10 and .hits[0].id == 10' "row 10 first (row positions, l2)"
req GET /vectors/indexes
expect_jq '.indexes[0].generations | length == 2 and .[1].current and .[1].metric == "l2"' "two generations listed"
finish
