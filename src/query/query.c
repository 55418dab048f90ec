/* The query engine: sandboxed DuckDB, one view per dataset, pooled connections, timeouts. */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "query/query_int.h"

#define SYNC_INTERVAL_NS (1000ULL * 1000 * 1000)
#define FLUSH_BYTES (256 * 1024)

typedef struct view {
    char *name;
    int64_t version;
} view;

/* A result column set: serializers and names. */
typedef struct columns {
    idx_t n;
    lh_coldesc *desc;
    char **names;
} columns;

/* A checked, prepared statement kept for reuse on its connection. DuckDB binds a statement
 * again on every execution when it scans Parquet, so preparing (for the checks and the
 * column types) and then executing costs two binds; a cached statement costs one. */
typedef struct stmt {
    char *sql; /* the caller's text; NULL = free slot */
    lh_query_format fmt;
    int64_t limit; /* JSON: the row limit built into the statement */
    uint64_t gen;  /* view generation it was prepared against */
    uint64_t used; /* LRU tick */
    bool materialize;
    duckdb_prepared_statement ps;
    columns cols;
} stmt;

#define STMT_CACHE 16

/* A pooled connection with its statement cache; used by one thread at a time. */
typedef struct qconn {
    duckdb_connection c;
    stmt cache[STMT_CACHE];
    uint64_t tick;
} qconn;

/* A query the watchdog may interrupt. Lives on the running thread's stack. */
typedef struct running {
    duckdb_connection conn;
    uint64_t deadline_ns;
    bool fired;
    struct running *next;
} running;

struct lh_query {
    lh_catalog *cat;
    lh_storage *st;
    char *data_dir;  /* realpath of the lake folder */
    char *cache_dir; /* realpath of the cache folder */
    int64_t row_limit;
    int timeout_ms;
    duckdb_database db;

    pthread_mutex_t views_mu; /* guards admin, views, nviews, last_sync_ns */
    duckdb_connection admin;  /* DDL (views) only */
    view *views;
    size_t nviews;
    uint64_t last_sync_ns;

    uint64_t view_gen; /* bumped on every view change (atomic): invalidates cached statements */

    pthread_mutex_t pool_mu; /* guards free_conns, nfree, cap */
    qconn **free_conns;
    size_t nfree, cap;

    pthread_mutex_t wd_mu; /* guards running_list, wd_stop */
    pthread_cond_t wd_cv;
    running *running_list;
    bool wd_stop;
    pthread_t wd_thread;
    bool wd_started;
};

/* ------------------------------------------------------------ watchdog */

static void *watchdog_main(void *arg)
{
    lh_query *q = arg;
    pthread_mutex_lock(&q->wd_mu);
    while (!q->wd_stop) {
        uint64_t now = lh_now_ns(), next = now + 100000000ULL;
        for (running *r = q->running_list; r; r = r->next) {
            if (!r->fired && r->deadline_ns <= now) {
                duckdb_interrupt(r->conn);
                r->fired = true;
            } else if (!r->fired && r->deadline_ns < next) {
                next = r->deadline_ns;
            }
        }
        /* Sleep until the earliest deadline (monotonic clock in ns → CLOCK_MONOTONIC). */
        struct timespec ts = {.tv_sec = (time_t)(next / 1000000000ULL),
                              .tv_nsec = (long)(next % 1000000000ULL)};
        pthread_cond_timedwait(&q->wd_cv, &q->wd_mu, &ts);
    }
    pthread_mutex_unlock(&q->wd_mu);
    return NULL;
}

static void watch(lh_query *q, running *r, duckdb_connection conn, int timeout_ms)
{
    r->conn = conn;
    r->deadline_ns = lh_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
    r->fired = false;
    pthread_mutex_lock(&q->wd_mu);
    r->next = q->running_list;
    q->running_list = r;
    pthread_cond_signal(&q->wd_cv);
    pthread_mutex_unlock(&q->wd_mu);
}

