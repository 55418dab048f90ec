# The hot cache: pin, hits, commits applied in place (never a stale row), unpin, automatic
# admission of a dataset queried often (cache_auto_admit), none without it, admission by key
# lookups (the default), a pin refused past the memory budget.
. "$(dirname "$0")/lib.sh"
start_server LAKEHOUSE_CACHE_AUTO_ADMIT=true

printf 'id,name\n1,ada\n2,grace\n' >"$T/p.csv"
req POST '/ingest?dataset=people&key=id' --data-binary @"$T/p.csv"
expect_status 201
awk 'BEGIN { print "id,v"; for (i = 0; i < 2000; i++) printf "%d,%d\n", i, i }' >"$T/o.csv"
req POST '/ingest?dataset=other' --data-binary @"$T/o.csv"
expect_status 201

req GET /cache
expect_status 200
expect_jq '.enabled == true and .used_bytes == 0 and .budget_bytes > 0' "empty cache"

req POST /cache/pin --data-binary '{"dataset":"people"}'
expect_status 200
expect_jq '.entries[] | select(.dataset == "people") | .cached and .pinned and .version == 1 and .bytes > 0 and .rows == 2' "people pinned"
[ -f "$T/lake/_cache/pins/people" ] && pass "pin kept in the lake" || fail "no pin marker"

expect_eq "$(sql 'SELECT name FROM people WHERE id = 2' | jq -r '.rows[0][0]')" "grace" "query on the pinned table"
req GET /cache
expect_jq '.entries[] | select(.dataset == "people") | .hits >= 1' "a hit counted"

# A commit: the pinned table is reloaded at the new version before any query sees it.
req POST /datasets/people/upsert -H 'Content-Type: application/json' --data-binary '{"rows":[{"id":2,"name":"hopper"}]}'
expect_status 200
expect_eq "$(sql 'SELECT name FROM people WHERE id = 2' | jq -r '.rows[0][0]')" "hopper" "no stale row after an upsert"
# The upsert went through the write-ahead log: its commit follows within wal_flush_ms.
wait_jq /cache '.entries[] | select(.dataset == "people") | .version == 2'
req GET /cache
expect_jq '.entries[] | select(.dataset == "people") | .cached and .version == 2 and .followed == 1' "applied in place at version 2 (no reload)"

req POST /cache/unpin --data-binary '{"dataset":"people"}'
expect_status 200
expect_jq '.entries[] | select(.dataset == "people") | .pinned == false' "unpinned"
[ ! -f "$T/lake/_cache/pins/people" ] && pass "pin marker removed" || fail "pin marker still there"

# Queried often enough, a small dataset is admitted on its own.
for i in 1 2 3; do sql 'SELECT count(*) FROM other' >/dev/null; done
req GET /cache
expect_jq '.entries[] | select(.dataset == "other") | .cached and .misses >= 3' "other admitted"
expect_eq "$(sql 'SELECT sum(v) FROM other' | jq -r '.rows[0][0]')" "1999000" "admitted table answers"

req POST /cache/pin --data-binary '{"dataset":"nope"}'
expect_status 404
req POST /cache/pin --data-binary '{"dataset":"people","x":1}'
expect_status 400

# Without cache_auto_admit (the default) scans admit nothing; key lookups admit a keyed
# dataset (cache_admit_key_lookups, on by default), which then follows commits in place.
start_server
for i in 1 2 3 4 5 6; do sql 'SELECT count(*) FROM other' >/dev/null; done
req GET /cache
expect_jq '[.entries[] | select(.cached)] | length == 0' "nothing admitted without cache_auto_admit"
expect_eq "$(sql 'SELECT sum(v) FROM other' | jq -r '.rows[0][0]')" "1999000" "answers from Parquet"
for i in 1 2; do sql 'SELECT name FROM people WHERE id = 1' >/dev/null; done
req GET /cache
expect_jq '[.entries[] | select(.cached)] | length == 0' "two key lookups admit nothing yet"
expect_eq "$(sql 'SELECT name FROM people WHERE id IN (2)' | jq -r '.rows[0][0]')" "hopper" "third key lookup"
req GET /cache
expect_jq '.entries[] | select(.dataset == "people") | .cached and .pinned == false' "admitted by key lookups"
req POST /datasets/people/upsert -H 'Content-Type: application/json' --data-binary '{"rows":[{"id":3,"name":"lovelace"}]}'
expect_status 200
expect_eq "$(sql "SELECT string_agg(name, ',' ORDER BY id) FROM people" | jq -r '.rows[0][0]')" "ada,hopper,lovelace" "admitted table follows the upsert"
# Through the write-ahead log: the table follows once the log's flush commits.
wait_jq /cache '.entries[] | select(.dataset == "people") | .followed == 1'
req GET /cache
expect_jq '.entries[] | select(.dataset == "people") | .cached and .followed == 1' "followed in place"
finish
