/* ingest: files become Parquet + a catalog version; bad input changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "catalog/catalog.h"
#include "ingest/ingest.h"
#include "lakefix.h"

typedef tu_lake fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    tu_lake_open(f, "ingest", NULL);
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

static int ingest(fx *f, const char *dataset, const char *name, const char *data,
                  lh_ingest_result *r, lh_error *err)
{
    char *p = tu_write(f->dir, name, data, -1);
    lh_ingest_opts o = {.dataset = dataset, .source_name = name};
    int rc = lh_ingest_file(f->ing, &lh_identity_default, p, &o, r, err);
    free(p);
    return rc;
}

static int64_t latest_version(fx *f, const char *dataset)
{
    lh_manifest *m = NULL;
    if (lh_catalog_get(f->cat, &lh_identity_default, dataset, 0, &m, NULL)) return 0;
    int64_t v = m->version;
    lh_manifest_free(m);
    return v;
}

static const char *column_type(const lh_manifest *m, const char *name)
{
    for (size_t i = 0; i < m->ncolumns; i++)
        if (strcmp(m->columns[i].name, name) == 0) return m->columns[i].type;
    return NULL;
}

static void test_ingest_csv_creates_dataset_with_inferred_schema(void **state)
{
    fx *f = *state;
    lh_ingest_result r;
    lh_error err = {0};
    assert_int_equal(ingest(f, "people", "people.csv",
                            "id,name,score,joined\n1,Ann,3.5,2024-01-02\n2,\"Bo, Jr.\",4,"
                            "2024-02-03\n3,Zoë,,2024-03-04\n",
                            &r, &err),
                     0);
    assert_true(r.created);
    assert_false(r.noop);
    assert_int_equal(r.rows, 3);
    assert_int_equal(r.version, 1);
    lh_manifest *m = NULL;
    assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "people", 0, &m, &err), 0);
    assert_int_equal(m->ncolumns, 4);
    assert_string_equal(column_type(m, "id"), "BIGINT");
    assert_string_equal(column_type(m, "name"), "VARCHAR");
    assert_string_equal(column_type(m, "score"), "DOUBLE");
    assert_string_equal(column_type(m, "joined"), "DATE");
    assert_int_equal(m->nfiles, 1);
    assert_int_equal(m->rows, 3);
    assert_int_equal(m->nsources, 1);
    assert_string_equal(m->sources[0].sha256, r.sha256);
    lh_object_info info;
    assert_int_equal(lh_storage_head(f->st, m->files[0].key, &info, &err), 0);
    assert_int_equal(info.size, m->files[0].size);
    lh_manifest_free(m);
}

static void test_ingest_same_bytes_twice_is_noop(void **state)
{
    fx *f = *state;
    lh_ingest_result r;
    lh_error err = {0};
    const char *csv = "a,b\n1,x\n2,y\n";
    assert_int_equal(ingest(f, "t", "t.csv", csv, &r, &err), 0);
    assert_int_equal(ingest(f, "t", "t-again.csv", csv, &r, &err), 0);
    assert_true(r.noop);
    assert_int_equal(r.version, 1);
    assert_int_equal(latest_version(f, "t"), 1);
}

static void test_ingest_append_adds_version(void **state)
{
    fx *f = *state;
    lh_ingest_result r;
    lh_error err = {0};
    assert_int_equal(ingest(f, "t", "a.csv", "a,b\n1,x\n", &r, &err), 0);
    assert_int_equal(ingest(f, "t", "b.csv", "b,a\ny,2\nz,3\n", &r, &err), 0);
    assert_false(r.created);
    assert_int_equal(r.version, 2);
    lh_manifest *m = NULL;
    assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "t", 0, &m, &err), 0);
    assert_int_equal(m->rows, 3);
    assert_int_equal(m->nfiles, 2);
    lh_manifest_free(m);
}

static void test_ingest_rejects_incompatible_append_naming_columns(void **state)
{
    fx *f = *state;
    lh_ingest_result r;
    lh_error err = {0};
    assert_int_equal(ingest(f, "t", "a.csv", "id,name\n1,x\n", &r, &err), 0);
    assert_int_equal(ingest(f, "t", "b.csv", "id,fullname,age\n2,y,3\n", &r, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "missing columns 'name'"));
    assert_non_null(strstr(err.msg, "unknown columns 'fullname', 'age'"));
    assert_int_equal(latest_version(f, "t"), 1);
}

static void test_ingest_rejects_append_with_unfit_values(void **state)
{
    fx *f = *state;
    lh_ingest_result r;
    lh_error err = {0};
    assert_int_equal(ingest(f, "t", "a.csv", "id,hours\n1,8\n", &r, &err), 0);
    assert_int_equal(ingest(f, "t", "b.csv", "id,hours\n2,7\n3,n/a\n", &r, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "b.csv"));
    assert_non_null(strstr(err.msg, "hours"));
    /* Where, as fields: line 3 of b.csv, column hours. */
    assert_int_equal(r.error_line, 3);
    assert_string_equal(r.error_column, "hours");
    assert_int_equal(r.error_position, 0);
    assert_int_equal(latest_version(f, "t"), 1);
    /* A good file afterwards: no location left over. */
    assert_int_equal(ingest(f, "t", "c.csv", "id,hours\n4,6\n", &r, &err), 0);
    assert_int_equal(r.error_line, 0);
    assert_string_equal(r.error_column, "");
}

