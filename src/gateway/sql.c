/* POST /sql: runs a query and sends or streams its output to the client.
 *
 * A JSON query runs on the request thread: it executes (materialized) and is encoded into a
 * buffer there, and a result of up to JSON_WHOLE_MAX bytes goes out as one response with a
 * Content-Length — no other thread involved. Only the encoding of a larger JSON result moves
 * to a producer thread (the rest streams, chunked), and NDJSON/CSV queries run on a producer
 * from the start (their output streams as it is fetched).
 *
 * A producer pushes bytes into a sink; MHD pulls bytes from a content reader. A bounded
 * buffer joins them: the producer blocks while it is full, the reader waits briefly while
 * it is empty, so a streamed result uses at most STREAM_CAP bytes of memory beyond what the
 * request thread encoded. The status is decided before the first byte goes out: a JSON query
 * has executed by then; for NDJSON/CSV the handler waits until the query has either finished
 * (fixed response with Content-Length, or an error status) or produced bytes, then answers
 * 200 with a chunked stream. An error after that point can only cut the stream short (the
 * client sees an incomplete chunked body, never a clean end).
 *
 * The stream is shared by up to three owners (producer thread, MHD response, request for
 * the access log) and freed by the last release.
 */
#include "gateway/gateway_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STREAM_CAP (1u << 20)
#define READER_WAIT_MS 200
#define JSON_WHOLE_MAX (8u << 20)

struct gw_stream {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* guarded by mu: */
    char *buf;
    size_t start, len, cap;
    bool done; /* lh_query_run returned */
    int rc;
    lh_error err;
    lh_query_stats stats;
    bool cancel;  /* the consumer is gone: the sink tells the query to stop */
    bool limited; /* the stream was cut at the row limit (the query was stopped on purpose) */
    int refs;
    uint64_t sent;
    /* row limit for NDJSON/CSV, applied in the sink (producer thread only): */
    int64_t limit;
    int64_t rows;
    bool in_quotes;
    bool header_done;
    /* immutable after start: */
    lh_gateway *g;
    lh_query *query;     /* of the request's bucket */
    lh_query_exec *exec; /* a JSON run whose encoding the producer continues, or NULL */
    char *sql;
    lh_query_opts opts;
    char actor[80];
    lh_identity who;
};

static void stream_lock(gw_stream *s)
{
    pthread_mutex_lock(&s->mu);
}

static void stream_unlock(gw_stream *s)
{
    pthread_mutex_unlock(&s->mu);
}

uint64_t gw_stream_sent(gw_stream *s)
{
    stream_lock(s);
    uint64_t n = s->sent;
    stream_unlock(s);
    return n;
}

void gw_stream_release(gw_stream *s)
{
    if (!s) return;
    stream_lock(s);
    int left = --s->refs;
    stream_unlock(s);
    if (left > 0) return;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->buf);
    free(s->sql);
    free(s);
}

/* How many bytes of data to keep so that at most s->limit rows pass; sets s->limited when
 * the limit is reached inside this chunk. CSV rows end at a newline outside quotes; the
 * header row does not count. */
static size_t apply_row_limit(gw_stream *s, const char *data, size_t n)
{
    if (s->limit <= 0 || s->opts.format == LH_QUERY_JSON) return n;
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        if (s->opts.format == LH_QUERY_CSV && c == '"') {
            s->in_quotes = !s->in_quotes;
            continue;
        }
        if (c != '\n' || s->in_quotes) continue;
        if (s->opts.format == LH_QUERY_CSV && !s->header_done) {
            s->header_done = true;
            continue;
        }
        if (++s->rows >= s->limit) {
            s->limited = true;
            return i + 1;
        }
    }
    return n;
}

