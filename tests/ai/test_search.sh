# Text indexes, search, RAG and NL->SQL end to end: `lakehouse index text` over an NDJSON
# dataset (chunks, embeddings, graph and lexical index in one generation; a rebuild reuses
# every vector), `lakehouse search` and POST /search in the three modes with SQL filters,
# POST /rag and `ask --rag` without a model (extractive, says so) and with the stand-in model,
# POST /ask and `lakehouse ask` through the stand-in (retry after a refused query, hostile SQL
# refused twice). Bad input gets clear errors and stores nothing.
. "$(dirname "$0")/../gateway/lib.sh"
LAKE="$T/lake"
lh() { "$LH_BIN" "$@" --data "$LAKE"; }

# 90 people: 30 DevOps / platform engineers, 30 accountants, 30 nurses, in three cities; row
# 89 has no resume.
awk 'BEGIN {
    split("Chicago Boston Austin", city, " ");
    devops[0] = "Led the migration of services to Kubernetes with Helm charts and Terraform.";
    devops[1] = "Runs container orchestration and cluster upgrades for production platforms.";
    devops[2] = "Built CI/CD pipelines, Docker images and monitoring with Prometheus.";
    acct[0] = "Prepared payroll, tax filings and monthly ledger reconciliations.";
    acct[1] = "Audited invoices and budgets for a retail chain; expert in Excel.";
    acct[2] = "Managed accounts payable and financial reporting for a bank.";
    nurse[0] = "Pediatric nurse caring for patients and educating families.";
    nurse[1] = "Emergency room nurse practitioner handling triage and clinical care.";
    nurse[2] = "Oncology nurse administering chemotherapy and patient support.";
    for (i = 0; i < 90; i++) {
        k = i % 3; v = int(i / 3) % 3;
        if (k == 0) r = "DevOps engineer. " devops[v];
        if (k == 1) r = "Accountant. " acct[v];
        if (k == 2) r = "Registered nurse. " nurse[v];
        if (i == 89) printf "{\"id\":%d,\"name\":\"p%d\",\"city\":\"%s\",\"years\":%d,\"resume\":null}\n", i, i, city[i % 3 + 1], i % 15;
        else printf "{\"id\":%d,\"name\":\"p%d\",\"city\":\"%s\",\"years\":%d,\"resume\":\"%s\"}\n", i, i, city[i % 3 + 1], i % 15, r;
    }
}' >"$T/people.ndjson"
out=$(lh ingest "$T/people.ndjson" 2>&1)
expect_eq "$?" 0 "ingest ($out)"

objects() { find "$LAKE/vectors" -type f 2>/dev/null | wc -l; }

# --- bad builds store nothing --------------------------------------------------------
out=$(lh index text nope --column resume 2>&1)
expect_eq "$?" 1 "index text on an unknown dataset fails"
out=$(lh index text people --column nope 2>&1)
expect_eq "$?" 1 "index text on an unknown column fails"
CHECKS=$((CHECKS + 1))
[[ "$out" == *"no column 'nope'"* ]] && pass "unknown column named" || fail "message: $out"
out=$(lh index text people --column resume --chunk-size 3 2>&1)
expect_eq "$?" 2 "a chunk size under 8 is a usage error"
out=$(lh index text people --column resume --chunk-size 100 --overlap 60 2>&1)
expect_eq "$?" 1 "an overlap over half the chunk size is refused"
expect_eq "$(objects)" 0 "objects stored by failed builds"

# --- build, rebuild reuses -------------------------------------------------------------
out=$(lh index text people --column resume 2>&1)
expect_eq "$?" 0 "index text ($out)"
CHECKS=$((CHECKS + 1))
[[ "$out" == *"people_resume_text generation g00000001: 89 chunks from 89 rows"*"embedded 89, reused 0"* ]] &&
    pass "build reports chunks and embeddings" || fail "build output: $out"
