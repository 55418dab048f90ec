/* The bucket registry: named buckets from the configuration, each journaled, with rescue
 * fallback for reads; and lh_storage_open_config, which opens the bucket a process works on.
 *
 * Wrappers compose: open_config returns with_rescue(journaled(bucket), journaled(rescue)) when
 * the bucket names a rescue bucket, journaled(bucket) otherwise. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/storage_int.h"

/* ------------------------------------------------------------ journaled */

typedef struct journaled {
    lh_storage *inner;
    char name[64];
    lh_storage_ops ops; /* this store's table: named after the inner backend */
} journaled;

/* Records a failure unless it is an expected answer or the journal's own write. */
static int note(journaled *j, const char *op, const char *key, int rc, const lh_error *err)
{
    storage_failure f = storage_failure_take();
    if (rc == LH_OK || rc == LH_ENOENT || rc == LH_EEXIST) return rc;
    if (key && strncmp(key, "_errors/", 8) == 0) return rc;
    lh_storage_error_event e = {0};
    e.time_us = lh_wall_us();
    snprintf(e.bucket, sizeof e.bucket, "%s", j->name);
    snprintf(e.op, sizeof e.op, "%s", op);
    snprintf(e.key, sizeof e.key, "%s", key ? key : "");
    e.status = f.status;
    e.os_errno = f.os_errno;
    e.attempts = f.attempts ? f.attempts : 1;
    e.code = rc;
    snprintf(e.message, sizeof e.message, "%.*s", (int)sizeof e.message - 1,
             err && err->msg[0] ? err->msg : lh_error_name(rc));
    lh_storage_errors_record(&e);
    return rc;
}

static int j_put(void *self, const char *key, const void *data, size_t n, lh_error *err)
{
    journaled *j = self;
    return note(j, "put", key, lh_storage_put(j->inner, key, data, n, err), err);
}

static int j_put_if_absent(void *self, const char *key, const void *data, size_t n, lh_error *err)
{
    journaled *j = self;
    return note(j, "put_if_absent", key, lh_storage_put_if_absent(j->inner, key, data, n, err),
                err);
}

static int j_put_file(void *self, const char *key, const char *path, lh_error *err)
{
    journaled *j = self;
    return note(j, "put_file", key, lh_storage_put_file(j->inner, key, path, err), err);
}

static int j_get(void *self, const char *key, int64_t offset, int64_t length, char **out,
                 size_t *out_len, lh_error *err)
{
    journaled *j = self;
    return note(j, "get", key,
                lh_storage_get_range(j->inner, key, offset, length, out, out_len, err), err);
}

static int j_get_file(void *self, const char *key, const char *path, lh_error *err)
{
    journaled *j = self;
    return note(j, "get_file", key, lh_storage_get_file(j->inner, key, path, err), err);
}

static int j_head(void *self, const char *key, lh_object_info *out, lh_error *err)
{
    journaled *j = self;
    return note(j, "head", key, lh_storage_head(j->inner, key, out, err), err);
}

static int j_list(void *self, const char *prefix, const char *token, size_t max,
                  lh_object_list *out, lh_error *err)
{
    journaled *j = self;
    return note(j, "list", prefix, lh_storage_list(j->inner, prefix, token, max, out, err), err);
}

static int j_del(void *self, const char *key, lh_error *err)
{
    journaled *j = self;
    return note(j, "delete", key, lh_storage_delete(j->inner, key, err), err);
}

static int j_del_many(void *self, const char *const *keys, size_t n, lh_error *err)
{
    journaled *j = self;
    return note(j, "delete_many", keys[0], lh_storage_delete_many(j->inner, keys, n, err), err);
}

static const char *j_local_path(void *self, const char *key, char *buf, size_t n)
{
    journaled *j = self;
    return lh_storage_local_path(j->inner, key, buf, n);
}

static void j_stats(void *self, lh_storage_stats *out)
{
    journaled *j = self;
    lh_storage_stats_get(j->inner, out);
}

static void j_close(void *self)
{
    journaled *j = self;
    lh_storage_close(j->inner);
    free(j);
}

