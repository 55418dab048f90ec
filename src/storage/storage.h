/*
 * storage — the object-store interface every module above it uses.
 *
 * Keys are '/'-separated relative names ("data/candidates/<uuid>.parquet"). Objects are
 * immutable in practice: writers create new keys and swap pointers through
 * put-if-absent (see catalog). Nothing above this module knows which backend it talks to.
 */
#ifndef LH_STORAGE_H
#define LH_STORAGE_H

#include "core/core.h"

#define LH_KEY_MAX 1024

typedef struct lh_storage lh_storage;

/* What head() and list() report about an object. */
typedef struct lh_object_info {
    char key[LH_KEY_MAX];
    int64_t size;
    int64_t mtime_us; /* last-modified, µs since epoch */
    char etag[80];    /* backend-defined version tag ("" if none) */
} lh_object_info;

/* One page of a listing. Free with lh_storage_list_free. */
typedef struct lh_object_list {
    lh_object_info *items;
    size_t count;
    char *next_token; /* NULL when this was the last page; pass back to continue */
} lh_object_list;

/* Counters of one store since open (for tests, /metrics and benchmarks). */
typedef struct lh_storage_stats {
    int64_t requests;     /* HTTP requests sent (S3) */
    int64_t retries;      /* requests repeated after a retryable failure */
    int64_t connects;     /* new connections opened (the rest reused a live one) */
    int64_t cache_hits;   /* local_path served from the local cache */
    int64_t cache_misses; /* local_path that had to download */
    int64_t cache_bytes;  /* bytes currently in the local cache */
} lh_storage_stats;
/* Backend operations. A backend fills this table; lh_storage dispatches to it after
 * validating keys. All functions return LH_OK or a negative code with err set. */
typedef struct lh_storage_ops {
    const char *name; /* "local", "s3", ... */
    int (*put)(void *self, const char *key, const void *data, size_t n, lh_error *err);
    int (*put_if_absent)(void *self, const char *key, const void *data, size_t n, lh_error *err);
    int (*put_file)(void *self, const char *key, const char *path, lh_error *err);
    int (*get)(void *self, const char *key, int64_t offset, int64_t length, char **out,
               size_t *out_len, lh_error *err);
    int (*get_file)(void *self, const char *key, const char *path, lh_error *err);
    int (*head)(void *self, const char *key, lh_object_info *out, lh_error *err);
    int (*list)(void *self, const char *prefix, const char *token, size_t max, lh_object_list *out,
                lh_error *err);
    int (*del)(void *self, const char *key, lh_error *err);
    const char *(*local_path)(void *self, const char *key, char *buf, size_t n);
    void (*close)(void *self);
    /* Optional: deletes several keys in one request; NULL falls back to del per key. */
    int (*del_many)(void *self, const char *const *keys, size_t n, lh_error *err);
    /* Optional: the backend's counters. */
    void (*stats)(void *self, lh_storage_stats *out);
} lh_storage_ops;

/* Opens the local-filesystem backend rooted at dir (created if missing). Caller closes. */
int lh_storage_open_local(const char *dir, lh_storage **out, lh_error *err);
/* Settings of the S3 backend. Strings are borrowed for the duration of lh_storage_open_s3. */
typedef struct lh_s3_options {
    const char *endpoint;          /* "http://127.0.0.1:9000" or "https://s3.REGION.<host>" */
    const char *region;            /* signing region; "us-east-1" if NULL */
    const char *bucket;            /* bucket name (must exist) */
    const char *prefix;            /* key prefix inside the bucket ("" or NULL: none) */
    bool path_style;               /* true: ENDPOINT/BUCKET/KEY; false: BUCKET.HOST/KEY */
    const char *access_key_id;     /* credentials (from the secrets provider) */
    const char *secret_access_key; /* never logged nor put in an error message */
    const char *session_token;     /* optional (temporary credentials) */
    int64_t multipart_threshold;   /* objects above this many bytes use multipart; 0: 64 MiB */
    int64_t part_size;             /* multipart part size; 0: 16 MiB (at least 5 MiB) */
    int retry_max_ms;              /* total time budget for retries of one operation; 0: 20000 */
    int timeout_ms;                /* connect timeout and stall (no bytes) limit; 0: 30000 */
    const char *conditional_put;   /* "auto" (probe at first write), "on", "off"; NULL: auto */
    int lease_ttl_ms;              /* single-writer lease lifetime; 0: 30000 */
    const char *cache_dir;         /* read-through cache of objects for local readers */
    int64_t cache_max_bytes;       /* cache bound; 0: 10 GiB */
    int cache_grace_ms;            /* copies handed out this recently stay; 0: 10 s; < 0: none */
    bool no_check_at_open;         /* skip the reachability check (a rescue bucket covers it) */
} lh_s3_options;

