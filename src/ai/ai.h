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
#include "query/query.h"
#include "vector/vector.h"

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
    int64_t id;      /* the chunk's row in the index (for lh_ai_lexical_snippets) */
    double score;    /* BM25 (higher is better) */
    char *highlight; /* a snippet of the chunk with the matched words in <mark>...</mark>;
                        NULL when not asked for */
} lh_ai_lexical_hit;

/* How lh_ai_lexical_query ranks. */
typedef struct lh_ai_lexical_opts {
    size_t k;                      /* 1..1000 */
    const lh_vector_bitset *allow; /* chunk ids (bit chunk_id) that may be returned; NULL = all */
    bool snippets;                 /* fill each hit's highlight */
    bool no_doc_ids;               /* leave each hit's doc_id NULL (saves a lookup per hit) */
} lh_ai_lexical_opts;

/* What a ranking read (for tests and benchmarks). */
typedef struct lh_ai_lexical_info {
    size_t terms;      /* distinct query phrases found in the index */
    size_t terms_read; /* of those, how many had their chunks read before the top k was sure */
    size_t scored;     /* chunks scored */
} lh_ai_lexical_info;

/* Opens (creating if absent) the index file at path (":memory:" for a private in-memory one).
 * LH_EIO if SQLite cannot open it, LH_ECORRUPT if it is not a lexical index of this version.
 * Caller closes with lh_ai_lexical_close. */
int lh_ai_lexical_open(const char *path, lh_ai_lexical **out, lh_error *err);
/* Adds or replaces (same doc_id and chunk_id) n chunks in one transaction: all or nothing.
 * LH_EINVAL naming the chunk for a missing doc_id/text or invalid UTF-8. */
int lh_ai_lexical_add(lh_ai_lexical *x, const lh_ai_lexical_doc *docs, size_t n, lh_error *err);
/* Removes every chunk of doc_id; *removed (may be NULL) gets how many. */
int lh_ai_lexical_delete_doc(lh_ai_lexical *x, const char *doc_id, size_t *removed, lh_error *err);
/* Merges the index's FTS5 segments into one (after a bulk add: each search then looks each
 * word up once instead of once per segment). LH_EIO if SQLite fails; the index is unchanged. */
int lh_ai_lexical_optimize(lh_ai_lexical *x, lh_error *err);
/* Number of chunks in the index. */
int lh_ai_lexical_count(lh_ai_lexical *x, int64_t *out, lh_error *err);
/* Replaces the whole index by the chunks (doc_id, chunk_id, chunk_text; rows with a NULL text
 * skipped) of an embedding-store Parquet file (lh_vector_store_write). All or nothing. */
int lh_ai_lexical_rebuild_from_store(lh_ai_lexical *x, const char *parquet_path, lh_error *err);
/* The k (1..1000) best chunks for a query by BM25, with snippets (lh_ai_lexical_query). The query
 * is user text, never FTS syntax: its words are quoted as terms and OR-ed, so operators, quotes,
 * column filters and NEAR are plain words. LH_EINVAL for a query with no words, invalid UTF-8 or a
 * bad k; LH_ETOOBIG over 4 KiB. *out (free with lh_ai_lexical_hits_free) gets *n_out hits, best
 * first. */
int lh_ai_lexical_search(lh_ai_lexical *x, const char *query, size_t k, lh_ai_lexical_hit **out,
                         size_t *n_out, lh_error *err);
/* The exact top o->k chunks by FTS5's BM25 (the scores bm25() gives, ties by index row),
 * among the chunks o->allow lets through, without scoring every chunk that holds a query word
 * (term-level MaxScore over statistics cached per handle). Same query rules and errors as
 * lh_ai_lexical_search; *info (may be NULL) gets what was read. */
int lh_ai_lexical_query(lh_ai_lexical *x, const char *query, const lh_ai_lexical_opts *o,
                        lh_ai_lexical_hit **out, size_t *n_out, lh_ai_lexical_info *info,
                        lh_error *err);
/* The snippets of index rows ids[0..n) (hits' ids) for query, words in <mark>...</mark>, in
 * one prepared statement: out[i] (caller frees each) is NULL for a row that does not match.
 * On error all out[i] are NULL. */
