/* ai module internals shared by its .c files and its build-time table converter. Not a public
 * header. */
#ifndef LH_AI_INT_H
#define LH_AI_INT_H

#include "ai/ai.h"

/* ------------------------------------------------------------ UTF-8 text */

/* Decodes the code point at s (n > 0 bytes left, assumed valid UTF-8); returns its byte length
 * and stores the code point in *cp. An invalid byte decodes as itself with length 1. */
size_t ai_utf8_next(const char *s, size_t n, uint32_t *cp);
/* Encodes cp as UTF-8 into out (room for 4); returns the byte length. */
size_t ai_utf8_put(uint32_t cp, char *out);
/* Simple lowercase mapping for Latin, Greek and Cyrillic (ASCII, Latin-1, Latin Extended-A,
 * Latin Extended Additional); other code points map to themselves. */
uint32_t ai_lower(uint32_t cp);
/* True for code points that belong inside a word: letters and digits of any script, i.e. ASCII
 * alphanumerics and every non-ASCII code point outside the punctuation, space and symbol blocks. */
bool ai_is_word_cp(uint32_t cp);
/* True for ideographs and kana, which form one-character words (those scripts have no spaces). */
bool ai_is_ideograph(uint32_t cp);
/* True for white space (ASCII and Unicode spaces, line and paragraph separators). */
bool ai_is_space(uint32_t cp);

/* Calls fn(token, len, arg) for each lowercase word of text (valid UTF-8), in order; tokens are
 * written into a scratch buffer of 256 bytes (longer words are cut at a code point boundary).
 * Returns the number of words. */
size_t ai_words(const char *text, size_t n, void (*fn)(const char *tok, size_t len, void *arg),
                void *arg);

/* Calls fn(ngram, len, arg) for each character n-gram (n in [nmin, nmax], code points) of
 * "<word>", word being at most the first 64 code points of word. */
void ai_ngrams(const char *word, size_t len, int nmin, int nmax,
               void (*fn)(const char *g, size_t len, void *arg), void *arg);

/* Checks a text to embed: non-empty, at most max bytes, valid UTF-8, not only white space.
 * err says "is empty", "is not valid UTF-8 (byte N)", ... for the caller to prefix. */
int ai_text_check(const char *text, size_t len, size_t max, lh_error *err);

/* The provider state of e if e was made with ops, else NULL. */
void *ai_embedder_self(const lh_ai_embedder *e, const lh_ai_embedder_ops *ops);

/* ------------------------------------------------------------ HTTP client */

/* One request to a model server. */
typedef struct ai_http_req {
    const char *what;    /* "Ollama", "OpenAI-compatible server": names the server in errors */
    const char *url;     /* full URL */
    const char *body;    /* JSON body to POST; NULL = GET */
    const char *api_key; /* bearer token or NULL */
    int timeout_ms;      /* whole request */
    int connect_timeout_ms;
    /* Streaming: called with each complete line of the response body (without the newline);
     * returns LH_OK to go on, LH_ECANCELED or an error (with err filled) to stop. NULL: the
     * body is collected in resp. */
    int (*on_line)(const char *line, size_t len, void *arg, lh_error *err);
    void *arg;
    const volatile int *cancel; /* non-zero stops the request (LH_ECANCELED) */
} ai_http_req;

/* Performs req. *status gets the HTTP status (0 if none arrived); resp (may be NULL when
 * streaming) the body of a non-streaming request or of an error response. Fails with
 * LH_EUNAVAIL (cannot connect, connection lost), LH_ETIMEOUT, LH_ECANCELED, LH_ETOOBIG (body
 * over 256 MiB) or the on_line error. A non-2xx status is not an error here. */
int ai_http_do(const ai_http_req *req, long *status, lh_buf *resp, lh_error *err);

/* The message of an error body: Ollama's {"error":"..."}, OpenAI's {"error":{"message":...}},
 * else the body's start. Returns a newly allocated string. */
char *ai_http_error_message(const char *body, size_t len);

/* Maps a non-2xx status and body to an lh_error: 404 or a "not found" message -> LH_ENOENT
 * naming the model, other 4xx -> LH_EINVAL, 5xx -> LH_EUNAVAIL. */
