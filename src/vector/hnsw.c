/*
 * HNSW graph: build (multi-threaded, per-node locks), incremental insert, tombstone delete,
 * search (beam over a fixed-size sorted array, epoch-tagged visited set, no allocation),
 * filtered search and exact search.
 *
 * The beam. The classic formulation keeps a min-heap of candidates and a max-heap of the ef
 * best results; a candidate that falls out of the best ef is never expanded, so one sorted
 * array of the ef best (distance, node, expanded?) entries is the same search with bounded
 * memory and no heap churn. Filtered searches widen the navigation beam to ef / selectivity
 * (capped) and keep the allowed results in a second sorted array.
 */
#include "vector/vector_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EXPANDED 0x80000000u
#define FILTER_BEAM_MAX 4096
/* Search and build prefetch the rows of the next PREFETCH_AHEAD unvisited neighbours, up to
 * PREFETCH_LINES cache lines each (a whole fp16 row of 768 dims). Measured on 100K x 768,
 * 2-thread builds: 4 ahead x 24 lines and 2 x 24 both ~0.7x the CPU time of the first-4-lines-
 * of-the-next-neighbour prefetch that GCC had been deleting (see prefetch_node). */
#define PREFETCH_AHEAD 4
#define PREFETCH_LINES 24

typedef struct beam_item {
    float d;
    uint32_t id; /* high bit: expanded */
} beam_item;

struct lh_hnsw_ctx {
    uint16_t *visited;
    size_t vcap;
    uint16_t epoch;
    beam_item *beam;
    size_t beam_cap;
    beam_item *res; /* filtered results */
    size_t res_cap;
    float *q;  /* query in stored form */
    float *qw; /* int8 mode: q[j] * scale[j] */
    size_t qcap;
    float qconst, qnorm;
    lh_vector_hit *tmp; /* exact search / re-rank scratch */
    size_t tmp_cap;
    float *rows; /* build: rows widened from fp16 (two, or one per kept neighbour) */
    size_t rows_cap;
    size_t kept_rows; /* build: how many kept neighbours rows holds beside the base row */
    uint32_t *sel;    /* build: chosen neighbours, m per level */
    size_t sel_cap;
    uint16_t nsel[HNSW_MAX_LEVEL];
};

/* ------------------------------------------------------------- helpers */

