/* The project's DuckDB declarations match the library: version, type and statement ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/duckdb_capi.h"

typedef struct {
    duckdb_database db;
    duckdb_connection conn;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    assert_int_equal(duckdb_open(NULL, &f->db), DuckDBSuccess);
    assert_int_equal(duckdb_connect(f->db, &f->conn), DuckDBSuccess);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    duckdb_disconnect(&f->conn);
    duckdb_close(&f->db);
    free(f);
    return 0;
}

static void test_duckdb_version_is_the_pinned_one(void **state)
{
    lh_error err = {0};
    assert_int_equal(lh_duckdb_check_version(&err), LH_OK);
    assert_string_equal(duckdb_library_version(), LH_DUCKDB_VERSION);
}

static void test_duckdb_type_ids_match_library(void **state)
{
    fx *f = *state;
    static const struct {
        const char *expr;
        duckdb_type id;
    } cases[] = {
        {"true", DUCKDB_TYPE_BOOLEAN},        {"1::TINYINT", DUCKDB_TYPE_TINYINT},
        {"1::SMALLINT", DUCKDB_TYPE_SMALLINT}, {"1::INTEGER", DUCKDB_TYPE_INTEGER},
        {"1::BIGINT", DUCKDB_TYPE_BIGINT},     {"1::UTINYINT", DUCKDB_TYPE_UTINYINT},
        {"1::UBIGINT", DUCKDB_TYPE_UBIGINT},   {"1::FLOAT", DUCKDB_TYPE_FLOAT},
        {"1::DOUBLE", DUCKDB_TYPE_DOUBLE},     {"now()::TIMESTAMP", DUCKDB_TYPE_TIMESTAMP},
        {"DATE '2020-01-01'", DUCKDB_TYPE_DATE}, {"TIME '10:00'", DUCKDB_TYPE_TIME},
        {"INTERVAL 1 DAY", DUCKDB_TYPE_INTERVAL}, {"1::HUGEINT", DUCKDB_TYPE_HUGEINT},
        {"1::UHUGEINT", DUCKDB_TYPE_UHUGEINT}, {"'a'", DUCKDB_TYPE_VARCHAR},
        {"'a'::BLOB", DUCKDB_TYPE_BLOB},       {"1.5::DECIMAL(4,1)", DUCKDB_TYPE_DECIMAL},
        {"now()::TIMESTAMP_NS", DUCKDB_TYPE_TIMESTAMP_NS}, {"[1]", DUCKDB_TYPE_LIST},
        {"{'a': 1}", DUCKDB_TYPE_STRUCT},      {"MAP {'a': 1}", DUCKDB_TYPE_MAP},
        {"gen_random_uuid()", DUCKDB_TYPE_UUID}, {"now()", DUCKDB_TYPE_TIMESTAMP_TZ},
        {"[1, 2]::INT[2]", DUCKDB_TYPE_ARRAY},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT %s", cases[i].expr);
        duckdb_result r;
        assert_int_equal(duckdb_query(f->conn, sql, &r), DuckDBSuccess);
        if (duckdb_column_type(&r, 0) != cases[i].id)
            fail_msg("%s: library says type %d, header says %d", cases[i].expr,
                     duckdb_column_type(&r, 0), cases[i].id);
        duckdb_destroy_result(&r);
    }
}

static void test_duckdb_statement_types_match_library(void **state)
{
    fx *f = *state;
    static const struct {
        const char *sql;
        duckdb_statement_type t;
    } cases[] = {
        {"SELECT 1", DUCKDB_STATEMENT_TYPE_SELECT},
        {"EXPLAIN SELECT 1", DUCKDB_STATEMENT_TYPE_EXPLAIN},
        {"CREATE TABLE t(a INT)", DUCKDB_STATEMENT_TYPE_CREATE},
        {"COPY (SELECT 1) TO '/dev/null'", DUCKDB_STATEMENT_TYPE_COPY},
        {"SET threads=1", DUCKDB_STATEMENT_TYPE_SET},
        {"LOAD json", DUCKDB_STATEMENT_TYPE_LOAD},
        {"ATTACH ':memory:' AS x", DUCKDB_STATEMENT_TYPE_ATTACH},
        {"CALL pragma_version()", DUCKDB_STATEMENT_TYPE_CALL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        duckdb_prepared_statement ps;
        assert_int_equal(duckdb_prepare(f->conn, cases[i].sql, &ps), DuckDBSuccess);
        assert_int_equal(duckdb_prepared_statement_type(ps), cases[i].t);
        duckdb_destroy_prepare(&ps);
    }
}

static void test_sql_quoting_doubles_quotes(void **state)
{
    lh_buf b = {0};
    lh_sql_quote(&b, "it's");
    lh_buf_puts(&b, " ");
    lh_sql_ident(&b, "a\"b");
    assert_string_equal(b.data, "'it''s' \"a\"\"b\"");
    lh_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duckdb_version_is_the_pinned_one),
        cmocka_unit_test_setup_teardown(test_duckdb_type_ids_match_library, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duckdb_statement_types_match_library, setup, teardown),
        cmocka_unit_test(test_sql_quoting_doubles_quotes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
