/* vector module internals shared by its .c files. Not a public header. */
#ifndef LH_VECTOR_INT_H
#define LH_VECTOR_INT_H

#include "vector/vector.h"

#include <pthread.h>
#include <stdatomic.h>

/* ------------------------------------------------------------- kernels */

typedef float (*vdist_fn)(const float *a, const float *b, size_t d);
typedef float (*u8dot_fn)(const uint8_t *c, const float *w, size_t d);
typedef float (*f16dist_fn)(const float *a, const uint16_t *b, size_t d);

typedef struct vkernels {
    const char *name;
    vdist_fn dot;
    vdist_fn l2sq;
    u8dot_fn u8dot;
    f16dist_fn f16dot;  /* float x fp16 (IEEE binary16) */
    f16dist_fn f16l2sq; /* float x fp16 */
} vkernels;

/* Rounds n floats to fp16 (nearest even), the form the build's distance kernels read. */
void vk_f16_encode(const float *x, uint16_t *out, size_t n);
/* Widens n fp16 values to float. */
void vk_f16_decode(const uint16_t *x, float *out, size_t n);

/* The active kernel set (chosen once from cpuid, or forced by lh_vector_kernel_select). */
const vkernels *vk_active(void);
/* The named set if this CPU supports it, else NULL. */
const vkernels *vk_get(const char *name);

/* ---------------------------------------------------------------- HNSW */

#define HNSW_MAX_LEVEL 32

/*
 * Memory layout (identical in RAM and in the file, so a mapped file needs no parse step):
 *   vectors   float[cap * dim]             row-major; normalised for cosine
 *   link0     uint32[cap * (1 + m0)]       level-0 lists: [count, ids...]
 *   levels    uint8[cap]                   top level of each node
 *   upper_off uint64[cap]                  offset (in uint32s) of a node's upper lists in upper
 *   upper     uint32[upper_cap]            levels 1..top, each [count, ids... (m)]
 *   deleted   uint64[(cap + 63) / 64]      tombstone bits
 *   codes     uint8[cap * dim]             int8 mode only: per-dimension scalar codes
 *   sq_min, sq_scale  float[dim]           int8 mode: x ~ min + code * scale
 *   code_norm float[cap]                   int8 mode: |decoded x|^2 (for L2)
 *
 * Concurrency. `writer` (mutex) serialises inserts and the entry-point update; `locks[i]`
 * (a spin byte per node) guards writes to node i's link lists. Readers take no lock: link
 * words are written with release stores and read with acquire loads, `n` is published with a
 * release store after the node's lists are complete, and `entry` packs the entry point and
 * the top level into one atomic word. Tombstone bits are set with atomic OR.
 */
struct lh_hnsw {
    size_t dim;
    lh_hnsw_params params;
    int m, m0;
    double level_mult;

    _Atomic size_t n; /* rows published; written under `writer` (or by the build) */
    size_t cap;
    _Atomic uint64_t entry; /* (top level << 32) | entry node; UINT64_MAX when empty */

    float *vectors;
    uint32_t *link0;
    uint8_t *levels;
    uint64_t *upper_off;
    uint32_t *upper;
    size_t upper_cap;
    _Atomic size_t upper_used; /* guarded by `writer` after the build */
    _Atomic uint64_t *deleted;
    _Atomic size_t ndeleted; /* tombstoned rows; >0 makes searches filter results */
    uint8_t *codes;
    float *sq_min, *sq_scale, *code_norm;
    /* During lh_hnsw_build only: fp16 copy of rows [0, n) that the build's distances read
     * (half the memory traffic of float32); NULL otherwise. */
    uint16_t *half;

    double build_s;
    long build_relinked; /* rows the build's relink pass linked back (see relink) */
    uint64_t rng;        /* level generator state; guarded by `writer` */
    /* Incremental inserts only (guarded by `writer`): rows a level-0 list dropped while the
     * insert pruned it, checked for a remaining in-link once the insert is linked. */
    bool track_drops;
    uint32_t *drops;
    size_t ndrops, drops_cap;

    /* owned memory */
    bool mapped; /* true: the arrays point into map (read-only) */
    void *map;
    size_t map_len;
    atomic_uchar *locks; /* NULL when mapped */
    pthread_mutex_t writer;
    bool writer_init;
};