static bool unwatch(lh_query *q, running *r)
{
    pthread_mutex_lock(&q->wd_mu);
    for (running **pp = &q->running_list; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    bool fired = r->fired;
    pthread_mutex_unlock(&q->wd_mu);
    return fired;
}

/* ---------------------------------------------------------- connections */

static void columns_free(columns *c);

static void stmt_clear(stmt *e)
{
    if (e->ps) duckdb_destroy_prepare(&e->ps);
    columns_free(&e->cols);
    free(e->sql);
    memset(e, 0, sizeof(*e));
}

static void qconn_free(qconn *c)
{
    if (!c) return;
    for (int i = 0; i < STMT_CACHE; i++)
        stmt_clear(&c->cache[i]);
    duckdb_disconnect(&c->c);
    free(c);
}

static int conn_get(lh_query *q, qconn **out, lh_error *err)
{
    pthread_mutex_lock(&q->pool_mu);
    if (q->nfree) {
        *out = q->free_conns[--q->nfree];
        pthread_mutex_unlock(&q->pool_mu);
        return LH_OK;
    }
    pthread_mutex_unlock(&q->pool_mu);
    qconn *c = lh_calloc(1, sizeof(*c));
    if (duckdb_connect(q->db, &c->c) != DuckDBSuccess) {
        free(c);
        return lh_error_set(err, LH_EINTERNAL, "query engine: cannot open a DuckDB connection");
    }
    *out = c;
    return LH_OK;
}

static void conn_put(lh_query *q, qconn *c)
{
    pthread_mutex_lock(&q->pool_mu);
    if (q->nfree == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 8;
        q->free_conns = lh_realloc(q->free_conns, q->cap * sizeof(*q->free_conns));
    }
    q->free_conns[q->nfree++] = c;
    pthread_mutex_unlock(&q->pool_mu);
}

/* ---------------------------------------------------------------- views */

static view *view_find(lh_query *q, const char *name)
{
    for (size_t i = 0; i < q->nviews; i++)
        if (strcmp(q->views[i].name, name) == 0) return &q->views[i];
    return NULL;
}

static void view_remove(lh_query *q, const char *name)
{
    view *v = view_find(q, name);
    if (!v) return;
    free(v->name);
    *v = q->views[--q->nviews];
    __atomic_add_fetch(&q->view_gen, 1, __ATOMIC_RELEASE);
}

/* Creates or replaces the view of m. Caller holds views_mu. */
static int view_install(lh_query *q, const lh_manifest *m, lh_error *err)
{
    lh_buf sql = {0};
    int rc = LH_OK;
    lh_buf_puts(&sql, "CREATE OR REPLACE VIEW ");
    lh_sql_ident(&sql, m->dataset);
    if (m->nfiles == 0) {
        /* A dataset without files: an empty relation with its columns. */
        lh_buf_puts(&sql, " AS SELECT ");
        for (size_t i = 0; i < m->ncolumns; i++) {
            lh_buf_printf(&sql, "%sNULL::%s AS ", i ? ", " : "", m->columns[i].type);
            lh_sql_ident(&sql, m->columns[i].name);
        }
        if (m->ncolumns == 0) lh_buf_puts(&sql, "NULL AS empty");
        lh_buf_puts(&sql, " WHERE false");
    } else {
        lh_buf_puts(&sql, " AS SELECT * FROM read_parquet([");
        for (size_t i = 0; i < m->nfiles; i++) {
            char path[PATH_MAX];
            if (!lh_storage_local_path(q->st, m->files[i].key, path, sizeof(path))) {
                rc = lh_error_set(err, LH_EUNSUPPORTED,
                                  "dataset '%s': file %s has no local copy for the query engine",
                                  m->dataset, m->files[i].key);
                goto done;
            }
            if (i) lh_buf_puts(&sql, ", ");
            lh_sql_quote(&sql, path);
        }
        lh_buf_puts(&sql, "])");
    }
    rc = lh_duckdb_exec(q->admin, sql.data, "create view", err);
    if (rc) {
        lh_error_prefix(err, "dataset '%s'", m->dataset);
        goto done;
    }
    view *v = view_find(q, m->dataset);
    if (!v) {
        q->views = lh_realloc(q->views, (q->nviews + 1) * sizeof(*q->views));
        v = &q->views[q->nviews++];
        v->name = lh_strdup(m->dataset);
    }
    v->version = m->version;
    __atomic_add_fetch(&q->view_gen, 1, __ATOMIC_RELEASE);
done:
    lh_buf_free(&sql);
    return rc;
}

static int refresh_locked(lh_query *q, const char *dataset, lh_error *err)
{
    lh_manifest *m = NULL;
    int rc = lh_catalog_get(q->cat, &lh_identity_default, dataset, 0, &m, err);
    if (rc == LH_ENOENT) {
        lh_buf sql = {0};
        lh_buf_puts(&sql, "DROP VIEW IF EXISTS ");
        lh_sql_ident(&sql, dataset);
        lh_error_clear(err);
        rc = lh_duckdb_exec(q->admin, sql.data, "drop view", err);
        lh_buf_free(&sql);
        view_remove(q, dataset);
        return rc;
    }
    if (rc) return rc;
    view *v = view_find(q, dataset);
    if (!v || v->version != m->version) rc = view_install(q, m, err);
    lh_manifest_free(m);
    return rc;
}

int lh_query_refresh(lh_query *q, const char *dataset, lh_error *err)
{
    pthread_mutex_lock(&q->views_mu);
    int rc = refresh_locked(q, dataset, err);
    pthread_mutex_unlock(&q->views_mu);
    return rc;
}

static int sync_locked(lh_query *q, lh_error *err)
{
    char **names = NULL;
    size_t n = 0;
    int rc = lh_catalog_list(q->cat, &lh_identity_default, &names, &n, err);
    if (rc) return rc;
    /* Drop views of datasets that are gone. */
    for (size_t i = 0; i < q->nviews;) {
        bool found = false;
        for (size_t j = 0; j < n && !found; j++)
            found = strcmp(names[j], q->views[i].name) == 0;
        if (found) {
            i++;
            continue;
        }
        char *gone = lh_strdup(q->views[i].name);
        refresh_locked(q, gone, NULL);
        free(gone);
    }
    for (size_t j = 0; j < n; j++) {
        lh_error e = {0};
        /* One broken dataset must not hide the others: log it and go on. */
        if (refresh_locked(q, names[j], &e))
            lh_log(LH_LOG_WARN, "query.view_failed", "dataset", names[j], "error", e.msg, NULL);
    }
    lh_catalog_names_free(names, n);
    q->last_sync_ns = lh_now_ns();
    return LH_OK;
}

uint64_t lh_query_view_generation(lh_query *q)
{
    return __atomic_load_n(&q->view_gen, __ATOMIC_ACQUIRE);
}

int lh_query_sync(lh_query *q, lh_error *err)
{
    int rc = LH_OK;
    pthread_mutex_lock(&q->views_mu);
    if (lh_now_ns() - q->last_sync_ns >= SYNC_INTERVAL_NS) rc = sync_locked(q, err);
    pthread_mutex_unlock(&q->views_mu);
    return rc;
}

/* ------------------------------------------------------------ open/close */

static int setup_sandbox(lh_query *q, const lh_config *cfg, lh_error *err)
{
    lh_buf sql = {0};
    int rc;
    int threads = cfg->query_threads > 0 ? cfg->query_threads : lh_cpu_count();
    int64_t mem_mb = cfg->query_memory_mb > 0 ? cfg->query_memory_mb : 1024;
    char *tmp = lh_path_join(q->cache_dir, "duckdb_tmp");
    char *data = lh_path_join(q->data_dir, "data");
    if ((rc = lh_mkdir_p(tmp, err)) || (rc = lh_mkdir_p(data, err))) goto done;
    /* Order matters: everything is configured first, then file access is narrowed to the
     * lake's data files and the cache, then the configuration is locked for good. */
    lh_buf_printf(&sql, "SET threads=%d; SET memory_limit='%" PRId64 "MB'; ", threads, mem_mb);
    lh_buf_puts(&sql, "SET temp_directory=");
    lh_sql_quote(&sql, tmp);
    lh_buf_puts(&sql, "; SET autoinstall_known_extensions=false; "
                      "SET autoload_known_extensions=false; SET parquet_metadata_cache=true; "
                      "SET enable_progress_bar=false; SET allowed_directories=[");
    lh_sql_quote(&sql, data);
    lh_buf_puts(&sql, ", ");
    lh_sql_quote(&sql, tmp);
    lh_buf_puts(&sql, "]; SET enable_external_access=false; SET lock_configuration=true;");
    rc = lh_duckdb_exec(q->admin, sql.data, "query engine sandbox", err);
done:
    free(tmp);
    free(data);
    lh_buf_free(&sql);
    return rc;
}

static char *real_dir(const char *path, lh_error *err)
{
    if (lh_mkdir_p(path, err)) return NULL;
    char *r = realpath(path, NULL);
    if (!r) lh_error_set(err, LH_EIO, "%s: cannot resolve path", path);
    return r;
}

int lh_query_open(lh_catalog *cat, const lh_config *cfg, lh_query **out, lh_error *err)
{
    int rc;
    *out = NULL;
    if ((rc = lh_duckdb_check_version(err))) return rc;
    lh_query *q = lh_calloc(1, sizeof(*q));
    q->cat = cat;
    q->st = lh_catalog_storage(cat);
    q->row_limit = cfg->query_row_limit > 0 ? cfg->query_row_limit : 10000;
    q->timeout_ms = cfg->query_timeout_ms > 0 ? cfg->query_timeout_ms : 30000;
    pthread_mutex_init(&q->views_mu, NULL);
    pthread_mutex_init(&q->pool_mu, NULL);
    pthread_mutex_init(&q->wd_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->wd_cv, &ca);
    pthread_condattr_destroy(&ca);

    rc = LH_EIO;
    if (!(q->data_dir = real_dir(cfg->data_dir, err))) goto fail;
    if (!(q->cache_dir = real_dir(cfg->cache_dir ? cfg->cache_dir : cfg->data_dir, err))) goto fail;
    rc = LH_EINTERNAL;
    if (duckdb_open(NULL, &q->db) != DuckDBSuccess) {
        lh_error_set(err, rc, "query engine: cannot open DuckDB");
        goto fail;
    }
    if (duckdb_connect(q->db, &q->admin) != DuckDBSuccess) {
        lh_error_set(err, rc, "query engine: cannot connect to DuckDB");
        goto fail;
    }
    if ((rc = setup_sandbox(q, cfg, err))) goto fail;
    pthread_mutex_lock(&q->views_mu);
    rc = sync_locked(q, err);
    pthread_mutex_unlock(&q->views_mu);
    if (rc) goto fail;
    if (pthread_create(&q->wd_thread, NULL, watchdog_main, q) != 0) {
        rc = lh_error_set(err, LH_EINTERNAL, "query engine: cannot start the timeout watchdog");
        goto fail;
    }
    q->wd_started = true;
    *out = q;
    return LH_OK;
fail:
    lh_query_close(q);
    return rc;
}

void lh_query_close(lh_query *q)
{
    if (!q) return;
    if (q->wd_started) {
        pthread_mutex_lock(&q->wd_mu);
        q->wd_stop = true;
        pthread_cond_signal(&q->wd_cv);
        pthread_mutex_unlock(&q->wd_mu);
        pthread_join(q->wd_thread, NULL);
    }
    for (size_t i = 0; i < q->nfree; i++)
        qconn_free(q->free_conns[i]);
    free(q->free_conns);
    if (q->admin) duckdb_disconnect(&q->admin);
    if (q->db) duckdb_close(&q->db);
    for (size_t i = 0; i < q->nviews; i++)
        free(q->views[i].name);
    free(q->views);
    free(q->data_dir);
    free(q->cache_dir);
    pthread_mutex_destroy(&q->views_mu);
    pthread_mutex_destroy(&q->pool_mu);
    pthread_mutex_destroy(&q->wd_mu);
    pthread_cond_destroy(&q->wd_cv);
    free(q);
}

/* -------------------------------------------------------------- checking */

/* Skips white space, comments and opening parentheses; returns the next word (upper-cased
 * into word) and where it ends. */
static const char *next_word(const char *p, char *word, size_t n)
{
    for (;;) {
        while (*p && (isspace((unsigned char)*p) || *p == '('))
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
        } else {
            break;
        }
    }
    size_t i = 0;
    while ((isalpha((unsigned char)*p) || *p == '_') && i + 1 < n)
        word[i++] = (char)toupper((unsigned char)*p++);
    word[i] = 0;
    return p;
}

