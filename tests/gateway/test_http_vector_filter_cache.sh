# POST /vectors/search filter allow-sets are cached per index generation: a repeated filter
# is served from the cache (same matches and hits), while a new version of a dataset the
# filter reads, or a new index generation over a new dataset version, is never served a
# stale set.
. "$(dirname "$0")/lib.sh"
start_server

gen_docs() { # FIRST COUNT
    awk -v first="$1" -v n="$2" 'BEGIN {
        srand(first + 3);
        split("Chicago Boston Austin", city, " ");
        for (i = first; i < first + n; i++) {
            printf "{\"id\":%d,\"city\":\"%s\",\"vector\":[", i, city[i % 3 + 1];
            for (j = 0; j < 8; j++)
                printf "%s%.5f", (j ? "," : ""), (j == i % 4 ? 1 : 0) + 0.6 * (rand() - 0.5);
            printf "]}\n";
        }
    }'
}
gen_docs 0 300 >"$T/docs.ndjson"
req POST '/ingest?dataset=docs&format=ndjson&name=docs.ndjson' --data-binary @"$T/docs.ndjson"
expect_status 201
printf '{"id":1}\n{"id":2}\n{"id":3}\n' >"$T/marks1.ndjson"
req POST '/ingest?dataset=marks&format=ndjson&name=marks1.ndjson' --data-binary @"$T/marks1.ndjson"
expect_status 201
"$LH_BIN" index build docs --column vector --id-column id --threads 1 --data "$T/lake" >"$T/build.out" 2>&1
expect_eq "$?" 0 "index build ($(cat "$T/build.out"))"

vec=$(sed -n '11p' "$T/docs.ndjson" | jq -c .vector)
search() { # FILTER [K]
    req POST /vectors/search -H 'Content-Type: application/json' --data-binary \
        "$(jq -nc --arg f "$1" --argjson v "$vec" --argjson k "${2:-5}" '{index: "docs_vector", vector: $v, k: $k, filter: $f}')"
}

# --- a repeated filter comes from the cache, with the same answer ------------------------
search "city = 'Boston'"
DESC="first Boston search"
expect_status 200
expect_jq '.filter_matches == 100 and .filter_cached == false' "100 matches, scanned"
first=$(jq -c '[.hits[].id]' "$T/body")
search "city = 'Boston'"
DESC="repeated Boston search"
expect_jq '.filter_matches == 100 and .filter_cached == true' "100 matches, from the cache"
expect_eq "$(jq -c '[.hits[].id]' "$T/body")" "$first" "same hits from the cache"
search "city =  'Boston'"
DESC="different filter text"
expect_jq '.filter_cached == false' "another text is another entry"
search "city = 'Austin'"
DESC="Austin search"
expect_jq '.filter_matches == 100 and .filter_cached == false and (.hits | all(.id % 3 == 2))' "its own set"

# --- a new version of a dataset the filter reads: never the stale set -----------------------
search "id IN (SELECT id FROM marks)" 10
DESC="filter through marks v1"
expect_jq '.filter_matches == 3' "3 marked rows"
search "id IN (SELECT id FROM marks)" 10
DESC="filter through marks v1 again"
expect_jq '.filter_matches == 3 and .filter_cached == true' "cached"
printf '{"id":40}\n{"id":41}\n' >"$T/marks2.ndjson"
req POST '/ingest?dataset=marks&format=ndjson&name=marks2.ndjson' --data-binary @"$T/marks2.ndjson"
expect_status 201
search "id IN (SELECT id FROM marks)" 10
DESC="filter through marks v2, right after the append"
expect_jq '.filter_matches == 5 and .filter_cached == false' "5 marked rows, scanned again"
expect_jq '[.hits[].id] | sort == [1, 2, 3, 40, 41]' "the new rows among the hits"

# --- a new dataset version and a new index generation: never the stale set -----------------
gen_docs 300 150 >"$T/more.ndjson"
req POST '/ingest?dataset=docs&format=ndjson&name=more.ndjson' --data-binary @"$T/more.ndjson"
expect_status 201
search "city = 'Boston'"
DESC="Boston search before the rebuild"
expect_jq '.generation == "g00000001" and .filter_matches == 100' "generation 1 still has 100 Boston rows"
"$LH_BIN" index build docs --column vector --id-column id --threads 1 --data "$T/lake" >"$T/build2.out" 2>&1
expect_eq "$?" 0 "rebuild over the new version ($(cat "$T/build2.out"))"
gen=""
for _ in $(seq 1 50); do
    search "city = 'Boston'"
    gen=$(jq -r .generation "$T/body")
    [ "$gen" = g00000002 ] && break
    sleep 0.1
done
DESC="Boston search on generation 2"
expect_jq '.generation == "g00000002" and .filter_matches == 150 and .filter_cached == false' "150 Boston rows, scanned"
search "city = 'Boston'"
expect_jq '.filter_matches == 150 and .filter_cached == true' "then cached for generation 2"
finish
