/* Ingest: CSV / NDJSON file → checks → Parquet (zstd) via DuckDB → storage → catalog commit. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/duckdb_capi.h"
#include "ingest/ingest_int.h"

#define MAX_TYPE_RETRIES 64

/* ------------------------------------------------------------ open/close */

int lh_ingest_open(lh_catalog *cat, const lh_config *cfg, lh_ingest **out, lh_error *err)
{
    int rc;
    *out = NULL;
    if ((rc = lh_duckdb_check_version(err))) return rc;
    lh_ingest *ing = lh_calloc(1, sizeof(*ing));
    ing->cat = cat;
    ing->st = lh_catalog_storage(cat);
    const char *cache = cfg->cache_dir ? cfg->cache_dir : cfg->data_dir;
    ing->tmp_dir = lh_path_join(cache, "ingest_tmp");
    ing->compact_delta_files = cfg->compact_delta_files;
    ing->wal_dir = lh_sprintf("%s/_wal", cfg->data_dir);
    ing->wal_max_rows = cfg->wal_max_rows;
    ing->wal_flush_ms = cfg->wal_flush_ms > 0 ? cfg->wal_flush_ms : 100;
    char *spill = lh_path_join(cache, "ingest_spill");
    duckdb_config dc = NULL;
    char *open_err = NULL;
    lh_buf v = {0};
    if ((rc = lh_mkdir_p(ing->tmp_dir, err)) || (rc = lh_mkdir_p(spill, err))) goto fail;
    duckdb_create_config(&dc);
    lh_buf_printf(&v, "%" PRId64 "MB", cfg->query_memory_mb > 0 ? cfg->query_memory_mb : 1024);
    duckdb_set_config(dc, "memory_limit", v.data);
    lh_buf_reset(&v);
    lh_buf_printf(&v, "%d", cfg->query_threads > 0 ? cfg->query_threads : lh_cpu_count());
    duckdb_set_config(dc, "threads", v.data);
    duckdb_set_config(dc, "temp_directory", spill);
    duckdb_set_config(dc, "autoinstall_known_extensions", "false");
    duckdb_set_config(dc, "autoload_known_extensions", "false");
    duckdb_set_config(dc, "enable_progress_bar", "false");
    if (duckdb_open_ext(NULL, &ing->db, dc, &open_err) != DuckDBSuccess) {
        rc = lh_error_set(err, LH_EINTERNAL, "ingest: cannot open DuckDB: %s",
                          open_err ? open_err : "unknown error");
        goto fail;
    }
    /* Data files are immutable (new names for new content): their footers can be kept. An
     * upsert's lookup of current rows otherwise parses every base and delta footer. (The
     * Parquet reader's options are not known to duckdb_set_config before open.) */
    duckdb_connection c0 = NULL;
    if (duckdb_connect(ing->db, &c0) != DuckDBSuccess) {
        rc = lh_error_set(err, LH_EINTERNAL, "ingest: cannot connect to DuckDB");
        goto fail;
    }
    rc = lh_duckdb_exec(c0, "SET GLOBAL parquet_metadata_cache = true", "ingest setup", err);
    duckdb_disconnect(&c0);
    if (rc) goto fail;
    /* A writer first commits what a process killed since its last flush left in the
     * write-ahead log (ADR 0012). Failing that, the records stay for the next writer. */
    lh_error we = {0};
    int64_t replayed = 0;
    if (lh_ingest_wal_recover(ing, &replayed, &we))
        lh_log(LH_LOG_WARN, "wal.recover_failed", "log", ing->wal_dir, "error", we.msg, NULL);
    *out = ing;
fail:
    if (open_err) duckdb_free(open_err);
    if (dc) duckdb_destroy_config(&dc);
    lh_buf_free(&v);
    free(spill);
    if (rc) lh_ingest_close(ing);
    return rc;
}

void lh_ingest_close(lh_ingest *ing)
{
    if (!ing) return;
    ing_wal_close(ing);
    if (ing->db) duckdb_close(&ing->db);
    free(ing->tmp_dir);
    free(ing->wal_dir);
    free(ing);
}

int lh_ingest_format_parse(const char *s, lh_ingest_format *out, lh_error *err)
{
    if (!s || !*s || strcmp(s, "auto") == 0)
        *out = LH_FORMAT_AUTO;
    else if (strcmp(s, "csv") == 0)
        *out = LH_FORMAT_CSV;
    else if (strcmp(s, "ndjson") == 0 || strcmp(s, "jsonl") == 0 || strcmp(s, "json") == 0)
        *out = LH_FORMAT_NDJSON;
    else
        return lh_error_set(err, LH_EINVAL,
                            "format '%s' is not supported: use csv, ndjson (or jsonl) or auto", s);
    return LH_OK;
}

/* ---------------------------------------------------- the source file scan */

/* Line and column (in characters) of byte offset off in path: only called to report an
 * error, so it may take a second pass over the file. */
static void locate_offset(const char *path, int64_t off, int64_t *line, int64_t *col)
{
    *line = 1;
    *col = 1;
    FILE *f = fopen(path, "rb");
    if (!f) return;
    unsigned char buf[1 << 16];
    int64_t pos = 0;
    size_t n;
    while (pos < off && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
        for (size_t i = 0; i < n && pos < off; i++, pos++) {
            if (buf[i] == '\n') {
                ++*line;
                *col = 1;
            } else if ((buf[i] & 0xC0) != 0x80) {
                ++*col; /* a character starts here (not a continuation byte) */
            }
        }
    }
    fclose(f);
}

/* Index of the first byte >= 0x80 in p[0..n), or n. Eight bytes at a time: CSV and NDJSON
 * are mostly ASCII. */
static size_t ascii_prefix(const unsigned char *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ULL) break;
    }
    while (i < n && p[i] < 0x80)
        i++;
    return i;
}

/* One pass over the source: SHA-256, byte count, and UTF-8 validity with the line and column
 * of the first bad byte. Returns LH_EINVAL naming file:line:column for bad UTF-8. */