/* The first keyword must start a read-only statement. This runs before DuckDB sees the
 * text: some statement kinds misbehave inside DuckDB's prepare (EXECUTE of an unknown
 * prepared statement aborts the process), so only known-safe kinds reach it. */
static int lexical_check(const char *sql, lh_error *err)
{
    static const char *allowed[] = {"SELECT",  "WITH",     "FROM",      "VALUES", "TABLE",
                                    "EXPLAIN", "DESCRIBE", "SUMMARIZE", "SHOW",   NULL};
    char word[32];
    const char *p = next_word(sql, word, sizeof(word));
    if (!word[0]) return lh_error_set(err, LH_EINVAL, "sql: empty statement (expected SELECT ...)");
    if (strcmp(word, "EXPLAIN") == 0) {
        p = next_word(p, word, sizeof(word));
        if (strcmp(word, "ANALYZE") == 0 || strcmp(word, "ANALYSE") == 0)
            p = next_word(p, word, sizeof(word));
        if (strcmp(word, "EXPLAIN") == 0) word[0] = 0;
    }
    for (int i = 0; allowed[i]; i++)
        if (strcmp(word, allowed[i]) == 0) return LH_OK;
    return lh_error_set(err, LH_EDENIED,
                        "sql: %s statements are not allowed: only read-only queries (SELECT, "
                        "WITH, FROM, VALUES, TABLE, EXPLAIN, DESCRIBE, SHOW, SUMMARIZE) are "
                        "accepted",
                        word[0] ? word : "this kind of");
}