int lh_ai_lexical_snippets(lh_ai_lexical *x, const char *query, const int64_t *ids, size_t n,
                           char **out, lh_error *err);
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

/* --------------------------------------------------------- text indexes */

/*
 * A text index over a dataset column: each non-blank value is chunked, each chunk embedded,
 * and the generation vectors/<index>/<gen>/ (lh_vector_index_claim/commit) holds
 *   chunks.parquet  the embedding store: doc_id = row position, chunk_id = graph row,
 *                   chunk_text, vector (lh_vector_store_write), model in its metadata
 *   chunks.jsonl    one [row, char_start, char_end] per chunk: where it is in its value
 *   hnsw.bin        the graph over the chunk vectors (cosine)
 *   lexical.sqlite  the FTS5 index of the chunk texts (derived: rebuilt from chunks.parquet
 *                   when missing)
 *   index.json      "kind": "text", chunking, embedder, dataset_rows, reuse figures
 */

/* What lh_ai_text_index_build indexes. Borrowed strings. */
typedef struct lh_ai_text_spec {
    const char *dataset;    /* indexed at its current version */
    const char *column;     /* any column; values are cast to text, NULLs skipped */
    const char *name;       /* NULL: "<dataset>_<column>_text" (lower-cased, [a-z0-9_]) */
    lh_ai_chunk_opts chunk; /* size 0: 1000 characters, 150 overlap */
    const char *tmp_dir;    /* local scratch; NULL = /tmp */
    void (*progress)(void *ctx, double fraction); /* whole build, 0..1; may be NULL */
    void *progress_ctx;
    const volatile int *cancel; /* set non-zero to stop: LH_ECANCELED, nothing published */
    const char *checkpoint;     /* key prefix (ending in '/') where embedded chunks are saved
                                   every checkpoint_every chunks and read back by the next
                                   build with the same prefix (resuming); NULL = none */
    size_t checkpoint_every;    /* 0 = 10000 */
} lh_ai_text_spec;

/* What a build did (for progress reports and benchmarks). */
typedef struct lh_ai_text_build_stats {
    int64_t rows;     /* rows with text */
    int64_t chunks;   /* chunks indexed */
    int64_t embedded; /* chunks embedded now */
    int64_t reused;   /* chunks whose vector came from the previous generation (same text) */
    double seconds;
} lh_ai_text_build_stats;

/* Chunks, embeds (with e; vectors of unchanged chunk texts are taken from the index's current
 * generation when it used the same model and chunking) and indexes spec->column of the
 * dataset's current version, then publishes a new generation. *out and *stats may be NULL.
 * LH_ENOENT for an unknown dataset or column, LH_EINVAL for bad options or a column with no
 * text, LH_ECANCELED when canceled; embedder errors as lh_ai_embed. Nothing is published
 * on error. */
int lh_ai_text_index_build(lh_catalog *cat, lh_query *q, lh_ai_embedder *e, const lh_identity *who,
                           const lh_ai_text_spec *spec, lh_vector_index_meta *out,
                           lh_ai_text_build_stats *stats, lh_error *err);

/* A loaded text index generation: graph, chunk map and texts, lexical index. Shared by
 * reference; searches on it need no lock. */
typedef struct lh_ai_text_index lh_ai_text_index;

/* Text indexes shared by a server's threads, following lh_vector_registry's generations.
 * Thread-safe. */
typedef struct lh_ai_text_registry lh_ai_text_registry;
/* Creates a registry over the vector registry vr and store s (both borrowed); never NULL. */
lh_ai_text_registry *lh_ai_text_registry_new(lh_vector_registry *vr, lh_storage *s,
                                             const char *cache_dir);
/* Frees the registry and drops its references. Accepts NULL. */
void lh_ai_text_registry_free(lh_ai_text_registry *r);
/* The current generation of a text index, loading it if needed; caller releases.
 * LH_ENOENT if no such index, LH_EINVAL if index is a vector index that is not a text one. */
int lh_ai_text_registry_get(lh_ai_text_registry *r, const char *index, lh_ai_text_index **out,
                            lh_error *err);