static int scan_source(const char *path, const char *name, char sha[LH_SHA256_HEX], int64_t *bytes,
                       lh_ingest_result *where, lh_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return lh_error_set(err, errno == ENOENT ? LH_ENOENT : LH_EIO, "%s: cannot open: %s", name,
                            strerror(errno));
    lh_sha256 *h = lh_sha256_new();
    static const size_t BUFSZ = 1 << 20;
    unsigned char *buf = lh_malloc(BUFSZ + 4);
    size_t carry = 0; /* bytes of an unfinished UTF-8 sequence kept from the last block */
    int64_t total = 0;
    int rc = LH_OK;
    for (;;) {
        size_t n = fread(buf + carry, 1, BUFSZ, f);
        if (n == 0 && ferror(f)) {
            rc = lh_error_set(err, LH_EIO, "%s: read error: %s", name, strerror(errno));
            break;
        }
        lh_sha256_update(h, buf + carry, n);
        total += (int64_t)n;
        size_t len = carry + n;
        bool eof = n == 0;
        size_t i = 0;
        while (i < len) {
            i += ascii_prefix(buf + i, len - i);
            if (i >= len) break;
            unsigned char c = buf[i];
            size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
            if (need && i + need > len && !eof) break; /* finish with the next block */
            size_t bad;
            if (!need || i + need > len || !lh_utf8_valid((char *)buf + i, need, &bad)) {
                int64_t off = total - (int64_t)n - (int64_t)carry + (int64_t)i, line, col;
                locate_offset(path, off, &line, &col);
                where->error_line = line;
                where->error_position = col;
                rc = lh_error_set(err, LH_EINVAL,
                                  "%s:%" PRId64 ": column %" PRId64 " (byte offset %" PRId64
                                  "): invalid UTF-8 (byte 0x%02X); "
                                  "the file must be UTF-8 encoded",
                                  name, line, col, off, c);
                goto out;
            }
            i += need;
        }
        carry = len - i;
        memmove(buf, buf + i, carry);
        if (eof) break;
    }
out:
    fclose(f);
    free(buf);
    lh_sha256_final(h, sha);
    *bytes = total;
    return rc;
}

/* scan_source on its own thread, so that it overlaps DuckDB's sniffing of the same file. */
typedef struct scan_job {
    const char *path, *name;
    char sha[LH_SHA256_HEX];
    int64_t bytes;
    int rc;
    lh_error err;
    lh_ingest_result where; /* error_line/error_position of bad UTF-8 */
} scan_job;

static void *scan_main(void *arg)
{
    scan_job *j = arg;
    j->rc = scan_source(j->path, j->name, j->sha, &j->bytes, &j->where, &j->err);
    return NULL;
}

/* -------------------------------------------------------------- helpers */

void ing_schema_free(schema *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->cols[i].name);
        free(s->cols[i].type);
    }
    free(s->cols);
    memset(s, 0, sizeof(*s));
}

void ing_schema_add(schema *s, const char *name, const char *type)
{
    s->cols = lh_realloc(s->cols, (s->n + 1) * sizeof(coldef));
    s->cols[s->n].name = lh_strdup(name);
    s->cols[s->n].type = lh_strdup(type);
    s->cols[s->n].nullable = true;
    s->n++;
}

const char *ing_schema_type(const schema *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->cols[i].name, name) == 0) return s->cols[i].type;
    return NULL;
}

/* Runs a query and returns its materialized result; LH_EINVAL with DuckDB's message. */
int ing_query(duckdb_connection c, const char *sql, duckdb_result *res, lh_error *err)
{
    if (duckdb_query(c, sql, res) != DuckDBSuccess) {
        const char *m = duckdb_result_error(res);
        int rc = lh_error_set(err, LH_EINVAL, "%s", m ? m : "DuckDB error");
        duckdb_destroy_result(res);
        return rc;
    }
    return LH_OK;
}

/* Columns (name, type) of SELECT * FROM <rel>. */
int ing_describe(duckdb_connection c, const char *rel, schema *out, lh_error *err)
{
    lh_buf sql = {0};
    duckdb_result res;
    lh_buf_printf(&sql, "DESCRIBE SELECT * FROM %s", rel);
    int rc = ing_query(c, sql.data, &res, err);
    lh_buf_free(&sql);
    if (rc) return rc;
    idx_t n = duckdb_row_count(&res);
    for (idx_t i = 0; i < n; i++) {
        char *name = duckdb_value_varchar(&res, 0, i);
        char *type = duckdb_value_varchar(&res, 1, i);
        ing_schema_add(out, name ? name : "", type ? type : "VARCHAR");
        duckdb_free(name);
        duckdb_free(type);
    }
    duckdb_destroy_result(&res);
    return LH_OK;
}

/* Finds `column "x"` (or `column x`) in a DuckDB error message; caller frees. */
static char *error_column(const char *msg)
{
    const char *p = strstr(msg, "column \"");
    if (p) {
        p += 8;
        const char *e = strchr(p, '"');
        if (e) return lh_strndup(p, (size_t)(e - p));
    }
    p = strstr(msg, "Column ");
    if (p) {
        p += 7;
        const char *e = p;
        while (*e && *e != ' ' && *e != ',' && *e != '\n')
            e++;
        if (e > p) return lh_strndup(p, (size_t)(e - p));
    }
    return NULL;
}

/* Finds "Line: N" in a DuckDB CSV error message; 0 if absent. */
static int64_t error_line(const char *msg)
{
    const char *p = strstr(msg, "Line: ");
    if (p) return strtoll(p + 6, NULL, 10);
    p = strstr(msg, "line ");
    if (p) return strtoll(p + 5, NULL, 10);
    return 0;
}

/* The line of DuckDB's multi-line message that says what is wrong: not the "CSV Error on
 * Line" banner, the echoed input, or the list of possible fixes. The error class prefix
 * ("Invalid Input Error: ") is dropped. */