static const char *statement_kind(duckdb_statement_type t)
{
    static const char *names[] = {"INVALID",      "SELECT",       "INSERT",          "UPDATE",
                                  "EXPLAIN",      "DELETE",       "PREPARE",         "CREATE",
                                  "EXECUTE",      "ALTER",        "TRANSACTION",     "COPY",
                                  "ANALYZE",      "VARIABLE SET", "CREATE FUNCTION", "DROP",
                                  "EXPORT",       "PRAGMA",       "VACUUM",          "CALL",
                                  "SET",          "LOAD/INSTALL", "RELATION",        "EXTENSION",
                                  "LOGICAL PLAN", "ATTACH",       "DETACH",          "MULTI"};
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "UNKNOWN";
}

/* Prepares sql on conn after the lexical and statement-kind checks. */
static int prepare_checked(duckdb_connection conn, const char *sql, duckdb_prepared_statement *out,
                           lh_error *err)
{
    duckdb_extracted_statements ex = NULL;
    int rc;
    *out = NULL;
    size_t bad;
    if (!lh_utf8_valid(sql, strlen(sql), &bad))
        return lh_error_set(err, LH_EINVAL, "sql: invalid UTF-8 at byte %zu", bad);
    if ((rc = lexical_check(sql, err))) return rc;
    idx_t n = duckdb_extract_statements(conn, sql, &ex);
    if (n == 0) {
        const char *m = duckdb_extract_statements_error(ex);
        rc = lh_error_set(err, LH_EINVAL, "sql: %s", m ? m : "cannot parse the statement");
        goto done;
    }
    if (n > 1) {
        rc = lh_error_set(err, LH_EDENIED,
                          "sql: %llu statements given; send one statement per request",
                          (unsigned long long)n);
        goto done;
    }
    if (duckdb_prepare_extracted_statement(conn, ex, 0, out) != DuckDBSuccess) {
        const char *m = duckdb_prepare_error(*out);
        rc = lh_error_set(err, m && strstr(m, "Permission Error") ? LH_EDENIED : LH_EINVAL,
                          "sql: %s", m ? m : "cannot prepare the statement");
        goto done;
    }
    duckdb_statement_type t = duckdb_prepared_statement_type(*out);
    if (t != DUCKDB_STATEMENT_TYPE_SELECT && t != DUCKDB_STATEMENT_TYPE_EXPLAIN) {
        rc = lh_error_set(err, LH_EDENIED,
                          "sql: %s statements are not allowed: only read-only queries are "
                          "accepted",
                          statement_kind(t));
        goto done;
    }
    rc = LH_OK;
done:
    if (rc && *out) duckdb_destroy_prepare(out);
    if (ex) duckdb_destroy_extracted(&ex);
    return rc;
}

