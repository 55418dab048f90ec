/* HNSW behaviours on small sets: metrics, insert, delete, compact, clone, bad input, build
 * threads, and storing/fetching through the storage interface. */
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
#include "vector/vector_int.h"

static float *gen(size_t n, size_t nq, size_t dim, uint64_t seed, float **queries)
{
    vdata_spec sp = {.n = n,
                     .nq = nq,
                     .dim = dim,
                     .clusters = 16,
                     .sub = 8,
                     .spread = 0.6f,
                     .noise = 0.05f,
                     .between = 0.1,
                     .seed = seed};
    float *b = malloc(n * dim * sizeof(float));
    *queries = malloc((nq ? nq : 1) * dim * sizeof(float));
    vdata_generate(&sp, b, *queries);
    return b;
}

static double recall_of(lh_hnsw *h, const float *q, size_t nq, int ef)
{
    lh_vector_eval ev;
    assert_int_equal(lh_hnsw_eval(h, q, nq, NULL, 10, ef, NULL, 1, &ev, NULL), LH_OK);
    return ev.recall;
}

static void test_every_metric_reaches_recall_on_small_set(void **state)
{
    float *q, *b = gen(3000, 50, 64, 1, &q);
    lh_vector_metric ms[] = {LH_METRIC_L2, LH_METRIC_IP, LH_METRIC_COSINE};
    for (int i = 0; i < 3; i++) {
        lh_hnsw_params p;
        lh_hnsw_params_default(&p);
        p.metric = ms[i];
        lh_hnsw *h;
        assert_int_equal(lh_hnsw_build(b, 3000, 64, &p, &h, NULL), LH_OK);
        double r = recall_of(h, q, 50, 64);
        print_message("metric %d recall %.3f\n", (int)ms[i], r);
        assert_true(r >= 0.95);
        /* exact distances match the metric's definition */
        lh_vector_hit hit[1];
        size_t cnt;
        assert_int_equal(lh_hnsw_search_exact(h, q, 1, NULL, hit, &cnt, NULL), LH_OK);
        const float *v = b + hit[0].id * 64;
        double dot = 0, l2 = 0, na = 0, nb = 0;
        for (int j = 0; j < 64; j++) {
            dot += (double)q[j] * v[j];
            l2 += ((double)q[j] - v[j]) * ((double)q[j] - v[j]);
            na += (double)q[j] * q[j];
            nb += (double)v[j] * v[j];
        }
        double want = ms[i] == LH_METRIC_L2   ? l2
                      : ms[i] == LH_METRIC_IP ? -dot
                                              : 1 - dot / sqrt(na * nb);
        assert_true(fabs(want - hit[0].distance) < 1e-3 * (fabs(want) > 1 ? fabs(want) : 1));
        lh_hnsw_free(h);
    }
    free(b);
    free(q);
}

static void test_multithreaded_build_matches_single_thread_quality(void **state)
{
    float *q, *b = gen(6000, 100, 48, 2, &q);
    lh_hnsw_params p;
    lh_hnsw_params_default(&p);
    p.threads = 1;
    lh_hnsw *h1, *h2;
    assert_int_equal(lh_hnsw_build(b, 6000, 48, &p, &h1, NULL), LH_OK);
    p.threads = 2;
    assert_int_equal(lh_hnsw_build(b, 6000, 48, &p, &h2, NULL), LH_OK);
    double r1 = recall_of(h1, q, 100, 32), r2 = recall_of(h2, q, 100, 32);
    print_message("ef=32 recall: 1 thread %.3f, 2 threads %.3f\n", r1, r2);
    assert_true(r2 >= r1 - 0.02);
    lh_hnsw_free(h1);
    lh_hnsw_free(h2);
    free(b);
    free(q);
}

/* Rows level 0 cannot reach from the entry point: searches can never return them. */
static size_t unreachable_rows(const lh_hnsw *h)
{
    long left = hnsw_unreachable_rows(h);
    assert_true(left >= 0);
    return (size_t)left;
}