static inline uint32_t ld32(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void st32(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* The level of row i depends only on the seed and i, so builds with any thread count assign
 * the same levels. */
static int level_for(const lh_hnsw *h, uint64_t row)
{
    uint64_t r = splitmix64(h->params.seed * 0x100000001B3ull ^ row);
    double u = ((double)(r >> 11) + 0.5) / 9007199254740992.0;
    int l = (int)(-log(u) * h->level_mult);
    return l >= HNSW_MAX_LEVEL ? HNSW_MAX_LEVEL - 1 : l;
}

static inline void spin_lock(atomic_uchar *l)
{
    while (atomic_exchange_explicit(l, 1, memory_order_acquire))
        while (atomic_load_explicit(l, memory_order_relaxed))
            __builtin_ia32_pause();
}
static inline void spin_unlock(atomic_uchar *l)
{
    atomic_store_explicit(l, 0, memory_order_release);
}

void lh_hnsw_params_default(lh_hnsw_params *p)
{
    memset(p, 0, sizeof *p);
    p->m = 16;
    p->ef_construction = 100;
    p->ef_search = 64;
    p->metric = LH_METRIC_COSINE;
    p->quant = LH_QUANT_NONE;
    p->threads = 0;
    p->capacity = 0;
    p->seed = 42;
}

static int check_params(const lh_hnsw_params *p, size_t dim, lh_error *err)
{
    if (dim == 0 || dim > 65536)
        return lh_error_set(err, LH_EINVAL, "vector dimension %zu out of range 1..65536", dim);
    if (p->m < 2 || p->m > 256)
        return lh_error_set(err, LH_EINVAL, "HNSW m=%d out of range 2..256", p->m);
    if (p->ef_construction < 1 || p->ef_construction > FILTER_BEAM_MAX)
        return lh_error_set(err, LH_EINVAL, "ef_construction=%d out of range 1..%d",
                            p->ef_construction, FILTER_BEAM_MAX);
    if (p->ef_search < 1 || p->ef_search > FILTER_BEAM_MAX)
        return lh_error_set(err, LH_EINVAL, "ef_search=%d out of range 1..%d", p->ef_search,
                            FILTER_BEAM_MAX);
    if (p->metric < LH_METRIC_L2 || p->metric > LH_METRIC_COSINE)
        return lh_error_set(err, LH_EINVAL, "unknown metric %d", (int)p->metric);
    if (p->quant != LH_QUANT_NONE && p->quant != LH_QUANT_INT8)
        return lh_error_set(err, LH_EINVAL, "unknown quantization %d", (int)p->quant);
    return LH_OK;
}

static size_t upper_slots_for(const lh_hnsw *h, size_t rows)
{
    /* expected (1+m)/(m-1) slots of (1+m) words per row; reserve twice that */
    return rows * 2 * (size_t)(1 + h->m) / (size_t)(h->m - 1) + 64 * (size_t)(1 + h->m);
}

int hnsw_alloc(lh_hnsw *h, size_t dim, const lh_hnsw_params *p, size_t cap, size_t upper_cap,
               lh_error *err)
{
    if (cap >= EXPANDED)
        return lh_error_set(err, LH_ETOOBIG, "HNSW capacity %zu over the limit of %u rows", cap,
                            EXPANDED - 1);
    h->dim = dim;
    h->params = *p;
    h->m = p->m;
    h->m0 = 2 * p->m;
    h->level_mult = 1.0 / log((double)p->m);
    h->cap = cap;
    h->params.capacity = cap;
    atomic_store(&h->entry, UINT64_MAX);
    if (!upper_cap) upper_cap = upper_slots_for(h, cap);
    h->upper_cap = upper_cap;
    h->vectors = valloc_zero(cap * dim * sizeof(float));
    h->link0 = valloc_zero(cap * (size_t)(1 + h->m0) * sizeof(uint32_t));
    h->levels = valloc_zero(cap);
    h->upper_off = valloc_zero(cap * sizeof(uint64_t));
    h->upper = valloc_zero(upper_cap * sizeof(uint32_t));
    h->deleted = valloc_zero((cap + 63) / 64 * sizeof(uint64_t));
    h->locks = valloc_zero(cap);
    if (!h->vectors || !h->link0 || !h->levels || !h->upper_off || !h->upper || !h->deleted ||
        !h->locks)
        return lh_error_set(err, LH_ENOMEM, "out of memory for an HNSW index of %zu x %zu", cap,
                            dim);
    if (p->quant == LH_QUANT_INT8) {
        h->codes = valloc_zero(cap * dim);
        h->sq_min = valloc_zero(dim * sizeof(float));
        h->sq_scale = valloc_zero(dim * sizeof(float));
        h->code_norm = valloc_zero(cap * sizeof(float));
        if (!h->codes || !h->sq_min || !h->sq_scale || !h->code_norm)
            return lh_error_set(err, LH_ENOMEM, "out of memory for int8 codes");
    }
    if (pthread_mutex_init(&h->writer, NULL) != 0)
        return lh_error_set(err, LH_EINTERNAL, "pthread_mutex_init failed");
    h->writer_init = true;
    return LH_OK;
}

void lh_hnsw_free(lh_hnsw *h)
{
    if (!h) return;
    if (h->mapped) {
        hnsw_unmap(h);
    } else {
        free(h->vectors);
        free(h->link0);
        free(h->levels);
        free(h->upper_off);
        free(h->upper);
        free((void *)h->deleted);
        free(h->codes);
        free(h->sq_min);
        free(h->sq_scale);
        free(h->code_norm);
    }
    free(h->locks);
    free(h->drops);
    if (h->writer_init) pthread_mutex_destroy(&h->writer);
    free(h);
}

bool hnsw_prepare_query(const lh_hnsw *h, const float *q, float *out)
{
    double norm = 0;
    for (size_t j = 0; j < h->dim; j++) {
        if (!isfinite(q[j])) return false;
        norm += (double)q[j] * q[j];
    }
    if (h->params.metric == LH_METRIC_COSINE) {
        if (norm <= 0) return false;
        float inv = (float)(1.0 / sqrt(norm));
        for (size_t j = 0; j < h->dim; j++)
            out[j] = q[j] * inv;
    } else {
        memcpy(out, q, h->dim * sizeof(float));
    }
    return true;
}

/* ------------------------------------------------------------ quantizer */

void hnsw_quant_encode(lh_hnsw *h, uint32_t row)
{
    const float *x = hnsw_vec(h, row);
    uint8_t *c = h->codes + (size_t)row * h->dim;
    double nrm = 0;
    for (size_t j = 0; j < h->dim; j++) {
        float v = h->sq_scale[j] > 0 ? (x[j] - h->sq_min[j]) / h->sq_scale[j] : 0;
        long q = lrintf(v);
        q = q < 0 ? 0 : q > 255 ? 255 : q;
        c[j] = (uint8_t)q;
        double dec = h->sq_min[j] + (double)q * h->sq_scale[j];
        nrm += dec * dec;
    }
    h->code_norm[row] = (float)nrm;
}

void hnsw_quant_train(lh_hnsw *h, size_t n)
{
    size_t d = h->dim;
    for (size_t j = 0; j < d; j++) {
        h->sq_min[j] = INFINITY;
        h->sq_scale[j] = -INFINITY; /* holds max while scanning */
    }
    for (size_t i = 0; i < n; i++) {
        const float *x = hnsw_vec(h, (uint32_t)i);
        for (size_t j = 0; j < d; j++) {
            if (x[j] < h->sq_min[j]) h->sq_min[j] = x[j];
            if (x[j] > h->sq_scale[j]) h->sq_scale[j] = x[j];
        }
    }
    for (size_t j = 0; j < d; j++) {
        if (n == 0) {
            /* untrained (empty index): a range that fits normalised vectors */
            h->sq_min[j] = -1;
            h->sq_scale[j] = 2.0f / 255;
            continue;
        }
        float range = h->sq_scale[j] - h->sq_min[j];
        h->sq_scale[j] = range > 0 ? range / 255.0f : 0;
    }
    for (size_t i = 0; i < n; i++)
        hnsw_quant_encode(h, (uint32_t)i);
}

/* ---------------------------------------------------------- search ctx */

lh_hnsw_ctx *lh_hnsw_ctx_new(void)
{
    return calloc(1, sizeof(lh_hnsw_ctx));
}

void lh_hnsw_ctx_free(lh_hnsw_ctx *c)
{
    if (!c) return;
    free(c->visited);
    free(c->beam);
    free(c->res);
    free(c->q);
    free(c->qw);
    free(c->tmp);
    free(c->rows);
    free(c->sel);
    free(c);
}

static int grow(void **p, size_t *cap, size_t want, size_t elem)
{
    if (*cap >= want) return 0;
    void *n = realloc(*p, want * elem);
    if (!n) return -1;
    *p = n;
    *cap = want;
    return 0;
}

/* Makes ctx big enough for searches of h with a beam of `beam` and k results. Allocates only
 * when the context is too small (the first search, or a bigger index). */
static int ctx_reserve(lh_hnsw_ctx *c, const lh_hnsw *h, size_t beam, size_t k)
{
    if (c->vcap < h->cap) {
        free(c->visited);
        c->visited = calloc(h->cap, sizeof(uint16_t));
        if (!c->visited) {
            c->vcap = 0;
            return -1;
        }
        c->vcap = h->cap;
        c->epoch = 0;
    }
    size_t qc = c->qcap;
    if (grow((void **)&c->beam, &c->beam_cap, beam + 1, sizeof(beam_item)) ||
        grow((void **)&c->res, &c->res_cap, beam + k + 1, sizeof(beam_item)) ||
        grow((void **)&c->q, &qc, h->dim, sizeof(float)))
        return -1;
    qc = c->qcap;
    if (grow((void **)&c->qw, &qc, h->dim, sizeof(float))) return -1;
    c->qcap = qc;
    if (grow((void **)&c->tmp, &c->tmp_cap, beam + k + 1, sizeof(lh_vector_hit))) return -1;
    if (grow((void **)&c->sel, &c->sel_cap, HNSW_MAX_LEVEL * (size_t)h->m, sizeof(uint32_t)))
        return -1;
    return 0;
}

/* ctx_reserve for inserts into h: also the rows the neighbour heuristic widens from fp16
 * (one per kept neighbour when that takes at most 4 MB, else two, widened per candidate). */
static int ctx_reserve_build(lh_hnsw_ctx *c, const lh_hnsw *h)
{
    if (ctx_reserve(c, h, (size_t)h->params.ef_construction, 1)) return -1;
    size_t kept = (size_t)h->m0;
    if (kept * h->dim * sizeof(float) > (4u << 20)) kept = 1;
    if (grow((void **)&c->rows, &c->rows_cap, (1 + kept) * h->dim, sizeof(float))) return -1;
    c->kept_rows = kept;
    return 0;
}

static inline void ctx_new_epoch(lh_hnsw_ctx *c)
{
    if (++c->epoch == 0) {
        memset(c->visited, 0, c->vcap * sizeof(uint16_t));
        c->epoch = 1;
    }
}

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static void tls_free(void *p)
{
    lh_hnsw_ctx_free(p);
}
static void tls_init(void)
{
    pthread_key_create(&tls_key, tls_free);
}

static lh_hnsw_ctx *tls_ctx(void)
{
    pthread_once(&tls_once, tls_init);
    lh_hnsw_ctx *c = pthread_getspecific(tls_key);
    if (!c) {
        c = lh_hnsw_ctx_new();
        if (c && pthread_setspecific(tls_key, c) != 0) {
            lh_hnsw_ctx_free(c);
            c = NULL;
        }
    }
    return c;
}

/* ------------------------------------------------------------- distance */

enum { QMODE_FLOAT = 0, QMODE_CODES = 1, QMODE_HALF = 2 };

/* Distance from the prepared query in ctx to a node. */
static inline float qdist(const lh_hnsw *h, const vkernels *k, const lh_hnsw_ctx *c, int mode,
                          uint32_t node)
{
    if (mode == QMODE_FLOAT) return hnsw_fdist(h, k, c->q, hnsw_vec(h, node));
    if (mode == QMODE_HALF) return hnsw_hdist(h, k, c->q, h->half + (size_t)node * h->dim);
    float dot = c->qconst + k->u8dot(h->codes + (size_t)node * h->dim, c->qw, h->dim);
    switch (h->params.metric) {
    case LH_METRIC_L2:
        return h->code_norm[node] - 2 * dot + c->qnorm;
    case LH_METRIC_IP:
        return -dot;
    default:
        return 1.0f - dot;
    }
}

static inline void prefetch_node(const lh_hnsw *h, int mode, uint32_t node)
{
    const char *p = mode == QMODE_FLOAT  ? (const char *)hnsw_vec(h, node)
                    : mode == QMODE_HALF ? (const char *)(h->half + (size_t)node * h->dim)
                                         : (const char *)(h->codes + (size_t)node * h->dim);
    size_t bytes = mode == QMODE_FLOAT  ? h->dim * sizeof(float)
                   : mode == QMODE_HALF ? h->dim * sizeof(uint16_t)
                                        : h->dim;
    size_t lines = bytes / 64 < PREFETCH_LINES ? bytes / 64 + 1 : PREFETCH_LINES;
    for (size_t i = 0; i < lines; i++) {
        __builtin_prefetch(p + 64 * i, 0, 3);
        /* GCC deletes a loop whose body is only prefetches (they have no side effects): this
         * empty volatile asm keeps the loop, hence the prefetches */
        __asm__ volatile("" ::"r"(p + 64 * i));
    }
}

/* Inserts (d, id) into a sorted array of *count (max cap) items; returns the position or -1
 * when it is no better than the last of a full array. */
static inline int sorted_insert(beam_item *a, size_t *count, size_t cap, float d, uint32_t id)
{
    size_t n = *count;
    if (n == cap) {
        if (d >= a[n - 1].d) return -1;
        n--;
    }
    size_t pos = n;
    while (pos > 0 && a[pos - 1].d > d)
        pos--;
    memmove(a + pos + 1, a + pos, (n - pos) * sizeof(beam_item));
    a[pos].d = d;
    a[pos].id = id;
    *count = n + 1;
    return (int)pos;
}

/* Greedy descent on one upper level from (*cur, *curd). */
static void greedy(const lh_hnsw *h, const vkernels *k, const lh_hnsw_ctx *c, int mode, int level,
                   uint32_t *cur, float *curd)
{
    bool changed = true;
    while (changed) {
        changed = false;
        const uint32_t *l = hnsw_list(h, *cur, level);
        uint32_t cnt = ld32(l);
        if (cnt > (uint32_t)h->m) cnt = (uint32_t)h->m;
        for (uint32_t j = 0; j < cnt; j++) {
            uint32_t nb = ld32(l + 1 + j);
            /* ids and levels are checked so a damaged (mapped) graph cannot send us outside
             * a node's lists */
            if (nb >= h->cap || h->levels[nb] < level) continue;
            float d = qdist(h, k, c, mode, nb);
            if (d < *curd) {
                *curd = d;
                *cur = nb;
                changed = true;
            }
        }
    }
}

/*
 * Beam search on one level from ep. Leaves the beam (size <= ef, sorted ascending) in
 * c->beam and returns its size. With accept != NULL (level 0 only), navigation uses every
 * node but only accepted nodes enter c->res (size <= res_cap), whose count goes to *res_n.
 */
typedef struct accept_fn {
    const lh_vector_bitset *allow;
    bool skip_deleted;
} accept_fn;

static inline bool accepted(const lh_hnsw *h, const accept_fn *a, uint32_t node)
{
    if (a->skip_deleted && hnsw_is_deleted(h, node)) return false;
    return !a->allow || bitset_has(a->allow, node);
}

static size_t search_level(const lh_hnsw *h, const vkernels *k, lh_hnsw_ctx *c, int mode,
                           uint32_t ep, float epd, size_t ef, int level, uint32_t self,
                           const accept_fn *acc, size_t res_cap, size_t *res_n)
{
    uint16_t *vis = c->visited;
    uint16_t epoch = c->epoch;
    beam_item *beam = c->beam;
    size_t count = 0, next = 0;
    size_t maxc = level == 0 ? (size_t)h->m0 : (size_t)h->m;

    if (self != UINT32_MAX) vis[self] = epoch;
    vis[ep] = epoch;
    beam[count].d = epd;
    beam[count].id = ep;
    count = 1;
    if (acc) {
        *res_n = 0;
        if (accepted(h, acc, ep)) sorted_insert(c->res, res_n, res_cap, epd, ep);
    }
    beam_item cand[2 * 256];
    while (next < count) {
        uint32_t node = beam[next].id;
        beam[next].id |= EXPANDED;
        const uint32_t *l = hnsw_list(h, node, level);
        uint32_t cnt = ld32(l);
        if (cnt > maxc) cnt = (uint32_t)maxc;
        /* Gather the unvisited neighbours first, so that only rows about to be read are
         * prefetched (most of a list is already visited), then compute their distances with
         * the rows of the next PREFETCH_AHEAD ones on their way from memory. The new,
         * good-enough ones are merged into the beam in one pass: one O(ef) merge per expansion
         * instead of one memmove per candidate. */
        for (uint32_t j = 0; j < cnt; j++) {
            uint32_t nb = ld32(l + 1 + j);
            if (nb < h->cap) __builtin_prefetch(vis + nb, 1, 3);
        }
        uint32_t todo[2 * 256];
        size_t nt = 0;
        for (uint32_t j = 0; j < cnt; j++) {
            uint32_t nb = ld32(l + 1 + j);
            if (nb >= h->cap || vis[nb] == epoch) continue;
            vis[nb] = epoch;
            todo[nt++] = nb;
        }
        for (size_t j = 0; j < nt && j < PREFETCH_AHEAD; j++)
            prefetch_node(h, mode, todo[j]);
        /* the list of the next node to expand, if no neighbour found here displaces it */
        for (size_t x = next + 1; x < count; x++)
            if (!(beam[x].id & EXPANDED)) {
                const char *nl = (const char *)hnsw_list(h, beam[x].id, level);
                __builtin_prefetch(nl, 0, 3);
                __builtin_prefetch(nl + 64, 0, 3);
                break;
            }
        size_t nc = 0;
        float worst = count == ef ? beam[count - 1].d : INFINITY;
        for (size_t j = 0; j < nt; j++) {
            uint32_t nb = todo[j];
            if (j + PREFETCH_AHEAD < nt) prefetch_node(h, mode, todo[j + PREFETCH_AHEAD]);
            float d = qdist(h, k, c, mode, nb);
            if (acc && accepted(h, acc, nb)) sorted_insert(c->res, res_n, res_cap, d, nb);
            if (d >= worst) continue;
            /* insertion sort into cand (at most 2m entries) */
            size_t p = nc++;
            while (p > 0 && cand[p - 1].d > d) {
                cand[p] = cand[p - 1];
                p--;
            }
            cand[p].d = d;
            cand[p].id = nb;
        }
        if (nc) {
            /* backward in-place merge of beam[0..count) and cand[0..nc), keeping the ef best */
            size_t total = count + nc < ef ? count + nc : ef;
            long i = (long)count - 1, jj = (long)nc - 1;
            size_t skip = count + nc - total;
            while (skip--) {
                if (jj < 0 || (i >= 0 && beam[i].d >= cand[jj].d))
                    i--;
                else
                    jj--;
            }
            long w = (long)total - 1;
            while (jj >= 0) {
                if (i >= 0 && beam[i].d > cand[jj].d) {
                    beam[w--] = beam[i--];
                } else {
                    beam[w] = cand[jj--];
                    if ((size_t)w < next) next = (size_t)w;
                    w--;
                }
            }
            count = total;
        }
        /* every entry before `next` is expanded; scan forward to the first unexpanded one */
        while (next < count && (beam[next].id & EXPANDED))
            next++;
    }
    for (size_t i = 0; i < count; i++)
        beam[i].id &= ~EXPANDED;
    return count;
}

/* -------------------------------------------------------------- build */

/* A node's row as floats: during the build widened from the fp16 copy into buf[dim] (the
 * fp16 row is likely cached, having just been read by the search; the float32 row is not),
 * else the float32 row itself. */
static inline const float *build_row(const lh_hnsw *h, uint32_t node, float *buf)
{
    if (!h->half) return hnsw_vec(h, node);
    vk_f16_decode(h->half + (size_t)node * h->dim, buf, h->dim);
    return buf;
}

/* Heuristic neighbour selection (Malkov & Yashunin, alg. 4): keep a candidate only if it is
 * closer to the base than to every neighbour already kept. cand is sorted ascending; buf
 * holds rows floats of dim each (rows >= 1). During the build, with a row per kept neighbour,
 * each kept neighbour is widened from fp16 once and the candidates are read as fp16: most
 * candidates are rejected at their first comparison, so widening each candidate cost more
 * than the comparison (the same distances: a product does not depend on which side was
 * widened). */
static size_t select_neighbors(const lh_hnsw *h, const vkernels *k, const beam_item *cand, size_t n,
                               size_t m, uint32_t *out, float *buf, size_t rows)
{
    size_t kept = 0;
    bool widen_kept = h->half && rows >= m;
    for (size_t i = 0; i < n && kept < m; i++) {
        bool good = true;
        if (widen_kept) {
            for (size_t r = 0; r < kept && good; r++)
                good = hnsw_ndist(h, k, buf + r * h->dim, cand[i].id) >= cand[i].d;
            if (good)
                vk_f16_decode(h->half + (size_t)cand[i].id * h->dim, buf + kept * h->dim, h->dim);
        } else if (kept) {
            const float *cv = build_row(h, cand[i].id, buf);
            for (size_t r = 0; r < kept && good; r++)
                good = hnsw_ndist(h, k, cv, out[r]) >= cand[i].d;
        }
        if (good) out[kept++] = cand[i].id;
    }
    return kept;
}

/* Remembers that a level-0 list dropped row x (incremental inserts: see lh_hnsw_insert). A
 * full buffer forgets: the row is then only as safe as in a build without the relink pass. */
static void note_drop(lh_hnsw *h, uint32_t x)
{
    if (h->ndrops == h->drops_cap) {
        size_t cap = h->drops_cap ? 2 * h->drops_cap : 64;
        uint32_t *d = realloc(h->drops, cap * sizeof *d);
        if (!d) return;
        h->drops = d;
        h->drops_cap = cap;
    }
    h->drops[h->ndrops++] = x;
}

/* Adds `node` to nb's list on `level`, shrinking it with the heuristic if full. Caller holds
 * no lock; this takes nb's. buf holds rows (>= 2) rows of dim floats. */
static void add_link(lh_hnsw *h, const vkernels *k, uint32_t nb, uint32_t node, int level,
                     float *buf, size_t rows)
{
    size_t maxc = level == 0 ? (size_t)h->m0 : (size_t)h->m;
    spin_lock(&h->locks[nb]);
    uint32_t *l = hnsw_list(h, nb, level);
    uint32_t cnt = l[0];
    for (uint32_t j = 0; j < cnt; j++)
        if (l[1 + j] == node) goto out;
    if (cnt < maxc) {
        st32(l + 1 + cnt, node);
        st32(l, cnt + 1);
    } else {
        beam_item cand[2 * 256 + 1];
        size_t nc = 0;
        /* nb's neighbours were not read by this insert's search: prefetch their rows */
        int pm = h->half ? QMODE_HALF : QMODE_FLOAT;
        for (uint32_t j = 0; j < cnt && j < PREFETCH_AHEAD; j++)
            prefetch_node(h, pm, l[1 + j]);
        const float *bv = build_row(h, nb, buf);
        cand[nc].d = hnsw_ndist(h, k, bv, node);
        cand[nc++].id = node;
        for (uint32_t j = 0; j < cnt; j++) {
            if (j + PREFETCH_AHEAD < cnt) prefetch_node(h, pm, l[1 + j + PREFETCH_AHEAD]);
            cand[nc].d = hnsw_ndist(h, k, bv, l[1 + j]);
            cand[nc++].id = l[1 + j];
        }
        /* insertion sort: nc <= 2m+1 */
        for (size_t i = 1; i < nc; i++) {
            beam_item t = cand[i];
            size_t j = i;
            while (j > 0 && cand[j - 1].d > t.d) {
                cand[j] = cand[j - 1];
                j--;
            }
            cand[j] = t;
        }
        uint32_t sel[2 * 256];
        size_t ns = select_neighbors(h, k, cand, nc, maxc, sel, buf + h->dim, rows - 1);
        for (size_t j = 0; j < ns; j++)
            st32(l + 1 + j, sel[j]);
        st32(l, (uint32_t)ns);
        if (h->track_drops && level == 0)
            for (size_t i = 0; i < nc; i++) {
                bool kept = false;
                for (size_t j = 0; j < ns && !kept; j++)
                    kept = sel[j] == cand[i].id;
                if (!kept) note_drop(h, cand[i].id);
            }
    }
out:
    spin_unlock(&h->locks[nb]);
}

/* Takes row node as c's query and descends greedily from entry e (top level << 32 | row)
 * through the levels above `level`: *cur, *curd get where the search of `level` starts. */
static void descend(const lh_hnsw *h, const vkernels *k, lh_hnsw_ctx *c, int mode, uint32_t node,
                    uint64_t e, int level, uint32_t *cur, float *curd)
{
    memcpy(c->q, hnsw_vec(h, node), h->dim * sizeof(float));
    *cur = (uint32_t)e;
    *curd = qdist(h, k, c, mode, *cur);
    for (int lc = (int)(e >> 32); lc > level; lc--)
        greedy(h, k, c, mode, lc, cur, curd);
}

/* Links row `node` (vector, level and upper lists already in place) into the graph.
 * Concurrent calls for different nodes are safe. writer_held: the caller holds `writer`
 * (incremental insert), so raising the top level needs no further locking. */
static void link_node(lh_hnsw *h, const vkernels *k, lh_hnsw_ctx *c, uint32_t node,
                      bool writer_held)
{
    int level = h->levels[node];
    uint64_t e = atomic_load_explicit(&h->entry, memory_order_acquire);
    if (e == UINT64_MAX) {
        atomic_store_explicit(&h->entry, ((uint64_t)level << 32) | node, memory_order_release);
        return;
    }
    bool top_lock = false, raise = writer_held && (int)(e >> 32) < level;
    if (!writer_held && (int)(e >> 32) < level) {
        /* a node that raises the top level holds the entry lock for its whole insert, so the
         * entry point never names a node whose upper lists are still empty */
        pthread_mutex_lock(&h->writer);
        top_lock = true;
        e = atomic_load_explicit(&h->entry, memory_order_acquire);
        if ((int)(e >> 32) >= level) {
            pthread_mutex_unlock(&h->writer);
            top_lock = false;
        }
    }
    int top = (int)(e >> 32);
    int mode = h->half ? QMODE_HALF : QMODE_FLOAT;
    uint32_t cur;
    float curd;
    descend(h, k, c, mode, node, e, level, &cur, &curd);
    /* Three phases: choose the neighbours on every level, write all of this node's lists, and
     * only then link it into its neighbours' lists. Another insert can find this node only
     * through those links, so it never descends into a level whose list is still empty (it
     * would see a one-node beam, keep this node as its only neighbour and, once this node's
     * list pruned it away, lose its only in-link). A single-threaded build makes the same
     * graph as linking level by level: a level's search reads only that level's lists. */
    int from = level < top ? level : top;
    size_t m = (size_t)h->m;
    for (int lc = from; lc >= 0; lc--) {
        ctx_new_epoch(c);
        size_t cnt = search_level(h, k, c, mode, cur, curd, (size_t)h->params.ef_construction, lc,
                                  node, NULL, 0, NULL);
        /* drop self if a concurrent insert linked us already */
        size_t w = 0;
        for (size_t i = 0; i < cnt; i++)
            if (c->beam[i].id != node) c->beam[w++] = c->beam[i];
        cnt = w;
        c->nsel[lc] = (uint16_t)select_neighbors(h, k, c->beam, cnt, m, c->sel + (size_t)lc * m,
                                                 c->rows, c->kept_rows + 1);
        if (cnt) {
            cur = c->beam[0].id;
            curd = c->beam[0].d;
        }
    }
    for (int lc = from; lc >= 0; lc--) {
        const uint32_t *sel = c->sel + (size_t)lc * m;
        size_t ns = c->nsel[lc];
        /* Keep any link already in the list (an insert that found this node early); with the
         * phases above none should be, but dropping one could orphan its node. */
        uint32_t early[2 * 256];
        size_t nearly = 0;
        spin_lock(&h->locks[node]);
        uint32_t *l = hnsw_list(h, node, lc);
        for (uint32_t j = 0; j < l[0]; j++) {
            bool chosen = false;
            for (size_t r = 0; r < ns && !chosen; r++)
                chosen = sel[r] == l[1 + j];
            if (!chosen) early[nearly++] = l[1 + j];
        }
        for (size_t j = 0; j < ns; j++)
            st32(l + 1 + j, sel[j]);
        st32(l, (uint32_t)ns);
        spin_unlock(&h->locks[node]);
        for (size_t j = 0; j < nearly; j++)
            add_link(h, k, node, early[j], lc, c->rows, c->kept_rows + 1);
    }
    for (int lc = 0; lc <= from; lc++) {
        const uint32_t *sel = c->sel + (size_t)lc * m;
        for (size_t j = 0; j < c->nsel[lc]; j++)
            add_link(h, k, sel[j], node, lc, c->rows, c->kept_rows + 1);
    }
    if (top_lock || raise)
        atomic_store_explicit(&h->entry, ((uint64_t)level << 32) | node, memory_order_release);
    if (top_lock) pthread_mutex_unlock(&h->writer);
}

typedef struct build_job {
    lh_hnsw *h;
    size_t n;
    _Atomic size_t next;
    int failed;
    pthread_t caller; /* only the calling thread reports progress */
    void (*progress)(void *ctx, double fraction);
    void *progress_ctx;
} build_job;

static void *build_worker(void *arg)
{
    build_job *j = arg;
    const vkernels *k = vk_active();
    lh_hnsw_ctx *c = lh_hnsw_ctx_new();
    if (!c || ctx_reserve_build(c, j->h)) {
        __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
        lh_hnsw_ctx_free(c);
        return NULL;
    }
    bool report = j->progress && pthread_equal(pthread_self(), j->caller);
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n) break;
        link_node(j->h, k, c, (uint32_t)i, false);
        if (report && (i & 1023) == 0) j->progress(j->progress_ctx, (double)i / (double)j->n);
    }
    lh_hnsw_ctx_free(c);
    return NULL;
}

