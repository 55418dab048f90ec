/* query: views over datasets, the sandbox, result formats and types, timeouts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "catalog/catalog.h"
#include "ingest/ingest.h"
#include "query/query.h"
#include "lakefix.h"

#include <dirent.h>
#include <unistd.h>

#include "core/duckdb_capi.h"

typedef tu_lake fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    static const char *const settings[] = {"query_timeout_ms", "1500", NULL};
    tu_lake_open(f, "query", settings);
    lh_error err = {0};
    char *p =
        tu_write(f->dir, "people.csv",
                 "id,name,city,score\n1,Ann,Chicago,3.5\n2,Bo,Dallas,4.25\n3,Cy,Chicago,\n", -1);
    lh_ingest_opts o = {.dataset = "people"};
    assert_int_equal(lh_ingest_file(f->ing, &lh_identity_default, p, &o, NULL, &err), 0);
    free(p);
    tu_lake_open_query(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    tu_lake_close(f);
    free(f);
    return 0;
}

static char *run_json(fx *f, const char *sql, int expect_rc, lh_error *err)
{
    char *out = NULL;
    int rc = lh_query_json(f->q, &lh_identity_default, sql, 0, &out, err);
    if (rc != expect_rc) fail_msg("%s: rc %d (%s), expected %d", sql, rc, err->msg, expect_rc);
    return out;
}

static void test_query_sees_dataset_view(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    char *j =
        run_json(f, "SELECT city, count(*) AS n FROM people GROUP BY city ORDER BY city", 0, &err);
    assert_non_null(strstr(j, "\"columns\":[{\"name\":\"city\",\"type\":\"VARCHAR\"},"
                              "{\"name\":\"n\",\"type\":\"BIGINT\"}]"));
    assert_non_null(strstr(j, "\"rows\":[[\"Chicago\",2],[\"Dallas\",1]]"));
    assert_non_null(strstr(j, "\"row_count\":2,\"truncated\":false"));
    free(j);
}

static void test_query_view_follows_new_versions(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    char *p = tu_write(f->dir, "more.csv", "id,name,city,score\n4,Di,Austin,1\n", -1);
    lh_ingest_opts o = {.dataset = "people"};
    /* Run the statement before the commit too: its cached preparation must not outlive
     * the view it was bound to. */
    char *j = run_json(f, "SELECT count(*) FROM people", 0, &err);
    assert_non_null(strstr(j, "\"rows\":[[3]]"));
    free(j);
    assert_int_equal(lh_ingest_file(f->ing, &lh_identity_default, p, &o, NULL, &err), 0);
    free(p);
    assert_int_equal(lh_query_refresh(f->q, "people", &err), 0);
    j = run_json(f, "SELECT count(*) FROM people", 0, &err);
    assert_non_null(strstr(j, "\"rows\":[[4]]"));
    free(j);
}

/* Statements the engine refuses, and how. */
static const struct {
    const char *sql;
    int rc;
} hostile[] = {
    {"SELECT * FROM read_csv('/etc/passwd')", LH_EDENIED},
    {"SELECT * FROM read_text('/etc/passwd')", LH_EDENIED},
    {"SELECT * FROM glob('/*')", LH_EDENIED},
    {"COPY people TO '/tmp/lh-stolen.csv'", LH_EDENIED},
    {"COPY (SELECT 1) TO '/tmp/lh-stolen.csv'", LH_EDENIED},
    {"ATTACH '/tmp/lh-x.duckdb' AS x", LH_EDENIED},
    {"INSTALL httpfs", LH_EDENIED},
    {"LOAD httpfs", LH_EDENIED},
    {"SET enable_external_access=true", LH_EDENIED},
    {"RESET memory_limit", LH_EDENIED},
    {"PRAGMA enable_profiling", LH_EDENIED},
    {"CREATE TABLE x AS SELECT 1", LH_EDENIED},
    {"CREATE OR REPLACE VIEW people AS SELECT 1", LH_EDENIED},
    {"DROP VIEW people", LH_EDENIED},
    {"INSERT INTO people VALUES (9,'x','y',1)", LH_EDENIED},
    {"EXECUTE p", LH_EDENIED},
    {"PREPARE p AS SELECT 1", LH_EDENIED},
    {"CALL pragma_version()", LH_EDENIED},
    {"EXPORT DATABASE '/tmp/lh-export'", LH_EDENIED},
    {"EXPLAIN ANALYZE COPY people TO '/tmp/lh-x.csv'", LH_EDENIED},
    {"SELECT 1; DROP VIEW people", LH_EDENIED},
    /* The sandbox has no tables to insert into: refused while binding. */
    {"WITH a AS (SELECT 1) INSERT INTO people SELECT * FROM people", LH_EINVAL},
    {"/* hi */ -- there\n DETACH x", LH_EDENIED},
    {"", LH_EINVAL},
    {"SELEC 1", LH_EDENIED},
    {"SELECT * FROM no_such_table", LH_EINVAL},
};