/* Reports the inner backend's name, so /health still says "local" or "s3". */
static lh_storage_ops journaled_ops(const lh_storage *inner)
{
    lh_storage_ops o = {
        .name = lh_storage_backend(inner),
        .put = j_put,
        .put_if_absent = j_put_if_absent,
        .put_file = j_put_file,
        .get = j_get,
        .get_file = j_get_file,
        .head = j_head,
        .list = j_list,
        .del = j_del,
        .local_path = j_local_path,
        .close = j_close,
        .del_many = j_del_many,
        .stats = j_stats,
    };
    return o;
}

lh_storage *lh_storage_journaled(lh_storage *inner, const char *bucket_name)
{
    journaled *j = lh_calloc(1, sizeof *j);
    j->inner = inner;
    snprintf(j->name, sizeof j->name, "%s", bucket_name);
    j->ops = journaled_ops(inner);
    return lh_storage_wrap(&j->ops, j);
}

/* ------------------------------------------------------------ rescue */

typedef struct rescued {
    lh_storage_ops ops; /* this store's table: named after the primary's backend */
    lh_storage *primary, *rescue;
    char pname[64], rname[64];
    objcache *copies; /* local copies of rescue objects for readers that need files */
} rescued;

/* Whether a read failure of the primary is worth trying on the rescue bucket. */
static bool fallback_worthy(int rc)
{
    return rc == LH_EUNAVAIL || rc == LH_ETIMEOUT || rc == LH_EIO || rc == LH_ENOENT ||
           rc == LH_ECORRUPT;
}

static void note_fallback(rescued *r, const char *op, const char *key, int rc, const char *msg)
{
    if (key && strncmp(key, "_errors/", 8) == 0) return; /* the journal's own reads */
    lh_storage_error_event e = {0};
    e.time_us = lh_wall_us();
    snprintf(e.bucket, sizeof e.bucket, "%s", r->pname);
    snprintf(e.op, sizeof e.op, "%s", op);
    snprintf(e.key, sizeof e.key, "%s", key ? key : "");
    e.code = rc;
    e.attempts = 1;
    snprintf(e.message, sizeof e.message, "%.*s", (int)sizeof e.message - 1, msg);
    snprintf(e.rescued_by, sizeof e.rescued_by, "%s", r->rname);
    lh_storage_errors_record(&e);
    lh_log(LH_LOG_WARN, "storage_rescue_fallback", "bucket", r->pname, "rescue", r->rname, "op", op,
           "key", key ? key : "", (const char *)NULL);
}

/* Runs a read on the primary, then on the rescue if it failed in a way worth it. A miss in
 * both is a plain miss; a rescue failure returns the primary's error. */
#define WITH_RESCUE(op, key, call_primary, call_rescue)                                            \
    do {                                                                                           \
        rescued *r = self;                                                                         \
        lh_error local_;                                                                           \
        if (!err) err = &local_;                                                                   \
        lh_error_clear(err);                                                                       \
        int rc = (call_primary);                                                                   \
        if (rc == LH_OK || !fallback_worthy(rc)) return rc;                                        \
        lh_error first = *err;                                                                     \
        lh_error_clear(err);                                                                       \
        int rc2 = (call_rescue);                                                                   \
        if (rc2 == LH_OK) {                                                                        \
            note_fallback(r, op, key, rc, first.msg);                                              \
            return LH_OK;                                                                          \
        }                                                                                          \
        *err = first;                                                                              \
        return rc;                                                                                 \
    } while (0)

static int r_get(void *self, const char *key, int64_t offset, int64_t length, char **out,
                 size_t *out_len, lh_error *err)
{
    WITH_RESCUE("get", key,
                lh_storage_get_range(r->primary, key, offset, length, out, out_len, err),
                lh_storage_get_range(r->rescue, key, offset, length, out, out_len, err));
}

static int r_get_file(void *self, const char *key, const char *path, lh_error *err)
{
    WITH_RESCUE("get_file", key, lh_storage_get_file(r->primary, key, path, err),
                lh_storage_get_file(r->rescue, key, path, err));
}

