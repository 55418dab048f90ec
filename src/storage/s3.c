/* The S3 backend: S3-compatible object storage over libcurl with SigV4 signing.
 *
 * libcurl 7.88's CURLOPT_AWS_SIGV4 signs what it is given: it neither adds
 * x-amz-content-sha256 (we send UNSIGNED-PAYLOAD, or the body's hash for POSTs) nor
 * canonicalizes the query string, so every query we build is already canonical: parameters
 * sorted by name, names and values percent-encoded, and "=" after empty values ("?uploads=").
 * Paths are percent-encoded per segment the same way the server canonicalizes them.
 *
 * Connections are reused through a small pool of easy handles (each keeps its connection
 * cache) sharing one DNS cache. Every request goes through one function that retries
 * idempotent requests on 5xx, 429, timeouts and connection failures with exponential backoff
 * and full jitter, within a total time budget.
 *
 * Writes begin lazily (readers never write): the first write probes whether the server
 * honours If-None-Match: * (the put-if-absent primitive of the catalog). If it does not, the
 * store runs in single-writer mode: it takes a lease object with an expiry, renews it from a
 * background thread, refuses every write if the lease is lost, and a second writer is refused
 * while the lease is live. Put-if-absent then becomes HEAD + PUT under a process-wide mutex,
 * which is safe because no other process writes. */
#define _GNU_SOURCE
#include "storage/storage_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POOL_MAX 16
#define LEASE_KEY ".lakehouse/writer.lease"
#define PROBE_PREFIX ".lakehouse/probe-"
#define MIN_PART ((int64_t)5 << 20)

enum { WRITER_UNKNOWN = 0, WRITER_READY };

typedef struct s3 {
    char *base; /* "scheme://host[:port]/bucket" (path style) or "scheme://bucket.host" */
    bool path_style;
    char *bucket; /* for messages */
    char *prefix; /* "" or "p/" */
    char *sigv4;  /* "aws:amz:REGION:s3" */
    char *access_key, *secret_key, *token_header;
    int64_t mp_threshold, part_size;
    int retry_max_ms, timeout_ms, lease_ttl_ms;
    int cond_mode; /* -1 auto, 0 off, 1 on */

    pthread_mutex_t pool_mu; /* guards pool, npool */
    CURL *pool[POOL_MAX];
    int npool;
    CURLSH *share;
    pthread_mutex_t share_mu;

    objcache *cache;

    pthread_mutex_t write_mu; /* serializes writer set-up and single-writer put_if_absent */
    int writer_state;         /* guarded by write_mu */
    bool cond_put;            /* server honours If-None-Match (fixed once writer is ready) */
    char owner[160];          /* this process's lease owner id */
    bool lease_held;          /* guarded by lease_mu */
    bool lease_lost;          /* atomic: renewal found another owner or failed past expiry */
    int64_t lease_expires_us; /* guarded by lease_mu */
    pthread_t lease_thread;
    bool lease_thread_on;
    bool lease_stop; /* guarded by lease_mu */
    pthread_mutex_t lease_mu;
    pthread_cond_t lease_cv;

    int64_t n_requests, n_retries, n_hits, n_misses, n_connects; /* atomic */
} s3;

/* ------------------------------------------------------------- helpers */

static bool unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

/* Percent-encodes s (RFC 3986 unreserved kept; '/' kept if keep_slash). */
static void url_encode(lh_buf *b, const char *s, bool keep_slash)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p) || (keep_slash && *p == '/'))
            lh_buf_putc(b, (char)*p);
        else
            lh_buf_printf(b, "%%%02X", *p);
    }
}

/* Appends "name=value" (encoded) to a query being built in sorted order. */
static void q_add(lh_buf *q, const char *name, const char *value)
{
    if (q->len) lh_buf_putc(q, '&');
    url_encode(q, name, false);
    lh_buf_putc(q, '=');
    if (value) url_encode(q, value, false);
}

/* Decodes the five XML entities in place. */
static void xml_unescape(char *s)
{
    static const struct {
        const char *ent;
        char ch;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    char *w = s;
    for (char *r = s; *r;) {
        bool done = false;
        if (*r == '&') {
            for (size_t i = 0; i < sizeof ents / sizeof ents[0]; i++) {
                size_t n = strlen(ents[i].ent);
                if (strncmp(r, ents[i].ent, n) == 0) {
                    *w++ = ents[i].ch;
                    r += n;
                    done = true;
                    break;
                }
            }
        }
        if (!done) *w++ = *r++;
    }
    *w = 0;
}

/* The text of the first <tag>...</tag> in [p, end), unescaped, malloc'd; NULL if absent.
 * *next (optional) points past the closing tag. */
static char *xml_get(const char *p, const char *end, const char *tag, const char **next)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = memmem(p, (size_t)(end - p), open, strlen(open));
    if (!a) return NULL;
    a += strlen(open);
    const char *z = memmem(a, (size_t)(end - a), close, strlen(close));
    if (!z) return NULL;
    if (next) *next = z + strlen(close);
    char *v = lh_strndup(a, (size_t)(z - a));
    xml_unescape(v);
    return v;
}

/* Copies an ETag without its quotes. */
static void etag_copy(char *dst, size_t n, const char *src)
{
    while (*src == ' ' || *src == '"')
        src++;
    size_t len = strlen(src);
    while (len && (src[len - 1] == '"' || src[len - 1] == ' ' || src[len - 1] == '\r' ||
                   src[len - 1] == '\n'))
        len--;
    if (len >= n) len = n - 1;
    memcpy(dst, src, len);
    dst[len] = 0;
}

static void md5_raw(const void *p, size_t n, unsigned char out[16])
{
    unsigned int len = 16;
    EVP_Digest(p, n, out, &len, EVP_md5(), NULL);
}

static void md5_base64(const void *p, size_t n, char out[32])
{
    unsigned char d[16];
    md5_raw(p, n, d);
    EVP_EncodeBlock((unsigned char *)out, d, 16);
}

/* MD5 of a file as lowercase hex; false on read error. */
static bool md5_file_hex(int fd, char out[33])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    char buf[1 << 16];
    off_t off = 0;
    bool ok = true;
    for (;;) {
        ssize_t r = pread(fd, buf, sizeof buf, off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            ok = false;
            break;
        }
        if (r == 0) break;
        EVP_DigestUpdate(ctx, buf, (size_t)r);
        off += r;
    }
    unsigned char d[16];
    unsigned int len = 16;
    EVP_DigestFinal_ex(ctx, d, &len);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    return ok;
}

static bool is_md5_hex(const char *s)
{
    if (strlen(s) != 32) return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return false;
    return true;
}

/* True if any '/'-separated segment of key starts with '.': our own bookkeeping objects
 * (lease, probes), hidden from listings like the local backend's dot-files. */
static bool hidden_key(const char *key)
{
    if (key[0] == '.') return true;
    return strstr(key, "/.") != NULL;
}