/* Marks in seen[] every row reachable on level 0 from the rows already queued in
 * queue[0..qt); returns the new queue length. */
static size_t reach_level0(const lh_hnsw *h, uint8_t *seen, uint32_t *queue, size_t qh, size_t qt)
{
    while (qh < qt) {
        const uint32_t *l = hnsw_list(h, queue[qh++], 0);
        for (uint32_t j = 0; j < l[0]; j++) {
            uint32_t x = l[1 + j];
            if (!seen[x]) {
                seen[x] = 1;
                queue[qt++] = x;
            }
        }
    }
    return qt;
}

long hnsw_unreachable_rows(const lh_hnsw *h)
{
    size_t n = atomic_load_explicit(&h->n, memory_order_acquire);
    uint64_t e = atomic_load_explicit(&h->entry, memory_order_acquire);
    if (n == 0 || e == UINT64_MAX) return 0;
    uint8_t *seen = calloc(n, 1);
    uint32_t *queue = malloc(n * sizeof(uint32_t));
    long left = -1;
    if (seen && queue) {
        seen[(uint32_t)e] = 1;
        queue[0] = (uint32_t)e;
        left = (long)(n - reach_level0(h, seen, queue, 0, 1));
    }
    free(seen);
    free(queue);
    return left;
}

/* Whether a level-0 neighbour of x other than `except` links back to x: an in-link near x
 * (links are mostly mutual). False can be wrong (an in-link from farther away); callers
 * only do more work then. */
