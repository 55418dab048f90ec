/* The local-filesystem backend: each object is a regular file at <root>/<key>.
 *
 * Atomicity: a put writes a uniquely named temp file (".tmp.<pid>.<random>") in the
 * destination directory, fsyncs it, renames it over the final name and fsyncs the
 * directory, so a reader sees the old or the new bytes, and a crash leaves at most a stray
 * temp file (dot-files are never listed). put_if_absent link(2)s the fsynced temp file to
 * the final name instead: link fails with EEXIST if the name exists, which makes
 * create-if-absent atomic across processes, unlike rename, which would replace. */
#define _GNU_SOURCE
#include "storage/storage_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct local {
    char *root; /* absolute, no trailing '/' */
} local;

static int errno_code(int e)
{
    switch (e) {
    case ENOENT:
        return LH_ENOENT;
    case EACCES:
    case EPERM:
    case EROFS:
        return LH_EDENIED;
    case ENAMETOOLONG:
        return LH_EINVAL;
    default:
        return LH_EIO;
    }
}

static int os_error(lh_error *err, int e, const char *op, const char *key, const char *path)
{
    storage_failure_note(0, 1, e);
    return lh_error_set(err, errno_code(e), "local storage: %s '%s': %s: %s", op, key, path,
                        strerror(e));
}

static char *obj_path(const local *l, const char *key)
{
    return lh_sprintf("%s/%s", l->root, key);
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return lh_strndup(path, (size_t)(slash - path));
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

static int write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copies everything from in to out (copy_file_range when possible). */
static int copy_fd(int in, int out)
{
    for (;;) {
        ssize_t r = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (r == 0) return 0;
        if (r > 0) continue;
        if (errno == EINTR) continue;
        if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP) break;
        return -1;
    }
    char *buf = lh_malloc(1 << 16);
    int rc = 0;
    for (;;) {
        ssize_t r = read(in, buf, 1 << 16);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = -1;
            break;
        }
        if (r == 0) break;
        if (write_all(out, buf, (size_t)r) != 0) {
            rc = -1;
            break;
        }
    }
    free(buf);
    return rc;
}

/* Creates a uniquely named temp file in dir (created with parents if missing). Returns the
 * fd and *tmp (caller frees), or -1 with errno set. */
static int open_temp(const char *dir, char **tmp)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        uint64_t r = 0;
        if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
            r = lh_now_ns() ^ ((uint64_t)getpid() << 32);
        *tmp = lh_sprintf("%s/.tmp.%d.%016llx", dir, (int)getpid(), (unsigned long long)r);
        int fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) return fd;
        int e = errno;
        free(*tmp);
        *tmp = NULL;
        if (e == ENOENT) {
            /* The directory is missing, or a delete just removed it as empty: (re)create. */
            if (lh_mkdir_p(dir, NULL) != LH_OK) {
                errno = e;
                return -1;
            }
            continue;
        }
        if (e != EEXIST) {
            errno = e;
            return -1;
        }
    }
    errno = EEXIST;
    return -1;
}

typedef enum { MODE_REPLACE, MODE_CREATE } put_mode;

