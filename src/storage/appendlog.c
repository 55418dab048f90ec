/* AppendLog: events buffered in memory and written as new immutable batch objects
 * "<prefix>batch_<µs since epoch, 16 digits>_<writer id><seq>.jsonl" when the buffer reaches
 * its size, when its oldest event reaches its age, and at close. An object is never read,
 * modified and written back: concurrent writers (other processes, other machines) can only
 * add batches, and put-if-absent makes even a name collision harmless. Readers list the
 * batches (key order = time order) and read them in turn.
 *
 * Locking: mu guards buf, oldest_us, seq and stop; a flush takes the buffer under mu and
 * writes it outside, so appends never wait for the network. If a write fails the events go
 * back in front of the buffer (bounded by max_pending; the oldest are dropped past that, and
 * counted). */
#define _GNU_SOURCE
#include "storage/storage.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct lh_appendlog {
    lh_storage *st; /* borrowed */
    char *prefix;   /* "" or ends with '/' */
    size_t max_bytes;
    int max_age_ms;
    size_t max_pending;
    char writer[9]; /* random hex: batches of different writers never collide */

    pthread_mutex_t mu;
    pthread_mutex_t flush_mu; /* one flush at a time, so batches keep their order */
    pthread_cond_t cv;
    lh_buf buf;        /* guarded by mu: pending lines, each ending in '\n' */
    int64_t oldest_us; /* guarded by mu: wall time of the oldest pending line, 0 if none */
    uint32_t seq;      /* guarded by mu */
    bool stop;         /* guarded by mu */
    int64_t dropped;   /* guarded by mu */
    pthread_t thread;
    bool thread_on;
};

static void *age_main(void *arg);

int lh_appendlog_open(lh_storage *st, const char *prefix, size_t max_bytes, int max_age_ms,
                      lh_appendlog **out, lh_error *err)
{
    *out = NULL;
    if (!prefix || !*prefix || prefix[strlen(prefix) - 1] != '/')
        return lh_error_set(err, LH_EINVAL, "append log: prefix '%s' must end with '/'",
                            prefix ? prefix : "");
    char probe[LH_KEY_MAX];
    snprintf(probe, sizeof probe, "%sbatch", prefix);
    int rc = lh_storage_key_check(probe, err);
    if (rc != LH_OK) {
        lh_error_prefix(err, "append log");
        return rc;
    }
    lh_appendlog *l = lh_calloc(1, sizeof *l);
    l->st = st;
    l->prefix = lh_strdup(prefix);
    l->max_bytes = max_bytes ? max_bytes : 1 << 20;
    l->max_age_ms = max_age_ms > 0 ? max_age_ms : 5000;
    l->max_pending = l->max_bytes * 8;
    char id[37];
    lh_uuid(id);
    memcpy(l->writer, id, 8);
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->flush_mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (pthread_create(&l->thread, NULL, age_main, l) == 0) l->thread_on = true;
    *out = l;
    return LH_OK;
}

/* Writes the pending lines as one new batch. */
static int flush(lh_appendlog *l, lh_error *err)
{
    pthread_mutex_lock(&l->flush_mu);
    pthread_mutex_lock(&l->mu);
    lh_buf take = l->buf;
    memset(&l->buf, 0, sizeof l->buf);
    int64_t oldest = l->oldest_us;
    l->oldest_us = 0;
    uint32_t seq = ++l->seq;
    pthread_mutex_unlock(&l->mu);
    int rc = LH_OK;
    if (take.len == 0) goto done;
    for (int tries = 0; tries < 3; tries++) {
        char key[LH_KEY_MAX];
        snprintf(key, sizeof key, "%sbatch_%016" PRId64 "_%s%06u.jsonl", l->prefix, lh_wall_us(),
                 l->writer, seq);
        rc = lh_storage_put_if_absent(l->st, key, take.data, take.len, err);
        if (rc != LH_EEXIST) break;
        pthread_mutex_lock(&l->mu);
        seq = ++l->seq;
        pthread_mutex_unlock(&l->mu);
    }
    if (rc != LH_OK) {
        /* Put the events back in front of anything appended meanwhile, within the bound. */
        pthread_mutex_lock(&l->mu);
        lh_buf_append(&take, l->buf.data ? l->buf.data : "", l->buf.len);
        lh_buf_free(&l->buf);
        l->buf = take;
        memset(&take, 0, sizeof take);
        if (!l->oldest_us || (oldest && oldest < l->oldest_us)) l->oldest_us = oldest;
        while (l->buf.len > l->max_pending) {
            char *nl = memchr(l->buf.data, '\n', l->buf.len);
            size_t cut = nl ? (size_t)(nl - l->buf.data) + 1 : l->buf.len;
            memmove(l->buf.data, l->buf.data + cut, l->buf.len - cut);
            l->buf.len -= cut;
            l->buf.data[l->buf.len] = 0;
            l->dropped++;
        }
        pthread_mutex_unlock(&l->mu);
    }
done:
    lh_buf_free(&take);
    pthread_mutex_unlock(&l->flush_mu);
    return rc;
}

