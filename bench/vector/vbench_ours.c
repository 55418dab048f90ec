/*
 * Our HNSW on a benchmark dataset: build time (1 and 2 threads), an ef_search sweep with
 * recall@10, single- and two-thread QPS and p50/p95 latency (float32 and int8 modes), bytes per
 * vector and cold-load time of the saved file. Prints tab-separated lines parsed by `run`.
 *   vbench_ours <dataset.bin> <name> <tmpdir> [m] [ef_construction]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vector/vector.h"
#include "vbench.h"

static void sweep(const vb_data *d, const char *name, const char *lib, const lh_hnsw *h)
{
    for (int i = 0; i < VB_NEFS; i++) {
        if (vb_skip_ef(i)) continue;
        lh_vector_eval e1, e2;
        lh_error err = {0};
        if (lh_hnsw_eval(h, d->queries, d->nq, d->gt, 10, vb_efs[i], NULL, 1, &e1, &err) ||
            lh_hnsw_eval(h, d->queries, d->nq, d->gt, 10, vb_efs[i], NULL, 2, &e2, &err)) {
            fprintf(stderr, "eval: %s\n", err.msg);
            exit(1);
        }
        printf("SEARCH\t%s\t%s\tef=%d\t%.4f\t%.0f\t%.0f\t%.1f\t%.1f\n", name, lib, vb_efs[i],
               e1.recall, e1.qps, e2.qps, e1.p50_us, e1.p95_us);
        fflush(stdout);
        if (e1.recall >= 0.995) break;
    }
}

static lh_hnsw *build(const vb_data *d, const char *name, const char *lib, int threads, int m,
                      int efc, lh_vector_quant q)
{
    lh_hnsw_params p;
    lh_hnsw_params_default(&p);
    p.metric = LH_METRIC_IP; /* data are unit vectors: IP ranks like cosine */
    p.m = m;
    p.ef_construction = efc;
    p.threads = threads;
    p.quant = q;
    p.capacity = d->n;
    lh_hnsw *h;
    lh_error err = {0};
    double t0 = vb_now(), c0 = vb_cpu();
    if (lh_hnsw_build(d->base, d->n, d->dim, &p, &h, &err)) {
        fprintf(stderr, "build: %s\n", err.msg);
        exit(1);
    }
    printf("BUILD\t%s\t%s\t%d\t%.2f\n", name, lib, threads, vb_now() - t0);
    printf("BUILDCPU\t%s\t%s\t%d\t%.2f\n", name, lib, threads, vb_cpu() - c0);
    fflush(stdout);
    return h;
}

static void cold_load(const lh_hnsw *h, const char *name, const char *lib, const char *tmp)
{
    char *path = lh_sprintf("%s/%s-%s.hnsw", tmp, name, lib);
    lh_error err = {0};
    if (lh_hnsw_save(h, path, &err)) {
        fprintf(stderr, "save: %s\n", err.msg);
        exit(1);
    }
    for (int verify = 0; verify < 2; verify++) {
        /* evict the file from the page cache so the load is cold */
        sync();
        int fd = open(path, O_RDONLY);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
        lh_hnsw *m;
        double t0 = vb_now();
        if (lh_hnsw_load(path, verify, &m, &err)) {
            fprintf(stderr, "load: %s\n", err.msg);
            exit(1);
        }
        double ms = (vb_now() - t0) * 1e3;
        /* first query on a cold mapping pays the page faults: report it too */
        lh_vector_hit hits[10];
        size_t cnt;
        const float *q = lh_hnsw_vector(h, 0);
        t0 = vb_now();
        lh_hnsw_search(m, NULL, q, NULL, hits, &cnt, NULL);
        double first = (vb_now() - t0) * 1e3;
        printf("LOAD\t%s\t%s\t%s\t%.1f\t%.1f\n", name, lib, verify ? "verify" : "noverify", ms,
               first);
        lh_hnsw_free(m);
    }
    unlink(path);
    free(path);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: vbench_ours <dataset.bin> <name> <tmpdir> [m] [efc]\n");
        return 2;
    }
    vb_data d;
    if (vb_load(argv[1], &d)) {
        fprintf(stderr, "%s: cannot read dataset\n", argv[1]);
        return 1;
    }
    const char *name = argv[2];
    int m = argc > 4 ? atoi(argv[4]) : 16, efc = argc > 5 ? atoi(argv[5]) : 100;
    fprintf(stderr, "ours: kernel %s, %u x %u, M=%d efc=%d\n", lh_vector_kernel_name(), d.n, d.dim,
            m, efc);
    if (!getenv("VB_SKIP_1T") && !vb_quick())
        lh_hnsw_free(build(&d, name, "ours", 1, m, efc, LH_QUANT_NONE));
    lh_hnsw *h = build(&d, name, "ours", 2, m, efc, LH_QUANT_NONE);
    printf("MEM\t%s\tours\t%zu\n", name, lh_hnsw_memory_bytes(h) / d.n);
    sweep(&d, name, "ours", h);
    if (vb_quick()) {
        lh_hnsw_free(h);
        return 0;
    }
    cold_load(h, name, "ours", argv[3]);
    lh_hnsw_free(h);
    lh_hnsw *q = build(&d, name, "ours-int8", 2, m, efc, LH_QUANT_INT8);
    /* resident once mapped: graph + codes (the float32 copy is only touched to re-rank) */
    char *path = lh_sprintf("%s/%s-int8.hnsw", argv[3], name);
    lh_hnsw_save(q, path, NULL);
    lh_hnsw *qm;
    if (lh_hnsw_load(path, false, &qm, NULL) == LH_OK) {
        printf("MEM\t%s\tours-int8\t%zu\n", name, lh_hnsw_memory_bytes(qm) / d.n);
        sweep(&d, name, "ours-int8", qm);
        lh_hnsw_free(qm);
    }
    unlink(path);
    free(path);
    lh_hnsw_free(q);
    return 0;
}
