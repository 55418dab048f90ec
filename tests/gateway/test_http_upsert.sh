# Upsert and delete by primary key over HTTP (JSON rows, raw CSV), bad input that changes
# nothing, the journal of a record, and the primary key declared at ingest and later.
. "$(dirname "$0")/lib.sh"
start_server LAKEHOUSE_WAL_MAX_ROWS=0 # the direct path; test_wal.sh covers the log

printf 'id,name,phone\n1,ada,111\n2,grace,222\n3,linus,333\n' >"$T/people.csv"
req POST '/ingest?dataset=people&name=people.csv&key=id' --data-binary @"$T/people.csv"
expect_status 201

# Duplicate keys at ingest: refused naming them, nothing created.
printf 'id,name\n7,a\n7,b\n' >"$T/dups.csv"
req POST '/ingest?dataset=dups&key=id' --data-binary @"$T/dups.csv"
expect_status 400
expect_contains "7 (2 rows)"
req GET /catalog/datasets/dups
expect_status 404

# JSON rows: one update, one insert, a duplicate key (last wins).
req POST /datasets/people/upsert -H 'Content-Type: application/json' --data-binary \
    '{"rows":[{"id":2,"phone":999},{"id":4,"name":"barbara","phone":444},{"id":4,"name":"barb","phone":445}],"reason":"new phone"}'
expect_status 200
expect_jq '.version == 2 and .inserted == 1 and .updated == 1 and .duplicates == 1 and .duplicate_keys == "4" and .noop == false' "upsert counts"
expect_eq "$(sql 'SELECT string_agg(id || name || phone, $$,$$ ORDER BY id) FROM people' | jq -r '.rows[0][0]')" \
    "1ada111,2grace999,3linus333,4barb445" "rows after the upsert"

# Raw CSV body with a reason in the query string.
printf 'id,name\n3,torvalds\n' >"$T/u.csv"
req POST '/datasets/people/upsert?format=csv&reason=full%20name' --data-binary @"$T/u.csv" -H 'Content-Type: text/csv'
expect_status 200
expect_jq '.updated == 1 and .version == 3' "CSV upsert"

# Bad input: each refused with a clear message, the version stays.
before=$(catalog_snapshot)
req POST /datasets/people/upsert -H 'Content-Type: application/json' --data-binary '{"rows":[{"name":"nokey"}]}'
expect_status 400
expect_contains "key column 'id' is missing"
req POST /datasets/people/upsert -H 'Content-Type: application/json' --data-binary '{"rows":[{"id":9,"name":"a"},{"name":"nokey"}]}'
expect_status 400
expect_contains "row 2: no value for the primary key"
req POST /datasets/people/upsert -H 'Content-Type: application/json' --data-binary '{"rows":[{"id":"abc","name":"x"}]}'
expect_status 400
expect_contains "is not a valid BIGINT"
req POST /datasets/people/upsert -H 'Content-Type: application/json' --data-binary '{"rows":[{"id":5,"shoe":42}]}'
expect_status 400
expect_contains "unknown columns 'shoe'"
req POST /datasets/people/upsert -H 'Content-Type: application/json' --data-binary '{"rows":[1,2]}'
expect_status 400
expect_contains "rows[0] must be an object"
req POST /datasets/people/upsert -H 'Content-Type: application/json' --data-binary '{"rows":[{"id":5}],"extra":1}'
expect_status 400
expect_contains "unknown field 'extra'"
req POST /datasets/people/upsert -H 'Content-Type: application/json' --data-binary 'not json'
expect_status 400
req POST /datasets/nope/upsert -H 'Content-Type: application/json' --data-binary '{"rows":[{"id":1}]}'
expect_status 404
expect_eq "$(catalog_snapshot)" "$before" "catalog after refused upserts"

