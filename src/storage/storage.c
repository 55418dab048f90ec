/* Storage front end: key validation, dispatch to a backend, listings, fault injection. */
#define _GNU_SOURCE
#include "storage/storage_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct lh_storage {
    const lh_storage_ops *ops;
    void *self;
    char *bucket;       /* name in the bucket registry, NULL if not opened from it */
    char *bucket_names; /* every configured name, comma-separated */
};

void storage_set_names(lh_storage *s, const char *bucket, const char *names)
{
    free(s->bucket);
    free(s->bucket_names);
    s->bucket = lh_strdup(bucket);
    s->bucket_names = lh_strdup(names);
}

const char *lh_storage_bucket(const lh_storage *s)
{
    return s->bucket ? s->bucket : "primary";
}

const char *lh_storage_bucket_names(const lh_storage *s)
{
    return s->bucket_names ? s->bucket_names : lh_storage_bucket(s);
}

lh_storage *lh_storage_wrap(const lh_storage_ops *ops, void *self)
{
    lh_storage *s = lh_calloc(1, sizeof *s);
    s->ops = ops;
    s->self = self;
    return s;
}

void lh_storage_close(lh_storage *s)
{
    if (!s) return;
    if (s->ops->close) s->ops->close(s->self);
    free(s->bucket);
    free(s->bucket_names);
    free(s);
}

const char *lh_storage_backend(const lh_storage *s)
{
    return s->ops->name;
}

static bool key_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '=' || c == '@' || c == '+' || c == '-' || c == '/';
}

/* Shared by key and prefix checks; a prefix may be empty and may end with '/'. */
static int check_path(const char *key, bool is_prefix, lh_error *err)
{
    const char *what = is_prefix ? "prefix" : "key";
    if (!key) return lh_error_set(err, LH_EINVAL, "%s is missing", what);
    size_t len = strlen(key);
    if (len == 0) return is_prefix ? LH_OK : lh_error_set(err, LH_EINVAL, "key is empty");
    if (len > LH_KEY_MAX - 1)
        return lh_error_set(err, LH_EINVAL, "%s '%.40s...' is %zu bytes long; at most %d allowed",
                            what, key, len, LH_KEY_MAX - 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (key_char_ok(c)) continue;
        if (c > 0x20 && c < 0x7F)
            return lh_error_set(err, LH_EINVAL,
                                "%s '%s': character '%c' at byte %zu is not allowed (use "
                                "A-Z a-z 0-9 . _ = @ + - and /)",
                                what, key, c, i);
        return lh_error_set(err, LH_EINVAL,
                            "%s: byte 0x%02X at offset %zu is not allowed (use A-Z a-z 0-9 . _ "
                            "= @ + - and /)",
                            what, c, i);
    }
    if (key[0] == '/')
        return lh_error_set(err, LH_EINVAL, "%s '%s' must be relative (no leading '/')", what, key);
    const char *seg = key;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t n = slash ? (size_t)(slash - seg) : strlen(seg);
        if (n == 0 && (slash || !is_prefix))
            return lh_error_set(err, LH_EINVAL, "%s '%s' has an empty path segment", what, key);
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return lh_error_set(err, LH_EINVAL, "%s '%s' has a '%.*s' path segment", what, key,
                                (int)n, seg);
        if (!slash) break;
        seg = slash + 1;
    }
    return LH_OK;
}

int lh_storage_key_check(const char *key, lh_error *err)
{
    return check_path(key, false, err);
}

static int unsupported(const lh_storage *s, const char *op, lh_error *err)
{
    return lh_error_set(err, LH_EUNSUPPORTED, "storage backend '%s' does not support %s",
                        s->ops->name, op);
}

int lh_storage_put(lh_storage *s, const char *key, const void *data, size_t n, lh_error *err)
{
    int rc = lh_storage_key_check(key, err);
    if (rc != LH_OK) return rc;
    if (!s->ops->put) return unsupported(s, "put", err);
    return s->ops->put(s->self, key, data, n, err);
}

int lh_storage_put_if_absent(lh_storage *s, const char *key, const void *data, size_t n,
                             lh_error *err)
{
    int rc = lh_storage_key_check(key, err);
    if (rc != LH_OK) return rc;
    if (!s->ops->put_if_absent) return unsupported(s, "put_if_absent", err);
    return s->ops->put_if_absent(s->self, key, data, n, err);
}

int lh_storage_put_file(lh_storage *s, const char *key, const char *path, lh_error *err)
{
    int rc = lh_storage_key_check(key, err);
    if (rc != LH_OK) return rc;
    if (s->ops->put_file) return s->ops->put_file(s->self, key, path, err);
    if (!s->ops->put) return unsupported(s, "put", err);
    /* Generic fallback: read the file, then put. */
    char *data;
    size_t n;
    rc = lh_file_read(path, &data, &n, err);
    if (rc != LH_OK) return rc;
    rc = s->ops->put(s->self, key, data, n, err);
    free(data);
    return rc;
}

