/* bench_upsert LAKE CANDIDATES_CSV Q1_SQL_FILE — upserts, fetch by key, hot cache, compaction.
 *
 * In-process (liblakehouse, no HTTP), on a fresh lake: ingests candidates.csv with primary
 * key candidate_id, then measures
 *   - single-row upsert → visible, direct commit: lh_ingest_upsert + lh_query_refresh + a query
 *     reading the new value back (checked), RUNS times;
 *   - the same through the write-ahead log (ADR 0012, as `serve` runs it): the upsert is
 *     acknowledged once fsynced in the log and its rows are visible to the query at once
 *     (no refresh); the log's flush thread commits in the background meanwhile;
 *   - append 10K new rows as one upsert (3 times);
 *   - fetch one row by primary key, cold (Parquet + deltas) and hot (pinned in memory);
 *   - the 100K candidate filter (bench/sql q1), cold and hot;
 *   - compaction of the accumulated deltas (rows/s).
 * Prints one "name value unit" line per figure (medians), for bench/upsert/run. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "core/duckdb_capi.h"
#include "ingest/ingest.h"
#include "query/query.h"

#define RUNS 30
#define FETCHES 200

static void die(const char *what, const lh_error *err)
{
    fprintf(stderr, "bench_upsert: %s: %s\n", what, err->msg);
    exit(1);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double ms_since(uint64_t t0)
{
    return (double)(lh_now_ns() - t0) / 1e6;
}

static void write_file(const char *path, const char *data)
{
    FILE *f = fopen(path, "wb");
    if (!f || fputs(data, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "bench_upsert: cannot write %s\n", path);
        exit(1);
    }
}

static int buf_sink(void *ctx, const char *data, size_t n)
{
    lh_buf_append(ctx, data, n);
    return 0;
}

static char *read_text(const char *path)
{
    char *s = NULL;
    size_t n = 0;
    lh_error err = {0};
    if (lh_file_read(path, &s, &n, &err)) die(path, &err);
    return s;
}

/* Runs sql and returns the first cell as text (caller frees). */
static char *cell(lh_query *q, const char *sql)
{
    char *json = NULL;
    lh_error err = {0};
    if (lh_query_json(q, &lh_identity_default, sql, 0, &json, &err)) die(sql, &err);
    json_t *j = json_loads(json, 0, NULL);
    free(json);
    json_t *v = json_array_get(json_array_get(json_object_get(j, "rows"), 0), 0);
    char *out =
        json_is_string(v) ? lh_strdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY);
    json_decref(j);
    return out;
}

static void wal_apply(void *ctx, const lh_manifest *m, const char *wal_id, int64_t seq,
                      const json_t *rows)
{
    lh_query_wal_apply(ctx, m, seq, rows);
}

static void wal_committed(void *ctx, const char *dataset, const char *wal_id, int64_t seq)
{
    lh_query_wal_committed(ctx, dataset, seq);
}

static int current_hits; /* upserts whose current rows came from the hot table */

static int wal_current(void *ctx, const lh_manifest *m, const char *where, json_t **rows)
{
    int rc = lh_query_wal_current(ctx, m, where, rows);
    current_hits += rc == 0;
    return rc;
}

static double time_query(lh_query *q, const char *sql, int n)
{
    double *t = lh_calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) {
        char *json = NULL;
        lh_error err = {0};
        uint64_t t0 = lh_now_ns();
        if (lh_query_json(q, &lh_identity_default, sql, 0, &json, &err)) die(sql, &err);
        t[i] = ms_since(t0);
        free(json);
    }
    double m = median(t, (size_t)n);
    free(t);
    return m;
}

/* Runs sql the way POST /sql does (lh_query_resolve, which counts it for cache admission,
 * then the query). */
static void served(lh_query *q, const char *sql)
{
    char *resolved = NULL, *json = NULL;
    lh_error err = {0};
    if (lh_query_resolve(q, &lh_identity_default, sql, 0, &resolved, &err) ||
        lh_query_json(q, &lh_identity_default, resolved, 0, &json, &err))
        die(sql, &err);
    free(resolved);
    free(json);
}

