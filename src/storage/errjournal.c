/* The error journal: every failed bucket operation in a ring of the last 2,000 events, and
 * through an AppendLog to "_errors/bucket_errors/" of the attached store. mu guards the ring;
 * log_mu guards log_ and is held while appending, so a detach never frees the log under an
 * append. Lock order: log_mu before mu. Failures of the journal's own writes are not
 * journaled (the journaled wrapper skips "_errors/" keys), so recording never recurses. */
#define _GNU_SOURCE
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_int.h"

#define RING 2000
#define PREFIX "_errors/bucket_errors/"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static lh_storage_error_event *ring; /* guarded by mu; RING slots, allocated on first use */
static size_t head, count;           /* guarded by mu: next slot, events held */
static lh_appendlog *log_;           /* guarded by log_mu */

static _Thread_local storage_failure last_failure;

void storage_failure_note(int status, int attempts, int os_errno)
{
    last_failure = (storage_failure){status, attempts, os_errno};
}

storage_failure storage_failure_take(void)
{
    storage_failure f = last_failure;
    memset(&last_failure, 0, sizeof last_failure);
    return f;
}

static void ring_put_locked(const lh_storage_error_event *e)
{
    if (!ring) ring = lh_calloc(RING, sizeof *ring);
    ring[head] = *e;
    head = (head + 1) % RING;
    if (count < RING) count++;
}

static char *to_json(const lh_storage_error_event *e)
{
    char when[40];
    lh_time_format(e->time_us, when, sizeof when);
    json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:i, s:i, s:s, s:i, s:s}", "time", when,
                          "time_us", (json_int_t)e->time_us, "bucket", e->bucket, "op", e->op,
                          "key", e->key, "status", e->status, "errno", e->os_errno, "code",
                          lh_error_name(e->code), "attempts", e->attempts, "message", e->message);
    if (o && e->rescued_by[0]) json_object_set_new(o, "rescued_by", json_string(e->rescued_by));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

static int code_of(const char *name)
{
    for (int c = 0; c >= -14; c--)
        if (strcmp(lh_error_name(c), name) == 0) return c;
    return LH_EIO;
}

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* Parses one persisted line back into an event; false if it is not one. */
static bool from_json(const char *line, size_t n, lh_storage_error_event *e)
{
    json_t *o = json_loadb(line, n, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return false;
    }
    memset(e, 0, sizeof *e);
    e->time_us = json_integer_value(json_object_get(o, "time_us"));
    copy_str(e->bucket, sizeof e->bucket, json_string_value(json_object_get(o, "bucket")));
    copy_str(e->op, sizeof e->op, json_string_value(json_object_get(o, "op")));
    copy_str(e->key, sizeof e->key, json_string_value(json_object_get(o, "key")));
    e->status = (int)json_integer_value(json_object_get(o, "status"));
    e->os_errno = (int)json_integer_value(json_object_get(o, "errno"));
    const char *code = json_string_value(json_object_get(o, "code"));
    e->code = code ? code_of(code) : LH_EIO;
    e->attempts = (int)json_integer_value(json_object_get(o, "attempts"));
    copy_str(e->message, sizeof e->message, json_string_value(json_object_get(o, "message")));
    copy_str(e->rescued_by, sizeof e->rescued_by,
             json_string_value(json_object_get(o, "rescued_by")));
    json_decref(o);
    return e->time_us > 0 && e->op[0];
}

void lh_storage_errors_record(const lh_storage_error_event *e)
{
    char *line = to_json(e);
    pthread_mutex_lock(&mu);
    ring_put_locked(e);
    pthread_mutex_unlock(&mu);
    pthread_mutex_lock(&log_mu);
    if (log_ && line) {
        lh_error err = {0};
        /* A failed write keeps the event pending in the log; nothing more to do here. */
        lh_appendlog_append(log_, line, strlen(line), &err);
    }
    pthread_mutex_unlock(&log_mu);
    free(line);
}

static int load_line(void *ctx, const char *line, size_t n)
{
    lh_storage_error_event e;
    if (from_json(line, n, &e)) {
        pthread_mutex_lock(&mu);
        ring_put_locked(&e);
        pthread_mutex_unlock(&mu);
    }
    return 0;
}

int lh_storage_errors_attach(lh_storage *st, lh_error *err)
{
    /* History first, so the ring holds the persisted events before new ones. Read without
     * log_mu: reading may itself record failures (a fallback to a rescue bucket). */
    int rc = lh_appendlog_read(st, PREFIX, 0, load_line, NULL, err);
    if (rc != LH_OK) return rc;
    pthread_mutex_lock(&log_mu);
    if (!log_) rc = lh_appendlog_open(st, PREFIX, 256 << 10, 5000, &log_, err);
    pthread_mutex_unlock(&log_mu);
    return rc;
}

void lh_storage_errors_detach(void)
{
    pthread_mutex_lock(&log_mu);
    lh_appendlog *l = log_;
    log_ = NULL;
    lh_appendlog_close(l); /* under log_mu: no append can be using it */
    pthread_mutex_unlock(&log_mu);
}

void lh_storage_errors_query(const char *bucket, const char *op, int64_t since_us, int64_t until_us,
                             lh_storage_error_event **out, size_t *n)
{
    pthread_mutex_lock(&mu);
    *out = lh_malloc((count ? count : 1) * sizeof **out);
    *n = 0;
    size_t start = (head + RING - count) % RING;
    for (size_t i = 0; i < count; i++) {
        const lh_storage_error_event *e = &ring[(start + i) % RING];
        if (bucket && strcmp(bucket, e->bucket) != 0) continue;
        if (op && strcmp(op, e->op) != 0) continue;
        if (since_us && e->time_us < since_us) continue;
        if (until_us && e->time_us > until_us) continue;
        (*out)[(*n)++] = *e;
    }
    pthread_mutex_unlock(&mu);
}

void lh_storage_errors_reset(void)
{
    pthread_mutex_lock(&mu);
    free(ring);
    ring = NULL;
    head = count = 0;
    pthread_mutex_unlock(&mu);
}