/* Fills a temp file from data (or from the file src_path if non-NULL) and publishes it. */
static int put_common(local *l, const char *key, const void *data, size_t n, const char *src_path,
                      put_mode mode, lh_error *err)
{
    const char *op = mode == MODE_CREATE ? "put_if_absent" : src_path ? "put_file" : "put";
    char *path = obj_path(l, key);
    char *dir = dir_of(path);
    char *tmp = NULL;
    int src = -1, fd = -1, rc = LH_OK;

    if (src_path) {
        src = open(src_path, O_RDONLY | O_CLOEXEC);
        if (src < 0) {
            rc = lh_error_set(err, errno == ENOENT ? LH_ENOENT : LH_EIO,
                              "local storage: %s '%s': source %s: %s", op, key, src_path,
                              strerror(errno));
            goto fail;
        }
    }
    fd = open_temp(dir, &tmp);
    if (fd < 0) {
        rc = os_error(err, errno, op, key, dir);
        goto fail;
    }
    if ((src >= 0 ? copy_fd(src, fd) : write_all(fd, data, n)) != 0) {
        rc = os_error(err, errno, op, key, tmp);
        goto fail;
    }
    if (fsync(fd) != 0) {
        rc = os_error(err, errno, op, key, tmp);
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = os_error(err, errno, op, key, tmp);
        goto fail;
    }
    fd = -1;
    if (mode == MODE_CREATE) {
        if (link(tmp, path) != 0) {
            int e = errno;
            if (e == EEXIST)
                rc = lh_error_set(err, LH_EEXIST, "object '%s' already exists", key);
            else
                rc = os_error(err, e, op, key, path);
            goto fail;
        }
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        rc = os_error(err, errno, op, key, path);
        goto fail;
    }
    free(tmp);
    tmp = NULL;
    if (fsync_dir(dir) != 0) {
        rc = os_error(err, errno, op, key, dir);
        goto fail;
    }
fail:
    if (fd >= 0) close(fd);
    if (src >= 0) close(src);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(dir);
    free(path);
    return rc;
}

static int l_put(void *self, const char *key, const void *data, size_t n, lh_error *err)
{
    return put_common(self, key, data, n, NULL, MODE_REPLACE, err);
}

static int l_put_if_absent(void *self, const char *key, const void *data, size_t n, lh_error *err)
{
    return put_common(self, key, data, n, NULL, MODE_CREATE, err);
}

static int l_put_file(void *self, const char *key, const char *path, lh_error *err)
{
    return put_common(self, key, NULL, 0, path, MODE_REPLACE, err);
}

/* Opens an object's file for reading; LH_ENOENT if absent or not a regular file. */
static int open_obj(local *l, const char *key, const char *op, struct stat *st, lh_error *err)
{
    char *path = obj_path(l, key);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc;
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            rc = lh_error_set(err, LH_ENOENT, "object '%s' not found", key);
        else
            rc = os_error(err, errno, op, key, path);
        free(path);
        return rc;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        free(path);
        return lh_error_set(err, LH_ENOENT, "object '%s' not found", key);
    }
    free(path);
    return fd;
}

static int l_get(void *self, const char *key, int64_t offset, int64_t length, char **out,
                 size_t *out_len, lh_error *err)
{
    struct stat st;
    int fd = open_obj(self, key, "get", &st, err);
    if (fd < 0) return fd;
    int64_t size = st.st_size;
    int64_t start = offset < size ? offset : size;
    int64_t n = size - start;
    if (length >= 0 && length < n) n = length;
    char *buf = lh_malloc((size_t)n + 1);
    int64_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, (size_t)(n - got), (off_t)(start + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return lh_error_set(err, LH_EIO, "local storage: get '%s': read: %s", key, strerror(e));
        }
        if (r == 0) break; /* truncated concurrently: cannot happen with atomic puts */
        got += r;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    *out_len = (size_t)got;
    return LH_OK;
}

static int l_get_file(void *self, const char *key, const char *path, lh_error *err)
{
    struct stat st;
    int in = open_obj(self, key, "get_file", &st, err);
    if (in < 0) return in;
    char *slash = strrchr(path, '/');
    char *dir = slash ? lh_strndup(path, (size_t)(slash - path)) : lh_strdup(".");
    if (!*dir) {
        free(dir);
        dir = lh_strdup("/");
    }
    char *tmp = NULL;
    int rc = LH_OK;
    int out = open_temp(dir, &tmp);
    if (out < 0) {
        rc = os_error(err, errno, "get_file", key, dir);
        goto fail;
    }
    if (copy_fd(in, out) != 0 || fsync(out) != 0) {
        rc = os_error(err, errno, "get_file", key, tmp);
        goto fail;
    }
    close(out);
    out = -1;
    if (rename(tmp, path) != 0) {
        rc = os_error(err, errno, "get_file", key, path);
        goto fail;
    }
    free(tmp);
    tmp = NULL;
fail:
    if (out >= 0) close(out);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    close(in);
    free(dir);
    return rc;
}