/* ------------------------------------------------------- handle pool */

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
    pthread_mutex_lock(&((s3 *)u)->share_mu);
}

static void share_unlock(CURL *h, curl_lock_data d, void *u)
{
    pthread_mutex_unlock(&((s3 *)u)->share_mu);
}

static CURL *handle_get(s3 *s)
{
    CURL *h = NULL;
    pthread_mutex_lock(&s->pool_mu);
    if (s->npool) h = s->pool[--s->npool];
    pthread_mutex_unlock(&s->pool_mu);
    if (h) {
        curl_easy_reset(h); /* keeps the handle's live connections */
        return h;
    }
    return curl_easy_init();
}

static void handle_put(s3 *s, CURL *h)
{
    if (!h) return;
    pthread_mutex_lock(&s->pool_mu);
    if (s->npool < POOL_MAX) {
        s->pool[s->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&s->pool_mu);
    if (h) curl_easy_cleanup(h);
}

/* ------------------------------------------------------------ requests */

typedef struct s3_req {
    const char *method; /* GET, PUT, HEAD, POST, DELETE */
    const char *op;     /* for messages: "put", "get", ... */
    const char *key;    /* object key without the store prefix; NULL: the bucket */
    const char *query;  /* canonical query string or NULL */
    const char *hdrs[6];
    const void *body; /* request body in memory ... */
    size_t body_len;
    int in_fd; /* ... or from a file (in_fd >= 0), bytes [in_off, in_off + in_len) */
    int64_t in_off, in_len;
    int out_fd; /* response body to this file (truncated per attempt) if >= 0 */
    bool idempotent;
    bool ok_404; /* a 404 is a result, not an error */

    /* results */
    long status;
    lh_buf resp;
    char etag[80];
    int64_t content_length;
    int64_t mtime_us;
    int attempts;

    /* per-attempt transfer state */
    int64_t sent;
    int64_t written;
    bool write_failed;
} s3_req;

static void req_init(s3_req *r, const char *method, const char *op, const char *key)
{
    memset(r, 0, sizeof *r);
    r->method = method;
    r->op = op;
    r->key = key;
    r->in_fd = -1;
    r->out_fd = -1;
    r->idempotent = true;
    r->content_length = -1;
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *u)
{
    s3_req *r = u;
    size_t want = size * nitems;
    if (r->in_fd >= 0) {
        int64_t left = r->in_len - r->sent;
        if ((int64_t)want > left) want = (size_t)left;
        if (want == 0) return 0;
        ssize_t got;
        do
            got = pread(r->in_fd, buf, want, r->in_off + r->sent);
        while (got < 0 && errno == EINTR);
        if (got <= 0) return CURL_READFUNC_ABORT;
        r->sent += got;
        return (size_t)got;
    }
    size_t left = r->body_len - (size_t)r->sent;
    if (want > left) want = left;
    if (want) memcpy(buf, (const char *)r->body + r->sent, want);
    r->sent += (int64_t)want;
    return want;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *u)
{
    s3_req *r = u;
    size_t n = size * nmemb;
    /* Error bodies (XML) always go to memory so the message can be read. */
    if (r->out_fd >= 0 && r->status >= 200 && r->status < 300) {
        size_t off = 0;
        while (off < n) {
            ssize_t w = write(r->out_fd, p + off, n - off);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) {
                r->write_failed = true;
                return 0;
            }
            off += (size_t)w;
        }
        r->written += (int64_t)n;
        return n;
    }
    if (r->resp.len + n > (64u << 20)) return 0; /* a runaway body */
    lh_buf_append(&r->resp, p, n);
    return n;
}

static size_t header_cb(char *p, size_t size, size_t nitems, void *u)
{
    s3_req *r = u;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue or a redirect): status comes from curl later,
         * but bodies are routed by it, so parse it here. */
        const char *sp = memchr(p, ' ', n);
        if (sp) r->status = strtol(sp + 1, NULL, 10);
        return n;
    }
    const char *colon = memchr(p, ':', n);
    if (!colon) return n;
    size_t nlen = (size_t)(colon - p);
    char val[256];
    const char *v = colon + 1;
    while (v < p + n && *v == ' ')
        v++;
    size_t vlen = (size_t)(p + n - v);
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
        vlen--;
    if (vlen >= sizeof val) vlen = sizeof val - 1;
    memcpy(val, v, vlen);
    val[vlen] = 0;
    if (nlen == 4 && strncasecmp(p, "etag", 4) == 0)
        etag_copy(r->etag, sizeof r->etag, val);
    else if (nlen == 14 && strncasecmp(p, "content-length", 14) == 0)
        r->content_length = strtoll(val, NULL, 10);
    else if (nlen == 13 && strncasecmp(p, "last-modified", 13) == 0) {
        time_t t = curl_getdate(val, NULL);
        if (t > 0) r->mtime_us = (int64_t)t * 1000000;
    }
    return n;
}

