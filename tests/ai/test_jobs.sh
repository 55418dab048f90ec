# Embed jobs over HTTP: an ingest with ?embed=COL answers at once with a queued job that
# builds the text index in the background; GET /jobs/{id} reports progress, counts and
# throughput; an append queues a job that embeds only the new text; bad submissions are
# refused; a queued job can be canceled; a job left running by a crashed process (its record
# and its checkpoint in the lake) is resumed at the next start and embeds nothing it had saved.
. "$(dirname "$0")/../gateway/lib.sh"
LAKE="$T/lake"

awk 'BEGIN { for (i = 0; i < 300; i++)
    printf "{\"id\":%d,\"team\":\"t%d\",\"notes\":\"Ticket %d: the %s service failed its %s check after the %s upgrade.\"}\n",
        i, i % 4, i, (i % 2 ? "billing" : "search"), (i % 3 ? "health" : "latency"), (i % 5 ? "kernel" : "database") }' \
    >"$T/tickets.ndjson"
awk 'BEGIN { for (i = 300; i < 320; i++)
    printf "{\"id\":%d,\"team\":\"t%d\",\"notes\":\"New ticket %d about certificate renewal.\"}\n", i, i % 4, i }' \
    >"$T/more.ndjson"

start_server
wait_job() { # id -> final record in $T/job
    for _ in $(seq 1 300); do
        curl -s "$URL/jobs/$1" >"$T/job"
        case $(jq -r .state "$T/job") in queued | running) sleep 0.1 ;; *) return ;; esac
    done
}

req POST '/ingest?dataset=tickets&format=ndjson&name=tickets.ndjson&embed=notes' \
    --data-binary @"$T/tickets.ndjson"
expect_status 201
expect_jq '.jobs | length == 1 and .[0].state == "queued" and .[0].index == "tickets_notes_text"' \
    "the ingest answers with a queued job"
ID=$(jq -r '.jobs[0].id' "$T/body")
wait_job "$ID"
expect_eq "$(jq -r '[.state, .progress, .counts.chunks, .counts.embedded, .counts.reused, .generation] | join(" ")' "$T/job")" \
    "done 1 300 300 0 g00000001" "first job"
expect_eq "$(jq '.chunks_per_s > 0 and .seconds > 0' "$T/job")" true "throughput reported"
CHECKS=$((CHECKS + 1))
[ -f "$LAKE/_jobs/$ID.json" ] && pass "job record in the lake" || fail "no _jobs/$ID.json"
CHECKS=$((CHECKS + 1))
[ ! -d "$LAKE/_jobs/$ID" ] || [ -z "$(ls -A "$LAKE/_jobs/$ID")" ] && pass "checkpoints dropped" ||
    fail "checkpoints left: $(ls "$LAKE/_jobs/$ID")"
req POST /search -H 'Content-Type: application/json' \
    --data-binary '{"query":"database upgrade latency","dataset":"tickets","k":3}'
expect_status 200

# An append: only the new rows' text is embedded.
req POST '/ingest?dataset=tickets&format=ndjson&name=more.ndjson' --data-binary @"$T/more.ndjson"
expect_status 201
ID2=$(jq -r '.jobs[0].id' "$T/body")
wait_job "$ID2"
expect_eq "$(jq -r '[.state, .counts.chunks, .counts.embedded, .counts.reused] | join(" ")' "$T/job")" \
    "done 320 20 300" "append job embeds only the new rows"
# The same bytes again: a no-op ingest queues nothing.
req POST '/ingest?dataset=tickets&format=ndjson&name=more.ndjson' --data-binary @"$T/more.ndjson"
expect_status 200
expect_jq 'has("jobs") | not' "a no-op ingest queues no job"

# Bad submissions.
req POST /jobs -H 'Content-Type: application/json' --data-binary '{"dataset":"tickets","column":"nope"}'
expect_status 404
req POST /jobs -H 'Content-Type: application/json' --data-binary '{"dataset":"nope","column":"notes"}'
expect_status 404
req POST /jobs -H 'Content-Type: application/json' --data-binary '{"dataset":"tickets"}'
expect_status 400
req POST /jobs -H 'Content-Type: application/json' \
    --data-binary '{"dataset":"tickets","column":"notes","chunk_size":100,"overlap":90}'
expect_status 400
req POST /jobs -H 'Content-Type: application/json' \
    --data-binary '{"dataset":"tickets","column":"notes","name":"../x"}'
expect_status 400
req GET /jobs/no-such-job
expect_status 404
req POST /jobs/no-such-job/cancel
expect_status 404
req POST "/jobs/$ID/cancel"
expect_status 409
req GET /jobs
expect_jq '.jobs | length == 2' "job list"
stop_server

# A crashed process left a job "running", with a checkpoint of what it had embedded. Its
# chunking differs from the current generation's, so only the checkpoint can be reused.
CID=11111111-2222-3333-4444-555555555555
mkdir -p "$LAKE/_jobs/$CID"
cp "$LAKE/vectors/tickets_notes_text/g00000002/chunks.parquet" "$LAKE/_jobs/$CID/part-000000-1.parquet"
cat >"$LAKE/_jobs/$CID.json" <<EOF
{"id": "$CID", "kind": "text_index", "dataset": "tickets", "column": "notes",
 "index": "tickets_notes_text", "state": "running", "progress": 0.4, "actor": "test",
 "chunking": {"size": 2000, "overlap": 300, "unit": "chars"}, "created_us": 1}
EOF
start_server
wait_job "$CID"
expect_eq "$(jq -r '[.state, .resumed, .counts.chunks, .counts.embedded, .counts.reused, .generation] | join(" ")' "$T/job")" \
    "done true 320 0 320 g00000003" "the interrupted job resumed from its checkpoint"
expect_eq "$(jq -r '.chunking.size' "$LAKE/vectors/tickets_notes_text/g00000003/index.json")" 2000 \
    "resumed build used the job's chunking"
CHECKS=$((CHECKS + 1))
[ -z "$(ls -A "$LAKE/_jobs/$CID" 2>/dev/null)" ] && pass "checkpoint dropped after the resume" ||
    fail "checkpoint left"
finish
