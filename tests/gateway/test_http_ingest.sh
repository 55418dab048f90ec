# Upload CSV (raw and multipart) and NDJSON, read the catalog, query the numbers,
# re-ingest the same bytes (no-op), append, ingest from the server's ingest folder.
. "$(dirname "$0")/lib.sh"
start_server

printf 'id,name,city,rate\n1,ada,Chicago,95.5\n2,grace,Boston,120\n3,linus,Chicago,80.25\n' >"$T/people.csv"

req POST '/ingest?dataset=people&format=csv&name=people.csv' --data-binary @"$T/people.csv" \
    -H 'Content-Type: text/csv'
expect_status 201
expect_jq '.dataset == "people" and .version == 1 and .rows == 3 and .rejected == 0 and .noop == false and .created == true and (.sha256 | length) == 64 and .bytes > 0 and (.seconds | type) == "number"' "ingest result"
sha=$(jq -r .sha256 "$T/body")
expect_eq "$sha" "$(sha256sum "$T/people.csv" | cut -d' ' -f1)" "sha256 of the upload"

req GET /catalog/datasets
expect_status 200
expect_jq '.datasets | length == 1' "one dataset"
expect_jq '.datasets[0] | .name == "people" and .version == 1 and .rows == 3 and .columns == 4 and .bytes > 0 and (.updated_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T"))' "summary fields"

req GET /catalog/datasets/people
expect_status 200
expect_jq '.dataset == "people" and .version == 1 and .versions == [1] and .rows == 3' "manifest"
expect_jq '[.columns[].name] == ["id","name","city","rate"]' "columns in file order"

req POST /sql --data-binary '{"sql": "SELECT count(*) AS n, sum(rate) AS total FROM people WHERE city = '"'Chicago'"'"}'
expect_status 200
expect_jq '.row_count == 1 and .rows[0][0] == 2 and .rows[0][1] == 175.75 and .truncated == false' "SQL sees the upload"
expect_jq '[.columns[].name] == ["n","total"]' "result columns"

# Same bytes again: a reported no-op, nothing new committed.
before=$(catalog_snapshot)
req POST '/ingest?dataset=people&format=csv' --data-binary @"$T/people.csv"
expect_status 200
expect_jq '.noop == true and .version == 1 and .created == false' "re-ingest is a no-op"
expect_eq "$(catalog_snapshot)" "$before" "catalog after no-op"

# Append new rows with the same columns: version 2.
printf 'id,name,city,rate\n4,barbara,Chicago,99\n' >"$T/people2.csv"
req POST '/ingest?dataset=people&name=people2.csv' --data-binary @"$T/people2.csv"
expect_status 201
expect_jq '.version == 2 and .created == false and .noop == false and .rows >= 1' "append"
req POST /sql --data-binary '{"sql": "SELECT count(*) FROM people"}'
expect_jq '.rows[0][0] == 4' "SQL sees the append at once"
req GET '/catalog/datasets/people?version=1'
expect_status 200
expect_jq '.version == 1 and .rows == 3 and .versions == [1,2] and .latest_version == 2' "older version"
req GET '/catalog/datasets/people?version=9'
expect_status 404

# Multipart upload with fields, type override.
req POST /ingest -F "file=@$T/people.csv;type=text/csv" -F dataset=people_mp -F types=rate:DOUBLE,id:BIGINT
expect_status 201
expect_jq '.dataset == "people_mp" and .rows == 3 and .created == true' "multipart ingest"
req GET /catalog/datasets/people_mp
expect_jq '(.columns[] | select(.name == "rate") | .type) == "DOUBLE" and (.columns[] | select(.name == "id") | .type) == "BIGINT"' "type overrides applied"
expect_jq '.sources[0].name == "people.csv"' "multipart filename kept as the source name"
req POST /sql --data-binary '{"sql": "SELECT max(rate) FROM people_mp"}'
expect_jq '.rows[0][0] == 120' "SQL over the multipart dataset"

# NDJSON with nested objects: dotted columns.
cat >"$T/events.ndjson" <<'J'
{"id": 1, "user": {"name": "ada", "geo": {"city": "Chicago"}}, "score": 3}
{"id": 2, "user": {"name": "grace", "geo": {"city": "Boston"}}, "score": 5}
J
req POST '/ingest?dataset=events&format=ndjson&name=events.ndjson' --data-binary @"$T/events.ndjson"
expect_status 201
expect_jq '.rows == 2' "ndjson rows"
req GET /catalog/datasets/events
expect_jq '[.columns[].name] | index("user.name") != null and index("user.geo.city") != null' "nested objects become dotted columns"
req POST /sql --data-binary '{"sql": "SELECT \"user.geo.city\" FROM events WHERE id = 2"}'
expect_jq '.rows[0][0] == "Boston"' "dotted column queryable"

# Ingest from the server's ingest folder.
cp "$T/people.csv" "$T/ingest/from_folder.csv"
req POST /ingest/file --data-binary '{"path": "from_folder.csv", "dataset": "folder_people", "types": {"rate": "DOUBLE"}}'
expect_status 201
expect_jq '.dataset == "folder_people" and .rows == 3' "ingest/file"
req POST /ingest/file --data-binary '{"path": "from_folder.csv", "dataset": "folder_people"}'
expect_status 200
expect_jq '.noop == true' "ingest/file same bytes is a no-op"

req GET /catalog/datasets
expect_jq '[.datasets[].name] == ["events","folder_people","people","people_mp"]' "catalog list sorted"
req GET /health
expect_jq '.datasets == 4' "health counts datasets"
# Bad input: the error's detail says where, as fields (line, column name; position for
# invalid UTF-8), so clients need not parse the message.
printf 'id,score\n1,2.5\n2,n/a\n' >"$T/typed.csv"
printf 'id,score\n1,2.5\n' >"$T/typed_ok.csv"
req POST '/ingest?dataset=typed&name=typed_ok.csv&types=score:DOUBLE' --data-binary @"$T/typed_ok.csv"
expect_status 201
req POST '/ingest?dataset=typed&name=typed.csv' --data-binary @"$T/typed.csv"
expect_status 400
expect_jq '.error.detail.line == 3 and .error.detail.column == "score" and .error.detail.source == "typed.csv"' "detail names line 3, column score"
printf 'a,b,c\n1,2,3\n4,5,6,7\n' >"$T/ragged.csv"
req POST '/ingest?dataset=ragged&name=ragged.csv' --data-binary @"$T/ragged.csv"
expect_status 400
expect_jq '.error.detail.line == 3' "a ragged row: detail.line"
printf 'a,b\n1,ok\n2,caf\xe9!\n' >"$T/latin1.csv"
req POST '/ingest?dataset=latin&name=latin1.csv' --data-binary @"$T/latin1.csv"
expect_status 400
expect_jq '.error.detail.line == 3 and .error.detail.position == 6 and (.error.detail | has("column") | not)' "invalid UTF-8: detail.line and position"
finish