int lh_query_check(lh_query *q, const char *sql, lh_error *err)
{
    qconn *conn;
    duckdb_prepared_statement ps = NULL;
    int rc = conn_get(q, &conn, err);
    if (rc) return rc;
    rc = prepare_checked(conn->c, sql, &ps, err);
    if (ps) duckdb_destroy_prepare(&ps);
    conn_put(q, conn);
    return rc;
}

/* ------------------------------------------------------------------ run */

static void columns_free(columns *c)
{
    for (idx_t i = 0; i < c->n; i++) {
        lh_coldesc_free(&c->desc[i]);
        free(c->names[i]);
    }
    free(c->desc);
    free(c->names);
    memset(c, 0, sizeof(*c));
}

/* Describes the prepared statement's columns; returns true if all have serializers,
 * otherwise fills cast[i] for the columns to read as VARCHAR. */
static bool columns_init(columns *c, duckdb_prepared_statement ps, bool *cast)
{
    bool all = true;
    c->n = duckdb_prepared_statement_column_count(ps);
    c->desc = lh_calloc(c->n ? c->n : 1, sizeof(lh_coldesc));
    c->names = lh_calloc(c->n ? c->n : 1, sizeof(char *));
    for (idx_t i = 0; i < c->n; i++) {
        duckdb_logical_type t = duckdb_prepared_statement_column_logical_type(ps, i);
        char *nm = (char *)duckdb_prepared_statement_column_name(ps, i); /* duckdb_free */
        c->names[i] = lh_strdup(nm ? nm : "");
        duckdb_free(nm);
        bool ok = lh_coldesc_init(&c->desc[i], t);
        duckdb_destroy_logical_type(&t);
        if (cast) cast[i] = !ok;
        all = all && ok;
    }
    return all;
}

typedef struct writer {
    lh_query_format fmt;
    lh_buf out;
    lh_query_sink sink;
    void *ctx;
    bool sink_failed;
    int64_t rows;
} writer;

static void w_flush(writer *w)
{
    if (w->out.len && !w->sink_failed && w->sink(w->ctx, w->out.data, w->out.len) != 0)
        w->sink_failed = true;
    lh_buf_reset(&w->out);
}

