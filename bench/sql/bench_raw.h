/*
 * bench_raw — the comparison anchor: SQL on stock DuckDB through the same libduckdb.so as
 * lakehouse, no lakehouse code (used by raw_duckdb and sql_pair).
 *
 * An in-memory database with default settings, set up by a SQL file (the CREATE VIEW ... AS
 * SELECT * FROM read_parquet([...]) statements over the lake's data files; it may begin with
 * SET statements, e.g. the query engine's sandbox settings, to measure what they cost). A run
 * is duckdb_query (parse, plan, execute, materialize) plus fetching every chunk of the result.
 * Environment, to find where a difference comes from:
 *   RAW_DUCKDB_MODE=query (default) | prepared (duckdb_prepare + duckdb_execute_prepared) |
 *     streaming (… + duckdb_execute_prepared_streaming) | pending-streaming
 *     (duckdb_pending_prepared_streaming, duckdb_pending_execute_task until ready,
 *     duckdb_execute_pending, then fetch)
 *   RAW_DUCKDB_THREAD=same (default) | fresh: every run on a thread of its own, started for
 *     it and joined after it (the time includes both): what POST /sql did before its
 *     producers ran on a crew of kept threads. DuckDB's allocator then faults the query's
 *     buffers in anew each time (compare `perf stat -e page-faults` with and without).
 */
#ifndef LH_BENCH_RAW_H
#define LH_BENCH_RAW_H

#include "bench_common.h"

typedef struct bench_raw bench_raw;

/* Opens the database and runs the setup file; NULL with a message on stderr on failure or on
 * a bad RAW_DUCKDB_MODE / RAW_DUCKDB_THREAD. */
bench_raw *bench_raw_open(const char *setup_path);
/* Runs q once; returns its wall time in ms and the rows through *rows, or -1 (stderr). */
double bench_raw_run(bench_raw *r, const bench_query *q, long long *rows);
/* Closes the database. Accepts NULL. */
void bench_raw_close(bench_raw *r);

#endif