static int r_head(void *self, const char *key, lh_object_info *out, lh_error *err)
{
    WITH_RESCUE("head", key, lh_storage_head(r->primary, key, out, err),
                lh_storage_head(r->rescue, key, out, err));
}

static int r_list(void *self, const char *prefix, const char *token, size_t max,
                  lh_object_list *out, lh_error *err)
{
    rescued *r = self;
    lh_error local_;
    if (!err) err = &local_;
    lh_error_clear(err);
    int rc = lh_storage_list(r->primary, prefix, token, max, out, err);
    /* An empty listing is an answer, not a failure: only errors fall back. */
    if (rc == LH_OK || rc == LH_ENOENT || !fallback_worthy(rc)) return rc;
    lh_error first = *err;
    lh_error_clear(err);
    if (lh_storage_list(r->rescue, prefix, token, max, out, err) == LH_OK) {
        note_fallback(r, "list", prefix, rc, first.msg);
        return LH_OK;
    }
    *err = first;
    return rc;
}

/* A reader's local file: the primary's, else a verified copy of the rescue bucket's object in
 * the primary's cache (so it lies where the query sandbox may read). */
static const char *r_local_path(void *self, const char *key, char *buf, size_t n)
{
    rescued *r = self;
    const char *p = lh_storage_local_path(r->primary, key, buf, n);
    if (p && access(p, R_OK) == 0) return p;
    if (!r->copies) return NULL;
    lh_error err = {0};
    lh_object_info info;
    if (lh_storage_head(r->rescue, key, &info, &err) != LH_OK) return NULL;
    const char *tag = info.etag[0] ? info.etag : "rescue";
    if (!objcache_lookup(r->copies, key, tag, info.size, buf, n)) {
        char *tmp = objcache_temp_path(r->copies);
        int rc = lh_storage_get_file(r->rescue, key, tmp, &err);
        struct stat sb;
        /* The copy must be what head described. */
        if (rc == LH_OK && (stat(tmp, &sb) != 0 || sb.st_size != info.size))
            rc = lh_error_set(&err, LH_ECORRUPT, "rescue copy of '%s': not the %lld bytes expected",
                              key, (long long)info.size);
        if (rc == LH_OK)
            rc = objcache_commit(r->copies, tmp, key, tag, info.size, buf, n, &err);
        else
            unlink(tmp);
        free(tmp);
        if (rc != LH_OK) {
            lh_log(LH_LOG_WARN, "storage_rescue_copy_failed", "key", key, "msg", err.msg,
                   (const char *)NULL);
            return NULL;
        }
    }
    note_fallback(r, "local_path", key, LH_EUNAVAIL, "no readable local copy from the primary");
    return buf;
}

static int r_put(void *self, const char *key, const void *data, size_t n, lh_error *err)
{
    return lh_storage_put(((rescued *)self)->primary, key, data, n, err);
}

static int r_put_if_absent(void *self, const char *key, const void *data, size_t n, lh_error *err)
{
    return lh_storage_put_if_absent(((rescued *)self)->primary, key, data, n, err);
}

static int r_put_file(void *self, const char *key, const char *path, lh_error *err)
{
    return lh_storage_put_file(((rescued *)self)->primary, key, path, err);
}

static int r_del(void *self, const char *key, lh_error *err)
{
    return lh_storage_delete(((rescued *)self)->primary, key, err);
}

static int r_del_many(void *self, const char *const *keys, size_t n, lh_error *err)
{
    return lh_storage_delete_many(((rescued *)self)->primary, keys, n, err);
}

static void r_stats(void *self, lh_storage_stats *out)
{
    lh_storage_stats_get(((rescued *)self)->primary, out);
}

static void r_close(void *self)
{
    rescued *r = self;
    lh_storage_close(r->primary);
    lh_storage_close(r->rescue);
    objcache_free(r->copies);
    free(r);
}

