/*
 * Build-only timing of our HNSW, for profiling build changes on a shared machine: wall and CPU
 * seconds (CPU time is the steadier figure when other jobs take the cores), then recall@10 at
 * ef 32/64/128 so a faster build can be checked for graph quality.
 *   vbench_build <dataset.bin> <threads> [rows] [m] [ef_construction]
 */
#include <stdio.h>
#include <stdlib.h>

#include "vector/vector.h"
#include "vbench.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: vbench_build <dataset.bin> <threads> [rows] [m] [efc]\n");
        return 2;
    }
    vb_data d;
    if (vb_load(argv[1], &d)) {
        fprintf(stderr, "%s: cannot read dataset\n", argv[1]);
        return 1;
    }
    size_t n = argc > 3 ? strtoul(argv[3], NULL, 10) : d.n;
    if (n == 0 || n > d.n) n = d.n;
    lh_hnsw_params p;
    lh_hnsw_params_default(&p);
    p.metric = LH_METRIC_IP;
    p.threads = atoi(argv[2]);
    p.capacity = n;
    p.m = argc > 4 ? atoi(argv[4]) : 16;
    p.ef_construction = argc > 5 ? atoi(argv[5]) : 100;
    lh_hnsw *h;
    lh_error err = {0};
    double c0 = vb_cpu(), t0 = vb_now();
    if (lh_hnsw_build(d.base, n, d.dim, &p, &h, &err)) {
        fprintf(stderr, "build: %s\n", err.msg);
        return 1;
    }
    printf("build %zu x %u, %d threads: wall %.2f s, cpu %.2f s\n", n, d.dim, p.threads,
           vb_now() - t0, vb_cpu() - c0);
    /* ground truth covers the whole set only */
    for (int ef = 32; n == d.n && ef <= 128; ef *= 2) {
        lh_vector_eval e;
        if (lh_hnsw_eval(h, d.queries, d.nq, d.gt, 10, ef, NULL, 1, &e, &err)) {
            fprintf(stderr, "eval: %s\n", err.msg);
            return 1;
        }
        printf("ef=%d recall@10 %.4f\n", ef, e.recall);
    }
    lh_hnsw_free(h);
    return 0;
}
