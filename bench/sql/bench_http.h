/*
 * bench_http — one keep-alive libcurl session timing POST /sql of a running `lakehouse serve`
 * (used by sql_http and sql_pair).
 *
 * Only the request itself is timed: send, server-side parse/plan/execute, JSON serialization,
 * and receiving the whole body. The full result is requested ("limit" above any result size)
 * and the answer is checked: HTTP 200, "truncated":false, and row_count read from the body.
 */
#ifndef LH_BENCH_HTTP_H
#define LH_BENCH_HTTP_H

#include <stddef.h>

typedef struct bench_http bench_http;

/* Opens a session to BASE_URL (e.g. http://127.0.0.1:8080); NULL on failure. */
bench_http *bench_http_open(const char *base_url);
/* Sets the SQL the next runs send. */
void bench_http_query(bench_http *h, const char *sql);
/* Runs the query once; returns its wall time in ms (rows and body bytes through *rows and
 * *bytes), or -1 on failure (reported on stderr, naming the query by name). */
double bench_http_run(bench_http *h, const char *name, long long *rows, size_t *bytes);
/* Closes the session. Accepts NULL. */
void bench_http_close(bench_http *h);

#endif