for f in hnsw.bin chunks.parquet chunks.jsonl lexical.sqlite index.json claim.json; do
    CHECKS=$((CHECKS + 1))
    [ -f "$LAKE/vectors/people_resume_text/g00000001/$f" ] && pass "generation holds $f" ||
        fail "generation lacks $f"
done
expect_eq "$(jq -r '[.kind, .embedder, .count, .dataset_rows, .chunking.size] | join(" ")' \
    "$LAKE/vectors/people_resume_text/g00000001/index.json")" "text glove 89 90 1000" "index.json"
out=$(lh index text people --column resume 2>&1)
CHECKS=$((CHECKS + 1))
[[ "$out" == *"g00000002"*"embedded 0, reused 89"* ]] && pass "an unchanged rebuild embeds nothing" ||
    fail "rebuild output: $out"

# --- lakehouse search ---------------------------------------------------------------------
lh search "who could handle our Kubernetes migration" --dataset people -k 5 --format json >"$T/s.json"
expect_eq "$?" 0 "search hybrid"
expect_eq "$(jq -r '.mode' "$T/s.json")" "hybrid" "default mode"
expect_eq "$(jq '[.hits[] | select(.row % 3 == 0)] | length' "$T/s.json")" 5 \
    "hybrid top 5 are DevOps engineers"
expect_eq "$(jq -r '.hits[0].highlight | test("<mark>Kubernetes</mark>")' "$T/s.json")" true \
    "highlight marks the query words"
lh search "container cluster platforms" --index people_resume_text --mode vector -k 3 \
    --filter "city = 'Chicago' AND years >= 5" --rows --format json >"$T/v.json"
expect_eq "$?" 0 "search vector with a filter"
expect_eq "$(jq '[.hits[] | select(.fields.city == "Chicago" and .fields.years >= 5)] | length' \
    "$T/v.json")" "$(jq '.hits | length' "$T/v.json")" "every filtered hit satisfies the filter"
expect_eq "$(jq '.filter_matches' "$T/v.json")" \
    "$(jq -s '[.[] | select(.city == "Chicago" and .years >= 5)] | length' "$T/people.ndjson")" \
    "filter_matches"
lh search "payroll tax" --dataset people --mode lexical --format json >"$T/l.json"
expect_eq "$(jq '(.hits | length) as $n | [.hits[] | select(.row % 3 == 1)] | length == $n and $n > 0' "$T/l.json")" \
    true "lexical hits are accountants"
out=$(lh search "" --dataset people 2>&1)
expect_eq "$?" 1 "empty query refused"
out=$(lh search "x" --dataset people -k 1000 2>&1)
expect_eq "$?" 2 "k out of range refused"
out=$(lh search "x" --dataset people --filter "1=1; DROP TABLE people" 2>&1)
expect_eq "$?" 1 "statement in a filter refused"

# --- HTTP -------------------------------------------------------------------------------
before=$(objects)
start_server
post() { req POST "$1" -H 'Content-Type: application/json' --data-binary "$2"; }
post /search '{"query":"Kubernetes migration","dataset":"people","k":3}'
expect_status 200
expect_jq '.hits | length == 3 and all(.row % 3 == 0)' "hybrid hits are DevOps engineers"
expect_jq '.hits[0].scores | has("vector") and has("lexical") and has("vector_rank")' "per-mode scores"
expect_jq '.hits[0].chunk | has("text") and has("char_start") and has("char_end")' "chunk fields"
expect_jq '.fusion.method == "rrf" and .fusion.rrf_k == 60' "fusion described"
post /search '{"query":"Kubernetes","index":"people_resume_text","mode":"lexical","vector_weight":2,"lexical_weight":0.5}'
expect_status 200
post /search '{"query":"nurse","index":"people_resume_text","filter":"city = '"'Boston'"'","include_rows":true,"k":10}'
expect_status 200
expect_jq 'all(.hits[]; .fields.city == "Boston")' "filtered rows all in Boston"
# the second time the filter's allow-set comes from the generation's cache: same answer
for mode in hybrid lexical vector; do
    body='{"query":"accountant payroll","index":"people_resume_text","mode":"'$mode'","filter":"city = '"'Boston'"'","k":10}'
    post /search "$body"; first=$(jq -c '[.filter_matches, [.hits[] | [.chunk.id, .score]]]' "$T/body")
    post /search "$body"; again=$(jq -c '[.filter_matches, [.hits[] | [.chunk.id, .score]]]' "$T/body")
    expect_eq "$again" "$first" "$mode: a cached filter gives the same hits"
    CHECKS=$((CHECKS + 1))
    [[ "$first" == *"[["* ]] && pass "$mode: the filtered search has hits" || fail "no hits: $first"
