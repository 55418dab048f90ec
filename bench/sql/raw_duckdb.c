/*
 * raw_duckdb — the comparison anchor: the same SQL on stock DuckDB, no lakehouse code.
 *
 * Links the same libduckdb.so as lakehouse and uses only the project's declarations of the
 * DuckDB C API (core/duckdb_capi.h); none of the project's functions.
 *
 * usage: raw_duckdb query SETUP_SQL_FILE QUERIES_FILE WARMUP RUNS
 *     Opens an in-memory database with default settings, runs SETUP_SQL_FILE (the
 *     CREATE VIEW ... AS SELECT * FROM read_parquet([...]) statements over the lake's data
 *     files), then each query WARMUP untimed + RUNS timed times. A run is duckdb_query (parse,
 *     plan, execute, materialize) plus fetching every chunk of the result (RAW_DUCKDB_MODE and
 *     RAW_DUCKDB_THREAD below change how). SETUP_SQL_FILE may begin with SET statements, e.g.
 *     the query engine's sandbox settings, to measure what they cost. Prints, per query:
 *         NAME  MEDIAN_MS  MIN_MS  MAX_MS  ROWS  0  SAMPLE_MS,SAMPLE_MS,...
 *
 * usage: raw_duckdb ingest CSV_FILE OUT_PARQUET RUNS
 *     Per run: a fresh in-memory database, then
 *         COPY (SELECT * FROM read_csv('CSV_FILE')) TO 'OUT_PARQUET'
 *              (FORMAT parquet, COMPRESSION zstd)
 *     timed from open to close. Prints: ingest  MEDIAN_S  MIN_S  MAX_S  ROWS
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "core/duckdb_capi.h"

/* How a query is executed. The default, "query", is the plain duckdb_query (materializing).
 * RAW_DUCKDB_MODE selects another way, to find where a difference comes from:
 *   prepared           duckdb_prepare + duckdb_execute_prepared (materializing)
 *   streaming          duckdb_prepare + duckdb_execute_prepared_streaming (what lakehouse does)
 *   pending-streaming  duckdb_pending_prepared_streaming, duckdb_pending_execute_task until
 *                      ready, duckdb_execute_pending, then fetch */
typedef enum { MODE_QUERY, MODE_PREPARED, MODE_STREAMING, MODE_PENDING_STREAMING } exec_mode;
static exec_mode mode = MODE_QUERY;

/* RAW_DUCKDB_THREAD=fresh runs every query (timed runs and warm-ups) on a thread of its own,
 * started for it and joined after it: what POST /sql did before its producers ran on a crew
 * of kept threads. DuckDB's allocator then faults the query's buffers in anew each time
 * (compare `perf stat -e page-faults` with and without). */
static bool fresh_thread = false;

static int fail(const char *what, duckdb_result *res)
{
    fprintf(stderr, "raw_duckdb: %s: %s\n", what, res ? duckdb_result_error(res) : "failed");
    if (res) duckdb_destroy_result(res);
    return -1;
}

/* One timed run: returns ms, rows through *rows, or -1. */
static double run_query(duckdb_connection c, const bench_query *q, long long *rows)
{
    double t0 = bench_now_ms();
    duckdb_result res;
    if (mode == MODE_QUERY) {
        if (duckdb_query(c, q->sql, &res) != DuckDBSuccess) return fail(q->name, &res);
    } else {
        duckdb_prepared_statement ps = NULL;
        if (duckdb_prepare(c, q->sql, &ps) != DuckDBSuccess) {
            fprintf(stderr, "raw_duckdb: %s: %s\n", q->name, duckdb_prepare_error(ps));
            duckdb_destroy_prepare(&ps);
            return -1;
        }
        duckdb_state st = DuckDBError;
        if (mode == MODE_PREPARED) {
            st = duckdb_execute_prepared(ps, &res);
        } else if (mode == MODE_STREAMING) {
            st = duckdb_execute_prepared_streaming(ps, &res);
        } else {
            duckdb_pending_result pending = NULL;
            if (duckdb_pending_prepared_streaming(ps, &pending) == DuckDBSuccess) {
                duckdb_pending_state ps_state;
                do {
                    ps_state = duckdb_pending_execute_task(pending);
                } while (ps_state != DUCKDB_PENDING_RESULT_READY &&
                         ps_state != DUCKDB_PENDING_ERROR);
                st = duckdb_execute_pending(pending, &res);
            } else {
                memset(&res, 0, sizeof(res));
            }
            duckdb_destroy_pending(&pending);
        }
        duckdb_destroy_prepare(&ps);
        if (st != DuckDBSuccess) return fail(q->name, &res);
    }
    long long n = 0;
    idx_t ncols = duckdb_column_count(&res);
    volatile uintptr_t touch = 0;
    for (;;) {
        duckdb_data_chunk ch = duckdb_fetch_chunk(res);
        if (!ch) break;
        idx_t k = duckdb_data_chunk_get_size(ch);
        for (idx_t col = 0; col < ncols; col++)
            touch += (uintptr_t)duckdb_vector_get_data(duckdb_data_chunk_get_vector(ch, col));
        n += (long long)k;
        duckdb_destroy_data_chunk(&ch);
        if (k == 0) break;
    }
    duckdb_destroy_result(&res);
    double ms = bench_now_ms() - t0;
    (void)touch;
    *rows = n;
    return ms;
}

