/*
 * query — SQL over the lake through DuckDB, in a sandbox.
 *
 * One DuckDB database per process holds one view per dataset (at its latest catalog
 * version) over the dataset's Parquet files. User SQL runs on pooled connections of that
 * database after the sandbox is locked: file access only inside the lake's data folder
 * and the cache, no external access, configuration locked, a memory limit, a timeout
 * (interrupt), and only read-only statements (SELECT, EXPLAIN, DESCRIBE, SHOW, SUMMARIZE).
 */
#ifndef LH_QUERY_H
#define LH_QUERY_H

#include "catalog/catalog.h"
#include "core/core.h"

typedef struct lh_query lh_query;

typedef enum {
    LH_QUERY_JSON = 0, /* {"columns":[{name,type}],"rows":[[...]],"row_count":N,"truncated":b} */
    LH_QUERY_NDJSON,   /* one JSON object per row, keyed by column name */
    LH_QUERY_CSV,      /* RFC 4180 with a header row */
} lh_query_format;

typedef struct lh_query_opts {
    lh_query_format format;
    int64_t row_limit; /* JSON only: rows kept (0 = engine default); more → truncated:true */
    int timeout_ms;    /* 0 = engine default */
} lh_query_opts;

typedef struct lh_query_stats {
    int64_t rows;      /* rows written to the sink */
    bool truncated;    /* JSON result cut at row_limit */
    double elapsed_ms; /* execution + serialization */
} lh_query_stats;

/* Receives result bytes as they are produced; return non-zero to stop (client gone). */
typedef int (*lh_query_sink)(void *ctx, const char *data, size_t n);

/* Opens the engine over a catalog (borrowed) using cfg's data_dir, cache_dir, memory, threads,
 * timeout and row limit; creates views for every dataset. Caller closes. */
int lh_query_open(lh_catalog *cat, const lh_config *cfg, lh_query **out, lh_error *err);
/* Closes the engine. Accepts NULL. */
void lh_query_close(lh_query *q);

/* Re-points the dataset's view at its latest committed version (call after a commit);
 * a dataset that no longer exists loses its view. */
int lh_query_refresh(lh_query *q, const char *dataset, lh_error *err);
/* Write-ahead log rows (ADR 0012): makes rows a log record acknowledged visible in the view
 * of m->dataset at once (m: the version they were computed on; rows as
 * lh_ingest_wal_hooks.apply: each an array of m's column values as text or null, then "true"
 * if it deletes its key). They win over the committed rows of their keys until
 * lh_query_wal_committed. Failures are logged (the rows then show after the commit). */
void lh_query_wal_apply(lh_query *q, const lh_manifest *m, int64_t seq, const json_t *rows);
/* The log's records of dataset up to seq are committed: re-points the view at the latest
 * version, then drops their rows from the log table. */
void lh_query_wal_committed(lh_query *q, const char *dataset, int64_t seq);
/* lh_ingest_wal_hooks.current: if m->dataset is in memory (hot cache) at m->version, sets
 * *rows (caller frees) to its rows where `where` (SQL over m's columns) holds, as
 * lh_query_wal_apply takes them (deleted "false"), and returns 0; else (or on a failed read)
 * non-zero and nothing set. */
int lh_query_wal_current(lh_query *q, const lh_manifest *m, const char *where, json_t **rows);
/* Picks up versions and datasets committed by any process since the last check. Cheap:
 * one stat per known dataset, a full listing at most every couple of seconds. */
int lh_query_sync(lh_query *q, lh_error *err);
/* A counter bumped on every change of a dataset view (new version, dataset added or dropped):
 * anything computed through the views is current while it is unchanged. Thread-safe. */
uint64_t lh_query_view_generation(lh_query *q);

/* Runs one read-only statement for who and streams the result to sink in opts->format.
 * Refused statements: LH_EDENIED naming the statement kind; SQL errors: LH_EINVAL with
 * DuckDB's message; over time: LH_ETIMEOUT. Nothing is written to sink on those errors.
 * stats may be NULL. */
int lh_query_run(lh_query *q, const lh_identity *who, const char *sql, const lh_query_opts *opts,
                 lh_query_sink sink, void *sink_ctx, lh_query_stats *stats, lh_error *err);

/* A query executed but not yet fully written (lh_query_start, lh_query_encode, lh_query_finish):
 * it can be executed on one thread and written out on another, one thread at a time. */
typedef struct lh_query_exec lh_query_exec;

/* Checks and executes sql as lh_query_run does (same errors, nothing written) without writing
 * the result: a JSON result is computed whole here, NDJSON/CSV start streaming. The timeout
 * runs until lh_query_finish. On LH_OK *out is the run (caller finishes it). */
int lh_query_start(lh_query *q, const lh_identity *who, const char *sql, const lh_query_opts *opts,
                   lh_query_exec **out, lh_error *err);

/* Writes x's result to sink from where the last call stopped. budget 0: everything (JSON in one
 * piece at the end); budget > 0: in pieces, returning with *more = true once this call wrote at
 * least budget bytes. Errors: LH_ETIMEOUT, LH_EINVAL (DuckDB's), LH_ECANCELED (sink stopped);
 * bytes may have gone out before. */
int lh_query_encode(lh_query_exec *x, lh_query_sink sink, void *sink_ctx, size_t budget, bool *more,
                    lh_error *err);

/* Ends a run, finished or not, and frees it; stats (may be NULL) of what was written. Accepts
 * NULL. */
void lh_query_finish(lh_query_exec *x, lh_query_stats *stats);

/* Convenience for small results: runs sql and returns the JSON text (caller frees). */
int lh_query_json(lh_query *q, const lh_identity *who, const char *sql, int64_t row_limit,
                  char **out_json, lh_error *err);