static int sink(void *ctx, const char *data, size_t n)
{
    gw_stream *s = ctx;
    if (s->limited) return 1;
    size_t keep = apply_row_limit(s, data, n);
    stream_lock(s);
    while (!s->cancel && s->len > 0 && s->len + keep > s->cap) {
        pthread_cond_broadcast(&s->cv);
        pthread_cond_wait(&s->cv, &s->mu);
    }
    if (s->cancel) {
        stream_unlock(s);
        return 1;
    }
    if (keep > s->cap) {
        s->cap = keep;
        s->buf = lh_realloc(s->buf, s->cap);
    }
    if (s->start + s->len + keep > s->cap) {
        memmove(s->buf, s->buf + s->start, s->len);
        s->start = 0;
    }
    memcpy(s->buf + s->start + s->len, data, keep);
    s->len += keep;
    pthread_cond_broadcast(&s->cv);
    bool stop = s->limited;
    stream_unlock(s);
    return stop ? 1 : 0;
}

static void producer(void *arg)
{
    gw_stream *s = arg;
    lh_gateway *g = s->g;
    lh_error err = {0};
    lh_query_stats stats = {0};
    int rc;
    if (s->exec) {
        bool more = false;
        rc = lh_query_encode(s->exec, sink, s, SIZE_MAX, &more, &err);
        lh_query_finish(s->exec, &stats);
        s->exec = NULL;
    } else {
        rc = lh_query_run(s->query, &s->who, s->sql, &s->opts, sink, s, &stats, &err);
    }
    stream_lock(s);
    if (rc != LH_OK && (s->limited || s->cancel))
        rc = LH_OK; /* we stopped it: row limit reached or client gone */
    s->rc = rc;
    s->err = err;
    s->stats = stats;
    s->done = true;
    stream_unlock(s);
    /* After the unlock (our reference keeps s alive): the woken handler then finds the
     * lock free instead of blocking on it once more. */
    pthread_cond_broadcast(&s->cv);
    gw_stream_release(s);
    pthread_mutex_lock(&g->mu);
    g->nstreams--;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    gw_stream *s = cls;
    stream_lock(s);
    if (s->len == 0 && !s->done) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_nsec += READER_WAIT_MS * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        while (s->len == 0 && !s->done) {
            if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT) break;
        }
    }
    ssize_t out = 0;
    if (s->len > 0) {
        size_t n = s->len < max ? s->len : max;
        memcpy(buf, s->buf + s->start, n);
        s->start += n;
        s->len -= n;
        if (s->len == 0) s->start = 0;
        s->sent += n;
        pthread_cond_broadcast(&s->cv);
        out = (ssize_t)n;
    } else if (s->done) {
        if (s->rc != LH_OK) {
            lh_log(LH_LOG_WARN, "sql_stream_failed", "code", lh_error_name(s->rc), "msg",
                   s->err.msg, (const char *)NULL);
            out = MHD_CONTENT_READER_END_WITH_ERROR;
        } else {
            out = MHD_CONTENT_READER_END_OF_STREAM;
        }
    }
    /* else: nothing yet; returning 0 lets MHD serve its other connections and call again. */
    stream_unlock(s);
    return out;
}

static void reader_free(void *cls)
{
    gw_stream *s = cls;
    stream_lock(s);
    s->cancel = true;
    pthread_cond_broadcast(&s->cv);
    stream_unlock(s);
    gw_stream_release(s);
}

static const char *content_type(lh_query_format f)
{
    switch (f) {
    case LH_QUERY_NDJSON:
        return "application/x-ndjson";
    case LH_QUERY_CSV:
        return "text/csv; charset=utf-8";
    case LH_QUERY_JSON:
    default:
        return "application/json";
    }
}