static void w_header(writer *w, const columns *c)
{
    if (w->fmt == LH_QUERY_JSON) {
        lh_buf_puts(&w->out, "{\"columns\":[");
        for (idx_t i = 0; i < c->n; i++) {
            lh_buf_puts(&w->out, i ? ",{\"name\":" : "{\"name\":");
            lh_buf_json_str(&w->out, c->names[i], strlen(c->names[i]));
            lh_buf_puts(&w->out, ",\"type\":");
            lh_buf_json_str(&w->out, c->desc[i].type_name, strlen(c->desc[i].type_name));
            lh_buf_putc(&w->out, '}');
        }
        lh_buf_puts(&w->out, "],\"rows\":[");
    } else if (w->fmt == LH_QUERY_CSV) {
        for (idx_t i = 0; i < c->n; i++) {
            if (i) lh_buf_putc(&w->out, ',');
            lh_csv_field(&w->out, c->names[i], strlen(c->names[i]));
        }
        lh_buf_putc(&w->out, '\n');
    }
}

static void w_row(writer *w, const columns *c, duckdb_data_chunk chunk, idx_t row, lh_buf *tmp)
{
    if (w->fmt == LH_QUERY_JSON) {
        lh_buf_puts(&w->out, w->rows ? ",[" : "[");
        for (idx_t i = 0; i < c->n; i++) {
            if (i) lh_buf_putc(&w->out, ',');
            lh_value_write(&w->out, &c->desc[i], duckdb_data_chunk_get_vector(chunk, i), row, true);
        }
        lh_buf_putc(&w->out, ']');
    } else if (w->fmt == LH_QUERY_NDJSON) {
        lh_buf_putc(&w->out, '{');
        for (idx_t i = 0; i < c->n; i++) {
            if (i) lh_buf_putc(&w->out, ',');
            lh_buf_json_str(&w->out, c->names[i], strlen(c->names[i]));
            lh_buf_putc(&w->out, ':');
            lh_value_write(&w->out, &c->desc[i], duckdb_data_chunk_get_vector(chunk, i), row, true);
        }
        lh_buf_puts(&w->out, "}\n");
    } else {
        for (idx_t i = 0; i < c->n; i++) {
            if (i) lh_buf_putc(&w->out, ',');
            lh_buf_reset(tmp);
            lh_value_write(tmp, &c->desc[i], duckdb_data_chunk_get_vector(chunk, i), row, false);
            lh_csv_field(&w->out, tmp->data ? tmp->data : "", tmp->len);
        }
        lh_buf_putc(&w->out, '\n');
    }
    w->rows++;
}

/* Wraps sql as a subquery: the flagged columns come back as VARCHAR (by position, so
 * duplicate or odd column names do not matter) and, with limit > 0, at most limit rows. */
static char *wrap_query(const char *sql, const columns *c, const bool *cast, int64_t limit)
{
    lh_buf b = {0};
    lh_buf_puts(&b, "SELECT ");
    for (idx_t i = 0; i < c->n; i++) {
        if (i) lh_buf_puts(&b, ", ");
        if (cast[i])
            lh_buf_printf(&b, "CAST(#%llu AS VARCHAR)", (unsigned long long)(i + 1));
        else
            lh_buf_printf(&b, "#%llu", (unsigned long long)(i + 1));
        lh_buf_puts(&b, " AS ");
        lh_sql_ident(&b, c->names[i]);
    }
    lh_buf_puts(&b, " FROM (");
    lh_buf_puts(&b, sql);
    lh_buf_puts(&b, "\n)");
    if (limit > 0) lh_buf_printf(&b, " LIMIT %" PRId64, limit);
    return lh_buf_steal(&b);
}

/* True if sql is a query expression that can stand as a subquery (not EXPLAIN, DESCRIBE,
 * SHOW or SUMMARIZE). */
static bool is_query_expression(const char *sql)
{
    static const char *kinds[] = {"SELECT", "WITH", "FROM", "VALUES", "TABLE", NULL};
    char word[32];
    next_word(sql, word, sizeof(word));
    for (int i = 0; kinds[i]; i++)
        if (strcmp(word, kinds[i]) == 0) return true;
    return false;
}

/* Finds or prepares the statement for (sql, format, limit) on c. JSON results are bounded:
 * the statement asks for limit + 1 rows (to tell truncation) and runs materialized, which
 * lets DuckDB collect the result in parallel; streamed formats run streaming. */