int lh_storage_get(lh_storage *s, const char *key, char **out, size_t *out_len, lh_error *err)
{
    return lh_storage_get_range(s, key, 0, -1, out, out_len, err);
}

int lh_storage_get_range(lh_storage *s, const char *key, int64_t offset, int64_t length, char **out,
                         size_t *out_len, lh_error *err)
{
    *out = NULL;
    if (out_len) *out_len = 0;
    int rc = lh_storage_key_check(key, err);
    if (rc != LH_OK) return rc;
    if (offset < 0)
        return lh_error_set(err, LH_EINVAL, "get '%s': negative offset %lld", key,
                            (long long)offset);
    if (!s->ops->get) return unsupported(s, "get", err);
    size_t len = 0;
    rc = s->ops->get(s->self, key, offset, length, out, &len, err);
    if (out_len) *out_len = len;
    return rc;
}

/* Writes data to path atomically: temp file beside it, fsync, rename. */
static int write_file_atomic(const char *path, const char *data, size_t n, lh_error *err)
{
    char *tmp = lh_sprintf("%s.tmp.%d.%llx", path, (int)getpid(),
                           (unsigned long long)(lh_now_ns() ^ (uintptr_t)&tmp));
    int rc = LH_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = lh_error_set(err, LH_EIO, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            rc = lh_error_set(err, LH_EIO, "write %s: %s", tmp, strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    if (rc == LH_OK && fsync(fd) != 0)
        rc = lh_error_set(err, LH_EIO, "fsync %s: %s", tmp, strerror(errno));
    close(fd);
    if (rc == LH_OK && rename(tmp, path) != 0)
        rc = lh_error_set(err, LH_EIO, "rename %s: %s", path, strerror(errno));
    if (rc != LH_OK) unlink(tmp);
done:
    free(tmp);
    return rc;
}

int lh_storage_get_file(lh_storage *s, const char *key, const char *path, lh_error *err)
{
    int rc = lh_storage_key_check(key, err);
    if (rc != LH_OK) return rc;
    if (s->ops->get_file) return s->ops->get_file(s->self, key, path, err);
    if (!s->ops->get) return unsupported(s, "get", err);
    char *data = NULL;
    size_t n = 0;
    rc = s->ops->get(s->self, key, 0, -1, &data, &n, err);
    if (rc == LH_OK) rc = write_file_atomic(path, data, n, err);
    free(data);
    return rc;
}

int lh_storage_head(lh_storage *s, const char *key, lh_object_info *out, lh_error *err)
{
    int rc = lh_storage_key_check(key, err);
    if (rc != LH_OK) return rc;
    if (!s->ops->head) return unsupported(s, "head", err);
    memset(out, 0, sizeof *out);
    return s->ops->head(s->self, key, out, err);
}

int lh_storage_list(lh_storage *s, const char *prefix, const char *token, size_t max,
                    lh_object_list *out, lh_error *err)
{
    memset(out, 0, sizeof *out);
    if (!prefix) prefix = "";
    int rc = check_path(prefix, true, err);
    if (rc != LH_OK) return rc;
    /* The token is opaque to this layer (the local backend uses the last key returned). */
    if (!s->ops->list) return unsupported(s, "list", err);
    if (max == 0) max = 1000;
    rc = s->ops->list(s->self, prefix, token && *token ? token : NULL, max, out, err);
    if (rc != LH_OK) {
        lh_storage_list_free(out);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

int lh_storage_list_all(lh_storage *s, const char *prefix, lh_object_list *out, lh_error *err)
{
    memset(out, 0, sizeof *out);
    char *token = NULL;
    size_t cap = 0;
    int rc = LH_OK;
    for (;;) {
        lh_object_list page;
        rc = lh_storage_list(s, prefix, token, 1000, &page, err);
        free(token);
        token = NULL;
        if (rc != LH_OK) goto fail;
        if (out->count + page.count > cap) {
            cap = (out->count + page.count) * 2;
            out->items = lh_realloc(out->items, cap * sizeof *out->items);
        }
        if (page.count)
            memcpy(out->items + out->count, page.items, page.count * sizeof *page.items);
        out->count += page.count;
        token = page.next_token;
        page.next_token = NULL;
        lh_storage_list_free(&page);
        if (!token) break;
    }
    return LH_OK;
fail:
    lh_storage_list_free(out);
    memset(out, 0, sizeof *out);
    return rc;
}

void lh_storage_list_free(lh_object_list *l)
{
    if (!l) return;
    free(l->items);
    free(l->next_token);
    l->items = NULL;
    l->next_token = NULL;
    l->count = 0;
}

int lh_storage_delete(lh_storage *s, const char *key, lh_error *err)
{
    int rc = lh_storage_key_check(key, err);
    if (rc != LH_OK) return rc;
    if (!s->ops->del) return unsupported(s, "delete", err);
    return s->ops->del(s->self, key, err);
}

int lh_storage_delete_many(lh_storage *s, const char *const *keys, size_t n, lh_error *err)
{
    for (size_t i = 0; i < n; i++) {
        int rc = lh_storage_key_check(keys[i], err);
        if (rc != LH_OK) return rc;
    }
    if (n == 0) return LH_OK;
    if (s->ops->del_many) return s->ops->del_many(s->self, keys, n, err);
    if (!s->ops->del) return unsupported(s, "delete", err);
    for (size_t i = 0; i < n; i++) {
        int rc = s->ops->del(s->self, keys[i], err);
        if (rc != LH_OK) return rc;
    }
    return LH_OK;
}

void lh_storage_stats_get(lh_storage *s, lh_storage_stats *out)
{
    memset(out, 0, sizeof *out);
    if (s->ops->stats) s->ops->stats(s->self, out);
}

const char *lh_storage_local_path(lh_storage *s, const char *key, char *buf, size_t n)
{
    if (!s->ops->local_path || lh_storage_key_check(key, NULL) != LH_OK) return NULL;
    return s->ops->local_path(s->self, key, buf, n);
}

/* ------------------------------------------------------ fault injection */

typedef struct faulty {
    lh_storage *inner;
    int nth;
    bool every_after;
    int calls; /* atomic: operations seen so far */
} faulty;

/* Counts one operation; true (err set) if it is to fail. */
static bool fault(faulty *f, const char *op, const char *key, lh_error *err)
{
    int call = __atomic_add_fetch(&f->calls, 1, __ATOMIC_RELAXED);
    if (call == f->nth || (f->every_after && call > f->nth)) {
        lh_error_set(err, LH_EIO, "injected fault: call %d (%s '%s')", call, op, key ? key : "");
        return true;
    }
    return false;
}

static int f_put(void *self, const char *key, const void *data, size_t n, lh_error *err)
{
    faulty *f = self;
    return fault(f, "put", key, err) ? LH_EIO : lh_storage_put(f->inner, key, data, n, err);
}

static int f_put_if_absent(void *self, const char *key, const void *data, size_t n, lh_error *err)
{
    faulty *f = self;
    return fault(f, "put_if_absent", key, err)
               ? LH_EIO
               : lh_storage_put_if_absent(f->inner, key, data, n, err);
}

static int f_put_file(void *self, const char *key, const char *path, lh_error *err)
{
    faulty *f = self;
    return fault(f, "put_file", key, err) ? LH_EIO : lh_storage_put_file(f->inner, key, path, err);
}

static int f_get(void *self, const char *key, int64_t offset, int64_t length, char **out,
                 size_t *out_len, lh_error *err)
{
    faulty *f = self;
    return fault(f, "get", key, err)
               ? LH_EIO
               : lh_storage_get_range(f->inner, key, offset, length, out, out_len, err);
}

static int f_get_file(void *self, const char *key, const char *path, lh_error *err)
{
    faulty *f = self;
    return fault(f, "get_file", key, err) ? LH_EIO : lh_storage_get_file(f->inner, key, path, err);
}

static int f_head(void *self, const char *key, lh_object_info *out, lh_error *err)
{
    faulty *f = self;
    return fault(f, "head", key, err) ? LH_EIO : lh_storage_head(f->inner, key, out, err);
}

static int f_list(void *self, const char *prefix, const char *token, size_t max,
                  lh_object_list *out, lh_error *err)
{
    faulty *f = self;
    return fault(f, "list", prefix, err) ? LH_EIO
                                         : lh_storage_list(f->inner, prefix, token, max, out, err);
}

static int f_del(void *self, const char *key, lh_error *err)
{
    faulty *f = self;
    return fault(f, "delete", key, err) ? LH_EIO : lh_storage_delete(f->inner, key, err);
}

static int f_del_many(void *self, const char *const *keys, size_t n, lh_error *err)
{
    faulty *f = self;
    return fault(f, "delete_many", keys[0], err) ? LH_EIO
                                                 : lh_storage_delete_many(f->inner, keys, n, err);
}

static void f_stats(void *self, lh_storage_stats *out)
{
    faulty *f = self;
    lh_storage_stats_get(f->inner, out);
}

static const char *f_local_path(void *self, const char *key, char *buf, size_t n)
{
    faulty *f = self;
    return lh_storage_local_path(f->inner, key, buf, n);
}

static void f_close(void *self)
{
    faulty *f = self;
    lh_storage_close(f->inner);
    free(f);
}

static const lh_storage_ops faulty_ops = {
    .name = "faulty",
    .put = f_put,
    .put_if_absent = f_put_if_absent,
    .put_file = f_put_file,
    .get = f_get,
    .get_file = f_get_file,
    .head = f_head,
    .list = f_list,
    .del = f_del,
    .local_path = f_local_path,
    .close = f_close,
    .del_many = f_del_many,
    .stats = f_stats,
};

lh_storage *lh_storage_faulty(lh_storage *inner, int nth, bool every_after)
{
    faulty *f = lh_calloc(1, sizeof *f);
    f->inner = inner;
    f->nth = nth;
    f->every_after = every_after;
    return lh_storage_wrap(&faulty_ops, f);
}