done
# Hybrid runs its vector half on a thread of its own while BM25 ranks: the fusion is still RRF
# over the two rankings asked for separately (50 candidates each), and hybrid searches sent at
# once (filtered or not) all get the answer a lone search gets.
q='"query":"nurse payroll Kubernetes cluster","index":"people_resume_text"'
post /search "{$q,\"mode\":\"vector\",\"k\":50}"; cp "$T/body" "$T/hv.json"
post /search "{$q,\"mode\":\"lexical\",\"k\":50}"; cp "$T/body" "$T/hl.json"
post /search "{$q,\"mode\":\"hybrid\",\"k\":10}"; cp "$T/body" "$T/hh.json"
expect_eq "$(jq -c '[.hits[].chunk.id]' "$T/hh.json")" "$(jq -nc --slurpfile v "$T/hv.json" \
    --slurpfile l "$T/hl.json" '[($v[0].hits | to_entries[] | {id: .value.chunk.id, s: (0.5 / (61 + .key))}),
    ($l[0].hits | to_entries[] | {id: .value.chunk.id, s: (1 / (61 + .key))})] | group_by(.id) |
    map({id: .[0].id, s: (map(.s) | add)}) | sort_by(-.s, .id) | .[:10] | map(.id)')" \
    "hybrid = RRF of the vector and lexical rankings"
expect_jq '(.hits | length) == 10 and all(.hits[]; .scores.vector_rank != null or .scores.lexical_rank != null)' \
    "hybrid hits carry their ranks"
shape='[.hits[] | [.chunk.id, .score, .scores, .snippet, .highlight]]'
for f in "" ',"filter":"city = '"'Chicago'"'"'; do
    body="{$q,\"mode\":\"hybrid\",\"k\":10$f}"
    post /search "$body"; alone=$(jq -c "$shape" "$T/body")
    pids=()
    for i in 1 2 3 4 5 6 7 8; do
        curl -s -X POST "$URL/search" -H 'Content-Type: application/json' --data-binary "$body" \
            >"$T/par$i.json" &
        pids+=($!)
    done
    wait "${pids[@]}"
    for i in 1 2 3 4 5 6 7 8; do
        expect_eq "$(jq -c "$shape" "$T/par$i.json")" "$alone" "concurrent hybrid search $i${f:+ (filtered)}"
    done
