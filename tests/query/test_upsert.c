/* Upserts and deletes by primary key: merge-on-read against a rewrite oracle, bad input
 * that changes nothing, base files never rewritten, the journal of every change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "catalog/catalog.h"
#include "core/duckdb_capi.h"
#include "ingest/ingest.h"
#include "query/query.h"
#include "lakefix.h"

typedef tu_lake fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    static const char *const settings[] = {"query_threads", "2", NULL};
    tu_lake_open(f, "upsert", settings);
    tu_lake_open_query(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    tu_lake_close(f);
    free(f);
    return 0;
}

static int ingest_keyed(fx *f, const char *dataset, const char *key, const char *csv, lh_error *err)
{
    char *p = tu_write(f->dir, "base.csv", csv, -1);
    lh_ingest_opts o = {.dataset = dataset, .source_name = "base.csv", .key = key};
    int rc = lh_ingest_file(f->ing, &lh_identity_default, p, &o, NULL, err);
    free(p);
    return rc;
}

static int upsert(fx *f, const char *dataset, const char *name, const char *data, bool del,
                  lh_upsert_result *r, lh_error *err)
{
    char *p = tu_write(f->dir, name, data, -1);
    lh_upsert_opts o = {.dataset = dataset,
                        .source_name = name,
                        .source = "test",
                        .reason = del ? "cleanup" : "fix",
                        .delete_rows = del};
    int rc = lh_ingest_upsert(f->ing, &lh_identity_default, p, &o, r, err);
    if (rc && rc != LH_EINVAL) fprintf(stderr, "upsert: %s\n", err->msg);
    free(p);
    return rc;
}

/* The first cell of a one-row, one-column query as text (caller frees). */
static char *scalar(fx *f, const char *sql)
{
    lh_error err = {0};
    char *json = NULL;
    if (lh_query_json(f->q, &lh_identity_default, sql, 0, &json, &err) != LH_OK) {
        fprintf(stderr, "query failed: %s\n%s\n", err.msg, sql);
        return NULL;
    }
    json_t *j = json_loads(json, 0, NULL);
    free(json);
    json_t *v = json_array_get(json_array_get(json_object_get(j, "rows"), 0), 0);
    char *out = json_is_string(v) ? strdup(json_string_value(v))
                : json_is_null(v) ? strdup("NULL")
                                  : json_dumps(v, JSON_ENCODE_ANY);
    json_decref(j);
    return out;
}

static int64_t version_of(fx *f, const char *dataset)
{
    lh_manifest *m = NULL;
    if (lh_catalog_get(f->cat, &lh_identity_default, dataset, 0, &m, NULL)) return 0;
    int64_t v = m->version;
    lh_manifest_free(m);
    return v;
}

/* ------------------------------------------------------- the oracle */

#define NKEYS 24

typedef struct orow {
    bool live;
    char a[16];
    bool a_null;
    int64_t b;
    bool b_null;
} orow;

/* The oracle's table as "id:a:b;" sorted by id, NULL as '~' — the same text the SQL builds. */
static char *oracle_text(const orow *o)
{
    lh_buf b = {0};
    for (int i = 0; i < NKEYS; i++) {
        if (!o[i].live) continue;
        if (b.len) lh_buf_putc(&b, ';');
        lh_buf_printf(&b, "%d:%s:", i, o[i].a_null ? "~" : o[i].a);
        if (o[i].b_null)
            lh_buf_putc(&b, '~');
        else
            lh_buf_printf(&b, "%" PRId64, o[i].b);
    }
    return b.len ? lh_buf_steal(&b) : strdup("NULL");
}

static const char *table_sql = "SELECT string_agg(id || ':' || coalesce(a, '~') || ':' || "
                               "coalesce(CAST(b AS VARCHAR), '~'), ';' ORDER BY id) FROM t";

static void wal_apply(void *ctx, const lh_manifest *m, const char *wal_id, int64_t seq,
                      const json_t *rows)
{
    lh_query_wal_apply(ctx, m, seq, rows);
}

static void wal_committed(void *ctx, const char *dataset, const char *wal_id, int64_t seq)
{
    lh_query_wal_committed(ctx, dataset, seq);
}

/* Ingests t (id, a, b) with the even keys of the oracle o. */
static void oracle_start(fx *f, orow *o)
{
    lh_error err = {0};
    lh_buf csv = {0};
    lh_buf_puts(&csv, "id,a,b\n");
    for (int i = 0; i < NKEYS; i += 2) {
        o[i].live = true;
        snprintf(o[i].a, sizeof o[i].a, "s%d", i);
        o[i].b = i * 10;
        lh_buf_printf(&csv, "%d,%s,%" PRId64 "\n", i, o[i].a, o[i].b);
    }
    assert_int_equal(ingest_keyed(f, "t", "id", csv.data, &err), 0);
    lh_buf_free(&csv);
}

/* One random commit on t — a full upsert, a partial one (column a only) or a delete of 1-5
 * keys — applied to the oracle o too; then refreshes the engine. wal: the upsert goes through
 * the write-ahead log (visible without a refresh; the log is flushed every seventh step, and
 * its flush thread commits meanwhile). */
static void oracle_step(fx *f, orow *o, unsigned *seed, int step, bool wal)
{
    lh_error err = {0};
    int kind = rand_r(seed) % 4; /* 0,1: full upsert, 2: partial upsert (a only), 3: delete */
    int n = 1 + rand_r(seed) % 5;
    lh_buf in = {0};
    orow next[NKEYS];
    memcpy(next, o, sizeof next);
    lh_buf_puts(&in, kind == 3 ? "id\n" : kind == 2 ? "id,a\n" : "id,a,b\n");
    int64_t expect_changed = 0;
    for (int r = 0; r < n; r++) {
        int id = rand_r(seed) % NKEYS;
        if (kind == 3) {
            lh_buf_printf(&in, "%d\n", id);
            next[id].live = false;
            continue;
        }
        char a[16];
        bool a_null = rand_r(seed) % 6 == 0;
        snprintf(a, sizeof a, "v%d", rand_r(seed) % 50);
        int64_t b = rand_r(seed) % 1000;
        if (!next[id].live) {
            memset(&next[id], 0, sizeof next[id]);
            next[id].live = true;
            next[id].b_null = true; /* set below when given */
        }
        snprintf(next[id].a, sizeof next[id].a, "%s", a);
        next[id].a_null = a_null;
        if (kind == 2) {
            lh_buf_printf(&in, "%d,%s\n", id, a_null ? "" : a);
        } else {
            next[id].b = b;
            next[id].b_null = false;
            lh_buf_printf(&in, "%d,%s,%" PRId64 "\n", id, a_null ? "" : a, b);
        }
    }
    for (int i = 0; i < NKEYS; i++)
        expect_changed += memcmp(&next[i], &o[i], sizeof o[i]) != 0 &&
                          !(next[i].live == false && o[i].live == false);
    lh_upsert_result res;
    int rc = upsert(f, "t", "ops.csv", in.data, kind == 3, &res, &err);
    if (rc) fprintf(stderr, "step %d (kind %d): %s\n", step, kind, err.msg);
    assert_int_equal(rc, 0);
    lh_buf_free(&in);
    memcpy(o, next, NKEYS * sizeof *o);
    if (expect_changed == 0) assert_true(res.noop);
    if (wal) {
        assert_true(res.durable);
        assert_true(res.noop || !res.committed);
        if (step % 7 == 6) assert_int_equal(lh_ingest_wal_flush(f->ing, &err), 0);
    } else {
        assert_int_equal(lh_query_refresh(f->q, "t", &err), 0);
    }
}

/* Checks that sql (over t) reads what the oracle holds. */
static void oracle_check(fx *f, const orow *o, const char *sql, int step)
{
    char *got = scalar(f, sql);
    char *want = oracle_text(o);
    if (!got || strcmp(got, want) != 0)
        fprintf(stderr, "step %d:\n got  %s\n want %s\n", step, got, want);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
    free(want);
}

static void test_merge_on_read_matches_rewrite_oracle(void **state)
{
    fx *f = *state;
    orow o[NKEYS] = {0};
    unsigned seed = 12345;
    oracle_start(f, o);
    for (int step = 0; step < 60; step++) {
        oracle_step(f, o, &seed, step, false);
        oracle_check(f, o, table_sql, step);
    }
}

static void test_wal_upserts_match_rewrite_oracle(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    lh_ingest_wal_hooks hooks = {.ctx = f->q, .apply = wal_apply, .committed = wal_committed};
    assert_int_equal(lh_ingest_wal_start(f->ing, &hooks, &err), 0);
    orow o[NKEYS] = {0};
    unsigned seed = 12345;
    oracle_start(f, o);
    for (int step = 0; step < 60; step++) {
        oracle_step(f, o, &seed, step, true);
        oracle_check(f, o, table_sql, step);
    }
    /* Everything committed: another engine over the lake reads the same rows. */
    assert_int_equal(lh_ingest_wal_flush(f->ing, &err), 0);
    /* With the log table empty the view no longer reads it (its anti-join cost every query). */
    char *wrapped = scalar(f, "SELECT count(*) FROM duckdb_views() WHERE view_name = 't' AND "
                              "sql LIKE '%#wal%'");
    assert_string_equal(wrapped, "0");
    free(wrapped);
    char *live = scalar(f, table_sql);
    lh_query *q2 = NULL;
    assert_int_equal(lh_query_open(f->cat, &f->cfg, &q2, &err), 0);
    char *json = NULL;
    char *sql = lh_sprintf("SELECT (%s)", table_sql);
    assert_int_equal(lh_query_json(q2, &lh_identity_default, sql, 0, &json, &err), 0);
    json_t *j = json_loads(json, 0, NULL);
    assert_string_equal(
        json_string_value(json_array_get(json_array_get(json_object_get(j, "rows"), 0), 0)), live);
    json_decref(j);
    free(json);
    free(sql);
    free(live);
    lh_query_close(q2);
}

static void wal_apply_h(void *ctx, const lh_manifest *m, const char *wal_id, int64_t seq,
                        const json_t *rows);
static void wal_committed_h(void *ctx, const char *dataset, const char *wal_id, int64_t seq);