static void test_query_refuses_hostile_statements(void **state)
{
    fx *f = *state;
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        lh_error err = {0};
        char *j = NULL;
        int rc = lh_query_json(f->q, &lh_identity_default, hostile[i].sql, 0, &j, &err);
        if (rc != hostile[i].rc)
            fail_msg("'%s': rc %d (%s), expected %d", hostile[i].sql, rc, err.msg, hostile[i].rc);
        assert_null(j);
        assert_true(err.msg[0] != 0);
    }
    assert_int_equal(access("/tmp/lh-stolen.csv", F_OK), -1);
    /* Still serving, settings unchanged. */
    lh_error err = {0};
    char *j = run_json(f,
                       "SELECT current_setting('enable_external_access') AS ext, count(*) "
                       "FROM people",
                       0, &err);
    assert_non_null(strstr(j, "[[false,3]]"));
    free(j);
}

static void test_query_runaway_hits_timeout_and_engine_recovers(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    uint64_t t0 = lh_now_ns();
    char *j = run_json(f, "SELECT count(*) FROM range(1000000000) a, range(1000000000) b",
                       LH_ETIMEOUT, &err);
    assert_null(j);
    assert_non_null(strstr(err.msg, "time limit"));
    assert_true(lh_now_ns() - t0 < 20ULL * 1000000000ULL);
    j = run_json(f, "SELECT 42 AS x", 0, &err);
    assert_non_null(strstr(j, "[[42]]"));
    free(j);
}

static void test_query_serializes_types(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    char *j = run_json(f,
                       "SELECT DATE '2024-02-29' AS d, TIMESTAMP '2024-01-02 03:04:05.5' AS ts, "
                       "1.25::DECIMAL(10,2) AS dec, -0.05::DECIMAL(4,2) AS neg, [1,2,3] AS l, "
                       "{'a': 1, 'b': 'x'} AS s, 'e\"q\\n' AS esc, NULL AS n, true AS b, "
                       "'6ba7b810-9dad-11d1-80b4-00c04fd430c8'::UUID AS u, "
                       "170141183460469231731687303715884105727::HUGEINT AS h, "
                       "MAP {'k': 2} AS m, INTERVAL 3 DAY AS iv, [1.5,2.5]::FLOAT[2] AS arr, "
                       "'1010'::BIT AS bits",
                       0, &err);
    assert_non_null(strstr(j, "\"2024-02-29\""));
    assert_non_null(strstr(j, "\"2024-01-02 03:04:05.500000\""));
    assert_non_null(
        strstr(j, ",1.25,-0.05,[1,2,3],{\"a\":1,\"b\":\"x\"},\"e\\\"q\\\\n\",null,true"));
    assert_non_null(strstr(j, "\"6ba7b810-9dad-11d1-80b4-00c04fd430c8\""));
    assert_non_null(strstr(j, "170141183460469231731687303715884105727"));
    assert_non_null(strstr(j, "{\"k\":2}"));
    assert_non_null(strstr(j, "\"3 days\""));
    assert_non_null(strstr(j, "[1.5,2.5]"));
    assert_non_null(strstr(j, "\"1010\""));
    free(j);
}