/* The name of the newest text index over dataset (any column), or LH_ENOENT. Caller frees. */
int lh_ai_text_index_for_dataset(lh_storage *s, const char *dataset, char **out, lh_error *err);
/* Drops a reference. Accepts NULL. */
void lh_ai_text_index_release(lh_ai_text_index *t);
/* The generation's metadata (borrowed). */
const lh_vector_index_meta *lh_ai_text_index_meta(const lh_ai_text_index *t);

/* How a search ranks. */
typedef enum lh_ai_search_mode {
    LH_AI_SEARCH_HYBRID = 0, /* reciprocal rank fusion of the two below */
    LH_AI_SEARCH_VECTOR = 1, /* embedding similarity (HNSW) */
    LH_AI_SEARCH_LEXICAL = 2 /* BM25 */
} lh_ai_search_mode;

/* Parses "hybrid" / "vector" / "lexical" (LH_EINVAL naming the choices otherwise). */
int lh_ai_search_mode_parse(const char *s, lh_ai_search_mode *out, lh_error *err);
/* "hybrid", "vector" or "lexical". */
const char *lh_ai_search_mode_name(lh_ai_search_mode m);

/* Limits of a search request. */
#define LH_AI_SEARCH_QUERY_MAX 4096
#define LH_AI_SEARCH_K_MAX 100

/* One search. Borrowed strings. */
typedef struct lh_ai_search_opts {
    const char *query; /* user text: 1..LH_AI_SEARCH_QUERY_MAX bytes of UTF-8 */
    lh_ai_search_mode mode;
    int k;                 /* 1..LH_AI_SEARCH_K_MAX; 0 = 10 */
    const char *filter;    /* SQL predicate over the dataset's rows, or NULL */
    double vector_weight;  /* hybrid weight of the vector ranking; 0 = 0.5 (bench/retrieval) */
    double lexical_weight; /* of the BM25 ranking; 0 = 1 */
    int rrf_k;             /* RRF constant; 0 = 60 */
    int ef_search;         /* 0 = the index's */
    bool include_rows;     /* fetch each hit's row (all columns but the indexed one) */
} lh_ai_search_opts;

/* Searches a text index and returns the response body as JSON (caller json_decref()s):
 * {index, generation, dataset, mode, k, hits:[{rank, score, row, chunk:{id, text, char_start,
 * char_end}, scores:{vector, lexical, vector_rank, lexical_rank}, highlight, fields?}],
 * filter_matches?, elapsed_ms}. The filter is evaluated by q in the sandbox into an
 * allow-set used inside the vector search and on the lexical candidates. LH_EINVAL for an
 * empty query or query without words, bad k, weights, or filter; LH_ETOOBIG for a long query;
 * LH_EDENIED for a filter the sandbox refuses; LH_EINVAL if e is not the index's model. */
int lh_ai_text_search(lh_ai_text_index *t, lh_ai_embedder *e, lh_query *q, const lh_identity *who,
                      const lh_ai_search_opts *o, json_t **out, lh_error *err);

/* Marks the words of query found in text with <mark>...</mark> (case-insensitive, whole words
 * of 3+ letters, or sharing a 5-letter stem); returns a new string (caller frees). */
char *lh_ai_highlight(const char *query, const char *text, size_t len);

/* ------------------------------------------------------------ RAG, NL->SQL */

/* One retrieval-augmented answer. Borrowed strings. */
typedef struct lh_ai_rag_opts {
    const char *question;  /* as a search query (same limits) */
    int k;                 /* sources, 1..20; 0 = 5 */
    const char *filter;    /* SQL predicate over the dataset's rows, or NULL */
    double min_similarity; /* below this best vector similarity the context is deemed not to
                              support an answer; 0 = 0.5; < 0 = never */
    lh_ai_generator *gen;  /* NULL: no language model (passages and sentences only) */
    const lh_ai_gen_opts *gen_opts; /* may be NULL */
} lh_ai_rag_opts;