static bool finds_itself(const lh_hnsw *h, const float *v, size_t dim, size_t r)
{
    lh_vector_hit hits[1];
    size_t n = 0;
    lh_hnsw_search_opts o = {.k = 1, .ef_search = 400};
    assert_int_equal(lh_hnsw_search(h, NULL, v + r * dim, &o, hits, &n, NULL), 0);
    return n == 1 && (hits[0].id == (int64_t)r || hits[0].distance <= 0);
}

static float *reach_set(vdata_spec *vs)
{
    *vs = (vdata_spec){.n = 2000,
                       .nq = 1,
                       .dim = 16,
                       .clusters = 8,
                       .sub = 6,
                       .spread = 0.6f,
                       .noise = 0.05f,
                       .seed = 7};
    float *v = malloc(sizeof(float) * vs->n * vs->dim), q[16];
    assert_non_null(v);
    vdata_generate(vs, v, q);
    return v;
}

/* Every row must stay reachable: level 0 reaches it from the entry point, and a row searched
 * with its own vector (and a wide beam on a small set) comes back first. Concurrent inserts
 * once overwrote links other inserts had just added (about 1.9 unreachable rows per build),
 * then descended into rows whose lower lists were still empty and kept them as their only
 * neighbour (about 0.4 rows per build at m=8 missed by their own search). */
static void test_multithreaded_build_keeps_rows_reachable(void **state)
{
    (void)state;
    vdata_spec vs;
    float *v = reach_set(&vs);
    size_t missed = 0;
    long relinked = 0;
    for (int rep = 0; rep < 6; rep++) {
        lh_hnsw_params p;
        lh_hnsw_params_default(&p);
        p.metric = LH_METRIC_L2;
        p.threads = 2;
        p.m = rep % 2 ? 8 : 16;
        p.seed = 42 + (uint64_t)rep;
        lh_hnsw *h = NULL;
        assert_int_equal(lh_hnsw_build(v, vs.n, vs.dim, &p, &h, NULL), 0);
        size_t unr = unreachable_rows(h);
        if (unr) fail_msg("build %d (m=%d): %zu rows unreachable on level 0", rep, p.m, unr);
        /* The relink pass would hide a linking race: pruning alone orphans an outlier now and
         * then, a race orphaned several rows per build. */
        relinked += h->build_relinked;
        for (size_t r = 0; r < vs.n; r++)
            missed += !finds_itself(h, v, vs.dim, r);
        lh_hnsw_free(h);
    }
    free(v);
    /* none in 400 builds at m=8 (a reachable row may in principle still be missed) */
    if (missed > 1) fail_msg("%zu of 12000 rows not found by their own vector", missed);
    if (relinked > 2) fail_msg("the relink pass linked back %ld rows in 6 builds", relinked);
}

/* Rows added one at a time, into an empty index or a built half, stay reachable and are
 * found by their own vector: an insert links back any row its pruning left without an
 * in-link (a CI run found one unreachable row at m=4 before it did). */
static void test_incremental_inserts_keep_rows_reachable(void **state)
{
    (void)state;
    vdata_spec vs;
    float *v = reach_set(&vs);
    for (int rep = 0; rep < 4; rep++) {
        lh_hnsw_params p;
        lh_hnsw_params_default(&p);
        p.metric = LH_METRIC_L2;
        p.m = rep % 2 ? 4 : 8;
        p.seed = 7 + (uint64_t)rep;
        p.capacity = vs.n;
        size_t built = rep < 2 ? 0 : vs.n / 2;
        lh_hnsw *h = NULL;
        assert_int_equal(lh_hnsw_build(v, built, vs.dim, &p, &h, NULL), 0);
        for (size_t r = built; r < vs.n; r++) {
            int64_t id = -1;
            assert_int_equal(lh_hnsw_insert(h, v + r * vs.dim, &id, NULL), 0);
            assert_int_equal(id, (int64_t)r);
        }
        size_t unr = unreachable_rows(h);
        if (unr) fail_msg("index %d (m=%d): %zu rows unreachable on level 0", rep, p.m, unr);
        for (size_t r = 0; r < vs.n; r++)
            if (!finds_itself(h, v, vs.dim, r))
                fail_msg("index %d (m=%d): row %zu not found by its own vector", rep, p.m, r);
        lh_hnsw_free(h);
    }
    free(v);
}

