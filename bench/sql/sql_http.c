/*
 * sql_http — times the bench queries through POST /sql of a running `lakehouse serve`.
 *
 * usage: sql_http URL QUERIES_FILE WARMUP RUNS
 *
 * One keep-alive session (bench_http.h); each query runs WARMUP untimed times, then RUNS timed
 * times. Output, one tab-separated line per query on stdout:
 *     NAME  MEDIAN_MS  MIN_MS  MAX_MS  ROWS  BYTES  SAMPLE_MS,SAMPLE_MS,...
 * Exit status 1 if any request fails (the failing answer goes to stderr).
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench_common.h"
#include "bench_http.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: sql_http URL QUERIES_FILE WARMUP RUNS\n");
        return 2;
    }
    int warmup = atoi(argv[3]), runs = atoi(argv[4]);
    if (runs < 1) runs = 1;
    bench_query *qs = NULL;
    int nq = bench_queries_load(argv[2], &qs);
    if (nq < 0) return 1;
    bench_http *h = bench_http_open(argv[1]);
    if (!h) {
        fprintf(stderr, "sql_http: cannot start libcurl\n");
        bench_queries_free(qs, nq);
        return 1;
    }
    int status = 0;
    double *t = calloc((size_t)runs, sizeof(double));
    for (int i = 0; i < nq && status == 0; i++) {
        bench_http_query(h, qs[i].sql);
        long long rows = -1;
        size_t bytes = 0;
        for (int w = 0; w < warmup && status == 0; w++)
            if (bench_http_run(h, qs[i].name, &rows, &bytes) < 0) status = 1;
        double lo = 1e300, hi = 0;
        for (int r = 0; r < runs && status == 0; r++) {
            t[r] = bench_http_run(h, qs[i].name, &rows, &bytes);
            if (t[r] < 0) status = 1;
            if (t[r] < lo) lo = t[r];
            if (t[r] > hi) hi = t[r];
        }
        if (status == 0) {
            printf("%s\t%.3f\t%.3f\t%.3f\t%lld\t%zu\t", qs[i].name, bench_median(t, runs), lo, hi,
                   rows, bytes);
            bench_print_samples(t, runs);
        }
        fflush(stdout);
    }
    free(t);
    bench_http_close(h);
    bench_queries_free(qs, nq);
    return status;
}
