/* The offline `glove` embedder: a mapped GloVe table (ai_int.h, docs/adr/0004-glove-table.md),
 * smooth-inverse-frequency weighting, first principal component removed, L2-normalized. */
#include "ai/ai_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GLOVE_MAX_DIM 1024

typedef struct glove {
    char *path;
    void *map;
    size_t size;
    const glove_header *h;
    uint32_t dim;
    const uint32_t *offs;
    const char *blob;
    const float *weights;
    const float *scales;
    const int8_t *codes;
    const uint32_t *slots;
    const float *pc;
    const float *bscales;
    const int8_t *bcodes;
} glove;

char *lh_ai_glove_locate(const char *configured, lh_error *err)
{
    if (configured && *configured) {
        if (access(configured, R_OK) == 0) return lh_strdup(configured);
        lh_error_set(err, LH_ENOENT, "glove table '%s' (config glove_path): %s", configured,
                     strerror(errno));
        return NULL;
    }
    char exe[PATH_MAX];
    char *next_to_exe = NULL;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        next_to_exe = lh_path_join(exe, LH_AI_GLOVE_FILE);
        if (access(next_to_exe, R_OK) == 0) return next_to_exe;
    }
#ifdef LH_AI_BUILD_DIR
    char *in_build = lh_path_join(LH_AI_BUILD_DIR, LH_AI_GLOVE_FILE);
    if (access(in_build, R_OK) == 0) {
        free(next_to_exe);
        return in_build;
    }
    free(in_build);
#endif
    lh_error_set(err, LH_ENOENT,
                 "glove table not found: looked for %s next to the program (%s)"
#ifdef LH_AI_BUILD_DIR
                 " and in the build folder %s"
#endif
                 "; build it with `make build` or set glove_path / LAKEHOUSE_GLOVE_PATH",
                 LH_AI_GLOVE_FILE, next_to_exe ? next_to_exe : "unknown"
#ifdef LH_AI_BUILD_DIR
                 ,
                 LH_AI_BUILD_DIR
#endif
    );
    free(next_to_exe);
    return NULL;
}

static const char *g_name(void *self)
{
    return ((glove *)self)->h->model;
}

static const char *g_version(void *self)
{
    return ((glove *)self)->h->model_version;
}

static size_t g_dims(void *self)
{
    return ((glove *)self)->dim;
}

static void g_free(void *self)
{
    glove *g = self;
    if (!g) return;
    if (g->map) munmap(g->map, g->size);
    free(g->path);
    free(g);
}

static int64_t lookup(const glove *g, const char *w, size_t len)
{
    uint32_t mask = g->h->n_slots - 1;
    uint64_t s = glove_slot(w, len, g->h->n_slots);
    for (uint32_t probes = 0; probes <= mask; probes++) {
        uint32_t id = g->slots[s];
        if (id == UINT32_MAX) return -1;
        if (id < g->h->n_words && g->offs[id + 1] - g->offs[id] == len &&
            memcmp(g->blob + g->offs[id], w, len) == 0)
            return id;
        s = (s + 1) & mask;
    }
    return -1;
}

typedef struct text_acc {
    const glove *g;
    float *v;   /* dim: the weighted sum */
    float *sub; /* dim: scratch for n-gram means */
    size_t nsub;
    lh_ai_glove_stats st;
} text_acc;

static void add_codes(float *v, const int8_t *c, float w, uint32_t d)
{
    for (uint32_t j = 0; j < d; j++)
        v[j] += w * (float)c[j];
}

static void add_bucket(const char *gram, size_t len, void *arg)
{
    text_acc *a = arg;
    const glove *g = a->g;
    uint64_t b = lh_hash64(gram, len, GLOVE_HASH_SEED) & (g->h->n_buckets - 1);
    float s = g->bscales[b];
    if (s == 0) return;
    add_codes(a->sub, g->bcodes + b * g->dim, s, g->dim);
    a->nsub++;
}

/* A fixed pseudo-random direction for a word with nothing known about it. */
static void add_hashed(float *v, const char *w, size_t len, float norm, uint32_t d)
{
    uint64_t x = lh_hash64(w, len, GLOVE_HASH_SEED ^ 0x6861736864ull);
    float amp = norm / sqrtf((float)d);
    for (uint32_t j = 0; j < d; j++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[j] += (x & 1) ? amp : -amp;
    }
}