static void error_reason(const char *msg, char *out, size_t n)
{
    const char *p = msg;
    const char *fallback = NULL;
    size_t fallback_len = 0;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *colon = memmem(p, len, "Error: ", 7);
        if (colon) {
            len -= (size_t)(colon + 7 - p);
            p = colon + 7;
        }
        bool skip = len == 0 || strncmp(p, "CSV Error on Line", 17) == 0 ||
                    strncmp(p, "Original Line", 13) == 0 || strncmp(p, "Possible fixes", 14) == 0 ||
                    strncmp(p, "* ", 2) == 0 || strncmp(p, "LINE ", 5) == 0;
        if (!fallback && len) {
            fallback = p;
            fallback_len = len;
        }
        if (!skip && !(e && p < e && p[0] == ' ')) {
            snprintf(out, n, "%.*s", (int)(len < n - 1 ? len : n - 1), p);
            return;
        }
        if (!e) break;
        p = e + 1;
    }
    snprintf(out, n, "%.*s", (int)(fallback_len < n - 1 ? fallback_len : n - 1),
             fallback ? fallback : msg);
}

/* Rewrites DuckDB's multi-line CSV/JSON error into one line naming file, line and column,
 * and records the line and column in where (may be NULL). */
int ing_reader_error(const char *name, const char *msg, lh_ingest_result *where, lh_error *err)
{
    char *col = error_column(msg);
    int64_t line = error_line(msg);
    if (where) {
        where->error_line = line > 0 ? line : 0;
        where->error_position = 0;
        snprintf(where->error_column, sizeof where->error_column, "%s", col ? col : "");
    }
    char reason[600];
    error_reason(msg, reason, sizeof(reason));
    int rc;
    if (line > 0 && col)
        rc = lh_error_set(err, LH_EINVAL, "%s:%" PRId64 ": column '%s': %s", name, line, col,
                          reason);
    else if (line > 0)
        rc = lh_error_set(err, LH_EINVAL, "%s:%" PRId64 ": %s", name, line, reason);
    else if (col)
        rc = lh_error_set(err, LH_EINVAL, "%s: column '%s': %s", name, col, reason);
    else
        rc = lh_error_set(err, LH_EINVAL, "%s: %s", name, reason);
    free(col);
    return rc;
}

/* The CSV dialect read from the header line: which of , TAB ; | separates the most fields
 * (outside quotes), and how many fields the header has. DuckDB's sniffer alone can mistake a
 * file with a ragged row for a one-column file; fixing the dialect makes it report the row. */
void ing_detect_dialect(const char *path, char *delim, int *nfields)
{
    static const char cand[] = {',', '\t', ';', '|'};
    int count[4] = {0};
    *delim = ',';
    *nfields = 1;
    FILE *f = fopen(path, "rb");
    if (!f) return;
    char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    bool inq = false;
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        if (c == '"') inq = !inq;
        if (inq) continue;
        if (c == '\n' || c == '\r') break;
        for (int k = 0; k < 4; k++)
            if (c == cand[k]) count[k]++;
    }
    int best = 0;
    for (int k = 1; k < 4; k++)
        if (count[k] > count[best]) best = k;
    if (count[best] > 0) *delim = cand[best];
    *nfields = count[best] + 1;
}

/* ------------------------------------------------------------- readers */

typedef struct plan {
    lh_ingest_format format;
    const char *path;
    const char *name;
    schema types; /* forced column types */
    bool rejects;
    char delim;
    int nfields;
    const lh_manifest *order; /* appends: columns in the dataset's order and types */
    lh_ingest_result *where;  /* receives the location of a reader error */
} plan;

/* The DuckDB table-function call that reads the source with the plan's options. */
static char *reader_sql(const plan *p, bool sniff_only)
{
    lh_buf b = {0};
    if (p->format == LH_FORMAT_CSV) {
        lh_buf_puts(&b, "read_csv(");
        lh_sql_quote(&b, p->path);
        lh_buf_puts(&b, ", header=true, auto_detect=true, strict_mode=true, "
                        "null_padding=false, encoding='utf-8', quote='\"', escape='\"', delim=");
        char d[2] = {p->delim ? p->delim : ',', 0};
        lh_sql_quote(&b, d);
        if (p->rejects && sniff_only) lh_buf_puts(&b, ", ignore_errors=true");
        if (p->rejects && !sniff_only)
            lh_buf_puts(&b, ", store_rejects=true, rejects_table='lh_rejects', "
                            "rejects_scan='lh_rejects_scan'");
    } else {
        lh_buf_puts(&b, "read_json(");
        lh_sql_quote(&b, p->path);
        lh_buf_puts(&b, ", format='newline_delimited', records=true, "
                        "maximum_object_size=67108864");
    }
    if (p->types.n) {
        lh_buf_puts(&b, p->format == LH_FORMAT_CSV ? ", types={" : ", columns={");
        for (size_t i = 0; i < p->types.n; i++) {
            if (i) lh_buf_puts(&b, ", ");
            lh_sql_quote(&b, p->types.cols[i].name);
            lh_buf_puts(&b, ": ");
            lh_sql_quote(&b, p->types.cols[i].type);
        }
        lh_buf_putc(&b, '}');
    }
    lh_buf_putc(&b, ')');
    return lh_buf_steal(&b);
}

/* Select list flattening nested STRUCT columns into dotted names ("address.city"); lists
 * are kept as lists. */
static void flatten_into(lh_buf *sel, lh_buf *expr_prefix, const char *dotted,
                         duckdb_logical_type t, bool *first)
{
    if (duckdb_get_type_id(t) == DUCKDB_TYPE_STRUCT) {
        idx_t n = duckdb_struct_type_child_count(t);
        for (idx_t i = 0; i < n; i++) {
            char *cn = duckdb_struct_type_child_name(t, i);
            duckdb_logical_type ct = duckdb_struct_type_child_type(t, i);
            lh_buf e = {0};
            lh_buf_puts(&e, "struct_extract(");
            lh_buf_puts(&e, expr_prefix->data);
            lh_buf_puts(&e, ", ");
            lh_sql_quote(&e, cn);
            lh_buf_putc(&e, ')');
            char *dn = lh_sprintf("%s.%s", dotted, cn);
            flatten_into(sel, &e, dn, ct, first);
            free(dn);
            lh_buf_free(&e);
            duckdb_destroy_logical_type(&ct);
            duckdb_free(cn);
        }
        if (n) return;
    }
    if (!*first) lh_buf_puts(sel, ", ");
    *first = false;
    lh_buf_puts(sel, expr_prefix->data);
    lh_buf_puts(sel, " AS ");
    lh_sql_ident(sel, dotted);
}

