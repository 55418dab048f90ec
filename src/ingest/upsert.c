/* Upsert and delete by primary key, primary key declaration, and journal batches.
 *
 * An upsert never rewrites a base file. It reads the input rows into a temp table, checks
 * them (known columns, key present, values of the dataset's types), keeps the last row of
 * each key, looks up the current rows of those keys through the same merge-on-read SQL the
 * query engine uses, and writes two new objects: a delta Parquet file with the resulting
 * whole rows (tagged with the commit version and a deleted flag) and a journal batch (one
 * event per changed field of an updated row, one per inserted or deleted row, holding the
 * row). Both are referenced by one catalog commit, so a reader sees
 * neither or both, and an event is durable before the mutation is acknowledged. A lost
 * commit race redoes the whole computation, because old values and the delta's sequence
 * number depend on the version it builds on. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ingest/ingest_int.h"

#define UPSERT_ATTEMPTS 5
#define SAMPLE_KEYS 5
#define AUTO_COMPACT_MIN_ROWS 10000

/* ------------------------------------------------------------- helpers */

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

int ing_key_parse(const char *spec, const lh_manifest *m, char ***out, size_t *n, lh_error *err)
{
    *out = NULL;
    *n = 0;
    if (!spec || !*spec)
        return lh_error_set(err, LH_EINVAL, "primary key: no column given (expected col[,col])");
    char **v = NULL;
    size_t k = 0;
    const char *p = spec;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' '))
            p++, len--;
        while (len && p[len - 1] == ' ')
            len--;
        char *col = lh_strndup(p, len);
        if (!*col || (m && !lh_manifest_column(m, col))) {
            int rc = lh_error_set(err, LH_EINVAL,
                                  !*col ? "primary key '%s': empty column name"
                                        : "primary key '%s': dataset '%s' has no column '%s'",
                                  spec, m ? m->dataset : "", col);
            free(col);
            strv_free(v, k);
            return rc;
        }
        for (size_t i = 0; i < k; i++)
            if (strcmp(v[i], col) == 0) {
                int rc = lh_error_set(err, LH_EINVAL, "primary key '%s': column '%s' given twice",
                                      spec, col);
                free(col);
                strv_free(v, k);
                return rc;
            }
        v = lh_realloc(v, (k + 1) * sizeof *v);
        v[k++] = col;
        if (!e) break;
        p = e + 1;
    }
    *out = v;
    *n = k;
    return LH_OK;
}

/* Appends the key as text: concat_ws(',', CAST(a.k1 AS VARCHAR), ...). */
static void key_text(lh_buf *b, char *const *key, size_t nkey, const char *alias)
{
    lh_buf_puts(b, "concat_ws(',', ");
    for (size_t i = 0; i < nkey; i++) {
        lh_buf_printf(b, "%sCAST(%s%s", i ? ", " : "", alias ? alias : "", alias ? "." : "");
        lh_sql_ident(b, key[i]);
        lh_buf_puts(b, " AS VARCHAR)");
    }
    lh_buf_putc(b, ')');
}

/* "a, b" for messages. */
static void key_names(lh_buf *b, char *const *key, size_t nkey)
{
    for (size_t i = 0; i < nkey; i++)
        lh_buf_printf(b, "%s%s", i ? ", " : "", key[i]);
}

/* One BIGINT (or VARCHAR) scalar from a query. */
static int scalar_i64(duckdb_connection c, const char *sql, int64_t *out, lh_error *err)
{
    duckdb_result res;
    int rc = ing_query(c, sql, &res, err);
    if (rc) return rc;
    *out = duckdb_row_count(&res) ? duckdb_value_int64(&res, 0, 0) : 0;
    duckdb_destroy_result(&res);
    return LH_OK;
}

static void scalar_str(duckdb_connection c, const char *sql, char *out, size_t n)
{
    duckdb_result res;
    out[0] = 0;
    if (ing_query(c, sql, &res, NULL)) return;
    if (duckdb_row_count(&res)) {
        char *v = duckdb_value_varchar(&res, 0, 0);
        snprintf(out, n, "%s", v ? v : "");
        duckdb_free(v);
    }
    duckdb_destroy_result(&res);
}

int ing_key_check_unique(duckdb_connection c, const char *dataset, const char *rel,
                         char *const *key, size_t nkey, lh_error *err)
{
    lh_buf sql = {0}, cols = {0};
    key_names(&cols, key, nkey);
    int64_t nulls = 0;
    lh_buf_puts(&sql, "SELECT count(*) FROM ");
    lh_buf_puts(&sql, rel);
    lh_buf_puts(&sql, " WHERE ");
    for (size_t i = 0; i < nkey; i++) {
        lh_buf_puts(&sql, i ? " OR " : "");
        lh_sql_ident(&sql, key[i]);
        lh_buf_puts(&sql, " IS NULL");
    }
    int rc = scalar_i64(c, sql.data, &nulls, err);
    if (rc) goto done;
    if (nulls) {
        rc = lh_error_set(err, LH_EINVAL,
                          "dataset '%s': cannot use (%s) as the primary key: %" PRId64
                          " rows have no value for it",
                          dataset, cols.data, nulls);
        goto done;
    }
    lh_buf_reset(&sql);
    lh_buf_puts(&sql, "SELECT count(*), string_agg(k || ' (' || n || ' rows)', ', ') FILTER "
                      "(WHERE rn <= 5) FROM (SELECT k, n, row_number() OVER (ORDER BY n "
                      "DESC, k) AS rn FROM (SELECT ");
    key_text(&sql, key, nkey, NULL);
    lh_buf_puts(&sql, " AS k, count(*) AS n FROM ");
    lh_buf_puts(&sql, rel);
    lh_buf_puts(&sql, " GROUP BY ");
    lh_sql_ident_list(&sql, key, nkey, NULL);
    lh_buf_puts(&sql, " HAVING count(*) > 1))");
    duckdb_result res;
    if ((rc = ing_query(c, sql.data, &res, err))) goto done;
    int64_t dups = duckdb_value_int64(&res, 0, 0);
    char *sample = duckdb_value_varchar(&res, 1, 0);
    if (dups)
        rc = lh_error_set(err, LH_EINVAL,
                          "dataset '%s': cannot use (%s) as the primary key: %" PRId64
                          " key values appear more than once: %s%s",
                          dataset, cols.data, dups, sample ? sample : "",
                          dups > SAMPLE_KEYS ? ", ..." : "");
    duckdb_free(sample);
    duckdb_destroy_result(&res);
done:
    lh_buf_free(&sql);
    lh_buf_free(&cols);
    return rc;
}