/* Opens the S3 backend (libcurl, SigV4) on an existing bucket; checks that the bucket is
 * reachable and the credentials are accepted (a 403 becomes LH_EDENIED naming the bucket)
 * unless no_check_at_open.
 * Writes start lazily: the first write probes whether the server honours If-None-Match and,
 * if not, takes the single-writer lease (a second writer gets LH_ECONFLICT). Caller closes. */
int lh_storage_open_s3(const lh_s3_options *opt, lh_storage **out, lh_error *err);
/* Opens the backend the configuration names (storage_backend "local" or "s3"), reading S3
 * credentials from the secrets provider (secrets_file + LAKEHOUSE_S3_* variables). */
int lh_storage_open_config(const lh_config *cfg, lh_storage **out, lh_error *err);

/* Fills out with the backend's counters (zeros for backends without them). */
void lh_storage_stats_get(lh_storage *s, lh_storage_stats *out);

/* Wraps a backend given as an ops table and its state (takes ownership of self). */
lh_storage *lh_storage_wrap(const lh_storage_ops *ops, void *self);
/* Closes the store and its backend. Accepts NULL. */
void lh_storage_close(lh_storage *s);
/* Backend name ("local", "s3"). */
const char *lh_storage_backend(const lh_storage *s);

/* Checks a key: non-empty, <= LH_KEY_MAX-1 bytes, no leading '/', no "." or ".." segment,
 * no empty segment, only [A-Za-z0-9._=@+-] and '/'. LH_EINVAL with err naming the problem. */
int lh_storage_key_check(const char *key, lh_error *err);

/* Writes an object atomically (readers see the old or new bytes, never a mix). */
int lh_storage_put(lh_storage *s, const char *key, const void *data, size_t n, lh_error *err);
/* Creates an object only if the key does not exist; atomic across processes.
 * LH_EEXIST (err set) if it exists. This is the commit primitive of the catalog. */
int lh_storage_put_if_absent(lh_storage *s, const char *key, const void *data, size_t n,
                             lh_error *err);
/* Uploads a local file as an object (atomic like put). */
int lh_storage_put_file(lh_storage *s, const char *key, const char *path, lh_error *err);
/* Reads a whole object; *out is malloc'd, NUL-terminated, caller frees. LH_ENOENT if absent. */
int lh_storage_get(lh_storage *s, const char *key, char **out, size_t *out_len, lh_error *err);
/* Reads length bytes from offset (length < 0: to the end); caller frees *out. */
int lh_storage_get_range(lh_storage *s, const char *key, int64_t offset, int64_t length, char **out,
                         size_t *out_len, lh_error *err);
/* Downloads an object into a local file path (written atomically). */
int lh_storage_get_file(lh_storage *s, const char *key, const char *path, lh_error *err);
/* Size, mtime and etag of an object; LH_ENOENT if absent. */
int lh_storage_head(lh_storage *s, const char *key, lh_object_info *out, lh_error *err);
/* Lists objects whose key starts with prefix, in key order, at most max per page
 * (0 = backend default, 1000). token NULL for the first page. Free out with list_free. */
int lh_storage_list(lh_storage *s, const char *prefix, const char *token, size_t max,
                    lh_object_list *out, lh_error *err);
/* Lists every object under prefix (all pages); free out with list_free. */
int lh_storage_list_all(lh_storage *s, const char *prefix, lh_object_list *out, lh_error *err);
/* Releases a listing's memory. Accepts NULL. */
void lh_storage_list_free(lh_object_list *l);
/* Deletes an object; deleting an absent key succeeds. */
int lh_storage_delete(lh_storage *s, const char *key, lh_error *err);
/* Deletes n objects (one request per 1000 keys on S3); absent keys succeed. On failure err
 * names the first key that could not be deleted; keys before it may be gone. */
int lh_storage_delete_many(lh_storage *s, const char *const *keys, size_t n, lh_error *err);
/* The local file path holding the object's bytes, if the backend stores objects as local
 * files (the local backend), written into buf; NULL otherwise. Readers such as DuckDB use it
 * to read Parquet in place; other backends go through a local cache. */
const char *lh_storage_local_path(lh_storage *s, const char *key, char *buf, size_t n);

/* ------------------------------------------------------------- append log */