# Delete: an existing and an absent key.
req POST /datasets/people/delete -H 'Content-Type: application/json' --data-binary '{"keys":[1,42],"reason":"gdpr"}'
expect_status 200
expect_jq '.deleted == 1 and .absent == 1 and .absent_keys == "42" and .version == 4' "delete counts"
req POST /datasets/people/delete -H 'Content-Type: application/json' --data-binary '{"keys":[42]}'
expect_status 200
expect_jq '.noop == true and .version == 4' "deleting only absent keys commits nothing"
expect_eq "$(sql 'SELECT count(*) FROM people' | jq -r '.rows[0][0]')" "3" "rows after the delete"

# The journal of record 2 and of the deleted record 1.
req GET /journal/people/2
expect_status 200
expect_jq '[.events[] | select(.[3] == "phone") | [.[4], .[5], .[6], .[12]]] == [["222","999","update","new phone"]]' "journal of people/2"
req GET /journal/people/1
expect_jq '[.events[] | .[6]] == ["delete"]' "journal of people/1"
expect_jq '.events[0][4] | fromjson | .name == "ada" and .phone == 111' "old row kept on delete"
expect_eq "$(sql "SELECT op FROM journal WHERE entity = 'people/4'" | jq -r '.rows[0][0]')" "insert" "journal as SQL"

# Time travel: a version view by name, and /sql as of the moment version 1 was committed.
expect_eq "$(sql 'SELECT count(*) FROM "people@v1"' | jq -r '.rows[0][0]')" "3" "people@v1"
t1=$(curl -s "$URL/catalog/datasets/people?version=1" | jq -r .updated_at)
curl -s "$URL/sql" --data-binary "$(jq -n --arg t "$t1" '{sql: "SELECT string_agg(name, $$,$$ ORDER BY id) FROM people", as_of: $t}')" >"$T/body"
expect_jq '.rows[0][0] == "ada,grace,linus"' "people as of version 1"
req POST /sql --data-binary '{"sql":"SELECT 1","as_of":"yesterday"}'
expect_status 400
expect_contains "as_of"
req POST /sql --data-binary '{"sql":"SELECT * FROM \"people@v99\""}'
expect_status 404

# A key declared later, refused on duplicates.
printf 'a,b\nx,1\ny,1\n' >"$T/later.csv"
req POST '/ingest?dataset=later' --data-binary @"$T/later.csv"
expect_status 201
req POST /datasets/later/key --data-binary '{"key":"b"}'
expect_status 400
expect_contains "1 (2 rows)"
req POST /datasets/later/key --data-binary '{"key":["a"],"reason":"natural key"}'
expect_status 200
expect_jq '.version == 2 and .key == "a"' "key declared"
req POST /datasets/later/upsert -H 'Content-Type: application/json' --data-binary '{"rows":[{"a":"y","b":2}]}'
expect_status 200
expect_jq '.updated == 1' "upsert after a later key"

# A JSON body without Content-Type: application/json (curl -d sends the form encoding) is
# seen as JSON by its content; a one-line NDJSON row stays a row; an array is a clear 400.
req POST /datasets/later/upsert --data-binary '{"rows":[{"a":"y","b":3}],"reason":"untyped"}'
expect_status 200
expect_jq '.updated == 1 and .rows_in == 1' "JSON body without a Content-Type"
req POST /datasets/later/upsert -H 'Content-Type: text/plain' --data-binary '{"a":"z","b":5}'
expect_status 200
expect_jq '.inserted == 1' "one-line NDJSON body without a JSON Content-Type"
expect_eq "$(sql 'SELECT string_agg(a || b, $$,$$ ORDER BY a) FROM later' | jq -r '.rows[0][0]')" \
    "x1,y3,z5" "rows after untyped bodies"
before=$(catalog_snapshot)
req POST /datasets/later/upsert --data-binary '[{"a":"y","b":4}]'
expect_status 400
expect_contains "expected a JSON object"
expect_eq "$(catalog_snapshot)" "$before" "catalog after a JSON array body"

# The catalog counts logical rows (x, y, z), and the rows stored with the deltas.
req GET /catalog/datasets/later
expect_jq '.rows == 3 and .physical_rows == 5' "logical and physical rows"

finish