/* A row whose in-links were all pruned away is linked back by the build's last step. */
static void test_relink_reaches_orphaned_rows(void **state)
{
    (void)state;
    vdata_spec vs;
    float *v = reach_set(&vs);
    lh_hnsw_params p;
    lh_hnsw_params_default(&p);
    p.metric = LH_METRIC_L2;
    p.threads = 1;
    p.m = 8;
    lh_hnsw *h = NULL;
    assert_int_equal(lh_hnsw_build(v, vs.n, vs.dim, &p, &h, NULL), 0);
    assert_int_equal(unreachable_rows(h), 0);
    assert_int_equal(hnsw_relink_unreachable(h, vs.n), 0);
    /* orphan three level-0 rows: remove them from every list */
    uint32_t orphan[3] = {0, 0, 0};
    size_t no = 0;
    uint32_t entry = (uint32_t)atomic_load(&h->entry);
    for (uint32_t r = 100; r < vs.n && no < 3; r += 600)
        for (uint32_t x = r; x < vs.n && no < 3; x++)
            if (h->levels[x] == 0 && x != entry) {
                orphan[no++] = x;
                break;
            }
    assert_int_equal(no, 3);
    for (uint32_t x = 0; x < vs.n; x++) {
        uint32_t *l = hnsw_list(h, x, 0), w = 0;
        for (uint32_t j = 0; j < l[0]; j++)
            if (l[1 + j] != orphan[0] && l[1 + j] != orphan[1] && l[1 + j] != orphan[2])
                l[1 + w++] = l[1 + j];
        l[0] = w;
    }
    assert_true(unreachable_rows(h) >= 3);
    for (size_t i = 0; i < 3; i++)
        assert_false(finds_itself(h, v, vs.dim, orphan[i]));
    assert_true(hnsw_relink_unreachable(h, vs.n) >= 3);
    assert_int_equal(unreachable_rows(h), 0);
    for (size_t i = 0; i < 3; i++)
        assert_true(finds_itself(h, v, vs.dim, orphan[i]));
    lh_hnsw_free(h);
    free(v);
}

static void test_single_thread_build_is_deterministic(void **state)
{
    float *q, *b = gen(2000, 20, 32, 3, &q);
    lh_hnsw_params p;
    lh_hnsw_params_default(&p);
    p.threads = 1;
    lh_hnsw *h1, *h2;
    assert_int_equal(lh_hnsw_build(b, 2000, 32, &p, &h1, NULL), LH_OK);
    assert_int_equal(lh_hnsw_build(b, 2000, 32, &p, &h2, NULL), LH_OK);
    for (size_t i = 0; i < 20; i++) {
        lh_vector_hit a[10], c[10];
        size_t na, nc;
        assert_int_equal(lh_hnsw_search(h1, NULL, q + i * 32, NULL, a, &na, NULL), LH_OK);
        assert_int_equal(lh_hnsw_search(h2, NULL, q + i * 32, NULL, c, &nc, NULL), LH_OK);
        assert_int_equal(na, nc);
        for (size_t j = 0; j < na; j++)
            assert_int_equal(a[j].id, c[j].id);
    }
    lh_hnsw_free(h1);
    lh_hnsw_free(h2);
    free(b);
    free(q);
}