/* The hot-table hook of the log, checked: every set of current rows it returns is compared
 * with the same rows read from the version's Parquet files (base + deltas, merged). */
typedef struct hot_check {
    fx *f;
    duckdb_database db;
    duckdb_connection c;
    int hits, misses, mismatches;
} hot_check;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* rows as sorted, ';'-joined JSON texts (caller frees). */
static char *rows_text(const json_t *rows)
{
    size_t n = json_array_size(rows);
    char **v = calloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = json_dumps(json_array_get(rows, i), JSON_ENCODE_ANY);
    qsort(v, n, sizeof *v, cmp_str);
    lh_buf b = {0};
    lh_buf_puts(&b, "");
    for (size_t i = 0; i < n; i++) {
        lh_buf_printf(&b, "%s%s", i ? ";" : "", v[i]);
        free(v[i]);
    }
    free(v);
    return lh_buf_steal(&b);
}

static int wal_current_checked(void *ctx, const lh_manifest *m, const char *where, json_t **rows)
{
    hot_check *h = ctx;
    int rc = lh_query_wal_current(h->f->q, m, where, rows);
    if (rc) {
        h->misses++;
        return rc;
    }
    h->hits++;
    lh_manifest *full = NULL;
    lh_error err = {0};
    if (lh_catalog_get(h->f->cat, &lh_identity_default, m->dataset, m->version, &full, &err)) {
        h->mismatches++;
        return 0;
    }
    lh_buf sql = {0};
    lh_buf_puts(&sql, "SELECT ");
    lh_manifest_text_columns(full, &sql);
    lh_buf_puts(&sql, "'false' FROM (");
    json_t *want = NULL;
    if (lh_manifest_scan_sql_where(h->f->st, full, where, &sql, &err) == LH_OK) {
        lh_buf_printf(&sql, ") WHERE %s", where);
        lh_duckdb_rows_json(h->c, sql.data, &want, &err);
    }
    if (!want) want = json_array();
    char *a = rows_text(*rows), *b = rows_text(want);
    /* (May run on the log's flush thread: counted, asserted by the test.) */
    if (strcmp(a, b) != 0) {
        fprintf(stderr, "v%" PRId64 " %s:\n memory  %s\n parquet %s\n", m->version, where, a, b);
        h->mismatches++;
    }
    free(a);
    free(b);
    json_decref(want);
    lh_buf_free(&sql);
    lh_manifest_free(full);
    return 0;
}

/* A statement kept in the engine's statement cache must not keep a plan its first run's data
 * allowed: DuckDB folds coalesce(a, ...) to a while a column of an in-memory table (the hot
 * table, the delta table, the log table) holds no NULL, and does not plan a prepared statement
 * again when rows change. Rows with a NULL then vanished from string_agg. Committed directly
 * (cached and not) and through the log. */
static void test_reused_statements_see_new_nulls(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    lh_upsert_result r;
    assert_int_equal(ingest_keyed(f, "t", "id", "id,a,b\n1,x,10\n2,y,20\n", &err), 0);
    assert_int_equal(ingest_keyed(f, "u", "id", "id,a,b\n1,x,10\n2,y,20\n", &err), 0);
    assert_int_equal(lh_query_refresh(f->q, "t", &err), 0);
    assert_int_equal(lh_query_refresh(f->q, "u", &err), 0);
    lh_query_cache_enable(f->q);
    assert_int_equal(lh_query_cache_pin(f->q, &lh_identity_default, "t", &err), 0);
    const char *sql[] = {table_sql, "SELECT string_agg(id || ':' || coalesce(a, '~') || ':' || "
                                    "coalesce(CAST(b AS VARCHAR), '~'), ';' ORDER BY id) FROM u"};
    const char *names[] = {"t", "u"};
    for (int d = 0; d < 2; d++) {
        char *v = scalar(f, sql[d]);
        assert_string_equal(v, "1:x:10;2:y:20");
        free(v);
        assert_int_equal(upsert(f, names[d], "n.csv", "id,a,b\n3,,30\n", false, &r, &err), 0);
        assert_int_equal(lh_query_refresh(f->q, names[d], &err), 0);
        v = scalar(f, sql[d]);
        assert_string_equal(v, "1:x:10;2:y:20;3:~:30");
        free(v);
    }
    lh_ingest_wal_hooks hooks = {.ctx = f->q, .apply = wal_apply, .committed = wal_committed};
    assert_int_equal(lh_ingest_wal_start(f->ing, &hooks, &err), 0);
    for (int d = 0; d < 2; d++) {
        assert_int_equal(upsert(f, names[d], "w.csv", "id,b\n4,40\n", false, &r, &err), 0);
        assert_false(r.committed);
        char *v = scalar(f, sql[d]);
        assert_string_equal(v, "1:x:10;2:y:20;3:~:30;4:~:40");
        free(v);
    }
    assert_int_equal(lh_ingest_wal_flush(f->ing, &err), 0); /* before the engine closes */
}

/* What an engine that never caches reads of t (latest committed version), as table_sql's
 * text (caller frees). */
static char *committed_text(fx *f, lh_query *q2)
{
    lh_error err = {0};
    char *json = NULL, *sql = lh_sprintf("SELECT coalesce((%s), 'NULL')", table_sql);
    assert_int_equal(lh_query_refresh(q2, "t", &err), 0);
    assert_int_equal(lh_query_json(q2, &lh_identity_default, sql, 0, &json, &err), 0);
    json_t *j = json_loads(json, 0, NULL);
    char *out =
        strdup(json_string_value(json_array_get(json_array_get(json_object_get(j, "rows"), 0), 0)));
    json_decref(j);
    free(json);
    free(sql);
    (void)f;
    return out;
}

/* The log's upserts with t in memory (pinned): the current rows of their keys come from the
 * hot table — checked against the same rows read from Parquet at every call, after partial
 * upserts and deletes too — and what the flushes commit matches the rewrite oracle. */
static void test_wal_upserts_with_hot_current_rows_match_oracle(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    static hot_check h; /* the hooks outlive the test (the log closes in teardown) */
    h = (hot_check){.f = f};
    assert_int_equal(duckdb_open(NULL, &h.db), DuckDBSuccess);
    assert_int_equal(duckdb_connect(h.db, &h.c), DuckDBSuccess);
    lh_query *q2 = NULL;
    assert_int_equal(lh_query_open(f->cat, &f->cfg, &q2, &err), 0);
    orow o[NKEYS] = {0};
    unsigned seed = 777;
    oracle_start(f, o);
    lh_query_cache_enable(f->q);
    assert_int_equal(lh_query_cache_pin(f->q, &lh_identity_default, "t", &err), 0);
    lh_ingest_wal_hooks hooks = {.ctx = &h,
                                 .apply = wal_apply_h,
                                 .committed = wal_committed_h,
                                 .current = wal_current_checked};
    assert_int_equal(lh_ingest_wal_start(f->ing, &hooks, &err), 0);
    for (int step = 0; step < 60; step++) {
        oracle_step(f, o, &seed, step, true);
        /* The same statement each step (reused from the statement cache) sees the log rows. */
        oracle_check(f, o, table_sql, step);
        if (step % 7 != 6) continue; /* flushed: committed */
        char *got = committed_text(f, q2), *want = oracle_text(o);
        if (strcmp(got, want) != 0)
            fprintf(stderr, "step %d:\n got  %s\n want %s\n", step, got, want);
        assert_string_equal(got, want);
        free(got);
        free(want);
    }
    /* Most upserts and deletes read their current rows from memory: from the log's pending
     * table when it holds the key (no call to the hook), else from the hot table (the others
     * follow a flush whose commit the table has not followed yet, or name no existing key). */
    assert_int_equal(lh_ingest_wal_flush(f->ing, &err), 0);
    char *got = committed_text(f, q2), *want = oracle_text(o);
    assert_string_equal(got, want);
    free(got);
    free(want);
    fprintf(stderr, "current rows from memory %d, from Parquet %d\n", h.hits, h.misses);
    assert_int_equal(h.mismatches, 0);
    assert_true(h.hits >= 20);
    lh_query_close(q2);
    duckdb_disconnect(&h.c);
    duckdb_close(&h.db);
}

static void wal_apply_h(void *ctx, const lh_manifest *m, const char *wal_id, int64_t seq,
                        const json_t *rows)
{
    lh_query_wal_apply(((hot_check *)ctx)->f->q, m, seq, rows);
}

static void wal_committed_h(void *ctx, const char *dataset, const char *wal_id, int64_t seq)
{
    lh_query_wal_committed(((hot_check *)ctx)->f->q, dataset, seq);
}

static int setup_wal(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    static const char *const settings[] = {"query_threads", "2", "wal_flush_ms", "30", NULL};
    tu_lake_open(f, "upsert_wal", settings);
    tu_lake_open_query(f);
    *state = f;
    return 0;
}

