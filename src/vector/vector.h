/*
 * vector — embedding store (Parquet), HNSW graph index (SIMD distance kernels, filtered
 * search, int8 scalar quantization, mmap persistence), exact search and evaluation.
 *
 * Row ids. An index holds vectors at row ids 0..n-1, in insertion order; for an index built
 * from an embedding-store Parquet file the row id is the row's position in that file. Allow
 * sets and results speak row ids; callers map them to doc_id/chunk_id through the store.
 *
 * Threads. A published index (built, loaded, or after the last insert returned) can be searched
 * from any number of threads at once without locks. lh_hnsw_insert and lh_hnsw_delete may run
 * concurrently with searches: inserts are serialised by a writer mutex inside the index and
 * publish new links with release stores that searches read with acquire loads. lh_hnsw_free
 * and lh_hnsw_save must not overlap any other call on the same index.
 */
#ifndef LH_VECTOR_H
#define LH_VECTOR_H

#include "catalog/catalog.h"
#include "core/core.h"
#include "storage/storage.h"

typedef enum lh_vector_metric {
    LH_METRIC_L2 = 0,     /* squared Euclidean distance */
    LH_METRIC_IP = 1,     /* distance = -dot(a, b) */
    LH_METRIC_COSINE = 2, /* distance = 1 - cos(a, b); vectors are normalised on insert */
} lh_vector_metric;

typedef enum lh_vector_quant {
    LH_QUANT_NONE = 0, /* search on float32 */
    LH_QUANT_INT8 = 1, /* search on 8-bit per-dimension scalar codes, re-rank on float32 */
} lh_vector_quant;

/* Build parameters. Fill with lh_hnsw_params_default and change what you need. */
typedef struct lh_hnsw_params {
    int m;                   /* links per node on upper levels (2*m on level 0); default 16 */
    int ef_construction;     /* beam width while building; default 100 */
    int ef_search;           /* default beam width for searches; default 64 */
    lh_vector_metric metric; /* default LH_METRIC_COSINE */
    lh_vector_quant quant;   /* default LH_QUANT_NONE */
    int threads;             /* build threads; 0 = one per core */
    size_t capacity;         /* room for rows incl. later inserts; 0 = n + max(1024, n/4) */
    uint64_t seed;           /* level generator seed; default 42 (builds are deterministic
                                single-threaded, equally good multi-threaded) */
    /* Optional: called by lh_hnsw_build on the calling thread with the fraction of rows
     * linked so far (0..1); not stored with the index. Default NULL. */
    void (*progress)(void *ctx, double fraction);
    void *progress_ctx;
} lh_hnsw_params;

/* Opaque HNSW index. */
typedef struct lh_hnsw lh_hnsw;

/* One search result: a row id and its distance under the index metric (smaller is closer). */
typedef struct lh_vector_hit {
    int64_t id;
    float distance;
} lh_vector_hit;

/* A set of row ids as a bitset (bit i of words[i/64] = row i allowed). Build one with
 * lh_vector_bitset_new or point words at your own memory; nbits may be less than the index
 * size (rows past nbits are not allowed). */
typedef struct lh_vector_bitset {
    uint64_t *words;
    size_t nbits;
} lh_vector_bitset;

/* How a filtered search runs. */
typedef enum lh_vector_strategy {
    LH_STRATEGY_AUTO = 0,  /* choose from the allow-set's estimated selectivity */
    LH_STRATEGY_GRAPH = 1, /* filtered graph traversal */
    LH_STRATEGY_EXACT = 2, /* brute force over the allowed rows */
} lh_vector_strategy;

/* Options of one search; NULL means k = 10, the index's ef_search, no filter, AUTO. */
typedef struct lh_hnsw_search_opts {
    int k;                         /* results wanted (>= 1) */
    int ef_search;                 /* 0 = the index default; raised to k if smaller */
    const lh_vector_bitset *allow; /* NULL = every live row */
    lh_vector_strategy strategy;
    int used_strategy; /* out: LH_STRATEGY_GRAPH or LH_STRATEGY_EXACT */
} lh_hnsw_search_opts;

/* Per-thread search scratch (visited tags, beam). Reusing one avoids any allocation per
 * search; searches without one use a thread-local context. */
typedef struct lh_hnsw_ctx lh_hnsw_ctx;

/* ------------------------------------------------------------- kernels */

