#!/usr/bin/env bash
# The write-ahead log of small upserts (ADR 0012), through a real server over HTTP:
#   1. kill -9 of a server at random moments while upserts are acknowledged (loop): after a
#      restart every acknowledged upsert is there, its journal event is there once, nothing
#      was applied twice;
#   2. a torn last record (cut mid-line) is ignored with a log line, earlier records kept;
#   3. replay is idempotent: the log copied back after its records were committed (a crash
#      between the commit and the truncation) applies nothing again;
#   4. a CLI commit between the server's ack and its flush: the flush loses the race and
#      re-applies the record on top (both changes kept, both journaled).
. "$(dirname "$0")/../gateway/lib.sh"
export LAKEHOUSE_LOG_LEVEL=info
export LAKEHOUSE_COMPACT_DELTA_FILES=0
LAKE="$T/lake"
mkdir -p "$LAKE"

clisql() { "$LH_BIN" sql "$1" --format csv --data "$LAKE" | tail -n +2; }
versions() { ls "$LAKE/_catalog/w" | grep -c '^v[0-9]*\.json$'; }
log_records() { if [ -f "$LAKE/_wal/log" ]; then tail -n +2 "$LAKE/_wal/log" | grep -c .; else echo 0; fi; }
upsert_json() { # upsert_json BODY: one request; prints the HTTP status and the body
    curl -s -m 10 -o "$T/u.body" -w '%{http_code}' -X POST "$URL/datasets/w/upsert" \
        -H 'Content-Type: application/json' --data-binary "$1"
}
kill9() {
    kill -9 "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
}

awk 'BEGIN { print "id,val,note"; for (i = 0; i < 1000; i++) printf "%d,base-%d,\n", i, i }' >"$T/base.csv"
"$LH_BIN" ingest "$T/base.csv" --dataset w --key id --data "$LAKE" >/dev/null

# ---- 1. kill -9 while acknowledging, in a loop.
: >"$T/acked"
next=10000
pending_at_kill=0
rounds=${LH_WAL_ROUNDS:-5}
for r in $(seq 1 "$rounds"); do
    # Every other round flushes rarely, so acknowledged records are still only in the log.
    flush=$((r % 2 ? 100 : 5000))
    start_server LAKEHOUSE_WAL_FLUSH_MS=$flush
    (
        n=$next
        while :; do
            b=$(printf '{"rows":[{"id":%d,"val":"v-%d"},{"id":%d,"note":"n-%d"}],"reason":"round %d"}' \
                "$n" "$n" $((n % 1000)) "$n" "$r")
            st=$(upsert_json "$b")
            if [ "$st" = 200 ] && jq -e '.durable == true' "$T/u.body" >/dev/null 2>&1; then
                echo "$n" >>"$T/acked"
            fi
            n=$((n + 1))
        done
    ) &
    client=$!
    sleep "$((1 + RANDOM % 2)).$((RANDOM % 10))"
    [ "$(log_records)" -gt 0 ] && pending_at_kill=$((pending_at_kill + 1))
    kill9
    kill "$client" 2>/dev/null
    wait "$client" 2>/dev/null
    next=$((next + 100000))
done
start_server # replays what the last kill left
stop_server
nacked=$(wc -l <"$T/acked")
CHECKS=$((CHECKS + 1))
[ "$nacked" -ge "$rounds" ] && pass "$nacked upserts acknowledged over $rounds killed servers" ||
    fail "only $nacked upserts acknowledged"
CHECKS=$((CHECKS + 1))
[ "$pending_at_kill" -gt 0 ] && pass "$pending_at_kill kills hit acknowledged records not yet committed" ||
    fail "no kill found records only in the log: the test did not exercise replay"
sort -n "$T/acked" | awk '{ printf "%s(%d)", (NR > 1 ? "," : ""), $1 }' >"$T/acked.sql"
missing=$(clisql "SELECT count(*) FROM (VALUES $(cat "$T/acked.sql")) AS a(id) ANTI JOIN w USING (id)")
expect_eq "$missing" 0 "acknowledged inserts missing after kill -9 and replay"
wrong=$(clisql "SELECT count(*) FROM w WHERE id >= 10000 AND val <> 'v-' || id")
expect_eq "$wrong" 0 "rows with a value their upsert did not set"
dups=$(clisql "SELECT count(*) FROM (SELECT entity FROM journal WHERE dataset = 'w' AND op = 'insert' GROUP BY entity HAVING count(*) > 1)")
expect_eq "$dups" 0 "inserts journaled twice (a record applied twice)"
nojournal=$(clisql "SELECT count(*) FROM (VALUES $(cat "$T/acked.sql")) AS a(id) ANTI JOIN (SELECT CAST(key AS BIGINT) AS id FROM journal WHERE dataset = 'w' AND op = 'insert') USING (id)")
expect_eq "$nojournal" 0 "acknowledged inserts without their journal event"
expect_eq "$(log_records)" 0 "records left in the log after a clean stop"