/* Reads and checks the request fields; answers 400 and returns false on a bad one. */
static bool sql_request(gw_req *r, const char **sql, lh_query_opts *opts, int64_t *limit,
                        bool *parquet)
{
    const lh_config *cfg = r->g->deps.cfg;
    const char *key;
    json_t *v;
    json_object_foreach(r->json, key, v)
    {
        if (strcmp(key, "sql") && strcmp(key, "format") && strcmp(key, "limit") &&
            strcmp(key, "timeout_ms") && strcmp(key, "as_of")) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "unknown field '%.80s' (expected sql, format, limit, timeout_ms, as_of)", key);
            gw_send_error(r, 400, LH_EINVAL, msg, json_pack("{s:s}", "field", key));
            return false;
        }
    }
    json_t *js = json_object_get(r->json, "sql");
    if (!json_is_string(js) || json_string_length(js) == 0) {
        gw_send_error(r, 400, LH_EINVAL, "field 'sql' is required and must be a non-empty string",
                      json_pack("{s:s}", "field", "sql"));
        return false;
    }
    *sql = json_string_value(js);
    if (strlen(*sql) != json_string_length(js)) {
        gw_send_error(r, 400, LH_EINVAL, "field 'sql' contains a NUL character", NULL);
        return false;
    }
    opts->format = LH_QUERY_JSON;
    *parquet = false;
    json_t *jf = json_object_get(r->json, "format");
    if (jf) {
        const char *f = json_string_value(jf);
        if (f && strcmp(f, "json") == 0)
            opts->format = LH_QUERY_JSON;
        else if (f && strcmp(f, "ndjson") == 0)
            opts->format = LH_QUERY_NDJSON;
        else if (f && strcmp(f, "csv") == 0)
            opts->format = LH_QUERY_CSV;
        else if (f && strcmp(f, "parquet") == 0)
            *parquet = true;
        else {
            gw_send_error(r, 400, LH_EINVAL,
                          "field 'format' must be \"json\", \"ndjson\", \"csv\" or \"parquet\"",
                          json_pack("{s:s}", "field", "format"));
            return false;
        }
    }
    json_t *jl = json_object_get(r->json, "limit");
    *limit = 0;
    if (jl) {
        if (!json_is_integer(jl) || json_integer_value(jl) < 0) {
            gw_send_error(r, 400, LH_EINVAL, "field 'limit' must be a non-negative integer",
                          json_pack("{s:s}", "field", "limit"));
            return false;
        }
        *limit = json_integer_value(jl);
    }
    opts->row_limit = *limit;
    json_t *jt = json_object_get(r->json, "timeout_ms");
    opts->timeout_ms = 0;
    if (jt) {
        if (!json_is_integer(jt) || json_integer_value(jt) <= 0) {
            gw_send_error(r, 400, LH_EINVAL, "field 'timeout_ms' must be a positive integer",
                          json_pack("{s:s}", "field", "timeout_ms"));
            return false;
        }
        json_int_t t = json_integer_value(jt);
        /* The server's timeout is a ceiling: a client may ask for less, never more. */
        if (cfg->query_timeout_ms > 0 && t > cfg->query_timeout_ms) t = cfg->query_timeout_ms;
        opts->timeout_ms = (int)t;
    }
    return true;
}

/* The query's error with the statement (at most 500 bytes, never cutting a UTF-8 sequence). */
/* A chunked response reading s (which gains the response's reference, dropped by
 * reader_free); NULL after answering 500 if libmicrohttpd cannot make one. */
static struct MHD_Response *stream_response(gw_req *r, gw_stream *s)
{
    stream_lock(s);
    s->refs++;
    stream_unlock(s);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, reader, s, reader_free);
    if (!resp) {
        reader_free(s);
        gw_send_error(r, 500, LH_EINTERNAL, "cannot create a streaming response", NULL);
    }
    return resp;
}

static void send_query_error(gw_req *r, int rc, const lh_error *qerr, const char *sql)
{
    size_t shown = strlen(sql) > 500 ? 500 : strlen(sql);
    while (shown > 0 && shown < strlen(sql) && ((unsigned char)sql[shown] & 0xC0) == 0x80)
        shown--;
    gw_send_error(r, 0, rc, qerr->msg[0] ? qerr->msg : lh_error_name(rc),
                  json_pack("{s:s%}", "sql", sql, shown));
}

/* format "parquet": the whole result (no row limit) written to a Parquet file by the engine,
 * sent from the open file, whose name the engine has already removed. */
