# lakehouse index over a dataset ingested through the trunk: NDJSON whose "vector" field is
# an array of numbers → build, list, show, search (by vector, by row id, with filters), eval,
# rebuild as a new generation; bad columns, bad vectors and hostile filters are refused and
# store nothing.
. "$(dirname "$0")/../gateway/lib.sh"
LAKE="$T/lake"
lh() { "$LH_BIN" "$@" --data "$LAKE"; }

# 1200 rows, 16 dimensions, six clusters; deterministic.
awk 'BEGIN {
    srand(42);
    split("Chicago Boston Austin", city, " ");
    for (i = 0; i < 1200; i++) {
        c = i % 6;
        printf "{\"id\":%d,\"name\":\"doc-%d\",\"city\":\"%s\",\"vector\":[", i, i, city[i % 3 + 1];
        for (j = 0; j < 16; j++)
            printf "%s%.5f", (j ? "," : ""), (j == c ? 1 : 0) + 0.6 * (rand() - 0.5);
        printf "]}\n";
    }
}' >"$T/docs.ndjson"

out=$(lh ingest "$T/docs.ndjson" 2>&1)
expect_eq "$?" 0 "ingest of docs.ndjson ($out)"
expect_eq "$(lh catalog show docs | jq -r '.columns[] | select(.name == "vector") | .type')" \
    "DOUBLE[]" "the vector field's type"

objects() { find "$LAKE/vectors" -type f 2>/dev/null | wc -l; }

# --- build, list, show -------------------------------------------------------------
out=$(lh index build docs --column vector --id-column name --threads 1 2>&1)
expect_eq "$?" 0 "index build ($out)"
CHECKS=$((CHECKS + 1))
if [[ "$out" == *"index docs_vector generation g00000001: 1200 vectors of 16 dimensions"* ]]; then
    pass "build reports the generation"
else
    fail "build output: $out"
fi
expect_eq "$(lh index list | awk 'NR > 1 {print $1, $2, $3, $5, $6}')" \
    "docs_vector g00000001 docs 1200 16" "index list"
lh index show docs_vector >"$T/show.json"
expect_eq "$(jq -r '[.current.dataset, .current.dataset_version, .current.column, .current.id_column, .current.metric] | join(" ")' "$T/show.json")" \
    "docs 1 vector name cosine" "index show: metadata of the current generation"
expect_eq "$(find "$LAKE/vectors/docs_vector/g00000001" -type f -printf '%f\n' | sort | tr '\n' ' ')" \
    "claim.json hnsw.bin ids.jsonl index.json " "generation objects in the lake"

# --- search ------------------------------------------------------------------------
lh index search docs_vector --like-row doc-42 -k 5 --format json >"$T/body"
DESC="search --like-row doc-42"
expect_jq '.hits | length == 5' "5 hits"
expect_jq '.hits[0].id == "doc-42" and .hits[0].row == 42 and .hits[0].distance < 1e-5' "the row itself first"
expect_jq '.hits | all(.fields.city != null and (.fields | has("vector") | not))' "rows without the vector"
vec=$(sed -n '43p' "$T/docs.ndjson" | jq -c .vector)
lh index search docs_vector --vector "$vec" -k 3 --format json >"$T/body"
DESC="search --vector (row 42's)"
expect_jq '.hits[0].row == 42 and (.hits | length == 3)' "row 42 first"

boston=$(lh sql "SELECT count(*) AS n FROM docs WHERE city = 'Boston'" --format json | jq '.rows[0][0]')
lh index search docs_vector --like-row doc-42 -k 20 --filter "city = 'Boston'" --format json >"$T/body"
DESC="search --filter city = 'Boston'"
expect_jq ".filter_matches == $boston" "filter matched $boston rows"
expect_jq '(.hits | length == 20) and (.hits | all(.fields.city == "Boston"))' "only Boston rows"
lh index search docs_vector --like-row doc-42 -k 5 --filter "id = 7" --format json >"$T/body"
DESC="search --filter id = 7"
expect_jq '.hits | length == 1 and .[0].id == "doc-7"' "the one matching row"
expect_jq '.strategy == "exact"' "exact search at tiny selectivity"
lh index search docs_vector --like-row doc-1 --filter "id < 0" --format json >"$T/body"
DESC="search --filter matching nothing"
expect_jq '.hits == [] and .filter_matches == 0' "no hits"
table=$(lh index search docs_vector --like-row doc-42 -k 2 --format table)
CHECKS=$((CHECKS + 1))
if [[ "$table" == *'"doc-42"'* && "$table" == *"(2 hits"* ]]; then pass "table output"; else fail "table output: $table"; fi

