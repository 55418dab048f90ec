/*
 * sql_pair — times each bench query through POST /sql and on raw DuckDB, run by run in turn.
 *
 * usage: sql_pair URL SETUP_SQL_FILE QUERIES_FILE WARMUP RUNS
 *
 * One process holds both sides: a keep-alive session to a running `lakehouse serve`
 * (bench_http.h) and stock DuckDB over the same Parquet files (bench_raw.h; the DuckDB of this
 * process idles while the server runs, and the server's while DuckDB runs). Per query: WARMUP
 * untimed runs of each side, then RUNS timed pairs, each pair one run of each side back to
 * back, the side going first swapping from pair to pair. Load from elsewhere on the machine
 * then hits both sides alike within milliseconds, and sample i of one side and sample i of the
 * other form a pair (their ratio is the "paired" figure of bench/sql/run).
 *
 * Output, two tab-separated lines per query on stdout, side "http" then "raw":
 *     SIDE  NAME  MEDIAN_MS  MIN_MS  MAX_MS  ROWS  BYTES  SAMPLE_MS,SAMPLE_MS,...
 * (BYTES: the JSON body's size for http, 0 for raw). Exit status 1 if a run fails.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench_common.h"
#include "bench_http.h"
#include "bench_raw.h"

static void print_side(const char *side, const bench_query *q, const double *t, int runs,
                       long long rows, size_t bytes)
{
    double lo = t[0], hi = t[0];
    for (int r = 1; r < runs; r++) {
        if (t[r] < lo) lo = t[r];
        if (t[r] > hi) hi = t[r];
    }
    printf("%s\t%s\t%.3f\t%.3f\t%.3f\t%lld\t%zu\t", side, q->name, bench_median(t, runs), lo, hi,
           rows, bytes);
    bench_print_samples(t, runs);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: sql_pair URL SETUP_SQL_FILE QUERIES_FILE WARMUP RUNS\n");
        return 2;
    }
    int warmup = atoi(argv[4]), runs = atoi(argv[5]);
    if (runs < 1) runs = 1;
    bench_query *qs = NULL;
    int nq = bench_queries_load(argv[3], &qs);
    if (nq < 0) return 1;
    bench_http *h = bench_http_open(argv[1]);
    bench_raw *raw = h ? bench_raw_open(argv[2]) : NULL;
    if (!h || !raw) {
        if (!h) fprintf(stderr, "sql_pair: cannot start libcurl\n");
        bench_http_close(h);
        bench_queries_free(qs, nq);
        return 1;
    }
    int status = 0;
    double *th = calloc((size_t)runs, sizeof(double));
    double *tr = calloc((size_t)runs, sizeof(double));
    for (int i = 0; i < nq && status == 0; i++) {
        const bench_query *q = &qs[i];
        bench_http_query(h, q->sql);
        long long hrows = -1, rrows = -1;
        size_t bytes = 0;
        for (int w = 0; w < warmup && status == 0; w++)
            if (bench_http_run(h, q->name, &hrows, &bytes) < 0 || bench_raw_run(raw, q, &rrows) < 0)
                status = 1;
        for (int r = 0; r < runs && status == 0; r++) {
            if (r % 2 == 0) {
                th[r] = bench_http_run(h, q->name, &hrows, &bytes);
                tr[r] = bench_raw_run(raw, q, &rrows);
            } else {
                tr[r] = bench_raw_run(raw, q, &rrows);
                th[r] = bench_http_run(h, q->name, &hrows, &bytes);
            }
            if (th[r] < 0 || tr[r] < 0) status = 1;
        }
        if (status == 0) {
            print_side("http", q, th, runs, hrows, bytes);
            print_side("raw", q, tr, runs, rrows, 0);
        }
        fflush(stdout);
    }
    free(th);
    free(tr);
    bench_raw_close(raw);
    bench_http_close(h);
    bench_queries_free(qs, nq);
    return status;
}