static void test_incremental_inserts_are_found_and_keep_recall(void **state)
{
    float *q, *b = gen(4000, 50, 32, 4, &q);
    lh_hnsw_params p;
    lh_hnsw_params_default(&p);
    p.capacity = 4000;
    lh_hnsw *h;
    assert_int_equal(lh_hnsw_build(b, 2000, 32, &p, &h, NULL), LH_OK);
    for (size_t i = 2000; i < 4000; i++) {
        int64_t id;
        assert_int_equal(lh_hnsw_insert(h, b + i * 32, &id, NULL), LH_OK);
        assert_int_equal(id, (int64_t)i);
    }
    assert_int_equal(lh_hnsw_size(h), 4000);
    /* every inserted vector finds itself */
    for (size_t i = 2000; i < 4000; i += 97) {
        lh_vector_hit hit[1];
        size_t cnt;
        lh_hnsw_search_opts o = {.k = 1};
        assert_int_equal(lh_hnsw_search(h, NULL, b + i * 32, &o, hit, &cnt, NULL), LH_OK);
        assert_int_equal(cnt, 1);
        assert_true(hit[0].distance < 1e-5);
    }
    assert_true(recall_of(h, q, 50, 64) >= 0.95);
    lh_error err = {0};
    assert_int_equal(lh_hnsw_insert(h, b, NULL, &err), LH_ETOOBIG);
    assert_non_null(strstr(err.msg, "full"));
    lh_hnsw_free(h);
    free(b);
    free(q);
}

static void test_empty_index_grows_by_insert(void **state)
{
    lh_hnsw_params p;
    lh_hnsw_params_default(&p);
    p.metric = LH_METRIC_L2;
    p.capacity = 100;
    lh_hnsw *h;
    assert_int_equal(lh_hnsw_new(4, &p, &h, NULL), LH_OK);
    lh_vector_hit hit[3];
    size_t cnt = 99;
    float v[4] = {1, 2, 3, 4};
    assert_int_equal(lh_hnsw_search(h, NULL, v, NULL, hit, &cnt, NULL), LH_OK);
    assert_int_equal(cnt, 0);
    for (int i = 0; i < 50; i++) {
        float x[4] = {(float)i, 0, 0, 0};
        assert_int_equal(lh_hnsw_insert(h, x, NULL, NULL), LH_OK);
    }
    float x[4] = {20.2f, 0, 0, 0};
    lh_hnsw_search_opts o = {.k = 3};
    assert_int_equal(lh_hnsw_search(h, NULL, x, &o, hit, &cnt, NULL), LH_OK);
    assert_int_equal(cnt, 3);
    assert_int_equal(hit[0].id, 20);
    assert_int_equal(hit[1].id, 21);
    assert_int_equal(hit[2].id, 19);
    lh_hnsw_free(h);
}

static void test_deleted_rows_never_appear_and_compact_reclaims_them(void **state)
{
    float *q, *b = gen(3000, 30, 32, 5, &q);
    lh_hnsw *h;
    assert_int_equal(lh_hnsw_build(b, 3000, 32, NULL, &h, NULL), LH_OK);
    for (int64_t i = 0; i < 3000; i += 3)
        assert_int_equal(lh_hnsw_delete(h, i, NULL), LH_OK);
    assert_int_equal(lh_hnsw_delete(h, 0, NULL), LH_OK); /* twice is fine */
    lh_error err = {0};
    assert_int_equal(lh_hnsw_delete(h, 3000, &err), LH_ENOENT);
    for (size_t i = 0; i < 30; i++) {
        lh_vector_hit hits[10];
        size_t cnt;
        assert_int_equal(lh_hnsw_search(h, NULL, q + i * 32, NULL, hits, &cnt, NULL), LH_OK);
        assert_int_equal(cnt, 10);
        for (size_t j = 0; j < cnt; j++)
            assert_true(hits[j].id % 3 != 0);
        assert_int_equal(lh_hnsw_search_exact(h, q + i * 32, 10, NULL, hits, &cnt, NULL), LH_OK);
        for (size_t j = 0; j < cnt; j++)
            assert_true(hits[j].id % 3 != 0);
    }
    assert_true(recall_of(h, q, 30, 64) >= 0.95);
    int64_t *map = malloc(3000 * sizeof *map);
    lh_hnsw *c;
    assert_int_equal(lh_hnsw_compact(h, map, &c, NULL), LH_OK);
    assert_int_equal(lh_hnsw_size(c), 2000);
    assert_int_equal(map[0], -1);
    assert_int_equal(map[1], 0);
    assert_int_equal(map[2], 1);
    assert_int_equal(map[4], 2);
    assert_memory_equal(lh_hnsw_vector(c, 2), lh_hnsw_vector(h, 4), 32 * sizeof(float));
    free(map);
    lh_hnsw_free(c);
    lh_hnsw_free(h);
    free(b);
    free(q);
}

