/* Dataset indexes: build from an ingested column, generations and the pointer log, loading,
 * and bad columns refused with nothing stored. (The registry under concurrent searches is in
 * test_index_threads.c, which stays clear of DuckDB so ThreadSanitizer can run it.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>

#include "catalog/catalog.h"
#include "ingest/ingest.h"
#include "lakefix.h"
#include "vector/vector.h"

#define DIM 8
#define ROWS 300

typedef tu_lake fx;

/* NDJSON rows id, city, vector (DIM numbers, five clusters); `from` .. `from + n - 1`. */
static char *ndjson(size_t from, size_t n)
{
    lh_buf b = {0};
    static const char *cities[] = {"Chicago", "Boston", "Austin"};
    for (size_t i = from; i < from + n; i++) {
        lh_buf_printf(&b, "{\"id\":%zu,\"name\":\"doc-%zu\",\"city\":\"%s\",\"vector\":[", i, i,
                      cities[i % 3]);
        for (int j = 0; j < DIM; j++)
            lh_buf_printf(&b, "%s%.5f", j ? "," : "",
                          (double)((i % 5) == (size_t)j) + 0.2 * sin((double)(i * 7 + j)));
        lh_buf_puts(&b, "]}\n");
    }
    return lh_buf_steal(&b);
}