static void fill_info(lh_object_info *info, const char *key, const struct stat *st)
{
    snprintf(info->key, sizeof info->key, "%s", key);
    info->size = st->st_size;
    int64_t mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    info->mtime_us = mtime_ns / 1000;
    snprintf(info->etag, sizeof info->etag, "%llx-%llx", (unsigned long long)st->st_size,
             (unsigned long long)mtime_ns);
}

static int l_head(void *self, const char *key, lh_object_info *out, lh_error *err)
{
    local *l = self;
    char *path = obj_path(l, key);
    struct stat st;
    int rc = LH_OK;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            rc = lh_error_set(err, LH_ENOENT, "object '%s' not found", key);
        else
            rc = os_error(err, errno, "head", key, path);
    } else if (!S_ISREG(st.st_mode)) {
        rc = lh_error_set(err, LH_ENOENT, "object '%s' not found", key);
    } else {
        fill_info(out, key, &st);
    }
    free(path);
    return rc;
}

/* ---------------------------------------------------------------- list
 *
 * A depth-first walk that yields keys in byte order: within a directory, entries sort as
 * if directory names ended in '/', so "a-b" (a file) precedes "a/..." (a directory) just
 * as the keys compare. Subtrees that cannot hold keys matching the prefix, or that sort
 * entirely at or before the token, are skipped without reading them. */

typedef struct {
    char *name;
    size_t len;
    bool is_dir;
    struct stat st;
} entry;

typedef struct {
    const char *prefix;
    size_t prefix_len;
    const char *token; /* NULL on the first page */
    size_t max;
    lh_object_list *out;
    size_t cap;
    bool more; /* found an item beyond max */
} walk;

/* The i-th byte of an entry's name as it appears in keys: directories end in '/'. */
static unsigned entry_byte(const entry *e, size_t i)
{
    if (i < e->len) return (unsigned char)e->name[i];
    return i == e->len && e->is_dir ? '/' : 0;
}

static int entry_cmp(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    for (size_t i = 0;; i++) {
        unsigned c = entry_byte(x, i), d = entry_byte(y, i);
        if (c != d || c == 0) return (int)c - (int)d;
    }
}

/* True if some key starting with dir_key ("a/b/") can also start with the prefix. */
static bool dir_may_match(const walk *w, const char *dir_key, size_t len)
{
    size_t n = len < w->prefix_len ? len : w->prefix_len;
    return memcmp(dir_key, w->prefix, n) == 0;
}

static int walk_dir(walk *w, const char *fs_dir, lh_buf *key, lh_error *err)
{
    DIR *d = opendir(fs_dir);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR) return LH_OK;
        return lh_error_set(err, errno_code(errno), "local storage: list: %s: %s", fs_dir,
                            strerror(errno));
    }
    entry *ents = NULL;
    size_t n = 0, cap = 0;
    int rc = LH_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue; /* temp files, dot-files, "." and ".." */
        char *path = lh_sprintf("%s/%s", fs_dir, de->d_name);
        struct stat st;
        if (stat(path, &st) != 0) { /* vanished meanwhile, or a dangling link */
            free(path);
            continue;
        }
        free(path);
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            ents = lh_realloc(ents, cap * sizeof *ents);
        }
        ents[n].name = lh_strdup(de->d_name);
        ents[n].len = strlen(de->d_name);
        ents[n].is_dir = S_ISDIR(st.st_mode);
        ents[n].st = st;
        n++;
    }
    closedir(d);
    if (n) qsort(ents, n, sizeof *ents, entry_cmp);

    size_t base = key->len;
    for (size_t i = 0; i < n && rc == LH_OK && !w->more; i++) {
        key->len = base;
        lh_buf_puts(key, ents[i].name);
        if (ents[i].is_dir) {
            lh_buf_putc(key, '/');
            if (!dir_may_match(w, key->data, key->len)) continue;
            /* All keys under "dir/" sort before the token unless the token is inside. */
            if (w->token && strncmp(w->token, key->data, key->len) != 0 &&
                strcmp(key->data, w->token) < 0)
                continue;
            char *sub = lh_sprintf("%s/%s", fs_dir, ents[i].name);
            rc = walk_dir(w, sub, key, err);
            free(sub);
            continue;
        }
        if (key->len < w->prefix_len || memcmp(key->data, w->prefix, w->prefix_len) != 0) continue;
        if (w->token && strcmp(key->data, w->token) <= 0) continue;
        if (lh_storage_key_check(key->data, NULL) != LH_OK || key->len >= LH_KEY_MAX)
            continue; /* a file not created through this interface */
        if (w->out->count == w->max) {
            w->more = true;
            break;
        }
        if (w->out->count == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 64;
            w->out->items = lh_realloc(w->out->items, w->cap * sizeof *w->out->items);
        }
        fill_info(&w->out->items[w->out->count++], key->data, &ents[i].st);
    }
    key->len = base;
    if (key->data) key->data[base] = '\0';
    for (size_t i = 0; i < n; i++)
        free(ents[i].name);
    free(ents);
    return rc;
}

