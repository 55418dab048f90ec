/* The HTTP server: daemon lifecycle, per-request state, body intake, errors, access log.
 *
 * Request flow through MHD's access handler, which is called several times per request:
 *   1. headers: route, identity and limit checks (errors are answered before any body is
 *      read, so `Expect: 100-continue` clients never send a refused body);
 *   2. body chunks: buffered (JSON, bounded) or streamed to a temp file (uploads, bounded);
 *   3. end of body: the route's handler runs and queues exactly one response.
 * The request object is made by the URI-log callback (which sees the raw, still-escaped
 * request target) and freed by the completion callback, which also writes the access log.
 */
#include "gateway/gateway_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define GW_FORM_FIELD_MAX 4096
/* How much of an over-limit body without Content-Length we read and discard so the client
 * can still get its 413 (MHD answers only once a body is complete); past this, the
 * connection is dropped. With a Content-Length the 413 goes out before any body is read. */
#define GW_DRAIN_MAX (64 * 1024 * 1024)
/* How long an idle query producer thread is kept for the next query. */
#define PRODUCER_IDLE_MS 60000

/* ------------------------------------------------------------------ responses */

void gw_send_response(gw_req *r, unsigned status, struct MHD_Response *resp, uint64_t bytes)
{
    if (!MHD_get_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (MHD_queue_response(r->conn, status, resp) == MHD_YES) {
        r->responded = true;
        r->status = (int)status;
        r->bytes = bytes;
    }
    MHD_destroy_response(resp);
}

static struct MHD_Response *json_response(json_t *body, size_t *len)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(body);
    if (!text)
        text = lh_strdup("{\"error\":{\"code\":\"internal\",\"message\":\"cannot encode "
                         "response\",\"detail\":{}}}");
    size_t n = strlen(text);
    /* A trailing newline keeps curl output and log tails readable. */
    char *with_nl = lh_realloc(text, n + 2);
    with_nl[n] = '\n';
    with_nl[n + 1] = '\0';
    *len = n + 1;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(n + 1, with_nl, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return resp;
}

void gw_send_json(gw_req *r, unsigned status, json_t *body)
{
    size_t len = 0;
    struct MHD_Response *resp = json_response(body, &len);
    gw_send_response(r, status, resp, len);
}

static json_t *error_body(int rc, const char *message, json_t *detail)
{
    return json_pack("{s:{s:s, s:o, s:o}}", "error", "code", lh_error_name(rc), "message",
                     gw_json_text(message ? message : lh_error_name(rc)), "detail",
                     detail ? detail : json_object());
}

void gw_send_error(gw_req *r, int status, int rc, const char *message, json_t *detail)
{
    if (status <= 0) status = lh_error_http_status(rc);
    r->err_code = lh_error_name(rc);
    gw_send_json(r, (unsigned)status, error_body(rc, message, detail));
}

void gw_send_lh_error(gw_req *r, const lh_error *err)
{
    int rc = err->code ? err->code : LH_EINTERNAL;
    gw_send_error(r, 0, rc, err->msg[0] ? err->msg : lh_error_name(rc), NULL);
}

/* 405 with the Allow header the route table produced. */
static void send_method_not_allowed(gw_req *r, const char *allow, const char *message)
{
    size_t len = 0;
    json_t *detail = json_pack("{s:s, s:s}", "method", r->method, "allow", allow);
    struct MHD_Response *resp = json_response(error_body(LH_EUNSUPPORTED, message, detail), &len);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    r->err_code = lh_error_name(LH_EUNSUPPORTED);
    gw_send_response(r, MHD_HTTP_METHOD_NOT_ALLOWED, resp, len);
}

/* Answers now if MHD allows it mid-request, else after the body has been drained. */
static void fail_request(gw_req *r, int status, int rc, const char *message)
{
    if (!r->deferred.code) {
        gw_send_error(r, status, rc, message, NULL);
        if (r->responded) return;
        lh_error_set(&r->deferred, rc, "%s", message);
    }
}

/* ----------------------------------------------------------- request state */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    gw_req *r = lh_calloc(1, sizeof *r);
    r->g = cls;
    r->conn = conn;
    r->t0 = lh_now_ns();
    r->fd = -1;
    r->uri = lh_strdup(uri ? uri : "/");
    char *q = strchr(r->uri, '?');
    if (q) {
        r->path = lh_strndup(r->uri, (size_t)(q - r->uri));
        r->query = lh_strdup(q + 1);
    } else {
        r->path = lh_strdup(r->uri);
    }
    snprintf(r->client, sizeof r->client, "unknown");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->client,
                      sizeof r->client);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->client,
                      sizeof r->client);
    }
    snprintf(r->actor, sizeof r->actor, "http %s", r->client);
    r->who.profile = "default";
    r->who.actor = r->actor;
    return r;
}