int ing_journal_write_rows(lh_ingest *ing, duckdb_connection c, const char *dataset,
                           int64_t version, const char *events_sql, int64_t *nevents,
                           char **out_key, lh_error *err)
{
    char uuid[37];
    lh_uuid(uuid);
    int64_t now = lh_wall_us();
    time_t secs = (time_t)(now / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char *tmp = lh_sprintf("%s/journal-%s.parquet", ing->tmp_dir, uuid);
    char *key = lh_sprintf("_journal/%04d-%02d/batch_%" PRId64 "_%s_v%" PRId64 "_%.8s.parquet",
                           tm.tm_year + 1900, tm.tm_mon + 1, now, dataset, version, uuid);
    lh_buf sql = {0};
    lh_buf_puts(&sql, "COPY (SELECT ts, ");
    lh_sql_quote(&sql, dataset);
    lh_buf_puts(&sql, " AS dataset, ");
    lh_sql_quote(&sql, dataset);
    lh_buf_puts(&sql, " || CASE WHEN key = '' THEN '' ELSE '/' || key END AS entity, key, field, "
                      "old_value, new_value, op, ");
    /* No workspaces yet: the profile is the workspace. Unsorted: readers order by version
     * and time (the journal view, GET /journal, the rollup); sorting a bulk append's 10K
     * events cost 3 ms. */
    lh_buf_printf(&sql,
                  "%" PRId64 "::BIGINT AS version, actor, profile, profile AS workspace_id, "
                  "source, reason FROM (%s)) TO ",
                  version, events_sql);
    lh_sql_quote(&sql, tmp);
    lh_buf_puts(&sql, " (FORMAT parquet, COMPRESSION zstd)");
    duckdb_result res;
    int rc = ing_query(c, sql.data, &res, err);
    if (rc) {
        lh_error_prefix(err, "dataset '%s': writing the journal batch", dataset);
        goto done;
    }
    *nevents = duckdb_value_int64(&res, 0, 0);
    duckdb_destroy_result(&res);
    if ((rc = lh_storage_put_file(ing->st, key, tmp, err))) goto done;
    *out_key = key;
    key = NULL;
done:
    unlink(tmp);
    free(tmp);
    free(key);
    lh_buf_free(&sql);
    return rc;
}

const char *ing_journal_source(const lh_identity *who, const char *source)
{
    /* Without a caller-given source, the channel: the CLI's identity says "cli". */
    return source ? source : who && who->actor && strcmp(who->actor, "cli") == 0 ? "cli" : "api";
}

void ing_events_with_who(lh_buf *out, const lh_identity *who, const char *source,
                         const char *reason, const char *events_sql)
{
    lh_buf_printf(out, "SELECT make_timestamp(%" PRId64 "::BIGINT) AS ts, *, ", lh_wall_us());
    lh_sql_quote(out, who && who->actor ? who->actor : "");
    lh_buf_puts(out, " AS actor, ");
    lh_sql_quote(out, who && who->profile ? who->profile : "");
    lh_buf_puts(out, " AS profile, ");
    lh_sql_quote(out, ing_journal_source(who, source));
    lh_buf_puts(out, " AS source, ");
    if (reason)
        lh_sql_quote(out, reason);
    else
        lh_buf_puts(out, "NULL::VARCHAR");
    lh_buf_printf(out, " AS reason FROM (%s)", events_sql);
}

int ing_journal_write(lh_ingest *ing, duckdb_connection c, const lh_identity *who,
                      const char *dataset, int64_t version, const char *events_sql,
                      const char *source, const char *reason, int64_t *nevents, char **out_key,
                      lh_error *err)
{
    lh_buf sql = {0};
    ing_events_with_who(&sql, who, source, reason, events_sql);
    int rc = ing_journal_write_rows(ing, c, dataset, version, sql.data, nevents, out_key, err);
    lh_buf_free(&sql);
    return rc;
}

/* ------------------------------------------------------------- set key */

typedef struct key_commit {
    int64_t base_version;
    char **key;
    size_t nkey;
    const char *journal;
    const char *reason;
} key_commit;

static int key_commit_fn(void *vctx, const lh_manifest *cur, lh_manifest **next, lh_error *err)
{
    key_commit *k = vctx;
    *next = NULL;
    if (!cur || cur->version != k->base_version)
        return lh_error_set(err, LH_ECONFLICT,
                            "dataset changed while its key was checked; run the command again");
    lh_manifest *m = lh_manifest_clone(cur);
    lh_manifest_set_key(m, (const char *const *)k->key, k->nkey);
    if (k->journal) lh_manifest_add_journal(m, k->journal);
    free(m->op);
    m->op = lh_strdup("set_key");
    if (k->reason)
        json_object_set_new(m->metadata, "last_reason", json_string(k->reason));
    else
        json_object_del(m->metadata, "last_reason"); /* a reason belongs to one commit */
    *next = m;
    return LH_OK;
}

int lh_ingest_set_key(lh_ingest *ing, const lh_identity *who, const char *dataset, const char *spec,
                      const char *reason, int64_t *version, lh_error *err)
{
    lh_manifest *cur = NULL;
    duckdb_connection c = NULL;
    char **key = NULL, *jkey = NULL;
    size_t nkey = 0;
    lh_buf rel = {0}, sql = {0}, oldk = {0}, newk = {0};
    int rc = lh_catalog_get(ing->cat, who, dataset, 0, &cur, err);
    if (rc) return rc;
    if ((rc = ing_key_parse(spec, cur, &key, &nkey, err))) goto done;
    if (duckdb_connect(ing->db, &c) != DuckDBSuccess) {
        rc = lh_error_set(err, LH_EINTERNAL, "ingest: cannot connect to DuckDB");
        goto done;
    }
    lh_buf_putc(&rel, '(');
    if ((rc = lh_manifest_scan_sql(ing->st, cur, &rel, err))) goto done;
    lh_buf_putc(&rel, ')');
    if ((rc = ing_key_check_unique(c, dataset, rel.data, key, nkey, err))) goto done;
    for (size_t i = 0; i < cur->nkey; i++)
        lh_buf_printf(&oldk, "%s%s", i ? "," : "", cur->key[i]);
    for (size_t i = 0; i < nkey; i++)
        lh_buf_printf(&newk, "%s%s", i ? "," : "", key[i]);
    lh_buf_puts(&sql, "SELECT '' AS key, 'primary_key' AS field, ");
    if (cur->nkey)
        lh_sql_quote(&sql, oldk.data);
    else
        lh_buf_puts(&sql, "NULL::VARCHAR");
    lh_buf_puts(&sql, " AS old_value, ");
    lh_sql_quote(&sql, newk.data);
    lh_buf_puts(&sql, " AS new_value, 'set_key' AS op");
    int64_t nev = 0;
    if ((rc = ing_journal_write(ing, c, who, dataset, cur->version + 1, sql.data, NULL, reason,
                                &nev, &jkey, err)))
        goto done;
    key_commit kc = {
        .base_version = cur->version, .key = key, .nkey = nkey, .journal = jkey, .reason = reason};
    rc = lh_catalog_update(ing->cat, who, dataset, key_commit_fn, &kc, version, err);
    if (rc) lh_storage_delete(ing->st, jkey, NULL);
done:
    if (c) duckdb_disconnect(&c);
    lh_manifest_free(cur);
    strv_free(key, nkey);
    free(jkey);
    lh_buf_free(&rel);
    lh_buf_free(&sql);
    lh_buf_free(&oldk);
    lh_buf_free(&newk);
    return rc;
}

/* --------------------------------------------------------------- upsert */

typedef struct upsert_commit {
    int64_t base_version;
    const char *delta;
    int64_t delta_size, delta_rows;
    int64_t net_rows; /* logical rows the delta adds: inserted - deleted */
    const char *journal;
    const bool *nullable; /* per dataset column: the delta has NULLs there */
    const char *op;
    const char *reason;
    const char *wal_id; /* the log whose records up to wal_seq this commit holds, or NULL */
    int64_t wal_seq;
} upsert_commit;

static int upsert_commit_fn(void *vctx, const lh_manifest *cur, lh_manifest **next, lh_error *err)
{
    upsert_commit *u = vctx;
    *next = NULL;
    if (!cur || cur->version != u->base_version)
        return lh_error_set(err, LH_ECONFLICT, "dataset changed while the %s was prepared", u->op);
    lh_manifest *m = lh_manifest_clone(cur);
    lh_manifest_add_delta(m, u->delta, u->delta_size, u->delta_rows, u->net_rows);
    lh_manifest_add_journal(m, u->journal);
    for (size_t i = 0; i < m->ncolumns; i++)
        m->columns[i].nullable = m->columns[i].nullable || u->nullable[i];
    if (u->wal_id) {
        free(m->wal_id);
        m->wal_id = lh_strdup(u->wal_id);
        m->wal_seq = u->wal_seq;
        m->wal_version = cur->version + 1;
    }
    free(m->op);
    m->op = lh_strdup(u->op);
    if (u->reason)
        json_object_set_new(m->metadata, "last_reason", json_string(u->reason));
    else
        json_object_del(m->metadata, "last_reason"); /* a reason belongs to one commit */
    *next = m;
    return LH_OK;
}

lh_ingest_format ing_guess_format(const char *name, const char *path)
{
    const char *dot = strrchr(name, '.');
    if (dot && (strcasecmp(dot, ".json") == 0 || strcasecmp(dot, ".jsonl") == 0 ||
                strcasecmp(dot, ".ndjson") == 0))
        return LH_FORMAT_NDJSON;
    if (dot && (strcasecmp(dot, ".csv") == 0 || strcasecmp(dot, ".tsv") == 0)) return LH_FORMAT_CSV;
    FILE *f = fopen(path, "rb");
    int ch = ' ';
    while (f && (ch = fgetc(f)) != EOF && (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t'))
        ;
    if (f) fclose(f);
    return ch == '{' ? LH_FORMAT_NDJSON : LH_FORMAT_CSV;
}

/* Appends s as a JSON pointer ("/a~1b" for key "a/b") in SQL quotes. */
static void json_pointer(lh_buf *b, const char *s)
{
    lh_buf esc = {0};
    lh_buf_putc(&esc, '/');
    for (const char *p = s; *p; p++) {
        if (*p == '~')
            lh_buf_puts(&esc, "~0");
        else if (*p == '/')
            lh_buf_puts(&esc, "~1");
        else
            lh_buf_putc(&esc, *p);
    }
    lh_sql_quote(b, esc.data);
    lh_buf_free(&esc);
}

/* NDJSON: each line must be an object; lh_raw gets one JSON column per key seen in any row,
 * SQL NULL where a row lacks the key (so "absent" and "null" stay different). */
static int load_ndjson(duckdb_connection c, const char *path, const char *name, lh_error *err)
{
    lh_buf sql = {0};
    lh_error e = {0};
    duckdb_result res;
    int rc;
    lh_buf_puts(&sql, "CREATE OR REPLACE TEMP TABLE lh_load AS SELECT json AS j FROM "
                      "read_json_objects(");
    lh_sql_quote(&sql, path);
    lh_buf_puts(&sql, ", format='newline_delimited')");
    if (lh_duckdb_exec(c, sql.data, "read", &e)) {
        rc = ing_reader_error(name, e.msg, NULL, err);
        goto done;
    }
    int64_t bad = 0;
    if ((rc = scalar_i64(c,
                         "SELECT coalesce(min(rowid) + 1, 0) FROM lh_load WHERE "
                         "json_type(j) <> 'OBJECT'",
                         &bad, err)))
        goto done;
    if (bad) {
        rc = lh_error_set(err, LH_EINVAL, "%s: row %" PRId64 ": not a JSON object", name, bad);
        goto done;
    }
    if ((rc = ing_query(c, "SELECT DISTINCT unnest(json_keys(j)) AS k FROM lh_load ORDER BY k",
                        &res, err)))
        goto done;
    lh_buf_reset(&sql);
    lh_buf_puts(&sql, "CREATE OR REPLACE TEMP TABLE lh_raw AS SELECT rowid + 1 AS __lh_row");
    for (idx_t i = 0; i < duckdb_row_count(&res); i++) {
        char *k = duckdb_value_varchar(&res, 0, i);
        lh_buf_puts(&sql, ", json_extract(j, ");
        json_pointer(&sql, k ? k : "");
        lh_buf_puts(&sql, ") AS ");
        lh_sql_ident(&sql, k ? k : "");
        duckdb_free(k);
    }
    duckdb_destroy_result(&res);
    lh_buf_puts(&sql, " FROM lh_load ORDER BY rowid; DROP TABLE lh_load");
    rc = lh_duckdb_exec(c, sql.data, "number rows", err);
done:
    lh_buf_free(&sql);
    return rc;
}

/* The header's field names (RFC 4180 quoting), appended to out as DuckDB's columns={...}
 * struct with every column VARCHAR. False (out untouched) if the header is unusual (empty,
 * duplicate or over-long names, a quoted line break): the caller then lets DuckDB sniff. */
static bool csv_columns(const char *path, char delim, lh_buf *out)
{
    char line[8192];
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    size_t start = (n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0; /* BOM */
    lh_buf cols = {0}, name = {0};
    char **seen = NULL;
    size_t nseen = 0;
    bool ok = true, inq = false, done = false;
    for (size_t i = start; ok && !done; i++) {
        char ch = line[i];
        if (i >= n) {
            ok = false; /* no line end in the first 8 KiB */
        } else if (inq) {
            if (ch == '"' && line[i + 1] == '"') {
                lh_buf_putc(&name, '"');
                i++;
            } else if (ch == '"') {
                inq = false;
            } else if (ch == '\n' || ch == '\r') {
                ok = false;
            } else {
                lh_buf_putc(&name, ch);
            }
        } else if (ch == '"' && name.len == 0) {
            inq = true;
        } else if (ch == delim || ch == '\n' || ch == '\r') {
            lh_buf_putc(&name, 0);
            ok = name.len > 1 && name.len < 256;
            for (size_t k = 0; ok && k < nseen; k++)
                ok = strcmp(seen[k], name.data) != 0;
            if (ok) {
                seen = lh_realloc(seen, (nseen + 1) * sizeof *seen);
                seen[nseen++] = lh_strdup(name.data);
                lh_buf_puts(&cols, cols.len ? ", " : "{");
                lh_sql_quote(&cols, name.data);
                lh_buf_puts(&cols, ": 'VARCHAR'");
            }
            lh_buf_reset(&name);
            done = ch != delim;
        } else {
            lh_buf_putc(&name, ch);
        }
    }
    if (ok && cols.len) {
        lh_buf_puts(out, ", columns=");
        lh_buf_append(out, cols.data, cols.len);
        lh_buf_putc(out, '}');
    }
    for (size_t k = 0; k < nseen; k++)
        free(seen[k]);
    free(seen);
    lh_buf_free(&cols);
    lh_buf_free(&name);
    return ok && nseen > 0;
}

/* Loads the input into temp table lh_raw with __lh_row = 1, 2, ... in file order. CSV
 * columns are VARCHAR; NDJSON columns are JSON (see load_ndjson). */
static int load_input(duckdb_connection c, const char *path, const char *name, lh_ingest_format fmt,
                      lh_error *err)
{
    if (fmt == LH_FORMAT_NDJSON) return load_ndjson(c, path, name, err);
    lh_buf sql = {0};
    char delim;
    int nf;
    ing_detect_dialect(path, &delim, &nf);
    lh_buf_puts(&sql, "CREATE OR REPLACE TEMP TABLE lh_load AS SELECT * FROM read_csv(");
    lh_sql_quote(&sql, path);
    lh_buf_printf(&sql,
                  ", header=true, all_varchar=true, delim='%s', quote='\"', "
                  "escape='\"', strict_mode=true",
                  delim == '\t' ? "\\t" : (char[]){delim, 0});
    /* Everything is text and the dialect is known: with the columns named from the header,
     * DuckDB need not sniff (most of the time of a small upsert otherwise). */
    if (csv_columns(path, delim, &sql)) lh_buf_puts(&sql, ", auto_detect=false");
    lh_buf_putc(&sql, ')');
    lh_error e = {0};
    int rc = lh_duckdb_exec(c, sql.data, "read", &e);
    lh_buf_free(&sql);
    if (rc) return ing_reader_error(name, e.msg, NULL, err);
    /* A table's rowid follows insertion order, which DuckDB keeps as the file's order; a
     * view numbers the rows without copying them. */
    return lh_duckdb_exec(c,
                          "CREATE OR REPLACE TEMP VIEW lh_raw AS SELECT rowid + 1 AS __lh_row, * "
                          "FROM lh_load",
                          "number rows", err);
}

typedef struct upsert_run {
    lh_ingest *ing;
    duckdb_connection c;
    const lh_manifest *cur;
    const lh_upsert_opts *o;
    const char *name;
    bool json;   /* lh_raw holds JSON values (NDJSON input) */
    bool *given; /* per dataset column: present in the input */
    lh_upsert_result *r;
    int64_t nbatch; /* rows in lh_batch (one per key) */
    int64_t ndelta; /* rows in lh_delta */
    const char
        *pending; /* a table of rows newer than cur (one per key, deletes flagged), or NULL */
} upsert_run;

/* The input value of column i as read (VARCHAR text, or JSON for nested types). */
static void src_expr(const upsert_run *u, size_t i, lh_buf *b)
{
    const lh_column *col = &u->cur->columns[i];
    bool nested = strchr(col->type, '[') || strncmp(col->type, "STRUCT", 6) == 0 ||
                  strncmp(col->type, "MAP", 3) == 0;
    if (!u->json || nested) {
        lh_sql_ident(b, col->name);
        return;
    }
    lh_buf_puts(b, "json_extract_string(");
    lh_sql_ident(b, col->name);
    lh_buf_puts(b, ", '$')");
}

/* TRY_CAST(<input value of column i> AS <its type>). */
static void typed_expr(const upsert_run *u, size_t i, lh_buf *b)
{
    lh_buf_puts(b, "TRY_CAST(");
    src_expr(u, i, b);
    lh_buf_printf(b, " AS %s)", u->cur->columns[i].type);
}

/* Checks the input's columns and values; builds lh_batch: typed values, a presence flag per
 * given column (__lh_p<i>: NDJSON rows may leave a field out), the last row per key. */
static int check_and_batch(upsert_run *u, lh_error *err)
{
    const lh_manifest *m = u->cur;
    schema in = {0};
    lh_buf sql = {0}, bad = {0};
    int rc = ing_describe(u->c, "lh_raw", &in, err);
    if (rc) goto done;
    for (size_t i = 0; i < in.n; i++) {
        if (strcmp(in.cols[i].name, "__lh_row") == 0) continue;
        const lh_column *col = lh_manifest_column(m, in.cols[i].name);
        if (!col)
            lh_buf_printf(&bad, "%s'%s'", bad.len ? ", " : "", in.cols[i].name);
        else
            u->given[col - m->columns] = true;
    }
    if (bad.len) {
        rc = lh_error_set(err, LH_EINVAL,
                          "%s: unknown columns %s (dataset '%s' has no such columns)", u->name,
                          bad.data, m->dataset);
        goto done;
    }
    for (size_t k = 0; k < m->nkey; k++)
        if (!ing_schema_type(&in, m->key[k])) {
            rc = lh_error_set(err, LH_EINVAL,
                              "%s: key column '%s' is missing; every row needs the primary key of "
                              "dataset '%s'",
                              u->name, m->key[k], m->dataset);
            goto done;
        }
    /* One scan answers every check (each statement costs a parse and a plan, most of a small
     * upsert's time): the row count, the first row of every typed column whose value does not
     * convert (text columns cannot fail; the earliest is reported), the first row without a
     * key, and the number of distinct keys. */
    lh_buf_reset(&sql);
    size_t nchecked = 0;
    size_t *checked = lh_calloc(m->ncolumns + 1, sizeof *checked);
    lh_buf_puts(&sql, "SELECT count(*), coalesce(min(__lh_row) FILTER (WHERE ");
    for (size_t k = 0; k < m->nkey; k++) {
        lh_buf_puts(&sql, k ? " OR " : "");
        src_expr(u, lh_manifest_column_index(m, m->key[k]), &sql);
        lh_buf_puts(&sql, " IS NULL");
    }
    /* Most batches repeat no key: counting distinct keys (the key columns only) spares them
     * the window below, which sorts every row with all its columns. */
    lh_buf_puts(&sql, "), 0), count(DISTINCT ");
    lh_buf_puts(&sql, m->nkey > 1 ? "row(" : "(");
    for (size_t k = 0; k < m->nkey; k++) {
        if (k) lh_buf_puts(&sql, ", ");
        typed_expr(u, lh_manifest_column_index(m, m->key[k]), &sql);
    }
    lh_buf_puts(&sql, "))");
    for (size_t i = 0; i < m->ncolumns; i++) {
        if (!u->given[i] || strcmp(m->columns[i].type, "VARCHAR") == 0) continue;
        lh_buf_puts(&sql, ", min(__lh_row) FILTER (WHERE ");
        src_expr(u, i, &sql);
        lh_buf_puts(&sql, " IS NOT NULL AND ");
        typed_expr(u, i, &sql);
        lh_buf_puts(&sql, " IS NULL)");
        checked[nchecked++] = i;
    }
    lh_buf_puts(&sql, " FROM lh_raw");
    duckdb_result res;
    if ((rc = ing_query(u->c, sql.data, &res, err))) {
        free(checked);
        goto done;
    }
    u->r->rows_in = duckdb_value_int64(&res, 0, 0);
    int64_t nokey = duckdb_value_int64(&res, 1, 0), distinct = duckdb_value_int64(&res, 2, 0);
    int64_t first = 0;
    size_t badcol = 0;
    for (size_t j = 0; j < nchecked; j++) {
        if (duckdb_value_is_null(&res, 3 + j, 0)) continue;
        int64_t row = duckdb_value_int64(&res, 3 + j, 0);
        if (!first || row < first) first = row, badcol = checked[j];
    }
    duckdb_destroy_result(&res);
    free(checked);
    if (u->r->rows_in == 0) {
        rc = lh_error_set(err, LH_EINVAL, "%s: no rows", u->name);
        goto done;
    }
    if (first) {
        lh_buf_reset(&sql);
        lh_buf_puts(&sql, "SELECT CAST(");
        src_expr(u, badcol, &sql);
        lh_buf_printf(&sql, " AS VARCHAR) FROM lh_raw WHERE __lh_row = %" PRId64, first);
        char v[100];
        scalar_str(u->c, sql.data, v, sizeof v);
        rc = lh_error_set(err, LH_EINVAL,
                          "%s: row %" PRId64 ": column '%s': \"%.80s\" is not a valid %s", u->name,
                          first, m->columns[badcol].name, v, m->columns[badcol].type);
        goto done;
    }
    if (nokey) {
        lh_buf_reset(&bad);
        key_names(&bad, m->key, m->nkey);
        rc = lh_error_set(err, LH_EINVAL, "%s: row %" PRId64 ": no value for the primary key (%s)",
                          u->name, nokey, bad.data);
        goto done;
    }
    /* Typed batch, the last row of each key wins (as a whole row). Without repeated keys
     * lh_batch is a view over the input — one copy of the rows fewer (each cost about a tenth
     * of a 10K-row append of long texts); its readers but one (the delta rows) read the key
     * columns only. */
    bool repeats = distinct != u->r->rows_in;
    lh_buf_reset(&sql);
    lh_buf_puts(&sql, repeats ? "CREATE OR REPLACE TEMP TABLE lh_dedup AS "
                              : "CREATE OR REPLACE TEMP VIEW lh_batch AS ");
    lh_buf_puts(&sql, "SELECT * FROM (SELECT __lh_row");
    for (size_t i = 0; i < m->ncolumns; i++) {
        if (!u->given[i]) continue;
        lh_buf_puts(&sql, ", ");
        typed_expr(u, i, &sql);
        lh_buf_puts(&sql, " AS ");
        lh_sql_ident(&sql, m->columns[i].name);
        if (u->json) {
            lh_buf_puts(&sql, ", ");
            lh_sql_ident(&sql, m->columns[i].name);
            lh_buf_printf(&sql, " IS NOT NULL AS __lh_p%zu", i);
        } else {
            lh_buf_printf(&sql, ", true AS __lh_p%zu", i);
        }
    }
    lh_buf_puts(&sql, " FROM lh_raw)");
    if (repeats) {
        lh_buf_puts(&sql, " QUALIFY row_number() OVER (PARTITION BY ");
        lh_sql_ident_list(&sql, m->key, m->nkey, NULL);
        lh_buf_puts(&sql, " ORDER BY __lh_row DESC) = 1; CREATE OR REPLACE TEMP VIEW lh_batch AS "
                          "SELECT * FROM lh_dedup");
    }
    if ((rc = lh_duckdb_exec(u->c, sql.data, "batch", err))) goto done;
    u->nbatch = distinct;
    u->r->duplicates = u->r->rows_in - u->nbatch;
    if (u->r->duplicates) {
        lh_buf_reset(&sql);
        lh_buf_puts(&sql, "SELECT string_agg(k, ', ') FROM (SELECT k FROM (SELECT ");
        key_text(&sql, m->key, m->nkey, NULL);
        lh_buf_puts(&sql, " AS k, min(__lh_row) AS first FROM (SELECT __lh_row");
        for (size_t k = 0; k < m->nkey; k++) {
            size_t i = lh_manifest_column_index(m, m->key[k]);
            lh_buf_puts(&sql, ", ");
            typed_expr(u, i, &sql);
            lh_buf_puts(&sql, " AS ");
            lh_sql_ident(&sql, m->key[k]);
        }
        lh_buf_puts(&sql, " FROM lh_raw) GROUP BY ");
        lh_sql_ident_list(&sql, m->key, m->nkey, NULL);
        lh_buf_puts(&sql, " HAVING count(*) > 1) ORDER BY first LIMIT 5)");
        scalar_str(u->c, sql.data, u->r->duplicate_keys, sizeof u->r->duplicate_keys);
    }
done:
    ing_schema_free(&in);
    lh_buf_free(&sql);
    lh_buf_free(&bad);
    return rc;
}

#define PREFILTER_MAX_KEYS 1024
#define JOURNAL_INLINE_INSERTS 1000 /* more new rows: their events name the delta file */

/* Appends to where "k IN (literals)" per key column (nothing: no filter) so that reading the
 * current rows of the batch's keys touches few rows: the semi-join alone is not pushed into
 * the Parquet scans (they would read every column of every row), a constant IN list is (row
 * groups whose min/max exclude every key are skipped; other columns are read for matching
 * rows only), in base and delta files alike (lh_manifest_scan_sql_where). A large batch
 * first finds which of its keys exist, reading the key columns only: a pure append then
 * reads nothing more. */
static int key_prefilter(upsert_run *u, lh_buf *where, lh_error *err)
{
    const lh_manifest *m = u->cur;
    const char *src = "lh_batch";
    int64_t n = u->nbatch;
    lh_buf q = {0};
    int rc = LH_OK;
    if (n > PREFILTER_MAX_KEYS) {
        /* The key columns of every file, without the merge: a key a delta deleted counts as
         * existing, which only widens the filter, and the plain scans let DuckDB push the
         * batch's key range into them (the merge's plan cost a 10K-row append 9 ms). */
        lh_buf_puts(&q, "CREATE OR REPLACE TEMP TABLE lh_hit AS SELECT DISTINCT __c.* FROM (");
        for (int delta = 0, parts = 0; delta < 2; delta++) {
            lh_buf list = {0};
            size_t nf = 0;
            rc = lh_manifest_file_list(u->ing->st, m, delta, NULL, 0, &list, &nf, err);
            if (!rc && nf) {
                lh_buf_puts(&q, parts++ ? " UNION ALL SELECT " : "SELECT ");
                lh_sql_ident_list(&q, m->key, m->nkey, NULL);
                lh_buf_printf(&q, " FROM read_parquet(%s)", list.data);
            }
            if (!rc && delta && !parts) {
                lh_buf_puts(&q, "SELECT ");
                for (size_t k = 0; k < m->nkey; k++)
                    lh_buf_printf(&q, "%sNULL::%s AS ", k ? ", " : "",
                                  lh_manifest_column(m, m->key[k])->type);
                lh_sql_ident_list(&q, m->key, m->nkey, NULL);
                lh_buf_puts(&q, " WHERE false");
            }
            lh_buf_free(&list);
            if (rc) goto done;
        }
        lh_buf_puts(&q, ") AS __c SEMI JOIN lh_batch AS __n ON ");
        lh_sql_key_match(&q, m->key, m->nkey, "__c", "__n");
        /* CREATE TABLE AS answers with the rows it wrote */
        duckdb_result res;
        if ((rc = ing_query(u->c, q.data, &res, err))) goto done;
        bool counted = duckdb_column_count(&res) == 1 && duckdb_row_count(&res) == 1;
        if (counted) n = duckdb_value_int64(&res, 0, 0);
        duckdb_destroy_result(&res);
        if (!counted && (rc = scalar_i64(u->c, "SELECT count(*) FROM lh_hit", &n, err))) goto done;
        if (n == 0) {
            lh_buf_puts(where, "false");
            goto done;
        }
        if (n > PREFILTER_MAX_KEYS) goto done;
        src = "lh_hit";
    }
    for (size_t k = 0; k < m->nkey; k++) {
        const char *type = lh_manifest_column(m, m->key[k])->type;
        lh_buf_reset(&q);
        /* Each value as CAST('text' AS type), quotes doubled. */
        lh_buf_puts(&q, "SELECT string_agg(DISTINCT 'CAST(''' || replace(CAST(");
        lh_sql_ident(&q, m->key[k]);
        lh_buf_printf(&q, " AS VARCHAR), '''', '''''') || ''' AS %s)', ', ') FROM %s", type, src);
        duckdb_result res;
        if ((rc = ing_query(u->c, q.data, &res, err))) break;
        char *list = duckdb_value_varchar(&res, 0, 0);
        duckdb_destroy_result(&res);
        if (list && *list) {
            if (where->len) lh_buf_puts(where, " AND ");
            lh_sql_ident(where, m->key[k]);
            lh_buf_printf(where, " IN (%s)", list);
        }
        duckdb_free(list);
    }
done:
    lh_buf_free(&q);
    return rc;
}

bool ing_scalar_columns(const lh_manifest *m)
{
    for (size_t i = 0; i < m->ncolumns; i++) {
        const char *t = m->columns[i].type;
        if (strchr(t, '[') || strncmp(t, "STRUCT", 6) == 0 || strncmp(t, "MAP", 3) == 0 ||
            strncmp(t, "UNION", 5) == 0)
            return false;
    }
    return true;
}

/* Builds lh_old (current rows of the batch's keys), lh_delta and the events SQL; dkey is the
 * object key the delta file will have, or NULL when not known yet (the write-ahead log's
 * records: new rows are then journalled inline). */
static int build_delta(upsert_run *u, int64_t seq, const char *dkey, lh_buf *events, lh_error *err)
{
    const lh_manifest *m = u->cur;
    bool del = u->o->delete_rows;
    lh_buf sql = {0}, where = {0};
    char *k0 = m->key[0];
    int rc = key_prefilter(u, &where, err);
    if (rc) goto done;
    int64_t nold = 0;
    if (strcmp(where.data ? where.data : "", "false") == 0 && !u->pending) {
        /* No key of the batch exists (an append): no current rows to read, and binding the
         * merge over every file for none cost a 10K-row append 4 ms. */
        lh_buf_puts(&sql, "CREATE OR REPLACE TEMP TABLE lh_old (");
        for (size_t i = 0; i < m->ncolumns; i++) {
            if (i) lh_buf_puts(&sql, ", ");
            lh_sql_ident(&sql, m->columns[i].name);
            lh_buf_printf(&sql, " %s", m->columns[i].type);
        }
        lh_buf_putc(&sql, ')');
        if ((rc = lh_duckdb_exec(u->c, sql.data, "current rows", err))) goto done;
        goto counted;
    }
    lh_buf_puts(&sql, "CREATE OR REPLACE TEMP TABLE lh_old AS SELECT __c.* FROM (");
    /* The query engine may hold the version in memory (hot cache): the rows of the keys are
     * then an index probe there instead of a row group of every column from Parquet. */
    json_t *hot = NULL;
    if (where.len && strcmp(where.data, "false") != 0 && ing_scalar_columns(m) &&
        ing_wal_current(u->ing, m, where.data, &hot) == LH_OK) {
        lh_buf_puts(&sql, "SELECT * EXCLUDE (" LH_DELTA_DELETED ") FROM (");
        lh_manifest_rows_sql(m, hot, 0, &sql);
        lh_buf_putc(&sql, ')');
        json_decref(hot);
    } else {
        rc = lh_manifest_scan_sql_where(u->ing->st, m, where.len ? where.data : NULL, &sql, err);
        if (rc) goto done;
    }
    lh_buf_puts(&sql, ") AS __c SEMI JOIN lh_batch AS __n ON ");
    lh_sql_key_match(&sql, m->key, m->nkey, "__c", "__n");
    if (u->pending) {
        /* Rows the write-ahead log holds are newer than cur's: they replace cur's row of
         * their key (or delete it). */
        lh_buf_printf(&sql, " ANTI JOIN %s AS __p ON ", u->pending);
        lh_sql_key_match(&sql, m->key, m->nkey, "__c", "__p");
        lh_buf_printf(&sql,
                      " UNION ALL SELECT __p.* EXCLUDE (" LH_DELTA_SEQ ", " LH_DELTA_DELETED
                      ") FROM %s AS __p SEMI JOIN lh_batch AS __n ON ",
                      u->pending);
        lh_sql_key_match(&sql, m->key, m->nkey, "__p", "__n");
        lh_buf_puts(&sql, " WHERE NOT __p." LH_DELTA_DELETED);
    }
    /* CREATE TABLE AS answers with the rows it wrote: no count statement after it. */
    duckdb_result cres;
    if ((rc = ing_query(u->c, sql.data, &cres, err))) {
        lh_error_prefix(err, "current rows");
        goto done;
    }
    bool answered = duckdb_column_count(&cres) == 1 && duckdb_row_count(&cres) == 1;
    if (answered) nold = duckdb_value_int64(&cres, 0, 0);
    duckdb_destroy_result(&cres);
    if (!answered && (rc = scalar_i64(u->c, "SELECT count(*) FROM lh_old", &nold, err))) goto done;
counted:;
    /* A pure insert (no key exists yet) needs no join: lh_delta is then a view over the
     * batch, and the delta file is written straight from the input (one copy fewer). */
    bool pure_insert = !del && nold == 0;

    /* What changes: an upsert row is new, or differs in a given non-key column. */
    lh_buf changed = {0};
    lh_buf_puts(&changed, "__o.");
    lh_sql_ident(&changed, k0);
    lh_buf_puts(&changed, " IS NULL");
    for (size_t i = 0; i < m->ncolumns; i++) {
        if (!u->given[i]) continue;
        lh_buf_printf(&changed, " OR (__n.__lh_p%zu AND __n.", i);
        lh_sql_ident(&changed, m->columns[i].name);
        lh_buf_puts(&changed, " IS DISTINCT FROM __o.");
        lh_sql_ident(&changed, m->columns[i].name);
        lh_buf_putc(&changed, ')');
    }

    lh_buf_reset(&sql);
    lh_buf_puts(&sql, pure_insert ? "CREATE OR REPLACE TEMP VIEW lh_delta AS SELECT "
                                  : "CREATE OR REPLACE TEMP TABLE lh_delta_t AS SELECT ");
    for (size_t i = 0; i < m->ncolumns; i++) {
        const char *c = m->columns[i].name;
        bool is_key = false;
        for (size_t k = 0; k < m->nkey; k++)
            is_key = is_key || strcmp(m->key[k], c) == 0;
        if (i) lh_buf_puts(&sql, ", ");
        if (pure_insert && u->given[i]) {
            lh_buf_puts(&sql, "__n.");
            lh_sql_ident(&sql, c);
        } else if ((del && !is_key) || pure_insert) {
            lh_buf_printf(&sql, "NULL::%s", m->columns[i].type);
        } else if (del || !u->given[i]) {
            lh_buf_puts(&sql, del ? "__n." : "__o.");
            lh_sql_ident(&sql, c);
        } else {
            lh_buf_printf(&sql, "CASE WHEN __n.__lh_p%zu THEN __n.", i);
            lh_sql_ident(&sql, c);
            lh_buf_puts(&sql, " ELSE __o.");
            lh_sql_ident(&sql, c);
            lh_buf_puts(&sql, " END");
        }
        lh_buf_puts(&sql, " AS ");
        lh_sql_ident(&sql, c);
    }
    lh_buf_printf(&sql, ", %" PRId64 "::BIGINT AS " LH_DELTA_SEQ ", %s AS " LH_DELTA_DELETED, seq,
                  del ? "true" : "false");
    if (pure_insert) {
        lh_buf_puts(&sql, " FROM lh_batch AS __n");
    } else if (del) {
        lh_buf_puts(&sql, " FROM lh_batch AS __n SEMI JOIN lh_old AS __o ON ");
        lh_sql_key_match(&sql, m->key, m->nkey, "__n", "__o");
    } else {
        lh_buf_puts(&sql, " FROM lh_batch AS __n LEFT JOIN lh_old AS __o ON ");
        lh_sql_key_match(&sql, m->key, m->nkey, "__n", "__o");
        lh_buf_printf(&sql, " WHERE %s", changed.data);
    }
    if (!pure_insert)
        lh_buf_puts(&sql, "; CREATE OR REPLACE TEMP VIEW lh_delta AS SELECT * FROM lh_delta_t");
    rc = lh_duckdb_exec(u->c, sql.data, "delta rows", err);
    if (rc) {
        lh_buf_free(&changed);
        goto done;
    }

    /* Counts for the result. */
    lh_buf_reset(&sql);
    int64_t nbatch = u->nbatch, ndelta = nbatch;
    if (!pure_insert && (rc = scalar_i64(u->c, "SELECT count(*) FROM lh_delta", &ndelta, err))) {
        lh_buf_free(&changed);
        goto done;
    }
    u->ndelta = ndelta;
    if (del) {
        u->r->deleted = nold;
        u->r->absent = nbatch - nold;
        if (u->r->absent) {
            lh_buf_puts(&sql, "SELECT string_agg(k, ', ') FROM (SELECT ");
            key_text(&sql, m->key, m->nkey, "__n");
            lh_buf_puts(&sql, " AS k FROM lh_batch AS __n ANTI JOIN lh_old AS __o ON ");
            lh_sql_key_match(&sql, m->key, m->nkey, "__n", "__o");
            lh_buf_puts(&sql, " ORDER BY __n.__lh_row LIMIT 5)");
            scalar_str(u->c, sql.data, u->r->absent_keys, sizeof u->r->absent_keys);
        }
    } else {
        u->r->inserted = nbatch - nold;
        u->r->updated = ndelta - u->r->inserted;
        u->r->unchanged = nold - u->r->updated;
    }

    /* Journal events: an inserted or deleted row is one event (field "*", the row as a JSON
     * object in new_value or old_value); an update is one event per changed field. A bulk
     * insert (over JOURNAL_INLINE_INSERTS new rows, an append) journals each new row as one
     * event whose new_value names the delta file holding it, {"file": "<key>"}, as an
     * ingest's event names its files: copying every row into the journal as JSON cost more
     * than writing the delta itself. */
    bool by_file = dkey && !del && u->r->inserted > JOURNAL_INLINE_INSERTS;
    lh_buf_puts(events, "SELECT ");
    key_text(events, m->key, m->nkey, del ? "__o" : "__n");
    lh_buf_puts(events, " AS key, '*' AS field, ");
    if (by_file) {
        lh_buf_puts(events, "NULL::VARCHAR AS old_value, ");
        lh_buf sql_file = {0};
        lh_buf_puts(&sql_file, "{\"file\":");
        json_t *jk = json_string(dkey);
        char *js = json_dumps(jk, JSON_ENCODE_ANY);
        json_decref(jk);
        lh_buf_puts(&sql_file, js);
        free(js);
        lh_buf_putc(&sql_file, '}');
        lh_sql_quote(events, sql_file.data);
        lh_buf_free(&sql_file);
        lh_buf_puts(events, " AS new_value, 'insert' AS op FROM lh_batch AS __n ANTI JOIN lh_old "
                            "AS __o ON ");
        lh_sql_key_match(events, m->key, m->nkey, "__n", "__o");
    } else {
        lh_buf_puts(events, del ? "CAST(to_json({" : "NULL::VARCHAR AS old_value, CAST(to_json({");
    }
    for (size_t i = 0, n = 0; !by_file && i < m->ncolumns; i++) {
        if (!del && !u->given[i]) continue;
        if (n++) lh_buf_puts(events, ", ");
        lh_sql_quote(events, m->columns[i].name);
        lh_buf_puts(events, del ? ": __o." : ": __n.");
        lh_sql_ident(events, m->columns[i].name);
    }
    if (by_file) {
        /* the insert events are complete */
    } else if (del) {
        lh_buf_puts(events, "}) AS VARCHAR) AS old_value, NULL::VARCHAR AS new_value, 'delete' AS "
                            "op FROM lh_old AS __o SEMI JOIN lh_batch AS __n ON ");
        lh_sql_key_match(events, m->key, m->nkey, "__o", "__n");
    } else {
        lh_buf_puts(events, "}) AS VARCHAR) AS new_value, 'insert' AS op FROM lh_batch AS __n "
                            "ANTI JOIN lh_old AS __o ON ");
        lh_sql_key_match(events, m->key, m->nkey, "__n", "__o");
    }
    /* No current rows: no updates (each branch below would scan the batch once more). */
    for (size_t i = 0; !del && !pure_insert && i < m->ncolumns; i++) {
        const char *c = m->columns[i].name;
        if (!u->given[i]) continue;
        lh_buf_puts(events, " UNION ALL SELECT ");
        key_text(events, m->key, m->nkey, "__n");
        lh_buf_puts(events, " AS key, ");
        lh_sql_quote(events, c);
        lh_buf_puts(events, " AS field, CAST(__o.");
        lh_sql_ident(events, c);
        lh_buf_puts(events, " AS VARCHAR) AS old_value, CAST(__n.");
        lh_sql_ident(events, c);
        lh_buf_puts(events, " AS VARCHAR) AS new_value, 'update' AS op FROM lh_batch AS __n JOIN "
                            "lh_old AS __o ON ");
        lh_sql_key_match(events, m->key, m->nkey, "__n", "__o");
        lh_buf_printf(events, " WHERE __n.__lh_p%zu AND __n.", i);
        lh_sql_ident(events, c);
        lh_buf_puts(events, " IS DISTINCT FROM __o.");
        lh_sql_ident(events, c);
    }
    lh_buf_free(&changed);
done:
    lh_buf_free(&sql);
    lh_buf_free(&where);
    return rc;
}

/* An upload run on its own thread: the delta file's fsyncs overlap writing the journal batch. */
typedef struct put_job {
    lh_storage *st;
    const char *key, *path;
    int rc;
    lh_error err;
} put_job;

static void *put_main(void *arg)
{
    put_job *p = arg;
    p->rc = lh_storage_put_file(p->st, p->key, p->path, &p->err);
    return NULL;
}

int ing_upsert_prepare(lh_ingest *ing, duckdb_connection c, const lh_manifest *cur,
                       const char *pending, const char *path, const lh_upsert_opts *o,
                       const char *name, int64_t seq, const char *dkey, bool *given,
                       lh_upsert_result *r, lh_buf *events, int64_t *ndelta, lh_error *err)
{
    if (cur->nkey == 0)
        return lh_error_set(err, LH_EINVAL,
                            "dataset '%s' has no primary key; declare one first (lakehouse key "
                            "%s COL[,COL])",
                            o->dataset, o->dataset);
    lh_ingest_format fmt = o->format ? o->format : ing_guess_format(name, path);
    upsert_run u = {.ing = ing,
                    .c = c,
                    .cur = cur,
                    .o = o,
                    .name = name,
                    .given = given,
                    .r = r,
                    .json = fmt == LH_FORMAT_NDJSON,
                    .pending = pending};
    int rc = load_input(c, path, name, fmt, err);
    if (!rc) rc = check_and_batch(&u, err);
    if (!rc) rc = build_delta(&u, seq, dkey, events, err);
    if (rc) return rc;
    if (ndelta) *ndelta = u.ndelta;
    if (u.ndelta == 0) {
        r->noop = true;
        r->version = cur->version;
    }
    return LH_OK;
}

int ing_delta_commit(lh_ingest *ing, duckdb_connection c, const lh_identity *who,
                     const ing_commit_spec *s, int64_t *version, int64_t *nevents, lh_error *err)
{
    const lh_manifest *cur = s->cur;
    bool *nullable = lh_calloc(cur->ncolumns + 1, sizeof *nullable);
    char *tmp = NULL, *dkey = NULL, *jkey = NULL;
    lh_buf sql = {0};
    bool uploaded = false;
    int rc = LH_OK;
    /* Which columns not yet nullable the delta fills with NULL (nullability only widens; a
     * delete's NULLs do not count). */
    size_t nask = 0;
    for (size_t i = 0; i < cur->ncolumns; i++) {
        if (cur->columns[i].nullable) continue;
        lh_buf_printf(&sql, "%scount_if(", nask++ ? ", " : "SELECT ");
        lh_sql_ident(&sql, cur->columns[i].name);
        lh_buf_puts(&sql, " IS NULL AND NOT " LH_DELTA_DELETED ")");
    }
    if (nask) {
        lh_buf_puts(&sql, " FROM lh_delta");
        duckdb_result res;
        if ((rc = ing_query(c, sql.data, &res, err))) goto done;
        for (size_t i = 0, k = 0; i < cur->ncolumns; i++)
            if (!cur->columns[i].nullable) nullable[i] = duckdb_value_int64(&res, k++, 0) != 0;
        duckdb_destroy_result(&res);
    }

    if (s->delta_key) {
        dkey = lh_strdup(s->delta_key);
    } else {
        char uuid[37];
        lh_uuid(uuid);
        dkey = lh_sprintf("data/%s/_delta/%s.parquet", cur->dataset, uuid);
    }
    tmp = lh_sprintf("%s/delta-%s.parquet", ing->tmp_dir, strrchr(dkey, '/') + 1);
    lh_buf_reset(&sql);
    lh_buf_puts(&sql, "COPY lh_delta TO ");
    lh_sql_quote(&sql, tmp);
    /* zstd's fastest level: a delta lives until the next compaction rewrites its rows, and
     * level 3 cost a tenth of a 10K-row append for a few percent of bytes. */
    /* Row groups of 2048 rows: a large delta is written by both threads (one row group is
     * one thread's work), as the base files' groups are sized for lookups by key. */
    lh_buf_puts(&sql,
                " (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 2048)");
    if ((rc = lh_duckdb_exec(c, sql.data, "write delta", err))) goto done;
    struct stat sb;
    if (stat(tmp, &sb) != 0) {
        rc = lh_error_set(err, LH_EIO, "%s: delta file vanished", tmp);
        goto done;
    }
    /* Two fsynced objects before the commit: the delta's upload runs while DuckDB writes the
     * journal batch. Either failing fails the upsert (and removes what was uploaded). */
    put_job pj = {.st = ing->st, .key = dkey, .path = tmp};
    pthread_t put_tid;
    bool threaded = pthread_create(&put_tid, NULL, put_main, &pj) == 0;
    if (!threaded) put_main(&pj);
    uploaded = true;
    rc = ing_journal_write_rows(ing, c, cur->dataset, cur->version + 1, s->events_sql, nevents,
                                &jkey, err);
    if (threaded) pthread_join(put_tid, NULL);
    if (pj.rc) {
        rc = pj.rc;
        if (err) *err = pj.err;
    }
    if (rc) goto done;
    upsert_commit uc = {.base_version = cur->version,
                        .delta = dkey,
                        .delta_size = sb.st_size,
                        .delta_rows = s->ndelta,
                        .net_rows = s->net_rows,
                        .journal = jkey,
                        .nullable = nullable,
                        .op = s->op,
                        .reason = s->reason,
                        .wal_id = s->wal_id,
                        .wal_seq = s->wal_seq};
    rc = lh_catalog_update(ing->cat, who, cur->dataset, upsert_commit_fn, &uc, version, err);
    if (rc == LH_OK) uploaded = false; /* the objects belong to the catalog now */
done:
    if (uploaded) {
        lh_storage_delete(ing->st, dkey, NULL);
        if (jkey) lh_storage_delete(ing->st, jkey, NULL);
    }
    if (tmp) unlink(tmp);
    free(tmp);
    free(dkey);
    free(jkey);
    free(nullable);
    lh_buf_free(&sql);
    return rc;
}

/* One attempt against the latest version: LH_ECONFLICT if another writer got there first. */
static int upsert_once(lh_ingest *ing, duckdb_connection c, const lh_identity *who,
                       const char *path, const lh_upsert_opts *o, const char *name,
                       lh_upsert_result *r, lh_error *err)
{
    lh_manifest *cur = NULL;
    bool *given = NULL;
    char *dkey = NULL;
    lh_buf events = {0}, full = {0};
    int rc = lh_catalog_get(ing->cat, who, o->dataset, 0, &cur, err);
    if (rc) goto done;
    given = lh_calloc(cur->ncolumns + 1, sizeof *given);
    char uuid[37];
    lh_uuid(uuid);
    dkey = lh_sprintf("data/%s/_delta/%s.parquet", o->dataset, uuid);
    int64_t ndelta = 0;
    if ((rc = ing_upsert_prepare(ing, c, cur, NULL, path, o, name, cur->version + 1, dkey, given, r,
                                 &events, &ndelta, err)) ||
        r->noop)
        goto done;
    ing_events_with_who(&full, who, o->source, o->reason, events.data);
    ing_commit_spec spec = {.cur = cur,
                            .events_sql = full.data,
                            .ndelta = ndelta,
                            .net_rows = r->inserted - r->deleted,
                            .op = o->delete_rows ? "delete" : "upsert",
                            .reason = o->reason,
                            .delta_key = dkey,
                            .wal_id = o->wal_id,
                            .wal_seq = o->wal_seq};
    rc = ing_delta_commit(ing, c, who, &spec, &r->version, &r->events, err);
    if (!rc) r->committed = true;
done:
    free(dkey);
    free(given);
    lh_buf_free(&events);
    lh_buf_free(&full);
    lh_manifest_free(cur);
    return rc;
}

int64_t ing_auto_compact(lh_ingest *ing, const lh_identity *who, const char *dataset)
{
    if (ing->compact_delta_files <= 0) return 0;
    /* The policy: the commit that leaves too many delta files, or more than
     * AUTO_COMPACT_MIN_ROWS delta rows making over a quarter of the base rows, pays for
     * merging them (reads of every delta's key column grow with both). Its own commit
     * stands whatever happens here. */
    lh_manifest *m = NULL;
    int64_t delta_rows = 0, base_rows = 0, version = 0;
    if (lh_catalog_get(ing->cat, who, dataset, 0, &m, NULL) == LH_OK)
        for (size_t i = 0; i < m->nfiles; i++)
            *(m->files[i].delta ? &delta_rows : &base_rows) += m->files[i].rows;
    if (m && (lh_manifest_ndeltas(m) >= (size_t)ing->compact_delta_files ||
              (delta_rows > AUTO_COMPACT_MIN_ROWS && delta_rows * 4 > base_rows))) {
        lh_compact_result cr;
        lh_error ce = {0};
        if (lh_ingest_compact(ing, who, dataset, "automatic: deltas over threshold", &cr, &ce) ==
            LH_OK)
            version = cr.noop ? 0 : cr.version;
        else
            lh_log(LH_LOG_WARN, "ingest.auto_compact_failed", "dataset", dataset, "error", ce.msg,
                   NULL);
    }
    lh_manifest_free(m);
    return version;
}

/* Whether the file has at most n lines (reads no further than line n + 1): a cheap bound on
 * its rows (a quoted line break counts a line too much, never too little). */
static bool lines_at_most(const char *path, int64_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char buf[65536];
    int64_t lines = 0;
    size_t got;
    bool last_nl = true;
    while (lines <= n && (got = fread(buf, 1, sizeof buf, f)) > 0) {
        for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + got - p))); p++)
            lines++;
        last_nl = buf[got - 1] == '\n';
    }
    fclose(f);
    return lines + (last_nl ? 0 : 1) <= n;
}