static int l_list(void *self, const char *prefix, const char *token, size_t max,
                  lh_object_list *out, lh_error *err)
{
    local *l = self;
    walk w = {
        .prefix = prefix, .prefix_len = strlen(prefix), .token = token, .max = max, .out = out};
    /* Start at the deepest directory the prefix names completely. */
    const char *slash = strrchr(prefix, '/');
    lh_buf key = {0};
    lh_buf_append(&key, prefix, slash ? (size_t)(slash - prefix) + 1 : 0);
    char *dir =
        slash ? lh_sprintf("%s/%.*s", l->root, (int)(slash - prefix), prefix) : lh_strdup(l->root);
    int rc = walk_dir(&w, dir, &key, err);
    free(dir);
    lh_buf_free(&key);
    if (rc == LH_OK && w.more && out->count > 0)
        out->next_token = lh_strdup(out->items[out->count - 1].key);
    return rc;
}

static int l_del(void *self, const char *key, lh_error *err)
{
    local *l = self;
    char *path = obj_path(l, key);
    int rc = LH_OK;
    if (unlink(path) != 0) {
        if (errno != ENOENT && errno != ENOTDIR && errno != EISDIR)
            rc = os_error(err, errno, "delete", key, path);
        free(path);
        return rc;
    }
    char *dir = dir_of(path);
    fsync_dir(dir);
    /* Remove parents left empty, up to the root; rmdir refuses non-empty ones. Writers
     * recreate a directory removed under them (see open_temp). */
    size_t root_len = strlen(l->root);
    while (strlen(dir) > root_len && rmdir(dir) == 0) {
        char *up = dir_of(dir);
        free(dir);
        dir = up;
    }
    free(dir);
    free(path);
    return rc;
}

static const char *l_local_path(void *self, const char *key, char *buf, size_t n)
{
    local *l = self;
    int len = snprintf(buf, n, "%s/%s", l->root, key);
    return len >= 0 && (size_t)len < n ? buf : NULL;
}

static void l_close(void *self)
{
    local *l = self;
    if (!l) return;
    free(l->root);
    free(l);
}

static const lh_storage_ops local_ops = {
    .name = "local",
    .put = l_put,
    .put_if_absent = l_put_if_absent,
    .put_file = l_put_file,
    .get = l_get,
    .get_file = l_get_file,
    .head = l_head,
    .list = l_list,
    .del = l_del,
    .local_path = l_local_path,
    .close = l_close,
};

int lh_storage_open_local(const char *dir, lh_storage **out, lh_error *err)
{
    *out = NULL;
    int rc = lh_mkdir_p(dir, err);
    if (rc != LH_OK) return lh_error_prefix(err, "local storage");
    char *real = realpath(dir, NULL);
    if (!real) return lh_error_set(err, LH_EIO, "local storage: %s: %s", dir, strerror(errno));
    local *l = lh_calloc(1, sizeof *l);
    l->root = real;
    *out = lh_storage_wrap(&local_ops, l);
    return LH_OK;
}