/* Integers at their extremes and dates, times and timestamps around the edges of the fast
 * formatting paths, written as they always were. */
static void test_query_serializes_integer_and_time_edges(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    char *j = run_json(f,
                       "SELECT (-128)::TINYINT, (-32768)::SMALLINT, (-2147483648)::INTEGER, "
                       "(-9223372036854775808)::BIGINT, 9223372036854775807::BIGINT, "
                       "255::UTINYINT, 65535::USMALLINT, 4294967295::UINTEGER, "
                       "18446744073709551615::UBIGINT, 0::BIGINT, (-7)::INTEGER, "
                       "DATE '1969-12-31', DATE '0001-01-01', DATE '12345-06-07', "
                       "TIME '00:00:00', TIME '23:59:59.000001', TIME '07:08:09.12', "
                       "TIMESTAMP '1969-12-31 23:59:59.999999', TIMESTAMP '1970-01-01 00:00:00', "
                       "TIMESTAMP '2024-02-29 12:34:56.789', DATE '-0044-03-15'",
                       0, &err);
    assert_non_null(j);
    assert_non_null(strstr(j, "[[-128,-32768,-2147483648,-9223372036854775808,"
                              "9223372036854775807,255,65535,4294967295,18446744073709551615,0,"
                              "-7,\"1969-12-31\",\"0001-01-01\",\"12345-06-07\",\"00:00:00\","
                              "\"23:59:59.000001\",\"07:08:09.120000\","
                              "\"1969-12-31 23:59:59.999999\",\"1970-01-01 00:00:00\","
                              "\"2024-02-29 12:34:56.789000\",\"-044-03-15\"]]"));
    free(j);
}

/* DOUBLE values as "%.15g" prints them when that reads back, else as "%.17g" (the fast paths
 * must not change a digit), and DECIMAL/HUGEINT values past 64 bits. */
static void test_query_serializes_doubles_and_wide_decimals(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    char *j = run_json(f,
                       "SELECT 0.1::DOUBLE, 0.1::DOUBLE + 0.2::DOUBLE, 1::DOUBLE / 3, "
                       "1234.5678::DOUBLE, (-2.5)::DOUBLE, 1e-5::DOUBLE, 1e20::DOUBLE, "
                       "123456789012345.6::DOUBLE, 0.000123::DOUBLE, 100::DOUBLE, "
                       "999999999999999.9::DOUBLE, 0.00012345678901234567::DOUBLE, "
                       "(-0.75)::FLOAT, 'nan'::DOUBLE, 'inf'::DOUBLE, 0::DOUBLE, "
                       "12345678901234567890.1234567890::DECIMAL(38,10), "
                       "(-0.0000000001)::DECIMAL(38,10), "
                       "99999999999999999999999999999999999999::DECIMAL(38,0), "
                       "(-170141183460469231731687303715884105728)::HUGEINT",
                       0, &err);
    assert_non_null(j);
    assert_non_null(strstr(j, "[[0.1,0.30000000000000004,0.33333333333333331,1234.5678,-2.5,"
                              "1e-05,1e+20,123456789012345.59,0.000123,100,999999999999999.88,"
                              "0.00012345678901234567,-0.75,null,null,0,"
                              "12345678901234567890.1234567890,-0.0000000001,"
                              "99999999999999999999999999999999999999,"
                              "-170141183460469231731687303715884105728]]"));
    free(j);
}

/* The sandbox's settings reach the pooled connections queries run on, not only the admin
 * connection that set them. */
static void test_query_settings_reach_query_connections(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    char *j = run_json(f,
                       "SELECT current_setting('parquet_metadata_cache'), "
                       "current_setting('enable_external_access'), "
                       "current_setting('lock_configuration'), "
                       "current_setting('autoload_known_extensions')",
                       0, &err);
    assert_non_null(j);
    assert_non_null(strstr(j, "[[true,false,true,false]]"));
    free(j);
}