/* Answers a question from a text index: hybrid retrieval, numbered sources, then either the
 * generator's answer citing [n] or (no generator) the sentences of the sources that best answer
 * it, highlighted, with a plain statement that no language model is configured. When the
 * sources do not support an answer it says so and does not call the generator. *out (caller
 * json_decref()s): {question, answer, supported, generator, message, citations:[n],
 * sentences:[{source, text}], sources:[{n, row, chunk, text, highlight, score, scores}],
 * retrieval_ms, elapsed_ms}. Errors as lh_ai_text_search and lh_ai_generate. */
int lh_ai_rag(lh_ai_text_index *t, lh_ai_embedder *e, lh_query *q, const lh_identity *who,
              const lh_ai_rag_opts *o, json_t **out, lh_error *err);

/* NL->SQL: asks gen for one read-only query answering question over the datasets (all of them,
 * or only `dataset` if not NULL), with their columns and three sample rows each in the prompt;
 * the SQL is checked (lh_query_check, then EXPLAIN) and, if refused, asked for again once with
 * the error. *out: {question, sql, attempts:[{sql, error?}], result:{columns, rows, row_count,
 * truncated}, generator, elapsed_ms}. LH_EUNAVAIL when gen is NULL (no language model
 * configured), LH_EINVAL for an empty question or when both attempts fail (err carries the last
 * error; *out still describes the attempts), generator errors as lh_ai_generate. */
int lh_ai_ask_sql(lh_catalog *cat, lh_query *q, lh_ai_generator *gen, const lh_identity *who,
                  const char *question, const char *dataset, json_t **out, lh_error *err);

/* ---------------------------------------------------------- embed jobs */

/*
 * Background text-index builds ("embed jobs"): one worker thread runs them in order. A job's
 * record lives in the lake at _jobs/<id>.json (state queued | running | done | failed |
 * canceled, progress, chunks, throughput, error), written when it starts, about every second
 * while it runs, and when it ends; its embedded chunks are checkpointed under _jobs/<id>/ so
 * that a job interrupted by a crash or a shutdown is resumed, embedding only what it had not
 * saved, when jobs are next started over the same lake. The checkpoints are deleted when the
 * job ends.
 */
typedef struct lh_ai_jobs lh_ai_jobs;

/* Starts the worker over cat and q (borrowed; must outlive the runner). Jobs open the
 * embedder cfg names (borrowed) on first use. Unfinished jobs found in the lake are queued
 * again. Never NULL. */
lh_ai_jobs *lh_ai_jobs_start(lh_catalog *cat, lh_query *q, const lh_config *cfg);
/* Stops the worker: a running job is interrupted and left to be resumed. Accepts NULL. */
void lh_ai_jobs_stop(lh_ai_jobs *j);
/* Queues a build of spec (copied; progress, cancel and checkpoint are the runner's) and
 * returns its record (caller json_decref()s). LH_EINVAL for a missing dataset or column
 * name, LH_ENOENT for an unknown dataset. */
int lh_ai_jobs_submit(lh_ai_jobs *j, const lh_identity *who, const lh_ai_text_spec *spec,
                      json_t **out, lh_error *err);
/* Queues a rebuild of every text index over dataset (after an ingest or an append: only new
 * or changed chunks get embedded); *out gets the array of job records (empty if the dataset
 * has no text index). */
int lh_ai_jobs_embed_dataset(lh_ai_jobs *j, const lh_identity *who, const char *dataset,
                             json_t **out, lh_error *err);
/* A job's record (caller json_decref()s); LH_ENOENT if there is no such job. */
int lh_ai_jobs_get(lh_ai_jobs *j, const char *id, json_t **out, lh_error *err);
/* The records of the runner's jobs, newest first (caller json_decref()s). */
json_t *lh_ai_jobs_list(lh_ai_jobs *j);
/* Cancels a queued or running job (its record says canceled; nothing is published). LH_ENOENT
 * if there is no such job, LH_ECONFLICT if it already ended or another process runs it. */
int lh_ai_jobs_cancel(lh_ai_jobs *j, const char *id, json_t **out, lh_error *err);
/* Waits until the job ends (or timeout_ms passes: LH_ETIMEOUT); for tests and the CLI. */
int lh_ai_jobs_wait(lh_ai_jobs *j, const char *id, int timeout_ms, lh_error *err);

#endif