/* Runs a lookup n times the way a server does and returns the median in ms: sql each time,
 * or (sql NULL) a fetch cycling through the RUNS keys in ids — more keys than the statement
 * cache holds, so each text is prepared again as a new key would be. */
static double time_served(lh_query *q, const char *sql, char *const *ids, int n)
{
    double *t = lh_calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) {
        char fetch[256];
        if (!sql)
            snprintf(fetch, sizeof fetch, "SELECT * FROM candidates WHERE candidate_id = '%s'",
                     ids[i % RUNS]);
        uint64_t t0 = lh_now_ns();
        served(q, sql ? sql : fetch);
        t[i] = ms_since(t0);
    }
    double m = median(t, (size_t)n);
    free(t);
    return m;
}

static bool cached(lh_query *q, const char *dataset)
{
    json_t *st = lh_query_cache_stats(q);
    size_t i;
    json_t *e;
    bool c = false;
    json_array_foreach(json_object_get(st, "entries"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "dataset")), dataset) == 0)
            c = json_is_true(json_object_get(e, "cached"));
    }
    json_decref(st);
    return c;
}

/* RUNS single-row upserts of ids[i]'s phone, each read back by key (checked): up[i] is the
 * upsert, vis[i] the upsert until the query returned the new value. wal: through the log
 * (visible without a refresh; its flush thread commits in between, or — quiet — the log is
 * flushed after each read-back, untimed, so no flush competes with the next ack for the
 * cores), else committed directly and the view refreshed. */
/* The anchor for single-row upserts: the same table in a DuckDB database file (what a DuckDB
 * script keeping its data in DuckDB would have), one durable UPDATE of a phone (DuckDB logs and
 * fsyncs the commit) and the SELECT reading it back, RUNS times on keys no other phase edits. */
static void raw_single_rows(const char *lake, const char *csv, char **ids)
{
    duckdb_database db = NULL;
    duckdb_connection c = NULL;
    lh_error err = {0};
    char file[4200], sql[4400];
    snprintf(file, sizeof file, "%s/raw.duckdb", lake);
    unlink(file);
    if (duckdb_open(file, &db) != DuckDBSuccess || duckdb_connect(db, &c) != DuckDBSuccess)
        die("raw DuckDB", &err);
    snprintf(sql, sizeof sql,
             "SET threads=2; CREATE TABLE candidates AS SELECT * FROM read_csv('%s', header=true); "
             "CHECKPOINT",
             csv);
    if (lh_duckdb_exec(c, sql, "raw load", &err)) die("raw load", &err);
    double up[RUNS], vis[RUNS];
    for (int i = 0; i < RUNS; i++) {
        char want[32];
        snprintf(want, sizeof want, "+1-999-%04d", i);
        snprintf(sql, sizeof sql, "UPDATE candidates SET phone = '%s' WHERE candidate_id = '%s'",
                 want, ids[i]);
        uint64_t t0 = lh_now_ns();
        if (lh_duckdb_exec(c, sql, "raw update", &err)) die("raw update", &err);
        up[i] = ms_since(t0);
        snprintf(sql, sizeof sql, "SELECT phone FROM candidates WHERE candidate_id = '%s'", ids[i]);
        duckdb_result res;
        if (duckdb_query(c, sql, &res) != DuckDBSuccess) die("raw select", &err);
        char *got = duckdb_value_varchar(&res, 0, 0);
        vis[i] = ms_since(t0);
        if (!got || strcmp(got, want) != 0) {
            fprintf(stderr, "bench_upsert: raw read back '%s', expected '%s'\n", got, want);
            exit(1);
        }
        duckdb_free(got);
        duckdb_destroy_result(&res);
        usleep(150000); /* as the log runs: one edit at a time, idle between */
    }
    printf("single_row_update_raw_duckdb_ms %.2f ms (a DuckDB database file: durable UPDATE)\n",
           median(up, RUNS));
    printf("single_row_update_raw_duckdb_visible_ms %.2f ms\n", median(vis, RUNS));
    duckdb_disconnect(&c);
    duckdb_close(&db);
    unlink(file);
}