static int buf_sink(void *ctx, const char *data, size_t n)
{
    lh_buf_append(ctx, data, n);
    return 0;
}

static void test_query_streams_ndjson_and_csv(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    lh_buf b = {0};
    lh_query_opts o = {.format = LH_QUERY_NDJSON};
    lh_query_stats st;
    assert_int_equal(lh_query_run(f->q, &lh_identity_default,
                                  "SELECT i, 'r' || i AS s FROM range(100000) t(i)", &o, buf_sink,
                                  &b, &st, &err),
                     0);
    assert_int_equal(st.rows, 100000);
    assert_non_null(strstr(b.data, "{\"i\":99999,\"s\":\"r99999\"}\n"));
    lh_buf_reset(&b);
    o.format = LH_QUERY_CSV;
    assert_int_equal(lh_query_run(f->q, &lh_identity_default,
                                  "SELECT name, 'a,b' AS x, 'say \"hi\"' AS y FROM people "
                                  "ORDER BY id LIMIT 1",
                                  &o, buf_sink, &b, &st, &err),
                     0);
    assert_string_equal(b.data, "name,x,y\nAnn,\"a,b\",\"say \"\"hi\"\"\"\n");
    lh_buf_reset(&b);
    assert_int_equal(lh_query_run(f->q, &lh_identity_default,
                                  "SELECT TIMESTAMP '2024-01-02 03:04:05' AS ts, 0.1::DOUBLE AS d, "
                                  "DATE '2024-02-29' AS day",
                                  &o, buf_sink, &b, &st, &err),
                     0);
    assert_string_equal(b.data, "ts,d,day\n2024-01-02 03:04:05,0.1,2024-02-29\n");
    lh_buf_free(&b);
}

static void test_query_json_row_limit_truncates(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    char *j = NULL;
    assert_int_equal(
        lh_query_json(f->q, &lh_identity_default, "SELECT * FROM range(5000)", 10, &j, &err), 0);
    assert_non_null(strstr(j, "\"row_count\":10,\"truncated\":true"));
    free(j);
    /* The limit must not disturb ORDER BY, repeated runs (cached statements) nor a
     * different limit on the same text. */
    for (int round = 0; round < 3; round++) {
        int64_t lim = round == 2 ? 2 : 3;
        assert_int_equal(lh_query_json(f->q, &lh_identity_default,
                                       "SELECT i, i % 7 AS m FROM range(100000) t(i) "
                                       "ORDER BY m DESC, i DESC",
                                       lim, &j, &err),
                         0);
        assert_non_null(strstr(j, lim == 3 ? "\"rows\":[[99994,6],[99987,6],[99980,6]]"
                                           : "\"rows\":[[99994,6],[99987,6]]"));
        assert_non_null(strstr(j, "\"truncated\":true"));
        free(j);
    }
    /* Exactly limit rows: not truncated. Statements that cannot be a subquery still run. */
    assert_int_equal(
        lh_query_json(f->q, &lh_identity_default, "SELECT * FROM range(10)", 10, &j, &err), 0);
    assert_non_null(strstr(j, "\"row_count\":10,\"truncated\":false"));
    free(j);
    assert_int_equal(lh_query_json(f->q, &lh_identity_default, "DESCRIBE people", 1, &j, &err), 0);
    assert_non_null(strstr(j, "\"row_count\":1,\"truncated\":true"));
    free(j);
    /* Duplicate output names survive the wrapper. */
    assert_int_equal(
        lh_query_json(f->q, &lh_identity_default, "SELECT 1 AS a, 2 AS a", 0, &j, &err), 0);
    assert_non_null(strstr(j, "{\"name\":\"a\",\"type\":\"INTEGER\"},{\"name\":\"a\""));
    assert_non_null(strstr(j, "\"rows\":[[1,2]]"));
    free(j);
    /* ... as does a name that looks like a renamed one; a wide result keeps its limit. */
    assert_int_equal(
        lh_query_json(f->q, &lh_identity_default, "SELECT 1 AS a_1, 2 AS a", 0, &j, &err), 0);
    assert_non_null(strstr(j, "{\"name\":\"a_1\",\"type\":\"INTEGER\"},{\"name\":\"a\""));
    free(j);
    assert_int_equal(lh_query_json(f->q, &lh_identity_default,
                                   "SELECT i, i * 2 AS d FROM range(100) t(i) ORDER BY i DESC", 3,
                                   &j, &err),
                     0);
    assert_non_null(strstr(j, "\"rows\":[[99,198],[98,196],[97,194]]"));
    assert_non_null(strstr(j, "\"row_count\":3,\"truncated\":true"));
    free(j);
}