static void test_large_batch_upsert_and_pure_append(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    lh_buf a = {0}, b = {0}, c = {0};
    lh_buf_puts(&a, "id,v\n");
    lh_buf_puts(&b, "id,v\n");
    lh_buf_puts(&c, "id,v\n");
    for (int i = 0; i < 3000; i++)
        lh_buf_printf(&a, "%d,%d\n", i, i);
    for (int i = 2000; i < 4500; i++) /* 1000 updates, 1500 inserts: past the IN-list size */
        lh_buf_printf(&b, "%d,%d\n", i, -i);
    for (int i = 5000; i < 7500; i++) /* a pure append */
        lh_buf_printf(&c, "%d,%d\n", i, -i);
    assert_int_equal(ingest_keyed(f, "t", "id", a.data, &err), 0);
    lh_upsert_result r;
    assert_int_equal(upsert(f, "t", "b.csv", b.data, false, &r, &err), 0);
    assert_int_equal(r.updated, 1000);
    assert_int_equal(r.inserted, 1500);
    assert_int_equal(upsert(f, "t", "c.csv", c.data, false, &r, &err), 0);
    assert_int_equal(r.inserted, 2500);
    assert_int_equal(r.updated, 0);
    assert_int_equal(lh_query_refresh(f->q, "t", &err), 0);
    char *v = scalar(f, "SELECT count(*) || ' ' || sum(v) FROM t");
    /* 0..1999 keep v = id; 2000..4499 and 5000..7499 have v = -id. */
    int64_t sum = 0;
    for (int i = 0; i < 2000; i++)
        sum += i;
    for (int i = 2000; i < 4500; i++)
        sum -= i;
    for (int i = 5000; i < 7500; i++)
        sum -= i;
    char want[64];
    snprintf(want, sizeof want, "7000 %" PRId64, sum);
    assert_string_equal(v, want);
    free(v);
    /* Bulk inserts journal one event per new row naming the delta file that holds it (in the
     * version's manifest); updates keep their per-field old and new values. */
    v = scalar(f, "SELECT count(*) || ' ' || count(DISTINCT new_value) || ' ' || "
                  "bool_and(old_value IS NULL) FROM journal WHERE dataset = 't' AND op = 'insert'");
    assert_string_equal(v, "4000 2 true");
    free(v);
    lh_manifest *m = NULL;
    assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "t", 0, &m, &err), 0);
    char sql[512];
    for (size_t i = 0, n = 0; i < m->nfiles; i++) {
        if (!m->files[i].delta) continue;
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM journal WHERE entity = 't/%d' AND op = 'insert' AND "
                 "new_value = '{\"file\":\"%s\"}'",
                 n++ ? 7499 : 4499, m->files[i].key);
        v = scalar(f, sql);
        assert_string_equal(v, "1");
        free(v);
    }
    lh_manifest_free(m);
    v = scalar(f, "SELECT old_value || '>' || new_value FROM journal WHERE entity = 't/2000' AND "
                  "op = 'update'");
    assert_string_equal(v, "2000>-2000");
    free(v);
    lh_buf_free(&a);
    lh_buf_free(&b);
    lh_buf_free(&c);
}

static void test_upsert_never_rewrites_base_files(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    assert_int_equal(ingest_keyed(f, "c", "id", "id,phone\nC1,111\nC2,222\n", &err), 0);
    lh_manifest *m1 = NULL;
    assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "c", 0, &m1, &err), 0);
    char path[4096];
    assert_non_null(lh_storage_local_path(f->st, m1->files[0].key, path, sizeof path));
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    lh_upsert_result r;
    assert_int_equal(upsert(f, "c", "u.csv", "id,phone\nC1,999\n", false, &r, &err), 0);
    assert_int_equal(r.updated, 1);
    lh_manifest *m2 = NULL;
    assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "c", 0, &m2, &err), 0);
    assert_int_equal(m2->version, m1->version + 1);
    assert_int_equal(m2->nfiles, 2);
    assert_string_equal(m2->files[0].key, m1->files[0].key);
    assert_false(m2->files[0].delta);
    assert_true(m2->files[1].delta);
    assert_non_null(strstr(m2->files[1].key, "/_delta/"));
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(before.st_size, after.st_size);
    assert_int_equal(before.st_mtime, after.st_mtime);
    assert_int_equal(lh_query_refresh(f->q, "c", &err), 0);
    char *v = scalar(f, "SELECT phone FROM c WHERE id = 'C1'");
    assert_string_equal(v, "999");
    free(v);
    lh_manifest_free(m1);
    lh_manifest_free(m2);
}

/* The merge with a key filter inside every file scan gives, for each key, exactly what the
 * full merge gives for it: updated, deleted, inserted, untouched and absent keys. */
static void test_scan_with_key_filter_matches_the_full_merge(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    lh_upsert_result r;
    assert_int_equal(ingest_keyed(f, "c", "id", "id,phone\nC1,1\nC2,2\nC3,3\nC4,4\n", &err), 0);
    assert_int_equal(upsert(f, "c", "u1.csv", "id,phone\nC1,10\nC5,5\n", false, &r, &err), 0);
    assert_int_equal(upsert(f, "c", "d1.csv", "id\nC2\n", true, &r, &err), 0);
    assert_int_equal(upsert(f, "c", "u2.csv", "id,phone\nC1,11\nC3,33\n", false, &r, &err), 0);
    lh_manifest *m = NULL;
    assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "c", 0, &m, &err), 0);
    assert_int_equal(lh_manifest_ndeltas(m), 3);
    duckdb_database db;
    duckdb_connection c;
    assert_int_equal(duckdb_open(NULL, &db), DuckDBSuccess);
    assert_int_equal(duckdb_connect(db, &c), DuckDBSuccess);
    static const char *const keys[] = {"C1", "C2", "C3", "C4", "C5", "C6"};
    static const char *const want[] = {"C1:11", "", "C3:33", "C4:4", "C5:5", ""};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        lh_buf where = {0}, sql = {0};
        lh_buf_printf(&where, "id = '%s'", keys[i]);
        lh_buf_puts(&sql, "SELECT coalesce(string_agg(id || ':' || phone, ';'), '') FROM (");
        assert_int_equal(lh_manifest_scan_sql_where(f->st, m, where.data, &sql, &err), 0);
        lh_buf_putc(&sql, ')');
        duckdb_result res;
        assert_int_equal(duckdb_query(c, sql.data, &res), DuckDBSuccess);
        char *got = duckdb_value_varchar(&res, 0, 0);
        assert_string_equal(got, want[i]);
        duckdb_free(got);
        duckdb_destroy_result(&res);
        lh_buf_free(&where);
        lh_buf_free(&sql);
    }
    duckdb_disconnect(&c);
    duckdb_close(&db);
    lh_manifest_free(m);
}

/* The catalog's rows are the dataset's logical rows (what count(*) returns) after updates,
 * inserts and deletes; the rows stored, deltas included, are the physical rows. */
static void test_catalog_rows_count_logical_rows(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    lh_upsert_result r;
    assert_int_equal(ingest_keyed(f, "c", "id", "id,phone\nC1,1\nC2,2\nC3,3\n", &err), 0);
    static const struct {
        const char *name, *data;
        bool del;
        int64_t rows, physical;
    } steps[] = {
        {"u.csv", "id,phone\nC1,10\n", false, 3, 4},       /* update */
        {"i.csv", "id,phone\nC4,4\nC1,11\n", false, 4, 6}, /* insert + update */
        {"d.csv", "id\nC2\nC9\n", true, 3, 7},             /* delete (+ absent key) */
    };
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        assert_int_equal(upsert(f, "c", steps[i].name, steps[i].data, steps[i].del, &r, &err), 0);
        lh_manifest *m = NULL;
        assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "c", 0, &m, &err), 0);
        assert_int_equal(m->rows, steps[i].rows);
        assert_int_equal(lh_manifest_physical_rows(m), steps[i].physical);
        json_t *j = lh_manifest_to_json(m);
        assert_int_equal(json_integer_value(json_object_get(j, "physical_rows")),
                         steps[i].physical);
        json_decref(j);
        lh_manifest_free(m);
        assert_int_equal(lh_query_refresh(f->q, "c", &err), 0);
        char *n = scalar(f, "SELECT count(*) FROM c");
        char want[32];
        snprintf(want, sizeof want, "%" PRId64, steps[i].rows);
        assert_string_equal(n, want);
        free(n);
    }
    lh_compact_result cr;
    assert_int_equal(lh_ingest_compact(f->ing, &lh_identity_default, "c", "test", &cr, &err), 0);
    lh_manifest *m = NULL;
    assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "c", 0, &m, &err), 0);
    assert_int_equal(m->rows, 3);
    assert_int_equal(lh_manifest_physical_rows(m), 3);
    lh_manifest_free(m);
}

/* A keyed dataset's newest delta rows live in one in-memory table: an upsert or delete moves
 * that table without re-creating the view, a compaction puts the view back on Parquet alone
 * and drops the table; every step reads the exact rows. */
static void test_delta_table_follows_upserts_without_recreating_the_view(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    lh_upsert_result r;
    const char *rows = "SELECT string_agg(id || ':' || phone, ',' ORDER BY id) FROM c";
    const char *tables = "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'lh_delta'";
    assert_int_equal(ingest_keyed(f, "c", "id", "id,phone\nC1,1\nC2,2\nC3,3\n", &err), 0);
    assert_int_equal(upsert(f, "c", "u1.csv", "id,phone\nC1,10\n", false, &r, &err), 0);
    assert_int_equal(lh_query_refresh(f->q, "c", &err), 0);
    char *v = scalar(f, tables);
    assert_string_equal(v, "1");
    free(v);
    const char *table_name =
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'lh_delta'";
    char *name = scalar(f, table_name);
    uint64_t gen = lh_query_view_generation(f->q);
    static const struct {
        const char *name, *data;
        bool del;
        const char *want;
    } steps[] = {
        {"u2.csv", "id,phone\nC2,20\nC4,4\n", false, "C1:10,C2:20,C3:3,C4:4"},
        {"d1.csv", "id\nC3\n", true, "C1:10,C2:20,C4:4"},
        {"u3.csv", "id,phone\nC3,33\nC1,11\n", false, "C1:11,C2:20,C3:33,C4:4"},
    };
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        assert_int_equal(upsert(f, "c", steps[i].name, steps[i].data, steps[i].del, &r, &err), 0);
        assert_int_equal(lh_query_refresh(f->q, "c", &err), 0);
        /* The same table took the rows; the data generation (filter caches) moved on. */
        v = scalar(f, table_name);
        assert_string_equal(v, name);
        free(v);
        assert_true(lh_query_view_generation(f->q) != gen);
        gen = lh_query_view_generation(f->q);
        v = scalar(f, rows);
        assert_string_equal(v, steps[i].want);
        free(v);
    }
    lh_compact_result cr;
    assert_int_equal(lh_ingest_compact(f->ing, &lh_identity_default, "c", "test", &cr, &err), 0);
    assert_int_equal(lh_query_refresh(f->q, "c", &err), 0);
    assert_true(lh_query_view_generation(f->q) != gen);
    v = scalar(f, tables);
    assert_string_equal(v, "0");
    free(v);
    free(name);
    name = NULL;
    v = scalar(f, rows);
    assert_string_equal(v, "C1:11,C2:20,C3:33,C4:4");
    free(v);

    /* A composite key: rows match on both columns. */
    const char *crows = "SELECT string_agg(a || b || ':' || x, ',' ORDER BY a, b) FROM p";
    assert_int_equal(ingest_keyed(f, "p", "a,b", "a,b,x\n1,1,a\n1,2,b\n2,1,c\n", &err), 0);
    assert_int_equal(upsert(f, "p", "p1.csv", "a,b,x\n1,2,B\n2,2,d\n", false, &r, &err), 0);
    assert_int_equal(lh_query_refresh(f->q, "p", &err), 0);
    const char *ptable = "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'lh_delta' "
                         "AND table_name LIKE 'p#%'";
    name = scalar(f, ptable);
    assert_int_equal(upsert(f, "p", "p2.csv", "a,b\n1,1\n", true, &r, &err), 0);
    assert_int_equal(upsert(f, "p", "p3.csv", "a,b,x\n2,1,C\n1,2,BB\n", false, &r, &err), 0);
    assert_int_equal(lh_query_refresh(f->q, "p", &err), 0);
    v = scalar(f, ptable);
    assert_string_equal(v, name);
    free(v);
    free(name);
    v = scalar(f, crows);
    assert_string_equal(v, "12:BB,21:C,22:d");
    free(v);
}

