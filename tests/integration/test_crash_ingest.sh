#!/usr/bin/env bash
# Crash safety: kill -9 a process ingesting in a loop at random moments, then check that
# every committed version is readable and complete, and that nothing uncommitted is visible.
# Also: two writers appending to one dataset at once both land, in distinct versions.
set -euo pipefail
: "${LH_BIN:?LH_BIN must point at the lakehouse program}"
tmp=$(mktemp -d /tmp/lh-crash-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
lake="$tmp/lake"
export LAKEHOUSE_LOG_LEVEL=error

# Files with distinct content and a known row count: file i has 2000+i rows.
make_file() {
  local i=$1 rows=$((2000 + $1))
  awk -v i="$i" -v n="$rows" 'BEGIN { print "id,batch,payload"; for (r = 0; r < n; r++) printf "%d,%d,row-%d-%d-some-text-to-make-it-longer\n", r, i, i, r }' > "$tmp/f$i.csv"
}

rounds=${LH_CRASH_ROUNDS:-30}
killed=0
for i in $(seq 1 "$rounds"); do
  make_file "$i"
  "$LH_BIN" ingest "$tmp/f$i.csv" --dataset crash --data "$lake" >/dev/null 2>&1 &
  pid=$!
  # A random moment between 0 and ~250 ms into the ingest.
  sleep "0.$(printf '%03d' $((RANDOM % 250)))"
  if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
  wait "$pid" 2>/dev/null || true
done
echo "killed $killed of $rounds ingests"

check_dataset() {
  local ds=$1
  local versions
  versions=$(ls "$lake/_catalog/$ds" 2>/dev/null | grep -c '^v[0-9]*\.json$' || true)
  [[ "$versions" -gt 0 ]] || { echo "no committed version of $ds (nothing to check)"; return 0; }
  for v in $(seq 1 "$versions"); do
    [[ -f "$lake/_catalog/$ds/$(printf 'v%08d.json' "$v")" ]] || { echo "FAIL: version $v of $ds missing (versions not contiguous)"; exit 1; }
    m=$("$LH_BIN" catalog show "$ds" --version "$v" --data "$lake") || { echo "FAIL: version $v of $ds unreadable"; exit 1; }
    # Every file of the version exists with the recorded size; the rows add up.
    sum=0
    while IFS=$'\t' read -r key size rows; do
      actual=$(stat -c %s "$lake/$key" 2>/dev/null || echo missing)
      [[ "$actual" == "$size" ]] || { echo "FAIL: $ds v$v: $key size $actual, manifest says $size"; exit 1; }
      sum=$((sum + rows))
    done < <(jq -r '.files[] | [.key, .size, .rows] | @tsv' <<<"$m")
    total=$(jq -r '.rows' <<<"$m")
    [[ "$sum" == "$total" ]] || { echo "FAIL: $ds v$v: file rows $sum != manifest rows $total"; exit 1; }
  done
  # What SQL sees is exactly the latest version: every committed batch complete, no other.
  latest=$("$LH_BIN" catalog show "$ds" --data "$lake")
  expect=$(jq -r '.rows' <<<"$latest")
  got=$("$LH_BIN" sql "SELECT count(*) AS n FROM $ds" --format ndjson --data "$lake" | jq -r '.n')
  [[ "$got" == "$expect" ]] || { echo "FAIL: $ds: SQL sees $got rows, catalog says $expect"; exit 1; }
  bad=$("$LH_BIN" sql "SELECT count(*) AS n FROM (SELECT batch, count(*) c FROM $ds GROUP BY batch HAVING c <> 2000 + batch)" --format ndjson --data "$lake" | jq -r '.n')
  [[ "$bad" == "0" ]] || { echo "FAIL: $ds: $bad batches are partial"; exit 1; }
  echo "$ds: $versions versions, $expect rows, all complete"
}
check_dataset crash

# Files of killed writers (uploaded, never committed) are garbage: gc removes exactly those,
# and only once older than the grace period.
referenced() { for v in $(ls "$lake/_catalog/crash" 2>/dev/null | grep '^v'); do jq -r '.files[].key' "$lake/_catalog/crash/$v"; done | sort -u; }
on_disk() { (cd "$lake" && find data/crash -name '*.parquet' | sort); }
# (Every kill may have landed before the first commit: the folder may not exist yet.)
mkdir -p "$lake/data/crash"
printf 'not parquet' > "$lake/data/crash/planted-orphan.parquet"
out=$("$LH_BIN" catalog gc crash --data "$lake")
grep -q ' 0 unreferenced removed' <<<"$out" || { echo "FAIL: gc removed young files: $out"; exit 1; }
[[ -f "$lake/data/crash/planted-orphan.parquet" ]] || { echo "FAIL: young orphan removed"; exit 1; }
orphans=$(comm -13 <(referenced) <(on_disk) | wc -l)
out=$("$LH_BIN" catalog gc crash --grace 0 --dry-run --data "$lake")
grep -q " $orphans unreferenced would be removed" <<<"$out" || { echo "FAIL: dry run: expected $orphans orphans: $out"; exit 1; }
[[ -f "$lake/data/crash/planted-orphan.parquet" ]] || { echo "FAIL: dry run removed a file"; exit 1; }
"$LH_BIN" catalog gc --grace 0 --data "$lake" >/dev/null
[[ -z "$(comm -13 <(referenced) <(on_disk))" ]] || { echo "FAIL: orphans left after gc"; exit 1; }
[[ "$(comm -23 <(referenced) <(on_disk))" == "" ]] || { echo "FAIL: gc removed referenced files"; exit 1; }
echo "gc: removed $orphans orphaned files"
check_dataset crash

# The lake still takes writes after the crashes.
make_file 999
"$LH_BIN" ingest "$tmp/f999.csv" --dataset crash --data "$lake" >/dev/null
check_dataset crash

# Two writers at once: both appends land, each in its own version.
for i in 501 502 503 504; do make_file "$i"; done
("$LH_BIN" ingest "$tmp/f501.csv" "$tmp/f502.csv" --dataset race --data "$lake" >/dev/null) &
a=$!
("$LH_BIN" ingest "$tmp/f503.csv" "$tmp/f504.csv" --dataset race --data "$lake" >/dev/null) &
b=$!
wait "$a"; wait "$b"
check_dataset race
n=$(ls "$lake/_catalog/race" | grep -c '^v')
[[ "$n" == 4 ]] || { echo "FAIL: race: expected 4 versions, got $n"; exit 1; }
echo "crash safety: ok"
