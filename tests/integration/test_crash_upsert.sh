#!/usr/bin/env bash
# Crash safety of upserts and compaction: kill -9 them at random moments in a loop, then check
# that every committed version is readable and whole (an upsert's rows all there or none),
# that compaction changed no row, and that the journal has the events of every version.
set -euo pipefail
: "${LH_BIN:?LH_BIN must point at the lakehouse program}"
tmp=$(mktemp -d /tmp/lh-crash-upsert-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
lake="$tmp/lake"
export LAKEHOUSE_LOG_LEVEL=error
export LAKEHOUSE_COMPACT_DELTA_FILES=0 # compaction only when the loop asks for it
fail() { echo "FAIL: $*"; exit 1; }
sqlv() { "$LH_BIN" sql "$1" --format csv --data "$lake" | tail -n 1; }

awk 'BEGIN { print "id,val,note"; for (r = 0; r < 20000; r++) printf "%d,0,base-row-%d\n", r, r }' >"$tmp/base.csv"
"$LH_BIN" ingest "$tmp/base.csv" --dataset crash --key id --data "$lake" >/dev/null

# Round r sets val = r on 3000 consecutive ids (an upsert), or compacts (every 4th round).
rounds=${LH_CRASH_ROUNDS:-24}
killed=0
for r in $(seq 1 "$rounds"); do
  if ((r % 4 == 0)); then
    "$LH_BIN" compact crash --reason "round $r" --data "$lake" >/dev/null 2>&1 &
  else
    start=$(((r * 7919) % 17000))
    awk -v r="$r" -v s="$start" 'BEGIN { print "id,val"; for (i = s; i < s + 3000; i++) printf "%d,%d\n", i, r }' >"$tmp/u$r.csv"
    "$LH_BIN" upsert crash "$tmp/u$r.csv" --reason "round $r" --data "$lake" >/dev/null 2>&1 &
  fi
  pid=$!
  sleep "0.$(printf '%03d' $((RANDOM % 450)))"
  if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
  wait "$pid" 2>/dev/null || true
done
echo "killed $killed of $rounds mutations"

check() {
  local n prev_rows=""
  n=$(ls "$lake/_catalog/crash" | grep -c '^v[0-9]*\.json$')
  for v in $(seq 1 "$n"); do
    m=$("$LH_BIN" catalog show crash --version "$v" --data "$lake") || fail "version $v unreadable"
    op=$(jq -r .op <<<"$m")
    rows=$(sqlv "SELECT count(*) FROM \"crash@v$v\"") || fail "version $v: SQL cannot read it"
    [[ "$rows" =~ ^[0-9]+$ ]] || fail "version $v: got '$rows'"
    case "$op" in
      upsert)
        r=$(jq -r '.metadata.last_reason // ""' <<<"$m" | sed -n 's/^round //p')
        if [[ -n "$r" ]]; then # not the final upsert below, checked on its own
          got=$(sqlv "SELECT count(*) FROM \"crash@v$v\" WHERE val = $r")
          [[ "$got" == 3000 ]] || fail "version $v (round $r): $got of 3000 rows carry the upsert"
        fi
        [[ "$rows" == 20000 ]] || fail "version $v: $rows rows, expected 20000"
        ;;
      compact)
        [[ "$rows" == "$prev_rows" ]] || fail "version $v: compaction changed the row count"
        diff=$(sqlv "SELECT count(*) FROM (SELECT * FROM \"crash@v$v\" EXCEPT SELECT * FROM \"crash@v$((v - 1))\")")
        [[ "$diff" == 0 ]] || fail "version $v: compaction changed $diff rows"
        [[ $(jq '.files | length' <<<"$m") == 1 ]] || fail "version $v: compaction left several files"
        ;;
    esac
    events=$(sqlv "SELECT count(*) FROM journal WHERE dataset = 'crash' AND version = $v")
    [[ "$events" -gt 0 ]] || fail "version $v ($op): no journal events"
    prev_rows=$rows
  done
  # Upserts record one event per changed value: 3000 per round minus values already equal.
  echo "crash: $n versions readable and whole, journal has every version"
}
check

# The lake still takes writes, and a compaction finishes.
awk 'BEGIN { print "id,val"; for (i = 0; i < 10; i++) printf "%d,999\n", i }' >"$tmp/last.csv"
"$LH_BIN" upsert crash "$tmp/last.csv" --reason final --data "$lake" >/dev/null
"$LH_BIN" compact crash --data "$lake" >/dev/null
check
[[ $(sqlv "SELECT count(*) FROM crash WHERE val = 999") == 10 ]] || fail "last upsert not visible"

# Two writers upserting the same keys at once: both land in distinct versions, and the
# journal chains (the later one's old value is the earlier one's new value).
for w in 7 8; do
  awk -v w="$w" 'BEGIN { print "id,val"; for (i = 100; i < 200; i++) printf "%d,%d\n", i, w }' >"$tmp/w$w.csv"
done
v0=$("$LH_BIN" catalog show crash --data "$lake" | jq .version)
"$LH_BIN" upsert crash "$tmp/w7.csv" --data "$lake" >/dev/null &
a=$!
"$LH_BIN" upsert crash "$tmp/w8.csv" --data "$lake" >/dev/null &
b=$!
wait "$a" || fail "writer 7 failed"
wait "$b" || fail "writer 8 failed"
chain=$(sqlv "SELECT string_agg(coalesce(old_value, '-') || '>' || new_value, ' ' ORDER BY version) FROM journal WHERE entity = 'crash/150' AND version > $v0")
first_new=$(awk '{ split($1, p, ">"); print p[2] }' <<<"$chain")
second_old=$(awk '{ split($2, p, ">"); print p[1] }' <<<"$chain")
[[ "$first_new" == "$second_old" && -n "$first_new" ]] || fail "journal does not chain: $chain"
final=$(sqlv "SELECT count(DISTINCT val) FROM crash WHERE id BETWEEN 100 AND 199")
[[ "$final" == 1 ]] || fail "concurrent upserts left a mix of values"
echo "concurrent upserts: both committed, journal chains ($chain)"
echo "crash safety of upserts and compaction: ok"
