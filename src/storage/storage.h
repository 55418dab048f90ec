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
} lh_s3_options;

/* Opens the S3 backend (libcurl, SigV4) on an existing bucket; checks that the bucket is
 * reachable and the credentials are accepted (a 403 becomes LH_EDENIED naming the bucket).
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

/* Fault injection for tests: wraps inner so that the nth call (1-based, counting every
 * operation) and, if every_after is true, all later calls fail with LH_EIO.
 * Takes ownership of inner. */
lh_storage *lh_storage_faulty(lh_storage *inner, int nth, bool every_after);

#endif
