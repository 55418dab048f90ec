/*
 * core — errors, string buffers, hashing, clocks, logging, config, thread pool.
 *
 * Every other module depends on this one and on nothing else below it.
 * Conventions: functions that can fail return int (0 = LH_OK, negative LH_E*)
 * and fill an optional lh_error with a message naming what and where.
 */
#ifndef LH_CORE_H
#define LH_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LH_VERSION "0.1.0"

/* ---------------------------------------------------------------- errors */

enum {
    LH_OK = 0,
    LH_EINVAL = -1,        /* bad input from the caller: malformed data, bad name, bad SQL */
    LH_ENOENT = -2,        /* the named thing does not exist */
    LH_EEXIST = -3,        /* the thing already exists (put-if-absent lost) */
    LH_EIO = -4,           /* the operating system or a backend failed */
    LH_ENOMEM = -5,        /* out of memory */
    LH_ECONFLICT = -6,     /* a concurrent writer committed first */
    LH_ECORRUPT = -7,      /* stored data fails its checks */
    LH_ETIMEOUT = -8,      /* the operation ran past its time limit */
    LH_EDENIED = -9,       /* refused by policy: sandbox, read-only, permissions */
    LH_ETOOBIG = -10,      /* over a configured size limit */
    LH_EUNSUPPORTED = -11, /* valid but not supported (format, type, option) */
    LH_EINTERNAL = -12,    /* a bug or an unexpected state in our code or a library */
    LH_ECANCELED = -13,    /* stopped by the caller */
    LH_EUNAVAIL = -14,     /* a dependency is unavailable (server down) */
};

#define LH_ERROR_MSG_MAX 1024

/* An error report: code plus a message naming what and where. Caller-allocated. */
typedef struct lh_error {
    int code;
    char msg[LH_ERROR_MSG_MAX];
} lh_error;