static bool retryable_curl(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static bool retryable_status(long st)
{
    return st == 429 || st == 500 || st == 502 || st == 503 || st == 504;
}

static uint64_t rand64(void)
{
    uint64_t x = 0;
    if (getrandom(&x, sizeof x, 0) != sizeof x) x = lh_now_ns() * 0x9E3779B97F4A7C15ull;
    return x;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Builds "<base>/<prefix><encoded key>[?query]". */
static char *req_url(const s3 *s, const s3_req *r)
{
    lh_buf u = {0};
    lh_buf_puts(&u, s->base);
    /* The bucket itself is "/bucket" in path style (the server signs it so), "/" in vhost. */
    if (r->key || !s->path_style) lh_buf_putc(&u, '/');
    if (r->key) {
        url_encode(&u, s->prefix, true);
        url_encode(&u, r->key, true);
    }
    if (r->query && *r->query) {
        lh_buf_putc(&u, '?');
        lh_buf_puts(&u, r->query);
    }
    return lh_buf_steal(&u);
}

/* The error message of an S3 error body: "Code: Message" (or the status line). */
static void s3_error_text(const s3_req *r, char *out, size_t n)
{
    const char *b = r->resp.data ? r->resp.data : "";
    char *code = xml_get(b, b + r->resp.len, "Code", NULL);
    char *msg = xml_get(b, b + r->resp.len, "Message", NULL);
    if (code)
        snprintf(out, n, "%s%s%s", code, msg ? ": " : "", msg ? msg : "");
    else
        snprintf(out, n, "HTTP %ld", r->status);
    free(code);
    free(msg);
}

static int status_code(long st)
{
    switch (st) {
    case 400:
        return LH_EINVAL;
    case 401:
    case 403:
        return LH_EDENIED;
    case 404:
        return LH_ENOENT;
    case 409:
        return LH_ECONFLICT;
    case 412:
        return LH_EEXIST;
    default:
        return st >= 500 || st == 429 ? LH_EUNAVAIL : LH_EIO;
    }
}

/* One attempt. Returns the curl code; r->status is the HTTP status. */
static CURLcode attempt(s3 *s, s3_req *r, const char *url, char *ebuf)
{
    CURL *h = handle_get(s);
    if (!h) return CURLE_OUT_OF_MEMORY;
    struct curl_slist *hl = NULL;
    char md5h[64] = "";
    char sha[LH_SHA256_HEX + 32];
    if (strcmp(r->method, "POST") == 0 && r->body) {
        /* A POST body is hashed and signed; DeleteObjects also needs Content-MD5. */
        char hex[LH_SHA256_HEX];
        lh_sha256_hex(r->body, r->body_len, hex);
        snprintf(sha, sizeof sha, "x-amz-content-sha256: %s", hex);
        char b64[32];
        md5_base64(r->body, r->body_len, b64);
        snprintf(md5h, sizeof md5h, "Content-MD5: %s", b64);
        hl = curl_slist_append(hl, md5h);
    } else {
        snprintf(sha, sizeof sha, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    }
    hl = curl_slist_append(hl, sha);
    if (s->token_header) hl = curl_slist_append(hl, s->token_header);
    for (int i = 0; i < 6 && r->hdrs[i]; i++)
        hl = curl_slist_append(hl, r->hdrs[i]);

    r->sent = 0;
    r->written = 0;
    r->write_failed = false;
    r->status = 0;
    r->etag[0] = 0;
    r->content_length = -1;
    r->mtime_us = 0;
    lh_buf_reset(&r->resp);
    if (r->out_fd >= 0) {
        if (ftruncate(r->out_fd, 0) != 0 || lseek(r->out_fd, 0, SEEK_SET) != 0) {
            curl_slist_free_all(hl);
            handle_put(s, h);
            r->write_failed = true;
            return CURLE_WRITE_ERROR;
        }
    }
    ebuf[0] = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_SHARE, s->share);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
    curl_easy_setopt(h, CURLOPT_USERNAME, s->access_key);
    curl_easy_setopt(h, CURLOPT_PASSWORD, s->secret_key);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)s->timeout_ms);
    /* A stall (under 1 byte/s for timeout_ms) ends the transfer; big objects may take long. */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)((s->timeout_ms + 999) / 1000));
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t)(r->in_fd >= 0 ? r->in_len : (int64_t)r->body_len));
    } else if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "DELETE") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    __atomic_add_fetch(&s->n_requests, 1, __ATOMIC_RELAXED);
    CURLcode c = curl_easy_perform(h);
    if (c == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    long connects = 0;
    if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
        __atomic_add_fetch(&s->n_connects, connects, __ATOMIC_RELAXED);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_SHARE, NULL);
    curl_slist_free_all(hl);
    if (c == CURLE_OK)
        handle_put(s, h);
    else
        curl_easy_cleanup(h); /* a broken connection is not worth keeping */
    return c;
}

/* Runs a request with retries. LH_OK for 2xx (and 404 when ok_404); otherwise err says what
 * failed where and why. The response body of the last attempt stays in r->resp. */
static int s3_do(s3 *s, s3_req *r, lh_error *err)
{
    char *url = req_url(s, r);
    char ebuf[CURL_ERROR_SIZE];
    uint64_t start = lh_now_ns();
    int64_t budget_ns = (int64_t)s->retry_max_ms * 1000000;
    int rc = LH_OK;
    CURLcode c = CURLE_OK;
    for (r->attempts = 1;; r->attempts++) {
        c = attempt(s, r, url, ebuf);
        if (c == CURLE_OK && (r->status < 300 || (r->ok_404 && r->status == 404))) break;
        bool retry = r->idempotent && !r->write_failed &&
                     (c == CURLE_OK ? retryable_status(r->status) : retryable_curl(c));
        if (retry) {
            /* Full jitter over an exponential ceiling: 50 ms, 100 ms, ... capped at 2 s. */
            int shift = r->attempts < 6 ? r->attempts - 1 : 5;
            int64_t ceil_ms = (int64_t)50 << shift;
            if (ceil_ms > 2000) ceil_ms = 2000;
            int64_t wait_ms = ceil_ms / 2 + (int64_t)(rand64() % (uint64_t)(ceil_ms / 2 + 1));
            int64_t elapsed = (int64_t)(lh_now_ns() - start);
            if (elapsed + wait_ms * 1000000 <= budget_ns) {
                __atomic_add_fetch(&s->n_retries, 1, __ATOMIC_RELAXED);
                sleep_ms(wait_ms);
                continue;
            }
        }
        break;
    }
    char what[LH_KEY_MAX + 4] = "";
    if (r->key) snprintf(what, sizeof what, " '%s'", r->key);
    char tries[48] = "";
    if (r->attempts > 1) snprintf(tries, sizeof tries, " (after %d attempts)", r->attempts);
    if (c != CURLE_OK) {
        int code = c == CURLE_OPERATION_TIMEDOUT ? LH_ETIMEOUT
                   : (c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_HOST ||
                      c == CURLE_GOT_NOTHING || c == CURLE_SEND_ERROR || c == CURLE_RECV_ERROR)
                       ? LH_EUNAVAIL
                       : LH_EIO;
        if (r->write_failed)
            rc = lh_error_set(err, LH_EIO, "s3 %s%s: writing the local file failed: %s", r->op,
                              what, strerror(errno));
        else
            rc = lh_error_set(err, code, "s3 %s%s (bucket '%s'): %s%s", r->op, what, s->bucket,
                              ebuf[0] ? ebuf : curl_easy_strerror(c), tries);
    } else if (r->status >= 300 && !(r->ok_404 && r->status == 404)) {
        char text[600];
        s3_error_text(r, text, sizeof text);
        int code = status_code(r->status);
        const char *hint = "";
        if (r->status == 403)
            hint = " (check the S3 credentials: secrets_file or LAKEHOUSE_S3_ACCESS_KEY_ID / "
                   "LAKEHOUSE_S3_SECRET_ACCESS_KEY)";
        if (r->status == 404 && r->key && strstr(text, "NoSuchBucket") == NULL)
            rc = lh_error_set(err, LH_ENOENT, "object '%s' not found", r->key);
        else
            rc = lh_error_set(err, code, "s3 %s%s (bucket '%s'): HTTP %ld %s%s%s", r->op, what,
                              s->bucket, r->status, text, hint, tries);
    }
    if (rc != LH_OK) storage_failure_note((int)r->status, r->attempts, 0);
    free(url);
    return rc;
}

/* ------------------------------------------------------------ writers */

static int put_single(s3 *s, const char *key, const void *data, size_t n, int fd, int64_t flen,
                      bool if_absent, lh_error *err);

static void *lease_main(void *arg);

