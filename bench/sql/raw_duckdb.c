/*
 * raw_duckdb — the comparison anchor: the same SQL on stock DuckDB, no lakehouse code.
 *
 * Links the same libduckdb.so as lakehouse and uses only the project's declarations of the
 * DuckDB C API (core/duckdb_capi.h); none of the project's functions.
 *
 * usage: raw_duckdb query SETUP_SQL_FILE QUERIES_FILE WARMUP RUNS
 *     Opens an in-memory database with default settings, runs SETUP_SQL_FILE (the
 *     CREATE VIEW ... AS SELECT * FROM read_parquet([...]) statements over the lake's data
 *     files), then each query WARMUP untimed + RUNS timed times (a run, and RAW_DUCKDB_MODE and
 *     RAW_DUCKDB_THREAD: bench_raw.h). Prints, per query:
 *         NAME  MEDIAN_MS  MIN_MS  MAX_MS  ROWS  0  SAMPLE_MS,SAMPLE_MS,...
 *
 * usage: raw_duckdb ingest CSV_FILE OUT_PARQUET RUNS
 *     Per run: a fresh in-memory database, then
 *         COPY (SELECT * FROM read_csv('CSV_FILE')) TO 'OUT_PARQUET'
 *              (FORMAT parquet, COMPRESSION zstd)
 *     timed from open to close. Prints: ingest  MEDIAN_S  MIN_S  MAX_S  ROWS
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "bench_raw.h"
#include "core/duckdb_capi.h"

static int fail(const char *what, duckdb_result *res)
{
    fprintf(stderr, "raw_duckdb: %s: %s\n", what, res ? duckdb_result_error(res) : "failed");
    if (res) duckdb_destroy_result(res);
    return -1;
}

static int cmd_query(const char *setup_path, const char *queries_path, int warmup, int runs)
{
    bench_query *qs = NULL;
    int nq = bench_queries_load(queries_path, &qs);
    if (nq < 0) return 1;
    bench_raw *raw = bench_raw_open(setup_path);
    if (!raw) {
        bench_queries_free(qs, nq);
        return 1;
    }
    double *t = calloc((size_t)runs, sizeof(double));
    int status = 0;
    for (int i = 0; i < nq && status == 0; i++) {
        long long rows = 0;
        for (int w = 0; w < warmup && status == 0; w++)
            if (bench_raw_run(raw, &qs[i], &rows) < 0) status = 1;
        double lo = 1e300, hi = 0;
        for (int r = 0; r < runs && status == 0; r++) {
            if ((t[r] = bench_raw_run(raw, &qs[i], &rows)) < 0) status = 1;
            if (t[r] < lo) lo = t[r];
            if (t[r] > hi) hi = t[r];
        }
        if (status == 0) {
            printf("%s\t%.3f\t%.3f\t%.3f\t%lld\t0\t", qs[i].name, bench_median(t, runs), lo, hi,
                   rows);
            bench_print_samples(t, runs);
        }
        fflush(stdout);
    }
    free(t);
    bench_raw_close(raw);
    bench_queries_free(qs, nq);
    return status;
}

static void sql_quote(char *out, size_t cap, const char *s)
{
    size_t j = 0;
    out[j++] = '\'';
    for (; *s && j + 3 < cap; s++) {
        if (*s == '\'') out[j++] = '\'';
        out[j++] = *s;
    }
    out[j++] = '\'';
    out[j] = 0;
}

static int cmd_ingest(const char *csv, const char *parquet, int runs)
{
    char qcsv[4200], qout[4200], sql[9000];
    sql_quote(qcsv, sizeof(qcsv), csv);
    sql_quote(qout, sizeof(qout), parquet);
    snprintf(sql, sizeof(sql),
             "COPY (SELECT * FROM read_csv(%s)) TO %s (FORMAT parquet, COMPRESSION zstd)", qcsv,
             qout);
    double *t = calloc((size_t)runs, sizeof(double));
    long long rows = 0;
    double lo = 1e300, hi = 0;
    for (int r = 0; r < runs; r++) {
        unlink(parquet);
        double t0 = bench_now_ms();
        duckdb_database db = NULL;
        duckdb_connection c = NULL;
        duckdb_result res;
        if (duckdb_open(NULL, &db) != DuckDBSuccess || duckdb_connect(db, &c) != DuckDBSuccess) {
            fprintf(stderr, "raw_duckdb: cannot open DuckDB\n");
            free(t);
            return 1;
        }
        if (duckdb_query(c, sql, &res) != DuckDBSuccess) {
            fail("ingest", &res);
            free(t);
            return 1;
        }
        rows = duckdb_value_int64(&res, 0, 0);
        duckdb_destroy_result(&res);
        duckdb_disconnect(&c);
        duckdb_close(&db);
        t[r] = (bench_now_ms() - t0) / 1e3;
        if (t[r] < lo) lo = t[r];
        if (t[r] > hi) hi = t[r];
    }
    printf("ingest\t%.3f\t%.3f\t%.3f\t%lld\n", bench_median(t, runs), lo, hi, rows);
    free(t);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "query") == 0)
        return cmd_query(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]) > 0 ? atoi(argv[5]) : 1);
    if (argc == 5 && strcmp(argv[1], "ingest") == 0)
        return cmd_ingest(argv[2], argv[3], atoi(argv[4]) > 0 ? atoi(argv[4]) : 1);
    fprintf(stderr, "usage: raw_duckdb query SETUP_SQL QUERIES_FILE WARMUP RUNS\n"
                    "       raw_duckdb ingest CSV_FILE OUT_PARQUET RUNS\n");
    return 2;
}