static void test_bad_parameters_and_vectors_are_rejected(void **state)
{
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    lh_hnsw *h = (lh_hnsw *)1;
    lh_error err = {0};
    lh_hnsw_params p;
    lh_hnsw_params_default(&p);
    p.m = 1;
    assert_int_equal(lh_hnsw_build(v, 1, 8, &p, &h, &err), LH_EINVAL);
    assert_null(h);
    assert_non_null(strstr(err.msg, "m=1"));
    lh_hnsw_params_default(&p);
    assert_int_equal(lh_hnsw_build(v, 1, 0, &p, &h, &err), LH_EINVAL);
    float bad[16] = {0};
    bad[9] = NAN;
    bad[8] = 1;
    assert_int_equal(lh_hnsw_build(bad, 2, 8, &p, &h, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "row 0")); /* row 0 is all zeros: no cosine direction */
    bad[0] = 1;
    assert_int_equal(lh_hnsw_build(bad, 2, 8, &p, &h, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "row 1"));
    assert_int_equal(lh_hnsw_build(v, 1, 8, &p, &h, &err), LH_OK);
    lh_vector_hit hit[1];
    size_t cnt;
    lh_hnsw_search_opts o = {.k = 0};
    assert_int_equal(lh_hnsw_search(h, NULL, v, &o, hit, &cnt, &err), LH_EINVAL);
    o.k = 1;
    assert_int_equal(lh_hnsw_search(h, NULL, bad + 8, &o, hit, &cnt, &err), LH_EINVAL);
    assert_int_equal(lh_hnsw_search(h, NULL, v, &o, hit, &cnt, &err), LH_OK);
    assert_int_equal(cnt, 1);
    lh_hnsw_free(h);
    lh_hnsw_free(NULL);
    lh_hnsw_ctx_free(NULL);
    lh_vector_bitset_free(NULL);
}

static void test_clone_of_loaded_index_accepts_inserts(void **state)
{
    float *q, *b = gen(1500, 10, 16, 6, &q);
    lh_hnsw_params p;
    lh_hnsw_params_default(&p);
    p.quant = LH_QUANT_INT8;
    lh_hnsw *h;
    assert_int_equal(lh_hnsw_build(b, 1000, 16, &p, &h, NULL), LH_OK);
    char path[] = "/tmp/lh_clone_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    assert_int_equal(lh_hnsw_save(h, path, NULL), LH_OK);
    lh_hnsw *m, *c;
    assert_int_equal(lh_hnsw_load(path, true, &m, NULL), LH_OK);
    lh_error err = {0};
    assert_int_equal(lh_hnsw_insert(m, b, NULL, &err), LH_EUNSUPPORTED);
    assert_int_equal(lh_hnsw_delete(m, 0, &err), LH_EUNSUPPORTED);
    assert_int_equal(lh_hnsw_clone(m, 0, &c, NULL), LH_OK);
    for (size_t i = 1000; i < 1500; i++)
        assert_int_equal(lh_hnsw_insert(c, b + i * 16, NULL, NULL), LH_OK);
    assert_int_equal(lh_hnsw_size(c), 1500);
    lh_vector_hit hit[1];
    size_t cnt;
    lh_hnsw_search_opts o = {.k = 1};
    assert_int_equal(lh_hnsw_search(c, NULL, b + 1400 * 16, &o, hit, &cnt, NULL), LH_OK);
    assert_int_equal(hit[0].id, 1400);
    lh_hnsw_free(c);
    lh_hnsw_free(m);
    lh_hnsw_free(h);
    unlink(path);
    free(b);
    free(q);
}