static int lease_write(s3 *s, int64_t expires_us, lh_error *err)
{
    char host[128] = "";
    gethostname(host, sizeof host - 1);
    char when[40];
    lh_time_format(expires_us, when, sizeof when);
    lh_buf b = {0};
    lh_buf_puts(&b, "{\"owner\":");
    lh_buf_json_str(&b, s->owner, strlen(s->owner));
    lh_buf_printf(&b, ",\"pid\":%d,\"host\":", (int)getpid());
    lh_buf_json_str(&b, host, strlen(host));
    lh_buf_printf(&b, ",\"expires_us\":%lld,\"expires\":\"%s\",\"ttl_ms\":%d}\n",
                  (long long)expires_us, when, s->lease_ttl_ms);
    int rc = put_single(s, LEASE_KEY, b.data, b.len, -1, 0, false, err);
    lh_buf_free(&b);
    return rc;
}

/* Reads the lease: owner and expiry; LH_ENOENT if there is none. */
static int lease_read(s3 *s, char *owner, size_t n, int64_t *expires_us, lh_error *err)
{
    s3_req r;
    req_init(&r, "GET", "read lease", LEASE_KEY);
    r.ok_404 = true;
    int rc = s3_do(s, &r, err);
    if (rc == LH_OK && r.status == 404) rc = LH_ENOENT;
    if (rc == LH_OK) {
        const char *b = r.resp.data ? r.resp.data : "";
        const char *o = strstr(b, "\"owner\":\"");
        const char *e = strstr(b, "\"expires_us\":");
        owner[0] = 0;
        *expires_us = 0;
        if (o) {
            o += 9;
            const char *q = strchr(o, '"');
            size_t len = q ? (size_t)(q - o) : 0;
            if (len >= n) len = n - 1;
            memcpy(owner, o, len);
            owner[len] = 0;
        }
        if (e) *expires_us = strtoll(e + 13, NULL, 10);
    }
    lh_buf_free(&r.resp);
    return rc;
}

static int refuse_second_writer(s3 *s, const char *owner, int64_t expires_us, lh_error *err)
{
    char when[40];
    lh_time_format(expires_us, when, sizeof when);
    return lh_error_set(err, LH_ECONFLICT,
                        "bucket '%s' is in single-writer mode (its S3 server ignores "
                        "If-None-Match) and another writer holds the lease: %s, until %s; stop "
                        "that writer, or wait for its lease to expire, then retry",
                        s->bucket, owner, when);
}

static int lease_acquire(s3 *s, lh_error *err)
{
    char owner[200];
    int64_t exp = 0;
    int rc = lease_read(s, owner, sizeof owner, &exp, err);
    if (rc == LH_OK && strcmp(owner, s->owner) != 0 && exp > lh_wall_us())
        return refuse_second_writer(s, owner, exp, err);
    if (rc != LH_OK && rc != LH_ENOENT) return rc;
    int64_t expires = lh_wall_us() + (int64_t)s->lease_ttl_ms * 1000;
    rc = lease_write(s, expires, err);
    if (rc != LH_OK) return rc;
    /* Without conditional writes two writers starting together could both write the lease;
     * wait a moment and read it back: the last write wins and the other one backs off. */
    sleep_ms(100);
    rc = lease_read(s, owner, sizeof owner, &exp, err);
    if (rc == LH_ENOENT)
        return lh_error_set(err, LH_ECONFLICT,
                            "bucket '%s': the writer lease vanished while it "
                            "was being taken; retry",
                            s->bucket);
    if (rc != LH_OK) return rc;
    if (strcmp(owner, s->owner) != 0) return refuse_second_writer(s, owner, exp, err);
    pthread_mutex_lock(&s->lease_mu);
    s->lease_held = true;
    s->lease_expires_us = expires;
    pthread_mutex_unlock(&s->lease_mu);
    if (pthread_create(&s->lease_thread, NULL, lease_main, s) == 0) s->lease_thread_on = true;
    lh_log(LH_LOG_INFO, "s3_lease_acquired", "bucket", s->bucket, "owner", s->owner,
           (const char *)NULL);
    return LH_OK;
}

/* Renews the lease every third of its lifetime until close; marks it lost if another owner
 * took it or renewal kept failing past the expiry. */
static void *lease_main(void *arg)
{
    s3 *s = arg;
    pthread_mutex_lock(&s->lease_mu);
    while (!s->lease_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t step_ms = s->lease_ttl_ms / 3;
        ts.tv_sec += step_ms / 1000;
        ts.tv_nsec += (step_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->lease_cv, &s->lease_mu, &ts);
        if (s->lease_stop) break;
        pthread_mutex_unlock(&s->lease_mu);
        lh_error err = {0};
        char owner[200];
        int64_t exp = 0;
        int rc = lease_read(s, owner, sizeof owner, &exp, &err);
        bool lost = rc == LH_OK && strcmp(owner, s->owner) != 0;
        int64_t expires = lh_wall_us() + (int64_t)s->lease_ttl_ms * 1000;
        if (!lost && rc != LH_ENOENT && rc != LH_OK) {
            lh_log(LH_LOG_WARN, "s3_lease_renew_failed", "bucket", s->bucket, "msg", err.msg,
                   (const char *)NULL);
        } else if (!lost) {
            if (lease_write(s, expires, &err) != LH_OK)
                lh_log(LH_LOG_WARN, "s3_lease_renew_failed", "bucket", s->bucket, "msg", err.msg,
                       (const char *)NULL);
            else {
                pthread_mutex_lock(&s->lease_mu);
                s->lease_expires_us = expires;
                pthread_mutex_unlock(&s->lease_mu);
            }
        }
        pthread_mutex_lock(&s->lease_mu);
        if (lost || lh_wall_us() > s->lease_expires_us) {
            __atomic_store_n(&s->lease_lost, true, __ATOMIC_RELEASE);
            lh_log(LH_LOG_ERROR, "s3_lease_lost", "bucket", s->bucket, (const char *)NULL);
            break;
        }
    }
    pthread_mutex_unlock(&s->lease_mu);
    return NULL;
}

/* Whether the server honours If-None-Match: * — put the same probe key twice. */
static int probe_conditional(s3 *s, bool *honoured, lh_error *err)
{
    char id[37], key[80];
    lh_uuid(id);
    snprintf(key, sizeof key, "%s%s", PROBE_PREFIX, id);
    int rc = put_single(s, key, "1", 1, -1, 0, true, err);
    if (rc != LH_OK) {
        lh_error_prefix(err, "probing conditional writes");
        return rc;
    }
    rc = put_single(s, key, "2", 1, -1, 0, true, err);
    *honoured = rc == LH_EEXIST;
    if (rc == LH_EEXIST) rc = LH_OK;
    lh_error_clear(err);
    s3_req r;
    req_init(&r, "DELETE", "delete probe", key);
    r.ok_404 = true;
    lh_error derr = {0};
    s3_do(s, &r, &derr);
    lh_buf_free(&r.resp);
    return rc;
}