# ---- 2. a torn last record.
start_server LAKEHOUSE_WAL_FLUSH_MS=600000
for i in 1 2 3; do
    st=$(upsert_json "{\"rows\":[{\"id\":$((900000 + i)),\"val\":\"torn-$i\"}]}")
    expect_eq "$st" 200 "upsert $i before the torn record"
done
kill9
expect_eq "$(log_records)" 3 "records in the log after kill -9"
printf '0badc0de {"seq":99,"dataset":"w","op":"upsert","given":[{"id":9' >>"$LAKE/_wal/log"
start_server
req GET /health
n=$(sql "SELECT count(*) AS n FROM w WHERE val LIKE 'torn-%'" | jq '.rows[0][0]')
expect_eq "$n" 3 "records before the torn one replayed"
CHECKS=$((CHECKS + 1))
grep -q 'wal.torn_record' "$T/serve.err" && pass "the torn record is reported in the log" ||
    fail "no wal.torn_record line in the server log"
stop_server

# ---- 3. replay is idempotent.
start_server LAKEHOUSE_WAL_FLUSH_MS=600000
for i in 1 2; do
    upsert_json "{\"rows\":[{\"id\":$((910000 + i)),\"val\":\"idem-$i\"},{\"id\":7,\"note\":\"idem-$i\"}]}" >/dev/null
done
kill9
cp "$LAKE/_wal/log" "$T/log.copy"
start_server # commits the two records, empties the log
stop_server
v1=$(versions)
ev1=$(clisql "SELECT count(*) FROM journal WHERE dataset = 'w'")
cp "$T/log.copy" "$LAKE/_wal/log" # as if killed after the commit, before the truncation
start_server
stop_server
expect_eq "$(versions)" "$v1" "versions after replaying an already committed log"
expect_eq "$(clisql "SELECT count(*) FROM journal WHERE dataset = 'w'")" "$ev1" "journal events after the second replay"
expect_eq "$(clisql "SELECT count(*) FROM w WHERE val LIKE 'idem-%'")" 2 "rows of the replayed records"
expect_eq "$(clisql "SELECT note FROM w WHERE id = 7")" idem-2 "the later record wins"

# ---- 4. a CLI commit between the ack and the flush.
start_server LAKEHOUSE_WAL_FLUSH_MS=3000
st=$(upsert_json '{"rows":[{"id":5,"val":"from-server"}],"reason":"server"}')
expect_eq "$st" 200 "server upsert acknowledged"
jq -e '.committed == false and .durable == true and .updated == 1' "$T/u.body" >/dev/null &&
    pass "acknowledged through the log (committed false, durable true)" ||
    fail "response: $(cat "$T/u.body")"
CHECKS=$((CHECKS + 1))
expect_eq "$(sql "SELECT val FROM w WHERE id = 5" | jq -r '.rows[0][0]')" from-server "visible at once to the server's queries"
printf 'id,note\n5,from-cli\n' >"$T/cli.csv"
"$LH_BIN" upsert w "$T/cli.csv" --reason cli --data "$LAKE" >/dev/null || fail "CLI upsert while the server runs"
for _ in $(seq 1 100); do
    [ "$(log_records)" = 0 ] && break
    sleep 0.1
done
expect_eq "$(log_records)" 0 "the server's flush emptied the log"
row=$(sql "SELECT val, note FROM w WHERE id = 5" | jq -c '.rows[0]')
expect_eq "$row" '["from-server","from-cli"]' "both writes kept after the rebase"
CHECKS=$((CHECKS + 1))
grep -q 'wal.rebase' "$T/serve.err" && pass "the lost race was rebased" || fail "no wal.rebase in the log"
stop_server
chain=$(clisql "SELECT string_agg(field || '=' || new_value || '/' || coalesce(reason, ''), ' ' ORDER BY version) FROM journal WHERE entity = 'w/5' AND op = 'update' AND reason IN ('server', 'cli')")
expect_eq "$chain" "note=from-cli/cli val=from-server/server" "journal of the record (the rebased write last)"
CHECKS=$((CHECKS + 1))
[ "$(clisql "SELECT note FROM w WHERE id = 5")" = from-cli ] && pass "committed state read by another process" ||
    fail "CLI reads note=$(clisql "SELECT note FROM w WHERE id = 5")"

# ---- 5. flushes follow the automatic compaction policy.
start_server LAKEHOUSE_WAL_FLUSH_MS=20 LAKEHOUSE_COMPACT_DELTA_FILES=3
for i in 1 2 3 4 5; do
    upsert_json "{\"rows\":[{\"id\":$((920000 + i)),\"val\":\"c-$i\"}]}" >/dev/null
    sleep 0.3
done
stop_server
CHECKS=$((CHECKS + 1))
grep -q '"op": *"compact"' "$LAKE"/_catalog/w/v*.json && pass "a flush compacted the deltas" ||
    fail "no compaction after flushes past compact_delta_files"
expect_eq "$(clisql "SELECT count(*) FROM w WHERE val LIKE 'c-%'")" 5 "rows upserted around the compaction"

finish