int lh_ingest_upsert(lh_ingest *ing, const lh_identity *who, const char *path,
                     const lh_upsert_opts *o, lh_upsert_result *result, lh_error *err)
{
    uint64_t t0 = lh_now_ns();
    lh_upsert_result r = {0};
    duckdb_connection c = NULL;
    int rc;
    const char *name = o->source_name && *o->source_name ? o->source_name : path;
    if (!lh_name_valid(o->dataset, err)) {
        rc = lh_error_prefix(err, "dataset");
        goto done;
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = lh_error_set(err, LH_ENOENT, "%s: no such file", name);
        goto done;
    }
    if (sb.st_size == 0) {
        rc = lh_error_set(err, LH_EINVAL, "%s: the file is empty; no rows", name);
        goto done;
    }
    if (ing->wal && !o->direct && !o->wal_id && lines_at_most(path, ing->wal_max_rows + 1)) {
        rc = ing_wal_upsert(ing, who, path, o, name, &r, err);
        if (rc != WAL_TOO_BIG) goto done;
        /* Too large for the log: commit directly, after what the log holds (order). */
        if ((rc = lh_ingest_wal_flush(ing, err))) goto done;
    }
    if (duckdb_connect(ing->db, &c) != DuckDBSuccess) {
        rc = lh_error_set(err, LH_EINTERNAL, "ingest: cannot connect to DuckDB");
        goto done;
    }
    for (int attempt = 0;; attempt++) {
        lh_error e = {0};
        memset(&r, 0, sizeof r);
        rc = upsert_once(ing, c, who, path, o, name, &r, &e);
        if (rc != LH_ECONFLICT || attempt + 1 >= UPSERT_ATTEMPTS) {
            if (rc && err) *err = e;
            break;
        }
    }
    r.durable = rc == LH_OK;
    if (rc == LH_OK && !r.noop) r.compacted = ing_auto_compact(ing, who, o->dataset);
done:
    if (c) duckdb_disconnect(&c);
    if (rc == LH_OK && r.noop) r.committed = r.durable = true; /* nothing to hold */
    r.seconds = (double)(lh_now_ns() - t0) / 1e9;
    if (result) *result = r;
    return rc;
}