# --- eval --------------------------------------------------------------------------
out=$(lh index eval docs_vector --queries 100 -k 10)
expect_eq "$?" 0 "index eval"
recall=$(sed -n 's/.*recall@10 \([0-9.]*\).*/\1/p' <<<"$out")
CHECKS=$((CHECKS + 1))
if awk -v r="$recall" 'BEGIN { exit !(r >= 0.9) }' && [[ "$out" == *"p95"* && "$out" == *"QPS"* ]]; then
    pass "eval: recall@10 $recall, latency and QPS reported"
else
    fail "eval output: $out"
fi

# --- rebuild: a new generation --------------------------------------------------------
out=$(lh index build docs --column vector --metric l2 --m 8 --ef-construction 64 --quantize int8 --threads 1 2>&1)
expect_eq "$?" 0 "rebuild ($out)"
lh index show docs_vector >"$T/body"
DESC="index show after the rebuild"
expect_jq '(.generations | length == 2) and .current.generation == "g00000002"' "two generations"
expect_jq '.current.metric == "l2" and .current.m == 8 and .current.quantize == "int8" and .current.row_ids == "positions"' "new parameters"
expect_jq '[.generations[] | .current] == [false, true]' "only the last is current"
expect_eq "$(ls "$LAKE/vectors/docs_vector/_current" | tr '\n' ' ')" "00000001.json 00000002.json " "pointer log"
lh index search docs_vector --like-row 42 -k 1 --format json --no-rows >"$T/body"
DESC="search on the new generation (row positions)"
expect_jq '.generation == "g00000002" and .hits[0].id == 42 and (.hits[0] | has("fields") | not)' "row 42"

# --- bad input: clear errors, nothing stored --------------------------------------------
printf '{"v":[1,2,3]}\n{"v":[1,2,3]}\n{"v":[1,2]}\n' >"$T/ragged.ndjson"
printf '{"v":[1,2]}\n{"v":null}\n' >"$T/holes.ndjson"
lh ingest "$T/ragged.ndjson" >/dev/null && lh ingest "$T/holes.ndjson" >/dev/null
before=$(objects)
refuse() { # refuse EXPECTED_RC MESSAGE_PART ARGS...
    local want=$1 msg=$2
    shift 2
    local out rc
    out=$(lh "$@" 2>&1)
    rc=$?
    CHECKS=$((CHECKS + 1))
    if [ "$rc" = "$want" ] && [[ "$out" == *"$msg"* ]] && [[ "$out" != *"root:"* ]]; then
        pass "$* refused ($msg)"
    else
        fail "$*: expected exit $want and '$msg', got $rc: $out"
    fi
}
refuse 1 "has type VARCHAR; an index needs an array of numbers" index build docs --column city
refuse 1 "has no column 'nope'" index build docs --column nope
refuse 1 "no id column 'nope'" index build docs --column vector --id-column nope
refuse 1 "nosuch" index build nosuch --column vector
refuse 1 "row 2: column 'v' has 2 values but row 0 has 3" index build ragged --column v
refuse 1 "row 1: column 'v' is NULL" index build holes --column v
refuse 1 "index name 'Bad-Name'" index build docs --column vector --name Bad-Name
refuse 2 "unknown metric 'manhattan'" index build docs --column vector --metric manhattan
refuse 2 "--m must be an integer in 2..256" index build docs --column vector --m 1
refuse 2 "--quantize takes int8 or none" index build docs --column vector --quantize pq
expect_eq "$(objects)" "$before" "refused builds stored nothing"

refuse 1 "no vector index 'nope'" index search nope --vector '[1,2]'
refuse 1 "has 3 values but index 'docs_vector' has 16 dimensions" index search docs_vector --vector '[1,2,3]'
refuse 1 "not a number" index search docs_vector --vector '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,"x"]'
refuse 1 "--vector is not JSON" index search docs_vector --vector '[1,2'
refuse 1 "no row 99999" index search docs_vector --like-row 99999
refuse 2 "-k must be an integer in 1..1000" index search docs_vector --like-row 1 -k 0
refuse 2 "one of --vector or --like-row" index search docs_vector
refuse 2 "';' at byte 3" index search docs_vector --like-row 1 --filter "1=1; DROP VIEW docs"
refuse 2 "closes a parenthesis that was never opened" index search docs_vector --like-row 1 \
    --filter "1=1) UNION SELECT id FROM docs WHERE (1=1"
refuse 2 "comments are not allowed" index search docs_vector --like-row 1 --filter "1=1 --"
refuse 1 "Permission Error" index search docs_vector --like-row 1 \
    --filter "id IN (SELECT * FROM read_csv('/etc/passwd'))"
refuse 1 "no_such_col" index search docs_vector --like-row 1 --filter "no_such_col = 1"
expect_eq "$(lh sql 'SELECT count(*) FROM docs' --format json | jq '.rows[0][0]')" 1200 \
    "the dataset is untouched"
finish