/* Name of the distance kernel set chosen for this CPU: "avx512", "avx2" or "scalar". */
const char *lh_vector_kernel_name(void);
/* Forces a kernel set ("scalar", "avx2", "avx512", or NULL/"auto" for the best supported);
 * LH_EUNSUPPORTED if this CPU lacks it. For tests and benchmarks; not thread-safe. */
int lh_vector_kernel_select(const char *name, lh_error *err);
/* Dot product of two float vectors with the named kernel set ("scalar"/"avx2"/"avx512");
 * returns LH_EUNSUPPORTED if unavailable. For tests. */
int lh_vector_kernel_dot(const char *name, const float *a, const float *b, size_t d, float *out,
                         lh_error *err);
/* Squared L2 distance with the named kernel set; as lh_vector_kernel_dot. */
int lh_vector_kernel_l2sq(const char *name, const float *a, const float *b, size_t d, float *out,
                          lh_error *err);
/* sum_j codes[j] * w[j] (uint8 codes, float weights) with the named kernel set. */
int lh_vector_kernel_u8dot(const char *name, const uint8_t *codes, const float *w, size_t d,
                           float *out, lh_error *err);
/* sum_j a[j] * b[j] with b in fp16 (IEEE binary16 bits), as the graph build computes it. */
int lh_vector_kernel_f16dot(const char *name, const float *a, const uint16_t *b, size_t d,
                            float *out, lh_error *err);
/* Squared L2 distance between float a and fp16 b; as lh_vector_kernel_f16dot. */
int lh_vector_kernel_f16l2sq(const char *name, const float *a, const uint16_t *b, size_t d,
                             float *out, lh_error *err);
/* Rounds n floats to fp16 bits (nearest even) into out, the form the f16 kernels read. */
void lh_vector_f16_encode(const float *x, uint16_t *out, size_t n);

/* ------------------------------------------------------------- bitsets */

/* Allocates an all-clear bitset of nbits; caller frees with lh_vector_bitset_free.
 * LH_EINVAL if nbits is 0. */
int lh_vector_bitset_new(size_t nbits, lh_vector_bitset *out, lh_error *err);
/* Sets bit i (ignored if i >= nbits). */
void lh_vector_bitset_set(lh_vector_bitset *b, size_t i);
/* Number of set bits. */
size_t lh_vector_bitset_count(const lh_vector_bitset *b);
/* Frees the words of a bitset made by lh_vector_bitset_new. Accepts NULL. */
void lh_vector_bitset_free(lh_vector_bitset *b);

/* ---------------------------------------------------------------- HNSW */

/* Fills p with the defaults listed in lh_hnsw_params. */
void lh_hnsw_params_default(lh_hnsw_params *p);

/* Builds an index over n vectors of dim floats (row-major, copied). Caller frees *out with
 * lh_hnsw_free. LH_EINVAL on bad parameters or non-finite values (err names the row). */
int lh_hnsw_build(const float *vectors, size_t n, size_t dim, const lh_hnsw_params *params,
                  lh_hnsw **out, lh_error *err);
/* Creates an empty index with room for params->capacity rows (0 means 1024). */
int lh_hnsw_new(size_t dim, const lh_hnsw_params *params, lh_hnsw **out, lh_error *err);
/* Adds one vector and returns its row id in *out_id (may be NULL). LH_ETOOBIG when the index
 * is full, LH_EUNSUPPORTED on a read-only (loaded) index (clone it first), LH_EINVAL on
 * non-finite values. Safe alongside searches; inserts are serialised. */
int lh_hnsw_insert(lh_hnsw *h, const float *vector, int64_t *out_id, lh_error *err);
/* Marks a row deleted (tombstone): it is excluded from all results and dropped by
 * lh_hnsw_compact. LH_ENOENT if the row does not exist; deleting twice succeeds. */
int lh_hnsw_delete(lh_hnsw *h, int64_t id, lh_error *err);
/* k nearest live rows to query into hits (room for opts->k); *out_count gets how many were
 * found. ctx may be NULL (a thread-local one is used). LH_EINVAL on bad k or a query of the
 * wrong shape; never allocates when ctx is given and already sized for this index. */
int lh_hnsw_search(const lh_hnsw *h, lh_hnsw_ctx *ctx, const float *query,
                   lh_hnsw_search_opts *opts, lh_vector_hit *hits, size_t *out_count,
                   lh_error *err);