done
post /search '{"query":"accountant payroll","index":"people_resume_text","mode":"lexical","filter":"city = '"'Boston'"' AND random() < 2","k":10,"include_rows":true}'
expect_status 200
expect_jq '(.hits | length) > 0 and all(.hits[]; .fields.city == "Boston")' "a filter with a call (not cached) still filters"
post /search '{"query":"","dataset":"people"}'
expect_status 400
expect_contains "query is empty"
post /search '{"query":"'"$(head -c 5000 /dev/zero | tr '\0' a)"'","dataset":"people"}'
expect_status 413
post /search '{"query":"x","index":"nope"}'
expect_status 404
post /search '{"query":"x","dataset":"people","k":0}'
expect_status 400
post /search '{"query":"x","dataset":"people","k":101}'
expect_status 400
post /search '{"query":"x","dataset":"people","mode":"fuzzy"}'
expect_status 400
post /search '{"query":"x","dataset":"people","index":"people_resume_text"}'
expect_status 400
post /search '{"query":"x","dataset":"people","colour":"red"}'
expect_status 400
post /search '{"query":"x","dataset":"people","filter":"1=1; DROP TABLE people"}'
expect_status 400
post /search '{"query":"x","dataset":"people","filter":"id IN (SELECT 1 FROM read_text('"'/etc/passwd'"'))"}'
expect_jq '.error.code == "denied"' "a filter reading files is denied"
post /search '{"query":"x","dataset":"people","filter":"no_such_column > 1"}'
expect_status 400
post /rag '{"question":"Who led a Kubernetes migration?","dataset":"people"}'
expect_status 200
expect_jq '.supported and .generator == null' "supported, no generator"
expect_jq '.message | test("No language model is configured")' "says no model is configured"
expect_jq '.citations | length >= 1' "the extractive answer cites its sources"
expect_jq '.sentences[0].highlight | test("<mark>")' "answering sentence highlighted"
expect_jq '.sources | length == 5 and .[0].n == 1' "numbered sources"
post /rag '{"question":"What is the boiling point of mercury on Venus?","dataset":"people"}'
expect_status 200
expect_jq '.supported == false and (.answer | test("does not support"))' "unsupported question said so"
post /rag '{"question":"x","dataset":"people","k":50}'
expect_status 400
post /ask '{"question":"how many people are there?"}'
expect_status 503
expect_contains "no language model is configured"
post /ask '{"question":""}'
expect_status 400
expect_eq "$(objects)" "$before" "objects after bad requests"
stop_server

# --- with the stand-in model server ----------------------------------------------------
node "$LH_SOURCE_DIR/tests/ai/standin.js" >"$T/standin.out" 2>&1 &
STANDIN=$!
trap 'kill $STANDIN 2>/dev/null; cleanup' EXIT
for _ in $(seq 1 50); do grep -q listening "$T/standin.out" && break; sleep 0.1; done
SPORT=$(awk '/listening/ {print $2}' "$T/standin.out")
start_server LAKEHOUSE_GENERATOR=ollama LAKEHOUSE_GENERATOR_MODEL=rag \
    LAKEHOUSE_GENERATOR_URL="http://127.0.0.1:$SPORT"
post /rag '{"question":"Who led a Kubernetes migration?","dataset":"people"}'
expect_status 200
expect_jq '.generator == "ollama/rag" and (.answer | startswith("According to [1]"))' "model answer"
expect_jq '.citations == [1]' "citations parsed from the answer"
stop_server
start_server LAKEHOUSE_GENERATOR=openai LAKEHOUSE_GENERATOR_MODEL=sql-retry \
    LAKEHOUSE_GENERATOR_URL="http://127.0.0.1:$SPORT"
post /ask '{"question":"how many people are there?","dataset":"people"}'
expect_status 200
expect_jq '.sql == "SELECT count(*) AS n FROM people" and .result.rows == [[90]]' "SQL and result"
expect_jq '(.attempts | length) == 2 and (.attempts[0].error.message | test("no_such_column"))' \
    "first attempt refused, retried with the error"
stop_server
start_server LAKEHOUSE_GENERATOR=ollama LAKEHOUSE_GENERATOR_MODEL=sql-hostile \
    LAKEHOUSE_GENERATOR_URL="http://127.0.0.1:$SPORT"
post /ask '{"question":"show me the password file"}'
expect_status 422
expect_jq '.error.detail.attempts | length == 2' "both attempts reported"
stop_server
out=$(lh ask "how many people are there?" --generator ollama --generator-model sql \
    --generator-url "http://127.0.0.1:$SPORT" --format json)
expect_eq "$(echo "$out" | jq -c '.result.rows')" "[[90]]" "lakehouse ask"
out=$(lh ask --rag "Who looks after patients?" --dataset people --format json)
expect_eq "$(echo "$out" | jq -r '.supported and (.sources[0].row % 3 == 2)')" true \
    "lakehouse ask --rag finds a nurse"
finish