/* The last quiet run's flushes (one record each, hooks included), ms. */
static double flush_ms[RUNS];

static void single_rows(lh_ingest *ing, lh_query *q, const char *path, char **ids, bool wal,
                        bool quiet, const char *tag, double *up, double *vis)
{
    lh_error err = {0};
    for (int i = 0; i < RUNS; i++) {
        char data[256], sql[256], want[32];
        snprintf(want, sizeof want, "+1-%s-%04d", tag, i);
        snprintf(data, sizeof data, "candidate_id,phone\n%s,%s\n", ids[i], want);
        write_file(path, data);
        lh_upsert_opts uo = {
            .dataset = "candidates", .source_name = "one.csv", .source = "bench", .direct = !wal};
        lh_upsert_result ur;
        uint64_t t0 = lh_now_ns();
        if (lh_ingest_upsert(ing, &lh_identity_default, path, &uo, &ur, &err)) die("upsert", &err);
        up[i] = ms_since(t0);
        if (ur.committed == wal) {
            fprintf(stderr, "bench_upsert: the upsert did not take the %s path\n",
                    wal ? "log" : "direct");
            exit(1);
        }
        if (!wal && lh_query_refresh(q, "candidates", &err)) die("refresh", &err);
        snprintf(sql, sizeof sql, "SELECT phone FROM candidates WHERE candidate_id = '%s'", ids[i]);
        char *got = cell(q, sql);
        vis[i] = ms_since(t0);
        if (strcmp(got, want) != 0) {
            fprintf(stderr, "bench_upsert: read back '%s', expected '%s'\n", got, want);
            exit(1);
        }
        free(got);
        /* A person editing records: the log's flush (100 ms after the ack) commits between
         * two edits rather than competing with the next one for the two cores. */
        uint64_t f0 = lh_now_ns();
        if (wal && quiet && lh_ingest_wal_flush(ing, &err)) die("wal flush", &err);
        flush_ms[i] = ms_since(f0);
        if (wal && !quiet) usleep(150000);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_upsert LAKE CANDIDATES_CSV Q1_SQL_FILE\n");
        return 2;
    }
    const char *lake = argv[1], *csv = argv[2];
    char *q1 = read_text(argv[3]);
    lh_error err = {0};
    lh_config cfg;
    lh_storage *st = NULL;
    lh_catalog *cat = NULL;
    lh_ingest *ing = NULL;
    lh_query *q = NULL;
    lh_log_setup(LH_LOG_ERROR, false);
    if (lh_config_load(&cfg, NULL, &err) || lh_config_set(&cfg, "data_dir", lake, &err) ||
        lh_config_set(&cfg, "compact_delta_files", "0", &err))
        die("config", &err);
    if (lh_storage_open_local(cfg.data_dir, &st, &err) || lh_catalog_open(st, &cat, &err) ||
        lh_ingest_open(cat, &cfg, &ing, &err))
        die("open", &err);

    uint64_t t0 = lh_now_ns();
    lh_ingest_opts io = {.dataset = "candidates", .key = "candidate_id"};
    lh_ingest_result ir;
    if (lh_ingest_file(ing, &lh_identity_default, csv, &io, &ir, &err)) die("ingest", &err);
    printf("ingest_with_key_ms %.1f ms (%" PRId64 " rows)\n", ms_since(t0), ir.rows);
    if (lh_query_open(cat, &cfg, &q, &err)) die("query", &err);

    /* Five disjoint sets of RUNS keys: each single-row phase below edits keys no earlier
     * phase touched, so their current rows come from the base files (or the hot table),
     * not from delta rows the log already holds in memory. */
    char *ids[RUNS * 5];
    {
        char sql[200];
        snprintf(sql, sizeof sql,
                 "SELECT string_agg(candidate_id, ',') FROM (SELECT candidate_id FROM candidates "
                 "ORDER BY hash(candidate_id) LIMIT %d)",
                 RUNS * 5);
        char *list = cell(q, sql);
        char *save = NULL, *tok = strtok_r(list, ",", &save);
        for (int i = 0; i < RUNS * 5; i++, tok = strtok_r(NULL, ",", &save))
            ids[i] = lh_strdup(tok ? tok : "");
        free(list);
    }

    /* Single-row upsert → visible: committed directly, then through the write-ahead log as
     * the server runs it. */
    char path[4096];
    snprintf(path, sizeof path, "%s/one.csv", lake);
    double up[RUNS], vis[RUNS];
    single_rows(ing, q, path, ids, false, false, "555", up, vis);
    printf("single_row_upsert_ms %.2f ms\n", median(up, RUNS));
    printf("single_row_upsert_visible_ms %.2f ms\n", median(vis, RUNS));
    lh_ingest_wal_hooks hooks = {
        .ctx = q, .apply = wal_apply, .committed = wal_committed, .current = wal_current};
    if (lh_ingest_wal_start(ing, &hooks, &err)) die("wal start", &err);
    single_rows(ing, q, path, ids + RUNS, true, false, "777", up, vis);
    printf("single_row_upsert_wal_ms %.2f ms\n", median(up, RUNS));
    printf("single_row_upsert_wal_visible_ms %.2f ms\n", median(vis, RUNS));
    single_rows(ing, q, path, ids + 2 * RUNS, true, true, "778", up, vis);
    printf("single_row_upsert_wal_quiet_ms %.2f ms\n", median(up, RUNS));
    printf("single_row_upsert_wal_quiet_visible_ms %.2f ms\n", median(vis, RUNS));
    printf("wal_flush_one_ms %.2f ms (a flush of one record, the query engine's hooks included)\n",
           median(flush_ms, RUNS));
    t0 = lh_now_ns();
    if (lh_ingest_wal_flush(ing, &err)) die("wal flush", &err);
    printf("wal_flush_rest_ms %.1f ms\n", ms_since(t0));

    /* Append 10K new rows in one upsert: copy 10K rows under new keys. The anchor, on the
     * same file right after: raw DuckDB turning the CSV into one Parquet file (what a DuckDB
     * script appending a file would do: no checks, no journal, no fsync, no commit). */
    double app[3], raw[3];
    duckdb_database rdb = NULL;
    duckdb_connection rc = NULL;
    if (duckdb_open(NULL, &rdb) != DuckDBSuccess || duckdb_connect(rdb, &rc) != DuckDBSuccess ||
        lh_duckdb_exec(rc, "SET threads=2", "raw", &err))
        die("raw DuckDB", &err);
    for (int r = 0; r < 3; r++) {
        char sql[300];
        snprintf(path, sizeof path, "%s/append.csv", lake);
        /* 10K existing rows under new keys, exported as CSV (with a header) by the engine. */
        lh_query_opts o = {.format = LH_QUERY_CSV};
        lh_buf rows = {0};
        snprintf(sql, sizeof sql,
                 "SELECT * REPLACE ('NEW%d-' || candidate_id AS candidate_id) FROM candidates "
                 "LIMIT 10000",
                 r);
        if (lh_query_run(q, &lh_identity_default, sql, &o, buf_sink, &rows, NULL, &err))
            die("export", &err);
        lh_buf_putc(&rows, 0);
        write_file(path, rows.data);
        lh_buf_free(&rows);
        lh_upsert_opts uo = {
            .dataset = "candidates", .source_name = "append.csv", .source = "bench"};
        lh_upsert_result ur;
        t0 = lh_now_ns();
        if (lh_ingest_upsert(ing, &lh_identity_default, path, &uo, &ur, &err)) die("append", &err);
        app[r] = ms_since(t0);
        char copy[2 * 4096 + 200];
        snprintf(copy, sizeof copy,
                 "COPY (SELECT * FROM read_csv('%s', header=true)) TO '%s/raw-append.parquet' "
                 "(FORMAT parquet, COMPRESSION zstd)",
                 path, lake);
        t0 = lh_now_ns();
        if (lh_duckdb_exec(rc, copy, "raw append", &err)) die("raw append", &err);
        raw[r] = ms_since(t0);
        if (ur.inserted != 10000) {
            fprintf(stderr, "bench_upsert: append inserted %" PRId64 "\n", ur.inserted);
            return 1;
        }
    }
    printf("append_10k_ms %.1f ms\n", median(app, 3));
    printf("append_10k_raw_duckdb_ms %.1f ms (read_csv -> one Parquet file, same file)\n",
           median(raw, 3));
    duckdb_disconnect(&rc);
    duckdb_close(&rdb);
    if (lh_query_refresh(q, "candidates", &err)) die("refresh", &err);

    /* Fetch one row by primary key, and the q1 filter: cold, then hot. A second engine over
     * the same catalog never caches: it gives the uncached figures in the same run. */
    lh_query *cold = NULL;
    if (lh_query_open(cat, &cfg, &cold, &err)) die("query", &err);
    char fetch[256];
    snprintf(fetch, sizeof fetch, "SELECT * FROM candidates WHERE candidate_id = '%s'", ids[0]);
    printf("fetch_by_key_cold_us %.0f us\n", time_query(cold, fetch, FETCHES) * 1000);
    printf("fetch_by_key_distinct_cold_us %.0f us\n", time_served(cold, NULL, ids, FETCHES) * 1000);

    /* Key lookups admit the dataset (cache_admit_key_lookups); what a server's user sees
     * after that: every query through lh_query_resolve, as POST /sql runs it. */
    lh_query_cache_enable(q);
    double admit[3];
    for (int i = 0; i < 3; i++) {
        t0 = lh_now_ns();
        served(q, fetch);
        admit[i] = ms_since(t0);
    }
    if (!cached(q, "candidates")) die("admission by key lookups", &err);
    printf("admit_by_key_lookups_ms %.1f ms (the third lookup loads the table)\n", admit[2]);
    printf("fetch_by_key_admitted_us %.0f us\n", time_served(q, fetch, NULL, FETCHES) * 1000);
    printf("fetch_by_key_distinct_admitted_us %.0f us\n",
           time_served(q, NULL, ids, FETCHES) * 1000);

    /* Commits on a cached dataset: the table follows them in place (no reload). */
    double fol[10], folvis[10];
    for (int i = 0; i < 10; i++) {
        char data[256], sql[256], want[32];
        snprintf(want, sizeof want, "+1-666-%04d", i);
        snprintf(data, sizeof data, "candidate_id,phone\n%s,%s\n", ids[i], want);
        snprintf(path, sizeof path, "%s/one.csv", lake);
        write_file(path, data);
        lh_upsert_opts uo = {
            .dataset = "candidates", .source_name = "one.csv", .source = "bench", .direct = true};
        lh_upsert_result ur;
        t0 = lh_now_ns();
        if (lh_ingest_upsert(ing, &lh_identity_default, path, &uo, &ur, &err)) die("upsert", &err);
        uint64_t t1 = lh_now_ns();
        if (lh_query_refresh(q, "candidates", &err)) die("refresh", &err);
        fol[i] = ms_since(t1);
        snprintf(sql, sizeof sql, "SELECT phone FROM candidates WHERE candidate_id = '%s'", ids[i]);
        char *got = cell(q, sql);
        folvis[i] = ms_since(t0);
        if (strcmp(got, want) != 0 || !cached(q, "candidates")) {
            fprintf(stderr, "bench_upsert: cached read back '%s', expected '%s'\n", got, want);
            return 1;
        }
        free(got);
    }
    printf("cache_follow_upsert_ms %.2f ms (refresh applying one delta to the cached table)\n",
           median(fol, 10));
    printf("single_row_upsert_visible_cached_ms %.2f ms\n", median(folvis, 10));
    printf("fetch_by_key_admitted_after_upserts_us %.0f us\n",
           time_served(q, fetch, NULL, FETCHES) * 1000);

    /* Single-row upserts through the log with the dataset in memory (admitted by the key
     * lookups above, as a server's users admit it): the current row of the key comes from
     * the hot table, and the SELECT reading it back is an index probe there. */
    current_hits = 0;
    single_rows(ing, q, path, ids + 3 * RUNS, true, false, "888", up, vis);
    if (!cached(q, "candidates") || current_hits < RUNS / 2) {
        fprintf(stderr, "bench_upsert: hot log run: cached %d, current rows from memory %d\n",
                cached(q, "candidates"), current_hits);
        return 1;
    }
    printf("single_row_upsert_wal_hot_ms %.2f ms (%d of %d current rows from memory)\n",
           median(up, RUNS), current_hits, RUNS);
    printf("single_row_upsert_wal_hot_visible_ms %.2f ms\n", median(vis, RUNS));
    current_hits = 0;
    single_rows(ing, q, path, ids + 4 * RUNS, true, true, "889", up, vis);
    if (!cached(q, "candidates") || current_hits < RUNS / 2) die("hot quiet run", &err);
    printf("single_row_upsert_wal_hot_quiet_ms %.2f ms\n", median(up, RUNS));
    printf("single_row_upsert_wal_hot_quiet_visible_ms %.2f ms\n", median(vis, RUNS));
    printf("wal_flush_one_hot_ms %.2f ms\n", median(flush_ms, RUNS));
    raw_single_rows(lake, csv, ids);
    if (lh_ingest_wal_flush(ing, &err)) die("wal flush", &err);
    if (lh_query_refresh(q, "candidates", &err)) die("refresh", &err);

    /* q1: hot (pinned) and cold (the uncached engine), alternated in the same run. */
    t0 = lh_now_ns();
    if (lh_query_cache_pin(q, &lh_identity_default, "candidates", &err)) die("pin", &err);
    printf("pin_load_ms %.1f ms (already in memory: a no-op)\n", ms_since(t0));
    printf("fetch_by_key_hot_us %.0f us\n", time_query(q, fetch, FETCHES) * 1000);
    {
        double hot[20], cold1[20];
        for (int i = 0; i < 20; i++) {
            hot[i] = time_query(q, q1, 1);
            cold1[i] = time_query(cold, q1, 1);
        }
        printf("q1_filter_cold_ms %.2f ms\n", median(cold1, 20));
        printf("q1_filter_hot_ms %.2f ms\n", median(hot, 20));
    }
    if (lh_query_cache_unpin(q, &lh_identity_default, "candidates", &err)) die("unpin", &err);

    /* Compaction of everything the upserts added. */
    lh_compact_result cr;
    if (lh_ingest_compact(ing, &lh_identity_default, "candidates", "bench", &cr, &err))
        die("compact", &err);
    printf("compact_ms %.1f ms (%" PRId64 " files, %" PRId64 " deltas → %" PRId64 " rows)\n",
           cr.seconds * 1e3, cr.files_before, cr.deltas_before, cr.rows);
    printf("compact_rows_per_s %.0f rows/s\n", cr.rows / cr.seconds);
    if (lh_query_refresh(q, "candidates", &err) || lh_query_refresh(cold, "candidates", &err))
        die("refresh", &err);
    printf("fetch_by_key_after_compact_us %.0f us\n", time_query(cold, fetch, FETCHES) * 1000);
    /* A compaction reloads a pinned table and drops an admitted one; lookups admit it again. */
    t0 = lh_now_ns();
    for (int i = 0; i < 3 && !cached(q, "candidates"); i++)
        served(q, fetch);
    printf("readmit_after_compact_ms %.1f ms\n", ms_since(t0));
    printf("fetch_by_key_after_compact_admitted_us %.0f us\n",
           time_served(q, fetch, NULL, FETCHES) * 1000);
    printf("fetch_by_key_distinct_after_compact_admitted_us %.0f us\n",
           time_served(q, NULL, ids, FETCHES) * 1000);
    lh_query_close(cold);

    for (int i = 0; i < RUNS * 5; i++)
        free(ids[i]);
    free(q1);
    lh_query_close(q);
    lh_ingest_close(ing);
    lh_catalog_close(cat);
    lh_storage_close(st);
    lh_config_free(&cfg);
    return 0;
}