/* Brute-force k nearest live rows (of the allow-set if given) to query; the ground truth. */
int lh_hnsw_search_exact(const lh_hnsw *h, const float *query, size_t k,
                         const lh_vector_bitset *allow, lh_vector_hit *hits, size_t *out_count,
                         lh_error *err);
/* Copies an index (e.g. a loaded, read-only one) into a mutable one with room for capacity
 * rows (0 = as for build) and without tombstoned rows' results changing. Caller frees. */
int lh_hnsw_clone(const lh_hnsw *h, size_t capacity, lh_hnsw **out, lh_error *err);
/* Rebuilds the index without its tombstoned rows; old_to_new (may be NULL, room for
 * lh_hnsw_size rows) maps old row ids to new ones or -1. Caller frees *out. */
int lh_hnsw_compact(const lh_hnsw *h, int64_t *old_to_new, lh_hnsw **out, lh_error *err);
/* Frees an index (unmapping a loaded one). Accepts NULL. */
void lh_hnsw_free(lh_hnsw *h);

/* Number of rows (including tombstoned ones). */
size_t lh_hnsw_size(const lh_hnsw *h);
/* Vector dimension. */
size_t lh_hnsw_dim(const lh_hnsw *h);
/* The parameters the index was built with (capacity = current capacity). */
void lh_hnsw_get_params(const lh_hnsw *h, lh_hnsw_params *out);
/* Bytes the index needs in RAM to search: graph plus the vectors searched on (float32, or
 * int8 codes in quantized mode, whose float32 re-rank copy stays on disk when mapped). */
size_t lh_hnsw_memory_bytes(const lh_hnsw *h);
/* The float32 vector stored for a row (normalised for cosine); borrowed, NULL if no row. */
const float *lh_hnsw_vector(const lh_hnsw *h, int64_t id);
/* Seconds the last lh_hnsw_build took (0 for loaded indexes unless saved after a build). */
double lh_hnsw_build_seconds(const lh_hnsw *h);

/* Allocates a search context; caller frees with lh_hnsw_ctx_free. NULL only if out of memory. */
lh_hnsw_ctx *lh_hnsw_ctx_new(void);
/* Frees a search context. Accepts NULL. */
void lh_hnsw_ctx_free(lh_hnsw_ctx *ctx);

/* --------------------------------------------------------- persistence */

/* Writes the index to path (atomically: temp file + rename) in the versioned, checksummed
 * format described in docs/adr/0003-vector-index-file.md. LH_EIO with err on failure. */
int lh_hnsw_save(const lh_hnsw *h, const char *path, lh_error *err);
/* Maps an index file read-only (no parse step) after checking magic, version, sizes and
 * checksums (verify = false skips the per-section body checksums, not the structure checks).
 * LH_ECORRUPT names what is wrong with a damaged or truncated file. Caller frees. */
int lh_hnsw_load(const char *path, bool verify, lh_hnsw **out, lh_error *err);
/* Saves the index under vectors/<index>/<generation>/hnsw.bin through storage (tmp_dir holds
 * the temporary local copy). */
int lh_hnsw_store(const lh_hnsw *h, lh_storage *s, const char *index, const char *generation,
                  const char *tmp_dir, lh_error *err);
/* Loads vectors/<index>/<generation>/hnsw.bin, mapping it in place when the backend keeps
 * local files, otherwise after downloading it into cache_dir. Caller frees *out. */
int lh_hnsw_fetch(lh_storage *s, const char *index, const char *generation, const char *cache_dir,
                  lh_hnsw **out, lh_error *err);

/* ----------------------------------------------------------- evaluation */

/* What lh_hnsw_eval measured. */
typedef struct lh_vector_eval {
    double recall; /* mean recall@k against exact search */
    double p50_us; /* per-query latency percentiles, microseconds */
    double p95_us;
    double qps;          /* queries per second with `threads` threads */
    double build_s;      /* lh_hnsw_build_seconds */
    size_t memory_bytes; /* lh_hnsw_memory_bytes */
    size_t bytes_per_vector;
} lh_vector_eval;

/* Runs nq queries (row-major, dim floats each) with k and ef_search on `threads` threads (0 =
 * cores) and measures recall@k against truth (nq*k row ids from exact search; NULL computes
 * it), latency, QPS, build time and memory. allow may be NULL. */