static void req_free(gw_req *r)
{
    if (!r) return;
    if (r->pp) MHD_destroy_post_processor(r->pp);
    if (r->fd >= 0) close(r->fd);
    if (r->tmp_path) {
        unlink(r->tmp_path);
        free(r->tmp_path);
    }
    if (r->stream) gw_stream_release(r->stream);
    for (size_t i = 0; i < r->nparams; i++)
        free(r->params[i]);
    gw_kv_free(r->args, r->nargs);
    lh_buf_free(&r->body);
    json_decref(r->json);
    json_decref(r->form);
    free(r->file_name);
    free((char *)r->method);
    free(r->uri);
    free(r->path);
    free(r->query);
    free(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    gw_req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    uint64_t bytes = r->stream ? gw_stream_sent(r->stream) : r->bytes;
    char status[16], nbytes[32], latency[32];
    snprintf(status, sizeof status, "%d", r->status);
    snprintf(nbytes, sizeof nbytes, "%llu", (unsigned long long)bytes);
    snprintf(latency, sizeof latency, "%.1f", (double)(lh_now_ns() - r->t0) / 1e6);
    const char *outcome = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK      ? "ok"
                          : toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT    ? "client_abort"
                          : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout"
                          : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown"
                                                                          : "error";
    lh_log(LH_LOG_INFO, "http_request", "method", r->method ? r->method : "?", "path", r->path,
           "status", status, "bytes", nbytes, "latency_ms", latency, "client", r->client, "profile",
           r->who.profile, "error", r->err_code ? r->err_code : "", "outcome", outcome,
           (const char *)NULL);
    req_free(r);
}

/* ------------------------------------------------------------- body intake */

static int64_t header_content_length(gw_req *r)
{
    const char *cl =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int64_t v = -1;
    if (cl && gw_parse_int64(cl, &v, NULL) != LH_OK) v = -1;
    return v;
}

static void too_big(gw_req *r, int64_t limit, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s is larger than the limit of %lld bytes", what, (long long)limit);
    fail_request(r, 413, LH_ETOOBIG, msg);
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static enum MHD_Result on_post_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *filename, const char *content_type,
                                     const char *transfer_encoding, const char *data, uint64_t off,
                                     size_t size)
{
    gw_req *r = cls;
    if (!key) return MHD_YES;
    if (strcmp(key, "file") == 0) {
        if (r->saw_file && off == 0) {
            lh_error_set(&r->deferred, LH_EINVAL,
                         "multipart upload has more than one 'file' field; send one file per "
                         "request");
            return MHD_NO;
        }
        r->saw_file = true;
        if (filename && !r->file_name) r->file_name = lh_strdup(filename);
        if (size && !write_all(r->fd, data, size)) {
            lh_error_set(&r->deferred, LH_EIO, "cannot write the upload to '%s': %s", r->tmp_path,
                         strerror(errno));
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (!r->form) r->form = json_object();
    const char *prev = json_string_value(json_object_get(r->form, key));
    size_t plen = prev && off > 0 ? strlen(prev) : 0;
    if (plen + size > GW_FORM_FIELD_MAX) {
        lh_error_set(&r->deferred, LH_ETOOBIG, "multipart field '%s' is longer than %d bytes", key,
                     GW_FORM_FIELD_MAX);
        return MHD_NO;
    }
    lh_buf b = {0};
    if (plen) lh_buf_append(&b, prev, plen);
    lh_buf_append(&b, data, size);
    if (!lh_utf8_valid(b.data, b.len, NULL)) {
        lh_error_set(&r->deferred, LH_EINVAL, "multipart field '%s' is not valid UTF-8", key);
        lh_buf_free(&b);
        return MHD_NO;
    }
    json_object_set_new(r->form, key, json_stringn(b.data, b.len));
    lh_buf_free(&b);
    return MHD_YES;
}

static void begin_upload(gw_req *r)
{
    lh_error err = {0};
    if (lh_mkdir_p(r->g->upload_dir, &err) != LH_OK) {
        gw_send_lh_error(r, &err);
        return;
    }
    r->tmp_path = lh_sprintf("%s/upload-XXXXXX", r->g->upload_dir);
    r->fd = mkstemp(r->tmp_path);
    if (r->fd < 0) {
        lh_error_set(&err, LH_EIO, "cannot create a temp file in '%s': %s", r->g->upload_dir,
                     strerror(errno));
        free(r->tmp_path);
        r->tmp_path = NULL;
        gw_send_lh_error(r, &err);
        return;
    }
    const char *ct =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct && strncasecmp(ct, "multipart/form-data", 19) == 0) {
        r->multipart = true;
        r->pp = MHD_create_post_processor(r->conn, 64 * 1024, on_post_field, r);
        if (!r->pp)
            gw_send_error(r, 400, LH_EINVAL, "multipart/form-data body without a usable boundary",
                          NULL);
    }
}

static void consume_body(gw_req *r, const char *data, size_t n)
{
    const lh_config *cfg = r->g->deps.cfg;
    r->received += (int64_t)n;
    if (r->route->body == GW_BODY_JSON) {
        if (r->received > cfg->max_json_bytes) {
            too_big(r, cfg->max_json_bytes, "JSON request body");
            lh_buf_free(&r->body);
            return;
        }
        lh_buf_append(&r->body, data, n);
        return;
    }
    if (r->route->body != GW_BODY_UPLOAD)
        return; /* a body on a body-less route is read and ignored */
    if (r->received > cfg->max_body_bytes) {
        /* Stop at once: drop what was written so far; nothing reaches the catalog. */
        if (r->fd >= 0 && ftruncate(r->fd, 0) != 0)
            lh_logf(LH_LOG_WARN, "cannot truncate %s", r->tmp_path);
        too_big(r, cfg->max_body_bytes, "upload");
        return;
    }
    if (r->multipart) {
        if (MHD_post_process(r->pp, data, n) != MHD_YES && !r->deferred.code)
            lh_error_set(&r->deferred, LH_EINVAL, "malformed multipart/form-data body");
        return;
    }
    if (!write_all(r->fd, data, n))
        lh_error_set(&r->deferred, LH_EIO, "cannot write the upload to '%s': %s", r->tmp_path,
                     strerror(errno));
}

/* Parses the buffered JSON body into r->json; answers 400 and returns false on failure. */
static bool parse_json_body(gw_req *r)
{
    if (r->body.len == 0) {
        gw_send_error(r, 400, LH_EINVAL, "request body is empty; expected a JSON object", NULL);
        return false;
    }
    size_t bad = 0;
    if (!lh_utf8_valid(r->body.data, r->body.len, &bad)) {
        char msg[160];
        snprintf(msg, sizeof msg, "request body is not valid UTF-8 (first bad byte at offset %zu)",
                 bad);
        gw_send_error(r, 400, LH_EINVAL, msg, json_pack("{s:I}", "offset", (json_int_t)bad));
        return false;
    }
    json_error_t jerr;
    r->json = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!r->json) {
        char msg[400];
        snprintf(msg, sizeof msg, "malformed JSON body at line %d, column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        gw_send_error(r, 400, LH_EINVAL, msg,
                      json_pack("{s:i, s:i, s:i}", "line", jerr.line, "column", jerr.column,
                                "position", jerr.position));
        return false;
    }
    if (!json_is_object(r->json)) {
        gw_send_error(r, 400, LH_EINVAL, "JSON body must be an object", NULL);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------- dispatching */

static void begin_request(gw_req *r)
{
    lh_error err = {0};
    const lh_config *cfg = r->g->deps.cfg;
    if (gw_query_parse(r->query, &r->args, &r->nargs, &err) != LH_OK) {
        gw_send_lh_error(r, &err);
        return;
    }
    char allow[GW_ALLOW_MAX];
    int rc = gw_route_find(gw_routes, gw_nroutes, r->method, r->path, &r->route, r->params,
                           &r->nparams, allow, &err);
    if (rc == LH_EUNSUPPORTED) {
        send_method_not_allowed(r, allow, err.msg);
        return;
    }
    if (rc != LH_OK) {
        gw_send_lh_error(r, &err);
        return;
    }
    const char *profile =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Lakehouse-Profile");
    if (profile && strcmp(profile, "default") != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "profile '%.200s' is not available; only 'default' exists",
                 profile);
        gw_send_error(r, 403, LH_EDENIED, msg,
                      json_pack("{s:o}", "profile", gw_json_text(profile)));
        return;
    }
    if (!gw_env_resolve(r)) return;
    int64_t cl = header_content_length(r);
    switch (r->route->body) {
    case GW_BODY_NONE:
        r->route->handler(r);
        return;
    case GW_BODY_JSON:
        if (cl > cfg->max_json_bytes) too_big(r, cfg->max_json_bytes, "JSON request body");
        return;
    case GW_BODY_UPLOAD:
        if (cl > cfg->max_body_bytes) {
            too_big(r, cfg->max_body_bytes, "upload");
            return;
        }
        begin_upload(r);
        return;
    }
}

static void finish_request(gw_req *r)
{
    if (r->deferred.code) {
        int status = r->deferred.code == LH_ETOOBIG ? 413 : 0;
        gw_send_error(r, status, r->deferred.code, r->deferred.msg, NULL);
        return;
    }
    if (r->route->body == GW_BODY_JSON) {
        if (!parse_json_body(r)) return;
    } else if (r->route->body == GW_BODY_UPLOAD) {
        if (r->pp) {
            MHD_destroy_post_processor(r->pp);
            r->pp = NULL;
            if (r->deferred.code) {
                gw_send_lh_error(r, &r->deferred);
                return;
            }
            if (!r->saw_file) {
                gw_send_error(r, 400, LH_EINVAL,
                              "multipart upload has no 'file' field (send the data as "
                              "-F file=@data.csv)",
                              NULL);
                return;
            }
        }
        if (r->fd >= 0 && close(r->fd) != 0) {
            r->fd = -1;
            gw_send_error(r, 500, LH_EIO, "cannot finish writing the upload", NULL);
            return;
        }
        r->fd = -1;
    }
    r->route->handler(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    gw_req *r = *con_cls;
    if (!r) {
        r = on_uri(cls, url, conn);
        *con_cls = r;
    }
    if (!r->started) {
        r->started = true;
        r->conn = conn;
        r->method = lh_strdup(method);
        begin_request(r);
        if (!r->responded && r->route && r->route->body == GW_BODY_NONE) {
            /* A handler that queued nothing is a bug; answer rather than hang. */
            gw_send_error(r, 500, LH_EINTERNAL, "handler produced no response", NULL);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!r->responded && !r->deferred.code) {
            consume_body(r, upload_data, n);
            return MHD_YES;
        }
        r->drained += (int64_t)n;
        return r->drained > GW_DRAIN_MAX ? MHD_NO : MHD_YES;
    }
    if (!r->responded) {
        finish_request(r);
        if (!r->responded)
            gw_send_error(r, 500, LH_EINTERNAL, "handler produced no response", NULL);
    }
    return MHD_YES;
}

/* ------------------------------------------------------------------ daemon */

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    lh_log(LH_LOG_WARN, "http_server", "msg", msg, (const char *)NULL);
}

int lh_gateway_start(const lh_gateway_deps *deps, lh_gateway **out, lh_error *err)
{
    lh_gateway *g = NULL;
    char *host = NULL;
    struct addrinfo *ai = NULL;
    int port = 0;
    int rc = LH_OK;
    *out = NULL;
    if (!deps || !deps->cfg || !deps->catalog || !deps->query || !deps->ingest)
        return lh_error_set(err, LH_EINVAL,
                            "gateway: config, catalog, query and ingest are "
                            "required");
    rc = gw_listen_parse(deps->cfg->listen, &host, &port, err);
    if (rc != LH_OK) goto fail;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0 || !ai) {
        rc = lh_error_set(err, LH_EINVAL, "listen address '%s': cannot resolve '%s': %s",
                          deps->cfg->listen, host, gai_strerror(gai));
        goto fail;
    }
    g = lh_calloc(1, sizeof *g);
    g->deps = *deps;
    if (!g->deps.storage) g->deps.storage = lh_catalog_storage(deps->catalog);
    g->started_ns = lh_now_ns();
    const char *cache = deps->cfg->cache_dir ? deps->cfg->cache_dir : "/tmp";
    g->upload_dir = lh_path_join(cache, "uploads");
    g->ui_dir = deps->cfg->ui_dir ? lh_strdup(deps->cfg->ui_dir) : gw_ui_dir_default();
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    gw_envs_init(g);
    gw_ai_init(g, cache);

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    unsigned threads =
        deps->cfg->threads > 0 ? (unsigned)deps->cfg->threads : (unsigned)(2 * lh_cpu_count());
    errno = 0;
    /* One idle producer thread per request thread at most: enough for every request thread
     * to start a query on a warm thread. */
    g->producers = lh_crew_new((int)threads, PRODUCER_IDLE_MS);
    g->daemon = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, g, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, g,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, g, MHD_OPTION_NOTIFY_COMPLETED, on_completed, g,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(256 * 1024), MHD_OPTION_END);
    if (!g->daemon) {
        rc = lh_error_set(err, LH_EIO, "cannot listen on %s: %s", deps->cfg->listen,
                          errno ? strerror(errno) : "address in use or not local");
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(g->daemon, MHD_DAEMON_INFO_BIND_PORT);
    g->port = di ? di->port : port;
    char portbuf[16], tbuf[16];
    snprintf(portbuf, sizeof portbuf, "%d", g->port);
    snprintf(tbuf, sizeof tbuf, "%u", threads);
    lh_log(LH_LOG_INFO, "http_listening", "host", host, "port", portbuf, "threads", tbuf, "ui",
           g->ui_dir, (const char *)NULL);
    freeaddrinfo(ai);
    free(host);
    *out = g;
    return LH_OK;
fail:
    if (ai) freeaddrinfo(ai);
    free(host);
    if (g) {
        lh_crew_free(g->producers);
        pthread_mutex_destroy(&g->mu);
        pthread_cond_destroy(&g->cv);
        gw_ai_free(g);
        gw_envs_close(g);
        free(g->upload_dir);
        free(g->ui_dir);
        free(g);
    }
    return rc;
}

int lh_gateway_port(const lh_gateway *g)
{
    return g ? g->port : 0;
}

void lh_gateway_stop(lh_gateway *g)
{
    if (!g) return;
    /* Stopping the daemon destroys every response, which cancels their producers; the
     * producers still hold borrowed engine pointers, so wait for them before returning. */
    MHD_stop_daemon(g->daemon);
    pthread_mutex_lock(&g->mu);
    while (g->nstreams > 0)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    lh_crew_free(g->producers);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    gw_ai_free(g);
    gw_envs_close(g);
    free(g->upload_dir);
    free(g->ui_dir);
    free(g);
}