/* ------------------------------------------------------- Parquet export */

static size_t exports_left(fx *f)
{
    char *d = lh_path_join(f->cfg.cache_dir, "exports");
    DIR *dir = opendir(d);
    size_t n = 0;
    assert_non_null(dir);
    for (struct dirent *e; (e = readdir(dir));)
        if (e->d_name[0] != '.') n++;
    closedir(dir);
    free(d);
    return n;
}

/* Copies the exported file (open, already unlinked) to dir/name and returns that path. */
static char *export_to_file(fx *f, const char *sql, int64_t *rows)
{
    lh_error err = {0};
    int fd = -1;
    int64_t size = 0;
    int rc = lh_query_export_parquet(f->q, &lh_identity_default, sql, 0, &fd, &size, rows, &err);
    if (rc) fail_msg("%s: rc %d (%s)", sql, rc, err.msg);
    assert_true(fd >= 0);
    assert_true(size > 8);
    char *buf = malloc((size_t)size);
    assert_int_equal(pread(fd, buf, (size_t)size, 0), size);
    close(fd);
    assert_memory_equal(buf, "PAR1", 4);
    assert_memory_equal(buf + size - 4, "PAR1", 4);
    char *p = tu_write(f->dir, "export.parquet", buf, size);
    free(buf);
    return p;
}

/* Runs sql on a fresh DuckDB (no sandbox) with ? replaced by the quoted path; returns the
 * first row as "a|b|c" (caller frees). */
static char *read_back(const char *path, const char *sql)
{
    duckdb_database db;
    duckdb_connection c;
    duckdb_result res;
    assert_int_equal(duckdb_open(NULL, &db), DuckDBSuccess);
    assert_int_equal(duckdb_connect(db, &c), DuckDBSuccess);
    lh_buf q = {0};
    for (const char *s = sql; *s; s++) {
        if (*s == '?')
            lh_sql_quote(&q, path);
        else
            lh_buf_putc(&q, *s);
    }
    if (duckdb_query(c, q.data, &res) != DuckDBSuccess)
        fail_msg("%s: %s", q.data, duckdb_result_error(&res));
    lh_buf out = {0};
    for (idx_t i = 0; i < duckdb_column_count(&res); i++) {
        char *v = duckdb_value_varchar(&res, i, 0);
        lh_buf_printf(&out, "%s%s", i ? "|" : "", v ? v : "NULL");
        duckdb_free(v);
    }
    duckdb_destroy_result(&res);
    duckdb_disconnect(&c);
    duckdb_close(&db);
    lh_buf_free(&q);
    return lh_buf_steal(&out);
}