int lh_hnsw_eval(const lh_hnsw *h, const float *queries, size_t nq, const int64_t *truth, int k,
                 int ef_search, const lh_vector_bitset *allow, int threads, lh_vector_eval *out,
                 lh_error *err);
/* Exact k nearest rows of the index for nq queries, multi-threaded; ids_out gets nq*k row ids
 * (-1 where fewer than k rows exist). The ground truth for recall. */
int lh_hnsw_exact_knn(const lh_hnsw *h, const float *queries, size_t nq, int k,
                      const lh_vector_bitset *allow, int threads, int64_t *ids_out, lh_error *err);

/* -------------------------------------------------------- embedding store */

/* One batch of embeddings for the store. Borrowed arrays of n entries; vectors is n*dim. */
typedef struct lh_vector_rows {
    size_t n;
    size_t dim;
    const char *const *doc_ids;
    const int64_t *chunk_ids;
    const char *const *chunk_texts; /* may be NULL: stored as NULL */
    const float *vectors;
} lh_vector_rows;

/* Embeddings read back from a store file. Free with lh_vector_store_data_free. */
typedef struct lh_vector_store_data {
    size_t n;
    size_t dim;
    char **doc_ids;
    int64_t *chunk_ids;
    char **chunk_texts; /* entries may be NULL */
    float *vectors;     /* n*dim */
    char *model;        /* from the Parquet key-value metadata */
    char *model_version;
} lh_vector_store_data;

/* Writes rows to a Parquet file at path (doc_id VARCHAR, chunk_id BIGINT, chunk_text VARCHAR,
 * vector FLOAT[dim]) with model and model_version in its key-value metadata, via DuckDB.
 * LH_EINVAL on bad input, LH_EIO when DuckDB fails (err carries its message). */
int lh_vector_store_write(const char *path, const char *model, const char *model_version,
                          const lh_vector_rows *rows, lh_error *err);
/* Reads a store file written by lh_vector_store_write (or any Parquet file with those
 * columns; texts optional with with_text = false). Caller frees out. LH_ECORRUPT if the
 * vector column is missing, not FLOAT[d]/LIST, or ragged. */
int lh_vector_store_read(const char *path, bool with_text, lh_vector_store_data *out,
                         lh_error *err);
/* Frees what lh_vector_store_read filled. Accepts NULL. */
void lh_vector_store_data_free(lh_vector_store_data *d);

/* Builds an index from the vector column of a store Parquet file (row id = row position). The
 * CLI's `lakehouse index build`. Caller frees *out. */
int lh_vector_index_build(const char *parquet_path, const lh_hnsw_params *params, lh_hnsw **out,
                          lh_error *err);

/* -------------------------------------------------------- dataset indexes */

/*
 * An index over a dataset column lives in the lake next to the data:
 *   vectors/<index>/<generation>/claim.json   who claimed the generation (first write)
 *   vectors/<index>/<generation>/hnsw.bin     the graph (lh_hnsw_store)
 *   vectors/<index>/<generation>/ids.jsonl    with an id column: one JSON value per row
 *   vectors/<index>/<generation>/index.json   the metadata (lh_vector_index_meta), last
 *   vectors/<index>/_current/<n>.json         pointer log: the highest record is current
 * Generations g00000001, g00000002, ... are claimed by put-if-absent of claim.json, so two
 * builders never share one; a generation is published by put-if-absent of the next pointer
 * record once all its objects are written, so a reader that follows the pointer always finds
 * a complete generation, and rebuilding never disturbs the generation being served. Graph
 * row ids are the dataset's row positions at the indexed version: file i's row r is
 * files[i].base + r (read_parquet's file_row_number), the files in manifest order.
 */

/* What lh_vector_index_create builds. Borrowed strings. */
typedef struct lh_vector_index_spec {
    const char *dataset;   /* indexed at its current catalog version */
    const char *column;    /* FLOAT[], DOUBLE[], FLOAT[d], ... (any number array) */
    const char *name;      /* NULL: "<dataset>_<column>" (lower-cased, [a-z0-9_]) */
    const char *id_column; /* NULL: hits are row positions */
    const char *model;     /* embedding model if known (else the dataset's "model" metadata) */
    lh_hnsw_params params; /* progress is ignored: use the one below */
    const char *tmp_dir;   /* local scratch for the graph file */
    void (*progress)(void *ctx, double fraction); /* whole build, 0..1; may be NULL */
    void *progress_ctx;
} lh_vector_index_spec;

