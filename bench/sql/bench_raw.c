/* bench_raw: the same SQL on stock DuckDB (see bench_raw.h). */
#include "bench_raw.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/duckdb_capi.h"

typedef enum { MODE_QUERY, MODE_PREPARED, MODE_STREAMING, MODE_PENDING_STREAMING } exec_mode;

struct bench_raw {
    duckdb_database db;
    duckdb_connection c;
    exec_mode mode;
    bool fresh_thread;
};

static int fail(const char *what, duckdb_result *res)
{
    fprintf(stderr, "raw_duckdb: %s: %s\n", what, res ? duckdb_result_error(res) : "failed");
    if (res) duckdb_destroy_result(res);
    return -1;
}

/* One timed run: returns ms, rows through *rows, or -1. */
static double run_query(bench_raw *r, const bench_query *q, long long *rows)
{
    duckdb_connection c = r->c;
    double t0 = bench_now_ms();
    duckdb_result res;
    if (r->mode == MODE_QUERY) {
        if (duckdb_query(c, q->sql, &res) != DuckDBSuccess) return fail(q->name, &res);
    } else {
        duckdb_prepared_statement ps = NULL;
        if (duckdb_prepare(c, q->sql, &ps) != DuckDBSuccess) {
            fprintf(stderr, "raw_duckdb: %s: %s\n", q->name, duckdb_prepare_error(ps));
            duckdb_destroy_prepare(&ps);
            return -1;
        }
        duckdb_state st = DuckDBError;
        if (r->mode == MODE_PREPARED) {
            st = duckdb_execute_prepared(ps, &res);
        } else if (r->mode == MODE_STREAMING) {
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
    bench_raw *r;
    const bench_query *q;
    long long rows;
    double ms;
} thread_run;

static void *thread_main(void *arg)
{
    thread_run *t = arg;
    t->ms = run_query(t->r, t->q, &t->rows);
    return NULL;
}

double bench_raw_run(bench_raw *r, const bench_query *q, long long *rows)
{
    if (!r->fresh_thread) return run_query(r, q, rows);
    thread_run t = {.r = r, .q = q};
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

bench_raw *bench_raw_open(const char *setup_path)
{
    bench_raw *r = calloc(1, sizeof *r);
    const char *m = getenv("RAW_DUCKDB_MODE");
    if (m && *m && strcmp(m, "query") != 0) {
        if (strcmp(m, "prepared") == 0)
            r->mode = MODE_PREPARED;
        else if (strcmp(m, "streaming") == 0)
            r->mode = MODE_STREAMING;
        else if (strcmp(m, "pending-streaming") == 0)
            r->mode = MODE_PENDING_STREAMING;
        else {
            fprintf(stderr,
                    "raw_duckdb: RAW_DUCKDB_MODE=%s: expected query, prepared, streaming "
                    "or pending-streaming\n",
                    m);
            free(r);
            return NULL;
        }
    }
    const char *th = getenv("RAW_DUCKDB_THREAD");
    if (th && *th && strcmp(th, "same") != 0) {
        if (strcmp(th, "fresh") != 0) {
            fprintf(stderr, "raw_duckdb: RAW_DUCKDB_THREAD=%s: expected same or fresh\n", th);
            free(r);
            return NULL;
        }
        r->fresh_thread = true;
    }
    char *setup = bench_read_file(setup_path);
    if (!setup) {
        fprintf(stderr, "raw_duckdb: %s: cannot read\n", setup_path);
        free(r);
        return NULL;
    }
    duckdb_result res;
    if (duckdb_open(NULL, &r->db) != DuckDBSuccess ||
        duckdb_connect(r->db, &r->c) != DuckDBSuccess) {
        fprintf(stderr, "raw_duckdb: cannot open DuckDB\n");
        goto fail;
    }
    if (duckdb_query(r->c, setup, &res) != DuckDBSuccess) {
        fail("setup", &res);
        goto fail;
    }
    duckdb_destroy_result(&res);
    free(setup);
    return r;
fail:
    free(setup);
    bench_raw_close(r);
    return NULL;
}

void bench_raw_close(bench_raw *r)
{
    if (!r) return;
    if (r->c) duckdb_disconnect(&r->c);
    if (r->db) duckdb_close(&r->db);
    free(r);
}