static bool linked_back(const lh_hnsw *h, uint32_t x, uint32_t except)
{
    const uint32_t *l = hnsw_list(h, x, 0);
    for (uint32_t j = 0; j < ld32(l); j++) {
        uint32_t y = ld32(l + 1 + j);
        if (y == except) continue;
        const uint32_t *r = hnsw_list(h, y, 0);
        for (uint32_t i = 0; i < ld32(r); i++)
            if (ld32(r + 1 + i) == x) return true;
    }
    return false;
}

/* Gives row o an in-link on level 0: offered to its near rows (searched like an insert;
 * with seen, only rows marked there) through add_link; if every one prunes it away, the
 * nearest gives up its farthest link to a row that keeps another in-link (indeg when
 * given, else linked_back). Returns whether o was linked. */
static bool relink_row(lh_hnsw *h, const vkernels *k, lh_hnsw_ctx *c, uint32_t o,
                       const uint8_t *seen, uint32_t *indeg)
{
    uint64_t e = atomic_load_explicit(&h->entry, memory_order_acquire);
    if (e == UINT64_MAX || (uint32_t)e == o) return false;
    int mode = h->half ? QMODE_HALF : QMODE_FLOAT;
    size_t maxc = (size_t)h->m0;
    uint32_t cur;
    float curd;
    descend(h, k, c, mode, o, e, 0, &cur, &curd);
    ctx_new_epoch(c);
    size_t cnt = search_level(h, k, c, mode, cur, curd, (size_t)h->params.ef_construction, 0, o,
                              NULL, 0, NULL);
    uint32_t first = UINT32_MAX;
    bool linked = false;
    for (size_t i = 0; i < cnt && !linked; i++) {
        uint32_t x = c->beam[i].id;
        if (x == o || (seen && !seen[x])) continue;
        if (first == UINT32_MAX) first = x;
        add_link(h, k, x, o, 0, c->rows, c->kept_rows + 1);
        const uint32_t *l = hnsw_list(h, x, 0);
        for (uint32_t j = 0; j < l[0] && !linked; j++)
            linked = l[1 + j] == o;
    }
    if (!linked && first != UINT32_MAX) {
        /* every near row pruned it: the nearest drops its farthest link whose row has
         * another in-link (lists are sorted nearest first by add_link's pruning) */
        spin_lock(&h->locks[first]);
        uint32_t *l = hnsw_list(h, first, 0);
        if (l[0] < maxc) {
            st32(l + 1 + l[0], o);
            st32(l, l[0] + 1);
            linked = true;
        } else {
            for (uint32_t j = l[0]; j-- > 0 && !linked;) {
                uint32_t v = l[1 + j];
                if (indeg ? indeg[v] < 2 : !linked_back(h, v, first)) continue;
                if (indeg) indeg[v]--;
                st32(l + 1 + j, o);
                linked = true;
            }
        }
        spin_unlock(&h->locks[first]);
    }
    return linked;
}