/* The SQL view of every dataset's mutation journal (one row per changed field). */
#define LH_JOURNAL_VIEW "journal"

/* Streams the journal events of one record (dataset + key text, composite keys as
 * comma-separated values; key NULL: every event of the dataset) oldest first, as
 * lh_query_run does. LH_EINVAL on a bad dataset name. */
int lh_query_journal(lh_query *q, const lh_identity *who, const char *dataset, const char *key,
                     const lh_query_opts *opts, lh_query_sink sink, void *sink_ctx,
                     lh_query_stats *stats, lh_error *err);

/* Time travel. Makes every "<dataset>@v<N>" named in sql readable (a view of that version,
 * created on first use) and, if as_of_us > 0, rewrites sql so that each dataset name reads
 * the version that was current at that moment (a WITH clause over the version views;
 * datasets that did not exist yet read as empty). *out is the SQL to run (caller frees).
 * LH_ENOENT for an unknown dataset version; LH_EUNSUPPORTED for as_of on a statement that
 * is not a query (SELECT, WITH, FROM, VALUES). */
int lh_query_resolve(lh_query *q, const lh_identity *who, const char *sql, int64_t as_of_us,
                     char **out, lh_error *err);

/* Hot cache. Off until enabled (the server enables it; one-shot CLI runs do not): then
 * pinned datasets (markers under _cache/pins/, so pins outlive restarts and the CLI can set
 * them) are held in memory at their latest version, and datasets queried often are admitted
 * under the cache_memory_mb budget, least recently used first out. */
void lh_query_cache_enable(lh_query *q);
/* Pins the dataset in memory at its latest version and records the pin in the lake.
 * LH_ETOOBIG if it does not fit beside the other pinned datasets; LH_ENOENT if unknown. */
int lh_query_cache_pin(lh_query *q, const lh_identity *who, const char *dataset, lh_error *err);
/* Removes the pin (the dataset stays in memory until evicted). */
int lh_query_cache_unpin(lh_query *q, const lh_identity *who, const char *dataset, lh_error *err);
/* Writes (pin) or removes the pin marker of a dataset without loading anything: what a
 * server picks up on its next sync. */
int lh_query_cache_mark(lh_storage *st, const char *dataset, bool pin, lh_error *err);
/* The cache's budget, use and entries as a JSON object (caller decrefs). */
json_t *lh_query_cache_stats(lh_query *q);
/* Runs one read-only query (the checks of lh_query_run; EXPLAIN, DESCRIBE, SHOW and SUMMARIZE
 * are LH_EINVAL here) and writes its whole result, no row limit, as Parquet under the cache's
 * exports/ folder. *out_fd (caller closes) is the open file, whose name is already removed:
 * no export outlives the call. *out_size and *out_rows (each may be NULL) get its bytes and
 * rows. timeout_ms 0 = engine default. Errors as lh_query_run; *out_fd is -1 on failure. */
int lh_query_export_parquet(lh_query *q, const lh_identity *who, const char *sql, int timeout_ms,
                            int *out_fd, int64_t *out_size, int64_t *out_rows, lh_error *err);

/* Checks that sql is one statement of a read-only kind, without running it. */
int lh_query_check(lh_query *q, const char *sql, lh_error *err);

/* ------------------------------------------------------- row positions */

/* The rows of one dataset version with stable positions: file i's row r has position
 * bases[i] + r (its read_parquet file_row_number). Vector indexes speak these positions.
 * All borrowed. */
typedef struct lh_query_rowset {
    const char *dataset;     /* for messages (and, later, profile scoping) */
    int64_t version;         /* the dataset version the files belong to */
    const char *const *keys; /* object keys of the data files */
    const int64_t *bases;    /* position of each file's first row */
    size_t nfiles;
    int64_t nrows; /* positions are 0..nrows-1 */
} lh_query_rowset;

/* Checks that text is a lone SQL predicate fit to go after WHERE: non-empty, valid UTF-8, at
 * most 64 KiB, quotes closed, parentheses balanced (never closing more than it opened), and
 * no ';' or comment outside quotes. LH_EINVAL naming the offending offset otherwise. */
int lh_query_predicate_check(const char *predicate, lh_error *err);

/* Evaluates predicate over the rows of rs in the sandbox (same checks and timeout as
 * lh_query_run) and returns the positions where it is true as a bitset of rs->nrows bits:
 * *out_words (caller frees) has (nrows + 63) / 64 words, bit p of word p / 64 = position p.
 * *out_count (may be NULL) gets the number of matches. LH_EINVAL for a malformed or failing
 * predicate, LH_EDENIED when the sandbox refuses it, LH_ETIMEOUT past the time limit. */
int lh_query_filter_rows(lh_query *q, const lh_identity *who, const lh_query_rowset *rs,
                         const char *predicate, uint64_t **out_words, int64_t *out_count,
                         lh_error *err);

/* Fetches the rows at positions[0..n) of rs (every column but `exclude`, which may be NULL)
 * as a JSON array of n objects in the order given (null for a position with no row). Caller
 * json_decref()s *out. */
int lh_query_rows_json(lh_query *q, const lh_identity *who, const lh_query_rowset *rs,
                       const int64_t *positions, size_t n, const char *exclude, json_t **out,
                       lh_error *err);

/* Calls fn(ctx, position, text, len) for every row of rs whose column is not NULL, in position
 * order, with the value cast to text (borrowed for the call). A non-zero return from fn stops
 * the scan with that code. LH_EINVAL for an unknown column (DuckDB's message). */
int lh_query_rows_text(lh_query *q, const lh_identity *who, const lh_query_rowset *rs,
                       const char *column,
                       int (*fn)(void *ctx, int64_t pos, const char *text, size_t len,
                                 lh_error *err),
                       void *ctx, lh_error *err);

#endif
