/* The read-through object cache: local copies of remote objects for readers that need files
 * (DuckDB reads Parquet from paths).
 *
 * A copy is named "<sha256(key) 32 hex>-<etag>-<size><ext>", so a changed object (new ETag)
 * never matches an old copy, and a copy is only ever created by rename(2) of a verified temp
 * file. Eviction unlinks the least-recently-used copies beyond the bound; a reader that
 * already opened an evicted copy keeps reading it (POSIX unlink semantics), and the next
 * lookup fetches it again. The index is guarded by mu; file-system work happens outside it
 * except the rename and unlink that must agree with the index. */
#define _GNU_SOURCE
#include "storage/storage_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct entry {
    char *name;        /* file name inside dir */
    int64_t size;      /* bytes */
    uint64_t last_use; /* tick of the last lookup or commit */
    uint64_t used_ns;  /* monotonic time of that use (0: loaded from disk) */
} entry;

struct objcache {
    char *dir;
    int64_t max_bytes;
    int64_t grace_ns; /* copies used this recently are not evicted (a reader may open them) */
    pthread_mutex_t mu;
    entry *items; /* guarded by mu */
    size_t count, cap;
    int64_t bytes;  /* guarded by mu: sum of sizes */
    uint64_t ticks; /* guarded by mu */
};

/* Temp downloads older than this at open are leftovers of a crashed process. */
#define STALE_TEMP_SECONDS 3600

static void add_locked(objcache *c, const char *name, int64_t size, uint64_t tick)
{
    if (c->count == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->items = lh_realloc(c->items, c->cap * sizeof *c->items);
    }
    c->items[c->count++] = (entry){lh_strdup(name), size, tick, 0};
    c->bytes += size;
}

static entry *find_locked(objcache *c, const char *name)
{
    for (size_t i = 0; i < c->count; i++)
        if (strcmp(c->items[i].name, name) == 0) return &c->items[i];
    return NULL;
}

static void remove_locked(objcache *c, entry *e)
{
    c->bytes -= e->size;
    free(e->name);
    *e = c->items[--c->count];
}

static int by_mtime(const void *a, const void *b)
{
    const struct {
        char *name;
        int64_t size;
        int64_t mtime;
    } *x = a, *y = b;
    return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

int objcache_open(const char *dir, int64_t max_bytes, int grace_ms, objcache **out, lh_error *err)
{
    *out = NULL;
    int rc = lh_mkdir_p(dir, err);
    if (rc != LH_OK) {
        lh_error_prefix(err, "object cache");
        return rc;
    }
    DIR *d = opendir(dir);
    if (!d) return lh_error_set(err, LH_EIO, "object cache %s: %s", dir, strerror(errno));
    objcache *c = lh_calloc(1, sizeof *c);
    c->dir = lh_strdup(dir);
    c->max_bytes = max_bytes > 0 ? max_bytes : (int64_t)10 << 30;
    c->grace_ns = grace_ms < 0 ? 0 : (int64_t)(grace_ms ? grace_ms : 10000) * 1000000;
    pthread_mutex_init(&c->mu, NULL);
    struct {
        char *name;
        int64_t size;
        int64_t mtime;
    } *found = NULL;
    size_t nfound = 0, capfound = 0;
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (de->d_name[0] == '.') {
            if (strncmp(de->d_name, ".tmp-", 5) == 0 && now - st.st_mtime > STALE_TEMP_SECONDS)
                unlinkat(dirfd(d), de->d_name, 0);
            continue;
        }
        if (nfound == capfound) {
            capfound = capfound ? capfound * 2 : 64;
            found = lh_realloc(found, capfound * sizeof *found);
        }
        found[nfound].name = lh_strdup(de->d_name);
        found[nfound].size = st.st_size;
        found[nfound].mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        nfound++;
    }
    closedir(d);
    /* Oldest first, so the tick order is the previous runs' use order. */
    if (nfound) qsort(found, nfound, sizeof *found, by_mtime);
    for (size_t i = 0; i < nfound; i++) {
        add_locked(c, found[i].name, found[i].size, ++c->ticks);
        free(found[i].name);
    }
    free(found);
    *out = c;
    return LH_OK;
}

