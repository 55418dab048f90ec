/* Embed jobs: text-index builds on a background worker, recorded in the lake, checkpointed and
 * resumed after a crash. See ai.h. */
#include "ai/ai_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOBS_PREFIX "_jobs/"
#define PERSIST_EVERY_NS 1000000000ull

typedef struct job {
    char id[40];
    char *dataset, *column, *name, *actor;
    lh_ai_chunk_opts chunk;
    const char *state; /* static strings */
    double progress;
    lh_ai_text_build_stats stats;
    char *error;
    char *generation;
    int64_t created_us, started_us, ended_us;
    bool resumed;
    volatile int cancel;
    uint64_t persisted_ns;
    struct job *next; /* newest first */
} job;

struct lh_ai_jobs {
    lh_catalog *cat;
    lh_query *q;
    const lh_config *cfg;
    lh_storage *s;
    pthread_t thread;
    pthread_mutex_t mu; /* guards everything below and every job's fields */
    pthread_cond_t cv;  /* work queued, stop requested, or a job ended */
    bool stop;
    job *jobs;
    lh_ai_embedder *e; /* worker thread only */
};

static bool ended(const job *jb)
{
    return strcmp(jb->state, "queued") != 0 && strcmp(jb->state, "running") != 0;
}

static void time_field(json_t *o, const char *k, int64_t us)
{
    char t[40];
    if (!us) {
        json_object_set_new(o, k, json_null());
        return;
    }
    lh_time_format(us, t, sizeof t);
    json_object_set_new(o, k, json_string(t));
}

/* The job's record (call with mu held). */
static json_t *record(const job *jb)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:{s:I, s:I, s:s}, s:{s:I, s:I, s:I, s:I}, s:b}", "id",
        jb->id, "kind", "text_index", "dataset", jb->dataset, "column", jb->column, "index",
        jb->name, "state", jb->state, "progress", jb->progress, "chunking", "size",
        (json_int_t)jb->chunk.size, "overlap", (json_int_t)jb->chunk.overlap, "unit",
        jb->chunk.unit == LH_AI_CHUNK_TOKENS ? "tokens" : "chars", "counts", "rows",
        (json_int_t)jb->stats.rows, "chunks", (json_int_t)jb->stats.chunks, "embedded",
        (json_int_t)jb->stats.embedded, "reused", (json_int_t)jb->stats.reused, "resumed",
        jb->resumed);
    json_object_set_new(o, "actor", json_string(jb->actor ? jb->actor : ""));
    json_object_set_new(o, "seconds", json_real(jb->stats.seconds));
    json_object_set_new(
        o, "chunks_per_s",
        json_real(jb->stats.seconds > 0 ? (double)jb->stats.chunks / jb->stats.seconds : 0));
    json_object_set_new(o, "generation",
                        jb->generation ? json_string(jb->generation) : json_null());
    json_object_set_new(o, "error", jb->error ? json_string(jb->error) : json_null());
    time_field(o, "created_at", jb->created_us);
    time_field(o, "started_at", jb->started_us);
    time_field(o, "ended_at", jb->ended_us);
    json_object_set_new(o, "created_us", json_integer(jb->created_us));
    return o;
}

/* Writes the job's record to the lake (call with mu held). A failure is logged: the job goes
 * on, its record in memory stays right. */
static void persist(lh_ai_jobs *r, job *jb)
{
    json_t *o = record(jb);
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
    char *key = lh_sprintf(JOBS_PREFIX "%s.json", jb->id);
    lh_error e = {0};
    if (lh_storage_put(r->s, key, text, strlen(text), &e))
        lh_log(LH_LOG_WARN, "ai.job_record_failed", "job", jb->id, "error", e.msg,
               (const char *)NULL);
    jb->persisted_ns = lh_now_ns();
    free(key);
    free(text);
    json_decref(o);
}

static void job_free(job *jb)
{
    free(jb->dataset);
    free(jb->column);
    free(jb->name);
    free(jb->actor);
    free(jb->error);
    free(jb->generation);
    free(jb);
}

static void drop_checkpoints(lh_ai_jobs *r, const char *id)
{
    char *prefix = lh_sprintf(JOBS_PREFIX "%s/", id);
    lh_object_list l = {0};
    lh_error e = {0};
    if (!lh_storage_list_all(r->s, prefix, &l, &e))
        for (size_t i = 0; i < l.count; i++)
            lh_storage_delete(r->s, l.items[i].key, &e);
    lh_storage_list_free(&l);
    free(prefix);
}

typedef struct run_ctx {
    lh_ai_jobs *r;
    job *jb;
} run_ctx;