static lh_storage_ops rescued_ops(const lh_storage *primary)
{
    lh_storage_ops o = {
        .name = lh_storage_backend(primary),
        .put = r_put,
        .put_if_absent = r_put_if_absent,
        .put_file = r_put_file,
        .get = r_get,
        .get_file = r_get_file,
        .head = r_head,
        .list = r_list,
        .del = r_del,
        .local_path = r_local_path,
        .close = r_close,
        .del_many = r_del_many,
        .stats = r_stats,
    };
    return o;
}

lh_storage *lh_storage_with_rescue(lh_storage *primary, const char *primary_name,
                                   lh_storage *rescue, const char *rescue_name,
                                   const char *copy_dir)
{
    rescued *r = lh_calloc(1, sizeof *r);
    lh_error err = {0};
    if (copy_dir && objcache_open(copy_dir, 0, 0, &r->copies, &err) != LH_OK)
        lh_log(LH_LOG_WARN, "storage_rescue_copies_unavailable", "msg", err.msg,
               (const char *)NULL);
    r->primary = primary;
    r->rescue = rescue;
    snprintf(r->pname, sizeof r->pname, "%s", primary_name);
    snprintf(r->rname, sizeof r->rname, "%s", rescue_name);
    r->ops = rescued_ops(primary);
    return lh_storage_wrap(&r->ops, r);
}

/* ------------------------------------------------------------ registry */

/* The settings of one bucket, resolved against the top-level configuration. */
typedef struct bucket_settings {
    const char *name;
    const char *backend, *data_dir, *endpoint, *region, *s3_bucket, *prefix, *rescue;
    bool path_style;
} bucket_settings;

static bool resolve(const lh_config *cfg, const char *name, bucket_settings *b)
{
    memset(b, 0, sizeof *b);
    b->name = name;
    b->region = cfg->s3_region;
    b->path_style = cfg->s3_path_style;
    if (strcmp(name, "primary") == 0) {
        b->backend = cfg->storage_backend ? cfg->storage_backend : "local";
        b->data_dir = cfg->data_dir;
        b->endpoint = cfg->s3_endpoint;
        b->s3_bucket = cfg->s3_bucket;
        b->prefix = cfg->s3_prefix;
        b->rescue = cfg->rescue_bucket;
        return true;
    }
    for (size_t i = 0; i < cfg->nbuckets; i++) {
        const lh_bucket_def *d = &cfg->buckets[i];
        if (strcmp(d->name, name) != 0) continue;
        b->backend = d->backend;
        b->data_dir = d->data_dir;
        b->endpoint = d->s3_endpoint;
        b->s3_bucket = d->s3_bucket;
        b->prefix = d->s3_prefix;
        b->rescue = d->rescue_bucket;
        if (d->s3_region) b->region = d->s3_region;
        if (d->s3_path_style >= 0) b->path_style = d->s3_path_style;
        return true;
    }
    return false;
}

static char *known_names(const lh_config *cfg)
{
    lh_buf b = {0};
    lh_buf_puts(&b, "primary");
    for (size_t i = 0; i < cfg->nbuckets; i++)
        lh_buf_printf(&b, ", %s", cfg->buckets[i].name);
    return lh_buf_steal(&b);
}

/* The secret of a bucket: "<bucket>.<name>" first, then the shared one. */
static const char *secret(const lh_secrets *sec, const char *bucket, const char *name)
{
    char key[160];
    snprintf(key, sizeof key, "%s.%s", bucket, name);
    const char *v = lh_secrets_get(sec, key);
    return v ? v : lh_secrets_get(sec, name);
}

