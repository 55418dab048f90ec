/*
 * Recall on the standard deterministic 20K x 768 clustered set (tests/vector/vdata.h) at default
 * parameters, filtered recall at several selectivities, the int8 mode, and save -> load. The
 * index is built once (2 threads) for the whole group. Quality only: no timing assertions.
 */
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

typedef struct fixture {
    vdata_spec sp;
    float *base, *queries;
    lh_hnsw *h;
    int64_t *truth; /* nq * 10 */
} fixture;

static fixture F;

static int setup(void **state)
{
    F.sp = vdata_test_spec();
    F.base = malloc(F.sp.n * F.sp.dim * sizeof(float));
    F.queries = malloc(F.sp.nq * F.sp.dim * sizeof(float));
    vdata_generate(&F.sp, F.base, F.queries);
    lh_hnsw_params p;
    lh_hnsw_params_default(&p);
    p.threads = 2;
    lh_error err = {0};
    if (lh_hnsw_build(F.base, F.sp.n, F.sp.dim, &p, &F.h, &err) != LH_OK) {
        fprintf(stderr, "build failed: %s\n", err.msg);
        return -1;
    }
    F.truth = malloc(F.sp.nq * 10 * sizeof(int64_t));
    if (lh_hnsw_exact_knn(F.h, F.queries, F.sp.nq, 10, NULL, 2, F.truth, &err) != LH_OK) return -1;
    *state = &F;
    return 0;
}

static int teardown(void **state)
{
    lh_hnsw_free(F.h);
    free(F.base);
    free(F.queries);
    free(F.truth);
    return 0;
}

static void test_recall_at_defaults_is_at_least_095_on_clustered_20k_x_768(void **state)
{
    lh_vector_eval ev;
    lh_error err = {0};
    assert_int_equal(lh_hnsw_eval(F.h, F.queries, F.sp.nq, F.truth, 10, 0, NULL, 2, &ev, &err),
                     LH_OK);
    print_message("recall@10 %.4f  p50 %.0f us  p95 %.0f us  qps %.0f  build %.2f s  %zu B/vec\n",
                  ev.recall, ev.p50_us, ev.p95_us, ev.qps, ev.build_s, ev.bytes_per_vector);
    assert_true(ev.recall >= 0.95);
    assert_true(ev.build_s > 0);
    assert_true(ev.memory_bytes >= F.sp.n * F.sp.dim * 4);
}

static void test_search_results_are_sorted_and_distances_exact(void **state)
{
    lh_vector_hit hits[10];
    size_t cnt;
    lh_hnsw_search_opts o = {.k = 10};
    assert_int_equal(lh_hnsw_search(F.h, NULL, F.queries, &o, hits, &cnt, NULL), LH_OK);
    assert_int_equal(cnt, 10);
    float q[768];
    double nq = 0;
    for (int j = 0; j < 768; j++)
        nq += (double)F.queries[j] * F.queries[j];
    for (int j = 0; j < 768; j++)
        q[j] = (float)(F.queries[j] / sqrt(nq));
    for (size_t i = 0; i < cnt; i++) {
        if (i) assert_true(hits[i - 1].distance <= hits[i].distance);
        const float *v = lh_hnsw_vector(F.h, hits[i].id);
        double dot = 0;
        for (int j = 0; j < 768; j++)
            dot += (double)q[j] * v[j];
        assert_true(fabs((1 - dot) - hits[i].distance) < 1e-4);
    }
}

static double filtered_recall(double sel, lh_vector_strategy st, int *used)
{
    lh_vector_bitset allow;
    assert_int_equal(lh_vector_bitset_new(F.sp.n, &allow, NULL), LH_OK);
    uint64_t s = (uint64_t)(sel * 1e6) + 99;
    for (size_t i = 0; i < F.sp.n; i++)
        if (vd_unif(&s) < sel) lh_vector_bitset_set(&allow, i);
    size_t nq = F.sp.nq;
    int64_t *truth = malloc(nq * 10 * sizeof(int64_t));
    assert_int_equal(lh_hnsw_exact_knn(F.h, F.queries, nq, 10, &allow, 2, truth, NULL), LH_OK);
    size_t found = 0, total = 0;
    for (size_t qi = 0; qi < nq; qi++) {
        lh_vector_hit hits[10];
        size_t cnt;
        lh_hnsw_search_opts o = {.k = 10, .allow = &allow, .strategy = st};
        assert_int_equal(lh_hnsw_search(F.h, NULL, F.queries + qi * F.sp.dim, &o, hits, &cnt, NULL),
                         LH_OK);
        *used = o.used_strategy;
        for (size_t i = 0; i < cnt; i++)
            assert_true(lh_vector_bitset_count(&allow) > 0 &&
                        ((allow.words[hits[i].id >> 6] >> (hits[i].id & 63)) & 1));
        for (int a = 0; a < 10; a++) {
            if (truth[qi * 10 + a] < 0) continue;
            total++;
            for (size_t b = 0; b < cnt; b++)
                if (hits[b].id == truth[qi * 10 + a]) {
                    found++;
                    break;
                }
        }
    }
    free(truth);
    lh_vector_bitset_free(&allow);
    return total ? (double)found / (double)total : 1;
}