/* Reads the CSV with the dialect fixed and every field as text, to find the first row that
 * breaks the structure (ragged row, unterminated quote). LH_OK if the structure is sound. */
static int csv_structure_check(duckdb_connection c, const plan *p, lh_error *err)
{
    lh_buf b = {0};
    duckdb_result res;
    char d[2] = {p->delim ? p->delim : ',', 0};
    lh_buf_puts(&b, "SELECT count(*) FROM read_csv(");
    lh_sql_quote(&b, p->path);
    lh_buf_puts(&b, ", header=true, auto_detect=false, strict_mode=true, quote='\"', "
                    "escape='\"', delim=");
    lh_sql_quote(&b, d);
    lh_buf_puts(&b, ", columns={");
    for (int i = 0; i < p->nfields; i++)
        lh_buf_printf(&b, "%s'c%d': 'VARCHAR'", i ? ", " : "", i);
    lh_buf_puts(&b, "})");
    int rc = LH_OK;
    if (duckdb_query(c, b.data, &res) != DuckDBSuccess)
        rc = ing_reader_error(p->name, duckdb_result_error(&res), p->where, err);
    duckdb_destroy_result(&res);
    lh_buf_free(&b);
    return rc;
}

static int select_sql(duckdb_connection c, const plan *p, char **out, lh_error *err)
{
    char *rd = reader_sql(p, false);
    lh_buf sel = {0};
    int rc = LH_OK;
    if (p->format == LH_FORMAT_CSV) {
        lh_buf_printf(&sel, "SELECT * FROM %s", rd);
    } else {
        /* Inspect the reader's column types to flatten structs. */
        char *probe = lh_sprintf("SELECT * FROM %s", rd);
        duckdb_prepared_statement ps = NULL;
        if (duckdb_prepare(c, probe, &ps) != DuckDBSuccess) {
            rc = ing_reader_error(p->name, duckdb_prepare_error(ps), p->where, err);
            duckdb_destroy_prepare(&ps);
            free(probe);
            goto done;
        }
        free(probe);
        bool first = true;
        lh_buf_puts(&sel, "SELECT ");
        idx_t n = duckdb_prepared_statement_column_count(ps);
        for (idx_t i = 0; i < n; i++) {
            char *cn = (char *)duckdb_prepared_statement_column_name(ps, i); /* duckdb_free */
            duckdb_logical_type t = duckdb_prepared_statement_column_logical_type(ps, i);
            lh_buf e = {0};
            lh_sql_ident(&e, cn);
            flatten_into(&sel, &e, cn, t, &first);
            lh_buf_free(&e);
            duckdb_free(cn);
            duckdb_destroy_logical_type(&t);
        }
        duckdb_destroy_prepare(&ps);
        if (first) {
            rc = lh_error_set(err, LH_EINVAL, "%s: no columns found in the JSON records", p->name);
            goto done;
        }
        lh_buf_printf(&sel, " FROM %s", rd);
    }
    if (p->order) {
        /* Appends: the dataset's columns, in its order, with its types. */
        lh_buf w = {0};
        lh_buf_puts(&w, "SELECT ");
        for (size_t i = 0; i < p->order->ncolumns; i++) {
            if (i) lh_buf_puts(&w, ", ");
            lh_buf_puts(&w, "CAST(");
            lh_sql_ident(&w, p->order->columns[i].name);
            lh_buf_printf(&w, " AS %s) AS ", p->order->columns[i].type);
            lh_sql_ident(&w, p->order->columns[i].name);
        }
        lh_buf_printf(&w, " FROM (%s)", sel.data);
        lh_buf_free(&sel);
        sel = w;
    }
    *out = lh_buf_steal(&sel);
done:
    lh_buf_free(&sel);
    free(rd);
    return rc;
}

/* Runs sql with progress reports and cancellation; returns the materialized result. */
static int run_with_progress(duckdb_connection c, const char *sql, const lh_ingest_opts *o,
                             duckdb_result *res, lh_error *err)
{
    duckdb_prepared_statement ps = NULL;
    duckdb_pending_result pending = NULL;
    int rc = LH_OK;
    if (duckdb_prepare(c, sql, &ps) != DuckDBSuccess) {
        rc = lh_error_set(err, LH_EINVAL, "%s", duckdb_prepare_error(ps));
        goto done;
    }
    if (duckdb_pending_prepared(ps, &pending) != DuckDBSuccess) {
        rc = lh_error_set(err, LH_EINVAL, "%s", duckdb_pending_error(pending));
        goto done;
    }
    uint64_t last = 0;
    for (;;) {
        duckdb_pending_state st = duckdb_pending_execute_task(pending);
        if (st == DUCKDB_PENDING_RESULT_READY) break;
        if (st == DUCKDB_PENDING_ERROR) {
            rc = lh_error_set(err, LH_EINVAL, "%s", duckdb_pending_error(pending));
            goto done;
        }
        if (o->cancel && *o->cancel) {
            duckdb_interrupt(c);
            rc = lh_error_set(err, LH_ECANCELED, "ingest canceled");
            goto done;
        }
        uint64_t now = lh_now_ns();
        if (o->progress && now - last > 100000000ULL) {
            duckdb_query_progress_type pr = duckdb_query_progress(c);
            if (pr.percentage >= 0) o->progress(o->progress_ctx, pr.percentage / 100.0);
            last = now;
        }
    }
    if (duckdb_execute_pending(pending, res) != DuckDBSuccess) {
        const char *m = duckdb_result_error(res);
        rc = lh_error_set(err, LH_EINVAL, "%s", m ? m : "DuckDB error");
        duckdb_destroy_result(res);
    }
done:
    if (pending) duckdb_destroy_pending(&pending);
    if (ps) duckdb_destroy_prepare(&ps);
    return rc;
}