static inline uint32_t *hnsw_list(const lh_hnsw *h, uint32_t node, int level)
{
    if (level == 0) return h->link0 + (size_t)node * (1 + h->m0);
    return h->upper + h->upper_off[node] + (size_t)(level - 1) * (1 + h->m);
}

static inline const float *hnsw_vec(const lh_hnsw *h, uint32_t node)
{
    return h->vectors + (size_t)node * h->dim;
}

static inline bool hnsw_is_deleted(const lh_hnsw *h, uint32_t node)
{
    return (atomic_load_explicit(&h->deleted[node >> 6], memory_order_relaxed) >> (node & 63)) & 1;
}

static inline bool bitset_has(const lh_vector_bitset *b, size_t i)
{
    return i < b->nbits && ((b->words[i >> 6] >> (i & 63)) & 1);
}

/* Distance between two stored-format float vectors under the index metric. */
static inline float hnsw_fdist(const lh_hnsw *h, const vkernels *k, const float *a, const float *b)
{
    switch (h->params.metric) {
    case LH_METRIC_L2:
        return k->l2sq(a, b, h->dim);
    case LH_METRIC_IP:
        return -k->dot(a, b, h->dim);
    default:
        return 1.0f - k->dot(a, b, h->dim);
    }
}

/* Distance between a stored-format float vector and an fp16 row under the index metric. */
static inline float hnsw_hdist(const lh_hnsw *h, const vkernels *k, const float *a,
                               const uint16_t *b)
{
    switch (h->params.metric) {
    case LH_METRIC_L2:
        return k->f16l2sq(a, b, h->dim);
    case LH_METRIC_IP:
        return -k->f16dot(a, b, h->dim);
    default:
        return 1.0f - k->f16dot(a, b, h->dim);
    }
}

/* Distance between a stored-format float vector and a node: from the build's fp16 copy while
 * building, else from the float32 rows. */
static inline float hnsw_ndist(const lh_hnsw *h, const vkernels *k, const float *a, uint32_t node)
{
    if (h->half) return hnsw_hdist(h, k, a, h->half + (size_t)node * h->dim);
    return hnsw_fdist(h, k, a, hnsw_vec(h, node));
}

/* Allocates the arrays of a heap index for cap rows; fills h->cap etc. */
int hnsw_alloc(lh_hnsw *h, size_t dim, const lh_hnsw_params *p, size_t cap, size_t upper_cap,
               lh_error *err);
/* Computes the per-dimension int8 quantizer from rows [0, n) and encodes them. */
void hnsw_quant_train(lh_hnsw *h, size_t n);
/* Encodes one row with the existing quantizer. */
void hnsw_quant_encode(lh_hnsw *h, uint32_t row);
/* Exact top-k over rows, optionally restricted to allow; results sorted ascending. */
size_t hnsw_exact(const lh_hnsw *h, const float *q, size_t k, const lh_vector_bitset *allow,
                  lh_vector_hit *hits);
/* Prepares a query in stored form (normalised for cosine) into out[dim]; false if the
 * query is not finite or is zero for cosine. */
bool hnsw_prepare_query(const lh_hnsw *h, const float *q, float *out);

/* Links every row of [0, n) that level 0 cannot reach from the entry point into the reachable
 * part (a build's last step; not safe beside concurrent writers). Returns the number of rows
 * relinked, or -1 when out of memory (the graph is then unchanged). */
long hnsw_relink_unreachable(lh_hnsw *h, size_t n);
/* How many published rows level 0 cannot reach from the entry point (searches can never
 * return them); -1 when out of memory. Not safe beside concurrent writers. */
long hnsw_unreachable_rows(const lh_hnsw *h);

/* Unmaps a loaded index's file (persist.c). */
void hnsw_unmap(lh_hnsw *h);

/* Little CRC32C (Castagnoli) with SSE4.2 when available. */
uint32_t vcrc32c(uint32_t crc, const void *p, size_t n);

/* Aligned zeroed allocation (64 bytes) that returns NULL on failure; free with free(). */
void *valloc_zero(size_t n);

#endif