/* --------------------------------------------------------------- replay */

typedef struct replay_commit {
    const lh_manifest *src;
    const char *target, *key, *journal, *reason;
    int64_t size, rows;
} replay_commit;

static int replay_commit_fn(void *vctx, const lh_manifest *cur, lh_manifest **next, lh_error *err)
{
    replay_commit *x = vctx;
    *next = NULL;
    if (cur) return lh_error_set(err, LH_EEXIST, "dataset '%s' already exists", x->target);
    lh_manifest *m = lh_manifest_new(x->target);
    for (size_t i = 0; i < x->src->ncolumns; i++)
        lh_manifest_add_column(m, x->src->columns[i].name, x->src->columns[i].type,
                               x->src->columns[i].nullable);
    lh_manifest_set_key(m, (const char *const *)x->src->key, x->src->nkey);
    lh_manifest_add_file(m, x->key, x->size, x->rows);
    lh_manifest_add_journal(m, x->journal);
    free(m->op);
    m->op = lh_strdup("replay");
    json_object_set_new(m->metadata, "replayed_from",
                        json_pack("{s:s, s:I}", "dataset", x->src->dataset, "version",
                                  (json_int_t)x->src->version));
    if (x->reason)
        json_object_set_new(m->metadata, "last_reason", json_string(x->reason));
    else
        json_object_del(m->metadata, "last_reason"); /* a reason belongs to one commit */
    *next = m;
    return LH_OK;
}