/* ----------------------------------------------------------- the commit */

typedef struct commit_ctx {
    const char *dataset;
    const schema *cols;
    const char *key;
    int64_t size, rows;
    const char *sha;
    const char *source_name;
    int64_t source_bytes;
    const char *reason;
    char *const *pkey; /* primary key of a new dataset */
    size_t npkey;
    const char *journal; /* journal batch of this commit, or NULL */
    bool noop;
    bool created;
} commit_ctx;

static int commit_fn(void *vctx, const lh_manifest *cur, lh_manifest **next, lh_error *err)
{
    commit_ctx *c = vctx;
    *next = NULL;
    if (cur) {
        if (c->sha && lh_manifest_find_source(cur, c->sha)) {
            c->noop = true;
            return LH_EEXIST;
        }
        /* The schema was checked before converting; a writer that changed it meanwhile
         * makes this file unfit. */
        bool same = cur->ncolumns == c->cols->n;
        for (size_t i = 0; same && i < c->cols->n; i++)
            same = strcmp(cur->columns[i].name, c->cols->cols[i].name) == 0 &&
                   strcmp(cur->columns[i].type, c->cols->cols[i].type) == 0;
        if (!same)
            return lh_error_set(err, LH_ECONFLICT,
                                "dataset '%s': its schema changed while this file was ingested; "
                                "ingest it again",
                                c->dataset);
        *next = lh_manifest_clone(cur);
        c->created = false;
    } else {
        *next = lh_manifest_new(c->dataset);
        for (size_t i = 0; i < c->cols->n; i++)
            lh_manifest_add_column(*next, c->cols->cols[i].name, c->cols->cols[i].type,
                                   c->cols->cols[i].nullable);
        lh_manifest_set_key(*next, (const char *const *)c->pkey, c->npkey);
        c->created = true;
    }
    lh_manifest *m = *next;
    if (c->journal) lh_manifest_add_journal(m, c->journal);
    /* Nullability only widens. */
    for (size_t i = 0; cur && i < m->ncolumns && i < c->cols->n; i++)
        m->columns[i].nullable = m->columns[i].nullable || c->cols->cols[i].nullable;
    lh_manifest_add_file(m, c->key, c->size, c->rows);
    if (c->sha) lh_manifest_add_source(m, c->sha, c->source_name, c->source_bytes, c->rows);
    free(m->op);
    m->op = lh_strdup(cur ? "append" : "ingest");
    if (c->reason) json_object_set_new(m->metadata, "last_reason", json_string(c->reason));
    return LH_OK;
}

/* Nullability from the Parquet footer's null counts. */
static void fill_nullability(duckdb_connection c, const char *parquet, schema *s)
{
    lh_buf sql = {0};
    duckdb_result res;
    lh_buf_puts(&sql, "SELECT path_in_schema, sum(stats_null_count) FROM parquet_metadata(");
    lh_sql_quote(&sql, parquet);
    lh_buf_puts(&sql, ") GROUP BY 1");
    if (duckdb_query(c, sql.data, &res) == DuckDBSuccess) {
        idx_t n = duckdb_row_count(&res);
        for (idx_t i = 0; i < n; i++) {
            char *path = duckdb_value_varchar(&res, 0, i);
            bool has_nulls = duckdb_value_is_null(&res, 1, i) || duckdb_value_int64(&res, 1, i) > 0;
            for (size_t j = 0; path && j < s->n; j++)
                if (strcmp(s->cols[j].name, path) == 0) s->cols[j].nullable = has_nulls;
            duckdb_free(path);
        }
    }
    duckdb_destroy_result(&res);
    lh_buf_free(&sql);
}

/* Writes rejected CSV rows to <dataset>_rejects. Returns the number of rejected rows. */
static int64_t save_rejects(lh_ingest *ing, duckdb_connection c, const lh_identity *who,
                            const char *dataset, const char *name, lh_error *err)
{
    duckdb_result res;
    if (ing_query(c, "SELECT count(DISTINCT line) FROM lh_rejects", &res, NULL)) return 0;
    int64_t n = duckdb_value_int64(&res, 0, 0);
    duckdb_destroy_result(&res);
    if (n <= 0) return 0;
    char uuid[37];
    lh_uuid(uuid);
    char *tmp = lh_sprintf("%s/%s.parquet", ing->tmp_dir, uuid);
    char *rej = lh_sprintf("%s_rejects", dataset);
    char *key = lh_sprintf("data/%s/%s.parquet", rej, uuid);
    lh_buf sql = {0};
    lh_buf_puts(&sql, "COPY (SELECT ");
    lh_sql_quote(&sql, name);
    lh_buf_puts(&sql, " AS source, line, column_name, error_type, csv_line, error_message "
                      "FROM lh_rejects ORDER BY line) TO ");
    lh_sql_quote(&sql, tmp);
    lh_buf_puts(&sql, " (FORMAT parquet, COMPRESSION zstd)");
    schema cols = {0};
    int rc = lh_duckdb_exec(c, sql.data, "rejects", err);
    if (!rc) {
        char *rd = lh_sprintf("read_parquet('%s')", tmp);
        rc = ing_describe(c, rd, &cols, err);
        free(rd);
    }
    struct stat sb;
    if (!rc && stat(tmp, &sb) != 0) rc = lh_error_set(err, LH_EIO, "rejects: %s missing", tmp);
    if (!rc) rc = lh_storage_put_file(ing->st, key, tmp, err);
    if (!rc) {
        commit_ctx cc = {.dataset = rej,
                         .cols = &cols,
                         .key = key,
                         .size = sb.st_size,
                         .rows = n,
                         .sha = NULL,
                         .source_name = name,
                         .source_bytes = 0};
        rc = lh_catalog_update(ing->cat, who, rej, commit_fn, &cc, NULL, err);
        if (rc) lh_storage_delete(ing->st, key, NULL);
    }
    unlink(tmp);
    ing_schema_free(&cols);
    lh_buf_free(&sql);
    free(tmp);
    free(rej);
    free(key);
    return rc ? -1 : n;
}