int ai_http_status_error(const char *what, const char *url, const char *model, long status,
                         const char *body, size_t len, lh_error *err);

/* base (trailing slashes dropped) + path, not doubling a "/v1" the base already ends with. */
char *ai_url_join(const char *base, const char *path);

/* ------------------------------------------------------- GloVe table file */

/*
 * The GloVe table (docs/adr/0004-glove-table.md): a 512-byte header followed by 64-byte-aligned
 * sections, little-endian, mapped read-only at run time with no parse step.
 */
#define GLOVE_MAGIC "LHGLOVE\1"
#define GLOVE_FORMAT_VERSION 1u
#define GLOVE_HASH_SEED 0x676c6f7665ull /* seed of lh_hash64 for slots, n-grams, checksums */
#define GLOVE_NGRAM_MIN 3
#define GLOVE_NGRAM_MAX 5

enum {
    GS_WORD_OFFS = 0, /* uint32[n_words + 1]: byte offset of each word in GS_WORD_BLOB */
    GS_WORD_BLOB,     /* the words' UTF-8 bytes, back to back */
    GS_WEIGHTS,       /* float[n_words]: SIF weight a / (a + p(word)) */
    GS_SCALES,        /* float[n_words]: vector = scale * codes */
    GS_CODES,         /* int8[n_words * dim] */
    GS_SLOTS,         /* uint32[n_slots]: open-addressing hash of words -> id; UINT32_MAX empty */
    GS_PC,            /* float[dim]: the first principal component removed from every vector */
    GS_BUCKET_SCALES, /* float[n_buckets]: n-gram bucket vector = scale * codes (0: empty) */
    GS_BUCKET_CODES,  /* int8[n_buckets * dim] */
    GS_COUNT
};

typedef struct glove_header {
    char magic[8];
    uint32_t version;
    uint32_t dim;
    uint32_t n_words;
    uint32_t n_slots;   /* power of two */
    uint32_t n_buckets; /* power of two */
    uint32_t ngram_min;
    uint32_t ngram_max;
    float sif_a;
    float oov_weight; /* SIF weight of a word not in the table */
    float oov_norm;   /* norm of the hashed vector of a word with no known n-gram */
    char model[32];   /* NUL-terminated */
    char model_version[96];
    uint64_t section_off[GS_COUNT];
    uint64_t section_len[GS_COUNT];
    uint64_t file_size;
    uint64_t body_checksum; /* lh_hash64 of bytes [512, file_size) */
    uint8_t pad[512 - (8 + 7 * 4 + 3 * 4 + 32 + 96 + 16 * GS_COUNT + 16) - 8];
    uint64_t header_checksum; /* lh_hash64 of the bytes before this field */
} glove_header;

_Static_assert(sizeof(glove_header) == 512, "glove header is 512 bytes");

/* Slot of a word in the hash table (n_slots a power of two). */
static inline uint64_t glove_slot(const char *w, size_t len, uint32_t n_slots)
{
    return lh_hash64(w, len, GLOVE_HASH_SEED) & (n_slots - 1);
}

/* ------------------------------------------------------- text index parts */

/* Number of chunks of a loaded text index. */
size_t ai_text_count(const lh_ai_text_index *t);
/* The dataset row position of a chunk, and (each may be NULL) its offsets and text (borrowed). */
int64_t ai_text_row(const lh_ai_text_index *t, size_t chunk, size_t *char_start, size_t *char_end,
                    const char **text);
/* Rows of the dataset version the index was built on. */
int64_t ai_text_dataset_rows(const lh_ai_text_index *t);
/* The vector side (borrowed). */
lh_vector_index *ai_text_vectors(const lh_ai_text_index *t);
/* True when a predicate's value on a generation's rows can only depend on those rows, so its
 * allow-set may be cached: no function call or subquery (a name followed by '(' other than
 * IN, NOT, AND, OR) and none of the SQL words that read the clock or the session (SELECT,
 * CURRENT_DATE, ...). Quoted strings and quoted names are skipped. */
bool ai_filter_cacheable(const char *predicate);
/* The lexical side (borrowed). */
lh_ai_lexical *ai_text_lexical(const lh_ai_text_index *t);

#endif
