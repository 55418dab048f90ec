/* catalog: resync rebuilds schema, sizes and row counts from Parquet footers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "catalog/catalog.h"
#include "core/duckdb_capi.h"

static void duck_exec(duckdb_connection conn, const char *sql)
{
    lh_error err;
    if (lh_duckdb_exec(conn, sql, "test setup", &err) != LH_OK) fail_msg("%s", err.msg);
}

static void test_catalog_resync_from_parquet_footers(void **state)
{
    char root[128];
    snprintf(root, sizeof root, "/tmp/lh_test_resync_%d", (int)getpid());
    lh_rm_rf(root);
    lh_storage *st;
    lh_catalog *cat;
    lh_error err;
    assert_int_equal(lh_storage_open_local(root, &st, &err), LH_OK);
    assert_int_equal(lh_catalog_open(st, &cat, &err), LH_OK);

    /* Two Parquet files written by DuckDB: the second adds a column. */
    char dir[256], p1[300], p2[300];
    snprintf(dir, sizeof dir, "%s/data/people", root);
    assert_int_equal(lh_mkdir_p(dir, &err), LH_OK);
    snprintf(p1, sizeof p1, "%s/a.parquet", dir);
    snprintf(p2, sizeof p2, "%s/b.parquet", dir);
    duckdb_database db;
    duckdb_connection conn;
    assert_int_equal(duckdb_open(NULL, &db), DuckDBSuccess);
    assert_int_equal(duckdb_connect(db, &conn), DuckDBSuccess);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "COPY (SELECT i::BIGINT AS id, 'name' || i AS name, "
             "CASE WHEN i %% 2 = 0 THEN NULL ELSE i * 1.5 END AS score "
             "FROM range(10) t(i)) TO '%s' (FORMAT parquet)",
             p1);
    duck_exec(conn, sql);
    snprintf(sql, sizeof sql,
             "COPY (SELECT i::BIGINT AS id, 'n' || i AS name, 2.0 AS score, true AS active "
             "FROM range(7) t(i)) TO '%s' (FORMAT parquet)",
             p2);
    duck_exec(conn, sql);
    duckdb_disconnect(&conn);
    duckdb_close(&db);

    /* A manifest whose numbers and schema are wrong. */
    lh_manifest *m = lh_manifest_new("people");
    m->version = 1;
    lh_manifest_add_column(m, "id", "INTEGER", false);
    lh_manifest_add_file(m, "data/people/a.parquet", 1, 1);
    lh_manifest_add_file(m, "data/people/b.parquet", 2, 2);
    json_object_set_new(m->metadata, "owner", json_string("hr"));
    assert_int_equal(lh_catalog_commit(cat, NULL, m, &err), LH_OK);
    lh_manifest_free(m);

    int64_t v = 0;
    if (lh_catalog_resync(cat, NULL, "people", &v, &err) != LH_OK) fail_msg("resync: %s", err.msg);
    assert_true(v == 2);
    assert_int_equal(lh_catalog_get(cat, NULL, "people", 0, &m, &err), LH_OK);
    assert_string_equal(m->op, "resync");
    assert_string_equal(m->actor, "cli");
    assert_true(m->rows == 17);
    assert_true(m->files[0].rows == 10 && m->files[1].rows == 7);
    lh_object_info info;
    assert_int_equal(lh_storage_head(st, "data/people/a.parquet", &info, &err), LH_OK);
    assert_true(m->files[0].size == info.size);
    assert_true(m->bytes == m->files[0].size + m->files[1].size);
    assert_int_equal(m->ncolumns, 4);
    assert_string_equal(m->columns[0].name, "id");
    assert_string_equal(m->columns[0].type, "BIGINT");
    assert_false(m->columns[0].nullable);
    assert_string_equal(m->columns[1].name, "name");
    assert_string_equal(m->columns[1].type, "VARCHAR");
    assert_string_equal(m->columns[2].name, "score");
    assert_true(m->columns[2].nullable); /* nulls in a.parquet */
    assert_string_equal(m->columns[3].name, "active");
    assert_string_equal(m->columns[3].type, "BOOLEAN");
    assert_true(m->schema_version == 2);
    assert_string_equal(json_string_value(json_object_get(m->metadata, "owner")), "hr");
    lh_manifest_free(m);

    /* A listed file missing from storage is reported, and nothing is committed. */
    assert_int_equal(lh_storage_delete(st, "data/people/b.parquet", &err), LH_OK);
    assert_int_equal(lh_catalog_resync(cat, NULL, "people", &v, &err), LH_ECORRUPT);
    assert_non_null(strstr(err.msg, "data/people/b.parquet"));
    /* A file that is not Parquet is reported too. */
    assert_int_equal(lh_storage_put(st, "data/people/b.parquet", "nope", 4, &err), LH_OK);
    assert_int_equal(lh_catalog_resync(cat, NULL, "people", &v, &err), LH_ECORRUPT);
    assert_non_null(strstr(err.msg, "data/people/b.parquet"));
    int64_t *versions;
    size_t n;
    assert_int_equal(lh_catalog_versions(cat, NULL, "people", &versions, &n, &err), LH_OK);
    assert_int_equal(n, 2);
    free(versions);
    assert_int_equal(lh_catalog_resync(cat, NULL, "nobody", &v, &err), LH_ENOENT);

    lh_catalog_close(cat);
    lh_storage_close(st);
    lh_rm_rf(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_resync_from_parquet_footers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