/* A write-once batched append log under a key prefix: lines buffered in memory, written as new
 * immutable objects "<prefix>batch_<µs>_<writer><seq>.jsonl" when max_bytes are pending, when
 * the oldest line is max_age_ms old (a background thread), on flush and at close. Never a
 * read-modify-write. Failed writes keep the lines for the next flush (bounded). */
typedef struct lh_appendlog lh_appendlog;

/* Opens a log writing to st (borrowed; must outlive the log) under prefix (ends with '/').
 * max_bytes 0: 1 MiB; max_age_ms 0: 5000. Caller closes. */
int lh_appendlog_open(lh_storage *st, const char *prefix, size_t max_bytes, int max_age_ms,
                      lh_appendlog **out, lh_error *err);
/* Appends one event (one line, no '\n'); writes a batch if the buffer is full (the event is
 * kept even if that write fails, and the error is returned). */
int lh_appendlog_append(lh_appendlog *l, const char *line, size_t n, lh_error *err);
/* Writes the pending events as one batch now (nothing pending: no object). */
int lh_appendlog_flush(lh_appendlog *l, lh_error *err);
/* Events dropped because writes kept failing past the pending bound. */
int64_t lh_appendlog_dropped(lh_appendlog *l);
/* Stops the age thread, flushes (a failure is logged) and frees. Accepts NULL. */
void lh_appendlog_close(lh_appendlog *l);
/* Calls fn for every line of every batch under prefix, batches in time order, lines in append
 * order, skipping batches written before since_us (0: all). Stops at fn's first non-zero
 * return, which it returns. */
int lh_appendlog_read(lh_storage *st, const char *prefix, int64_t since_us,
                      int (*fn)(void *ctx, const char *line, size_t n), void *ctx, lh_error *err);

/* ------------------------------------------------------------ error journal */

/* One failed bucket operation. */
typedef struct lh_storage_error_event {
    int64_t time_us; /* when it failed (wall clock, µs) */
    char bucket[64]; /* bucket name ("primary", ...) */
    char op[24];     /* "get", "put", "list", ... */
    char key[LH_KEY_MAX];
    int status;          /* HTTP status of the last attempt (S3), 0 if none */
    int os_errno;        /* errno (local), 0 if none */
    int code;            /* LH_E* code returned */
    int attempts;        /* requests made, retries included */
    char message[512];   /* the error message (never holds a secret) */
    char rescued_by[64]; /* bucket that served the read instead, "" if none */
} lh_storage_error_event;

/* The process-wide journal: the last 2,000 events in memory, and, once attached, every event
 * through an AppendLog to "_errors/bucket_errors/" of st (borrowed until detach). Attaching
 * also loads the persisted events into memory. Thread-safe. */
int lh_storage_errors_attach(lh_storage *st, lh_error *err);
/* Flushes and closes the journal's AppendLog. Safe if never attached. */
void lh_storage_errors_detach(void);
/* Records one event (copied). */
void lh_storage_errors_record(const lh_storage_error_event *e);
/* Copies the events of bucket/op (NULL: any) within [since_us, until_us] (0: open) into a
 * malloc'd array, oldest first; caller frees *out. */
void lh_storage_errors_query(const char *bucket, const char *op, int64_t since_us, int64_t until_us,
                             lh_storage_error_event **out, size_t *n);
/* Forgets the in-memory events (tests). */
void lh_storage_errors_reset(void);

/* ------------------------------------------------------------ bucket wrappers */

/* Wraps inner so that every failed operation (other than the expected answers: not found,
 * already exists, invalid key) is recorded in the error journal under bucket_name. Takes
 * ownership of inner. */
lh_storage *lh_storage_journaled(lh_storage *inner, const char *bucket_name);
/* Wraps primary so that a read (get, get_file, head, list, local_path) that fails there — the
 * server unreachable, an error after retries, or an object missing — is served by rescue,
 * and the fallback is journaled. Writes go to primary only. local_path of a rescued object is
 * a copy under copy_dir (NULL: none). Takes ownership of both stores. */
lh_storage *lh_storage_with_rescue(lh_storage *primary, const char *primary_name,
                                   lh_storage *rescue, const char *rescue_name,
                                   const char *copy_dir);
/* The bucket name this store was opened as by lh_storage_open_config ("primary", ...). */
const char *lh_storage_bucket(const lh_storage *s);
/* The configured bucket names, comma-separated ("primary, rescue"). */
const char *lh_storage_bucket_names(const lh_storage *s);

/* Fault injection for tests: wraps inner so that the nth call (1-based, counting every
 * operation) and, if every_after is true, all later calls fail with LH_EIO.
 * Takes ownership of inner. */
lh_storage *lh_storage_faulty(lh_storage *inner, int nth, bool every_after);

#endif