static void add_word(const char *w, size_t len, void *arg)
{
    text_acc *a = arg;
    const glove *g = a->g;
    uint32_t d = g->dim;
    a->st.words++;
    int64_t id = lookup(g, w, len);
    if (id >= 0) {
        add_codes(a->v, g->codes + (size_t)id * d, g->weights[id] * g->scales[id], d);
        a->st.known++;
        return;
    }
    memset(a->sub, 0, d * sizeof(float));
    a->nsub = 0;
    ai_ngrams(w, len, (int)g->h->ngram_min, (int)g->h->ngram_max, add_bucket, a);
    if (a->nsub > 0) {
        float k = g->h->oov_weight / (float)a->nsub;
        for (uint32_t j = 0; j < d; j++)
            a->v[j] += k * a->sub[j];
        a->st.subword++;
    } else {
        add_hashed(a->v, w, len, g->h->oov_weight * g->h->oov_norm, d);
        a->st.hashed++;
    }
}

/* Texts without word characters ("?!", "—"): every non-space character is a token. */
static void add_symbols(text_acc *a, const char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t l = ai_utf8_next(text + i, len - i, &cp);
        if (!ai_is_space(cp)) add_word(text + i, l, a);
        i += l;
    }
}

static int embed_one(const glove *g, const char *text, size_t len, float *out,
                     lh_ai_glove_stats *stats, lh_error *err)
{
    uint32_t d = g->dim;
    float v[GLOVE_MAX_DIM], sub[GLOVE_MAX_DIM];
    memset(v, 0, d * sizeof(float));
    text_acc a = {.g = g, .v = v, .sub = sub};
    if (ai_words(text, len, add_word, &a) == 0) add_symbols(&a, text, len);
    /* Remove the common component, then normalize. A sum lying on the component (or a zero
     * sum) keeps its raw direction, and a zero vector falls back to the text's hash. */
    double dot = 0, n0 = 0;
    for (uint32_t j = 0; j < d; j++) {
        dot += (double)v[j] * g->pc[j];
        n0 += (double)v[j] * v[j];
    }
    double n1 = 0;
    for (uint32_t j = 0; j < d; j++) {
        out[j] = v[j] - (float)dot * g->pc[j];
        n1 += (double)out[j] * out[j];
    }
    if (n1 <= 1e-12 * (n0 + 1e-30)) {
        memcpy(out, v, d * sizeof(float));
        n1 = n0;
    }
    if (n1 <= 0) {
        memset(out, 0, d * sizeof(float));
        add_hashed(out, text, len, 1.0f, d);
        n1 = 1.0;
    }
    float inv = (float)(1.0 / sqrt(n1));
    for (uint32_t j = 0; j < d; j++)
        out[j] *= inv;
    if (stats) *stats = a.st;
    (void)err;
    return LH_OK;
}

static int g_embed(void *self, const char *const *texts, const size_t *lens, size_t n, float *out,
                   lh_error *err)
{
    glove *g = self;
    for (size_t i = 0; i < n; i++) {
        size_t len = lens ? lens[i] : strlen(texts[i]);
        int rc = embed_one(g, texts[i], len, out + i * g->dim, NULL, err);
        if (rc != LH_OK) return rc;
    }
    return LH_OK;
}

static const lh_ai_embedder_ops glove_ops = {
    .name = g_name, .version = g_version, .dims = g_dims, .embed = g_embed, .free = g_free};

int lh_ai_glove_embed_one(lh_ai_embedder *e, const char *text, size_t len, float *out,
                          lh_ai_glove_stats *stats, lh_error *err)
{
    glove *g = ai_embedder_self(e, &glove_ops);
    if (!g) return lh_error_set(err, LH_EINVAL, "embed: not a glove embedder");
    if (!text) return lh_error_set(err, LH_EINVAL, "embed: text is NULL");
    int rc = ai_text_check(text, len, LH_AI_MAX_TEXT_BYTES, err);
    if (rc != LH_OK) return lh_error_prefix(err, "embed: text");
    return embed_one(g, text, len, out, stats, err);
}

