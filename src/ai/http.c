/* HTTP client for model servers (libcurl): JSON POSTs, line-streamed responses, timeouts,
 * cancellation, and one mapping of transport and status failures to lh_error. */
#define _GNU_SOURCE /* strcasestr */
#include "ai/ai_int.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#define RESP_MAX ((size_t)256 << 20)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct xfer {
    const ai_http_req *req;
    CURL *curl;
    lh_buf *resp;
    lh_buf line; /* partial line while streaming */
    int rc;      /* error raised by on_line or the size limit */
    lh_error *err;
    bool streaming; /* decided at the first body byte: 2xx and on_line set */
    bool decided;
} xfer;

static int feed_lines(xfer *x, bool flush)
{
    size_t start = 0;
    for (size_t i = 0; i < x->line.len; i++) {
        if (x->line.data[i] != '\n') continue;
        size_t end = i;
        if (end > start && x->line.data[end - 1] == '\r') end--;
        int rc = x->req->on_line(x->line.data + start, end - start, x->req->arg, x->err);
        if (rc != LH_OK) return rc;
        start = i + 1;
    }
    if (flush && start < x->line.len) {
        int rc = x->req->on_line(x->line.data + start, x->line.len - start, x->req->arg, x->err);
        if (rc != LH_OK) return rc;
        start = x->line.len;
    }
    memmove(x->line.data, x->line.data + start, x->line.len - start);
    x->line.len -= start;
    x->line.data[x->line.len] = '\0';
    return LH_OK;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t n = size * nmemb;
    if (x->req->cancel && *x->req->cancel) {
        x->rc = LH_ECANCELED;
        return 0;
    }
    if (!x->decided) {
        long status = 0;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
        x->streaming = x->req->on_line && status >= 200 && status < 300;
        x->decided = true;
    }
    if (x->streaming) {
        if (x->line.len + n > RESP_MAX) goto too_big;
        lh_buf_append(&x->line, p, n);
        int rc = feed_lines(x, false);
        if (rc != LH_OK) {
            x->rc = rc;
            return 0;
        }
        return n;
    }
    if (!x->resp) return n;
    if (x->resp->len + n > RESP_MAX) goto too_big;
    lh_buf_append(x->resp, p, n);
    return n;
too_big:
    x->rc = lh_error_set(x->err, LH_ETOOBIG, "%s at %s: response over %zu MiB", x->req->what,
                         x->req->url, RESP_MAX >> 20);
    return 0;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    xfer *x = arg;
    return x->req->cancel && *x->req->cancel ? 1 : 0;
}

int ai_http_do(const ai_http_req *req, long *status, lh_buf *resp, lh_error *err)
{
    pthread_once(&curl_once, curl_init);
    *status = 0;
    CURL *c = curl_easy_init();
    if (!c) return lh_error_set(err, LH_ENOMEM, "%s: cannot create an HTTP handle", req->what);
    xfer x = {.req = req, .curl = c, .resp = resp, .err = err};
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Accept: application/json, application/x-ndjson, "
                                 "text/event-stream");
    char *auth = NULL;
    if (req->api_key && *req->api_key) {
        auth = lh_sprintf("Authorization: Bearer %s", req->api_key);
        hdr = curl_slist_append(hdr, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "lakehouse/" LH_VERSION);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(req->timeout_ms > 0 ? req->timeout_ms : 60000));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 5000));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (req->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(req->body));
    }
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    int rc = LH_OK;
    if (cc == CURLE_OK && x.streaming) {
        rc = feed_lines(&x, true);
    } else if (cc == CURLE_OK) {
        rc = LH_OK;
    } else if (x.rc != LH_OK) {
        rc = x.rc;
        if (rc == LH_ECANCELED)
            lh_error_set(err, LH_ECANCELED, "%s at %s: canceled", req->what, req->url);
    } else if (cc == CURLE_ABORTED_BY_CALLBACK) {
        rc = lh_error_set(err, LH_ECANCELED, "%s at %s: canceled", req->what, req->url);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = lh_error_set(err, LH_ETIMEOUT, "%s at %s: no complete answer within %d ms", req->what,
                          req->url, req->timeout_ms > 0 ? req->timeout_ms : 60000);
    } else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
               cc == CURLE_COULDNT_RESOLVE_PROXY) {
        rc = lh_error_set(err, LH_EUNAVAIL, "cannot reach %s at %s: %s (is it running?)", req->what,
                          req->url, curl_easy_strerror(cc));
    } else if (cc == CURLE_PARTIAL_FILE || cc == CURLE_RECV_ERROR || cc == CURLE_GOT_NOTHING ||
               cc == CURLE_SEND_ERROR) {
        rc = lh_error_set(err, LH_EUNAVAIL, "%s at %s: connection lost mid-response (%s)",
                          req->what, req->url, curl_easy_strerror(cc));
    } else {
        rc = lh_error_set(err, LH_EUNAVAIL, "%s at %s: %s", req->what, req->url,
                          curl_easy_strerror(cc));
    }
    lh_buf_free(&x.line);
    curl_slist_free_all(hdr);
    free(auth);
    curl_easy_cleanup(c);
    return rc;
}

char *ai_http_error_message(const char *body, size_t len)
{
    json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *m = NULL;
    if (j) {
        json_t *e = json_object_get(j, "error");
        if (json_is_string(e))
            m = json_string_value(e);
        else if (json_is_object(e) && json_is_string(json_object_get(e, "message")))
            m = json_string_value(json_object_get(e, "message"));
        else if (json_is_string(json_object_get(j, "message")))
            m = json_string_value(json_object_get(j, "message"));
    }
    char *out;
    if (m)
        out = lh_strdup(m);
    else if (body && len)
        out = lh_strndup(body, len > 200 ? 200 : len);
    else
        out = lh_strdup("(empty body)");
    json_decref(j);
    return out;
}

int ai_http_status_error(const char *what, const char *url, const char *model, long status,
                         const char *body, size_t len, lh_error *err)
{
    char *m = ai_http_error_message(body, len);
    int rc;
    if (status == 404 || strcasestr(m, "not found"))
        rc = lh_error_set(err, LH_ENOENT, "%s at %s: model '%s' not found (HTTP %ld: %s)", what,
                          url, model, status, m);
    else if (status == 401 || status == 403)
        rc = lh_error_set(err, LH_EDENIED, "%s at %s: refused (HTTP %ld: %s; check ai_api_key)",
                          what, url, status, m);
    else if (status >= 400 && status < 500)
        rc = lh_error_set(err, LH_EINVAL, "%s at %s: rejected the request (HTTP %ld: %s)", what,
                          url, status, m);
    else
        rc =
            lh_error_set(err, LH_EUNAVAIL, "%s at %s: failed (HTTP %ld: %s)", what, url, status, m);
    free(m);
    return rc;
}

char *ai_url_join(const char *base, const char *path)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    if (n >= 3 && strncmp(base + n - 3, "/v1", 3) == 0 && strncmp(path, "/v1/", 4) == 0) path += 3;
    return lh_sprintf("%.*s%s", (int)n, base, path);
}