/*
 * Links every row that level 0 cannot reach from the entry point into the reachable part,
 * so that searches can return it. The heuristic pruning of add_link can drop a row's only
 * in-link in any build (an outlier whose chosen neighbours all keep closer ones); a
 * concurrent build does so more often, the insertion order being different. Each orphan
 * is offered to its reachable near rows (searched like an insert) through add_link; if every
 * one prunes it away, the nearest gives up its farthest link to a row that keeps another
 * in-link. Returns how many rows were relinked, or -1 out of memory.
 */
static long relink(lh_hnsw *h, const vkernels *k, lh_hnsw_ctx *c, size_t n)
{
    uint64_t e = atomic_load_explicit(&h->entry, memory_order_acquire);
    if (n < 2 || e == UINT64_MAX) return 0;
    uint8_t *seen = calloc(n, 1);
    uint32_t *queue = malloc(n * sizeof(uint32_t));
    uint32_t *indeg = calloc(n, sizeof(uint32_t));
    if (!seen || !queue || !indeg) {
        free(seen);
        free(queue);
        free(indeg);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const uint32_t *l = hnsw_list(h, (uint32_t)i, 0);
        for (uint32_t j = 0; j < l[0]; j++)
            indeg[l[1 + j]]++;
    }
    seen[(uint32_t)e] = 1;
    queue[0] = (uint32_t)e;
    size_t qt = reach_level0(h, seen, queue, 0, 1);
    long relinked = 0;
    for (size_t o = 0; o < n && qt < n; o++) {
        if (seen[o]) continue;
        if (!relink_row(h, k, c, (uint32_t)o, seen, indeg)) continue;
        indeg[o]++;
        relinked++;
        seen[o] = 1;
        queue[qt] = (uint32_t)o;
        qt = reach_level0(h, seen, queue, qt, qt + 1);
    }
    free(seen);
    free(queue);
    free(indeg);
    return relinked;
}