/* Makes this store ready to write: probe once, then lease if needed. */
static int writer_ready(s3 *s, lh_error *err)
{
    if (__atomic_load_n(&s->lease_lost, __ATOMIC_ACQUIRE))
        return lh_error_set(err, LH_ECONFLICT,
                            "bucket '%s': this writer lost its single-writer lease (another "
                            "writer took it, or renewal failed); writes are refused — restart",
                            s->bucket);
    pthread_mutex_lock(&s->write_mu);
    int rc = LH_OK;
    if (s->writer_state == WRITER_READY) goto done;
    bool honoured = s->cond_mode == 1;
    if (s->cond_mode < 0) {
        rc = probe_conditional(s, &honoured, err);
        if (rc != LH_OK) goto done;
    }
    s->cond_put = honoured;
    if (!honoured) {
        lh_log(LH_LOG_INFO, "s3_single_writer_mode", "bucket", s->bucket, "reason",
               s->cond_mode == 0 ? "conditional_put off" : "server ignores If-None-Match",
               (const char *)NULL);
        rc = lease_acquire(s, err);
        if (rc != LH_OK) goto done;
    }
    s->writer_state = WRITER_READY;
done:
    pthread_mutex_unlock(&s->write_mu);
    return rc;
}

/* ---------------------------------------------------------------- puts */

static int put_single(s3 *s, const char *key, const void *data, size_t n, int fd, int64_t flen,
                      bool if_absent, lh_error *err)
{
    s3_req r;
    req_init(&r, "PUT", if_absent ? "put_if_absent" : "put", key);
    if (fd >= 0) {
        r.in_fd = fd;
        r.in_len = flen;
    } else {
        r.body = n ? data : "";
        r.body_len = n;
    }
    if (if_absent) r.hdrs[0] = "If-None-Match: *";
    int rc = s3_do(s, &r, err);
    if (rc == LH_EEXIST && r.attempts > 1 && fd < 0) {
        /* An earlier attempt may have created the object and lost the answer: it is ours if
         * it holds exactly our bytes. */
        s3_req g;
        req_init(&g, "GET", "get", key);
        lh_error gerr = {0};
        if (s3_do(s, &g, &gerr) == LH_OK && g.resp.len == n &&
            (n == 0 || memcmp(g.resp.data, data, n) == 0))
            rc = LH_OK;
        lh_buf_free(&g.resp);
        if (rc == LH_OK) lh_error_clear(err);
    }
    if (rc == LH_EEXIST) rc = lh_error_set(err, LH_EEXIST, "object '%s' already exists", key);
    lh_buf_free(&r.resp);
    return rc;
}

static void abort_upload(s3 *s, const char *key, const char *upload_id)
{
    lh_buf q = {0};
    q_add(&q, "uploadId", upload_id);
    s3_req r;
    req_init(&r, "DELETE", "abort multipart upload", key);
    r.query = q.data;
    r.ok_404 = true;
    lh_error err = {0};
    if (s3_do(s, &r, &err) != LH_OK)
        lh_log(LH_LOG_WARN, "s3_abort_failed", "key", key, "msg", err.msg, (const char *)NULL);
    lh_buf_free(&r.resp);
    lh_buf_free(&q);
}

/* Multipart upload of data (memory) or fd (file of flen bytes); aborted on any failure, so
 * no partial object ever becomes visible. */
static int put_multipart(s3 *s, const char *key, const void *data, int fd, int64_t total,
                         lh_error *err)
{
    s3_req r;
    req_init(&r, "POST", "start multipart upload", key);
    r.query = "uploads=";
    int rc = s3_do(s, &r, err);
    char *upload_id = NULL;
    if (rc == LH_OK) {
        const char *b = r.resp.data ? r.resp.data : "";
        upload_id = xml_get(b, b + r.resp.len, "UploadId", NULL);
        if (!upload_id)
            rc = lh_error_set(err, LH_EIO, "s3 multipart upload '%s': no UploadId in the answer",
                              key);
    }
    lh_buf_free(&r.resp);
    if (rc != LH_OK) return rc;

    lh_buf done = {0};
    lh_buf_puts(&done, "<CompleteMultipartUpload>");
    int64_t off = 0;
    for (int part = 1; off < total; part++) {
        int64_t len = total - off < s->part_size ? total - off : s->part_size;
        lh_buf q = {0};
        char num[16];
        snprintf(num, sizeof num, "%d", part);
        q_add(&q, "partNumber", num);
        q_add(&q, "uploadId", upload_id);
        s3_req p;
        req_init(&p, "PUT", "upload part", key);
        p.query = q.data;
        if (fd >= 0) {
            p.in_fd = fd;
            p.in_off = off;
            p.in_len = len;
        } else {
            p.body = (const char *)data + off;
            p.body_len = (size_t)len;
        }
        rc = s3_do(s, &p, err);
        if (rc == LH_OK && !p.etag[0])
            rc = lh_error_set(err, LH_EIO, "s3 upload part %d of '%s': no ETag in the answer", part,
                              key);
        if (rc == LH_OK)
            lh_buf_printf(&done, "<Part><PartNumber>%d</PartNumber><ETag>\"%s\"</ETag></Part>",
                          part, p.etag);
        lh_buf_free(&p.resp);
        lh_buf_free(&q);
        if (rc != LH_OK) goto fail;
        off += len;
    }
    lh_buf_puts(&done, "</CompleteMultipartUpload>");
    lh_buf q = {0};
    q_add(&q, "uploadId", upload_id);
    s3_req c;
    req_init(&c, "POST", "complete multipart upload", key);
    c.query = q.data;
    c.body = done.data;
    c.body_len = done.len;
    c.idempotent = false;
    rc = s3_do(s, &c, err);
    /* S3 may answer 200 and put the error in the body. */
    if (rc == LH_OK && c.resp.data && strstr(c.resp.data, "<Error>")) {
        char text[600];
        s3_error_text(&c, text, sizeof text);
        rc = lh_error_set(err, LH_EIO, "s3 complete multipart upload '%s': %s", key, text);
    }
    lh_buf_free(&c.resp);
    lh_buf_free(&q);
    if (rc != LH_OK) goto fail;
    lh_buf_free(&done);
    free(upload_id);
    return LH_OK;
fail:
    abort_upload(s, key, upload_id);
    lh_buf_free(&done);
    free(upload_id);
    return rc;
}

static int s_put(void *self, const char *key, const void *data, size_t n, lh_error *err)
{
    s3 *s = self;
    int rc = writer_ready(s, err);
    if (rc != LH_OK) return rc;
    if ((int64_t)n > s->mp_threshold) return put_multipart(s, key, data, -1, (int64_t)n, err);
    return put_single(s, key, data, n, -1, 0, false, err);
}

static int s_put_if_absent(void *self, const char *key, const void *data, size_t n, lh_error *err)
{
    s3 *s = self;
    int rc = writer_ready(s, err);
    if (rc != LH_OK) return rc;
    if (s->cond_put) return put_single(s, key, data, n, -1, 0, true, err);
    /* Single-writer mode: nobody else writes, so check-then-put is atomic under write_mu. */
    pthread_mutex_lock(&s->write_mu);
    s3_req h;
    req_init(&h, "HEAD", "put_if_absent", key);
    h.ok_404 = true;
    rc = s3_do(s, &h, err);
    if (rc == LH_OK && h.status != 404)
        rc = lh_error_set(err, LH_EEXIST, "object '%s' already exists", key);
    else if (rc == LH_OK)
        rc = put_single(s, key, data, n, -1, 0, false, err);
    pthread_mutex_unlock(&s->write_mu);
    return rc;
}