/* One generation's metadata (index.json). Free with lh_vector_index_meta_free. */
typedef struct lh_vector_index_meta {
    char *index;
    char *generation;
    char *dataset;
    int64_t dataset_version;
    char *column;
    char *id_column; /* NULL: row positions */
    char *model;     /* NULL if unknown */
    size_t dim;
    int64_t count;
    lh_hnsw_params params; /* m, ef_construction, ef_search, metric, quant */
    int64_t created_us;
    size_t nfiles;
    char **file_keys;    /* data files of the indexed version, in row-position order */
    int64_t *file_bases; /* position of each file's first row */
    json_t *json;        /* the whole stored document */
} lh_vector_index_meta;

/* Frees what a meta holds. Accepts NULL. */
void lh_vector_index_meta_free(lh_vector_index_meta *m);
/* Parses "cosine"/"ip"/"l2" (LH_EINVAL otherwise). */
int lh_vector_metric_parse(const char *s, lh_vector_metric *out, lh_error *err);
/* "cosine", "ip" or "l2". */
const char *lh_vector_metric_name(lh_vector_metric m);

/* Builds an index over spec->column of the dataset's current version and publishes it as a
 * new generation; *out (may be NULL; free with lh_vector_index_meta_free) gets its metadata.
 * LH_ENOENT for an unknown dataset or column, LH_EINVAL (err names the row) for a column
 * that is not a number array, NULL or ragged vectors, non-finite values or an empty dataset;
 * nothing is published then. */
int lh_vector_index_create(lh_catalog *cat, const lh_identity *who,
                           const lh_vector_index_spec *spec, lh_vector_index_meta *out,
                           lh_error *err);
/* Stores a graph built elsewhere as a new generation of spec's index (named as for create)
 * over dataset version m (graph row i = row position i) and publishes it; ids holds m->rows
 * JSON texts of the id column or is NULL. LH_EINVAL if the graph and m disagree on rows. */
int lh_vector_index_publish(lh_storage *s, const lh_identity *who, const lh_vector_index_spec *spec,
                            const lh_manifest *m, const lh_hnsw *h, const char *const *ids,
                            lh_vector_index_meta *out, lh_error *err);
/* Room for a generation name ("g00000001"). */
#define LH_VECTOR_GEN_MAX 32
/* Claims the next generation of index for a build that writes its own objects under
 * vectors/<index>/<gen>/ (gen receives the name); nothing is visible until
 * lh_vector_index_commit. LH_EINVAL for a bad name, LH_ECONFLICT after many lost races. */
int lh_vector_index_claim(lh_storage *s, const lh_identity *who, const char *index,
                          char gen[LH_VECTOR_GEN_MAX], lh_error *err);
/* Writes index.json for a claimed generation (graph h already stored there; its rows need not
 * be dataset rows, e.g. text chunks) with the fields of extra (may be NULL) added, then
 * publishes it. sp->name is required. *out (may be NULL) gets the metadata. */
int lh_vector_index_commit(lh_storage *s, const lh_identity *who, const lh_vector_index_spec *sp,
                           const lh_manifest *m, const char *gen, const lh_hnsw *h,
                           const json_t *extra, lh_vector_index_meta *out, lh_error *err);
/* Names of the published indexes, sorted; free with lh_catalog_names_free. */
int lh_vector_index_list(lh_storage *s, char ***names, size_t *count, lh_error *err);
/* The current generation's metadata; LH_ENOENT if no such index. Free out's contents. */
int lh_vector_index_current(lh_storage *s, const char *index, lh_vector_index_meta *out,
                            lh_error *err);
/* {"name","current","generations":[{"generation","published_at","current",meta...}]} for an
 * index (pointer log order); caller json_decref()s. LH_ENOENT if no such index. */
int lh_vector_index_describe(lh_storage *s, const char *index, json_t **out, lh_error *err);