static void test_ingest_rejects_ragged_csv_row(void **state)
{
    fx *f = *state;
    lh_ingest_result r;
    lh_error err = {0};
    assert_int_equal(ingest(f, "t", "ragged.csv", "a,b,c\n1,2,3\n4,5,6,7\n8,9,10\n", &r, &err),
                     LH_EINVAL);
    assert_non_null(strstr(err.msg, "ragged.csv:3"));
    assert_int_equal(r.error_line, 3);
    assert_int_equal(latest_version(f, "t"), 0);
    /* The ragged row last: the sniffer must not take it for the header and drop the rest. */
    assert_int_equal(ingest(f, "t", "last.csv", "a,b,c\n1,2,3\n4,5,6,7\n", &r, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "last.csv:3"));
    assert_int_equal(r.error_line, 3);
    assert_int_equal(latest_version(f, "t"), 0);
}

static void test_ingest_rejects_unterminated_quote(void **state)
{
    fx *f = *state;
    lh_ingest_result r;
    lh_error err = {0};
    assert_int_equal(ingest(f, "t", "q.csv", "a,b\n1,\"open\n2,x\n", &r, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "q.csv"));
    assert_int_equal(latest_version(f, "t"), 0);
}

static void test_ingest_rejects_invalid_utf8_with_line_and_column(void **state)
{
    fx *f = *state;
    lh_ingest_result r;
    lh_error err = {0};
    assert_int_equal(ingest(f, "t", "bad.csv", "a,b\n1,ok\n2,caf\xe9!\n", &r, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "bad.csv:3: column 6"));
    assert_non_null(strstr(err.msg, "invalid UTF-8"));
    assert_int_equal(r.error_line, 3);
    assert_int_equal(r.error_position, 6);
    assert_string_equal(r.error_column, "");
    assert_int_equal(latest_version(f, "t"), 0);

    /* Past the first read block, after valid multi-byte characters: line and column still
     * exact (columns count characters, not bytes). */
    lh_buf b = {0};
    lh_buf_puts(&b, "a,b\n");
    for (int i = 0; i < 150000; i++)
        lh_buf_printf(&b, "%d,caf\xc3\xa9 \xe2\x82\xac\n", i);
    lh_buf_puts(&b, "x,\xc3\xa9\xc3\xa9\xf0\x28\n");
    assert_int_equal(ingest(f, "t", "late.csv", b.data, &r, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "late.csv:150002: column 5"));
    assert_int_equal(r.error_line, 150002);
    assert_int_equal(r.error_position, 5);
    assert_int_equal(latest_version(f, "t"), 0);
    lh_buf_free(&b);
}

static void test_ingest_rejects_empty_file(void **state)
{
    fx *f = *state;
    lh_ingest_result r;
    lh_error err = {0};
    assert_int_equal(ingest(f, "t", "empty.csv", "", &r, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "empty.csv: the file is empty"));
    assert_int_equal(latest_version(f, "t"), 0);
}

static void test_ingest_rejects_bad_dataset_name(void **state)
{
    fx *f = *state;
    lh_ingest_result r;
    lh_error err = {0};
    assert_int_equal(ingest(f, "../etc", "x.csv", "a\n1\n", &r, &err), LH_EINVAL);
    assert_int_equal(ingest(f, "Bad Name", "x.csv", "a\n1\n", &r, &err), LH_EINVAL);
}

