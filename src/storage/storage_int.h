/* Internals shared by the storage backends: the read-through object cache. */
#ifndef LH_STORAGE_INT_H
#define LH_STORAGE_INT_H

#include "storage/storage.h"

/* A folder of local copies of remote objects, named by key + ETag, bounded in bytes and
 * evicted least-recently-used. Files appear by rename(2) only, so a reader never sees a
 * partial copy; several processes may share the folder (each bounds what it adds). */
typedef struct objcache objcache;

/* Opens (creating) the cache folder and indexes the copies already in it. A copy handed out
 * less than grace_ms ago (0: 10 s; < 0: none) is not evicted. Caller frees. */
int objcache_open(const char *dir, int64_t max_bytes, int grace_ms, objcache **out, lh_error *err);
/* Frees the in-memory index (the files stay). Accepts NULL. */
void objcache_free(objcache *c);
/* The path of the verified copy of (key, etag, size) in buf and true if it is cached (and
 * marks it used); false otherwise. */
bool objcache_lookup(objcache *c, const char *key, const char *etag, int64_t size, char *buf,
                     size_t n);
/* A fresh temp file path inside the cache folder for a download; caller frees. */
char *objcache_temp_path(objcache *c);
/* Moves a downloaded, verified temp file into the cache as (key, etag, size), evicts LRU
 * copies beyond the bound (never this one) and writes its path into buf. On failure the temp
 * file is removed and err says why. */
int objcache_commit(objcache *c, const char *tmp, const char *key, const char *etag, int64_t size,
                    char *buf, size_t n, lh_error *err);
/* Bytes the index currently accounts for. */
int64_t objcache_bytes(objcache *c);

/* Sets the registry names reported by lh_storage_bucket / lh_storage_bucket_names. */
void storage_set_names(lh_storage *s, const char *bucket, const char *names);

/* Details of the last failed backend call on this thread (HTTP status of the last attempt,
 * attempts made, errno), for the error journal. Backends set it when they fail. */
typedef struct storage_failure {
    int status;
    int attempts;
    int os_errno;
} storage_failure;

/* Notes the details of a failure about to be returned (this thread). */
void storage_failure_note(int status, int attempts, int os_errno);
/* Takes (and clears) this thread's failure details. */
storage_failure storage_failure_take(void);

#endif