int lh_ingest_replay(lh_ingest *ing, const lh_identity *who, const char *dataset, int64_t version,
                     const char *target, const char *reason, int64_t *rows, lh_error *err)
{
    lh_manifest *src = NULL;
    duckdb_connection c = NULL;
    char *tmp = NULL, *key = NULL, *jkey = NULL;
    lh_buf sql = {0};
    bool uploaded = false;
    int rc;
    if (!lh_name_valid(target, err)) return lh_error_prefix(err, "replay target");
    if (version <= 0) return lh_error_set(err, LH_EINVAL, "replay: version must be 1 or more");
    lh_manifest *exists = NULL;
    if (lh_catalog_get(ing->cat, who, target, 0, &exists, NULL) == LH_OK) {
        lh_manifest_free(exists);
        return lh_error_set(err, LH_EEXIST,
                            "replay: dataset '%s' already exists; pick another name", target);
    }
    if ((rc = lh_catalog_get(ing->cat, who, dataset, version, &src, err))) goto done;
    if (duckdb_connect(ing->db, &c) != DuckDBSuccess) {
        rc = lh_error_set(err, LH_EINTERNAL, "ingest: cannot connect to DuckDB");
        goto done;
    }
    char uuid[37];
    lh_uuid(uuid);
    tmp = lh_sprintf("%s/replay-%s.parquet", ing->tmp_dir, uuid);
    key = lh_sprintf("data/%s/%s.parquet", target, uuid);
    lh_buf_puts(&sql, "COPY (");
    if ((rc = lh_manifest_scan_sql(ing->st, src, &sql, err))) goto done;
    lh_buf_puts(&sql, ") TO ");
    lh_sql_quote(&sql, tmp);
    lh_buf_puts(&sql, " (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)");
    duckdb_result res;
    if ((rc = ing_query(c, sql.data, &res, err))) goto done;
    int64_t n = duckdb_value_int64(&res, 0, 0);
    duckdb_destroy_result(&res);
    struct stat sb;
    if (stat(tmp, &sb) != 0) {
        rc = lh_error_set(err, LH_EIO, "%s: replayed file vanished", tmp);
        goto done;
    }
    if ((rc = lh_storage_put_file(ing->st, key, tmp, err))) goto done;
    uploaded = true;
    lh_buf_reset(&sql);
    lh_buf_printf(&sql,
                  "SELECT '' AS key, 'rows' AS field, NULL::VARCHAR AS old_value, "
                  "'%" PRId64 " rows replayed from ' || ",
                  n);
    char from[200];
    snprintf(from, sizeof from, "%s@v%" PRId64, dataset, version);
    lh_sql_quote(&sql, from);
    lh_buf_puts(&sql, " AS new_value, 'replay' AS op");
    int64_t nev = 0;
    if ((rc = ing_journal_write(ing, c, who, target, 1, sql.data, NULL, reason, &nev, &jkey, err)))
        goto done;
    replay_commit x = {.src = src,
                       .target = target,
                       .key = key,
                       .journal = jkey,
                       .reason = reason,
                       .size = sb.st_size,
                       .rows = n};
    if ((rc = lh_catalog_update(ing->cat, who, target, replay_commit_fn, &x, NULL, err))) goto done;
    uploaded = false;
    if (rows) *rows = n;
done:
    if (uploaded) {
        lh_storage_delete(ing->st, key, NULL);
        if (jkey) lh_storage_delete(ing->st, jkey, NULL);
    }
    if (tmp) unlink(tmp);
    if (c) duckdb_disconnect(&c);
    lh_manifest_free(src);
    lh_buf_free(&sql);
    free(tmp);
    free(key);
    free(jkey);
    return rc;
}