/* ------------------------------------------------------------ the entry */

/* The first byte of path that is not white space (0 if none in its first 4 KiB). */
static char first_byte(const char *path)
{
    char buf[4096];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    for (size_t i = 0; i < n; i++)
        if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r' && buf[i] != '\n') return buf[i];
    return 0;
}

static lh_ingest_format detect_format(const char *name, char first)
{
    const char *dot = strrchr(name, '.');
    if (dot) {
        if (strcasecmp(dot, ".csv") == 0 || strcasecmp(dot, ".tsv") == 0 ||
            strcasecmp(dot, ".txt") == 0)
            return LH_FORMAT_CSV;
        if (strcasecmp(dot, ".json") == 0 || strcasecmp(dot, ".jsonl") == 0 ||
            strcasecmp(dot, ".ndjson") == 0)
            return LH_FORMAT_NDJSON;
    }
    return first == '{' ? LH_FORMAT_NDJSON : LH_FORMAT_CSV;
}

static int parse_overrides(const char *const *types, schema *out, lh_error *err)
{
    for (size_t i = 0; types && types[i]; i++) {
        const char *eq = strchr(types[i], '=');
        if (!eq) eq = strchr(types[i], ':');
        if (!eq || eq == types[i] || !eq[1])
            return lh_error_set(err, LH_EINVAL,
                                "type override '%s': expected column=TYPE (e.g. zip=VARCHAR)",
                                types[i]);
        for (const char *t = eq + 1; *t; t++)
            if (!(isalnum((unsigned char)*t) || strchr("_(), []", *t)))
                return lh_error_set(err, LH_EINVAL, "type override '%s': '%s' is not a type name",
                                    types[i], eq + 1);
        char *col = lh_strndup(types[i], (size_t)(eq - types[i]));
        ing_schema_add(out, col, eq + 1);
        free(col);
    }
    return LH_OK;
}

/* Replaces every mention of the file's real path (an upload's spool file, say) in err's
 * message by the name the caller knows it by: messages must not reveal server paths. */
static void scrub_path(lh_error *err, const char *path, const char *name)
{
    if (!strstr(err->msg, path)) return;
    lh_buf b = {0};
    size_t plen = strlen(path);
    for (const char *p = err->msg, *hit; *p; p = hit + plen) {
        hit = strstr(p, path);
        if (!hit) {
            lh_buf_puts(&b, p);
            break;
        }
        lh_buf_append(&b, p, (size_t)(hit - p));
        lh_buf_puts(&b, name);
    }
    snprintf(err->msg, sizeof(err->msg), "%s", b.data ? b.data : "");
    lh_buf_free(&b);
}