/* Sets err (if non-NULL) to code and a printf-style message; returns code. */
int lh_error_set(lh_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to err's message (keeps the code); returns err->code (or LH_OK if NULL).
 * Not for `return` on a failure path: with err NULL that returns LH_OK; use lh_error_wrap. */
int lh_error_prefix(lh_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepends "prefix: " to err's message (if err; a code-less err gets rc) and returns rc, so
 * `return lh_error_wrap(err, rc, "...")` fails with rc even when the caller passed no err. */
int lh_error_wrap(lh_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resets err to LH_OK with an empty message. Accepts NULL. */
void lh_error_clear(lh_error *err);

/* Static name of a code ("invalid_input", "not_found", ...); used as the API error code. */
const char *lh_error_name(int code);

/* HTTP status that fits a code (400, 404, 409, 500, ...). */
int lh_error_http_status(int code);

/* ------------------------------------------------------------ identity */

/* Who is calling. Every call that reads or writes data carries one, so that audit,
 * policies and per-profile scoping slot in without changing signatures. Borrowed strings. */
typedef struct lh_identity {
    const char *profile; /* profile name; "default" until access control exists */
    const char *actor;   /* who acted, for the journal and audit ("cli", "http 127.0.0.1") */
} lh_identity;

/* The identity used by the CLI and by unauthenticated local calls. */
extern const lh_identity lh_identity_default;

/* ------------------------------------------------------------- memory */

/* malloc/calloc/realloc/strdup that never return NULL for non-zero sizes: on
 * exhaustion they log and abort the process, which is the only sane response
 * in a server that cannot make progress without memory. */
void *lh_malloc(size_t n);
void *lh_calloc(size_t count, size_t n);
void *lh_realloc(void *p, size_t n);
char *lh_strdup(const char *s);
char *lh_strndup(const char *s, size_t n);
/* Returns a newly allocated printf-formatted string; caller frees. */
char *lh_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer, always NUL-terminated. Zero-initialise, lh_buf_free when done. */
typedef struct lh_buf {
    char *data;
    size_t len;
    size_t cap;
} lh_buf;

/* Appends n bytes. */
void lh_buf_append(lh_buf *b, const void *p, size_t n);
/* Appends a NUL-terminated string. */
void lh_buf_puts(lh_buf *b, const char *s);
/* Appends one byte. */
void lh_buf_putc(lh_buf *b, char c);
/* Appends printf-formatted text. */
void lh_buf_printf(lh_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (quoted, escaped; each invalid UTF-8 byte replaced by
 * U+FFFD; U+2028/U+2029 escaped). s NULL appends null. */
void lh_buf_json_str(lh_buf *b, const char *s, size_t n);
/* Empties the buffer, keeping its memory. */
void lh_buf_reset(lh_buf *b);
/* Releases the buffer's memory; the caller takes data if it sets b->data = NULL first. */
void lh_buf_free(lh_buf *b);
/* Returns the buffer's data (caller owns it, free()) and leaves b empty. */
char *lh_buf_steal(lh_buf *b);

/* -------------------------------------------------------------- text */

/* True if the n bytes are valid UTF-8; on false, *bad_offset (if non-NULL) is the first bad byte.
 */
bool lh_utf8_valid(const char *s, size_t n, size_t *bad_offset);

/* True if name is a valid dataset/index/profile name: 1-128 chars of [a-z0-9_], starting
 * with a letter or underscore. Fills err naming the problem when false. */
bool lh_name_valid(const char *name, lh_error *err);

/* ------------------------------------------------------------- hashing */

#define LH_SHA256_HEX 65 /* 64 hex digits + NUL */

/* SHA-256 of a memory block as lowercase hex into out. */
void lh_sha256_hex(const void *p, size_t n, char out[LH_SHA256_HEX]);
/* SHA-256 of a file's contents as hex; returns LH_OK or LH_EIO/LH_ENOENT with err. */
int lh_sha256_file(const char *path, char out[LH_SHA256_HEX], lh_error *err);

/* Incremental SHA-256 (opaque). */
typedef struct lh_sha256 lh_sha256;
/* Creates a hasher; caller frees with lh_sha256_final. */
lh_sha256 *lh_sha256_new(void);
/* Feeds bytes. */
void lh_sha256_update(lh_sha256 *h, const void *p, size_t n);
/* Writes the hex digest and frees the hasher. */
void lh_sha256_final(lh_sha256 *h, char out[LH_SHA256_HEX]);

/* A random RFC 4122 v4 UUID as 36 chars + NUL, from the OS CSPRNG. */
void lh_uuid(char out[37]);

/* 64-bit non-cryptographic hash (for hash tables, sampling). */
uint64_t lh_hash64(const void *p, size_t n, uint64_t seed);

/* -------------------------------------------------------------- clocks */

/* Monotonic time in nanoseconds (for durations). */
uint64_t lh_now_ns(void);
/* Wall-clock time in microseconds since the Unix epoch. */
int64_t lh_wall_us(void);
/* Formats a wall-clock time (µs since epoch) as RFC 3339 UTC with milliseconds
 * ("2026-11-24T06:48:00.123Z") into out (at least 32 bytes). */
void lh_time_format(int64_t wall_us, char *out, size_t n);
/* Parses RFC 3339 / ISO 8601 UTC ("2026-11-24T06:48:00Z", fractional seconds optional)
 * into µs since epoch; returns LH_EINVAL if malformed. */
int lh_time_parse(const char *s, int64_t *out_us);

/* ------------------------------------------------------------- logging */

typedef enum { LH_LOG_DEBUG = 0, LH_LOG_INFO, LH_LOG_WARN, LH_LOG_ERROR, LH_LOG_OFF } lh_log_level;

/* Sets the minimum level and the format (json = one JSON object per line). Thread-safe. */
void lh_log_setup(lh_log_level level, bool json);
/* Parses "debug"/"info"/"warn"/"error"/"off"; returns LH_EINVAL if unknown. */
int lh_log_level_parse(const char *s, lh_log_level *out);
/* Logs one line to stderr: event name plus optional key=value pairs given as a
 * NULL-terminated list of (const char *key, const char *value) pairs. Thread-safe. */
void lh_log(lh_log_level level, const char *event, ...);
/* Logs a printf-formatted message under event "msg" (for simple diagnostics). */
void lh_logf(lh_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* -------------------------------------------------------------- config */

/* The program's configuration. Defaults < config file (YAML) < environment (LAKEHOUSE_*)
 * < command-line flags (applied by the CLI). Strings are owned by the struct. */
typedef struct lh_config {
    char *data_dir;   /* local lake folder; LAKEHOUSE_DATA; default "./lake" */
    char *listen;     /* host:port; LAKEHOUSE_LISTEN; default "127.0.0.1:8080" */
    char *ingest_dir; /* folder POST /ingest/file may read from; LAKEHOUSE_INGEST_DIR;
                         default "<data_dir>/../ingest" resolved at load, NULL = disabled */
    char *cache_dir;  /* local cache (DuckDB temp, fetched objects); default <data_dir>/.cache */
    char *log_level;  /* LAKEHOUSE_LOG_LEVEL; default "info" */
    bool log_json;    /* LAKEHOUSE_LOG_JSON; default false */
    int64_t max_body_bytes;  /* LAKEHOUSE_MAX_BODY; default 1 GiB for uploads */
    int64_t max_json_bytes;  /* LAKEHOUSE_MAX_JSON; default 1 MiB for JSON request bodies */
    int threads;             /* HTTP worker threads; LAKEHOUSE_THREADS; default 2 x cores */
    int64_t query_memory_mb; /* DuckDB memory limit; LAKEHOUSE_QUERY_MEMORY_MB; default 25% RAM */
    int query_timeout_ms;    /* LAKEHOUSE_QUERY_TIMEOUT_MS; default 30000 */
    int64_t query_row_limit; /* max rows in a JSON result; LAKEHOUSE_QUERY_ROW_LIMIT; 10000 */
    int query_threads;       /* DuckDB threads; LAKEHOUSE_QUERY_THREADS; default = cores */
    char *glove_path;        /* GloVe table; LAKEHOUSE_GLOVE_PATH; NULL = next to the program */
    char *embedder;          /* "glove" | "ollama" | "openai"; LAKEHOUSE_EMBEDDER; "glove" */
    char *embedder_url;      /* server base URL; NULL = the provider's local default */
    char *embedder_model;    /* model name; NULL = the provider's default */
    char *generator;         /* "none" | "ollama" | "openai"; LAKEHOUSE_GENERATOR; "none" */
    char *generator_url;     /* server base URL; NULL = the provider's local default */
    char *generator_model;   /* model name (required for a generator) */
    char *ai_api_key;        /* bearer token for OpenAI-compatible servers; LAKEHOUSE_AI_API_KEY */
    int ai_timeout_ms;       /* per model-server request; LAKEHOUSE_AI_TIMEOUT_MS; default 60000 */
    char *ui_dir;            /* built web UI served at /; LAKEHOUSE_UI_DIR; NULL (default) =
                                the folder "web" next to the running executable */
    int retention_hours;     /* files no longer current are kept this long (time travel);
                                LAKEHOUSE_RETENTION_HOURS; default 168 */
    int compact_delta_files; /* an upsert leaving this many delta files compacts the dataset;
                                LAKEHOUSE_COMPACT_DELTA_FILES; default 64, 0 = never */
    int wal_max_rows;        /* a server's upserts/deletes of at most this many rows go through
                                the local write-ahead log (ADR 0012); LAKEHOUSE_WAL_MAX_ROWS;
                                default 1000, 0 = never */
    int wal_flush_ms;        /* the log is committed this long after its oldest record;
                                LAKEHOUSE_WAL_FLUSH_MS; default 100 */
    int64_t cache_memory_mb; /* hot cache budget; LAKEHOUSE_CACHE_MEMORY_MB; 0 = 10% of the
                                query memory limit */
    bool cache_auto_admit;   /* admit datasets queried often into the hot cache without a
                              * pin; LAKEHOUSE_CACHE_AUTO_ADMIT; default false */
    bool cache_admit_key_lookups; /* admit keyed datasets looked up by key often;
                                     LAKEHOUSE_CACHE_ADMIT_KEY_LOOKUPS; default true */
    /* Whether ingest_dir / cache_dir were set explicitly; if not, they follow data_dir
     * whenever it changes (lh_config_set of "data_dir" re-derives them). */
    bool ingest_dir_set;
    bool cache_dir_set;
    /* Object storage (README "Configuration"); credentials come from lh_secrets, not here. */
    char *storage_backend;          /* "local" or "s3"; LAKEHOUSE_STORAGE; default "local" */
    char *s3_endpoint;              /* LAKEHOUSE_S3_ENDPOINT; "http://127.0.0.1:9000" */
    char *s3_region;                /* LAKEHOUSE_S3_REGION; default "us-east-1" */
    char *s3_bucket;                /* LAKEHOUSE_S3_BUCKET */
    char *s3_prefix;                /* LAKEHOUSE_S3_PREFIX; key prefix in the bucket; NULL none */
    bool s3_path_style;             /* LAKEHOUSE_S3_PATH_STYLE; default true */
    int64_t s3_multipart_threshold; /* LAKEHOUSE_S3_MULTIPART_THRESHOLD; default 64 MiB */
    int64_t s3_part_size;           /* LAKEHOUSE_S3_PART_SIZE; default 16 MiB */
    int s3_retry_max_ms;            /* LAKEHOUSE_S3_RETRY_MAX_MS; default 20000 */
    int s3_timeout_ms;              /* LAKEHOUSE_S3_TIMEOUT_MS; default 30000 */
    char *s3_conditional_put;       /* LAKEHOUSE_S3_CONDITIONAL_PUT; auto|on|off; default auto */
    int s3_lease_ttl_ms;            /* LAKEHOUSE_S3_LEASE_TTL_MS; default 30000 */
    int64_t cache_max_bytes;        /* LAKEHOUSE_CACHE_MAX; object cache bound; default 10 GiB */
    int cache_grace_ms;             /* LAKEHOUSE_CACHE_GRACE_MS; copies handed out this recently
                                       are not evicted; default 10000; 0: none */
    char *secrets_file;             /* LAKEHOUSE_SECRETS_FILE; NULL: environment only */
    /* Bucket registry: the top-level storage settings are the bucket "primary"; `buckets:`
     * (YAML only) adds named ones. `bucket` picks the one this process works on. */
    char *bucket;                  /* LAKEHOUSE_BUCKET; default "primary" */
    char *rescue_bucket;           /* LAKEHOUSE_RESCUE_BUCKET; primary's rescue; NULL none */
    struct lh_bucket_def *buckets; /* named buckets besides primary, in file order */
    size_t nbuckets;
} lh_config;

/* One named bucket of the `buckets:` mapping. Unset strings are NULL (the S3 tuning keys,
 * region and path style default to the top-level settings). */
typedef struct lh_bucket_def {
    char *name;        /* [a-z0-9_-], 1-63 chars; not "primary" */
    char *backend;     /* "local" or "s3" (key storage_backend) */
    char *data_dir;    /* local: the folder */
    char *s3_endpoint; /* s3 */
    char *s3_region;
    char *s3_bucket;
    char *s3_prefix;
    int s3_path_style;   /* -1 unset, 0, 1 */
    char *rescue_bucket; /* reads that fail here are served by this bucket */
} lh_bucket_def;

/* Fills cfg with defaults, then the YAML file at path (if non-NULL; a missing file given
 * explicitly is an error), then environment overrides. On error cfg is left with defaults
 * and err names the file, line and key. Free with lh_config_free.
 * The file is a flat mapping whose keys are the field names above; unknown or repeated keys
 * are errors. Empty environment variables count as unset. ingest_dir "off", "none", "" or a
 * YAML null disables it. Sizes take lh_parse_size units; booleans true/false/yes/no/on/off. */
int lh_config_load(lh_config *cfg, const char *path, lh_error *err);
/* Sets one key by its config-file name ("data_dir", "listen", ...) from a string value. */
int lh_config_set(lh_config *cfg, const char *key, const char *value, lh_error *err);
/* Releases the strings owned by cfg. Accepts NULL. */
void lh_config_free(lh_config *cfg);
/* Deep-copies src into dst (caller frees dst with lh_config_free). Never fails. */
void lh_config_copy(lh_config *dst, const lh_config *src);
/* The configuration for working on bucket name (NULL or "": "primary") given the loaded
 * configuration cfg: a copy with `bucket` set and, for a named bucket, its own folders — the
 * cache (object copies, DuckDB temp files) under "<cache_dir>/buckets/<name>", and data_dir
 * the bucket's folder (local) or a folder in that cache (s3) — so that two buckets served by
 * one process never share a file. LH_EINVAL listing the known names if name is unknown (out
 * is then untouched). Caller frees out with lh_config_free. */
int lh_config_for_bucket(const lh_config *cfg, const char *name, lh_config *out, lh_error *err);
/* The configured bucket names, comma-separated ("primary, mirror, archive"); caller frees. */
char *lh_config_bucket_names(const lh_config *cfg);

/* ------------------------------------------------------------- secrets */

/* Credentials, kept apart from lh_config so that nothing printing or serving the
 * configuration can leak them. Opaque. */
typedef struct lh_secrets lh_secrets;

/* Loads secrets from the YAML file at path (NULL or "": none) — a flat mapping with the names
 * s3_access_key_id, s3_secret_access_key, s3_session_token, each also as "BUCKET.NAME" for a
 * named bucket — then from the environment
 * (LAKEHOUSE_S3_ACCESS_KEY_ID, ...), which wins. The file must be a regular file owned by the
 * running user with mode 0600 (no group/other bits): otherwise LH_EDENIED saying why. No
 * error message ever contains a value. Caller frees with lh_secrets_free. */
int lh_secrets_load(const char *path, lh_secrets **out, lh_error *err);
/* The value of a secret by name, or NULL if unset; borrowed from s. */
const char *lh_secrets_get(const lh_secrets *s, const char *name);
/* Overwrites the values with zeros and frees them. Accepts NULL. */
void lh_secrets_free(lh_secrets *s);

/* Parses a size like "512", "64k", "10MB", "1GiB", "1.5G" into bytes; LH_EINVAL if malformed
 * or out of range. Every unit is a power of 1024 (k = kb = kib = 1024), as in PostgreSQL. */
int lh_parse_size(const char *s, int64_t *out);

/* --------------------------------------------------------- thread pool */

typedef struct lh_pool lh_pool;
typedef void (*lh_task_fn)(void *arg);

/* Creates a pool of n worker threads (n <= 0: one per core). Returns NULL on failure. */
lh_pool *lh_pool_new(int n);
/* Queues fn(arg). Never fails (the queue grows). */
void lh_pool_submit(lh_pool *p, lh_task_fn fn, void *arg);
/* Blocks until every task submitted so far has finished. */
void lh_pool_wait(lh_pool *p);
/* Runs fn(arg, i) for i in [0, n) across the pool's threads and the caller; returns when all done.
 */
void lh_pool_parallel_for(lh_pool *p, size_t n, void (*fn)(void *arg, size_t i), void *arg);
/* Number of worker threads. */
int lh_pool_size(const lh_pool *p);
/* Waits for queued tasks, stops the threads and frees the pool. Accepts NULL. */
void lh_pool_free(lh_pool *p);

/* A crew: threads that start every task at once, each on a thread kept idle from an earlier
 * task when there is one (the most recently idle first), otherwise on a new thread. Unlike a
 * pool, a task never waits behind another, so tasks may block. Reusing threads keeps their
 * per-thread state warm — above all the allocator caches of libraries they call (DuckDB's
 * jemalloc): a query on a fresh thread page-faults its buffers in anew. */
typedef struct lh_crew lh_crew;
/* Creates a crew keeping at most max_idle idle threads, each for at most idle_ms. */
lh_crew *lh_crew_new(int max_idle, int idle_ms);
/* Starts fn(arg) now on an idle or a new thread; LH_EUNAVAIL if no thread could be started
 * (then fn does not run). */
int lh_crew_run(lh_crew *c, lh_task_fn fn, void *arg);
/* Threads of the crew: running a task, and idle (for tests and stats). */
void lh_crew_counts(lh_crew *c, int *running, int *idle);
/* Waits for running tasks to finish, stops the idle threads and frees the crew. Accepts NULL.
 * No lh_crew_run may be called during or after it. */
void lh_crew_free(lh_crew *c);

/* Number of online CPU cores (at least 1). */
int lh_cpu_count(void);
/* Total physical memory in bytes (0 if unknown). */
int64_t lh_mem_total(void);

/* --------------------------------------------------------------- files */

/* Reads a whole file into a NUL-terminated buffer (caller frees *out). */
int lh_file_read(const char *path, char **out, size_t *out_len, lh_error *err);
/* Creates a directory and its parents (mode 0755); succeeds if it exists. */
int lh_mkdir_p(const char *path, lh_error *err);
/* Removes a directory tree (for tests and cache cleanup). */
int lh_rm_rf(const char *path);
/* Joins two path parts with one '/'; caller frees. */
char *lh_path_join(const char *a, const char *b);

#endif