static void on_progress(void *ctx, double f)
{
    run_ctx *c = ctx;
    pthread_mutex_lock(&c->r->mu);
    c->jb->progress = f;
    if (lh_now_ns() - c->jb->persisted_ns > PERSIST_EVERY_NS) persist(c->r, c->jb);
    pthread_mutex_unlock(&c->r->mu);
}

static void run(lh_ai_jobs *r, job *jb)
{
    lh_error err = {0};
    lh_identity who = {.profile = "default", .actor = jb->actor};
    char *ckpt = lh_sprintf(JOBS_PREFIX "%s/", jb->id);
    run_ctx ctx = {r, jb};
    lh_ai_text_spec sp = {.dataset = jb->dataset,
                          .column = jb->column,
                          .name = jb->name,
                          .chunk = jb->chunk,
                          .tmp_dir = r->cfg->cache_dir,
                          .progress = on_progress,
                          .progress_ctx = &ctx,
                          .cancel = &jb->cancel,
                          .checkpoint = ckpt};
    lh_vector_index_meta m = {0};
    lh_ai_text_build_stats st = {0};
    int rc = r->e ? LH_OK : lh_ai_embedder_open(r->cfg, &r->e, &err);
    if (!rc) rc = lh_mkdir_p(r->cfg->cache_dir, &err);
    if (!rc) rc = lh_ai_text_index_build(r->cat, r->q, r->e, &who, &sp, &m, &st, &err);
    pthread_mutex_lock(&r->mu);
    bool interrupted = rc == LH_ECANCELED && r->stop && jb->cancel != 2;
    if (interrupted) {
        jb->state = "queued"; /* resumed by the next runner over this lake */
    } else {
        jb->state = rc == 0 ? "done" : rc == LH_ECANCELED ? "canceled" : "failed";
        jb->ended_us = lh_wall_us();
        if (rc == 0) {
            jb->progress = 1;
            jb->stats = st;
            jb->generation = lh_strdup(m.generation);
        } else if (rc != LH_ECANCELED) {
            jb->error = lh_strdup(err.msg);
        }
    }
    persist(r, jb);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (!interrupted) drop_checkpoints(r, jb->id);
    lh_log(rc && !interrupted ? LH_LOG_WARN : LH_LOG_INFO, "ai.job_end", "job", jb->id, "state",
           jb->state, "index", jb->name, "error", rc ? err.msg : "", (const char *)NULL);
    lh_vector_index_meta_free(&m);
    free(ckpt);
}

