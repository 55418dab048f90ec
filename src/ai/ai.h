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

/* ------------------------------------------------------------- chunking */

/* What chunk sizes count. */
typedef enum lh_ai_chunk_unit {
    LH_AI_CHUNK_CHARS = 0,  /* Unicode code points */
    LH_AI_CHUNK_TOKENS = 1, /* approximate model tokens: a run of n letters/digits counts
                               ceil(n/4), an ideograph or a punctuation mark 1, space 0 */
} lh_ai_chunk_unit;

/* Chunking options; NULL = 1000 characters with 150 of overlap. */
typedef struct lh_ai_chunk_opts {
    size_t size;    /* most units in a chunk (>= 8) */
    size_t overlap; /* units the next chunk repeats from the end of this one (< size / 2);
                       whole sentences (or words, in a sentence longer than a chunk) */
    lh_ai_chunk_unit unit;
} lh_ai_chunk_opts;

/* One chunk of a text: where it is in the source and how big. */
typedef struct lh_ai_chunk {
    size_t start, end;           /* byte offsets [start, end) into the source (UTF-8) */
    size_t char_start, char_end; /* the same span in code points */
    size_t units;                /* its size in the chosen unit */
} lh_ai_chunk;

/* Splits text (len bytes of UTF-8) into chunks of at most opts->size units that end at sentence
 * boundaries where possible (., !, ?, …, 。 followed by space and not lowercase, not after an
 * abbreviation or an initial; blank lines), else at white space, else between characters.
 * Chunks start and end on non-space characters, in order. *out (caller frees) gets *n_out
 * chunks, none for a blank text. LH_EINVAL for invalid UTF-8 (naming the byte) or bad opts. */
int lh_ai_chunk_text(const char *text, size_t len, const lh_ai_chunk_opts *opts, lh_ai_chunk **out,
                     size_t *n_out, lh_error *err);

/* ------------------------------------------------------ lexical (BM25) */

/* A lexical index of chunks on SQLite FTS5 (Porter stemming over unicode61 words, diacritics
 * folded): a derived index, rebuildable from an embedding-store Parquet file. Opaque; one
 * handle may be shared by threads (calls are serialised). */
typedef struct lh_ai_lexical lh_ai_lexical;

/* One chunk to index. Borrowed strings. */
typedef struct lh_ai_lexical_doc {
    const char *doc_id;
    int64_t chunk_id;
    const char *text; /* UTF-8 */
} lh_ai_lexical_doc;

/* One search result. */
typedef struct lh_ai_lexical_hit {
    char *doc_id;
    int64_t chunk_id;
    double score;    /* BM25 (higher is better) */
    char *highlight; /* a snippet of the chunk with the matched words in <mark>...</mark> */
} lh_ai_lexical_hit;

/* Opens (creating if absent) the index file at path (":memory:" for a private in-memory one).
 * LH_EIO if SQLite cannot open it, LH_ECORRUPT if it is not a lexical index of this version.
 * Caller closes with lh_ai_lexical_close. */
int lh_ai_lexical_open(const char *path, lh_ai_lexical **out, lh_error *err);
/* Adds or replaces (same doc_id and chunk_id) n chunks in one transaction: all or nothing.
 * LH_EINVAL naming the chunk for a missing doc_id/text or invalid UTF-8. */
int lh_ai_lexical_add(lh_ai_lexical *x, const lh_ai_lexical_doc *docs, size_t n, lh_error *err);
/* Removes every chunk of doc_id; *removed (may be NULL) gets how many. */
int lh_ai_lexical_delete_doc(lh_ai_lexical *x, const char *doc_id, size_t *removed, lh_error *err);
/* Number of chunks in the index. */
int lh_ai_lexical_count(lh_ai_lexical *x, int64_t *out, lh_error *err);
/* Replaces the whole index by the chunks (doc_id, chunk_id, chunk_text; rows with a NULL text
 * skipped) of an embedding-store Parquet file (lh_vector_store_write). All or nothing. */
int lh_ai_lexical_rebuild_from_store(lh_ai_lexical *x, const char *parquet_path, lh_error *err);
/* The k (1..1000) best chunks for a query by BM25. The query is user text, never FTS syntax:
 * its words are quoted as terms and OR-ed, so operators, quotes, column filters and NEAR are
 * plain words. LH_EINVAL for a query with no words, invalid UTF-8 or a bad k; LH_ETOOBIG
 * over 4 KiB. *out (free with lh_ai_lexical_hits_free) gets *n_out hits, best first. */
int lh_ai_lexical_search(lh_ai_lexical *x, const char *query, size_t k, lh_ai_lexical_hit **out,
                         size_t *n_out, lh_error *err);
/* Frees n hits. Accepts NULL. */
void lh_ai_lexical_hits_free(lh_ai_lexical_hit *hits, size_t n);
/* Closes the index. Accepts NULL. */
void lh_ai_lexical_close(lh_ai_lexical *x);