long hnsw_relink_unreachable(lh_hnsw *h, size_t n)
{
    lh_hnsw_ctx *c = lh_hnsw_ctx_new();
    long r = -1;
    if (c && !ctx_reserve_build(c, h)) r = relink(h, vk_active(), c, n);
    lh_hnsw_ctx_free(c);
    return r;
}

static int store_row(lh_hnsw *h, uint32_t row, const float *v, lh_error *err)
{
    if (!hnsw_prepare_query(h, v, h->vectors + (size_t)row * h->dim))
        return lh_error_set(err, LH_EINVAL, "vector row %u: non-finite value%s", row,
                            h->params.metric == LH_METRIC_COSINE ? " or zero norm" : "");
    return LH_OK;
}

static int build_graph(lh_hnsw *h, size_t n, int threads, lh_error *err)
{
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        int l = level_for(h, i);
        h->levels[i] = (uint8_t)l;
        h->upper_off[i] = used;
        used += (size_t)l * (1 + h->m);
    }
    atomic_store(&h->upper_used, used);
    /* the fp16 copy halves the bytes each build distance reads; without memory for it the
     * build reads float32 (same graph quality, slower) */
    h->half = n ? malloc(n * h->dim * sizeof(uint16_t)) : NULL;
    if (h->half) vk_f16_encode(h->vectors, h->half, n * h->dim);
    if (threads <= 0) threads = lh_cpu_count();
    if ((size_t)threads > n / 64 + 1) threads = (int)(n / 64 + 1);
    if (threads > 64) threads = 64;
    build_job job = {.h = h,
                     .n = n,
                     .failed = 0,
                     .caller = pthread_self(),
                     .progress = h->params.progress,
                     .progress_ctx = h->params.progress_ctx};
    /* the first row alone, so every worker starts from an entry point */
    atomic_store(&job.next, n ? 1 : 0);
    if (n) {
        atomic_store(&h->entry, ((uint64_t)h->levels[0] << 32) | 0);
    }
    pthread_t tid[64];
    int started = 0;
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&tid[started], NULL, build_worker, &job) == 0) started++;
    }
    build_worker(&job);
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    if (!job.failed && (h->build_relinked = hnsw_relink_unreachable(h, n)) < 0) job.failed = 1;
    free(h->half);
    h->half = NULL;
    if (job.failed) return lh_error_set(err, LH_ENOMEM, "out of memory for HNSW build scratch");
    atomic_store_explicit(&h->n, n, memory_order_release);
    return LH_OK;
}

int lh_hnsw_new(size_t dim, const lh_hnsw_params *params, lh_hnsw **out, lh_error *err)
{
    lh_hnsw_params p;
    if (params)
        p = *params;
    else
        lh_hnsw_params_default(&p);
    *out = NULL;
    int rc = check_params(&p, dim, err);
    if (rc) return rc;
    lh_hnsw *h = calloc(1, sizeof *h);
    if (!h) return lh_error_set(err, LH_ENOMEM, "out of memory");
    p.progress = NULL; /* only lh_hnsw_build reports progress */
    p.progress_ctx = NULL;
    rc = hnsw_alloc(h, dim, &p, p.capacity ? p.capacity : 1024, 0, err);
    if (rc) goto fail;
    if (p.quant == LH_QUANT_INT8) hnsw_quant_train(h, 0);
    *out = h;
    return LH_OK;
fail:
    lh_hnsw_free(h);
    return rc;
}

int lh_hnsw_build(const float *vectors, size_t n, size_t dim, const lh_hnsw_params *params,
                  lh_hnsw **out, lh_error *err)
{
    lh_hnsw_params p;
    if (params)
        p = *params;
    else
        lh_hnsw_params_default(&p);
    *out = NULL;
    uint64_t t0 = lh_now_ns();
    int rc = check_params(&p, dim, err);
    if (rc) return rc;
    if (!vectors && n) return lh_error_set(err, LH_EINVAL, "no vectors given");
    size_t cap = p.capacity ? p.capacity : n + (n / 4 > 1024 ? n / 4 : 1024);
    if (cap < n)
        return lh_error_set(err, LH_EINVAL, "capacity %zu is below the %zu rows given", cap, n);
    lh_hnsw *h = calloc(1, sizeof *h);
    if (!h) return lh_error_set(err, LH_ENOMEM, "out of memory");
    h->level_mult = 1.0 / log((double)p.m);
    h->m = p.m;
    size_t upper = 0;
    h->params = p;
    for (size_t i = 0; i < n; i++)
        upper += (size_t)level_for(h, i) * (1 + p.m);
    rc = hnsw_alloc(h, dim, &p, cap, upper + upper_slots_for(h, cap - n), err);
    if (rc) goto fail;
    for (size_t i = 0; i < n; i++) {
        rc = store_row(h, (uint32_t)i, vectors + i * dim, err);
        if (rc) goto fail;
    }
    rc = build_graph(h, n, p.threads, err);
    if (rc) goto fail;
    if (p.quant == LH_QUANT_INT8) hnsw_quant_train(h, n);
    if (p.progress) p.progress(p.progress_ctx, 1.0);
    h->params.progress = NULL; /* the caller's callback must not outlive this call */
    h->params.progress_ctx = NULL;
    h->build_s = (double)(lh_now_ns() - t0) / 1e9;
    *out = h;
    return LH_OK;
fail:
    lh_hnsw_free(h);
    return rc;
}

int lh_hnsw_insert(lh_hnsw *h, const float *vector, int64_t *out_id, lh_error *err)
{
    if (h->mapped)
        return lh_error_set(err, LH_EUNSUPPORTED,
                            "this index is mapped read-only from a file; clone it to insert");
    int rc = LH_OK;
    pthread_mutex_lock(&h->writer);
    size_t row = atomic_load(&h->n);
    if (row >= h->cap) {
        rc = lh_error_set(err, LH_ETOOBIG,
                          "HNSW index is full (%zu rows); clone or rebuild it "
                          "with a larger capacity",
                          h->cap);
        goto out;
    }
    int level = level_for(h, row);
    size_t need = (size_t)level * (1 + h->m);
    size_t used = atomic_load(&h->upper_used);
    if (used + need > h->upper_cap) {
        rc = lh_error_set(err, LH_ETOOBIG, "HNSW upper-level pool is full; rebuild the index");
        goto out;
    }
    rc = store_row(h, (uint32_t)row, vector, err);
    if (rc) goto out;
    h->levels[row] = (uint8_t)level;
    h->upper_off[row] = used;
    atomic_store(&h->upper_used, used + need);
    if (h->codes) hnsw_quant_encode(h, (uint32_t)row);
    lh_hnsw_ctx *c = tls_ctx();
    if (!c || ctx_reserve_build(c, h)) {
        rc = lh_error_set(err, LH_ENOMEM, "out of memory for insert scratch");
        goto out;
    }
    /* A build ends with a relink pass for rows whose every in-link was pruned away; an
     * insert checks just the rows its pruning dropped (and itself), and links back any
     * without an in-link near it. Bounded: a relink may prune another list in turn. */
    h->track_drops = true;
    h->ndrops = 0;
    note_drop(h, (uint32_t)row);
    link_node(h, vk_active(), c, (uint32_t)row, true);
    for (size_t i = 0, limit = 4 * (size_t)h->m0 + 64; i < h->ndrops && i < limit; i++)
        if (!linked_back(h, h->drops[i], UINT32_MAX))
            relink_row(h, vk_active(), c, h->drops[i], NULL, NULL);
    h->track_drops = false;
    atomic_store_explicit(&h->n, row + 1, memory_order_release);
    if (out_id) *out_id = (int64_t)row;
out:
    pthread_mutex_unlock(&h->writer);
    return rc;
}