static void test_store_and_fetch_through_storage_give_same_results(void **state)
{
    char dir[] = "/tmp/lh_vstore_XXXXXX";
    assert_non_null(mkdtemp(dir));
    lh_storage *s;
    lh_error err = {0};
    char *lake = lh_path_join(dir, "lake"), *tmp = lh_path_join(dir, "tmp"),
         *cache = lh_path_join(dir, "cache");
    assert_int_equal(lh_storage_open_local(lake, &s, &err), LH_OK);
    float *q, *b = gen(1000, 10, 16, 7, &q);
    lh_hnsw *h, *f;
    assert_int_equal(lh_hnsw_build(b, 1000, 16, NULL, &h, NULL), LH_OK);
    assert_int_equal(lh_hnsw_store(h, s, "docs", "g000001", tmp, &err), LH_OK);
    lh_object_info info;
    assert_int_equal(lh_storage_head(s, "vectors/docs/g000001/hnsw.bin", &info, &err), LH_OK);
    assert_true(info.size > 4096);
    assert_int_equal(lh_hnsw_fetch(s, "docs", "g000001", cache, &f, &err), LH_OK);
    for (size_t i = 0; i < 10; i++) {
        lh_vector_hit x[5], y[5];
        size_t nx, ny;
        lh_hnsw_search_opts o = {.k = 5};
        assert_int_equal(lh_hnsw_search(h, NULL, q + i * 16, &o, x, &nx, NULL), LH_OK);
        assert_int_equal(lh_hnsw_search(f, NULL, q + i * 16, &o, y, &ny, NULL), LH_OK);
        assert_int_equal(nx, ny);
        for (size_t j = 0; j < nx; j++)
            assert_int_equal(x[j].id, y[j].id);
    }
    lh_hnsw *missing;
    assert_int_equal(lh_hnsw_fetch(s, "docs", "g000002", cache, &missing, &err), LH_ENOENT);
    assert_null(missing);
    assert_int_equal(lh_hnsw_store(h, s, "Bad Name", "g1", tmp, &err), LH_EINVAL);
    lh_hnsw_free(f);
    lh_hnsw_free(h);
    lh_storage_close(s);
    lh_rm_rf(dir);
    free(lake);
    free(tmp);
    free(cache);
    free(b);
    free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_metric_reaches_recall_on_small_set),
        cmocka_unit_test(test_multithreaded_build_matches_single_thread_quality),
        cmocka_unit_test(test_multithreaded_build_keeps_rows_reachable),
        cmocka_unit_test(test_incremental_inserts_keep_rows_reachable),
        cmocka_unit_test(test_relink_reaches_orphaned_rows),
        cmocka_unit_test(test_single_thread_build_is_deterministic),
        cmocka_unit_test(test_incremental_inserts_are_found_and_keep_recall),
        cmocka_unit_test(test_empty_index_grows_by_insert),
        cmocka_unit_test(test_deleted_rows_never_appear_and_compact_reclaims_them),
        cmocka_unit_test(test_bad_parameters_and_vectors_are_rejected),
        cmocka_unit_test(test_clone_of_loaded_index_accepts_inserts),
        cmocka_unit_test(test_store_and_fetch_through_storage_give_same_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