typedef struct thread_run {
    duckdb_connection c;
    const bench_query *q;
    long long rows;
    double ms;
} thread_run;

static void *thread_main(void *arg)
{
    thread_run *t = arg;
    t->ms = run_query(t->c, t->q, &t->rows);
    return NULL;
}

/* run_query, on a fresh thread if asked; the time includes starting and joining it. */
static double run_timed(duckdb_connection c, const bench_query *q, long long *rows)
{
    if (!fresh_thread) return run_query(c, q, rows);
    thread_run t = {.c = c, .q = q};
    double t0 = bench_now_ms();
    pthread_t tid;
    if (pthread_create(&tid, NULL, thread_main, &t) != 0) {
        fprintf(stderr, "raw_duckdb: cannot start a thread\n");
        return -1;
    }
    pthread_join(tid, NULL);
    if (t.ms < 0) return -1;
    *rows = t.rows;
    return bench_now_ms() - t0;
}

static int cmd_query(const char *setup_path, const char *queries_path, int warmup, int runs)
{
    bench_query *qs = NULL;
    int nq = bench_queries_load(queries_path, &qs);
    if (nq < 0) return 1;
    char *setup = bench_read_file(setup_path);
    if (!setup) {
        fprintf(stderr, "raw_duckdb: %s: cannot read\n", setup_path);
        return 1;
    }
    duckdb_database db = NULL;
    duckdb_connection c = NULL;
    int status = 1;
    duckdb_result res;
    if (duckdb_open(NULL, &db) != DuckDBSuccess || duckdb_connect(db, &c) != DuckDBSuccess) {
        fprintf(stderr, "raw_duckdb: cannot open DuckDB\n");
        goto out;
    }
    if (duckdb_query(c, setup, &res) != DuckDBSuccess) {
        fail("setup", &res);
        goto out;
    }
    duckdb_destroy_result(&res);
    double *t = calloc((size_t)runs, sizeof(double));
    status = 0;
    for (int i = 0; i < nq && status == 0; i++) {
        long long rows = 0;
        for (int w = 0; w < warmup && status == 0; w++)
            if (run_timed(c, &qs[i], &rows) < 0) status = 1;
        double lo = 1e300, hi = 0;
        for (int r = 0; r < runs && status == 0; r++) {
            if ((t[r] = run_timed(c, &qs[i], &rows)) < 0) status = 1;
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
out:
    if (c) duckdb_disconnect(&c);
    if (db) duckdb_close(&db);
    free(setup);
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
    const char *m = getenv("RAW_DUCKDB_MODE");
    if (m && *m && strcmp(m, "query") != 0) {
        if (strcmp(m, "prepared") == 0)
            mode = MODE_PREPARED;
        else if (strcmp(m, "streaming") == 0)
            mode = MODE_STREAMING;
        else if (strcmp(m, "pending-streaming") == 0)
            mode = MODE_PENDING_STREAMING;
        else {
            fprintf(stderr,
                    "raw_duckdb: RAW_DUCKDB_MODE=%s: expected query, prepared, streaming "
                    "or pending-streaming\n",
                    m);
            return 2;
        }
    }
    const char *th = getenv("RAW_DUCKDB_THREAD");
    if (th && *th && strcmp(th, "same") != 0) {
        if (strcmp(th, "fresh") != 0) {
            fprintf(stderr, "raw_duckdb: RAW_DUCKDB_THREAD=%s: expected same or fresh\n", th);
            return 2;
        }
        fresh_thread = true;
    }
    if (argc == 6 && strcmp(argv[1], "query") == 0)
        return cmd_query(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]) > 0 ? atoi(argv[5]) : 1);
    if (argc == 5 && strcmp(argv[1], "ingest") == 0)
        return cmd_ingest(argv[2], argv[3], atoi(argv[4]) > 0 ? atoi(argv[4]) : 1);
    fprintf(stderr, "usage: raw_duckdb query SETUP_SQL QUERIES_FILE WARMUP RUNS\n"
                    "       raw_duckdb ingest CSV_FILE OUT_PARQUET RUNS\n");
    return 2;
}
