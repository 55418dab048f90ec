/*
 * Reachability stress of concurrent builds: builds a small clustered set many times and counts
 * the rows level 0 cannot reach from the entry point and the rows a search with their own
 * vector (ef 400) does not return. Races show up only with the threads really running side by
 * side, so run it at normal priority, and also beside busy loops and under ThreadSanitizer.
 * With `incremental` > 0 only the first rows - incremental rows are built and the rest are
 * added one at a time with lh_hnsw_insert (which runs no relink pass of its own).
 *   vbench_reach [builds=100] [threads=2] [m=8] [rows=2000] [self_search=1] [incremental=0]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vector/vdata.h"
#include "vector/vector_int.h"

int main(int argc, char **argv)
{
    int builds = argc > 1 ? atoi(argv[1]) : 100, threads = argc > 2 ? atoi(argv[2]) : 2;
    int m = argc > 3 ? atoi(argv[3]) : 8;
    size_t n = argc > 4 ? strtoul(argv[4], NULL, 10) : 2000, dim = 16;
    int self_search = argc > 5 ? atoi(argv[5]) : 1;
    size_t incr = argc > 6 ? strtoul(argv[6], NULL, 10) : 0;
    if (builds < 1 || n < 2 || incr > n) {
        fprintf(stderr, "usage: vbench_reach [builds] [threads] [m] [rows>=2] [self_search] "
                        "[incremental<=rows]\n");
        return 2;
    }
    vdata_spec vs = {.n = n,
                     .nq = 1,
                     .dim = dim,
                     .clusters = 8,
                     .sub = 6,
                     .spread = 0.6f,
                     .noise = 0.05f,
                     .seed = 7};
    float *v = malloc(sizeof(float) * n * dim), q[16];
    if (!v) return 1;
    vdata_generate(&vs, v, q);
    size_t unreachable = 0, missed = 0;
    for (int b = 0; b < builds; b++) {
        lh_hnsw_params p;
        lh_hnsw_params_default(&p);
        p.metric = LH_METRIC_L2;
        p.threads = threads;
        p.m = m;
        p.seed = 42 + (uint64_t)b;
        p.capacity = n;
        lh_hnsw *h = NULL;
        lh_error err = {0};
        if (lh_hnsw_build(v, n - incr, dim, &p, &h, &err)) {
            fprintf(stderr, "build: %s\n", err.msg);
            return 1;
        }
        for (size_t r = n - incr; r < n; r++)
            if (lh_hnsw_insert(h, v + r * dim, NULL, &err)) {
                fprintf(stderr, "insert: %s\n", err.msg);
                return 1;
            }
        long left = hnsw_unreachable_rows(h);
        if (left < 0) return 1;
        unreachable += (size_t)left;
        for (size_t r = 0; self_search && r < n; r++) {
            lh_vector_hit hit[1];
            size_t cnt = 0;
            lh_hnsw_search_opts o = {.k = 1, .ef_search = 400};
            lh_hnsw_search(h, NULL, v + r * dim, &o, hit, &cnt, NULL);
            missed += cnt == 0 || (hit[0].id != (int64_t)r && hit[0].distance > 0);
        }
        lh_hnsw_free(h);
    }
    printf("%d builds, %d threads, m=%d, %zu rows (%zu inserted): %zu unreachable on level 0, %zu "
           "not found "
           "by their own vector%s\n",
           builds, threads, m, n, incr, unreachable, missed, self_search ? "" : " (not searched)");
    free(v);
    return unreachable || missed ? 1 : 0;
}