static int s_put_file(void *self, const char *key, const char *path, lh_error *err)
{
    s3 *s = self;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lh_error_set(err, errno == ENOENT ? LH_ENOENT : LH_EIO, "put_file '%s': %s: %s", key,
                            path, strerror(errno));
    struct stat st;
    int rc;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = lh_error_set(err, LH_EINVAL, "put_file '%s': %s is not a regular file", key, path);
        goto done;
    }
    rc = writer_ready(s, err);
    if (rc != LH_OK) goto done;
    if (st.st_size > s->mp_threshold)
        rc = put_multipart(s, key, NULL, fd, st.st_size, err);
    else
        rc = put_single(s, key, NULL, 0, fd, st.st_size, false, err);
done:
    close(fd);
    return rc;
}

/* ---------------------------------------------------------------- reads */

static int s_get(void *self, const char *key, int64_t offset, int64_t length, char **out,
                 size_t *out_len, lh_error *err)
{
    s3 *s = self;
    *out = NULL;
    *out_len = 0;
    s3_req r;
    req_init(&r, "GET", "get", key);
    char range[80];
    if (length == 0) {
        /* Nothing to read, but the object must exist. */
        req_init(&r, "HEAD", "get", key);
    } else if (offset > 0 || length > 0) {
        if (length > 0)
            snprintf(range, sizeof range, "Range: bytes=%lld-%lld", (long long)offset,
                     (long long)(offset + length - 1));
        else
            snprintf(range, sizeof range, "Range: bytes=%lld-", (long long)offset);
        r.hdrs[0] = range;
    }
    int rc = s3_do(s, &r, err);
    if (rc == LH_EIO && r.status == 416) {
        /* The range starts at or past the end: like a read at EOF, nothing. */
        lh_error_clear(err);
        lh_buf_reset(&r.resp);
        rc = LH_OK;
    }
    if (rc != LH_OK) {
        lh_buf_free(&r.resp);
        return rc;
    }
    if (strcmp(r.method, "HEAD") == 0) lh_buf_reset(&r.resp);
    if (r.hdrs[0] && r.status == 200) {
        /* The server ignored the Range header (s3rver does for "bytes=0-0") and sent the
         * whole object: cut the range out here. */
        size_t from = (uint64_t)offset < r.resp.len ? (size_t)offset : r.resp.len;
        size_t n = r.resp.len - from;
        if (length >= 0 && (uint64_t)length < n) n = (size_t)length;
        memmove(r.resp.data, r.resp.data + from, n);
        r.resp.len = n;
        r.resp.data[n] = 0;
    } else if (r.hdrs[0] && length > 0 && r.resp.len > (uint64_t)length) {
        /* ... or answered the range from its start to the end ("bytes=0-0" read as "0-"). */
        r.resp.len = (size_t)length;
        r.resp.data[r.resp.len] = 0;
    }
    *out_len = r.resp.len;
    if (!r.resp.data) lh_buf_puts(&r.resp, "");
    *out = lh_buf_steal(&r.resp);
    return LH_OK;
}

/* Downloads key into the open file fd (truncated first); fills size and etag seen. */
static int download_fd(s3 *s, const char *key, int fd, int64_t *size, char *etag, size_t n,
                       lh_error *err)
{
    s3_req r;
    req_init(&r, "GET", "get_file", key);
    r.out_fd = fd;
    int rc = s3_do(s, &r, err);
    if (rc == LH_OK && r.content_length >= 0 && r.written != r.content_length)
        rc = lh_error_set(err, LH_EIO, "s3 get '%s': received %lld of %lld bytes", key,
                          (long long)r.written, (long long)r.content_length);
    if (rc == LH_OK) {
        *size = r.written;
        snprintf(etag, n, "%s", r.etag);
    }
    lh_buf_free(&r.resp);
    return rc;
}