static void *worker(void *arg)
{
    lh_ai_jobs *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        job *next = NULL;
        for (job *jb = r->jobs; jb; jb = jb->next)
            if (strcmp(jb->state, "queued") == 0) next = jb; /* the oldest queued */
        if (!next) {
            pthread_cond_wait(&r->cv, &r->mu);
            continue;
        }
        next->state = "running";
        next->started_us = lh_wall_us();
        persist(r, next);
        pthread_mutex_unlock(&r->mu);
        run(r, next);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* Makes a job from a record found in the lake (unfinished: queued again). */
static job *job_from_record(const json_t *o)
{
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *ds = json_string_value(json_object_get(o, "dataset"));
    const char *col = json_string_value(json_object_get(o, "column"));
    const char *name = json_string_value(json_object_get(o, "index"));
    json_t *ch = json_object_get(o, "chunking");
    if (!id || strlen(id) >= 40 || !ds || !col || !name || !json_is_object(ch)) return NULL;
    job *jb = lh_calloc(1, sizeof *jb);
    snprintf(jb->id, sizeof jb->id, "%s", id);
    jb->dataset = lh_strdup(ds);
    jb->column = lh_strdup(col);
    jb->name = lh_strdup(name);
    const char *actor = json_string_value(json_object_get(o, "actor"));
    jb->actor = lh_strdup(actor ? actor : "");
    jb->chunk.size = (size_t)json_integer_value(json_object_get(ch, "size"));
    jb->chunk.overlap = (size_t)json_integer_value(json_object_get(ch, "overlap"));
    const char *unit = json_string_value(json_object_get(ch, "unit"));
    jb->chunk.unit = unit && strcmp(unit, "tokens") == 0 ? LH_AI_CHUNK_TOKENS : LH_AI_CHUNK_CHARS;
    jb->created_us = json_integer_value(json_object_get(o, "created_us"));
    jb->state = "queued";
    jb->resumed = true;
    return jb;
}

/* Queues again the unfinished jobs an earlier process left in the lake, oldest first. */
static void resume(lh_ai_jobs *r)
{
    lh_object_list l = {0};
    lh_error e = {0};
    if (lh_storage_list_all(r->s, JOBS_PREFIX, &l, &e)) return;
    for (size_t i = 0; i < l.count; i++) {
        const char *key = l.items[i].key;
        const char *rest = key + strlen(JOBS_PREFIX);
        size_t len = strlen(rest);
        if (strchr(rest, '/') || len < 6 || strcmp(rest + len - 5, ".json") != 0) continue;
        char *text = NULL;
        size_t n;
        if (lh_storage_get(r->s, key, &text, &n, &e)) continue;
        json_t *o = json_loadb(text, n, 0, NULL);
        free(text);
        const char *state = json_string_value(json_object_get(o, "state"));
        job *jb = state && (strcmp(state, "queued") == 0 || strcmp(state, "running") == 0)
                      ? job_from_record(o)
                      : NULL;
        json_decref(o);
        if (!jb) continue;
        /* Insert keeping newest first by creation time. */
        job **p = &r->jobs;
        while (*p && (*p)->created_us > jb->created_us)
            p = &(*p)->next;
        jb->next = *p;
        *p = jb;
        lh_log(LH_LOG_INFO, "ai.job_resumed", "job", jb->id, "index", jb->name, (const char *)NULL);
    }
    lh_storage_list_free(&l);
}

lh_ai_jobs *lh_ai_jobs_start(lh_catalog *cat, lh_query *q, const lh_config *cfg)
{
    lh_ai_jobs *r = lh_calloc(1, sizeof *r);
    r->cat = cat;
    r->q = q;
    r->cfg = cfg;
    r->s = lh_catalog_storage(cat);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    resume(r);
    pthread_create(&r->thread, NULL, worker, r);
    return r;
}

void lh_ai_jobs_stop(lh_ai_jobs *r)
{
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    for (job *jb = r->jobs; jb; jb = jb->next)
        if (strcmp(jb->state, "running") == 0 && !jb->cancel) jb->cancel = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    for (job *jb = r->jobs, *next; jb; jb = next) {
        next = jb->next;
        job_free(jb);
    }
    lh_ai_embedder_free(r->e);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

static job *find(lh_ai_jobs *r, const char *id)
{
    for (job *jb = r->jobs; jb; jb = jb->next)
        if (strcmp(jb->id, id) == 0) return jb;
    return NULL;
}

int lh_ai_jobs_submit(lh_ai_jobs *r, const lh_identity *who, const lh_ai_text_spec *sp,
                      json_t **out, lh_error *err)
{
    *out = NULL;
    if (!sp->dataset || !*sp->dataset || !sp->column || !*sp->column)
        return lh_error_set(err, LH_EINVAL, "embed job: a dataset and a column are required");
    lh_manifest *m = NULL;
    int rc = lh_catalog_get(r->cat, who, sp->dataset, 0, &m, err);
    if (rc) return rc;
    bool found = false;
    for (size_t i = 0; i < m->ncolumns; i++)
        found = found || strcmp(m->columns[i].name, sp->column) == 0;
    lh_manifest_free(m);
    if (!found)
        return lh_error_set(err, LH_ENOENT, "dataset '%s' has no column '%s'", sp->dataset,
                            sp->column);
    lh_ai_chunk_opts co = sp->chunk.size ? sp->chunk : (lh_ai_chunk_opts){1000, 150, 0};
    lh_ai_chunk *tmp = NULL;
    size_t nt = 0;
    if ((rc = lh_ai_chunk_text("x", 1, &co, &tmp, &nt, err))) return rc; /* validates co */
    free(tmp);
    char *name = NULL;
    if (sp->name) {
        name = lh_strdup(sp->name);
    } else {
        name = lh_sprintf("%s_%s_text", sp->dataset, sp->column);
        for (char *p = name; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
                *p = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : '_';
    }
    if (!lh_name_valid(name, err)) {
        rc = lh_error_prefix(err, "text index name '%s'", name);
        free(name);
        return rc;
    }
    pthread_mutex_lock(&r->mu);
    /* A queued job for the same index already covers this request: it reads the dataset
     * when it starts. */
    for (job *jb = r->jobs; jb; jb = jb->next)
        if (strcmp(jb->state, "queued") == 0 && strcmp(jb->name, name) == 0 &&
            strcmp(jb->column, sp->column) == 0) {
            *out = record(jb);
            pthread_mutex_unlock(&r->mu);
            free(name);
            return LH_OK;
        }
    job *jb = lh_calloc(1, sizeof *jb);
    lh_uuid(jb->id);
    jb->dataset = lh_strdup(sp->dataset);
    jb->column = lh_strdup(sp->column);
    jb->name = name;
    jb->actor = lh_strdup(who && who->actor ? who->actor : "");
    jb->chunk = co;
    jb->state = "queued";
    jb->created_us = lh_wall_us();
    jb->next = r->jobs;
    r->jobs = jb;
    persist(r, jb);
    *out = record(jb);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return LH_OK;
}

int lh_ai_jobs_embed_dataset(lh_ai_jobs *r, const lh_identity *who, const char *dataset,
                             json_t **out, lh_error *err)
{
    *out = json_array();
    char **names = NULL;
    size_t n = 0;
    int rc = lh_vector_index_list(r->s, &names, &n, err);
    for (size_t i = 0; i < n && !rc; i++) {
        lh_vector_index_meta m;
        lh_error e = {0};
        if (lh_vector_index_current(r->s, names[i], &m, &e)) continue;
        const char *kind = json_string_value(json_object_get(m.json, "kind"));
        if (kind && strcmp(kind, "text") == 0 && strcmp(m.dataset, dataset) == 0) {
            json_t *ch = json_object_get(m.json, "chunking");
            const char *unit = json_string_value(json_object_get(ch, "unit"));
            lh_ai_text_spec sp = {
                .dataset = dataset,
                .column = m.column,
                .name = m.index,
                .chunk = {(size_t)json_integer_value(json_object_get(ch, "size")),
                          (size_t)json_integer_value(json_object_get(ch, "overlap")),
                          unit && strcmp(unit, "tokens") == 0 ? LH_AI_CHUNK_TOKENS
                                                              : LH_AI_CHUNK_CHARS}};
            json_t *rec = NULL;
            rc = lh_ai_jobs_submit(r, who, &sp, &rec, err);
            if (!rc) json_array_append_new(*out, rec);
        }
        lh_vector_index_meta_free(&m);
    }
    lh_catalog_names_free(names, n);
    if (rc) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int lh_ai_jobs_get(lh_ai_jobs *r, const char *id, json_t **out, lh_error *err)
{
    *out = NULL;
    pthread_mutex_lock(&r->mu);
    job *jb = find(r, id);
    if (jb) *out = record(jb);
    pthread_mutex_unlock(&r->mu);
    if (jb) return LH_OK;
    /* A job of an earlier process: its record in the lake. */
    lh_error e = {0};
    if (lh_name_valid(id, &e) || (strlen(id) == 36 && strspn(id, "0123456789abcdef-") == 36)) {
        char *key = lh_sprintf(JOBS_PREFIX "%s.json", id), *text = NULL;
        size_t n;
        if (!lh_storage_get(r->s, key, &text, &n, &e)) *out = json_loadb(text, n, 0, NULL);
        free(text);
        free(key);
    }
    if (*out) return LH_OK;
    return lh_error_set(err, LH_ENOENT, "no job '%s'", id);
}

json_t *lh_ai_jobs_list(lh_ai_jobs *r)
{
    json_t *a = json_array();
    pthread_mutex_lock(&r->mu);
    for (job *jb = r->jobs; jb; jb = jb->next)
        json_array_append_new(a, record(jb));
    pthread_mutex_unlock(&r->mu);
    return a;
}

int lh_ai_jobs_cancel(lh_ai_jobs *r, const char *id, json_t **out, lh_error *err)
{
    *out = NULL;
    pthread_mutex_lock(&r->mu);
    job *jb = find(r, id);
    int rc = LH_OK;
    if (!jb) {
        pthread_mutex_unlock(&r->mu);
        /* A job of an earlier process: it ended, or another runner owns it. */
        if ((rc = lh_ai_jobs_get(r, id, out, err))) return rc;
        const char *state = json_string_value(json_object_get(*out, "state"));
        return lh_error_set(err, LH_ECONFLICT, "job '%s' is %s and not run by this server", id,
                            state ? state : "unknown");
    } else if (ended(jb)) {
        rc = lh_error_set(err, LH_ECONFLICT, "job '%s' already ended (%s)", id, jb->state);
    } else if (strcmp(jb->state, "queued") == 0) {
        jb->state = "canceled";
        jb->ended_us = lh_wall_us();
        persist(r, jb);
        pthread_cond_broadcast(&r->cv);
    } else {
        jb->cancel = 2; /* by request: recorded as canceled, not resumed */
    }
    if (jb) *out = record(jb);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int lh_ai_jobs_wait(lh_ai_jobs *r, const char *id, int timeout_ms, lh_error *err)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&r->mu);
    job *jb = find(r, id);
    int rc = jb ? LH_OK : lh_error_set(err, LH_ENOENT, "no job '%s'", id);
    while (jb && !ended(jb) && !r->stop)
        if (pthread_cond_timedwait(&r->cv, &r->mu, &until) == ETIMEDOUT) {
            rc = lh_error_set(err, LH_ETIMEOUT, "job '%s' still %s", id, jb->state);
            break;
        }
    pthread_mutex_unlock(&r->mu);
    return rc;
}