static void test_query_exports_parquet(void **state)
{
    fx *f = *state;
    int64_t rows = 0;
    /* Types survive, the trailing comment does not swallow the wrapper's parenthesis. */
    char *p = export_to_file(f,
                             "SELECT id, name, score, DATE '2024-01-02' + id::INTEGER AS day, "
                             "[id, id] AS pair FROM people ORDER BY id; -- the end",
                             &rows);
    assert_int_equal(rows, 3);
    char *got =
        read_back(p, "SELECT count(*), string_agg(name, ',' ORDER BY id), sum(score), "
                     "max(day), typeof(any_value(id)), typeof(any_value(score)), "
                     "typeof(any_value(day)), typeof(any_value(pair)) FROM read_parquet(?)");
    assert_string_equal(got, "3|Ann,Bo,Cy|7.75|2024-01-05|BIGINT|DOUBLE|DATE|BIGINT[]");
    free(got);
    free(p);
    /* Semicolons and comment marks inside strings stay; the trailing ones go. */
    p = export_to_file(f,
                       "SELECT 'a;--' AS s, $q$b; /*$q$ AS t, \"x;\" FROM (SELECT 1 AS \"x;\"); "
                       "/* done */ -- bye",
                       &rows);
    got = read_back(p, "SELECT s, t, \"x;\" FROM read_parquet(?)");
    assert_string_equal(got, "a;--|b; /*|1");
    free(got);
    free(p);
    /* The row limit of JSON results does not apply. */
    p = export_to_file(f, "SELECT range AS i FROM range(25000) /* all of them */", &rows);
    assert_int_equal(rows, 25000);
    got = read_back(p, "SELECT count(*), max(i) FROM read_parquet(?)");
    assert_string_equal(got, "25000|24999");
    free(got);
    free(p);
    assert_int_equal(exports_left(f), 0);
}

static void test_query_export_refuses_what_queries_refuse(void **state)
{
    fx *f = *state;
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        lh_error err = {0};
        int fd = 7;
        int rc = lh_query_export_parquet(f->q, &lh_identity_default, hostile[i].sql, 0, &fd, NULL,
                                         NULL, &err);
        if (rc != hostile[i].rc)
            fail_msg("'%s': rc %d (%s), expected %d", hostile[i].sql, rc, err.msg, hostile[i].rc);
        assert_int_equal(fd, -1);
        assert_true(err.msg[0] != 0);
    }
    /* Attempts to break out of the wrapper's parentheses. */
    static const char *escapes[] = {
        "SELECT 1) TO '/tmp/lh-stolen.parquet' (FORMAT parquet); --",
        "SELECT 1) TO '/tmp/lh-stolen.parquet' --",
        "SELECT 1 /* ) TO '/tmp/lh-stolen.parquet' (FORMAT parquet); COPY (SELECT 1",
        "SELECT ')' FROM people) TO '/tmp/lh-stolen.parquet'; SELECT ('",
    };
    for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
        lh_error err = {0};
        int fd = -1;
        int rc = lh_query_export_parquet(f->q, &lh_identity_default, escapes[i], 0, &fd, NULL, NULL,
                                         &err);
        if (rc == LH_OK) fail_msg("'%s' was accepted", escapes[i]);
    }
    assert_int_equal(access("/tmp/lh-stolen.parquet", F_OK), -1);
    assert_int_equal(access("/tmp/lh-stolen.csv", F_OK), -1);
    /* Only queries: EXPLAIN's result is for CSV or JSON. */
    lh_error err = {0};
    int fd = -1;
    assert_int_equal(lh_query_export_parquet(f->q, &lh_identity_default, "EXPLAIN SELECT 1", 0, &fd,
                                             NULL, NULL, &err),
                     LH_EINVAL);
    assert_non_null(strstr(err.msg, "Parquet"));
    /* Over time: stopped, and the partial file is gone. */
    assert_int_equal(lh_query_export_parquet(f->q, &lh_identity_default,
                                             "SELECT a.range * b.range AS x FROM range(100000000) "
                                             "a, range(100000000) b",
                                             300, &fd, NULL, NULL, &err),
                     LH_ETIMEOUT);
    assert_int_equal(exports_left(f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_query_sees_dataset_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_view_follows_new_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_refuses_hostile_statements, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_runaway_hits_timeout_and_engine_recovers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_query_serializes_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_serializes_integer_and_time_edges, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_query_serializes_doubles_and_wide_decimals, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_query_settings_reach_query_connections, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_query_streams_ndjson_and_csv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_json_row_limit_truncates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_exports_parquet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_export_refuses_what_queries_refuse, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