/* A column becomes nullable when an upsert writes a NULL into it, not when a delete does. */
static void test_upsert_widens_nullability_deletes_do_not(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    lh_upsert_result r;
    assert_int_equal(ingest_keyed(f, "c", "id", "id,phone,zip\nC1,1,10\nC2,2,20\n", &err), 0);
    lh_manifest *m = NULL;
    assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "c", 0, &m, &err), 0);
    assert_false(lh_manifest_column(m, "phone")->nullable);
    lh_manifest_free(m);
    assert_int_equal(upsert(f, "c", "d.csv", "id\nC1\n", true, &r, &err), 0);
    assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "c", 0, &m, &err), 0);
    assert_false(lh_manifest_column(m, "phone")->nullable);
    lh_manifest_free(m);
    assert_int_equal(
        upsert(f, "c", "n.ndjson", "{\"id\":\"C2\",\"phone\":null}\n", false, &r, &err), 0);
    assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "c", 0, &m, &err), 0);
    assert_true(lh_manifest_column(m, "phone")->nullable);
    assert_false(lh_manifest_column(m, "zip")->nullable);
    lh_manifest_free(m);
}

/* The journal view, re-created when a query names it rather than at every commit, shows each
 * committed batch to the next query — the same statement text too (a cached statement). */
static void test_journal_view_follows_each_commit(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    lh_upsert_result r;
    const char *count = "SELECT count(*) FROM journal WHERE dataset = 'c'";
    assert_int_equal(ingest_keyed(f, "c", "id", "id,phone\nC1,1\nC2,2\n", &err), 0);
    assert_int_equal(lh_query_refresh(f->q, "c", &err), 0);
    char *v = scalar(f, count);
    assert_string_equal(v, "1");
    free(v);
    assert_int_equal(upsert(f, "c", "u1.csv", "id,phone\nC1,10\n", false, &r, &err), 0);
    assert_int_equal(lh_query_refresh(f->q, "c", &err), 0);
    v = scalar(f, count);
    assert_string_equal(v, "2");
    free(v);
    assert_int_equal(upsert(f, "c", "u2.csv", "id,phone\nC2,20\nC3,3\n", false, &r, &err), 0);
    assert_int_equal(lh_query_refresh(f->q, "c", &err), 0);
    v = scalar(f, "SELECT count(*) FROM JOURNAL WHERE dataset = 'c' AND op <> 'ingest'");
    assert_string_equal(v, "3");
    free(v);
    v = scalar(f, count);
    assert_string_equal(v, "4");
    free(v);
}

static void test_upsert_bad_input_changes_nothing(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    assert_int_equal(ingest_keyed(f, "p", "id", "id,name,age\n1,Ann,30\n2,Bob,40\n", &err), 0);
    int64_t v = version_of(f, "p");
    static const struct {
        const char *data;
        const char *needle;
    } cases[] = {
        {"name,age\nZed,1\n", "key column 'id' is missing"},
        {"id,name\n3,Cy\n,Dee\n", "row 2: no value for the primary key"},
        {"id,name\nabc,Cy\n", "row 1: column 'id': \"abc\" is not a valid BIGINT"},
        {"id,age\n3,old\n", "row 1: column 'age': \"old\" is not a valid BIGINT"},
        {"id,name,shoe\n3,Cy,42\n", "unknown columns 'shoe'"},
        {"id,name\n", "no rows"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lh_upsert_result r;
        lh_error e = {0};
        assert_int_equal(upsert(f, "p", "bad.csv", cases[i].data, false, &r, &e), LH_EINVAL);
        if (!strstr(e.msg, cases[i].needle))
            fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i, e.msg, cases[i].needle);
        assert_non_null(strstr(e.msg, cases[i].needle));
        assert_int_equal(version_of(f, "p"), v);
    }
    /* NDJSON with a wrong key type is refused the same way. */
    lh_upsert_result r;
    lh_error e = {0};
    assert_int_equal(
        upsert(f, "p", "bad.ndjson", "{\"id\":\"x1\",\"name\":\"Q\"}\n", false, &r, &e), LH_EINVAL);
    assert_non_null(strstr(e.msg, "column 'id'"));
    /* A dataset without a key cannot take upserts. */
    char *p = tu_write(f->dir, "nokey.csv", "x\n1\n", -1);
    lh_ingest_opts o = {.dataset = "nokey"};
    assert_int_equal(lh_ingest_file(f->ing, &lh_identity_default, p, &o, NULL, &err), 0);
    free(p);
    assert_int_equal(upsert(f, "nokey", "u.csv", "x\n2\n", false, &r, &e), LH_EINVAL);
    assert_non_null(strstr(e.msg, "has no primary key"));
    /* Nothing left behind in the lake's delta folder. */
    lh_object_list l;
    assert_int_equal(lh_storage_list_all(f->st, "data/p/_delta/", &l, &err), 0);
    assert_int_equal(l.count, 0);
    lh_storage_list_free(&l);
}

static void test_upsert_duplicates_last_wins_and_absent_deletes_reported(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    assert_int_equal(ingest_keyed(f, "p", "id", "id,name\n1,Ann\n2,Bob\n", &err), 0);
    lh_upsert_result r;
    assert_int_equal(upsert(f, "p", "d.ndjson",
                            "{\"id\":3,\"name\":\"first\"}\n{\"id\":3,\"name\":\"last\"}\n"
                            "{\"id\":1,\"name\":\"Anne\"}\n",
                            false, &r, &err),
                     0);
    assert_int_equal(r.rows_in, 3);
    assert_int_equal(r.duplicates, 1);
    assert_string_equal(r.duplicate_keys, "3");
    assert_int_equal(r.inserted, 1);
    assert_int_equal(r.updated, 1);
    assert_int_equal(lh_query_refresh(f->q, "p", &err), 0);
    char *v = scalar(f, "SELECT name FROM p WHERE id = 3");
    assert_string_equal(v, "last");
    free(v);
    int64_t before = version_of(f, "p");
    assert_int_equal(upsert(f, "p", "del.csv", "id\n9\n8\n", true, &r, &err), 0);
    assert_true(r.noop);
    assert_int_equal(r.absent, 2);
    assert_string_equal(r.absent_keys, "9, 8");
    assert_int_equal(version_of(f, "p"), before);
    assert_int_equal(upsert(f, "p", "del.csv", "id\n2\n9\n", true, &r, &err), 0);
    assert_int_equal(r.deleted, 1);
    assert_int_equal(r.absent, 1);
    assert_int_equal(lh_query_refresh(f->q, "p", &err), 0);
    v = scalar(f, "SELECT string_agg(name, ',' ORDER BY id) FROM p");
    assert_string_equal(v, "Anne,last");
    free(v);
}

static void test_primary_key_refused_on_duplicates(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    /* At ingest: refused, nothing created. */
    assert_int_equal(ingest_keyed(f, "d", "id", "id,x\n1,a\n2,b\n1,c\n", &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "1 (2 rows)"));
    assert_int_equal(version_of(f, "d"), 0);
    /* Later: refused naming the values, then accepted on a unique column. */
    char *p = tu_write(f->dir, "d.csv", "id,x\n1,a\n2,b\n1,c\n3,c\n", -1);
    lh_ingest_opts o = {.dataset = "d"};
    assert_int_equal(lh_ingest_file(f->ing, &lh_identity_default, p, &o, NULL, &err), 0);
    free(p);
    lh_error e = {0};
    assert_int_equal(lh_ingest_set_key(f->ing, &lh_identity_default, "d", "x", NULL, NULL, &e),
                     LH_EINVAL);
    assert_non_null(strstr(e.msg, "c (2 rows)"));
    assert_int_equal(lh_ingest_set_key(f->ing, &lh_identity_default, "d", "nope", NULL, NULL, &e),
                     LH_EINVAL);
    assert_non_null(strstr(e.msg, "no column 'nope'"));
    assert_int_equal(version_of(f, "d"), 1);
    int64_t v = 0;
    assert_int_equal(lh_ingest_set_key(f->ing, &lh_identity_default, "d", "id,x", "audit", &v, &e),
                     0);
    assert_int_equal(v, 2);
    lh_manifest *m = NULL;
    assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "d", 0, &m, &err), 0);
    assert_int_equal(m->nkey, 2);
    assert_string_equal(m->key[1], "x");
    lh_manifest_free(m);
}