static int s_get_file(void *self, const char *key, const char *path, lh_error *err)
{
    s3 *s = self;
    char *tmp = lh_sprintf("%s.tmp.%d.%llx", path, (int)getpid(), (unsigned long long)rand64());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    int rc;
    if (fd < 0) {
        rc = lh_error_set(err, LH_EIO, "get_file '%s': %s: %s", key, tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    int64_t size;
    char etag[80];
    rc = download_fd(s, key, fd, &size, etag, sizeof etag, err);
    if (rc == LH_OK && fsync(fd) != 0)
        rc = lh_error_set(err, LH_EIO, "get_file '%s': fsync %s: %s", key, tmp, strerror(errno));
    close(fd);
    if (rc == LH_OK && rename(tmp, path) != 0)
        rc = lh_error_set(err, LH_EIO, "get_file '%s': rename to %s: %s", key, path,
                          strerror(errno));
    if (rc != LH_OK) unlink(tmp);
    free(tmp);
    return rc;
}

static int s_head(void *self, const char *key, lh_object_info *out, lh_error *err)
{
    s3 *s = self;
    s3_req r;
    req_init(&r, "HEAD", "head", key);
    int rc = s3_do(s, &r, err);
    if (rc == LH_OK) {
        snprintf(out->key, sizeof out->key, "%s", key);
        out->size = r.content_length < 0 ? 0 : r.content_length;
        out->mtime_us = r.mtime_us;
        snprintf(out->etag, sizeof out->etag, "%s", r.etag);
    }
    lh_buf_free(&r.resp);
    return rc;
}

static int s_list(void *self, const char *prefix, const char *token, size_t max,
                  lh_object_list *out, lh_error *err)
{
    s3 *s = self;
    char maxs[24];
    snprintf(maxs, sizeof maxs, "%zu", max);
    char *full_prefix = lh_sprintf("%s%s", s->prefix, prefix);
    char *after = token ? lh_sprintf("%s%s", s->prefix, token) : NULL;
    lh_buf q = {0}; /* sorted by name */
    q_add(&q, "list-type", "2");
    q_add(&q, "max-keys", maxs);
    q_add(&q, "prefix", full_prefix);
    if (after) q_add(&q, "start-after", after);
    s3_req r;
    req_init(&r, "GET", "list", NULL);
    r.query = q.data;
    int rc = s3_do(s, &r, err);
    if (rc != LH_OK) goto done;
    const char *b = r.resp.data ? r.resp.data : "";
    const char *end = b + r.resp.len;
    size_t plen = strlen(s->prefix);
    size_t cap = 0;
    char *last = NULL;
    const char *p = b;
    char *item;
    while ((item = xml_get(p, end, "Contents", &p))) {
        const char *ie = item + strlen(item);
        char *k = xml_get(item, ie, "Key", NULL);
        if (k && strncmp(k, s->prefix, plen) == 0) {
            free(last);
            last = lh_strdup(k + plen);
            if (!hidden_key(k + plen)) {
                if (out->count == cap) {
                    cap = cap ? cap * 2 : 64;
                    out->items = lh_realloc(out->items, cap * sizeof *out->items);
                }
                lh_object_info *o = &out->items[out->count++];
                memset(o, 0, sizeof *o);
                snprintf(o->key, sizeof o->key, "%s", k + plen);
                char *sz = xml_get(item, ie, "Size", NULL);
                char *et = xml_get(item, ie, "ETag", NULL);
                char *lm = xml_get(item, ie, "LastModified", NULL);
                o->size = sz ? strtoll(sz, NULL, 10) : 0;
                if (et) etag_copy(o->etag, sizeof o->etag, et);
                if (lm) lh_time_parse(lm, &o->mtime_us);
                free(sz);
                free(et);
                free(lm);
            }
        }
        free(k);
        free(item);
    }
    char *trunc = xml_get(b, end, "IsTruncated", NULL);
    if (trunc && strcmp(trunc, "true") == 0 && last) {
        out->next_token = last;
        last = NULL;
    }
    free(trunc);
    free(last);
done:
    lh_buf_free(&r.resp);
    lh_buf_free(&q);
    free(full_prefix);
    free(after);
    return rc;
}

static int s_del(void *self, const char *key, lh_error *err)
{
    s3 *s = self;
    int rc = writer_ready(s, err);
    if (rc != LH_OK) return rc;
    s3_req r;
    req_init(&r, "DELETE", "delete", key);
    r.ok_404 = true;
    rc = s3_do(s, &r, err);
    lh_buf_free(&r.resp);
    return rc;
}

static int s_del_many(void *self, const char *const *keys, size_t n, lh_error *err)
{
    s3 *s = self;
    int rc = writer_ready(s, err);
    if (rc != LH_OK) return rc;
    for (size_t i = 0; i < n && rc == LH_OK; i += 1000) {
        size_t m = n - i < 1000 ? n - i : 1000;
        lh_buf x = {0};
        lh_buf_puts(&x, "<Delete><Quiet>true</Quiet>");
        for (size_t j = 0; j < m; j++) /* keys hold no XML-special characters */
            lh_buf_printf(&x, "<Object><Key>%s%s</Key></Object>", s->prefix, keys[i + j]);
        lh_buf_puts(&x, "</Delete>");
        s3_req r;
        req_init(&r, "POST", "delete_many", NULL);
        r.query = "delete=";
        r.body = x.data;
        r.body_len = x.len;
        rc = s3_do(s, &r, err);
        if (rc == LH_OK && r.resp.data) {
            const char *b = r.resp.data;
            char *e = xml_get(b, b + r.resp.len, "Error", NULL);
            if (e) {
                char *k = xml_get(e, e + strlen(e), "Key", NULL);
                char *c = xml_get(e, e + strlen(e), "Code", NULL);
                char *m2 = xml_get(e, e + strlen(e), "Message", NULL);
                rc = lh_error_set(err, LH_EIO, "s3 delete_many: '%s': %s: %s", k ? k : "?",
                                  c ? c : "?", m2 ? m2 : "");
                free(k);
                free(c);
                free(m2);
                free(e);
            }
        }
        lh_buf_free(&r.resp);
        lh_buf_free(&x);
    }
    return rc;
}

/* Materializes the object in the local cache (verified by size and ETag) and returns the
 * copy's path; NULL (logged) if it cannot be fetched. */
static const char *s_local_path(void *self, const char *key, char *buf, size_t n)
{
    s3 *s = self;
    if (!s->cache) return NULL;
    lh_error err = {0};
    lh_object_info info;
    if (s_head(s, key, &info, &err) != LH_OK) goto fail;
    if (objcache_lookup(s->cache, key, info.etag, info.size, buf, n)) {
        __atomic_add_fetch(&s->n_hits, 1, __ATOMIC_RELAXED);
        return buf;
    }
    __atomic_add_fetch(&s->n_misses, 1, __ATOMIC_RELAXED);
    char *tmp = objcache_temp_path(s->cache);
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        lh_error_set(&err, LH_EIO, "object cache: %s: %s", tmp, strerror(errno));
        free(tmp);
        goto fail;
    }
    int64_t size = 0;
    char etag[80] = "";
    int rc = download_fd(s, key, fd, &size, etag, sizeof etag, &err);
    if (rc == LH_OK && (size != info.size || strcmp(etag, info.etag) != 0))
        rc = lh_error_set(&err, LH_ECORRUPT,
                          "s3 '%s': downloaded %lld bytes with ETag %s, expected %lld bytes "
                          "with ETag %s (changed while reading?)",
                          key, (long long)size, etag, (long long)info.size, info.etag);
    char md5[33];
    /* A single-part object's ETag is the MD5 of its bytes: check them too. */
    if (rc == LH_OK && is_md5_hex(info.etag) && md5_file_hex(fd, md5) &&
        strcmp(md5, info.etag) != 0)
        rc = lh_error_set(&err, LH_ECORRUPT, "s3 '%s': downloaded bytes have MD5 %s, ETag says %s",
                          key, md5, info.etag);
    close(fd);
    if (rc == LH_OK)
        rc = objcache_commit(s->cache, tmp, key, info.etag, info.size, buf, n, &err);
    else
        unlink(tmp);
    free(tmp);
    if (rc == LH_OK) return buf;
fail:
    lh_log(LH_LOG_WARN, "s3_cache_fetch_failed", "key", key, "msg", err.msg, (const char *)NULL);
    return NULL;
}

static void s_stats(void *self, lh_storage_stats *out)
{
    s3 *s = self;
    out->requests = __atomic_load_n(&s->n_requests, __ATOMIC_RELAXED);
    out->retries = __atomic_load_n(&s->n_retries, __ATOMIC_RELAXED);
    out->connects = __atomic_load_n(&s->n_connects, __ATOMIC_RELAXED);
    out->cache_hits = __atomic_load_n(&s->n_hits, __ATOMIC_RELAXED);
    out->cache_misses = __atomic_load_n(&s->n_misses, __ATOMIC_RELAXED);
    out->cache_bytes = s->cache ? objcache_bytes(s->cache) : 0;
}

static void wipe_free(char *p)
{
    if (!p) return;
    volatile char *v = p;
    while (*v)
        *v++ = 0;
    free(p);
}

static void s_close(void *self)
{
    s3 *s = self;
    if (s->lease_thread_on) {
        pthread_mutex_lock(&s->lease_mu);
        s->lease_stop = true;
        pthread_cond_signal(&s->lease_cv);
        pthread_mutex_unlock(&s->lease_mu);
        pthread_join(s->lease_thread, NULL);
    }
    if (s->lease_held && !__atomic_load_n(&s->lease_lost, __ATOMIC_ACQUIRE)) {
        /* Hand the bucket back at once rather than at expiry. */
        char owner[200];
        int64_t exp;
        lh_error err = {0};
        if (lease_read(s, owner, sizeof owner, &exp, &err) == LH_OK &&
            strcmp(owner, s->owner) == 0) {
            s3_req r;
            req_init(&r, "DELETE", "release lease", LEASE_KEY);
            r.ok_404 = true;
            s3_do(s, &r, &err);
            lh_buf_free(&r.resp);
        }
    }
    for (int i = 0; i < s->npool; i++)
        curl_easy_cleanup(s->pool[i]);
    if (s->share) curl_share_cleanup(s->share);
    objcache_free(s->cache);
    free(s->base);
    free(s->bucket);
    free(s->prefix);
    free(s->sigv4);
    wipe_free(s->access_key);
    wipe_free(s->secret_key);
    wipe_free(s->token_header);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_mutex_destroy(&s->share_mu);
    pthread_mutex_destroy(&s->write_mu);
    pthread_mutex_destroy(&s->lease_mu);
    pthread_cond_destroy(&s->lease_cv);
    free(s);
}

static const lh_storage_ops s3_ops = {
    .name = "s3",
    .put = s_put,
    .put_if_absent = s_put_if_absent,
    .put_file = s_put_file,
    .get = s_get,
    .get_file = s_get_file,
    .head = s_head,
    .list = s_list,
    .del = s_del,
    .local_path = s_local_path,
    .close = s_close,
    .del_many = s_del_many,
    .stats = s_stats,
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Bucket names: 3-63 of [a-z0-9.-] (S3's rules, loosely). */
static bool bucket_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63) return false;
    for (const char *p = b; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
            return false;
    return true;
}

int lh_storage_open_s3(const lh_s3_options *opt, lh_storage **out, lh_error *err)
{
    *out = NULL;
    if (!opt->endpoint || !*opt->endpoint)
        return lh_error_set(err, LH_EINVAL, "s3: no endpoint configured (s3_endpoint)");
    if (strncmp(opt->endpoint, "http://", 7) != 0 && strncmp(opt->endpoint, "https://", 8) != 0)
        return lh_error_set(err, LH_EINVAL, "s3: endpoint '%s' must start with http:// or https://",
                            opt->endpoint);
    if (!opt->bucket || !bucket_ok(opt->bucket))
        return lh_error_set(err, LH_EINVAL,
                            "s3: bucket '%s' is not a valid bucket name (3-63 of a-z 0-9 . -)",
                            opt->bucket ? opt->bucket : "");
    if (!opt->access_key_id || !*opt->access_key_id || !opt->secret_access_key ||
        !*opt->secret_access_key)
        return lh_error_set(err, LH_EINVAL,
                            "s3: no credentials: set s3_access_key_id and s3_secret_access_key "
                            "in the secrets file, or LAKEHOUSE_S3_ACCESS_KEY_ID and "
                            "LAKEHOUSE_S3_SECRET_ACCESS_KEY");
    const char *prefix = opt->prefix ? opt->prefix : "";
    if (*prefix) {
        int rc = lh_storage_key_check(prefix, err);
        if (rc != LH_OK) {
            lh_error_prefix(err, "s3_prefix");
            return rc;
        }
    }
    const char *cm = opt->conditional_put ? opt->conditional_put : "auto";
    int cond_mode;
    if (strcmp(cm, "auto") == 0)
        cond_mode = -1;
    else if (strcmp(cm, "on") == 0)
        cond_mode = 1;
    else if (strcmp(cm, "off") == 0)
        cond_mode = 0;
    else
        return lh_error_set(err, LH_EINVAL,
                            "s3_conditional_put: expected auto, on or off; got '%s'", cm);
    pthread_once(&curl_once, curl_init_once);

    s3 *s = lh_calloc(1, sizeof *s);
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_mutex_init(&s->share_mu, NULL);
    pthread_mutex_init(&s->write_mu, NULL);
    pthread_mutex_init(&s->lease_mu, NULL);
    pthread_cond_init(&s->lease_cv, NULL);
    size_t elen = strlen(opt->endpoint);
    while (elen && opt->endpoint[elen - 1] == '/')
        elen--;
    if (opt->path_style) {
        s->base = lh_sprintf("%.*s/%s", (int)elen, opt->endpoint, opt->bucket);
    } else {
        const char *host = strstr(opt->endpoint, "://") + 3;
        s->base = lh_sprintf("%.*s%s.%.*s", (int)(host - opt->endpoint), opt->endpoint, opt->bucket,
                             (int)(elen - (size_t)(host - opt->endpoint)), host);
    }
    s->bucket = lh_strdup(opt->bucket);
    s->path_style = opt->path_style;
    s->prefix = *prefix ? lh_sprintf("%s%s", prefix, prefix[strlen(prefix) - 1] == '/' ? "" : "/")
                        : lh_strdup("");
    s->sigv4 = lh_sprintf("aws:amz:%s:s3", opt->region && *opt->region ? opt->region : "us-east-1");
    s->access_key = lh_strdup(opt->access_key_id);
    s->secret_key = lh_strdup(opt->secret_access_key);
    if (opt->session_token && *opt->session_token)
        s->token_header = lh_sprintf("x-amz-security-token: %s", opt->session_token);
    s->mp_threshold = opt->multipart_threshold > 0 ? opt->multipart_threshold : (int64_t)64 << 20;
    s->part_size = opt->part_size > 0 ? opt->part_size : (int64_t)16 << 20;
    if (s->part_size < MIN_PART) s->part_size = MIN_PART;
    s->retry_max_ms = opt->retry_max_ms > 0 ? opt->retry_max_ms : 20000;
    s->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : 30000;
    s->lease_ttl_ms = opt->lease_ttl_ms > 0 ? opt->lease_ttl_ms : 30000;
    if (s->lease_ttl_ms < 300) s->lease_ttl_ms = 300;
    s->cond_mode = cond_mode;
    char host[100] = "";
    gethostname(host, sizeof host - 1);
    char id[37];
    lh_uuid(id);
    snprintf(s->owner, sizeof s->owner, "%s:%d:%.8s", host, (int)getpid(), id);
    s->share = curl_share_init();
    curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);

    int rc = LH_OK;
    if (opt->cache_dir) {
        rc = objcache_open(opt->cache_dir, opt->cache_max_bytes, opt->cache_grace_ms, &s->cache,
                           err);
        if (rc != LH_OK) goto fail;
    }
    if (opt->no_check_at_open) goto done;
    /* Reach the bucket once now, so a wrong endpoint, bucket or key fails at start-up. */
    lh_buf q = {0};
    q_add(&q, "list-type", "2");
    q_add(&q, "max-keys", "1");
    s3_req r;
    req_init(&r, "GET", "open bucket", NULL);
    r.query = q.data;
    rc = s3_do(s, &r, err);
    lh_buf_free(&r.resp);
    lh_buf_free(&q);
    if (rc != LH_OK) goto fail;
done:
    *out = lh_storage_wrap(&s3_ops, s);
    return LH_OK;
fail:
    s_close(s);
    return rc;
}
