/* The index registry under concurrency: threads fetch the current generation and search it
 * without locks while new generations are published and the registry swaps them in. Indexes
 * are published from synthetic graphs (lh_vector_index_publish), so no DuckDB thread runs
 * here and ThreadSanitizer (make test-tsan) sees only our code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "testutil.h"
#include "vector/vdata.h"
#include "vector/vector.h"

#define ROWS 2000
#define DIM 16
#define THREADS 6

typedef struct shared {
    lh_vector_registry *reg;
    const float *vectors;
    _Atomic int stop;
    _Atomic int errors;
    _Atomic int wrong;
    _Atomic long searches;
} shared;

static void *searcher(void *arg)
{
    shared *s = arg;
    lh_hnsw_ctx *ctx = lh_hnsw_ctx_new();
    for (long r = 0; !atomic_load(&s->stop) || r < 100; r++) {
        lh_vector_index *v = NULL;
        if (lh_vector_registry_get(s->reg, "docs_vector", &v, NULL)) {
            atomic_fetch_add(&s->errors, 1);
            continue;
        }
        int64_t row = (r * 7919) % ROWS;
        lh_vector_hit hits[3];
        size_t n = 0;
        lh_hnsw_search_opts o = {.k = 3, .ef_search = 400}; /* near-exact on 2000 rows */
        /* half the searches with a private context, half with the thread-local one */
        if (lh_hnsw_search(lh_vector_index_graph(v), (r & 1) ? ctx : NULL,
                           s->vectors + (size_t)row * DIM, &o, hits, &n, NULL) ||
            n != 3)
            atomic_fetch_add(&s->errors, 1);
        else if (hits[0].id != row && hits[0].distance > 0)
            atomic_fetch_add(&s->wrong, 1); /* (distance 0: a duplicate of the row) */
        atomic_fetch_add(&s->searches, 1);
        lh_vector_index_release(v);
    }
    lh_hnsw_ctx_free(ctx);
    return NULL;
}

static void publish(lh_storage *st, const char *tmp, const lh_manifest *m, const float *vectors,
                    int m_links)
{
    lh_vector_index_spec sp = {.column = "vector", .tmp_dir = tmp};
    lh_hnsw_params_default(&sp.params);
    sp.params.m = m_links;
    sp.params.metric = LH_METRIC_L2;
    sp.params.threads = 1; /* deterministic graph: every row finds itself */
    lh_hnsw *h = NULL;
    lh_error err = {0};
    if (lh_hnsw_build(vectors, ROWS, DIM, &sp.params, &h, &err)) fail_msg("build: %s", err.msg);
    if (lh_vector_index_publish(st, &lh_identity_default, &sp, m, h, NULL, NULL, &err))
        fail_msg("publish: %s", err.msg);
    lh_hnsw_free(h);
}

static void test_index_registry_serves_threads_across_new_generations(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("vreg");
    lh_storage *st = NULL;
    lh_error err = {0};
    assert_int_equal(lh_storage_open_local(dir, &st, &err), 0);
    char *tmp = lh_path_join(dir, "tmp");
    vdata_spec vs = {.n = ROWS,
                     .nq = 1,
                     .dim = DIM,
                     .clusters = 8,
                     .sub = 6,
                     .spread = 0.6f,
                     .noise = 0.05f,
                     .seed = 7};
    float *vectors = malloc(sizeof(float) * ROWS * DIM), *q = malloc(sizeof(float) * DIM);
    vdata_generate(&vs, vectors, q);
    lh_manifest *m = lh_manifest_new("docs");
    m->version = 1;
    lh_manifest_add_file(m, "data/docs/a.parquet", 1000, 1200);
    lh_manifest_add_file(m, "data/docs/b.parquet", 1000, ROWS - 1200);

    publish(st, tmp, m, vectors, 16);
    shared s = {.reg = lh_vector_registry_new(st, tmp), .vectors = vectors};
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, searcher, &s), 0);
    publish(st, tmp, m, vectors, 8);
    publish(st, tmp, m, vectors, 12);
    /* until the registry serves the last generation (it rechecks every 500 ms) */
    for (;;) {
        lh_vector_index *v = NULL;
        assert_int_equal(lh_vector_registry_get(s.reg, "docs_vector", &v, &err), 0);
        bool last = strcmp(lh_vector_index_meta_of(v)->generation, "g00000003") == 0;
        if (last) {
            assert_int_equal(lh_vector_index_meta_of(v)->params.m, 12);
            assert_int_equal(lh_vector_index_meta_of(v)->file_bases[1], 1200);
        }
        lh_vector_index_release(v);
        if (last) break;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&s.stop, 1);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&s.errors), 0);
    assert_int_equal(atomic_load(&s.wrong), 0);
    assert_true(atomic_load(&s.searches) >= THREADS * 100);
    lh_vector_index *v = NULL;
    assert_int_equal(lh_vector_registry_get(s.reg, "nope", &v, &err), LH_ENOENT);
    /* a graph that does not match the dataset version is refused */
    lh_manifest_add_file(m, "data/docs/c.parquet", 10, 5);
    lh_vector_index_spec sp = {.column = "vector", .tmp_dir = tmp};
    lh_hnsw *h = NULL;
    assert_int_equal(lh_hnsw_build(vectors, ROWS, DIM, NULL, &h, &err), 0);
    assert_int_equal(lh_vector_index_publish(st, &lh_identity_default, &sp, m, h, NULL, NULL, &err),
                     LH_EINVAL);
    lh_hnsw_free(h);

    lh_vector_registry_free(s.reg);
    lh_manifest_free(m);
    free(vectors);
    free(q);
    free(tmp);
    lh_storage_close(st);
    tu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_registry_serves_threads_across_new_generations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