int lh_hnsw_delete(lh_hnsw *h, int64_t id, lh_error *err)
{
    if (h->mapped)
        return lh_error_set(err, LH_EUNSUPPORTED,
                            "this index is mapped read-only from a file; clone it to delete");
    if (id < 0 || (size_t)id >= atomic_load(&h->n))
        return lh_error_set(err, LH_ENOENT, "no row %lld in the index", (long long)id);
    uint64_t bit = 1ull << (id & 63);
    uint64_t old = atomic_fetch_or(&h->deleted[id >> 6], bit);
    if (!(old & bit)) atomic_fetch_add(&h->ndeleted, 1);
    return LH_OK;
}

/* ------------------------------------------------------------- search */

size_t hnsw_exact(const lh_hnsw *h, const float *q, size_t k, const lh_vector_bitset *allow,
                  lh_vector_hit *hits)
{
    const vkernels *kn = vk_active();
    size_t n = atomic_load_explicit(&h->n, memory_order_acquire);
    bool skip_del = atomic_load_explicit(&h->ndeleted, memory_order_relaxed) > 0;
    /* hits[0..cnt) is a max-heap on distance */
    size_t cnt = 0;
    size_t lim = allow && allow->nbits < n ? allow->nbits : n;
    size_t words = (lim + 63) / 64;
    for (size_t w = 0; w < words; w++) {
        uint64_t bits = ~0ull;
        if (allow) bits = w < (allow->nbits + 63) / 64 ? allow->words[w] : 0;
        if (skip_del) bits &= ~atomic_load_explicit(&h->deleted[w], memory_order_relaxed);
        if ((w + 1) * 64 > lim) bits &= lim <= w * 64 ? 0 : (1ull << (lim - w * 64)) - 1;
        while (bits) {
            uint32_t i = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(bits));
            bits &= bits - 1;
            float d = hnsw_fdist(h, kn, q, hnsw_vec(h, i));
            if (cnt < k) {
                size_t c = cnt++;
                while (c > 0 && hits[(c - 1) / 2].distance < d) {
                    hits[c] = hits[(c - 1) / 2];
                    c = (c - 1) / 2;
                }
                hits[c].distance = d;
                hits[c].id = i;
            } else if (d < hits[0].distance) {
                size_t c = 0;
                for (;;) {
                    size_t l = 2 * c + 1, r = l + 1, m = c;
                    float md = d;
                    if (l < cnt && hits[l].distance > md) m = l, md = hits[l].distance;
                    if (r < cnt && hits[r].distance > md) m = r;
                    if (m == c) break;
                    hits[c] = hits[m];
                    c = m;
                }
                hits[c].distance = d;
                hits[c].id = i;
            }
        }
    }
    /* heap sort ascending */
    for (size_t end = cnt; end > 1; end--) {
        lh_vector_hit top = hits[0], last = hits[end - 1];
        size_t c = 0, n2 = end - 1;
        for (;;) {
            size_t l = 2 * c + 1, r = l + 1, m = c;
            float md = last.distance;
            if (l < n2 && hits[l].distance > md) m = l, md = hits[l].distance;
            if (r < n2 && hits[r].distance > md) m = r;
            if (m == c) break;
            hits[c] = hits[m];
            c = m;
        }
        hits[c] = last;
        hits[end - 1] = top;
    }
    return cnt;
}

int lh_hnsw_search_exact(const lh_hnsw *h, const float *query, size_t k,
                         const lh_vector_bitset *allow, lh_vector_hit *hits, size_t *out_count,
                         lh_error *err)
{
    *out_count = 0;
    if (k == 0) return lh_error_set(err, LH_EINVAL, "k must be at least 1");
    lh_hnsw_ctx *c = tls_ctx();
    if (!c || ctx_reserve(c, h, 1, 1))
        return lh_error_set(err, LH_ENOMEM, "out of memory for search scratch");
    if (!hnsw_prepare_query(h, query, c->q))
        return lh_error_set(err, LH_EINVAL, "query vector has a non-finite value%s",
                            h->params.metric == LH_METRIC_COSINE ? " or zero norm" : "");
    *out_count = hnsw_exact(h, c->q, k, allow, hits);
    return LH_OK;
}

static size_t bitset_popcount(const lh_vector_bitset *b, size_t n)
{
    size_t lim = b->nbits < n ? b->nbits : n;
    size_t c = 0, w = 0;
    for (; (w + 1) * 64 <= lim; w++)
        c += (size_t)__builtin_popcountll(b->words[w]);
    if (w * 64 < lim)
        c += (size_t)__builtin_popcountll(b->words[w] & ((1ull << (lim - w * 64)) - 1));
    return c;
}

int lh_hnsw_search(const lh_hnsw *h, lh_hnsw_ctx *ctx, const float *query,
                   lh_hnsw_search_opts *opts, lh_vector_hit *hits, size_t *out_count, lh_error *err)
{
    lh_hnsw_search_opts dflt = {.k = 10};
    if (!opts) opts = &dflt;
    *out_count = 0;
    if (opts->k < 1 || opts->k > FILTER_BEAM_MAX)
        return lh_error_set(err, LH_EINVAL, "k=%d out of range 1..%d", opts->k, FILTER_BEAM_MAX);
    size_t k = (size_t)opts->k;
    size_t ef = opts->ef_search > 0 ? (size_t)opts->ef_search : (size_t)h->params.ef_search;
    if (ef > FILTER_BEAM_MAX) ef = FILTER_BEAM_MAX;
    if (ef < k) ef = k;
    size_t n = atomic_load_explicit(&h->n, memory_order_acquire);
    const vkernels *kn = vk_active();

    /* strategy from the estimated selectivity of the allow-set and tombstones */
    size_t ndel = atomic_load_explicit(&h->ndeleted, memory_order_relaxed);
    size_t allowed = n - (ndel < n ? ndel : n);
    if (opts->allow) allowed = bitset_popcount(opts->allow, n);
    double sel = n ? (double)allowed / (double)n : 1;
    size_t beam = ef;
    if (sel < 1.0) {
        double b = (double)ef / (sel > 1e-6 ? sel : 1e-6);
        beam = b > FILTER_BEAM_MAX ? FILTER_BEAM_MAX : (size_t)b;
        if (beam < ef) beam = ef;
    }
    lh_vector_strategy st = opts->strategy;
    if (st == LH_STRATEGY_AUTO) {
        /* Graph traversal costs roughly beam * m0 distance computations whatever the filter;
         * exact search costs one per allowed row. When ef / selectivity exceeds the beam cap
         * the widened beam can no longer hold enough allowed rows and recall would fall, so
         * exact search is chosen there regardless of cost. */
        double graph_cost = (double)beam * (double)h->m0 * 1.5;
        bool capped = (double)ef / (sel > 1e-9 ? sel : 1e-9) > FILTER_BEAM_MAX;
        st = (opts->allow && (capped || (double)allowed < graph_cost)) ? LH_STRATEGY_EXACT
                                                                       : LH_STRATEGY_GRAPH;
        if (!opts->allow && ndel && sel < 0.5) st = LH_STRATEGY_EXACT;
    }
    opts->used_strategy = st;

    lh_hnsw_ctx *c = ctx ? ctx : tls_ctx();
    if (!c || ctx_reserve(c, h, beam, k))
        return lh_error_set(err, LH_ENOMEM, "out of memory for search scratch");
    if (!hnsw_prepare_query(h, query, c->q))
        return lh_error_set(err, LH_EINVAL, "query vector has a non-finite value%s",
                            h->params.metric == LH_METRIC_COSINE ? " or zero norm" : "");
    if (n == 0 || allowed == 0) return LH_OK;
    if (st == LH_STRATEGY_EXACT) {
        *out_count = hnsw_exact(h, c->q, k, opts->allow, hits);
        return LH_OK;
    }

    int mode = h->codes ? QMODE_CODES : QMODE_FLOAT;
    if (mode == QMODE_CODES) {
        float qc = 0, qn = 0;
        for (size_t j = 0; j < h->dim; j++) {
            c->qw[j] = c->q[j] * h->sq_scale[j];
            qc += c->q[j] * h->sq_min[j];
            qn += c->q[j] * c->q[j];
        }
        c->qconst = qc;
        c->qnorm = qn;
    }
    uint64_t e = atomic_load_explicit(&h->entry, memory_order_acquire);
    if (e == UINT64_MAX) return LH_OK;
    uint32_t cur = (uint32_t)e;
    float curd = qdist(h, kn, c, mode, cur);
    for (int lc = (int)(e >> 32); lc > 0; lc--)
        greedy(h, kn, c, mode, lc, &cur, &curd);
    ctx_new_epoch(c);
    accept_fn acc = {.allow = opts->allow, .skip_deleted = ndel > 0};
    bool filtered = opts->allow || ndel > 0;
    size_t res_n = 0;
    size_t cnt = search_level(h, kn, c, mode, cur, curd, beam, 0, UINT32_MAX,
                              filtered ? &acc : NULL, ef, &res_n);
    const beam_item *res = filtered ? c->res : c->beam;
    size_t rn = filtered ? res_n : (cnt < ef ? cnt : ef);
    if (mode == QMODE_CODES) {
        /* re-rank the ef best by code distance on float32 */
        for (size_t i = 0; i < rn; i++) {
            c->tmp[i].id = res[i].id;
            c->tmp[i].distance = hnsw_fdist(h, kn, c->q, hnsw_vec(h, res[i].id));
        }
        for (size_t i = 1; i < rn; i++) {
            lh_vector_hit t = c->tmp[i];
            size_t j = i;
            while (j > 0 && c->tmp[j - 1].distance > t.distance) {
                c->tmp[j] = c->tmp[j - 1];
                j--;
            }
            c->tmp[j] = t;
        }
        size_t out = rn < k ? rn : k;
        memcpy(hits, c->tmp, out * sizeof *hits);
        *out_count = out;
        return LH_OK;
    }
    size_t out = rn < k ? rn : k;
    for (size_t i = 0; i < out; i++) {
        hits[i].id = res[i].id;
        hits[i].distance = res[i].d;
    }
    *out_count = out;
    return LH_OK;
}