/* What lh_vector_index_gc found and did. */
typedef struct lh_vector_gc_report {
    int64_t generations; /* generation folders looked at */
    int64_t published;   /* of those, named by a pointer record */
    int64_t abandoned;   /* unpublished, untouched for the grace period: removed */
    int64_t young;       /* unpublished but touched within the grace period: kept */
    int64_t retired;     /* published, older than the newest `keep`: removed */
    int64_t objects;     /* objects removed (pointer records included) */
    int64_t bytes;       /* their size */
    json_t *removed;     /* [{"index","generation","reason","objects","bytes"}]; decref it */
} lh_vector_gc_report;

/* Removes generation folders of index (NULL: every index under vectors/) that no pointer
 * record names and whose newest object is older than grace_s seconds (left by builds that
 * died before publishing; the grace protects builds in flight), and with keep > 0 the
 * published generations beyond the newest keep in publication order, with the pointer records
 * naming them; the current generation is never removed. dry_run only reports. Everything is
 * listed and read before the first delete: a listing or read error (e.g. an unreadable pointer
 * record) removes nothing. LH_EINVAL for keep < 0 or grace_s < 0. */
int lh_vector_index_gc(lh_storage *s, const char *index, int64_t grace_s, int keep, bool dry_run,
                       lh_vector_gc_report *out, lh_error *err);

/* A loaded generation: metadata, mapped graph, ids. Shared by reference. */
typedef struct lh_vector_index lh_vector_index;

/* Loads the current generation of index (graph mapped from the lake, or fetched into
 * cache_dir); caller releases. LH_ENOENT if no such index, LH_ECORRUPT for damaged files. */
int lh_vector_index_open(lh_storage *s, const char *index, const char *cache_dir,
                         lh_vector_index **out, lh_error *err);
/* Drops a reference; the last one frees the index. Accepts NULL. */
void lh_vector_index_release(lh_vector_index *v);
/* The metadata (borrowed, lives as long as v). */
const lh_vector_index_meta *lh_vector_index_meta_of(const lh_vector_index *v);
/* The graph (borrowed, lives as long as v). */
const lh_hnsw *lh_vector_index_graph(const lh_vector_index *v);
/* The id column's value of a row as JSON text (borrowed), or NULL when the index has no id
 * column (the row position is the id) or the row does not exist. */
const char *lh_vector_index_row_id(const lh_vector_index *v, int64_t row);
/* The row whose id is `id` (text; a row position without an id column). LH_ENOENT if none. */
int lh_vector_index_find_row(const lh_vector_index *v, const char *id, int64_t *row, lh_error *err);

/* Reads a query vector from a JSON array of numbers of the index's dimension into out
 * (room for lh_hnsw_dim floats). LH_EINVAL naming the problem (not an array, wrong length,
 * a non-number or non-finite entry). */
int lh_vector_index_query_from_json(const lh_vector_index *v, const json_t *j, float *out,
                                    lh_error *err);
/* Hits as a JSON array of {"row", "id" (the id column's value, or the row), "distance"};
 * caller json_decref()s. */
json_t *lh_vector_index_hits_json(const lh_vector_index *v, const lh_vector_hit *hits, size_t n);

/* Copies the allow-set cached on this loaded generation under key (the filter text and what
 * else the set depends on) into *words ((count + 63) / 64 words; caller frees) and its number
 * of set bits into *matches; false on a miss (or out of memory). Thread-safe. */
bool lh_vector_index_allow_get(lh_vector_index *v, const char *key, uint64_t **words,
                               int64_t *matches);
/* Caches a copy of an allow-set over this generation's rows under key, evicting the least
 * recently used of the 16 kept per generation. Thread-safe; out of memory skips caching. */
void lh_vector_index_allow_put(lh_vector_index *v, const char *key, const uint64_t *words,
                               int64_t matches);

/* Loaded indexes shared by a server's threads, reloaded when a new generation is published
 * (checked at most every 500 ms per index). */
typedef struct lh_vector_registry lh_vector_registry;
/* Creates an empty registry over s (borrowed); never NULL. */
lh_vector_registry *lh_vector_registry_new(lh_storage *s, const char *cache_dir);
/* Frees the registry and drops its references. Accepts NULL. */
void lh_vector_registry_free(lh_vector_registry *r);
/* The current generation of index, loading it if needed; caller releases *out. Searches on
 * it need no lock. LH_ENOENT if no such index. Thread-safe. */
int lh_vector_registry_get(lh_vector_registry *r, const char *index, lh_vector_index **out,
                           lh_error *err);

#endif