static void test_journal_records_old_and_new_values(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    assert_int_equal(ingest_keyed(f, "c", "id", "id,phone,city\nC1,111,Oslo\nC2,222,Rome\n", &err),
                     0);
    lh_upsert_result r;
    assert_int_equal(upsert(f, "c", "u.csv", "id,phone\nC1,555\n", false, &r, &err), 0);
    assert_int_equal(r.events, 1);
    assert_int_equal(upsert(f, "c", "x.csv", "id\nC1\n", true, &r, &err), 0);
    assert_int_equal(r.events, 1);
    assert_int_equal(
        upsert(f, "c", "n.ndjson", "{\"id\":\"C9\",\"city\":\"Lima\"}\n", false, &r, &err), 0);
    assert_int_equal(r.events, 1);
    assert_int_equal(lh_query_refresh(f->q, "c", &err), 0);
    char *v = scalar(f, "SELECT old_value || '>' || new_value || ' ' || op || ' v' || version || "
                        "' ' || source || ' ' || reason FROM journal WHERE entity = 'c/C1' AND "
                        "op = 'update'");
    assert_string_equal(v, "111>555 update v2 test fix");
    free(v);
    /* A deleted row is one event holding the whole old row; an insert, the new one. */
    v = scalar(f, "SELECT old_value FROM journal WHERE entity = 'c/C1' AND op = 'delete' AND "
                  "field = '*'");
    assert_string_equal(v, "{\"id\":\"C1\",\"phone\":555,\"city\":\"Oslo\"}");
    free(v);
    v = scalar(f, "SELECT new_value FROM journal WHERE entity = 'c/C9' AND op = 'insert'");
    assert_string_equal(v, "{\"id\":\"C9\",\"city\":\"Lima\"}");
    free(v);
    v = scalar(f, "SELECT count(*) FROM journal WHERE dataset = 'c'");
    assert_string_equal(v, "4"); /* ingest, update, delete, insert */
    free(v);
}

static int64_t updated_us(fx *f, const char *dataset, int64_t version)
{
    lh_manifest *m = NULL;
    if (lh_catalog_get(f->cat, &lh_identity_default, dataset, version, &m, NULL)) return 0;
    int64_t t = m->updated_us;
    lh_manifest_free(m);
    return t;
}

/* Runs sql as of as_of_us through lh_query_resolve; returns the first cell. */
static char *scalar_at(fx *f, const char *sql, int64_t as_of_us)
{
    char *resolved = NULL;
    lh_error err = {0};
    if (lh_query_resolve(f->q, &lh_identity_default, sql, as_of_us, &resolved, &err)) {
        fprintf(stderr, "resolve failed: %s\n", err.msg);
        return NULL;
    }
    char *v = scalar(f, resolved);
    free(resolved);
    return v;
}

static void test_time_travel_returns_exact_earlier_rows(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    assert_int_equal(ingest_keyed(f, "c", "id", "id,phone\nC1,111\nC2,222\n", &err), 0);
    lh_upsert_result r;
    assert_int_equal(upsert(f, "c", "u.csv", "id,phone\nC1,555\nC3,333\n", false, &r, &err), 0);
    assert_int_equal(upsert(f, "c", "d.csv", "id\nC2\n", true, &r, &err), 0);
    assert_int_equal(r.version, 3);
    assert_int_equal(lh_query_refresh(f->q, "c", &err), 0);
    static const char *all = "SELECT string_agg(id || '=' || phone, ',' ORDER BY id) FROM c";
    static const char *want[] = {NULL, "C1=111,C2=222", "C1=555,C2=222,C3=333", "C1=555,C3=333"};
    for (int v = 1; v <= 3; v++) {
        /* A version view by name... */
        char sql[200];
        snprintf(sql, sizeof sql,
                 "SELECT string_agg(id || '=' || phone, ',' ORDER BY id) FROM \"c@v%d\"", v);
        char *got = scalar_at(f, sql, 0);
        assert_string_equal(got, want[v]);
        free(got);
        /* ...and the plain name as of the moment that version was committed. */
        got = scalar_at(f, all, updated_us(f, "c", v));
        assert_string_equal(got, want[v]);
        free(got);
    }
    /* Before the dataset existed: no rows. A WITH query keeps its own CTEs. */
    char *got = scalar_at(f, "SELECT count(*) FROM c", 1000000);
    assert_string_equal(got, "0");
    free(got);
    got = scalar_at(f, "WITH x AS (SELECT 2 AS k) SELECT count(*) * max(k) FROM c, x",
                    updated_us(f, "c", 1));
    assert_string_equal(got, "4");
    free(got);
    char *resolved = NULL;
    assert_int_equal(
        lh_query_resolve(f->q, &lh_identity_default, "SELECT * FROM \"c@v9\"", 0, &resolved, &err),
        LH_ENOENT);
    assert_int_equal(lh_query_resolve(f->q, &lh_identity_default, "DESCRIBE c", 5, &resolved, &err),
                     LH_EUNSUPPORTED);
    /* A quoted name that only looks like a version of a dataset that does not exist. */
    got = scalar_at(f, "SELECT 1 AS \"x@v1\"", 0);
    assert_string_equal(got, "1");
    free(got);
    /* The current view is untouched by all this. */
    got = scalar(f, all);
    assert_string_equal(got, want[3]);
    free(got);

    /* Replay version 2 as a new dataset. */
    int64_t rows = 0;
    assert_int_equal(
        lh_ingest_replay(f->ing, &lh_identity_default, "c", 2, "c_then", "audit", &rows, &err), 0);
    assert_int_equal(rows, 3);
    assert_int_equal(lh_query_refresh(f->q, "c_then", &err), 0);
    got = scalar(f, "SELECT string_agg(id || '=' || phone, ',' ORDER BY id) FROM c_then");
    assert_string_equal(got, want[2]);
    free(got);
    lh_manifest *m = NULL;
    assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "c_then", 0, &m, &err), 0);
    assert_int_equal(m->nkey, 1);
    assert_int_equal(lh_manifest_ndeltas(m), 0);
    lh_manifest_free(m);
    lh_error e = {0};
    assert_int_equal(
        lh_ingest_replay(f->ing, &lh_identity_default, "c", 2, "c_then", NULL, &rows, &e),
        LH_EEXIST);
    assert_int_equal(lh_ingest_replay(f->ing, &lh_identity_default, "c", 8, "c_x", NULL, &rows, &e),
                     LH_ENOENT);
}

static void test_compaction_keeps_rows_and_old_versions(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    assert_int_equal(ingest_keyed(f, "c", "id", "id,v\n1,a\n2,b\n3,c\n", &err), 0);
    lh_upsert_result r;
    assert_int_equal(upsert(f, "c", "u1.csv", "id,v\n1,x\n4,d\n", false, &r, &err), 0);
    assert_int_equal(upsert(f, "c", "u2.csv", "id\n2\n", true, &r, &err), 0);
    assert_int_equal(lh_query_refresh(f->q, "c", &err), 0);
    static const char *all = "SELECT string_agg(id || v, ',' ORDER BY id) FROM c";
    char *before = scalar(f, all);
    lh_compact_result cr;
    assert_int_equal(lh_ingest_compact(f->ing, &lh_identity_default, "c", "tidy", &cr, &err), 0);
    assert_false(cr.noop);
    assert_int_equal(cr.from_version, 3);
    assert_int_equal(cr.version, 4);
    assert_int_equal(cr.deltas_before, 2);
    assert_int_equal(cr.rows, 3);
    lh_manifest *m = NULL;
    assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "c", 0, &m, &err), 0);
    assert_int_equal(m->nfiles, 1);
    assert_int_equal(lh_manifest_ndeltas(m), 0);
    assert_string_equal(m->op, "compact");
    lh_manifest_free(m);
    assert_int_equal(lh_query_refresh(f->q, "c", &err), 0);
    char *after = scalar(f, all);
    assert_string_equal(after, before);
    assert_string_equal(after, "1x,3c,4d");
    free(after);
    free(before);
    /* Readers of the old versions are unaffected. */
    char *v2 = scalar_at(f, "SELECT string_agg(id || v, ',' ORDER BY id) FROM \"c@v2\"", 0);
    assert_string_equal(v2, "1x,2b,3c,4d");
    free(v2);
    /* Nothing left to do: a no-op, no version. */
    assert_int_equal(lh_ingest_compact(f->ing, &lh_identity_default, "c", NULL, &cr, &err), 0);
    assert_true(cr.noop);
    assert_int_equal(cr.version, 4);
    /* gc with a long retention deletes nothing; with none, the files only old versions used. */
    int64_t deleted = -1;
    assert_int_equal(
        lh_ingest_gc(f->ing, &lh_identity_default, "c", 3600LL * 1000000, &deleted, &err), 0);
    assert_int_equal(deleted, 0);
    assert_int_equal(lh_ingest_gc(f->ing, &lh_identity_default, "c", 0, &deleted, &err), 0);
    assert_int_equal(deleted, 3);
    after = scalar(f, all);
    assert_string_equal(after, "1x,3c,4d");
    free(after);
    /* The journal has the compaction. */
    char *j = scalar(f, "SELECT op || ' ' || reason FROM journal WHERE dataset = 'c' AND "
                        "version = 4");
    assert_string_equal(j, "compact tidy");
    free(j);
}

static void test_journal_rollup_keeps_every_event(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    assert_int_equal(ingest_keyed(f, "c", "id", "id,v\n1,a\n", &err), 0);
    lh_upsert_result r;
    char data[64];
    for (int i = 0; i < 4; i++) {
        snprintf(data, sizeof data, "id,v\n1,x%d\n%d,new\n", i, 10 + i);
        assert_int_equal(upsert(f, "c", "u.csv", data, false, &r, &err), 0);
    }
    /* An orphan batch, as a crash between writing it and committing would leave. */
    char orphan[128];
    snprintf(orphan, sizeof orphan, "_journal/2020-01/batch_1_c_v99_deadbeef.parquet");
    assert_int_equal(lh_storage_put(f->st, orphan, "x", 1, &err), 0);
    assert_int_equal(lh_query_refresh(f->q, "c", &err), 0);
    static const char *digest = "SELECT count(*) || ':' || sum(hash(entity, field, old_value, "
                                "new_value, version)) FROM journal WHERE dataset = 'c'";
    char *before = scalar(f, digest);
    int64_t rolled = 0;
    /* This month's batches count as past when the cut is next month. */
    int64_t next_month = lh_wall_us() + 40LL * 24 * 3600 * 1000000;
    assert_int_equal(
        lh_ingest_journal_rollup(f->ing, &lh_identity_default, "c", lh_wall_us(), &rolled, &err),
        0);
    assert_int_equal(rolled, 0);
    assert_int_equal(
        lh_ingest_journal_rollup(f->ing, &lh_identity_default, "c", next_month, &rolled, &err), 0);
    assert_int_equal(rolled, 5);
    lh_manifest *m = NULL;
    assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "c", 0, &m, &err), 0);
    assert_int_equal(m->njournal, 1);
    assert_non_null(strstr(m->journal[0], "/month_c_"));
    lh_manifest_free(m);
    assert_int_equal(lh_query_refresh(f->q, "c", &err), 0);
    char *after = scalar(f, digest);
    assert_string_equal(after, before);
    free(after);
    /* gc removes the replaced batches and the orphan; the journal reads the same. */
    int64_t deleted = 0;
    assert_int_equal(lh_ingest_gc(f->ing, &lh_identity_default, "c", 0, &deleted, &err), 0);
    lh_object_info info;
    assert_int_equal(lh_storage_head(f->st, orphan, &info, NULL), LH_ENOENT);
    lh_object_list l;
    assert_int_equal(lh_storage_list_all(f->st, "_journal/", &l, &err), 0);
    assert_int_equal(l.count, 1);
    lh_storage_list_free(&l);
    after = scalar(f, digest);
    assert_string_equal(after, before);
    free(after);
    free(before);
}