/* ------------------------------------------------------- model servers */

/* How to reach a model server (Ollama or OpenAI-compatible). Borrowed strings. */
typedef struct lh_ai_http_opts {
    const char *url;        /* base URL; NULL = http://127.0.0.1:11434 (Ollama) or
                               http://127.0.0.1:8000 (OpenAI-compatible) */
    const char *model;      /* model name; NULL = nomic-embed-text (Ollama embedder), else
                               required */
    const char *api_key;    /* bearer token (OpenAI-compatible servers); NULL = none */
    int timeout_ms;         /* one request, start to end; 0 = 60000 */
    int connect_timeout_ms; /* 0 = 5000 */
    size_t batch;           /* texts per embedding request; 0 = 64 */
    int parallel;           /* embedding requests in flight at once (pipelining); 0 = 2 */
    size_t dims;            /* expected vector dimension; 0 = learn it from a probe at open */
} lh_ai_http_opts;

/* Opens an embedder on Ollama (POST /api/embed {model, input:[...]} -> {embeddings:[[...]]}).
 * At open it checks that the server answers and has the model (GET /api/tags; its digest is
 * the model version) and, if opts->dims is 0, embeds a probe text to learn the dimension.
 * LH_EUNAVAIL if the server cannot be reached, LH_ENOENT if the model is missing (the message
 * says to `ollama pull` it). Caller frees with lh_ai_embedder_free. */
int lh_ai_ollama_embedder_open(const lh_ai_http_opts *opts, lh_ai_embedder **out, lh_error *err);
/* Opens an embedder on an OpenAI-compatible server (POST /v1/embeddings {model, input:[...]} ->
 * {data:[{index, embedding}]}), e.g. llama.cpp's llama-server or vLLM; probes one text at open
 * (the dimension, and the model id the server reports as version). Errors as the Ollama one. */
int lh_ai_openai_embedder_open(const lh_ai_http_opts *opts, lh_ai_embedder **out, lh_error *err);
/* Opens the embedder the configuration names (embedder = glove | ollama | openai, with
 * embedder_url, embedder_model, ai_api_key, ai_timeout_ms, glove_path). LH_EINVAL for an
 * unknown provider; otherwise as the provider's open. Caller frees. */
int lh_ai_embedder_open(const lh_config *cfg, lh_ai_embedder **out, lh_error *err);

/* ----------------------------------------------------------- generators */

/* A chat model that writes answers: opaque. */
typedef struct lh_ai_generator lh_ai_generator;

/* One chat message. Borrowed strings. */
typedef struct lh_ai_message {
    const char *role; /* "system", "user" or "assistant" */
    const char *content;
} lh_ai_message;

/* Options of one generation; NULL = no streaming callback, server defaults. */
typedef struct lh_ai_gen_opts {
    /* Called with each piece of the answer as it arrives; return non-zero to cancel. */
    int (*on_token)(const char *text, size_t len, void *arg);
    void *arg;
    const volatile int *cancel; /* set non-zero (from any thread) to cancel */
    double temperature;         /* < 0 = server default */
    int max_tokens;             /* 0 = server default */
} lh_ai_gen_opts;

/* Opens a generator on Ollama (POST /api/chat, streamed NDJSON); checks at open that the
 * server answers and has the model (LH_EUNAVAIL / LH_ENOENT). opts->model is required.
 * Caller frees with lh_ai_generator_free. */
int lh_ai_ollama_generator_open(const lh_ai_http_opts *opts, lh_ai_generator **out, lh_error *err);
/* Opens a generator on an OpenAI-compatible server (POST /v1/chat/completions, streamed as
 * server-sent events); checks GET /v1/models for the model when the server lists them. */
int lh_ai_openai_generator_open(const lh_ai_http_opts *opts, lh_ai_generator **out, lh_error *err);
/* Opens the generator the configuration names (generator = none | ollama | openai); for none,
 * returns LH_OK with *out = NULL: the caller answers without a language model. */
int lh_ai_generator_open(const lh_config *cfg, lh_ai_generator **out, lh_error *err);
/* "ollama/<model>" or "openai/<model>" (borrowed). */
const char *lh_ai_generator_name(const lh_ai_generator *g);
/* Sends the conversation and streams the answer to opts->on_token; *out_text (may be NULL)
 * gets the whole answer (caller frees). LH_ECANCELED when canceled, LH_ETIMEOUT past
 * timeout_ms, LH_EUNAVAIL when the server is unreachable or the stream breaks off before its
 * end, LH_ENOENT when the model is missing; *out_text is NULL on any error. */
int lh_ai_generate(lh_ai_generator *g, const lh_ai_message *msgs, size_t n,
                   const lh_ai_gen_opts *opts, char **out_text, lh_error *err);
/* Frees a generator. Accepts NULL. */
void lh_ai_generator_free(lh_ai_generator *g);

#endif
