/*
 * bench_common — what the SQL bench programs share: the query list file, timing, medians.
 *
 * The query list (queries.sql) is read by both sql_http and raw_duckdb so that both run
 * exactly the same SQL text. A query starts with a line
 *     -- @query NAME SEED_MS description...
 * and its SQL is every following line up to the next "-- @query" or the end of the file
 * (a trailing ';' is dropped). Other "--" lines are comments.
 */
#ifndef LH_BENCH_COMMON_H
#define LH_BENCH_COMMON_H

#include <stddef.h>

typedef struct bench_query {
    char name[64];
    double seed_ms;
    char desc[200];
    char *sql; /* owned */
} bench_query;

/* Reads the query list; returns the count (>0) and *out (free with bench_queries_free), or
 * -1 with a message on stderr. */
int bench_queries_load(const char *path, bench_query **out);
void bench_queries_free(bench_query *q, int n);

/* Reads a whole file as a NUL-terminated string (caller frees); NULL on error. */
char *bench_read_file(const char *path);

/* Monotonic wall clock in milliseconds. */
double bench_now_ms(void);

/* Median of v[0..n) (sorts a copy; v keeps its order). */
double bench_median(const double *v, int n);

/* Prints v[0..n) comma-separated with a newline: the raw samples, in run order. */
void bench_print_samples(const double *v, int n);

#endif