/* Opens one bucket's backend (not wrapped). */
static int open_backend(const lh_config *cfg, const bucket_settings *b, const lh_secrets *sec,
                        bool no_check, lh_storage **out, lh_error *err)
{
    if (strcmp(b->backend, "local") == 0) return lh_storage_open_local(b->data_dir, out, err);
    if (strcmp(b->backend, "s3") != 0)
        return lh_error_set(err, LH_EINVAL,
                            "bucket '%s': storage_backend '%s' is unknown "
                            "(known: local, s3)",
                            b->name, b->backend);
    /* Each bucket caches into its own folder, so equal keys of two buckets never mix. */
    char *leaf =
        strcmp(b->name, "primary") == 0 ? lh_strdup("objects") : lh_sprintf("objects/%s", b->name);
    char *cache = lh_path_join(cfg->cache_dir ? cfg->cache_dir : cfg->data_dir, leaf);
    free(leaf);
    lh_s3_options o = {
        .endpoint = b->endpoint,
        .region = b->region,
        .bucket = b->s3_bucket,
        .prefix = b->prefix,
        .path_style = b->path_style,
        .access_key_id = secret(sec, b->name, "s3_access_key_id"),
        .secret_access_key = secret(sec, b->name, "s3_secret_access_key"),
        .session_token = secret(sec, b->name, "s3_session_token"),
        .multipart_threshold = cfg->s3_multipart_threshold,
        .part_size = cfg->s3_part_size,
        .retry_max_ms = cfg->s3_retry_max_ms,
        .timeout_ms = cfg->s3_timeout_ms,
        .conditional_put = cfg->s3_conditional_put,
        .lease_ttl_ms = cfg->s3_lease_ttl_ms,
        .cache_dir = cache,
        .cache_max_bytes = cfg->cache_max_bytes,
        .no_check_at_open = no_check,
    };
    int rc = lh_storage_open_s3(&o, out, err);
    free(cache);
    if (rc != LH_OK && strcmp(b->name, "primary") != 0)
        lh_error_prefix(err, "bucket '%s'", b->name);
    return rc;
}

int lh_storage_open_config(const lh_config *cfg, lh_storage **out, lh_error *err)
{
    *out = NULL;
    const char *name = cfg->bucket && *cfg->bucket ? cfg->bucket : "primary";
    char *names = known_names(cfg);
    bucket_settings b, rb;
    lh_secrets *sec = NULL;
    lh_storage *st = NULL, *rescue = NULL;
    int rc = LH_OK;
    if (!resolve(cfg, name, &b)) {
        rc = lh_error_set(err, LH_EINVAL, "unknown bucket '%s' (known: %s)", name, names);
        goto done;
    }
    if (b.rescue && (strcmp(b.rescue, name) == 0 || !resolve(cfg, b.rescue, &rb))) {
        rc = lh_error_set(err, LH_EINVAL, "bucket '%s': rescue_bucket '%s' is %s (known: %s)", name,
                          b.rescue, strcmp(b.rescue, name) == 0 ? "itself" : "unknown", names);
        goto done;
    }
    if (strcmp(b.backend, "s3") == 0 || (b.rescue && strcmp(rb.backend, "s3") == 0)) {
        rc = lh_secrets_load(cfg->secrets_file, &sec, err);
        if (rc != LH_OK) goto done;
    }
    /* With a rescue bucket, an unreachable primary must not stop start-up: reads fall back. */
    rc = open_backend(cfg, &b, sec, b.rescue != NULL, &st, err);
    if (rc != LH_OK) goto done;
    st = lh_storage_journaled(st, name);
    if (b.rescue) {
        /* A rescue bucket that cannot be opened now must not stop the primary from serving. */
        lh_error rerr = {0};
        if (open_backend(cfg, &rb, sec, false, &rescue, &rerr) == LH_OK) {
            char *leaf = lh_sprintf("objects/rescue-%s", rb.name);
            char *copies = lh_path_join(cfg->cache_dir ? cfg->cache_dir : cfg->data_dir, leaf);
            st = lh_storage_with_rescue(st, name, lh_storage_journaled(rescue, rb.name), rb.name,
                                        copies);
            free(copies);
            free(leaf);
        } else {
            lh_log(LH_LOG_WARN, "storage_rescue_unavailable", "bucket", name, "rescue", rb.name,
                   "msg", rerr.msg, (const char *)NULL);
        }
    }
    storage_set_names(st, name, names);
    *out = st;
done:
    lh_secrets_free(sec);
    free(names);
    return rc;
}