static void send_parquet(gw_req *r, const char *sql, int timeout_ms)
{
    lh_error err = {0};
    int fd = -1;
    int64_t size = 0, rows = -1;
    int rc = lh_query_export_parquet(gw_req_env(r)->query, &r->who, sql, timeout_ms, &fd, &size,
                                     &rows, &err);
    if (rc != LH_OK) {
        send_query_error(r, rc, &err, sql);
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)size, fd); /* owns fd */
    if (!resp) {
        close(fd);
        gw_send_error(r, 500, LH_EINTERNAL, "cannot create the Parquet response", NULL);
        return;
    }
    char nrows[32];
    snprintf(nrows, sizeof nrows, "%lld", (long long)rows);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/vnd.apache.parquet");
    MHD_add_response_header(resp, "Content-Disposition", "attachment; filename=\"result.parquet\"");
    if (rows >= 0) MHD_add_response_header(resp, "X-Lakehouse-Rows", nrows);
    MHD_add_response_header(resp, "X-Lakehouse-Truncated", "false");
    gw_send_response(r, 200, resp, (uint64_t)size);
}

static int buf_sink(void *ctx, const char *data, size_t n)
{
    lh_buf_append(ctx, data, n);
    return 0;
}

/* A new stream for sql (owned) in opts' format; one reference, the request's. */
static gw_stream *stream_new(gw_req *r, char *sql, const lh_query_opts *opts, int64_t limit)
{
    gw_stream *s = lh_calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->cap = STREAM_CAP;
    s->g = r->g;
    s->query = gw_req_env(r)->query;
    s->sql = sql;
    s->opts = *opts;
    s->limit = limit;
    snprintf(s->actor, sizeof s->actor, "%s", r->actor);
    s->who.profile = r->who.profile;
    s->who.actor = s->actor;
    s->refs = 1;
    return s;
}

/* Starts the producer of s on a crew thread (it takes a reference). False if no thread. */
static bool producer_start(lh_gateway *g, gw_stream *s)
{
    s->refs++;
    pthread_mutex_lock(&g->mu);
    g->nstreams++;
    pthread_mutex_unlock(&g->mu);
    /* On a warm crew thread: a thread of its own per query made DuckDB page-fault its
     * buffers in anew every time (bench/RESULTS.md, SQL). */
    if (lh_crew_run(g->producers, producer, s) == LH_OK) return true;
    s->refs--;
    pthread_mutex_lock(&g->mu);
    g->nstreams--;
    pthread_mutex_unlock(&g->mu);
    return false;
}

/* A JSON query on the request thread (see the top of this file). sql is the resolved text
 * (owned), shown is the caller's (for errors). */
static void send_json(gw_req *r, char *sql, const char *shown, const lh_query_opts *opts)
{
    lh_error err = {0};
    lh_query_exec *x = NULL;
    int rc = lh_query_start(gw_req_env(r)->query, &r->who, sql, opts, &x, &err);
    if (rc != LH_OK) {
        send_query_error(r, rc, &err, shown);
        free(sql);
        return;
    }
    lh_buf out = {0};
    bool more = false;
    rc = lh_query_encode(x, buf_sink, &out, JSON_WHOLE_MAX, &more, &err);
    if (rc != LH_OK || !more) {
        lh_query_stats stats = {0};
        lh_query_finish(x, &stats);
        free(sql);
        if (rc != LH_OK) {
            lh_buf_free(&out);
            send_query_error(r, rc, &err, shown);
            return;
        }
        size_t n = out.len;
        struct MHD_Response *resp =
            MHD_create_response_from_buffer_with_free_callback(n, lh_buf_steal(&out), free);
        if (!resp) {
            gw_send_error(r, 500, LH_EINTERNAL, "cannot create the response", NULL);
            return;
        }
        char rows[32];
        snprintf(rows, sizeof rows, "%lld", (long long)stats.rows);
        MHD_add_response_header(resp, "X-Lakehouse-Rows", rows);
        MHD_add_response_header(resp, "X-Lakehouse-Truncated", stats.truncated ? "true" : "false");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type(opts->format));
        gw_send_response(r, 200, resp, n);
        return;
    }
    /* Too large for one buffer: what is encoded goes first, a producer encodes the rest. */
    gw_stream *s = stream_new(r, sql, opts, 0);
    s->exec = x;
    s->buf = out.data;
    s->len = out.len;
    s->cap = out.cap > STREAM_CAP ? out.cap : STREAM_CAP;
    if (out.cap < s->cap) s->buf = lh_realloc(s->buf, s->cap);
    r->stream = s;
    if (!producer_start(r->g, s)) {
        lh_query_finish(x, NULL);
        s->exec = NULL;
        gw_send_error(r, 503, LH_EUNAVAIL, "cannot start a query thread", NULL);
        return;
    }
    struct MHD_Response *resp = stream_response(r, s);
    if (!resp) return;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type(opts->format));
    gw_send_response(r, 200, resp, 0);
}

