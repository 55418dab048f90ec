#!/usr/bin/env bash
# lakehouse index gc: builds killed with kill -9 after claiming a generation leave unpublished
# folders; gc removes them only once untouched for the grace period (dry run changes nothing),
# --keep N retires published generations older than the newest N (never the current one) with
# their pointer records, the index keeps serving throughout, and an unreadable pointer record
# makes gc remove nothing.
. "$(dirname "$0")/../gateway/lib.sh"
LAKE="$T/lake"
lh() { "$LH_BIN" "$@" --data "$LAKE"; }
V="$LAKE/vectors/docs_vector"

# 30000 rows x 48 dimensions: a build takes long enough to be killed mid-way.
awk 'BEGIN {
    srand(7);
    for (i = 0; i < 30000; i++) {
        printf "{\"id\":%d,\"vector\":[", i;
        for (j = 0; j < 48; j++) printf "%s%.4f", (j ? "," : ""), (j == i % 12) + 0.5 * rand();
        printf "]}\n";
    }
}' >"$T/docs.ndjson"
lh ingest "$T/docs.ndjson" >/dev/null 2>&1
expect_eq "$?" 0 "ingest"
build() { lh index build docs --column vector --threads 1 >/dev/null 2>&1; }

# Starts a build and kill -9s it as soon as it has claimed a generation that no pointer record
# names; prints that generation.
crash_build() {
    local before pid
    before=$(ls "$V" 2>/dev/null | grep -c '^g' || true)
    # the program itself in the background (not a shell function: its subshell would die
    # and leave the build running)
    "$LH_BIN" index build docs --column vector --threads 1 --data "$LAKE" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 2000); do
        [[ $(ls "$V" 2>/dev/null | grep -c '^g' || true) -gt $before ]] && break
        sleep 0.01
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    ls "$V" | grep '^g' | sort | tail -1
}
# generation folders holding objects (the local backend's temp file of a killed upload,
# .tmp.*, is not an object: the storage layer owns it)
gens() { find "$V" -mindepth 2 -maxdepth 2 -type f ! -name '.tmp.*' -path "$V/g*" | sed 's|.*/\(g[0-9]*\)/.*|\1|' | sort -u | tr '\n' ' '; }

