/*
 * ai — embedders (text -> vector) behind one interface, with the built-in offline `glove`
 * embedder and HTTP providers for Ollama and OpenAI-compatible servers; generators (chat
 * completions, streamed); sentence-aware chunking; a lexical BM25 index on SQLite FTS5.
 *
 * Every vector carries the name and version of the model that made it (lh_ai_embedder_name,
 * lh_ai_embedder_version): store them with the vectors (lh_vector_store_write) and refuse to
 * mix vectors of different models in one index.
 *
 * Threads. An embedder may be used from several threads at once (glove: lock-free, read-only
 * table; HTTP providers: one connection per call).
 */
#ifndef LH_AI_H
#define LH_AI_H

#include "core/core.h"

/* ------------------------------------------------------------ embedders */

/* An embedder: opaque, made by one of the constructors below or by lh_ai_embedder_wrap. */
typedef struct lh_ai_embedder lh_ai_embedder;

/* The interface every embedder implements. self is the provider's state. */
typedef struct lh_ai_embedder_ops {
    const char *(*name)(void *self);    /* model name, e.g. "glove", "ollama/nomic-embed-text" */
    const char *(*version)(void *self); /* model version (digest, table version, ...) */
    size_t (*dims)(void *self);         /* vector dimension */
    /* Embeds n texts (lens[i] bytes each) into out (n * dims floats, L2-normalized). */
    int (*embed)(void *self, const char *const *texts, const size_t *lens, size_t n, float *out,
                 lh_error *err);
    void (*free)(void *self);
} lh_ai_embedder_ops;

/* Wraps a provider given as an ops table and its state (takes ownership of self, freed with
 * ops->free). Returns NULL only if ops is NULL. */
lh_ai_embedder *lh_ai_embedder_wrap(const lh_ai_embedder_ops *ops, void *self);
/* The model's name (borrowed, lives as long as e). */
const char *lh_ai_embedder_name(const lh_ai_embedder *e);
/* The model's version (borrowed, lives as long as e). */
const char *lh_ai_embedder_version(const lh_ai_embedder *e);
/* The vector dimension. */
size_t lh_ai_embedder_dims(const lh_ai_embedder *e);
/* Embeds n texts into out (n * dims floats, caller-allocated), each L2-normalized; lens may be
 * NULL (texts are NUL-terminated). All or nothing: on error out is unspecified and err names
 * the text (its index) and the reason: LH_EINVAL for an empty, blank or invalid-UTF-8 text,
 * LH_ETOOBIG over the size limit, LH_EUNAVAIL/LH_ETIMEOUT/LH_ECORRUPT from a server. */
int lh_ai_embed(lh_ai_embedder *e, const char *const *texts, const size_t *lens, size_t n,
                float *out, lh_error *err);
/* Frees an embedder. Accepts NULL. */
void lh_ai_embedder_free(lh_ai_embedder *e);

/* Largest text (bytes) an embedder accepts by default: 1 MiB. Chunk longer documents. */
#define LH_AI_MAX_TEXT_BYTES ((size_t)1 << 20)

/* --------------------------------------------------------------- glove */

/* File name of the GloVe table built next to the program ("glove-100d.lhg"). */
#define LH_AI_GLOVE_FILE "glove-100d.lhg"

/* Where the GloVe table is: the path given (config key glove_path), else LH_AI_GLOVE_FILE next
 * to the running executable, else in the build folder this library was built in. Returns a
 * newly allocated path (caller frees) or NULL with err (LH_ENOENT naming where it looked). */
char *lh_ai_glove_locate(const char *configured, lh_error *err);

/* Opens the offline GloVe embedder over the table at path (NULL: lh_ai_glove_locate), mapping
 * it read-only after checking magic, version, sizes and checksums (LH_ECORRUPT naming what is
 * wrong, LH_ENOENT if missing). A text's vector: lowercase words, smooth-inverse-frequency
 * weighted average of their vectors (subword n-grams, then hashing, for unknown words), minus
 * the table's first principal component, L2-normalized. Caller frees with lh_ai_embedder_free. */
int lh_ai_glove_open(const char *path, lh_ai_embedder **out, lh_error *err);

/* How the glove embedder saw one text (for tests and diagnostics). */
typedef struct lh_ai_glove_stats {
    size_t words;   /* word tokens */
    size_t known;   /* found in the table */
    size_t subword; /* unknown, embedded from character n-grams */
    size_t hashed;  /* unknown with no known n-gram, embedded by hashing */
} lh_ai_glove_stats;

/* Embeds one text with a glove embedder and reports how its words were found. LH_EINVAL if e
 * is not a glove embedder or the text is bad (as lh_ai_embed). */
int lh_ai_glove_embed_one(lh_ai_embedder *e, const char *text, size_t len, float *out,
                          lh_ai_glove_stats *stats, lh_error *err);

#endif