static int stmt_get(lh_query *q, qconn *c, const char *sql, lh_query_format fmt, int64_t limit,
                    stmt **out, lh_error *err)
{
    uint64_t gen = __atomic_load_n(&q->view_gen, __ATOMIC_ACQUIRE);
    int64_t key_limit = fmt == LH_QUERY_JSON ? limit : 0;
    stmt *victim = &c->cache[0];
    for (int i = 0; i < STMT_CACHE; i++) {
        stmt *e = &c->cache[i];
        if (e->sql && e->fmt == fmt && e->limit == key_limit && strcmp(e->sql, sql) == 0) {
            if (e->gen == gen) {
                e->used = ++c->tick;
                *out = e;
                return LH_OK;
            }
            victim = e; /* stale: the views changed since it was prepared */
            break;
        }
        if (!e->sql || (victim->sql && e->used < victim->used)) victim = e;
    }
    stmt_clear(victim);

    duckdb_prepared_statement ps = NULL;
    int rc = prepare_checked(c->c, sql, &ps, err);
    if (rc) return rc;
    columns cols = {0};
    bool *cast = lh_calloc(duckdb_prepared_statement_column_count(ps) + 1, sizeof(bool));
    bool all_native = columns_init(&cols, ps, cast);
    bool subquery = is_query_expression(sql);
    bool materialize = fmt == LH_QUERY_JSON && subquery;
    if (!all_native || materialize) {
        /* EXPLAIN and friends cannot be wrapped; their results are small and their columns
         * plain text, so they run as they are. */
        char *wrapped = subquery ? wrap_query(sql, &cols, cast, materialize ? limit + 1 : 0) : NULL;
        duckdb_prepared_statement wps = NULL;
        if (wrapped && duckdb_prepare(c->c, wrapped, &wps) == DuckDBSuccess) {
            duckdb_destroy_prepare(&ps);
            ps = wps;
            columns_free(&cols);
            columns_init(&cols, ps, NULL);
        } else {
            /* Should the wrapper not bind, the statement runs as given: streamed, so the
             * row limit still bounds what is kept; without its casts it cannot be shown. */
            if (wrapped) duckdb_destroy_prepare(&wps);
            materialize = false;
            if (!all_native)
                rc = lh_error_set(err, LH_EUNSUPPORTED,
                                  "sql: the result has a column type that cannot be returned; "
                                  "cast it to VARCHAR");
        }
        free(wrapped);
    }
    if (rc) duckdb_destroy_prepare(&ps);
    free(cast);
    if (rc) {
        columns_free(&cols);
        return rc;
    }
    victim->sql = lh_strdup(sql);
    victim->fmt = fmt;
    victim->limit = key_limit;
    victim->gen = gen;
    victim->used = ++c->tick;
    victim->materialize = materialize;
    victim->ps = ps;
    victim->cols = cols;
    *out = victim;
    return LH_OK;
}

int lh_query_run(lh_query *q, const lh_identity *who, const char *sql, const lh_query_opts *opts,
                 lh_query_sink sink, void *sink_ctx, lh_query_stats *stats, lh_error *err)
{
    static const lh_query_opts defaults = {0};
    if (!opts) opts = &defaults;
    uint64_t t0 = lh_now_ns();
    qconn *conn = NULL;
    stmt *st = NULL;
    duckdb_result res;
    bool have_res = false;
    writer w = {.fmt = opts->format, .sink = sink, .ctx = sink_ctx};
    lh_buf tmp = {0};
    running watch_entry;
    bool watching = false;
    bool truncated = false;
    int64_t limit = opts->row_limit > 0 ? opts->row_limit : q->row_limit;
    int timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : q->timeout_ms;
    int rc;
    (void)who; /* profile scoping slots in here */

    if ((rc = conn_get(q, &conn, err))) return rc;
    if ((rc = stmt_get(q, conn, sql, w.fmt, limit, &st, err))) goto done;
    const columns *cols = &st->cols;

    watch(q, &watch_entry, conn->c, timeout_ms);
    watching = true;
    duckdb_state state = st->materialize ? duckdb_execute_prepared(st->ps, &res)
                                         : duckdb_execute_prepared_streaming(st->ps, &res);
    have_res = true;
    if (state != DuckDBSuccess) goto query_failed;
    w_header(&w, cols);
    for (;;) {
        duckdb_data_chunk chunk = duckdb_fetch_chunk(res);
        if (!chunk) break;
        idx_t n = duckdb_data_chunk_get_size(chunk);
        if (n == 0) {
            duckdb_destroy_data_chunk(&chunk);
            break;
        }
        if (w.fmt == LH_QUERY_JSON && w.rows >= limit) {
            truncated = true;
            duckdb_destroy_data_chunk(&chunk);
            break;
        }
        for (idx_t r = 0; r < n; r++) {
            if (w.fmt == LH_QUERY_JSON && w.rows >= limit) {
                truncated = true;
                break;
            }
            w_row(&w, cols, chunk, r, &tmp);
        }
        duckdb_destroy_data_chunk(&chunk);
        if (truncated) break;
        /* Streamed formats send once a good amount is ready. Nothing is sent before the
         * first chunk exists, so most errors are reported before any bytes. */
        if (w.fmt != LH_QUERY_JSON && w.out.len >= FLUSH_BYTES) w_flush(&w);
        if (w.sink_failed) break;
    }
    {
        const char *e = duckdb_result_error(&res);
        if (e && *e) goto query_failed;
    }
    if (unwatch(q, &watch_entry)) {
        watching = false;
        if (!truncated) goto timed_out;
    }
    watching = false;
    if (w.fmt == LH_QUERY_JSON) {
        double ms = (double)(lh_now_ns() - t0) / 1e6;
        lh_buf_printf(&w.out, "],\"row_count\":%" PRId64 ",\"truncated\":%s,\"elapsed_ms\":%.3f}",
                      w.rows, truncated ? "true" : "false", ms);
    }
    w_flush(&w);
    rc = w.sink_failed ? lh_error_set(err, LH_ECANCELED, "sql: the client went away") : LH_OK;
    goto done;

query_failed:
    if (watching && unwatch(q, &watch_entry)) {
        watching = false;
        goto timed_out;
    }
    watching = false;
    {
        /* File access outside the sandbox surfaces as DuckDB's "Permission Error". */
        const char *m = duckdb_result_error(&res);
        rc = lh_error_set(err, m && strstr(m, "Permission Error") ? LH_EDENIED : LH_EINVAL,
                          "sql: %s", m ? m : "query failed");
    }
    goto done;
timed_out:
    rc = lh_error_set(err, LH_ETIMEOUT, "sql: the query ran past its time limit of %d ms",
                      timeout_ms);

done:
    if (watching) unwatch(q, &watch_entry);
    if (stats) {
        stats->rows = w.rows;
        stats->truncated = truncated;
        stats->elapsed_ms = (double)(lh_now_ns() - t0) / 1e6;
    }
    if (have_res) duckdb_destroy_result(&res);
    /* A failed execution may leave the statement unusable; prepare it afresh next time. */
    if (rc && st) stmt_clear(st);
    lh_buf_free(&w.out);
    lh_buf_free(&tmp);
    if (conn) conn_put(q, conn);
    return rc;
}