int lh_ingest_file(lh_ingest *ing, const lh_identity *who, const char *path,
                   const lh_ingest_opts *o, lh_ingest_result *result, lh_error *err)
{
    uint64_t t0 = lh_now_ns();
    lh_ingest_result r = {0};
    duckdb_connection c = NULL;
    lh_manifest *cur = NULL;
    plan p = {0};
    schema cols = {0};
    char *sel = NULL, *tmp = NULL, *key = NULL, *jkey = NULL;
    char **pkey = NULL;
    size_t npkey = 0;
    bool uploaded = false;
    int rc;
    const char *name = o->source_name && *o->source_name ? o->source_name : path;
    const char *slash = strrchr(name, '/');
    if (slash && !o->source_name) name = slash + 1;

    if (!lh_name_valid(o->dataset, err)) return lh_error_wrap(err, LH_EINVAL, "dataset");
    snprintf(r.dataset, sizeof(r.dataset), "%s", o->dataset);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return lh_error_set(err, errno == ENOENT ? LH_ENOENT : LH_EIO, "%s: %s", name,
                            strerror(errno));
    if (!S_ISREG(sb.st_mode)) return lh_error_set(err, LH_EINVAL, "%s: not a regular file", name);
    if (sb.st_size == 0)
        return lh_error_set(err, LH_EINVAL, "%s: the file is empty; nothing to ingest", name);

    /* The checksum and UTF-8 scan runs beside the sniffing below; its verdict (bad UTF-8,
     * or bytes already ingested) is taken before anything is converted. */
    scan_job sj = {.path = path, .name = name};
    pthread_t scan_tid;
    bool scanning = pthread_create(&scan_tid, NULL, scan_main, &sj) == 0;
    if (!scanning) scan_main(&sj);
    rc = lh_catalog_get(ing->cat, who, o->dataset, 0, &cur, err);
    if (rc == LH_ENOENT) {
        lh_error_clear(err);
        rc = LH_OK;
    } else if (rc) {
        goto done;
    }

    if (cur && o->key && *o->key) {
        lh_buf ck = {0};
        for (size_t i = 0; i < cur->nkey; i++)
            lh_buf_printf(&ck, "%s%s", i ? "," : "", cur->key[i]);
        bool same = ck.data && strcmp(ck.data, o->key) == 0;
        if (!same)
            rc = lh_error_set(err, LH_EINVAL,
                              "dataset '%s' exists%s%s%s; a key is given at creation only: "
                              "change it with 'lakehouse key %s %s'",
                              o->dataset, ck.len ? " with primary key (" : " without a key",
                              ck.len ? ck.data : "", ck.len ? ")" : "", o->dataset, o->key);
        lh_buf_free(&ck);
        if (!same) goto done;
    }
    if (cur && cur->nkey) {
        /* Appending to a dataset with a primary key is an upsert: same path, same checks. */
        lh_upsert_opts uo = {.dataset = o->dataset,
                             .format = o->format,
                             .source_name = name,
                             .source = "file",
                             .reason = o->reason};
        lh_upsert_result ur;
        rc = lh_ingest_upsert(ing, who, path, &uo, &ur, err);
        if (rc) goto done;
        r.version = ur.version;
        r.rows = ur.inserted + ur.updated;
        r.noop = ur.noop;
        goto done;
    }
    p.format = o->format ? o->format : detect_format(name, first_byte(path));
    p.path = path;
    p.name = name;
    p.rejects = o->rejects;
    p.where = &r;
    if (p.format == LH_FORMAT_CSV) ing_detect_dialect(path, &p.delim, &p.nfields);
    if (p.rejects && p.format != LH_FORMAT_CSV) {
        rc = lh_error_set(err, LH_EUNSUPPORTED, "%s: rejects are supported for CSV files only",
                          name);
        goto done;
    }
    if ((rc = parse_overrides(o->types, &p.types, err))) goto done;
    if (duckdb_connect(ing->db, &c) != DuckDBSuccess) {
        rc = lh_error_set(err, LH_EINTERNAL, "ingest: cannot connect to DuckDB");
        goto done;
    }

    /* What the file holds, as sniffed. */
    schema sniffed = {0};
    {
        char *rd = reader_sql(&p, true);
        lh_error e = {0};
        if (p.format == LH_FORMAT_NDJSON) {
            /* Flattened names are what gets compared and stored. */
            char *s = NULL;
            rc = select_sql(c, &p, &s, &e);
            if (!rc) {
                char *sub = lh_sprintf("(%s)", s);
                rc = ing_describe(c, sub, &sniffed, &e);
                free(sub);
            }
            free(s);
        } else {
            rc = ing_describe(c, rd, &sniffed, &e);
        }
        free(rd);
        if (scanning) pthread_join(scan_tid, NULL);
        scanning = false;
        memcpy(r.sha256, sj.sha, sizeof(r.sha256));
        r.bytes = sj.bytes;
        if (sj.rc) {
            *err = sj.err;
            rc = sj.rc;
            r.error_line = sj.where.error_line;
            r.error_position = sj.where.error_position;
            r.error_column[0] = '\0';
            ing_schema_free(&sniffed);
            goto done;
        }
        if (cur && lh_manifest_find_source(cur, r.sha256)) {
            r.noop = true;
            r.version = cur->version;
            r.rows = 0;
            rc = LH_OK;
            ing_schema_free(&sniffed);
            goto done;
        }
        if (rc && p.format == LH_FORMAT_CSV && !p.rejects && csv_structure_check(c, &p, err)) {
            ing_schema_free(&sniffed);
            goto done;
        }
        /* A ragged last row can make the sniffer take it for the header (the lines above
         * then look like a preamble and are dropped): when the sniffed columns are not the
         * header line's fields, the structure check names the row that breaks it. */
        if (!rc && p.format == LH_FORMAT_CSV && !p.rejects && (int)sniffed.n != p.nfields &&
            (rc = csv_structure_check(c, &p, err))) {
            ing_schema_free(&sniffed);
            goto done;
        }
        if (rc) {
            if (e.msg[0] && strncmp(e.msg, name, strlen(name)) == 0)
                lh_error_set(err, e.code, "%s", e.msg);
            else
                ing_reader_error(name, e.msg, &r, err);
            ing_schema_free(&sniffed);
            goto done;
        }
    }
    for (size_t i = 0; i < p.types.n; i++) {
        if (!ing_schema_type(&sniffed, p.types.cols[i].name)) {
            rc = lh_error_set(err, LH_EINVAL,
                              "%s: type override for column '%s', which the file "
                              "does not have",
                              name, p.types.cols[i].name);
            ing_schema_free(&sniffed);
            goto done;
        }
    }
    if (cur) {
        /* An append must have exactly the dataset's columns; their types are forced. */
        lh_buf missing = {0}, extra = {0};
        for (size_t i = 0; i < cur->ncolumns; i++)
            if (!ing_schema_type(&sniffed, cur->columns[i].name))
                lh_buf_printf(&missing, "%s'%s'", missing.len ? ", " : "", cur->columns[i].name);
        for (size_t i = 0; i < sniffed.n; i++) {
            bool found = false;
            for (size_t j = 0; j < cur->ncolumns && !found; j++)
                found = strcmp(cur->columns[j].name, sniffed.cols[i].name) == 0;
            if (!found)
                lh_buf_printf(&extra, "%s'%s'", extra.len ? ", " : "", sniffed.cols[i].name);
        }
        if (missing.len || extra.len) {
            rc = lh_error_set(err, LH_EINVAL,
                              "%s: does not fit dataset '%s' (version %" PRId64 "): %s%s%s%s%s",
                              name, o->dataset, cur->version, missing.len ? "missing columns " : "",
                              missing.len ? missing.data : "", missing.len && extra.len ? "; " : "",
                              extra.len ? "unknown columns " : "", extra.len ? extra.data : "");
            lh_buf_free(&missing);
            lh_buf_free(&extra);
            ing_schema_free(&sniffed);
            goto done;
        }
        if (p.format == LH_FORMAT_CSV) {
            ing_schema_free(&p.types);
            for (size_t i = 0; i < cur->ncolumns; i++)
                ing_schema_add(&p.types, cur->columns[i].name, cur->columns[i].type);
        }
        p.order = cur;
    }
    ing_schema_free(&sniffed);

    /* Convert. A column whose later values do not fit the sniffed type becomes VARCHAR
     * (conservative inference), unless its type was given or fixed by the dataset. */
    char uuid[37];
    lh_uuid(uuid);
    tmp = lh_sprintf("%s/%s.parquet", ing->tmp_dir, uuid);
    for (int attempt = 0;; attempt++) {
        free(sel);
        sel = NULL;
        if ((rc = select_sql(c, &p, &sel, err))) goto done;
        lh_buf copy = {0};
        lh_buf_printf(&copy, "COPY (%s) TO ", sel);
        lh_sql_quote(&copy, tmp);
        lh_buf_puts(&copy, " (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)");
        duckdb_result res;
        lh_error e = {0};
        rc = run_with_progress(c, copy.data, o, &res, &e);
        lh_buf_free(&copy);
        if (rc == LH_OK) {
            r.rows = duckdb_value_int64(&res, 0, 0);
            duckdb_destroy_result(&res);
            break;
        }
        unlink(tmp);
        if (rc == LH_ECANCELED) {
            lh_error_set(err, rc, "%s: %s", name, e.msg);
            goto done;
        }
        char *col = error_column(e.msg);
        bool convertible = col && strstr(e.msg, "onver") && attempt < MAX_TYPE_RETRIES;
        bool fixed = col && (ing_schema_type(&p.types, col) != NULL);
        if (convertible && !fixed) {
            ing_schema_add(&p.types, col, "VARCHAR");
            free(col);
            continue;
        }
        free(col);
        if (p.format == LH_FORMAT_CSV && !p.rejects && !convertible &&
            csv_structure_check(c, &p, err))
            goto done;
        ing_reader_error(name, e.msg, &r, err);
        goto done;
    }

    /* Schema of what was written, then store and commit. */
    {
        char *rd = lh_sprintf("read_parquet('%s')", tmp);
        rc = ing_describe(c, rd, &cols, err);
        free(rd);
        if (rc) goto done;
        fill_nullability(c, tmp, &cols);
    }
    if (!cur && o->key && *o->key) {
        lh_manifest *shape = lh_manifest_new(o->dataset);
        for (size_t i = 0; i < cols.n; i++)
            lh_manifest_add_column(shape, cols.cols[i].name, cols.cols[i].type, true);
        rc = ing_key_parse(o->key, shape, &pkey, &npkey, err);
        lh_manifest_free(shape);
        if (rc) goto done;
        char *rd = lh_sprintf("read_parquet('%s')", tmp);
        rc = ing_key_check_unique(c, o->dataset, rd, pkey, npkey, err);
        free(rd);
        if (rc) goto done;
        if ((rc = ing_sort_by_key(c, tmp, pkey, npkey, err))) goto done;
    }
    if (stat(tmp, &sb) != 0) {
        rc = lh_error_set(err, LH_EIO, "%s: converted file vanished", tmp);
        goto done;
    }
    key = lh_sprintf("data/%s/%s.parquet", o->dataset, uuid);
    if ((rc = lh_storage_put_file(ing->st, key, tmp, err))) goto done;
    uploaded = true;
    if (p.rejects) {
        r.rejected = save_rejects(ing, c, who, o->dataset, name, err);
        if (r.rejected < 0) {
            rc = err ? err->code : LH_EIO;
            goto done;
        }
    }
    {
        /* One dataset-level event; the rows themselves are in the committed file. Written after
         * the data file, so a failed upload leaves no journal object behind. */
        lh_buf ev = {0};
        lh_buf_printf(&ev,
                      "SELECT '' AS key, 'rows' AS field, NULL::VARCHAR AS old_value, "
                      "'%" PRId64 " rows from ' || ",
                      r.rows);
        lh_sql_quote(&ev, name);
        lh_buf_printf(&ev, " AS new_value, '%s' AS op", cur ? "append" : "ingest");
        int64_t nev = 0;
        rc = ing_journal_write(ing, c, who, o->dataset, cur ? cur->version + 1 : 1, ev.data, "file",
                               o->reason, &nev, &jkey, err);
        lh_buf_free(&ev);
        if (rc) goto done;
    }
    commit_ctx cc = {.dataset = o->dataset,
                     .cols = &cols,
                     .key = key,
                     .size = sb.st_size,
                     .rows = r.rows,
                     .sha = r.sha256,
                     .source_name = name,
                     .source_bytes = r.bytes,
                     .reason = o->reason,
                     .pkey = pkey,
                     .npkey = npkey,
                     .journal = jkey};
    rc = lh_catalog_update(ing->cat, who, o->dataset, commit_fn, &cc, &r.version, err);
    if (rc == LH_EEXIST && cc.noop) {
        /* Another writer ingested the same bytes first. */
        lh_error_clear(err);
        rc = LH_OK;
        r.noop = true;
        r.rows = 0;
        lh_storage_delete(ing->st, key, NULL);
        uploaded = false;
        lh_manifest *now = NULL;
        if (lh_catalog_get(ing->cat, who, o->dataset, 0, &now, NULL) == LH_OK)
            r.version = now->version;
        lh_manifest_free(now);
        goto done;
    }
    if (rc) goto done;
    r.created = cc.created;
    uploaded = false; /* committed: the file belongs to the catalog now */
    free(jkey);
    jkey = NULL;
    if (o->progress) o->progress(o->progress_ctx, 1.0);

done:
    if (scanning) pthread_join(scan_tid, NULL);
    if (uploaded) lh_storage_delete(ing->st, key, NULL);
    if (jkey) lh_storage_delete(ing->st, jkey, NULL);
    free(jkey);
    for (size_t i = 0; i < npkey; i++)
        free(pkey[i]);
    free(pkey);
    if (tmp) unlink(tmp);
    if (c) {
        if (p.rejects)
            lh_duckdb_exec(c,
                           "DROP TABLE IF EXISTS lh_rejects; "
                           "DROP TABLE IF EXISTS lh_rejects_scan",
                           "", NULL);
        duckdb_disconnect(&c);
    }
    r.seconds = (double)(lh_now_ns() - t0) / 1e9;
    if (rc == LH_OK) {
        r.error_line = r.error_position = 0;
        r.error_column[0] = '\0';
    }
    if (result) *result = r;
    if (rc && err && strcmp(name, path) != 0) scrub_path(err, path, name);
    lh_manifest_free(cur);
    ing_schema_free(&p.types);
    ing_schema_free(&cols);
    free(sel);
    free(tmp);
    free(key);
    return rc;
}