static void test_upsert_compacts_past_the_delta_threshold(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    lh_ingest_close(f->ing);
    f->cfg.compact_delta_files = 3;
    assert_int_equal(lh_ingest_open(f->cat, &f->cfg, &f->ing, &err), 0);
    assert_int_equal(ingest_keyed(f, "c", "id", "id,v\n1,0\n", &err), 0);
    lh_upsert_result r;
    char data[64];
    for (int i = 1; i <= 3; i++) {
        snprintf(data, sizeof data, "id,v\n1,%d\n", i);
        assert_int_equal(upsert(f, "c", "u.csv", data, false, &r, &err), 0);
        assert_int_equal(r.compacted, i == 3 ? 5 : 0);
    }
    lh_manifest *m = NULL;
    assert_int_equal(lh_catalog_get(f->cat, &lh_identity_default, "c", 0, &m, &err), 0);
    assert_int_equal(m->version, 5);
    assert_int_equal(lh_manifest_ndeltas(m), 0);
    lh_manifest_free(m);
    assert_int_equal(lh_query_refresh(f->q, "c", &err), 0);
    char *v = scalar(f, "SELECT v FROM c WHERE id = 1");
    assert_string_equal(v, "3");
    free(v);
}

static void test_cache_refuses_pin_past_budget_and_never_serves_stale_rows(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    lh_query_close(f->q);
    f->cfg.cache_memory_mb = 2;
    assert_int_equal(lh_query_open(f->cat, &f->cfg, &f->q, &err), 0);
    lh_query_cache_enable(f->q);
    /* ~200K distinct strings: far more than 2 MB in memory. */
    lh_buf big = {0};
    lh_buf_puts(&big, "id,s\n");
    for (int i = 0; i < 200000; i++)
        lh_buf_printf(&big, "%d,row-%d-padding-padding-padding-padding\n", i, i);
    assert_int_equal(ingest_keyed(f, "big", "id", big.data, &err), 0);
    lh_buf_free(&big);
    assert_int_equal(ingest_keyed(f, "small", "id", "id,v\n1,a\n", &err), 0);
    assert_int_equal(lh_query_refresh(f->q, "big", &err), 0);
    assert_int_equal(lh_query_refresh(f->q, "small", &err), 0);
    lh_error e = {0};
    assert_int_equal(lh_query_cache_pin(f->q, &lh_identity_default, "big", &e), LH_ETOOBIG);
    assert_non_null(strstr(e.msg, "cache budget is 2 MB"));
    assert_int_equal(lh_query_cache_pin(f->q, &lh_identity_default, "small", &err), 0);
    json_t *st = lh_query_cache_stats(f->q);
    size_t i;
    json_t *entry;
    int cached = 0;
    json_array_foreach(json_object_get(st, "entries"), i, entry)
    {
        const char *ds = json_string_value(json_object_get(entry, "dataset"));
        if (json_is_true(json_object_get(entry, "cached"))) {
            assert_string_equal(ds, "small");
            cached++;
        }
    }
    assert_int_equal(cached, 1);
    json_decref(st);
    /* Every commit is visible at once through the pinned table. */
    for (int k = 0; k < 5; k++) {
        char data[64], want[16];
        snprintf(data, sizeof data, "id,v\n1,v%d\n", k);
        snprintf(want, sizeof want, "v%d", k);
        lh_upsert_result r;
        assert_int_equal(upsert(f, "small", "u.csv", data, false, &r, &err), 0);
        assert_int_equal(lh_query_refresh(f->q, "small", &err), 0);
        char *v = scalar(f, "SELECT v FROM small WHERE id = 1");
        assert_string_equal(v, want);
        free(v);
    }
}

static void test_cache_eviction_moves_the_view_back_to_parquet(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    lh_query_close(f->q);
    f->cfg.cache_memory_mb = 4;
    assert_int_equal(lh_query_open(f->cat, &f->cfg, &f->q, &err), 0);
    lh_query_cache_enable(f->q);
    /* Two datasets of incompressible text, each over half the budget (~2.5 MB in memory). */
    for (int d = 0; d < 2; d++) {
        lh_buf b = {0};
        lh_buf_puts(&b, "id,s\n");
        for (int i = 0; i < 20000; i++) {
            char hex[LH_SHA256_HEX];
            char in[32];
            snprintf(in, sizeof in, "%d-%d", d, i);
            lh_sha256_hex(in, strlen(in), hex);
            lh_buf_printf(&b, "%d,%.40s\n", i, hex);
        }
        assert_int_equal(ingest_keyed(f, d ? "b" : "a", "id", b.data, &err), 0);
        lh_buf_free(&b);
        assert_int_equal(lh_query_refresh(f->q, d ? "b" : "a", &err), 0);
    }
    assert_int_equal(lh_query_cache_pin(f->q, &lh_identity_default, "a", &err), 0);
    assert_int_equal(lh_query_cache_unpin(f->q, &lh_identity_default, "a", &err), 0);
    assert_int_equal(lh_query_cache_pin(f->q, &lh_identity_default, "b", &err), 0);
    json_t *st = lh_query_cache_stats(f->q);
    size_t i;
    json_t *entry;
    json_array_foreach(json_object_get(st, "entries"), i, entry)
    {
        const char *ds = json_string_value(json_object_get(entry, "dataset"));
        assert_int_equal(json_is_true(json_object_get(entry, "cached")), strcmp(ds, "b") == 0);
    }
    json_decref(st);
    /* "a" was evicted: its view reads Parquet again. */
    char *v = scalar(f, "SELECT count(*) FROM a");
    assert_string_equal(v, "20000");
    free(v);
}

/* The cache entry of dataset in lh_query_cache_stats (borrowed from st), or NULL. */
static json_t *cache_entry(json_t *st, const char *dataset)
{
    size_t i;
    json_t *entry;
    json_array_foreach(json_object_get(st, "entries"), i, entry)
    {
        if (strcmp(json_string_value(json_object_get(entry, "dataset")), dataset) == 0)
            return entry;
    }
    return NULL;
}

/* Appends (a plain ingest into the existing dataset) rows for up to 3 keys the oracle does
 * not hold, and records them in o. */
static void oracle_append(fx *f, orow *o, int step)
{
    lh_buf csv = {0};
    lh_buf_puts(&csv, "id,a,b\n");
    int n = 0;
    for (int i = 0; i < NKEYS && n < 3; i++) {
        if (o[i].live) continue;
        memset(&o[i], 0, sizeof o[i]);
        o[i].live = true;
        snprintf(o[i].a, sizeof o[i].a, "app%d", step);
        o[i].b = step;
        lh_buf_printf(&csv, "%d,%s,%d\n", i, o[i].a, step);
        n++;
    }
    if (n) {
        char name[32];
        snprintf(name, sizeof name, "append%d.csv", step);
        char *p = tu_write(f->dir, name, csv.data, -1);
        lh_ingest_opts io = {.dataset = "t", .source_name = name};
        lh_error err = {0};
        int rc = lh_ingest_file(f->ing, &lh_identity_default, p, &io, NULL, &err);
        if (rc) fprintf(stderr, "append: %s\n", err.msg);
        assert_int_equal(rc, 0);
        free(p);
        assert_int_equal(lh_query_refresh(f->q, "t", &err), 0);
    }
    lh_buf_free(&csv);
}

static void test_cache_follows_commits_and_never_serves_stale_rows(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    orow o[NKEYS] = {0};
    unsigned seed = 777;
    lh_query_cache_enable(f->q);
    oracle_start(f, o);
    assert_int_equal(lh_query_refresh(f->q, "t", &err), 0);
    assert_int_equal(lh_query_cache_pin(f->q, &lh_identity_default, "t", &err), 0);
    int compactions = 0;
    for (int step = 0; step < 60; step++) {
        if (step % 9 == 8) {
            oracle_append(f, o, step);
        } else if (step % 13 == 12) {
            lh_compact_result cr;
            assert_int_equal(
                lh_ingest_compact(f->ing, &lh_identity_default, "t", "test", &cr, &err), 0);
            assert_int_equal(lh_query_refresh(f->q, "t", &err), 0);
            compactions++;
        } else {
            oracle_step(f, o, &seed, step, false);
        }
        /* The cached view, a point lookup through the key index, and the uncached version
         * view of the same version all read what the oracle holds. */
        oracle_check(f, o, table_sql, step);
        char sql[256], *resolved = NULL;
        snprintf(sql, sizeof sql,
                 "SELECT string_agg(id || ':' || coalesce(a, '~') || ':' || "
                 "coalesce(CAST(b AS VARCHAR), '~'), ';' ORDER BY id) FROM \"t@v%" PRId64 "\"",
                 version_of(f, "t"));
        assert_int_equal(lh_query_resolve(f->q, &lh_identity_default, sql, 0, &resolved, &err), 0);
        oracle_check(f, o, resolved, step);
        free(resolved);
        int id = rand_r(&seed) % NKEYS;
        snprintf(sql, sizeof sql, "SELECT coalesce(max(a), '~') FROM t WHERE id = %d", id);
        char *got = scalar(f, sql);
        assert_string_equal(got, o[id].live ? (o[id].a_null ? "~" : o[id].a) : "~");
        free(got);
    }
    assert_true(compactions > 0);
    json_t *st = lh_query_cache_stats(f->q);
    json_t *e = cache_entry(st, "t");
    assert_non_null(e);
    assert_true(json_is_true(json_object_get(e, "cached")));
    assert_int_equal(json_integer_value(json_object_get(e, "version")), version_of(f, "t"));
    /* Most versions were applied in place; the compactions reloaded the table. */
    assert_true(json_integer_value(json_object_get(e, "followed")) >= 30);
    json_decref(st);
}

