/* bench_http: POST /sql timed over one keep-alive libcurl handle (see bench_http.h). */
#include "bench_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

#define FULL_RESULT_LIMIT 100000000

struct bench_http {
    CURL *h;
    struct curl_slist *hdrs;
    char *req;
    char *data;
    size_t len, cap;
};

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    bench_http *b = ctx;
    size_t k = size * n;
    if (b->len + k + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (b->len + k + 1 > cap)
            cap *= 2;
        char *nd = realloc(b->data, cap);
        if (!nd) return 0;
        b->data = nd;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, k);
    b->len += k;
    b->data[b->len] = 0;
    return k;
}

/* {"sql":"<escaped>","limit":N} */
static char *request_json(const char *sql)
{
    size_t n = strlen(sql);
    char *out = malloc(n * 6 + 64), *o = out;
    o += sprintf(o, "{\"sql\":\"");
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else if (*p < 0x20) {
            o += sprintf(o, "\\u%04x", *p);
        } else {
            *o++ = (char)*p;
        }
    }
    sprintf(o, "\",\"limit\":%d}", FULL_RESULT_LIMIT);
    return out;
}

bench_http *bench_http_open(const char *base_url)
{
    static int global_done = 0;
    if (!global_done++) curl_global_init(CURL_GLOBAL_DEFAULT);
    bench_http *b = calloc(1, sizeof *b);
    if (!b || !(b->h = curl_easy_init())) {
        free(b);
        return NULL;
    }
    char url[512];
    snprintf(url, sizeof(url), "%s/sql", base_url);
    b->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    b->hdrs = curl_slist_append(b->hdrs, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(b->h, CURLOPT_URL, url);
    curl_easy_setopt(b->h, CURLOPT_HTTPHEADER, b->hdrs);
    curl_easy_setopt(b->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(b->h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(b->h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(b->h, CURLOPT_TIMEOUT, 300L);
    return b;
}

void bench_http_query(bench_http *b, const char *sql)
{
    free(b->req);
    b->req = request_json(sql);
    curl_easy_setopt(b->h, CURLOPT_POSTFIELDS, b->req);
    curl_easy_setopt(b->h, CURLOPT_POSTFIELDSIZE, (long)strlen(b->req));
}

double bench_http_run(bench_http *b, const char *name, long long *rows, size_t *bytes)
{
    b->len = 0;
    if (b->data) b->data[0] = 0;
    double t0 = bench_now_ms();
    CURLcode cc = curl_easy_perform(b->h);
    double ms = bench_now_ms() - t0;
    long status = 0;
    curl_easy_getinfo(b->h, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK || status != 200) {
        fprintf(stderr, "bench_http: %s: %s, HTTP %ld: %.500s\n", name, curl_easy_strerror(cc),
                status, b->data ? b->data : "");
        return -1;
    }
    /* row_count and truncated are written after the rows: look near the end. */
    const char *tail = b->len > 512 ? b->data + b->len - 512 : b->data;
    const char *rc = strstr(tail, "\"row_count\":");
    if (!rc || strstr(tail, "\"truncated\":true")) {
        fprintf(stderr, "bench_http: %s: incomplete or truncated answer (%zu bytes)\n", name,
                b->len);
        return -1;
    }
    *rows = strtoll(rc + 12, NULL, 10);
    if (bytes) *bytes = b->len;
    return ms;
}

void bench_http_close(bench_http *b)
{
    if (!b) return;
    free(b->req);
    free(b->data);
    curl_slist_free_all(b->hdrs);
    curl_easy_cleanup(b->h);
    free(b);
}