static void test_ingest_late_mixed_column_becomes_varchar(void **state)
{
    fx *f = *state;
    lh_buf csv = {0};
    lh_buf_puts(&csv, "id,code\n");
    for (int i = 0; i < 30000; i++)
        lh_buf_printf(&csv, "%d,%d\n", i, i % 97);
    lh_buf_puts(&csv, "30000,A-17\n");
    lh_ingest_result r;
    lh_error err = {0};
    assert_int_equal(ingest(f, "codes", "codes.csv", csv.data, &r, &err), 0);
    lh_buf_free(&csv);
    assert_int_equal(r.rows, 30001);
    lh_manifest *m = NULL;
    assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "codes", 0, &m, &err), 0);
    assert_string_equal(column_type(m, "code"), "VARCHAR");
    assert_string_equal(column_type(m, "id"), "BIGINT");
    lh_manifest_free(m);
}

static void test_ingest_type_override(void **state)
{
    fx *f = *state;
    char *p = tu_write(f->dir, "zips.csv", "zip,city\n02134,Boston\n60601,Chicago\n", -1);
    const char *types[] = {"zip=VARCHAR", NULL};
    lh_ingest_opts o = {.dataset = "zips", .types = types};
    lh_ingest_result r;
    lh_error err = {0};
    assert_int_equal(lh_ingest_file(f->ing, &lh_identity_default, p, &o, &r, &err), 0);
    lh_manifest *m = NULL;
    assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "zips", 0, &m, &err), 0);
    assert_string_equal(column_type(m, "zip"), "VARCHAR");
    lh_manifest_free(m);
    const char *bad[] = {"nosuch=INTEGER", NULL};
    o.types = bad;
    o.dataset = "zips2";
    assert_int_equal(lh_ingest_file(f->ing, &lh_identity_default, p, &o, &r, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "nosuch"));
    free(p);
}

static void test_ingest_ndjson_flattens_nested_objects(void **state)
{
    fx *f = *state;
    lh_ingest_result r;
    lh_error err = {0};
    assert_int_equal(ingest(f, "events", "events.ndjson",
                            "{\"id\":1,\"user\":{\"name\":\"a\",\"geo\":{\"city\":\"Chicago\"}},"
                            "\"tags\":[\"x\",\"y\"]}\n"
                            "{\"id\":2,\"user\":{\"name\":\"b\",\"geo\":{\"city\":\"Dallas\"}},"
                            "\"tags\":[]}\n",
                            &r, &err),
                     0);
    assert_int_equal(r.rows, 2);
    lh_manifest *m = NULL;
    assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "events", 0, &m, &err), 0);
    assert_non_null(column_type(m, "user.name"));
    assert_string_equal(column_type(m, "user.geo.city"), "VARCHAR");
    assert_string_equal(column_type(m, "tags"), "VARCHAR[]");
    assert_null(column_type(m, "user"));
    lh_manifest_free(m);
}

static void test_ingest_rejects_malformed_ndjson(void **state)
{
    fx *f = *state;
    lh_ingest_result r;
    lh_error err = {0};
    assert_int_equal(ingest(f, "ev", "ev.ndjson", "{\"id\":1}\n{\"id\":2,\n{\"id\":3}\n", &r, &err),
                     LH_EINVAL);
    assert_non_null(strstr(err.msg, "ev.ndjson"));
    assert_int_equal(latest_version(f, "ev"), 0);
}

static void test_ingest_rejects_mode_commits_good_rows(void **state)
{
    fx *f = *state;
    char *p = tu_write(f->dir, "mixed.csv", "a,b\n1,2\n3,4,5\n6,7\n", -1);
    lh_ingest_opts o = {.dataset = "mixed", .rejects = true};
    lh_ingest_result r;
    lh_error err = {0};
    assert_int_equal(lh_ingest_file(f->ing, &lh_identity_default, p, &o, &r, &err), 0);
    free(p);
    assert_int_equal(r.rows, 2);
    assert_int_equal(r.rejected, 1);
    assert_int_equal(latest_version(f, "mixed_rejects"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ingest_csv_creates_dataset_with_inferred_schema, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ingest_same_bytes_twice_is_noop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_append_adds_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_rejects_incompatible_append_naming_columns,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_rejects_append_with_unfit_values, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ingest_rejects_ragged_csv_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_rejects_unterminated_quote, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_rejects_invalid_utf8_with_line_and_column,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_rejects_empty_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_rejects_bad_dataset_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_late_mixed_column_becomes_varchar, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ingest_type_override, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_ndjson_flattens_nested_objects, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ingest_rejects_malformed_ndjson, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_rejects_mode_commits_good_rows, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