/* Runs sql the way the server does (lh_query_resolve, which counts it for admission, then the
 * query) and returns the first cell. */
static char *served(fx *f, const char *sql)
{
    char *resolved = NULL;
    lh_error err = {0};
    if (lh_query_resolve(f->q, &lh_identity_default, sql, 0, &resolved, &err)) return NULL;
    char *v = scalar(f, resolved);
    free(resolved);
    return v;
}

static bool cached(fx *f, const char *dataset)
{
    json_t *st = lh_query_cache_stats(f->q);
    json_t *e = cache_entry(st, dataset);
    bool c = e && json_is_true(json_object_get(e, "cached"));
    json_decref(st);
    return c;
}

static void test_cache_admits_datasets_looked_up_by_key(void **state)
{
    fx *f = *state;
    lh_error err = {0};
    lh_query_cache_enable(f->q);
    assert_int_equal(ingest_keyed(f, "people", "pid", "pid,name,pidx\n1,ann,5\n2,bob,6\n", &err),
                     0);
    assert_int_equal(ingest_keyed(f, "pairs", "x,y", "x,y,v\n1,1,a\n1,2,b\n", &err), 0);
    assert_int_equal(lh_query_refresh(f->q, "people", &err), 0);
    assert_int_equal(lh_query_refresh(f->q, "pairs", &err), 0);
    /* Scans, filters on other columns (one whose name starts like the key) and half a
     * composite key are no key lookups. */
    static const char *const not_lookups[] = {
        "SELECT count(*) FROM people",
        "SELECT name FROM people WHERE pidx = 5",
        "SELECT name FROM people WHERE name = 'pid = 1'",
        "SELECT max(pid) FROM people WHERE pid > 0",
        "SELECT v FROM pairs WHERE x = 1",
    };
    for (int r = 0; r < 2; r++)
        for (size_t i = 0; i < sizeof not_lookups / sizeof *not_lookups; i++)
            free(served(f, not_lookups[i]));
    assert_false(cached(f, "people"));
    assert_false(cached(f, "pairs"));
    /* Three lookups by key admit the dataset; the third is answered from memory. */
    char *v = served(f, "SELECT name FROM people WHERE pid = 1");
    assert_string_equal(v, "ann");
    free(v);
    free(served(f, "SELECT name FROM people p WHERE p.\"pid\" IN (1, 2)"));
    assert_false(cached(f, "people"));
    v = served(f, "SELECT name FROM people WHERE PID=2");
    assert_string_equal(v, "bob");
    free(v);
    assert_true(cached(f, "people"));
    for (int i = 0; i < 3; i++)
        free(served(f, "SELECT v FROM pairs WHERE x = 1 AND y = 2"));
    assert_true(cached(f, "pairs"));
    /* An admitted (unpinned) dataset follows upserts too. */
    lh_upsert_result r;
    assert_int_equal(upsert(f, "people", "u.csv", "pid,name\n1,amy\n3,cy\n", false, &r, &err), 0);
    assert_int_equal(lh_query_refresh(f->q, "people", &err), 0);
    assert_true(cached(f, "people"));
    v = served(f, "SELECT string_agg(name, ',' ORDER BY pid) FROM people");
    assert_string_equal(v, "amy,bob,cy");
    free(v);

    /* Off: key lookups admit nothing. */
    lh_query_close(f->q);
    f->cfg.cache_admit_key_lookups = false;
    assert_int_equal(lh_query_open(f->cat, &f->cfg, &f->q, &err), 0);
    lh_query_cache_enable(f->q);
    for (int i = 0; i < 6; i++)
        free(served(f, "SELECT name FROM people WHERE pid = 1"));
    assert_false(cached(f, "people"));
}

/* ------------------------------------------- small upserts (computed in C) */

/* Starts the log and ingests the same rows as g (committed directly: the general path) and s
 * (through the log: small inputs take the path computed in C). */
static void both_start(fx *f)
{
    lh_error err = {0};
    lh_ingest_wal_hooks hooks = {.ctx = f->q, .apply = wal_apply, .committed = wal_committed};
    assert_int_equal(lh_ingest_wal_start(f->ing, &hooks, &err), 0);
    const char *base = "id,n,x,d,ok,note\n"
                       "A,1,1.5,2024-01-02,true,first\n"
                       "B,2,,2024-01-03,false,\"with, comma\"\n"
                       "C,3,-0.25,,true,plain\n";
    assert_int_equal(ingest_keyed(f, "g", "id", base, &err), 0);
    assert_int_equal(ingest_keyed(f, "s", "id", base, &err), 0);
}

/* Runs one input both ways and fails (naming label) unless the answers, the error text and the
 * rows read back are the same; then flushes the log (one commit per record, so both datasets'
 * versions stay in step). */
static void both_ways(fx *f, const char *name, const char *data, bool del, const char *label)
{
    lh_upsert_result rg = {0}, rs = {0};
    lh_error eg = {0}, es = {0}, err = {0};
    char *pg = tu_write(f->dir, name, data, -1);
    lh_upsert_opts og = {.dataset = "g",
                         .source_name = name,
                         .source = "test",
                         .reason = "same",
                         .delete_rows = del,
                         .direct = true};
    lh_upsert_opts os = og;
    os.dataset = "s";
    os.direct = false;
    int rcg = lh_ingest_upsert(f->ing, &lh_identity_default, pg, &og, &rg, &eg);
    int rcs = lh_ingest_upsert(f->ing, &lh_identity_default, pg, &os, &rs, &es);
    free(pg);
    /* The messages name their dataset: read s's as if it named g. */
    for (char *at = es.msg; (at = strstr(at, "'s'")); at += 3)
        at[1] = 'g';
    if (rcg != rcs || strcmp(eg.msg, es.msg) != 0)
        fail_msg("%s: general %d '%s', log %d '%s'\ninput:\n%s", label, rcg, eg.msg, rcs, es.msg,
                 data);
    if (rcg) return;
    if (rg.rows_in != rs.rows_in || rg.inserted != rs.inserted || rg.updated != rs.updated ||
        rg.unchanged != rs.unchanged || rg.deleted != rs.deleted ||
        rg.duplicates != rs.duplicates || rg.events != rs.events || rg.noop != rs.noop ||
        rg.absent != rs.absent || strcmp(rg.duplicate_keys, rs.duplicate_keys) != 0 ||
        strcmp(rg.absent_keys, rs.absent_keys) != 0)
        fail_msg("%s: counts differ: in %" PRId64 "/%" PRId64 ", ins %" PRId64 "/%" PRId64
                 ", upd %" PRId64 "/%" PRId64 ", same %" PRId64 "/%" PRId64 ", events %" PRId64
                 "/%" PRId64 ", deleted %" PRId64 "/%" PRId64 ", absent '%s'/'%s'\ninput:\n%s",
                 label, rg.rows_in, rs.rows_in, rg.inserted, rs.inserted, rg.updated, rs.updated,
                 rg.unchanged, rs.unchanged, rg.events, rs.events, rg.deleted, rs.deleted,
                 rg.absent_keys, rs.absent_keys, data);
    assert_false(rs.committed && !rs.noop); /* through the log */
    /* Visible at once through the log; the general path's commit after a refresh. */
    assert_int_equal(lh_query_refresh(f->q, "g", &err), 0);
    const char *rows =
        "SELECT string_agg(concat_ws('|', id, n, x, d, ok, note), ';' ORDER BY id) FROM ";
    char *qg = lh_sprintf("%sg", rows), *qs = lh_sprintf("%ss", rows);
    char *tg = scalar(f, qg), *ts = scalar(f, qs);
    if (strcmp(tg, ts) != 0) fail_msg("%s: rows differ:\n%s\n%s\ninput:\n%s", label, tg, ts, data);
    free(ts);
    /* Committed by the flush, the same rows. */
    assert_int_equal(lh_ingest_wal_flush(f->ing, &err), 0);
    ts = scalar(f, qs);
    if (strcmp(tg, ts) != 0)
        fail_msg("%s: rows differ once committed:\n%s\n%s\ninput:\n%s", label, tg, ts, data);
    free(tg);
    free(ts);
    free(qg);
    free(qs);
}

/* Fails unless g's and s's journals hold the same events after their ingest; returns s's
 * (caller frees). */
static char *both_journals_match(fx *f)
{
    lh_error err = {0};
    assert_int_equal(lh_query_refresh(f->q, "s", &err), 0);
    const char *ev = "SELECT string_agg(concat_ws('|', version, regexp_replace(entity, '^[^/]*/?', "
                     "''), field, coalesce(old_value, '~'), coalesce(new_value, '~'), op, "
                     "reason), ';' ORDER BY version, entity, field, op) FROM journal WHERE "
                     "dataset = ";
    char *qg = lh_sprintf("%s'g' AND version > 1", ev),
         *qs = lh_sprintf("%s's' AND version > 1", ev);
    char *jg = scalar(f, qg), *js = scalar(f, qs);
    if (strcmp(jg, js) != 0) {
        /* The first event that differs, and what follows it. */
        size_t at = 0;
        while (jg[at] && jg[at] == js[at])
            at++;
        while (at && jg[at - 1] != ';')
            at--;
        fail_msg("journals differ from:\n%.300s\n%.300s", jg + at, js + at);
    }
    free(jg);
    free(qg);
    free(qs);
    return js;
}