/* Checks the mapped table and points g's arrays into it. */
static int check_table(glove *g, lh_error *err)
{
    const char *p = g->path;
    if (g->size < sizeof(glove_header))
        return lh_error_set(err, LH_ECORRUPT, "%s: %zu bytes, too short for a glove table", p,
                            g->size);
    const glove_header *h = g->map;
    if (memcmp(h->magic, GLOVE_MAGIC, 8) != 0)
        return lh_error_set(err, LH_ECORRUPT, "%s: not a glove table (bad magic)", p);
    if (h->version != GLOVE_FORMAT_VERSION)
        return lh_error_set(err, LH_ECORRUPT,
                            "%s: table format version %u, this program reads %u (rebuild it)", p,
                            h->version, GLOVE_FORMAT_VERSION);
    if (lh_hash64(h, offsetof(glove_header, header_checksum), GLOVE_HASH_SEED) !=
        h->header_checksum)
        return lh_error_set(err, LH_ECORRUPT, "%s: header checksum mismatch", p);
    if (h->file_size != g->size)
        return lh_error_set(err, LH_ECORRUPT, "%s: %zu bytes, the header says %llu (truncated?)", p,
                            g->size, (unsigned long long)h->file_size);
    uint64_t n = h->n_words, d = h->dim;
    if (d == 0 || d > GLOVE_MAX_DIM || n == 0 || h->n_slots < n ||
        (h->n_slots & (h->n_slots - 1)) || h->n_buckets == 0 ||
        (h->n_buckets & (h->n_buckets - 1)) || h->ngram_min < 1 || h->ngram_max < h->ngram_min ||
        h->ngram_max > 16 || memchr(h->model, 0, 32) == NULL ||
        memchr(h->model_version, 0, sizeof h->model_version) == NULL)
        return lh_error_set(err, LH_ECORRUPT, "%s: implausible header fields", p);
    const uint64_t want[GS_COUNT] = {
        (n + 1) * 4,     0, n * 4, n * 4, n * d, h->n_slots * 4ull, d * 4, h->n_buckets * 4ull,
        h->n_buckets * d};
    for (int k = 0; k < GS_COUNT; k++) {
        if ((k != GS_WORD_BLOB && h->section_len[k] != want[k]) || h->section_off[k] % 64 ||
            h->section_off[k] < sizeof *h || h->section_off[k] > g->size ||
            h->section_len[k] > g->size - h->section_off[k])
            return lh_error_set(err, LH_ECORRUPT, "%s: section %d has a bad offset or length", p,
                                k);
    }
    const char *base = g->map;
    if (lh_hash64(base + sizeof *h, g->size - sizeof *h, GLOVE_HASH_SEED) != h->body_checksum)
        return lh_error_set(err, LH_ECORRUPT, "%s: body checksum mismatch (damaged file)", p);
    g->h = h;
    g->dim = (uint32_t)d;
    g->offs = (const uint32_t *)(base + h->section_off[GS_WORD_OFFS]);
    g->blob = base + h->section_off[GS_WORD_BLOB];
    g->weights = (const float *)(base + h->section_off[GS_WEIGHTS]);
    g->scales = (const float *)(base + h->section_off[GS_SCALES]);
    g->codes = (const int8_t *)(base + h->section_off[GS_CODES]);
    g->slots = (const uint32_t *)(base + h->section_off[GS_SLOTS]);
    g->pc = (const float *)(base + h->section_off[GS_PC]);
    g->bscales = (const float *)(base + h->section_off[GS_BUCKET_SCALES]);
    g->bcodes = (const int8_t *)(base + h->section_off[GS_BUCKET_CODES]);
    for (uint64_t i = 0; i < n; i++)
        if (g->offs[i] > g->offs[i + 1] || g->offs[i + 1] > h->section_len[GS_WORD_BLOB])
            return lh_error_set(err, LH_ECORRUPT, "%s: word offsets out of order at %llu", p,
                                (unsigned long long)i);
    return LH_OK;
}

int lh_ai_glove_open(const char *path, lh_ai_embedder **out, lh_error *err)
{
    *out = NULL;
    glove *g = lh_calloc(1, sizeof *g);
    int rc = LH_OK, fd = -1;
    g->path = lh_ai_glove_locate(path, err);
    if (!g->path) {
        rc = err ? err->code : LH_ENOENT;
        goto fail;
    }
    fd = open(g->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = lh_error_set(err, errno == ENOENT ? LH_ENOENT : LH_EIO, "%s: %s", g->path,
                          strerror(errno));
        goto fail;
    }
    g->size = (size_t)st.st_size;
    if (g->size > 0) {
        g->map = mmap(NULL, g->size, PROT_READ, MAP_SHARED, fd, 0);
        if (g->map == MAP_FAILED) {
            g->map = NULL;
            rc = lh_error_set(err, LH_EIO, "%s: mmap: %s", g->path, strerror(errno));
            goto fail;
        }
    }
    rc = check_table(g, err);
    if (rc != LH_OK) goto fail;
    close(fd);
    *out = lh_ai_embedder_wrap(&glove_ops, g);
    return LH_OK;
fail:
    if (fd >= 0) close(fd);
    g_free(g);
    return rc;
}