static void check_filtered(double sel)
{
    int used;
    double r = filtered_recall(sel, LH_STRATEGY_AUTO, &used);
    print_message("selectivity %.3f%%: recall@10 %.4f via %s\n", sel * 100, r,
                  used == LH_STRATEGY_EXACT ? "exact" : "graph");
    assert_true(r >= 0.95);
}

static void test_filtered_recall_at_50_percent_selectivity(void **state)
{
    check_filtered(0.5);
}
static void test_filtered_recall_at_5_percent_selectivity(void **state)
{
    check_filtered(0.05);
}
static void test_filtered_recall_at_half_percent_selectivity(void **state)
{
    check_filtered(0.005);
}
static void test_filtered_recall_at_tenth_percent_selectivity(void **state)
{
    check_filtered(0.001);
}

static void test_filtered_graph_traversal_keeps_recall_at_5_percent(void **state)
{
    /* force the graph path where AUTO would pick exact: the traversal itself must hold up */
    int used;
    double r = filtered_recall(0.05, LH_STRATEGY_GRAPH, &used);
    print_message("forced graph at 5%%: recall@10 %.4f\n", r);
    assert_int_equal(used, LH_STRATEGY_GRAPH);
    assert_true(r >= 0.95);
}

static void test_int8_mode_keeps_recall_at_under_30_percent_memory(void **state)
{
    lh_hnsw_params p;
    lh_hnsw_params_default(&p);
    p.quant = LH_QUANT_INT8;
    p.threads = 2;
    lh_hnsw *q;
    assert_int_equal(lh_hnsw_build(F.base, F.sp.n, F.sp.dim, &p, &q, NULL), LH_OK);
    lh_vector_eval ev;
    assert_int_equal(lh_hnsw_eval(q, F.queries, F.sp.nq, F.truth, 10, 0, NULL, 2, &ev, NULL),
                     LH_OK);
    /* memory that must stay in RAM once mapped: codes + graph; float32 stays on disk */
    char path[] = "/tmp/lh_int8_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(lh_hnsw_save(q, path, NULL), LH_OK);
    lh_hnsw *m;
    assert_int_equal(lh_hnsw_load(path, true, &m, NULL), LH_OK);
    lh_vector_eval evm;
    assert_int_equal(lh_hnsw_eval(m, F.queries, F.sp.nq, F.truth, 10, 0, NULL, 2, &evm, NULL),
                     LH_OK);
    double ratio = (double)lh_hnsw_memory_bytes(m) / (double)lh_hnsw_memory_bytes(F.h);
    print_message("int8: recall@10 %.4f (mapped %.4f), memory %.1f%% of float32\n", ev.recall,
                  evm.recall, ratio * 100);
    assert_true(ev.recall >= 0.95);
    assert_true(evm.recall == ev.recall);
    assert_true(ratio <= 0.30);
    lh_hnsw_free(m);
    lh_hnsw_free(q);
    unlink(path);
}

static void test_save_then_load_gives_identical_results(void **state)
{
    char path[] = "/tmp/lh_hnsw_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    lh_error err = {0};
    assert_int_equal(lh_hnsw_save(F.h, path, &err), LH_OK);
    lh_hnsw *m;
    assert_int_equal(lh_hnsw_load(path, true, &m, &err), LH_OK);
    assert_int_equal(lh_hnsw_size(m), lh_hnsw_size(F.h));
    for (size_t qi = 0; qi < F.sp.nq; qi++) {
        lh_vector_hit a[10], b[10];
        size_t na, nb;
        lh_hnsw_search_opts o = {.k = 10};
        assert_int_equal(lh_hnsw_search(F.h, NULL, F.queries + qi * 768, &o, a, &na, NULL), LH_OK);
        assert_int_equal(lh_hnsw_search(m, NULL, F.queries + qi * 768, &o, b, &nb, NULL), LH_OK);
        assert_int_equal(na, nb);
        for (size_t i = 0; i < na; i++) {
            assert_int_equal(a[i].id, b[i].id);
            assert_true(a[i].distance == b[i].distance);
        }
    }
    lh_hnsw_free(m);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recall_at_defaults_is_at_least_095_on_clustered_20k_x_768),
        cmocka_unit_test(test_search_results_are_sorted_and_distances_exact),
        cmocka_unit_test(test_filtered_recall_at_50_percent_selectivity),
        cmocka_unit_test(test_filtered_recall_at_5_percent_selectivity),
        cmocka_unit_test(test_filtered_recall_at_half_percent_selectivity),
        cmocka_unit_test(test_filtered_recall_at_tenth_percent_selectivity),
        cmocka_unit_test(test_filtered_graph_traversal_keeps_recall_at_5_percent),
        cmocka_unit_test(test_int8_mode_keeps_recall_at_under_30_percent_memory),
        cmocka_unit_test(test_save_then_load_gives_identical_results),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
