/*
 * Deterministic synthetic embeddings for vector tests and benchmarks (header-only).
 *
 * Real embeddings are neither uniform nor isotropic: they sit near a low-dimensional manifold
 * made of topics of very different sizes. The generator models that:
 *   - `clusters` centres drawn N(0, 1) in `dim` dimensions;
 *   - each cluster spans its own random `sub`-dimensional subspace with decaying axis scales
 *     (anisotropic: axis i has scale spread / (1 + i/4)), plus small isotropic noise;
 *   - cluster sizes follow a Zipf-like law when `zipf` > 0 (a few huge topics, a long tail);
 *   - queries are drawn like points (held out, never indexed), and a fraction `between` of them
 *     lies between two random cluster centres (the hard case for graph search).
 * Everything derives from `seed` through splitmix64, so data are identical on every machine.
 */
#ifndef LH_TEST_VDATA_H
#define LH_TEST_VDATA_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct vdata_spec {
    size_t n, nq, dim;
    int clusters;
    int sub;        /* intrinsic dimensions per cluster */
    float spread;   /* scale of the in-cluster axes relative to centre spread */
    float noise;    /* isotropic noise */
    double zipf;    /* 0 = equal cluster sizes */
    double between; /* fraction of queries between clusters */
    float center;   /* scale of the centres (0 = 1): smaller means overlapping topics */
    uint64_t seed;
} vdata_spec;

static inline uint64_t vd_next(uint64_t *s)
{
    uint64_t x = (*s += 0x9E3779B97F4A7C15ull);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static inline double vd_unif(uint64_t *s)
{
    return ((double)(vd_next(s) >> 11) + 0.5) / 9007199254740992.0;
}

static inline float vd_gauss(uint64_t *s)
{
    double u = vd_unif(s), v = vd_unif(s);
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

typedef struct vd_model {
    float *centers; /* clusters * dim */
    float *basis;   /* clusters * sub * dim, pre-scaled */
    double *cdf;    /* clusters */
} vd_model;

static inline void vd_model_init(const vdata_spec *sp, vd_model *m)
{
    uint64_t s = sp->seed;
    size_t d = sp->dim;
    m->centers = malloc((size_t)sp->clusters * d * sizeof(float));
    m->basis = malloc((size_t)sp->clusters * (size_t)sp->sub * d * sizeof(float));
    m->cdf = malloc((size_t)sp->clusters * sizeof(double));
    float cs = sp->center > 0 ? sp->center : 1.0f;
    for (size_t i = 0; i < (size_t)sp->clusters * d; i++)
        m->centers[i] = cs * vd_gauss(&s);
    float norm = 1.0f / sqrtf((float)d);
    for (int c = 0; c < sp->clusters; c++)
        for (int a = 0; a < sp->sub; a++) {
            float sc = sp->spread / (1.0f + (float)a / 4.0f);
            float *b = m->basis + ((size_t)c * (size_t)sp->sub + (size_t)a) * d;
            for (size_t j = 0; j < d; j++)
                b[j] = vd_gauss(&s) * sc * norm * sqrtf((float)d / (float)sp->sub);
        }
    double tot = 0;
    for (int c = 0; c < sp->clusters; c++) {
        tot += sp->zipf > 0 ? 1.0 / pow((double)(c + 1), sp->zipf) : 1.0;
        m->cdf[c] = tot;
    }
    for (int c = 0; c < sp->clusters; c++)
        m->cdf[c] /= tot;
}

static inline void vd_model_free(vd_model *m)
{
    free(m->centers);
    free(m->basis);
    free(m->cdf);
}

static inline int vd_pick(const vdata_spec *sp, const vd_model *m, uint64_t *s)
{
    double u = vd_unif(s);
    int lo = 0, hi = sp->clusters - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (m->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static inline void vd_point(const vdata_spec *sp, const vd_model *m, uint64_t *s, int c, float *out)
{
    size_t d = sp->dim;
    memcpy(out, m->centers + (size_t)c * d, d * sizeof(float));
    for (int a = 0; a < sp->sub; a++) {
        float z = vd_gauss(s);
        const float *b = m->basis + ((size_t)c * (size_t)sp->sub + (size_t)a) * d;
        for (size_t j = 0; j < d; j++)
            out[j] += z * b[j];
    }
    for (size_t j = 0; j < d; j++)
        out[j] += sp->noise * vd_gauss(s);
}

/* Fills base (n*dim) and queries (nq*dim); either may be NULL. */
static inline void vdata_generate(const vdata_spec *sp, float *base, float *queries)
{
    vd_model m;
    vd_model_init(sp, &m);
    size_t d = sp->dim;
    if (base) {
        uint64_t s = sp->seed ^ 0xBA5Eull;
        for (size_t i = 0; i < sp->n; i++)
            vd_point(sp, &m, &s, vd_pick(sp, &m, &s), base + i * d);
    }
    if (queries) {
        uint64_t s = sp->seed ^ 0x0E11ull;
        float *tmp = malloc(d * sizeof(float));
        for (size_t i = 0; i < sp->nq; i++) {
            float *q = queries + i * d;
            vd_point(sp, &m, &s, vd_pick(sp, &m, &s), q);
            if (vd_unif(&s) < sp->between) {
                vd_point(sp, &m, &s, vd_pick(sp, &m, &s), tmp);
                double t = 0.3 + 0.4 * vd_unif(&s);
                for (size_t j = 0; j < d; j++)
                    q[j] = (float)((1 - t) * q[j] + t * tmp[j]);
            }
        }
        free(tmp);
    }
    vd_model_free(&m);
}

/* The test suite's standard set: 20K x 768 clustered, 200 queries. */
static inline vdata_spec vdata_test_spec(void)
{
    vdata_spec s = {.n = 20000,
                    .nq = 200,
                    .dim = 768,
                    .clusters = 64,
                    .sub = 24,
                    .spread = 0.6f,
                    .noise = 0.05f,
                    .zipf = 0.0,
                    .between = 0.1,
                    .seed = 20240601};
    return s;
}

#endif
