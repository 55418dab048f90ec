/* query: SQL predicates to row-position bitsets (stable across files), hostile predicates
 * refused before or by the sandbox, and rows fetched by position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>

#include "catalog/catalog.h"
#include "ingest/ingest.h"
#include "query/query.h"
#include "lakefix.h"

typedef struct fx {
    tu_lake l;
    lh_manifest *m;
    const char **keys;
    int64_t *bases;
    lh_query_rowset rs;
} fx;

static void ingest_rows(fx *f, const char *name, int from, int to)
{
    lh_buf b = {0};
    lh_buf_puts(&b, "id,city\n");
    for (int i = from; i < to; i++)
        lh_buf_printf(&b, "%d,%s\n", i, i % 4 == 0 ? "Chicago" : "Dallas");
    char *p = tu_write(f->l.dir, name, b.data, -1);
    lh_ingest_opts o = {.dataset = "people"};
    lh_error err = {0};
    if (lh_ingest_file(f->l.ing, &lh_identity_default, p, &o, NULL, &err))
        fail_msg("ingest: %s", err.msg);
    free(p);
    lh_buf_free(&b);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    static const char *const settings[] = {"query_timeout_ms", "3000", NULL};
    tu_lake_open(&f->l, "rows", settings);
    lh_error err = {0};
    /* three files: ids equal positions */
    ingest_rows(f, "a.csv", 0, 5000);
    ingest_rows(f, "b.csv", 5000, 5003);
    ingest_rows(f, "c.csv", 5003, 7000);
    tu_lake_open_query(&f->l);
    assert_int_equal(lh_catalog_get(f->l.cat, &lh_identity_default, "people", 0, &f->m, &err), 0);
    f->keys = calloc(f->m->nfiles, sizeof(char *));
    f->bases = calloc(f->m->nfiles, sizeof(int64_t));
    int64_t base = 0;
    for (size_t i = 0; i < f->m->nfiles; i++) {
        f->keys[i] = f->m->files[i].key;
        f->bases[i] = base;
        base += f->m->files[i].rows;
    }
    f->rs = (lh_query_rowset){.dataset = "people",
                              .version = f->m->version,
                              .keys = f->keys,
                              .bases = f->bases,
                              .nfiles = f->m->nfiles,
                              .nrows = f->m->rows};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    free(f->keys);
    free(f->bases);
    lh_manifest_free(f->m);
    tu_lake_close(&f->l);
    free(f);
    return 0;
}

static void test_rows_predicate_check_refuses_what_escapes_the_where(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "   ",
        "1=1; DROP VIEW people",
        "1=1) UNION SELECT 1 FROM (SELECT 1",
        "1=1) UNION (SELECT 1",
        "city = 'Chicago' -- and more",
        "city = 'Chicago' /* x */",
        "(city = 'x'",
        "city = 'unclosed",
        "\"unclosed = 1",
        "id = $1",
        "city = $$x$$",
        "city = E'\\'' ) UNION SELECT 1 FROM (SELECT 1 ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lh_error err = {0};
        if (lh_query_predicate_check(bad[i], &err) != LH_EINVAL) fail_msg("accepted: %s", bad[i]);
        assert_non_null(strstr(err.msg, "filter"));
    }
    static const char *good[] = {
        "city = 'Chicago'",
        "city = 'a;b) -- /*'",
        "\"odd;name)\" IS NULL",
        "(id > 3 AND (city IN ('x', 'y')))",
        "city = E'it\\'s'",
        "city = 'it''s'",
        "id IN (SELECT id FROM people WHERE id < 3)",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        lh_error err = {0};
        if (lh_query_predicate_check(good[i], &err) != LH_OK)
            fail_msg("refused: %s: %s", good[i], err.msg);
    }
}

static void test_rows_filter_gives_stable_positions_across_files(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    assert_int_equal(f->m->nfiles, 3);
    for (int round = 0; round < 2; round++) {
        uint64_t *w = NULL;
        int64_t count = 0;
        if (lh_query_filter_rows(f->l.q, &lh_identity_default, &f->rs,
                                 "city = 'Chicago' OR id IN (5001, 5002)", &w, &count, &err))
            fail_msg("%s", err.msg);
        int64_t expect = 0;
        for (int64_t p = 0; p < f->rs.nrows; p++) {
            bool want = p % 4 == 0 || p == 5001 || p == 5002;
            bool got = (w[p >> 6] >> (p & 63)) & 1;
            if (want != got) fail_msg("position %" PRId64 ": expected %d", p, want);
            expect += want;
        }
        assert_int_equal(count, expect);
        free(w);
    }
}

static void test_rows_filter_refuses_hostile_predicates(void **state)
{
    fx *f = *state;
    struct {
        const char *pred;
        int rc;
    } cases[] = {
        {"1=1; DROP VIEW people", LH_EINVAL},
        {"1=1) UNION SELECT 1 FROM (SELECT 1", LH_EINVAL},
        {"id IN (SELECT * FROM read_csv('/etc/passwd'))", LH_EDENIED},
        {"id IN (SELECT 1 FROM read_text('/etc/passwd'))", LH_EDENIED},
        {"no_such_column = 1", LH_EINVAL},
        {"city", LH_EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t *w = NULL;
        lh_error err = {0};
        int rc = lh_query_filter_rows(f->l.q, &lh_identity_default, &f->rs, cases[i].pred, &w, NULL,
                                      &err);
        if (rc != cases[i].rc) fail_msg("%s: rc %d (%s)", cases[i].pred, rc, err.msg);
        assert_null(w);
        assert_null(strstr(err.msg, "root:"));
    }
    /* the engine still answers */
    uint64_t *w = NULL;
    lh_error err = {0};
    assert_int_equal(
        lh_query_filter_rows(f->l.q, &lh_identity_default, &f->rs, "id = 6999", &w, NULL, &err), 0);
    assert_true((w[6999 >> 6] >> (6999 & 63)) & 1);
    free(w);
}

static void test_rows_json_by_position_in_the_order_asked(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    int64_t pos[] = {6500, 3, 5001, 99999};
    json_t *rows = NULL;
    if (lh_query_rows_json(f->l.q, &lh_identity_default, &f->rs, pos, 4, "city", &rows, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(json_array_size(rows), 4);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "id")), 6500);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 1), "id")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 2), "id")), 5001);
    assert_null(json_object_get(json_array_get(rows, 0), "city"));
    assert_true(json_is_null(json_array_get(rows, 3)));
    json_decref(rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_predicate_check_refuses_what_escapes_the_where),
        cmocka_unit_test_setup_teardown(test_rows_filter_gives_stable_positions_across_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rows_filter_refuses_hostile_predicates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rows_json_by_position_in_the_order_asked, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