int lh_appendlog_append(lh_appendlog *l, const char *line, size_t n, lh_error *err)
{
    if (memchr(line, '\n', n))
        return lh_error_set(err, LH_EINVAL, "append log: an event must be one line");
    pthread_mutex_lock(&l->mu);
    lh_buf_append(&l->buf, line, n);
    lh_buf_putc(&l->buf, '\n');
    if (!l->oldest_us) l->oldest_us = lh_wall_us();
    bool full = l->buf.len >= l->max_bytes;
    pthread_mutex_unlock(&l->mu);
    return full ? flush(l, err) : LH_OK;
}

int lh_appendlog_flush(lh_appendlog *l, lh_error *err)
{
    return flush(l, err);
}

int64_t lh_appendlog_dropped(lh_appendlog *l)
{
    pthread_mutex_lock(&l->mu);
    int64_t d = l->dropped;
    pthread_mutex_unlock(&l->mu);
    return d;
}

/* Flushes when the oldest pending event reaches max_age_ms. */
static void *age_main(void *arg)
{
    lh_appendlog *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wait_ms = l->max_age_ms / 2 > 0 ? l->max_age_ms / 2 : 1;
        ts.tv_sec += wait_ms / 1000;
        ts.tv_nsec += (wait_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        if (l->stop) break;
        bool due = l->oldest_us && lh_wall_us() - l->oldest_us >= (int64_t)l->max_age_ms * 1000;
        if (!due) continue;
        pthread_mutex_unlock(&l->mu);
        lh_error err = {0};
        if (flush(l, &err) != LH_OK)
            lh_log(LH_LOG_WARN, "appendlog_flush_failed", "prefix", l->prefix, "msg", err.msg,
                   (const char *)NULL);
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

void lh_appendlog_close(lh_appendlog *l)
{
    if (!l) return;
    if (l->thread_on) {
        pthread_mutex_lock(&l->mu);
        l->stop = true;
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
    }
    lh_error err = {0};
    if (flush(l, &err) != LH_OK)
        lh_log(LH_LOG_WARN, "appendlog_flush_failed", "prefix", l->prefix, "msg", err.msg,
               (const char *)NULL);
    lh_buf_free(&l->buf);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->flush_mu);
    pthread_cond_destroy(&l->cv);
    free(l->prefix);
    free(l);
}

/* The flush time encoded in a batch key, or -1 if the name is not a batch's. */
static int64_t batch_time(const char *key, size_t plen)
{
    const char *name = key + plen;
    if (strncmp(name, "batch_", 6) != 0) return -1;
    char *end;
    long long t = strtoll(name + 6, &end, 10);
    return *end == '_' ? (int64_t)t : -1;
}

int lh_appendlog_read(lh_storage *st, const char *prefix, int64_t since_us,
                      int (*fn)(void *ctx, const char *line, size_t n), void *ctx, lh_error *err)
{
    lh_object_list l;
    int rc = lh_storage_list_all(st, prefix, &l, err);
    if (rc != LH_OK) return rc;
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < l.count && rc == LH_OK; i++) {
        int64_t t = batch_time(l.items[i].key, plen);
        /* A batch holds events up to its flush time: older batches cannot match. */
        if (t < 0 || (since_us > 0 && t < since_us)) continue;
        char *data;
        size_t n;
        rc = lh_storage_get(st, l.items[i].key, &data, &n, err);
        if (rc == LH_ENOENT) { /* removed meanwhile (retention): skip */
            lh_error_clear(err);
            rc = LH_OK;
            continue;
        }
        if (rc != LH_OK) break;
        for (char *p = data; p < data + n && rc == LH_OK;) {
            char *nl = memchr(p, '\n', (size_t)(data + n - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(data + n - p);
            if (len) rc = fn(ctx, p, len);
            p += len + 1;
        }
        free(data);
    }
    lh_storage_list_free(&l);
    return rc;
}
