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

/* Backend operations. A backend fills this table; lh_storage dispatches to it after
 * validating keys. All functions return LH_OK or a negative code with err set. */
typedef struct lh_storage_ops {
    const char *name; /* "local", "s3", ... */
    int (*put)(void *self, const char *key, const void *data, size_t n, lh_error *err);
    int (*put_if_absent)(void *self, const char *key, const void *data, size_t n,
                         lh_error *err);
    int (*put_file)(void *self, const char *key, const char *path, lh_error *err);
    int (*get)(void *self, const char *key, int64_t offset, int64_t length, char **out,
               size_t *out_len, lh_error *err);
    int (*get_file)(void *self, const char *key, const char *path, lh_error *err);
    int (*head)(void *self, const char *key, lh_object_info *out, lh_error *err);
    int (*list)(void *self, const char *prefix, const char *token, size_t max,
                lh_object_list *out, lh_error *err);
    int (*del)(void *self, const char *key, lh_error *err);
    const char *(*local_path)(void *self, const char *key, char *buf, size_t n);
    void (*close)(void *self);
} lh_storage_ops;

/* Opens the local-filesystem backend rooted at dir (created if missing). Caller closes. */
int lh_storage_open_local(const char *dir, lh_storage **out, lh_error *err);
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
int lh_storage_get_range(lh_storage *s, const char *key, int64_t offset, int64_t length,
                         char **out, size_t *out_len, lh_error *err);
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
/* The local file path holding the object's bytes, if the backend stores objects as local
 * files (the local backend), written into buf; NULL otherwise. Readers such as DuckDB use it
 * to read Parquet in place; other backends go through a local cache. */
const char *lh_storage_local_path(lh_storage *s, const char *key, char *buf, size_t n);

/* Fault injection for tests: wraps inner so that the nth call (1-based, counting every
 * operation) and, if every_after is true, all later calls fail with LH_EIO.
 * Takes ownership of inner. */
lh_storage *lh_storage_faulty(lh_storage *inner, int nth, bool every_after);

#endif
