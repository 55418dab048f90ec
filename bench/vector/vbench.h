/*
 * Shared by the vector benchmark programs (C and C++): the dataset file format and timing.
 *
 * Dataset file (little-endian): "LHVB" u32 version=1, u32 n, u32 nq, u32 dim, u32 k,
 * then n*dim float base vectors, nq*dim float queries, nq*k int64 exact neighbour ids
 * (inner product on unit vectors = cosine). Vectors are already L2-normalised, so every
 * library runs inner product on the same data.
 */
#ifndef LH_VBENCH_H
#define LH_VBENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>
#include <time.h>

typedef struct vb_data {
    uint32_t n, nq, dim, k;
    float *base, *queries;
    int64_t *gt;
} vb_data;

static inline double vb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system, all threads) used by this process so far: steadier than wall
 * time for build comparisons when other jobs share the cores. */
static inline double vb_cpu(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)r.ru_utime.tv_sec + (double)r.ru_utime.tv_usec / 1e6 +
           (double)r.ru_stime.tv_sec + (double)r.ru_stime.tv_usec / 1e6;
}

static inline int vb_load(const char *path, vb_data *d)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char magic[4];
    uint32_t h[5];
    if (fread(magic, 1, 4, f) != 4 || memcmp(magic, "LHVB", 4) || fread(h, 4, 5, f) != 5 ||
        h[0] != 1) {
        fclose(f);
        return -1;
    }
    d->n = h[1];
    d->nq = h[2];
    d->dim = h[3];
    d->k = h[4];
    d->base = (float *)malloc((size_t)d->n * d->dim * sizeof(float));
    d->queries = (float *)malloc((size_t)d->nq * d->dim * sizeof(float));
    d->gt = (int64_t *)malloc((size_t)d->nq * d->k * sizeof(int64_t));
    int ok =
        fread(d->base, sizeof(float), (size_t)d->n * d->dim, f) == (size_t)d->n * d->dim &&
        fread(d->queries, sizeof(float), (size_t)d->nq * d->dim, f) == (size_t)d->nq * d->dim &&
        fread(d->gt, sizeof(int64_t), (size_t)d->nq * d->k, f) == (size_t)d->nq * d->k;
    fclose(f);
    return ok ? 0 : -1;
}

/* recall@k of ids (nq*k, -1 padded) against the ground truth's first k */
static inline double vb_recall(const vb_data *d, const int64_t *ids, uint32_t k)
{
    size_t found = 0;
    for (uint32_t q = 0; q < d->nq; q++)
        for (uint32_t a = 0; a < k; a++)
            for (uint32_t b = 0; b < k; b++)
                if (ids[(size_t)q * k + b] == d->gt[(size_t)q * d->k + a]) {
                    found++;
                    break;
                }
    return (double)found / ((double)d->nq * k);
}

static inline int vb_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* p-th percentile (0..1) of n latencies (sorts them). */
static inline double vb_pct(double *lat, size_t n, double p)
{
    qsort(lat, n, sizeof *lat, vb_cmp_double);
    return lat[(size_t)((double)(n - 1) * p)];
}

/* ef_search sweep used by every graph library */
static const int vb_efs[] = {10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512};
#define VB_NEFS ((int)(sizeof vb_efs / sizeof vb_efs[0]))

/* VB_QUICK=1: a short run for comparing build changes (2-thread build only, ef 32/64/128/256,
 * no int8 or cold-load rows). */
static inline int vb_quick(void)
{
    const char *q = getenv("VB_QUICK");
    return q && *q && *q != '0';
}

/* Whether the sweep skips vb_efs[i] in this run. */
static inline int vb_skip_ef(int i)
{
    int e = vb_efs[i];
    return vb_quick() && e != 32 && e != 64 && e != 128 && e != 256;
}

#endif
