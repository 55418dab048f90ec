/*
 * Evaluation (recall@k against exact search, latency percentiles, QPS, build time, memory)
 * and multi-threaded exact k-NN, the ground truth. Threads split the query list by an atomic
 * counter; each writes only its own queries' slots.
 */
#include "vector/vector_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct par_job {
    const lh_hnsw *h;
    const float *queries;
    size_t nq;
    int k, ef;
    const lh_vector_bitset *allow;
    int64_t *ids;   /* nq * k */
    double *lat_us; /* nq, eval only */
    _Atomic size_t next;
    _Atomic int rc;
    bool exact;
} par_job;

static void *par_worker(void *arg)
{
    par_job *j = arg;
    size_t k = (size_t)j->k;
    lh_vector_hit *hits = malloc(k * sizeof *hits);
    lh_hnsw_ctx *ctx = j->exact ? NULL : lh_hnsw_ctx_new();
    if (!hits || (!j->exact && !ctx)) {
        atomic_store(&j->rc, LH_ENOMEM);
        goto out;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->nq) break;
        const float *q = j->queries + i * lh_hnsw_dim(j->h);
        size_t cnt = 0;
        int rc;
        uint64_t t0 = lh_now_ns();
        if (j->exact) {
            rc = lh_hnsw_search_exact(j->h, q, k, j->allow, hits, &cnt, NULL);
        } else {
            lh_hnsw_search_opts o = {.k = j->k, .ef_search = j->ef, .allow = j->allow};
            rc = lh_hnsw_search(j->h, ctx, q, &o, hits, &cnt, NULL);
        }
        if (j->lat_us) j->lat_us[i] = (double)(lh_now_ns() - t0) / 1e3;
        if (rc) {
            atomic_store(&j->rc, rc);
            break;
        }
        for (size_t r = 0; r < k; r++)
            j->ids[i * k + r] = r < cnt ? hits[r].id : -1;
    }
out:
    free(hits);
    lh_hnsw_ctx_free(ctx);
    return NULL;
}

static int run_par(par_job *j, int threads)
{
    if (threads <= 0) threads = lh_cpu_count();
    if (threads > 256) threads = 256;
    pthread_t tid[256];
    int started = 0;
    for (int t = 1; t < threads; t++)
        if (pthread_create(&tid[started], NULL, par_worker, j) == 0) started++;
    par_worker(j);
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    return atomic_load(&j->rc);
}

int lh_hnsw_exact_knn(const lh_hnsw *h, const float *queries, size_t nq, int k,
                      const lh_vector_bitset *allow, int threads, int64_t *ids_out, lh_error *err)
{
    if (k < 1) return lh_error_set(err, LH_EINVAL, "k must be at least 1");
    par_job j = {.h = h,
                 .queries = queries,
                 .nq = nq,
                 .k = k,
                 .allow = allow,
                 .ids = ids_out,
                 .exact = true};
    int rc = run_par(&j, threads);
    if (rc) return lh_error_set(err, rc, "exact search failed (bad query vector or out of memory)");
    return LH_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int lh_hnsw_eval(const lh_hnsw *h, const float *queries, size_t nq, const int64_t *truth, int k,
                 int ef_search, const lh_vector_bitset *allow, int threads, lh_vector_eval *out,
                 lh_error *err)
{
    memset(out, 0, sizeof *out);
    if (k < 1 || nq == 0)
        return lh_error_set(err, LH_EINVAL, "eval needs k >= 1 and at least one query");
    int rc = LH_OK;
    int64_t *own_truth = NULL;
    int64_t *ids = malloc(nq * (size_t)k * sizeof *ids);
    double *lat = malloc(nq * sizeof *lat);
    if (!ids || !lat) {
        rc = lh_error_set(err, LH_ENOMEM, "out of memory for eval");
        goto out;
    }
    if (!truth) {
        own_truth = malloc(nq * (size_t)k * sizeof *own_truth);
        if (!own_truth) {
            rc = lh_error_set(err, LH_ENOMEM, "out of memory for eval");
            goto out;
        }
        rc = lh_hnsw_exact_knn(h, queries, nq, k, allow, threads, own_truth, err);
        if (rc) goto out;
        truth = own_truth;
    }
    par_job j = {.h = h,
                 .queries = queries,
                 .nq = nq,
                 .k = k,
                 .ef = ef_search,
                 .allow = allow,
                 .ids = ids,
                 .lat_us = lat};
    /* warm the per-thread scratch and the caches once, untimed */
    {
        lh_vector_hit tmp[1];
        size_t cnt;
        lh_hnsw_search_opts o = {.k = 1, .ef_search = ef_search, .allow = allow};
        lh_hnsw_search(h, NULL, queries, &o, tmp, &cnt, NULL);
    }
    uint64_t t0 = lh_now_ns();
    rc = run_par(&j, threads);
    double wall = (double)(lh_now_ns() - t0) / 1e9;
    if (rc) {
        rc = lh_error_set(err, rc, "search failed during eval (bad query vector?)");
        goto out;
    }
    size_t found = 0, total = 0;
    for (size_t i = 0; i < nq; i++) {
        const int64_t *t = truth + i * (size_t)k, *r = ids + i * (size_t)k;
        for (int a = 0; a < k; a++) {
            if (t[a] < 0) continue;
            total++;
            for (int b = 0; b < k; b++)
                if (r[b] == t[a]) {
                    found++;
                    break;
                }
        }
    }
    qsort(lat, nq, sizeof *lat, cmp_double);
    out->recall = total ? (double)found / (double)total : 1.0;
    out->p50_us = lat[(nq - 1) / 2];
    out->p95_us = lat[(size_t)((double)(nq - 1) * 0.95)];
    out->qps = wall > 0 ? (double)nq / wall : 0;
    out->build_s = lh_hnsw_build_seconds(h);
    out->memory_bytes = lh_hnsw_memory_bytes(h);
    size_t n = lh_hnsw_size(h);
    out->bytes_per_vector = n ? out->memory_bytes / n : 0;
out:
    free(ids);
    free(lat);
    free(own_truth);
    return rc;
}
