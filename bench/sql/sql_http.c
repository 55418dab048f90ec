/*
 * sql_http — times the bench queries through POST /sql of a running `lakehouse serve`.
 *
 * usage: sql_http URL QUERIES_FILE WARMUP RUNS
 *
 * One libcurl handle is reused for every request, so the connection stays open (keep-alive)
 * and only the request itself is timed: send, server-side parse/plan/execute, JSON
 * serialization, and receiving the whole body. Each query runs WARMUP untimed times, then
 * RUNS timed times. The full result is requested ("limit" above any result size) and the
 * answer is checked: HTTP 200, "truncated":false, and row_count read from the body.
 *
 * Output, one tab-separated line per query on stdout:
 *     NAME  MEDIAN_MS  MIN_MS  MAX_MS  ROWS  BYTES  SAMPLE_MS,SAMPLE_MS,...
 * Exit status 1 if any request fails (the failing answer goes to stderr).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

#define FULL_RESULT_LIMIT 100000000

typedef struct body {
    char *data;
    size_t len, cap;
} body;

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    body *b = ctx;
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

/* Runs one request; returns its wall time in ms, or -1 on failure (reported on stderr). */
static double run_once(CURL *h, const char *name, body *b, long long *rows)
{
    b->len = 0;
    if (b->data) b->data[0] = 0;
    double t0 = bench_now_ms();
    CURLcode cc = curl_easy_perform(h);
    double ms = bench_now_ms() - t0;
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK || status != 200) {
        fprintf(stderr, "sql_http: %s: %s, HTTP %ld: %.500s\n", name, curl_easy_strerror(cc),
                status, b->data ? b->data : "");
        return -1;
    }
    /* row_count and truncated are written after the rows: look near the end. */
    const char *tail = b->len > 512 ? b->data + b->len - 512 : b->data;
    const char *rc = strstr(tail, "\"row_count\":");
    if (!rc || strstr(tail, "\"truncated\":true")) {
        fprintf(stderr, "sql_http: %s: incomplete or truncated answer (%zu bytes)\n", name, b->len);
        return -1;
    }
    *rows = strtoll(rc + 12, NULL, 10);
    return ms;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: sql_http URL QUERIES_FILE WARMUP RUNS\n");
        return 2;
    }
    const char *base = argv[1];
    int warmup = atoi(argv[3]), runs = atoi(argv[4]);
    if (runs < 1) runs = 1;
    bench_query *qs = NULL;
    int nq = bench_queries_load(argv[2], &qs);
    if (nq < 0) return 1;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *h = curl_easy_init();
    char url[512];
    snprintf(url, sizeof(url), "%s/sql", base);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
    body b = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 300L);

    int status = 0;
    double *t = calloc((size_t)runs, sizeof(double));
    for (int i = 0; i < nq && status == 0; i++) {
        char *req = request_json(qs[i].sql);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(req));
        long long rows = -1;
        for (int w = 0; w < warmup && status == 0; w++)
            if (run_once(h, qs[i].name, &b, &rows) < 0) status = 1;
        double lo = 1e300, hi = 0;
        for (int r = 0; r < runs && status == 0; r++) {
            t[r] = run_once(h, qs[i].name, &b, &rows);
            if (t[r] < 0) status = 1;
            if (t[r] < lo) lo = t[r];
            if (t[r] > hi) hi = t[r];
        }
        if (status == 0) {
            printf("%s\t%.3f\t%.3f\t%.3f\t%lld\t%zu\t", qs[i].name, bench_median(t, runs), lo, hi,
                   rows, b.len);
            bench_print_samples(t, runs);
        }
        fflush(stdout);
        free(req);
    }
    free(t);
    free(b.data);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    bench_queries_free(qs, nq);
    return status;
}