/* ------------------------------------------------------------- accessors */

size_t lh_hnsw_size(const lh_hnsw *h)
{
    return atomic_load(&h->n);
}
size_t lh_hnsw_dim(const lh_hnsw *h)
{
    return h->dim;
}
void lh_hnsw_get_params(const lh_hnsw *h, lh_hnsw_params *out)
{
    *out = h->params;
}
double lh_hnsw_build_seconds(const lh_hnsw *h)
{
    return h->build_s;
}

const float *lh_hnsw_vector(const lh_hnsw *h, int64_t id)
{
    if (id < 0 || (size_t)id >= atomic_load(&h->n)) return NULL;
    return hnsw_vec(h, (uint32_t)id);
}

size_t lh_hnsw_memory_bytes(const lh_hnsw *h)
{
    size_t n = atomic_load(&h->n);
    size_t b = n * (size_t)(1 + h->m0) * 4 + n + n * 8 + atomic_load(&h->upper_used) * 4 +
               (n + 63) / 64 * 8;
    if (h->codes)
        b += n * h->dim + n * 4 + 2 * h->dim * 4 + (h->mapped ? 0 : n * h->dim * 4);
    else
        b += n * h->dim * 4;
    return b;
}

int lh_hnsw_clone(const lh_hnsw *h, size_t capacity, lh_hnsw **out, lh_error *err)
{
    *out = NULL;
    size_t n = atomic_load(&h->n);
    size_t cap = capacity ? capacity : n + (n / 4 > 1024 ? n / 4 : 1024);
    if (cap < n)
        return lh_error_set(err, LH_EINVAL, "capacity %zu is below the index's %zu rows", cap, n);
    lh_hnsw *c = calloc(1, sizeof *c);
    if (!c) return lh_error_set(err, LH_ENOMEM, "out of memory");
    c->m = h->m;
    size_t used = atomic_load(&h->upper_used);
    lh_hnsw_params p = h->params;
    int rc = hnsw_alloc(c, h->dim, &p, cap, used + upper_slots_for(c, cap - n), err);
    if (rc) goto fail;
    memcpy(c->vectors, h->vectors, n * h->dim * sizeof(float));
    memcpy(c->link0, h->link0, n * (size_t)(1 + h->m0) * sizeof(uint32_t));
    memcpy(c->levels, h->levels, n);
    memcpy(c->upper_off, h->upper_off, n * sizeof(uint64_t));
    memcpy(c->upper, h->upper, used * sizeof(uint32_t));
    memcpy((void *)c->deleted, (const void *)h->deleted, (n + 63) / 64 * sizeof(uint64_t));
    if (h->codes) {
        memcpy(c->codes, h->codes, n * h->dim);
        memcpy(c->sq_min, h->sq_min, h->dim * sizeof(float));
        memcpy(c->sq_scale, h->sq_scale, h->dim * sizeof(float));
        memcpy(c->code_norm, h->code_norm, n * sizeof(float));
    }
    atomic_store(&c->upper_used, used);
    atomic_store(&c->ndeleted, atomic_load(&h->ndeleted));
    atomic_store(&c->entry, atomic_load(&h->entry));
    atomic_store(&c->n, n);
    c->build_s = h->build_s;
    *out = c;
    return LH_OK;
fail:
    lh_hnsw_free(c);
    return rc;
}

int lh_hnsw_compact(const lh_hnsw *h, int64_t *old_to_new, lh_hnsw **out, lh_error *err)
{
    *out = NULL;
    size_t n = atomic_load(&h->n), live = 0;
    float *v = malloc((n ? n : 1) * h->dim * sizeof(float));
    if (!v) return lh_error_set(err, LH_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (hnsw_is_deleted(h, (uint32_t)i)) {
            if (old_to_new) old_to_new[i] = -1;
            continue;
        }
        memcpy(v + live * h->dim, hnsw_vec(h, (uint32_t)i), h->dim * sizeof(float));
        if (old_to_new) old_to_new[i] = (int64_t)live;
        live++;
    }
    lh_hnsw_params p = h->params;
    p.capacity = 0;
    int rc = lh_hnsw_build(v, live, h->dim, &p, out, err);
    free(v);
    return rc;
}

/* ------------------------------------------------------------- bitsets */

int lh_vector_bitset_new(size_t nbits, lh_vector_bitset *out, lh_error *err)
{
    out->words = NULL;
    out->nbits = 0;
    if (nbits == 0) return lh_error_set(err, LH_EINVAL, "bitset of 0 bits");
    out->words = calloc((nbits + 63) / 64, sizeof(uint64_t));
    if (!out->words)
        return lh_error_set(err, LH_ENOMEM, "out of memory for a bitset of %zu bits", nbits);
    out->nbits = nbits;
    return LH_OK;
}

void lh_vector_bitset_set(lh_vector_bitset *b, size_t i)
{
    if (i < b->nbits) b->words[i >> 6] |= 1ull << (i & 63);
}

size_t lh_vector_bitset_count(const lh_vector_bitset *b)
{
    return bitset_popcount(b, b->nbits);
}

void lh_vector_bitset_free(lh_vector_bitset *b)
{
    if (!b) return;
    free(b->words);
    b->words = NULL;
    b->nbits = 0;
}