static void ingest(fx *f, const char *dataset, const char *name, const char *text)
{
    char *p = tu_write(f->dir, name, text, -1);
    lh_ingest_opts o = {.dataset = dataset, .format = LH_FORMAT_NDJSON};
    lh_error err = {0};
    if (lh_ingest_file(f->ing, &lh_identity_default, p, &o, NULL, &err))
        fail_msg("ingest %s: %s", name, err.msg);
    free(p);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    tu_lake_open(f, "vindex", NULL);
    /* two files: positions 0..199 in the first, 200..299 in the second */
    char *a = ndjson(0, 200), *b = ndjson(200, ROWS - 200);
    ingest(f, "docs", "a.ndjson", a);
    ingest(f, "docs", "b.ndjson", b);
    free(a);
    free(b);
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

static int build(fx *f, const char *dataset, const char *column, const char *id_column,
                 lh_vector_index_meta *out, lh_error *err)
{
    lh_vector_index_spec sp = {
        .dataset = dataset, .column = column, .id_column = id_column, .tmp_dir = f->cfg.cache_dir};
    lh_hnsw_params_default(&sp.params);
    sp.params.threads = 1; /* deterministic graph: every row finds itself */
    return lh_vector_index_create(f->cat, &lh_identity_default, &sp, out, err);
}

/* Objects under vectors/ (to check that a refused build stored nothing). */
static size_t vector_objects(fx *f)
{
    lh_object_list l = {0};
    assert_int_equal(lh_storage_list_all(f->st, "vectors/", &l, NULL), 0);
    size_t n = l.count;
    lh_storage_list_free(&l);
    return n;
}

static void test_index_build_open_search_by_position_and_id(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    lh_vector_index_meta m;
    if (build(f, "docs", "vector", "name", &m, &err)) fail_msg("%s", err.msg);
    assert_string_equal(m.index, "docs_vector");
    assert_string_equal(m.generation, "g00000001");
    assert_int_equal(m.count, ROWS);
    assert_int_equal(m.dim, DIM);
    assert_int_equal(m.dataset_version, 2);
    assert_int_equal(m.nfiles, 2);
    assert_int_equal(m.file_bases[0], 0);
    assert_int_equal(m.file_bases[1], 200);
    lh_vector_index_meta_free(&m);

    lh_vector_index *v = NULL;
    if (lh_vector_index_open(f->st, "docs_vector", f->cfg.cache_dir, &v, &err))
        fail_msg("%s", err.msg);
    const lh_hnsw *h = lh_vector_index_graph(v);
    /* row 250 (second file) by its id, then as a query: it finds itself first */
    int64_t row = -1;
    assert_int_equal(lh_vector_index_find_row(v, "doc-250", &row, &err), 0);
    assert_int_equal(row, 250);
    assert_string_equal(lh_vector_index_row_id(v, 250), "\"doc-250\"");
    assert_int_equal(lh_vector_index_find_row(v, "doc-999", &row, &err), LH_ENOENT);
    lh_vector_hit hits[5];
    size_t n = 0;
    lh_hnsw_search_opts o = {.k = 5};
    assert_int_equal(lh_hnsw_search(h, NULL, lh_hnsw_vector(h, 250), &o, hits, &n, &err), 0);
    assert_int_equal(n, 5);
    assert_int_equal(hits[0].id, 250);
    json_t *jh = lh_vector_index_hits_json(v, hits, n);
    assert_string_equal(json_string_value(json_object_get(json_array_get(jh, 0), "id")), "doc-250");
    json_decref(jh);
    /* a query of the wrong shape */
    json_t *q = json_pack("[f,f]", 1.0, 2.0);
    float buf[DIM];
    assert_int_equal(lh_vector_index_query_from_json(v, q, buf, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "2 values"));
    json_decref(q);
    lh_vector_index_release(v);

    /* a rebuild is a new generation; the pointer log names it */
    if (build(f, "docs", "vector", NULL, &m, &err)) fail_msg("%s", err.msg);
    assert_string_equal(m.generation, "g00000002");
    lh_vector_index_meta_free(&m);
    assert_int_equal(lh_vector_index_current(f->st, "docs_vector", &m, &err), 0);
    assert_string_equal(m.generation, "g00000002");
    assert_null(m.id_column);
    lh_vector_index_meta_free(&m);
    json_t *d = NULL;
    assert_int_equal(lh_vector_index_describe(f->st, "docs_vector", &d, &err), 0);
    assert_int_equal(json_array_size(json_object_get(d, "generations")), 2);
    json_decref(d);
    char **names = NULL;
    size_t nn = 0;
    assert_int_equal(lh_vector_index_list(f->st, &names, &nn, &err), 0);
    assert_int_equal(nn, 1);
    assert_string_equal(names[0], "docs_vector");
    lh_catalog_names_free(names, nn);
}

static void test_index_refuses_bad_columns_and_stores_nothing(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    ingest(f, "ragged", "r.ndjson", "{\"v\":[1,2,3]}\n{\"v\":[1,2,3]}\n{\"v\":[1,2]}\n");
    ingest(f, "holes", "h.ndjson", "{\"v\":[1,2]}\n{\"v\":null}\n");
    ingest(f, "nullval", "n.ndjson", "{\"v\":[1.5,2]}\n{\"v\":[1,null]}\n");
    ingest(f, "zero", "z.ndjson", "{\"v\":[0,0]}\n{\"v\":[1,0]}\n");
    /* a dataset with a vector column and no rows (ingest refuses empty files) */
    lh_manifest *em = lh_manifest_new("empty");
    em->version = 1;
    lh_manifest_add_column(em, "v", "FLOAT[4]", true);
    assert_int_equal(lh_catalog_commit(f->cat, &lh_identity_default, em, &err), 0);
    lh_manifest_free(em);
    struct {
        const char *dataset, *column, *id, *expect;
        int rc;
    } cases[] = {
        {"docs", "city", NULL, "has type VARCHAR", LH_EINVAL},
        {"docs", "nope", NULL, "no column 'nope'", LH_ENOENT},
        {"docs", "vector", "nope", "no id column 'nope'", LH_ENOENT},
        {"nodata", "vector", NULL, "nodata", LH_ENOENT},
        {"ragged", "v", NULL, "row 2: column 'v' has 2 values but row 0 has 3", LH_EINVAL},
        {"holes", "v", NULL, "row 1: column 'v' is NULL", LH_EINVAL},
        {"nullval", "v", NULL, "row 1: column 'v' value [1] is NULL", LH_EINVAL},
        {"zero", "v", NULL, "zero norm", LH_EINVAL},
        {"empty", "v", NULL, "version 1 has no rows to index", LH_EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lh_error_clear(&err);
        int rc = build(f, cases[i].dataset, cases[i].column, cases[i].id, NULL, &err);
        if (rc != cases[i].rc || !strstr(err.msg, cases[i].expect))
            fail_msg("%s.%s: rc %d '%s', expected %d '%s'", cases[i].dataset, cases[i].column, rc,
                     err.msg, cases[i].rc, cases[i].expect);
    }
    assert_int_equal(vector_objects(f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_index_build_open_search_by_position_and_id, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_index_refuses_bad_columns_and_stores_nothing, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