static int buf_sink(void *ctx, const char *data, size_t n)
{
    lh_buf_append(ctx, data, n);
    return 0;
}

int lh_query_json(lh_query *q, const lh_identity *who, const char *sql, int64_t row_limit,
                  char **out_json, lh_error *err)
{
    lh_buf b = {0};
    lh_query_opts o = {.format = LH_QUERY_JSON, .row_limit = row_limit};
    int rc = lh_query_run(q, who, sql, &o, buf_sink, &b, NULL, err);
    if (rc) {
        lh_buf_free(&b);
        *out_json = NULL;
        return rc;
    }
    *out_json = lh_buf_steal(&b);
    return LH_OK;
}

lh_storage *qry_storage(lh_query *q)
{
    return q->st;
}

int qry_scan(lh_query *q, const char *sql, qry_chunk_fn fn, void *ctx, lh_error *err)
{
    qconn *conn = NULL;
    duckdb_prepared_statement ps = NULL;
    duckdb_result res;
    bool have_res = false, watching = false;
    running watch_entry;
    int rc = conn_get(q, &conn, err);
    if (rc) return rc;
    if ((rc = prepare_checked(conn->c, sql, &ps, err))) goto done;
    watch(q, &watch_entry, conn->c, q->timeout_ms);
    watching = true;
    have_res = true;
    if (duckdb_execute_prepared_streaming(ps, &res) != DuckDBSuccess) goto failed;
    for (;;) {
        duckdb_data_chunk chunk = duckdb_fetch_chunk(res);
        if (!chunk) break;
        idx_t n = duckdb_data_chunk_get_size(chunk);
        rc = n ? fn(ctx, chunk, err) : LH_OK;
        duckdb_destroy_data_chunk(&chunk);
        if (rc || n == 0) break;
    }
    if (rc) goto done;
    {
        const char *e = duckdb_result_error(&res);
        if (e && *e) goto failed;
    }
    watching = false;
    if (unwatch(q, &watch_entry)) goto timed_out;
    goto done;
failed:
    watching = false;
    if (unwatch(q, &watch_entry)) goto timed_out;
    {
        const char *m = duckdb_result_error(&res);
        rc = lh_error_set(err, m && strstr(m, "Permission Error") ? LH_EDENIED : LH_EINVAL,
                          "sql: %s", m ? m : "query failed");
    }
    goto done;
timed_out:
    rc = lh_error_set(err, LH_ETIMEOUT, "sql: the query ran past its time limit of %d ms",
                      q->timeout_ms);
done:
    if (watching) unwatch(q, &watch_entry);
    if (have_res) duckdb_destroy_result(&res);
    if (ps) duckdb_destroy_prepare(&ps);
    if (conn) conn_put(q, conn);
    return rc;
}