published() { cat "$V"/_current/*.json 2>/dev/null | jq -r .generation | sort -u | tr '\n' ' '; }
unpublished() { comm -23 <(gens | tr ' ' '\n' | grep .) <(published | tr ' ' '\n' | grep .) | tr '\n' ' '; }

build
expect_eq "$?" 0 "first build"
# The claim is written after the graph is built, moments before publishing: a kill can miss
# the window, so crash builds until two died unpublished.
for _ in $(seq 1 12); do
    crash_build >/dev/null
    [[ $(unpublished | wc -w) -ge 2 ]] && break
done
build
cur=$(jq -r .generation "$(ls -d "$V"/_current/*.json | tail -1)")
U=$(unpublished)
P=$(published)
ALL=$(gens)
expect_eq "$(wc -w <<<"$U")" 2 "two builds died unpublished ($U)"
# A kill can land after a build wrote its index.json but before it published the pointer
# record: that generation is still unpublished (nothing serves it), and gc must treat it so.
expect_eq "$(jq -r .current.generation <<<"$(lh index show docs_vector)")" "$cur" \
    "the index serves the last complete build, not a killed one"

# --- the grace period protects builds in flight ----------------------------------------
out=$(lh index gc)
expect_eq "$?" 0 "gc with the default grace"
expect_contains_text() { # TEXT NEEDLE MSG
    CHECKS=$((CHECKS + 1))
    if [[ "$1" == *"$2"* ]]; then pass "$3"; else fail "$3: '$2' not in: $1"; fi
}
expect_contains_text "$out" "0 abandoned and 0 retired removed" "young folders are not removed"
expect_contains_text "$out" "2 unpublished but younger than 3600 s kept" "the two young folders are reported"
expect_eq "$(gens)" "$ALL" "nothing removed"

u1=$(cut -d' ' -f1 <<<"$U")
out=$(lh index gc docs_vector --grace 0 --dry-run)
expect_contains_text "$out" "would remove vectors/docs_vector/$u1/ (abandoned" "dry run names $u1"
expect_contains_text "$out" "2 abandoned and 0 retired would be removed" "dry run counts"
expect_eq "$(gens)" "$ALL" "dry run removed nothing"

# Aged past the default grace (one hour), the killed builds' folders go.
for g in $U; do touch -d '2 hours ago' "$V/$g"/*; done
out=$(lh index gc)
expect_contains_text "$out" "2 abandoned and 0 retired removed" "aged folders removed"
expect_eq "$(gens)" "$P" "published generations untouched"
lh index search docs_vector --like-row 5 -k 3 --format json --no-rows >"$T/body"
DESC="search after gc"
expect_jq ".generation == \"$cur\" and .hits[0].id == 5" "current generation serves"

# --- --keep: retire old published generations, never the current one ------------------------
old=$(( $(wc -w <<<"$P") - 1 ))
p1=$(cut -d' ' -f1 <<<"$P")
out=$(lh index gc docs_vector --keep 1 --dry-run)
expect_contains_text "$out" "would remove vectors/docs_vector/$p1/ (retired, 4 objects" \
    "dry run: $p1 with its pointer record"
expect_eq "$(gens)" "$P" "dry run removed nothing"
out=$(lh index gc docs_vector --keep 1)
expect_contains_text "$out" "0 abandoned and $old retired removed" "$old older generations retired"
expect_eq "$(gens)" "$cur " "only the current generation left"
expect_eq "$(ls "$V/_current" | wc -l)" 1 "their pointer records removed"
lh index show docs_vector >"$T/body"
DESC="index show after --keep 1"
expect_jq "(.generations | length == 1) and .current.generation == \"$cur\"" "one generation, current"
out=$(lh index gc docs_vector --keep 1 --grace 0)
expect_contains_text "$out" "1 generations, 1 published; 0 abandoned and 0 retired" "the current one is never removed"

# A later build is served.
build
lh index search docs_vector --like-row 9 -k 1 --format json --no-rows >"$T/body"
DESC="search after a rebuild"
expect_jq ".generation != \"$cur\" and .hits[0].id == 9" "the new generation is current"
cur=$(jq -r .generation "$T/body")

# --- bad input and unreadable state remove nothing -----------------------------------------
refuse() { # refuse EXPECTED_RC MESSAGE_PART ARGS...
    local want=$1 msg=$2 out rc
    shift 2
    out=$(lh "$@" 2>&1)
    rc=$?
    CHECKS=$((CHECKS + 1))
    if [ "$rc" = "$want" ] && [[ "$out" == *"$msg"* ]]; then pass "$* refused ($msg)"; else fail "$*: expected exit $want and '$msg', got $rc: $out"; fi
}
refuse 2 "--keep must be an integer in 1.." index gc --keep 0
refuse 2 "--grace must be an integer in 0.." index gc --grace -5
refuse 1 "index name" index gc Bad-Name
mkdir -p "$V/g00099999" && echo '{}' >"$V/g00099999/claim.json"
touch -d '2 hours ago' "$V/g00099999/claim.json"
echo 'not json' >"$V/_current/00000001.json"
before=$(gens)
refuse 1 "nothing removed" index gc docs_vector --keep 1
expect_eq "$(gens)" "$before" "an unreadable pointer record stops gc"
rm "$V/_current/00000001.json"
out=$(lh index gc docs_vector --keep 1)
expect_contains_text "$out" "1 abandoned and 1 retired removed" "gc after the repair"
expect_eq "$(gens)" "$cur " "only the current generation left"
out=$(lh index gc nosuch --grace 0)
expect_contains_text "$out" "gc: 0 generations" "an unknown index has nothing to collect"
finish