void gw_handle_sql(gw_req *r)
{
    lh_gateway *g = r->g;
    const char *sql = NULL;
    lh_query_opts opts = {0};
    int64_t limit = 0;
    bool parquet = false;
    if (!sql_request(r, &sql, &opts, &limit, &parquet)) return;
    lh_error err = {0};
    if (lh_query_sync(gw_req_env(r)->query, &err) != LH_OK)
        lh_log(LH_LOG_WARN, "sql_sync_failed", "msg", err.msg, (const char *)NULL);
    /* Time travel: "name@vN" views and as_of become plain SQL over version views. */
    json_t *ja = json_object_get(r->json, "as_of");
    int64_t as_of = 0;
    if (ja && (!json_is_string(ja) || lh_time_parse(json_string_value(ja), &as_of) != LH_OK)) {
        gw_send_error(r, 400, LH_EINVAL,
                      "field 'as_of' must be an RFC 3339 time such as \"2026-11-24T08:00:00Z\"",
                      json_pack("{s:s}", "field", "as_of"));
        return;
    }
    char *resolved = NULL;
    lh_error_clear(&err);
    if (lh_query_resolve(gw_req_env(r)->query, &r->who, sql, as_of, &resolved, &err) != LH_OK) {
        gw_send_lh_error(r, &err);
        return;
    }
    if (parquet) {
        send_parquet(r, resolved, opts.timeout_ms);
        free(resolved);
        return;
    }

    if (opts.format == LH_QUERY_JSON) {
        send_json(r, resolved, sql, &opts);
        return;
    }

    gw_stream *s = stream_new(r, resolved, &opts, limit);
    s->buf = lh_malloc(s->cap);
    r->stream = s;
    if (!producer_start(g, s)) {
        gw_send_error(r, 503, LH_EUNAVAIL, "cannot start a query thread", NULL);
        return;
    }

    /* NDJSON/CSV: the status waits for the first bytes (or the end, or an error). */
    stream_lock(s);
    while (!s->done && s->len == 0)
        pthread_cond_wait(&s->cv, &s->mu);
    bool done = s->done;
    int rc = s->rc;
    lh_error qerr = s->err;
    lh_query_stats stats = s->stats;
    stream_unlock(s);

    if (done && rc != LH_OK) {
        send_query_error(r, rc, &qerr, sql);
        return;
    }
    struct MHD_Response *resp;
    uint64_t bytes = 0;
    if (done) {
        /* Finished within the buffer: one fixed response with a Content-Length. The
         * producer is gone, so the buffer is ours to read without the lock. */
        bytes = s->len;
        resp = MHD_create_response_from_buffer(s->len, s->buf + s->start, MHD_RESPMEM_MUST_COPY);
        char rows[32];
        snprintf(rows, sizeof rows, "%lld", (long long)stats.rows);
        MHD_add_response_header(resp, "X-Lakehouse-Rows", rows);
        MHD_add_response_header(resp, "X-Lakehouse-Truncated",
                                stats.truncated || s->limited ? "true" : "false");
        stream_lock(s);
        s->sent = bytes;
        stream_unlock(s);
    } else if (!(resp = stream_response(r, s))) {
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type(opts.format));
    gw_send_response(r, 200, resp, bytes);
}
