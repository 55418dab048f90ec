# OpenAPI conformance: every documented route+method answers (never 404/405) with a
# documented status, and JSON responses carry the documented top-level required properties.
# Requests are built from the document's own examples.
. "$(dirname "$0")/lib.sh"
DOC="$LH_SOURCE_DIR/src/gateway/openapi.json"
start_server

# Data the examples refer to.
printf 'id,name\n1,ada\n2,grace\n' >"$T/people.csv"
req POST '/ingest?dataset=people&name=people.csv' --data-binary @"$T/people.csv"
expect_status 201
printf 'id,name\n1,probe\n' >"$T/ingest/openapi_probe.csv"
# The vector index the /vectors/search example names (3 dimensions).
printf '{"id":1,"vector":[0.1,0.2,0.3]}\n{"id":2,"vector":[0.3,0.2,0.1]}\n' >"$T/docs.ndjson"
req POST '/ingest?dataset=docs&format=ndjson&name=docs.ndjson' --data-binary @"$T/docs.ndjson"
expect_status 201
"$LH_BIN" index build docs --column vector --data "$T/lake" >/dev/null || fail "index build"

DEREF='def deref($doc): if type == "object" and has("$ref")
    then (.["$ref"] | ltrimstr("#/") | split("/")) as $p | $doc | getpath($p) | deref($doc)
    else . end;'

jq -r '.paths | to_entries[] | .key as $p | .value | keys[] | select(. != "parameters") | "\($p) \(.)"' "$DOC" >"$T/ops"
CHECKS=$((CHECKS + 1))
if [ "$(wc -l <"$T/ops")" -ge 7 ]; then pass "document lists $(wc -l <"$T/ops") operations"; else fail "too few operations"; fi

while read -r path method; do
    op=$(jq -c --arg p "$path" --arg m "$method" "$DEREF"' . as $doc | .paths[$p][$m] | deref($doc)
        | .parameters = [(.parameters // [])[] | deref($doc)]
        | .requestBody = ((.requestBody // null) | deref($doc))' "$DOC")
    url=$path
    for name in $(jq -r '.parameters[] | select(.in == "path") | .name' <<<"$op"); do
        ex=$(jq -r --arg n "$name" '.parameters[] | select(.name == $n) | .example // "x"' <<<"$op")
        url=${url//\{$name\}/$ex}
    done
    qs=$(jq -r '[.parameters[] | select(.in == "query" and .example != null) | "\(.name)=\(.example|tostring|@uri)"] | join("&")' <<<"$op")
    [ -n "$qs" ] && url="$url?$qs"
    args=()
    if jq -e '.requestBody.content["application/json"].example' <<<"$op" >/dev/null; then
        jq -c '.requestBody.content["application/json"].example' <<<"$op" >"$T/reqbody"
        args=(-H 'Content-Type: application/json' --data-binary @"$T/reqbody")
    elif jq -e '.requestBody.content["text/csv"].example' <<<"$op" >/dev/null; then
        jq -j '.requestBody.content["text/csv"].example' <<<"$op" >"$T/reqbody"
        args=(-H 'Content-Type: text/csv' --data-binary @"$T/reqbody")
    fi
    M=$(tr '[:lower:]' '[:upper:]' <<<"$method")
    req "$M" "$url" "${args[@]}"
    DESC="$M $path"
    CHECKS=$((CHECKS + 1))
    if [ "$STATUS" = 404 ] || [ "$STATUS" = 405 ] || [ "$STATUS" -ge 500 ]; then
        fail "$DESC answered $STATUS: $(head -c 300 "$T/body")"
        continue
    fi
    if ! jq -e --arg s "$STATUS" '.responses | has($s)' <<<"$op" >/dev/null; then
        fail "$DESC answered $STATUS, which the document does not list: $(head -c 300 "$T/body")"
        continue
    fi
    pass "$DESC answers documented status $STATUS"
    schema=$(jq -c --slurpfile doc "$DOC" --arg s "$STATUS" "$DEREF"'
        .responses[$s] | deref($doc[0]) | .content["application/json"].schema // null | deref($doc[0])' <<<"$op")
    if [ "$schema" != null ]; then
        missing=$(jq -r --argjson sc "$schema" '[($sc.required // [])[] as $k | select(has($k) | not) | $k] | join(",")' "$T/body")
        CHECKS=$((CHECKS + 1))
        if [ -z "$missing" ]; then
            pass "$DESC body has required properties $(jq -c '.required // []' <<<"$schema")"
        else
            fail "$DESC body lacks required properties: $missing: $(head -c 300 "$T/body")"
        fi
    fi
    # Methods the document does not list for this path are refused with 405 and an Allow header.
    allowed=$(jq -r --arg p "$path" '.paths[$p] | keys | map(select(. != "parameters") | ascii_upcase) | join(" ")' "$DOC")
    for other in GET POST PUT DELETE PATCH; do
        [[ " $allowed " == *" $other "* ]] && continue
        req "$other" "${url%%\?*}"
        DESC="$other $path"
        expect_status 405
    done
done <"$T/ops"

# Error responses follow the documented Error schema.
req GET /catalog/datasets/does_not_exist
expect_status 404
expect_jq '(.error | has("code") and has("message") and has("detail")) and ([.error.code] | inside(["invalid_input","not_found","already_exists","io_error","out_of_memory","conflict","corrupt","timeout","denied","too_large","unsupported","internal","canceled","unavailable"]))' "Error schema"
finish