void objcache_free(objcache *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->count; i++)
        free(c->items[i].name);
    free(c->items);
    free(c->dir);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* "<sha256(key) 32 hex>-<etag: [A-Za-z0-9-] kept, others '_'>-<size><.ext of the key>". */
static void copy_name(const char *key, const char *etag, int64_t size, char *out, size_t n)
{
    char hex[LH_SHA256_HEX];
    lh_sha256_hex(key, strlen(key), hex);
    char tag[72];
    size_t t = 0;
    for (const char *p = etag; *p && t < sizeof tag - 1; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-';
        tag[t++] = ok ? ch : '_';
    }
    tag[t] = 0;
    const char *base = strrchr(key, '/');
    base = base ? base + 1 : key;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base || strlen(dot) > 12) dot = "";
    snprintf(out, n, "%.32s-%s-%lld%s", hex, tag, (long long)size, dot);
}

static bool fill_path(const objcache *c, const char *name, char *buf, size_t n)
{
    int w = snprintf(buf, n, "%s/%s", c->dir, name);
    return w > 0 && (size_t)w < n;
}

bool objcache_lookup(objcache *c, const char *key, const char *etag, int64_t size, char *buf,
                     size_t n)
{
    char name[256];
    copy_name(key, etag, size, name, sizeof name);
    if (!fill_path(c, name, buf, n)) return false;
    struct stat st;
    /* The file system is the authority: another process may have added or evicted it. */
    if (stat(buf, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != size) {
        pthread_mutex_lock(&c->mu);
        entry *e = find_locked(c, name);
        if (e) remove_locked(c, e);
        pthread_mutex_unlock(&c->mu);
        return false;
    }
    pthread_mutex_lock(&c->mu);
    entry *e = find_locked(c, name);
    if (!e) {
        add_locked(c, name, size, 0);
        e = &c->items[c->count - 1];
    }
    e->last_use = ++c->ticks;
    e->used_ns = lh_now_ns();
    pthread_mutex_unlock(&c->mu);
    utimensat(AT_FDCWD, buf, NULL, 0); /* the use order survives a restart */
    return true;
}

char *objcache_temp_path(objcache *c)
{
    char id[37];
    lh_uuid(id);
    return lh_sprintf("%s/.tmp-%s", c->dir, id);
}

int objcache_commit(objcache *c, const char *tmp, const char *key, const char *etag, int64_t size,
                    char *buf, size_t n, lh_error *err)
{
    char name[256];
    copy_name(key, etag, size, name, sizeof name);
    if (!fill_path(c, name, buf, n)) {
        unlink(tmp);
        return lh_error_set(err, LH_EINVAL, "object cache: path of '%s' is too long", key);
    }
    pthread_mutex_lock(&c->mu);
    if (rename(tmp, buf) != 0) {
        int e = errno;
        pthread_mutex_unlock(&c->mu);
        unlink(tmp);
        return lh_error_set(err, LH_EIO, "object cache: rename to %s: %s", buf, strerror(e));
    }
    entry *mine = find_locked(c, name);
    if (mine) {
        c->bytes += size - mine->size;
        mine->size = size;
    } else {
        add_locked(c, name, size, 0);
        mine = &c->items[c->count - 1];
    }
    uint64_t now = lh_now_ns();
    mine->last_use = ++c->ticks;
    mine->used_ns = now;
    /* Evict least-recently-used copies until within the bound: never the one just added, nor
     * one handed out within the grace period, whose reader may not have opened it yet (so the
     * bound can be exceeded for that long). */
    while (c->bytes > c->max_bytes && c->count > 1) {
        entry *lru = NULL;
        for (size_t i = 0; i < c->count; i++) {
            entry *e = &c->items[i];
            if (e == mine || (e->used_ns && (int64_t)(now - e->used_ns) < c->grace_ns)) continue;
            if (!lru || e->last_use < lru->last_use) lru = e;
        }
        if (!lru) break;
        char path[4096];
        if (fill_path(c, lru->name, path, sizeof path)) unlink(path);
        remove_locked(c, lru);
    }
    pthread_mutex_unlock(&c->mu);
    return LH_OK;
}

int64_t objcache_bytes(objcache *c)
{
    pthread_mutex_lock(&c->mu);
    int64_t b = c->bytes;
    pthread_mutex_unlock(&c->mu);
    return b;
}