/* The same upserts through the write-ahead log (most of them small: computed in C by
 * upsert_small.c) and committed directly (the general path) give the same answers, the same
 * rows and the same journal events — inputs the small path declines included. */
static void test_small_upserts_match_the_general_path(void **state)
{
    fx *f = *state;
    both_start(f);
    static const struct {
        const char *name, *data;
        bool del;
    } steps[] = {
        {"1.csv", "id,n,note\nA,5,\"he said \"\"hi\"\", then\nleft\"\n", false},
        {"2.csv", "id,n,x,d,ok,note\nZ,7,2.5,2024-02-29,true,new\n", false},
        {"3.csv", "id,n,x,d,ok,note\nZ,7,2.5,2024-02-29,true,new\n", false}, /* unchanged */
        {"4.ndjson", "{\"id\":\"B\",\"x\":null}\n{\"id\":\"C\",\"n\":12,\"ok\":false}\n", false},
        {"5.csv", "id,x,note\nA,1e3,again\nY,0.5,\nB,2,b\n", false},
        {"6.csv", "id,n\r\nA,6\r\nC,13\r\n", false},
        {"7.csv", "id,n\nA,abc\n", false},                  /* refused: not an INTEGER */
        {"8.csv", "id,n\nA,8\nA,9\n", false},               /* a key twice: the last wins */
        {"9.ndjson", "{\"id\":\"A\",\"x\":3.25}\n", false}, /* a real number */
        {"9b.ndjson", "{\"id\":\"A\",\"x\":0.1}\n{\"id\":\"Y\",\"x\":1e300}\n", false},
        {"9c.ndjson", "{\"id\":\"A\",\"n\":5.0}\n", false},     /* a real into an INTEGER */
        {"9d.ndjson", "{\"id\":\"A\",\"note\":2.50}\n", false}, /* a real into text */
        {"10.csv", "id\nB\n", true},                            /* delete */
        {"10b.csv", "id,n\nZ,7\nQ1,1\nY,2\nQ2,2\nQ3,3\nQ4,4\nQ5,5\nQ6,6\n", true}, /* absent */
        {"10c.ndjson", "{\"id\":\"ZZ\"}\n{\"id\":\"B\"}\n", true}, /* all absent: noop */
        {"11.csv", "id,n,ok\nB,99,true\n", false},                 /* the deleted key comes back */
        {"12.csv", "id,note\nC,\"\"\n", false},                    /* a quoted empty string */
        {"13.csv", "id,n\nC, 14\n", false},                        /* spaces around a value */
        {"14.csv", "id,zz\nC,1\n", false},                         /* refused: unknown column */
        {"15.ndjson", "{\"id\":\"D\",\"ok\":true,\"d\":\"2024-03-04\"}\n", false},
        {"16.csv", "id,ok,d\nD,false,2024-03-05\nA,true,2024-01-02\n", false},
        {"17.csv", "n\n5\n", false}, /* refused: no key column */
        /* text columns only (no typing statement): the insert event's JSON written in C */
        {"18.csv",
         "id,note\nS,\"a\x01b\x1f\tc/d \xc3\xa9 \xe2\x80\xa8 \\ \"\"q\"\" \x7f\"\n"
         "T,\"line\nbreak\"\n",
         false},
        {"19.ndjson", "{\"id\":\"U\",\"note\":\"x\\u0002y\\\"z\"}\n{\"id\":\"S\",\"note\":null}\n",
         false},
    };
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        char label[32];
        snprintf(label, sizeof label, "step %zu", i + 1);
        both_ways(f, steps[i].name, steps[i].data, steps[i].del, label);
    }
    char *js = both_journals_match(f);
    assert_non_null(strstr(js, "Z|*|~|{\"id\":\"Z\",\"n\":7,\"x\":2.5,\"d\":\"2024-02-29\",\"ok\":"
                               "true,\"note\":\"new\"}|insert"));
    free(js);
}

/* Appends v to a CSV line: bare when the reader takes it as is, else quoted (quotes doubled);
 * NULL is an empty field. Quotes plain values now and then too. */
static void csv_value(lh_buf *b, const char *v, unsigned *seed)
{
    if (!v) return;
    bool quote = strpbrk(v, ",\"\r\n") || !*v || v[0] == ' ' || rand_r(seed) % 5 == 0;
    if (!quote) {
        lh_buf_puts(b, v);
        return;
    }
    lh_buf_putc(b, '"');
    for (const char *p = v; *p; p++) {
        if (*p == '"') lh_buf_putc(b, '"');
        lh_buf_putc(b, *p);
    }
    lh_buf_putc(b, '"');
}

/* Random small inputs, CSV and NDJSON, upserts and deletes, with values meant to find where
 * the two paths could part: numbers that are one value in two texts, text that needs quoting,
 * spaces, bad values, missing keys, repeated keys. Both paths must agree on every one. (It
 * found that the log's flush turned a -0.0 into 0.0: a window in SQL picked each key's newest
 * row, and DuckDB drops the sign when a window passes the value through a table.) */
static void test_small_upserts_match_the_general_path_on_random_inputs(void **state)
{
    fx *f = *state;
    both_start(f);
    static const char *const keys[] = {"A", "B", "C", "D", "E", "F", "G", "A", "B"};
    static const char *const cols[] = {"n", "x", "d", "ok", "note"};
    static const char *const pool[5][10] = {
        {"1", "42", "-7", "0", "abc", "1.5", " 3", "", "99", "5"},
        {"1.5", "-0.0", "0.0", "0", "1e3", "1000", "abc", "", "2.50", "-0.25"},
        {"2024-01-02", "2024-02-30", "2024-02-29", "", "2024-01-03", "x", "2024-01-02",
         "2023-12-31", "2024-1-2", "2024-01-04"},
        {"true", "false", "t", "TRUE", "", "0", "1", "maybe", "false", "true"},
        {"plain", "with, comma", "quote \"q\"", "line\nbreak", " spaced ", "\xc3\xa9t\xc3\xa9", "",
         "a\tb", "first", "slash/back\\"},
    };
    unsigned seed = 20261203;
    for (int step = 0; step < 120; step++) {
        bool ndjson = rand_r(&seed) % 3 == 0, del = rand_r(&seed) % 6 == 0;
        size_t nrows = 1 + (size_t)rand_r(&seed) % 3;
        bool use[5];
        for (int c = 0; c < 5; c++)
            use[c] = !del && rand_r(&seed) % 2;
        lh_buf b = {0};
        if (!ndjson) {
            lh_buf_puts(&b, "id");
            for (int c = 0; c < 5; c++)
                if (use[c]) lh_buf_printf(&b, ",%s", cols[c]);
        }
        const char *eol = rand_r(&seed) % 4 ? "\n" : "\r\n";
        if (!ndjson) lh_buf_puts(&b, eol);
        for (size_t r = 0; r < nrows; r++) {
            const char *k = rand_r(&seed) % 25 ? keys[rand_r(&seed) % 9] : "";
            if (ndjson) {
                json_t *o = json_object();
                if (*k) json_object_set_new(o, "id", json_string(k));
                for (int c = 0; c < 5; c++) {
                    if (!use[c] || rand_r(&seed) % 4 == 0) continue; /* a field left out */
                    const char *v = pool[c][rand_r(&seed) % 10];
                    json_t *x = rand_r(&seed) % 6 == 0 ? json_null() : json_string(v);
                    if (c == 0 && rand_r(&seed) % 2) { /* a number as a number */
                        json_decref(x);
                        x = json_integer(rand_r(&seed) % 50 - 10);
                    } else if (c == 1 && rand_r(&seed) % 2) {
                        json_decref(x);
                        x = json_real((double)(rand_r(&seed) % 400) / 8 - 20);
                    } else if (c == 3 && rand_r(&seed) % 2) {
                        json_decref(x);
                        x = json_boolean(rand_r(&seed) % 2);
                    }
                    json_object_set_new(o, cols[c], x);
                }
                char *line = json_dumps(o, JSON_COMPACT);
                lh_buf_printf(&b, "%s\n", line);
                free(line);
                json_decref(o);
                continue;
            }
            csv_value(&b, *k ? k : NULL, &seed);
            for (int c = 0; c < 5; c++) {
                if (!use[c]) continue;
                lh_buf_putc(&b, ',');
                const char *v = pool[c][rand_r(&seed) % 10];
                csv_value(&b, *v ? v : NULL, &seed);
            }
            lh_buf_puts(&b, eol);
        }
        char name[32], label[32];
        snprintf(name, sizeof name, "r%d.%s", step, ndjson ? "ndjson" : "csv");
        snprintf(label, sizeof label, "random step %d", step);
        both_ways(f, name, b.data, del, label);
        lh_buf_free(&b);
    }
    free(both_journals_match(f));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_merge_on_read_matches_rewrite_oracle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_upserts_match_rewrite_oracle, setup_wal, teardown),
        cmocka_unit_test_setup_teardown(test_wal_upserts_with_hot_current_rows_match_oracle,
                                        setup_wal, teardown),
        cmocka_unit_test_setup_teardown(test_reused_statements_see_new_nulls, setup_wal, teardown),
        cmocka_unit_test_setup_teardown(test_small_upserts_match_the_general_path, setup_wal,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_small_upserts_match_the_general_path_on_random_inputs,
                                        setup_wal, teardown),
        cmocka_unit_test_setup_teardown(test_upsert_never_rewrites_base_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_with_key_filter_matches_the_full_merge, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_catalog_rows_count_logical_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_view_follows_each_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upsert_widens_nullability_deletes_do_not, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_delta_table_follows_upserts_without_recreating_the_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_batch_upsert_and_pure_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upsert_bad_input_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_upsert_duplicates_last_wins_and_absent_deletes_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_primary_key_refused_on_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_records_old_and_new_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_travel_returns_exact_earlier_rows, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_compaction_keeps_rows_and_old_versions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_upsert_compacts_past_the_delta_threshold, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_journal_rollup_keeps_every_event, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cache_refuses_pin_past_budget_and_never_serves_stale_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_follows_commits_and_never_serves_stale_rows,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_admits_datasets_looked_up_by_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cache_eviction_moves_the_view_back_to_parquet, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
