/* Embedding store: Parquet round trip through DuckDB with model metadata; an index built from
 * the file alone; bad input and foreign files rejected with clear errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vector/vdata.h"
#include "vector/vector.h"

static char dir[] = "/tmp/lh_vstore_XXXXXX";

static int setup(void **state)
{
    return mkdtemp(dir) ? 0 : -1;
}
static int teardown(void **state)
{
    lh_rm_rf(dir);
    return 0;
}

typedef struct rowset {
    size_t n, dim;
    char **docs;
    int64_t *chunks;
    char **texts;
    float *vecs;
} rowset;

static rowset make_rows(size_t n, size_t dim)
{
    rowset r = {.n = n, .dim = dim};
    r.docs = malloc(n * sizeof(char *));
    r.texts = malloc(n * sizeof(char *));
    r.chunks = malloc(n * sizeof(int64_t));
    r.vecs = malloc(n * dim * sizeof(float));
    vdata_spec sp = {
        .n = n, .dim = dim, .clusters = 4, .sub = 4, .spread = 0.6f, .noise = 0.05f, .seed = 12};
    vdata_generate(&sp, r.vecs, NULL);
    for (size_t i = 0; i < n; i++) {
        r.docs[i] = lh_sprintf("doc-%zu.pdf", i / 3);
        r.chunks[i] = (int64_t)(i % 3);
        /* a NULL text, an empty one, a long one and one with quotes and UTF-8 */
        r.texts[i] = i % 7 == 0   ? NULL
                     : i % 7 == 1 ? lh_strdup("")
                     : i % 7 == 2 ? lh_sprintf("%0300zu", i)
                                  : lh_sprintf("chunk '%zu' \"é\" ✓", i);
    }
    return r;
}

static void free_rows(rowset *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->docs[i]);
        free(r->texts[i]);
    }
    free(r->docs);
    free(r->texts);
    free(r->chunks);
    free(r->vecs);
}

static void test_store_round_trip_keeps_rows_vectors_and_model_metadata(void **state)
{
    rowset r = make_rows(5000, 24); /* more than one DuckDB chunk */
    lh_vector_rows rows = {.n = r.n,
                           .dim = r.dim,
                           .doc_ids = (const char *const *)r.docs,
                           .chunk_ids = r.chunks,
                           .chunk_texts = (const char *const *)r.texts,
                           .vectors = r.vecs};
    char *path = lh_sprintf("%s/embeddings.parquet", dir);
    lh_error err = {0};
    assert_int_equal(lh_vector_store_write(path, "nomic-embed-text", "v1.5", &rows, &err), LH_OK);
    lh_vector_store_data d;
    assert_int_equal(lh_vector_store_read(path, true, &d, &err), LH_OK);
    assert_int_equal(d.n, r.n);
    assert_int_equal(d.dim, r.dim);
    assert_string_equal(d.model, "nomic-embed-text");
    assert_string_equal(d.model_version, "v1.5");
    for (size_t i = 0; i < r.n; i++) {
        assert_string_equal(d.doc_ids[i], r.docs[i]);
        assert_int_equal(d.chunk_ids[i], r.chunks[i]);
        if (r.texts[i])
            assert_string_equal(d.chunk_texts[i], r.texts[i]);
        else
            assert_null(d.chunk_texts[i]);
    }
    assert_memory_equal(d.vectors, r.vecs, r.n * r.dim * sizeof(float));
    lh_vector_store_data_free(&d);
    lh_vector_store_data_free(NULL);
    free(path);
    free_rows(&r);
}

static void test_index_built_from_parquet_alone_matches_index_from_memory(void **state)
{
    rowset r = make_rows(2000, 16);
    lh_vector_rows rows = {.n = r.n,
                           .dim = r.dim,
                           .doc_ids = (const char *const *)r.docs,
                           .chunk_ids = r.chunks,
                           .vectors = r.vecs};
    char *path = lh_sprintf("%s/e2.parquet", dir);
    assert_int_equal(lh_vector_store_write(path, "m", "1", &rows, NULL), LH_OK);
    lh_hnsw_params p;
    lh_hnsw_params_default(&p);
    p.threads = 1;
    lh_hnsw *a, *b;
    lh_error err = {0};
    assert_int_equal(lh_vector_index_build(path, &p, &a, &err), LH_OK);
    assert_int_equal(lh_hnsw_build(r.vecs, r.n, r.dim, &p, &b, &err), LH_OK);
    for (size_t i = 0; i < 50; i++) {
        lh_vector_hit x[5], y[5];
        size_t nx, ny;
        lh_hnsw_search_opts o = {.k = 5};
        assert_int_equal(lh_hnsw_search(a, NULL, r.vecs + i * 16, &o, x, &nx, NULL), LH_OK);
        assert_int_equal(lh_hnsw_search(b, NULL, r.vecs + i * 16, &o, y, &ny, NULL), LH_OK);
        assert_int_equal(nx, ny);
        for (size_t j = 0; j < nx; j++)
            assert_int_equal(x[j].id, y[j].id);
        assert_int_equal(x[0].id, (int64_t)i); /* a stored vector finds its own row id */
    }
    lh_hnsw_free(a);
    lh_hnsw_free(b);
    free(path);
    free_rows(&r);
}

static void test_store_rejects_non_finite_vectors_naming_the_row(void **state)
{
    rowset r = make_rows(10, 4);
    r.vecs[5 * 4 + 2] = NAN;
    lh_vector_rows rows = {.n = r.n,
                           .dim = r.dim,
                           .doc_ids = (const char *const *)r.docs,
                           .chunk_ids = r.chunks,
                           .vectors = r.vecs};
    char *path = lh_sprintf("%s/bad.parquet", dir);
    lh_error err = {0};
    assert_int_equal(lh_vector_store_write(path, "m", "1", &rows, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "row 5"));
    assert_int_equal(access(path, F_OK), -1); /* nothing written */
    free(path);
    free_rows(&r);
}

static void test_reading_foreign_or_missing_files_fails_clearly(void **state)
{
    lh_vector_store_data d;
    lh_error err = {0};
    char *missing = lh_sprintf("%s/nope.parquet", dir);
    assert_true(lh_vector_store_read(missing, true, &d, &err) < 0);
    assert_non_null(strstr(err.msg, "nope.parquet"));
    char *junk = lh_sprintf("%s/junk.parquet", dir);
    FILE *f = fopen(junk, "w");
    fputs("this is not parquet", f);
    fclose(f);
    assert_int_equal(lh_vector_store_read(junk, true, &d, &err), LH_ECORRUPT);
    assert_non_null(strstr(err.msg, "junk.parquet"));
    free(missing);
    free(junk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_round_trip_keeps_rows_vectors_and_model_metadata),
        cmocka_unit_test(test_index_built_from_parquet_alone_matches_index_from_memory),
        cmocka_unit_test(test_store_rejects_non_finite_vectors_naming_the_row),
        cmocka_unit_test(test_reading_foreign_or_missing_files_fails_clearly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
