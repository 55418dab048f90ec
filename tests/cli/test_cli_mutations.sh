#!/usr/bin/env bash
# The mutation subcommands end to end: ingest --key, key, upsert, delete, journal, sql
# --as-of and "name@vN", replay, compact --gc, cache pin/list/unpin; bad usage and bad input
# exit non-zero with a message and change nothing.
set -uo pipefail
: "${LH_BIN:?LH_BIN must point at the lakehouse program}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export LAKEHOUSE_DATA="$tmp/lake" LAKEHOUSE_LOG_LEVEL=error
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
lh() { "$LH_BIN" "$@"; }
check() { # check DESC EXPECTED ACTUAL
    if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1: expected '$2', got '$3'"; fi
}
contains() { # contains DESC NEEDLE TEXT
    if [[ "$3" == *"$2"* ]]; then pass "$1"; else fail "$1: '$2' not in: $3"; fi
}
val() { lh sql "$1" --format csv | tail -n 1; }

printf 'id,name,phone\nC1,Ann,111\nC2,Bob,222\nC3,Cy,333\n' >"$tmp/c.csv"
out=$(lh ingest "$tmp/c.csv" --dataset cand --key id 2>&1) || fail "ingest --key: $out"
check "key in the manifest" '["id"]' "$(lh catalog show cand | jq -c .key)"

printf 'id,phone\nC2,999\nC4,444\nC2,998\n' >"$tmp/u.csv"
out=$(lh upsert cand "$tmp/u.csv" --reason "new phone" 2>&1)
contains "upsert counts" "1 inserted, 1 updated, 0 unchanged → version 2" "$out"
contains "duplicate keys reported" "last wins): C2" "$out"
check "upserted value" "998" "$(val "SELECT phone FROM cand WHERE id = 'C2'")"

out=$(lh delete cand --key C1 --key C9 --reason gdpr 2>&1)
contains "delete counts" "1 deleted → version 3" "$out"
contains "absent key reported" "1 keys did not exist: C9" "$out"

# Bad input: non-zero exit, a message naming the problem, no new version.
printf 'id,shoe\nC5,42\n' >"$tmp/bad.csv"
out=$(lh upsert cand "$tmp/bad.csv" 2>&1) && fail "unknown column accepted"
contains "unknown column named" "unknown columns 'shoe'" "$out"
printf 'name\nZed\n' >"$tmp/nokey.csv"
out=$(lh upsert cand "$tmp/nokey.csv" 2>&1) && fail "row without key accepted"
contains "missing key named" "key column 'id' is missing" "$out"
out=$(lh key cand name 2>&1) && fail "key over a nullable column accepted"
check "nothing committed by bad input" "3" "$(lh catalog show cand | jq .version)"
lh upsert cand 2>/dev/null; check "usage error exits 2" "2" "$?"
lh delete cand "$tmp/u.csv" --key C1 2>/dev/null; check "file and --key together: usage error" "2" "$?"

# Journal of one record.
out=$(lh journal cand --key C2 --format csv)
contains "journal shows old and new" "phone,222,998,update,2" "$out"
contains "journal shows the reason" "new phone" "$out"
out=$(lh journal cand --key C1 --format ndjson)
contains "deleted row kept in the journal" '\"name\":\"Ann\"' "$out"

# Time travel.
check "version view" "3" "$(val 'SELECT count(*) FROM "cand@v1"')"
t1=$(lh catalog show cand --version 1 | jq -r .updated_at)
check "as of version 1" "222" "$(lh sql "SELECT phone FROM cand WHERE id = 'C2'" --as-of "$t1" --format csv | tail -n 1)"
out=$(lh sql "SELECT 1" --as-of yesterday 2>&1) && fail "bad --as-of accepted"
contains "bad --as-of explained" "expected a time like" "$out"
out=$(lh replay cand --version 1 --to cand_then 2>&1)
contains "replay" "3 rows → new dataset cand_then" "$out"
check "replayed rows" "C1;C2;C3" "$(val "SELECT string_agg(id, ';' ORDER BY id) FROM cand_then")"
out=$(lh replay cand --version 1 --to cand_then 2>&1) && fail "replay over an existing dataset"
contains "replay refuses an existing name" "already exists" "$out"

# Resync from the footers keeps the dataset's columns (delta bookkeeping columns are not).
lh catalog resync cand >/dev/null || fail "resync"
check "columns after resync" '["id","name","phone"]' "$(lh catalog show cand | jq -c '[.columns[].name]')"

# Compaction and gc.
out=$(lh compact cand --gc --retention-hours 0 2>&1)
contains "compaction" "3 files (2 deltas) → 1 file, 3 rows, version 5" "$out"
contains "gc" "3 files outside the 0 h retention deleted" "$out"
check "rows after compaction" "C2:998;C3:333;C4:444" "$(val "SELECT string_agg(id || ':' || phone, ';' ORDER BY id) FROM cand")"
out=$(lh compact cand 2>&1)
contains "nothing left to compact" "nothing to compact" "$out"

# Cache pins are markers a server picks up.
lh cache pin cand >/dev/null || fail "cache pin"
check "cache list" "cand" "$(lh cache list)"
lh cache unpin cand >/dev/null || fail "cache unpin"
check "cache list after unpin" "" "$(lh cache list)"
out=$(lh cache pin nope 2>&1) && fail "pin of an unknown dataset"
contains "unknown dataset refused" "not found" "$out"

[[ $failures -eq 0 ]] && echo "cli mutations: ok"
exit $((failures > 0))
