/* Small upserts computed in C, for the write-ahead log's acknowledgement (ADR 0016).
 *
 * The general upsert (upsert.c) loads the input into temp tables and computes the batch, the
 * current rows, the delta rows and the journal events in about a dozen SQL statements: right
 * for any input, but parsing and planning those statements was most of a one-row upsert's
 * time. An input of at most SMALL_MAX_ROWS rows, every column of it known, on a dataset of
 * plain scalar columns, is parsed here instead; each row is typed by one statement prepared
 * once per column set; each key's current row comes from the log's pending table (a prepared
 * lookup), the query engine's hot table or the files; the merge and the events are computed
 * in C.
 *
 * The result is what the general path gives: the same whole rows (text), the same events in
 * the same order and text, the same counts. Anything unusual in the input — and every error,
 * so that one path words them — returns ING_NOT_SMALL and the caller takes the general path.
 * Values are compared as their canonical text (CAST to VARCHAR of the typed value); for the
 * few types where two texts can be one value (-0.0 and 0.0), DuckDB decides (distinct). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest_int.h"

#define SMALL_MAX_ROWS 16
#define SMALL_MAX_BYTES (256 << 10)

/* The parsed input: per row, per dataset column, the value as text (NULL: SQL NULL) and
 * whether the row gives the column at all (an NDJSON row may leave a field out). */
typedef struct small_in {
    size_t nrows, ncols;
    char **val;   /* nrows * ncols */
    bool *has;    /* nrows * ncols */
    bool *given;  /* ncols: some row gives the column */
    char **typed; /* nrows * ncols: canonical text of the typed value (given columns) */
    char **json;  /* nrows: the given columns as a JSON object (the insert event) */
    json_t **old; /* nrows: the key's current row (text array), or NULL */
    bool *found;  /* nrows: the pending table holds a row of the key */
} small_in;

static void in_free(small_in *in)
{
    for (size_t i = 0; i < in->nrows * in->ncols; i++) {
        free(in->val[i]);
        if (in->typed) free(in->typed[i]);
    }
    for (size_t r = 0; r < in->nrows; r++) {
        if (in->json) free(in->json[r]);
        if (in->old) json_decref(in->old[r]);
    }
    free(in->val);
    free(in->has);
    free(in->given);
    free(in->typed);
    free(in->json);
    free(in->old);
    free(in->found);
}

/* Starts a new row; false if there are too many. */
static bool in_row(small_in *in)
{
    if (in->nrows == SMALL_MAX_ROWS) return false;
    size_t n = (in->nrows + 1) * in->ncols;
    in->val = lh_realloc(in->val, n * sizeof *in->val);
    in->has = lh_realloc(in->has, n * sizeof *in->has);
    memset(in->val + in->nrows * in->ncols, 0, in->ncols * sizeof *in->val);
    memset(in->has + in->nrows * in->ncols, 0, in->ncols * sizeof *in->has);
    in->nrows++;
    return true;
}

static void in_set(small_in *in, size_t col, const char *v, size_t len)
{
    size_t at = (in->nrows - 1) * in->ncols + col;
    in->has[at] = true;
    in->given[col] = true;
    in->val[at] = v ? lh_strndup(v, len) : NULL;
}

/* ------------------------------------------------------------- CSV */

/* One field at *p (RFC 4180). Sets *v and *len (v NULL: empty, i.e. NULL) and *end to the
 * character after it (delim, '\n', or the end). False on anything DuckDB's reader might read
 * differently: a quote inside an unquoted field, text after a closing quote, an empty quoted
 * field, a lone CR, spaces around an unquoted value, bytes that are not UTF-8. */
static bool csv_field(const char *p, const char *e, char delim, lh_buf *tmp, const char **v,
                      size_t *len, const char **end)
{
    lh_buf_reset(tmp);
    if (p < e && *p == '"') {
        for (p++;; p++) {
            if (p >= e) return false;
            if (*p == '"') {
                if (p + 1 < e && p[1] == '"') {
                    lh_buf_putc(tmp, '"');
                    p++;
                    continue;
                }
                p++;
                break;
            }
            lh_buf_putc(tmp, *p);
        }
        if (tmp->len == 0) return false;
        if (p < e && *p == '\r' && p + 1 < e && p[1] == '\n') p++;
        if (p < e && *p != delim && *p != '\n') return false;
        *v = tmp->data;
        *len = tmp->len;
    } else {
        const char *s = p;
        while (p < e && *p != delim && *p != '\n') {
            if (*p == '"') return false;
            if (*p == '\r' && !(p + 1 < e && p[1] == '\n')) return false;
            p++;
        }
        const char *t = p;
        if (t > s && t[-1] == '\r') t--;
        if (t > s && (*s == ' ' || *s == '\t' || t[-1] == ' ' || t[-1] == '\t')) return false;
        *v = t > s ? s : NULL; /* the CR of a CRLF line end belongs to no field */
        *len = (size_t)(t - s);
    }
    *end = p;
    return !*v || lh_utf8_valid(*v, *len, NULL);
}

static bool parse_csv(const char *p, size_t n, char delim, const lh_manifest *m, small_in *in)
{
    const char *e = p + n, *v;
    size_t len;
    lh_buf tmp = {0};
    size_t *cols = NULL, ncols = 0;
    bool ok = false;
    if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
    /* The header: known, distinct, non-empty names. */
    for (;;) {
        if (!csv_field(p, e, delim, &tmp, &v, &len, &p) || !v) goto done;
        char *name = lh_strndup(v, len);
        const lh_column *col = lh_manifest_column(m, name);
        free(name);
        if (!col) goto done;
        size_t ci = (size_t)(col - m->columns);
        for (size_t k = 0; k < ncols; k++)
            if (cols[k] == ci) goto done;
        cols = lh_realloc(cols, (ncols + 1) * sizeof *cols);
        cols[ncols++] = ci;
        if (p >= e) goto done; /* no rows */
        if (*p++ == '\n') break;
    }
    while (p < e) {
        if (!in_row(in)) goto done;
        for (size_t k = 0;; k++) {
            if (k == ncols || !csv_field(p, e, delim, &tmp, &v, &len, &p)) goto done;
            in_set(in, cols[k], v, len);
            if (p >= e || *p == '\n') {
                if (k + 1 != ncols) goto done;
                if (p < e) p++;
                break;
            }
            p++;
        }
    }
    ok = in->nrows > 0;
done:
    free(cols);
    lh_buf_free(&tmp);
    return ok;
}

/* ------------------------------------------------------------- NDJSON */

/* A column whose value, not text, a JSON real gives (DOUBLE, FLOAT, DECIMAL). */
static bool real_column(const char *type)
{
    return strcmp(type, "DOUBLE") == 0 || strcmp(type, "FLOAT") == 0 ||
           strncmp(type, "DECIMAL", 7) == 0;
}

static bool parse_ndjson(const char *p, size_t n, const lh_manifest *m, small_in *in)
{
    const char *e = p + n;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        const char *end = nl ? nl : e;
        if (end > p && end[-1] == '\r') end--;
        json_t *o = json_loadb(p, (size_t)(end - p), JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(o) || !in_row(in)) {
            json_decref(o);
            return false;
        }
        const char *k;
        json_t *x;
        json_object_foreach(o, k, x)
        {
            const lh_column *col = lh_manifest_column(m, k);
            char num[32];
            if (!col) goto bad;
            size_t ci = (size_t)(col - m->columns);
            if (json_is_string(x)) {
                in_set(in, ci, json_string_value(x), json_string_length(x));
            } else if (json_is_integer(x)) {
                snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(x));
                in_set(in, ci, num, strlen(num));
            } else if (json_is_boolean(x)) {
                in_set(in, ci, json_is_true(x) ? "true" : "false", json_is_true(x) ? 4 : 5);
            } else if (json_is_null(x)) {
                in_set(in, ci, NULL, 0);
            } else if (json_is_real(x) && real_column(col->type)) {
                /* The shortest text is DuckDB's reader's, not ours; but into a floating or
                 * decimal column only the value counts, and %.17g gives the same double. */
                snprintf(num, sizeof num, "%.17g", json_real_value(x));
                in_set(in, ci, num, strlen(num));
            } else {
                goto bad; /* a real into an integer or text column, an array, an object */
            }
        }
        json_decref(o);
        p = nl ? nl + 1 : e;
        continue;
    bad:
        json_decref(o);
        return false;
    }
    return in->nrows > 0;
}

/* ------------------------------------------------------------- statements */

#define SMALL_SLOTS 8

typedef struct small_stmt {
    char *sig; /* NULL: free */
    duckdb_prepared_statement ps;
    uint64_t used;
} small_stmt;

struct ing_small {
    small_stmt slot[SMALL_SLOTS];
    uint64_t tick;
};

ing_small *ing_small_new(void)
{
    return lh_calloc(1, sizeof(ing_small));
}

void ing_small_reset(ing_small *s)
{
    if (!s) return;
    for (size_t i = 0; i < SMALL_SLOTS; i++) {
        if (s->slot[i].sig) duckdb_destroy_prepare(&s->slot[i].ps);
        free(s->slot[i].sig);
        s->slot[i].sig = NULL;
    }
}

void ing_small_free(ing_small *s)
{
    ing_small_reset(s);
    free(s);
}

/* The statement for sig (prepared from sql on c the first time); NULL on failure. */
static duckdb_prepared_statement stmt_get(ing_small *s, duckdb_connection c, const char *sig,
                                          const char *sql)
{
    small_stmt *lru = &s->slot[0];
    for (size_t i = 0; i < SMALL_SLOTS; i++) {
        small_stmt *t = &s->slot[i];
        if (t->sig && strcmp(t->sig, sig) == 0) {
            t->used = ++s->tick;
            return t->ps;
        }
        if (!t->sig || (lru->sig && t->used < lru->used)) lru = t;
    }
    duckdb_prepared_statement ps;
    if (lh_duckdb_prepare(c, sql, &ps, NULL)) return NULL;
    if (lru->sig) duckdb_destroy_prepare(&lru->ps);
    free(lru->sig);
    lru->sig = lh_strdup(sig);
    lru->ps = ps;
    lru->used = ++s->tick;
    return ps;
}

/* Appends what a statement over m's columns on c depends on: the connection, m's shape. */
static void sig_columns(lh_buf *b, duckdb_connection c, const lh_manifest *m)
{
    char *shape = lh_manifest_shape(m);
    lh_buf_printf(b, "%p|%s", (void *)c, shape);
    free(shape);
}

/* The index of m's k-th key column. */
static size_t key_col(const lh_manifest *m, size_t k)
{
    return lh_manifest_column_index(m, m->key[k]);
}

/* type_rows for text columns only: the values are their own canonical text, and the insert
 * event's object is written here as DuckDB's to_json writes it (compact, in column order). */
static bool text_rows(const lh_manifest *m, small_in *in)
{
    in->typed = lh_calloc(in->nrows * in->ncols + 1, sizeof *in->typed);
    in->json = lh_calloc(in->nrows + 1, sizeof *in->json);
    for (size_t r = 0; r < in->nrows; r++) {
        json_t *o = json_object();
        for (size_t i = 0; i < m->ncolumns; i++) {
            if (!in->given[i]) continue;
            const char *v = in->val[r * in->ncols + i];
            in->typed[r * in->ncols + i] = v ? lh_strdup(v) : NULL;
            json_object_set_new(o, m->columns[i].name, v ? json_string(v) : json_null());
        }
        in->json[r] = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        for (size_t k = 0; k < m->nkey; k++)
            if (!in->typed[r * in->ncols + key_col(m, k)]) return false;
    }
    return true;
}

/* Types every row: in->typed (canonical text of each given value) and in->json. False if a
 * value does not convert or a row has no key (the general path reports which). */
static bool type_rows(ing_small *s, duckdb_connection c, const lh_manifest *m, small_in *in)
{
    bool text = true;
    for (size_t i = 0; i < m->ncolumns; i++)
        text = text && (!in->given[i] || strcmp(m->columns[i].type, "VARCHAR") == 0);
    if (text) return text_rows(m, in);
    lh_buf sig = {0}, sql = {0};
    sig_columns(&sig, c, m);
    lh_buf_puts(&sig, "|type");
    lh_buf_puts(&sql, "SELECT ");
    size_t np = 0;
    for (size_t i = 0; i < m->ncolumns; i++) {
        if (!in->given[i]) continue;
        lh_buf_printf(&sig, " %zu", i);
        lh_buf_printf(&sql, "CAST(TRY_CAST($%zu::VARCHAR AS %s) AS VARCHAR), ", ++np,
                      m->columns[i].type);
    }
    lh_buf_puts(&sql, "CAST(to_json({");
    for (size_t i = 0, k = 0; i < m->ncolumns; i++) {
        if (!in->given[i]) continue;
        if (k++) lh_buf_puts(&sql, ", ");
        lh_sql_quote(&sql, m->columns[i].name);
        lh_buf_printf(&sql, ": TRY_CAST($%zu::VARCHAR AS %s)", k, m->columns[i].type);
    }
    lh_buf_puts(&sql, "}) AS VARCHAR)");
    duckdb_prepared_statement ps = stmt_get(s, c, sig.data, sql.data);
    lh_buf_free(&sig);
    lh_buf_free(&sql);
    if (!ps) return false;
    in->typed = lh_calloc(in->nrows * in->ncols + 1, sizeof *in->typed);
    in->json = lh_calloc(in->nrows + 1, sizeof *in->json);
    for (size_t r = 0; r < in->nrows; r++) {
        char **val = in->val + r * in->ncols;
        for (size_t i = 0, k = 0; i < m->ncolumns; i++) {
            if (!in->given[i]) continue;
            k++;
            if (val[i])
                duckdb_bind_varchar(ps, k, val[i]);
            else
                duckdb_bind_null(ps, k);
        }
        duckdb_result res;
        if (duckdb_execute_prepared(ps, &res) != DuckDBSuccess) {
            duckdb_destroy_result(&res);
            return false;
        }
        bool ok = duckdb_row_count(&res) == 1;
        for (size_t i = 0, k = 0; ok && i <= m->ncolumns; i++) {
            if (i < m->ncolumns && !in->given[i]) continue;
            char *v = duckdb_value_is_null(&res, k, 0) ? NULL : duckdb_value_varchar(&res, k, 0);
            char **to = i < m->ncolumns ? &in->typed[r * in->ncols + i] : &in->json[r];
            *to = v ? lh_strdup(v) : NULL;
            duckdb_free(v);
            /* a value that does not convert */
            ok = *to || (i < m->ncolumns && !val[i]);
            k++;
        }
        duckdb_destroy_result(&res);
        for (size_t k = 0; ok && k < m->nkey; k++)
            ok = in->typed[r * in->ncols + key_col(m, k)] != NULL;
        if (!ok) return false;
    }
    return true;
}

/* True if row r's key equals the key in text row t (a current row). */
static bool key_is(const lh_manifest *m, const small_in *in, size_t r, const json_t *t)
{
    for (size_t k = 0; k < m->nkey; k++) {
        size_t c = key_col(m, k);
        const char *a = in->typed[r * in->ncols + c], *b = json_string_value(json_array_get(t, c));
        if (!b || strcmp(a, b) != 0) return false;
    }
    return true;
}

/* The current rows of the batch's keys into in->old: the pending table first (rows newer
 * than scan's version), then the query engine's hot table, then the files. */
static int current_rows(lh_ingest *ing, ing_small *s, duckdb_connection c, const lh_manifest *scan,
                        const char *pending, small_in *in, lh_error *err)
{
    const lh_manifest *m = scan;
    in->old = lh_calloc(in->nrows + 1, sizeof *in->old);
    bool *found = in->found = lh_calloc(in->nrows + 1, sizeof *found);
    lh_buf sig = {0}, sql = {0};
    int rc = LH_OK;
    bool missing = false;
    if (pending) {
        sig_columns(&sig, c, m);
        lh_buf_printf(&sig, "|lookup %s", pending);
        lh_buf_puts(&sql, "SELECT ");
        lh_manifest_text_columns(m, &sql);
        lh_buf_printf(&sql, "CAST(" LH_DELTA_DELETED " AS VARCHAR) FROM %s WHERE ", pending);
        for (size_t k = 0; k < m->nkey; k++) {
            if (k) lh_buf_puts(&sql, " AND ");
            lh_sql_ident(&sql, m->key[k]);
            lh_buf_printf(&sql, " = CAST($%zu::VARCHAR AS %s)", k + 1,
                          m->columns[key_col(m, k)].type);
        }
        duckdb_prepared_statement ps = stmt_get(s, c, sig.data, sql.data);
        if (!ps) {
            rc = lh_error_set(err, LH_EINTERNAL, "pending rows: cannot prepare the lookup");
            goto done;
        }
        for (size_t r = 0; r < in->nrows; r++) {
            for (size_t k = 0; k < m->nkey; k++)
                duckdb_bind_varchar(ps, k + 1, in->typed[r * in->ncols + key_col(m, k)]);
            duckdb_result res;
            if (duckdb_execute_prepared(ps, &res) != DuckDBSuccess) {
                rc = lh_error_set(err, LH_EINTERNAL, "pending rows: %s", duckdb_result_error(&res));
                duckdb_destroy_result(&res);
                goto done;
            }
            json_t *rows = lh_duckdb_result_json(&res);
            duckdb_destroy_result(&res);
            json_t *row = json_array_get(rows, 0);
            found[r] = row != NULL;
            missing = missing || !row;
            /* a pending delete: the key has no current row */
            if (row && strcmp(json_string_value(json_array_get(row, m->ncolumns)), "true"))
                in->old[r] = json_incref(row);
            json_decref(rows);
        }
    } else {
        missing = true;
    }
    if (!missing) goto done;
    /* The keys the pending table does not hold: "k IN (CAST('v' AS T), ...)" per key column
     * (the general path's filter, so the hot table and the files see the same predicate). */
    lh_buf where = {0};
    for (size_t k = 0; k < m->nkey; k++) {
        lh_buf_puts(&where, k ? " AND " : "");
        lh_sql_ident(&where, m->key[k]);
        lh_buf_puts(&where, " IN (");
        for (size_t r = 0, n = 0; r < in->nrows; r++) {
            if (found[r]) continue;
            lh_buf_puts(&where, n++ ? ", CAST(" : "CAST(");
            lh_sql_quote(&where, in->typed[r * in->ncols + key_col(m, k)]);
            lh_buf_printf(&where, " AS %s)", m->columns[key_col(m, k)].type);
        }
        lh_buf_putc(&where, ')');
    }
    json_t *rows = NULL;
    if (ing_wal_current(ing, m, where.data, &rows) != LH_OK) {
        lh_buf_reset(&sql);
        lh_buf_puts(&sql, "SELECT ");
        lh_manifest_text_columns(m, &sql);
        lh_buf_puts(&sql, "'false' FROM (");
        if (!(rc = lh_manifest_scan_sql_where(ing->st, m, where.data, &sql, err))) {
            lh_buf_putc(&sql, ')');
            rc = lh_duckdb_rows_json(c, sql.data, &rows, err);
            if (rc) lh_error_prefix(err, "current rows");
        }
    }
    lh_buf_free(&where);
    if (rc) goto done;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        for (size_t r = 0; r < in->nrows; r++)
            if (!found[r] && !in->old[r] && key_is(m, in, r, row)) in->old[r] = json_incref(row);
    }
    json_decref(rows);
done:
    lh_buf_free(&sig);
    lh_buf_free(&sql);
    return rc;
}

/* ------------------------------------------------------------- merge */

/* Whether two different canonical texts of type are different values. Only types with more
 * than one text per value ask DuckDB (-0.0 and 0.0; '1 day' and '24:00:00'; a time at two
 * offsets): the general path compares with IS DISTINCT FROM. On any failure: different. */
static bool distinct(ing_small *s, duckdb_connection c, const char *type, const char *a,
                     const char *b)
{
    if (strcmp(type, "DOUBLE") != 0 && strcmp(type, "FLOAT") != 0 &&
        strcmp(type, "INTERVAL") != 0 && strcmp(type, "TIME WITH TIME ZONE") != 0)
        return true;
    lh_buf sig = {0}, sql = {0};
    lh_buf_printf(&sig, "%p|distinct %s", (void *)c, type);
    lh_buf_printf(&sql,
                  "SELECT CAST(CAST($1::VARCHAR AS %s) IS DISTINCT FROM CAST($2::VARCHAR AS %s) "
                  "AS INTEGER)",
                  type, type);
    duckdb_prepared_statement ps = stmt_get(s, c, sig.data, sql.data);
    lh_buf_free(&sig);
    lh_buf_free(&sql);
    if (!ps) return true;
    duckdb_bind_varchar(ps, 1, a);
    duckdb_bind_varchar(ps, 2, b);
    duckdb_result res;
    bool d = true;
    if (duckdb_execute_prepared(ps, &res) == DuckDBSuccess && duckdb_row_count(&res) == 1)
        d = duckdb_value_int64(&res, 0, 0) != 0;
    duckdb_destroy_result(&res);
    return d;
}

/* Appends row's key as the general path writes it: concat_ws(',', key texts). */
static void key_text(const lh_manifest *m, const small_in *in, size_t row, lh_buf *b)
{
    for (size_t k = 0; k < m->nkey; k++) {
        if (k) lh_buf_putc(b, ',');
        lh_buf_puts(b, in->typed[row * in->ncols + key_col(m, k)]);
    }
}

/* The current row (text) as the delete event's JSON object, to_json of its typed values. */
static char *row_json(ing_small *s, duckdb_connection c, const lh_manifest *m, const json_t *row)
{
    lh_buf sig = {0}, sql = {0};
    sig_columns(&sig, c, m);
    lh_buf_puts(&sig, "|json");
    lh_buf_puts(&sql, "SELECT CAST(to_json({");
    for (size_t i = 0; i < m->ncolumns; i++) {
        if (i) lh_buf_puts(&sql, ", ");
        lh_sql_quote(&sql, m->columns[i].name);
        lh_buf_printf(&sql, ": CAST($%zu::VARCHAR AS %s)", i + 1, m->columns[i].type);
    }
    lh_buf_puts(&sql, "}) AS VARCHAR)");
    duckdb_prepared_statement ps = stmt_get(s, c, sig.data, sql.data);
    lh_buf_free(&sig);
    lh_buf_free(&sql);
    if (!ps) return NULL;
    for (size_t i = 0; i < m->ncolumns; i++) {
        const char *v = json_string_value(json_array_get(row, i));
        if (v)
            duckdb_bind_varchar(ps, i + 1, v);
        else
            duckdb_bind_null(ps, i + 1);
    }
    duckdb_result res;
    char *out = NULL;
    if (duckdb_execute_prepared(ps, &res) == DuckDBSuccess && duckdb_row_count(&res) == 1 &&
        !duckdb_value_is_null(&res, 0, 0)) {
        char *v = duckdb_value_varchar(&res, 0, 0);
        out = v ? lh_strdup(v) : NULL;
        duckdb_free(v);
    }
    duckdb_destroy_result(&res);
    return out;
}

/* A delete's delta rows and events, as build_delta makes them: each existing key's row
 * deleted (key columns kept, the rest NULL) with one event holding the whole old row; the
 * absent keys counted and the first five named. */
static int merge_deletes(ing_small *s, duckdb_connection c, const lh_manifest *m, small_in *in,
                         lh_upsert_result *r, json_t *w, json_t *ev, bool *fr, lh_error *err)
{
    lh_buf absent = {0};
    int rc = LH_OK;
    for (size_t row = 0; row < in->nrows; row++) {
        const json_t *old = in->old[row];
        lh_buf key = {0};
        key_text(m, in, row, &key);
        if (!old) {
            if (r->absent++ < 5) lh_buf_printf(&absent, "%s%s", absent.len ? ", " : "", key.data);
            lh_buf_free(&key);
            continue;
        }
        char *js = row_json(s, c, m, old);
        if (!js) {
            lh_buf_free(&key);
            rc = lh_error_set(err, LH_EINTERNAL, "delete: cannot write the old row as JSON");
            break;
        }
        json_t *out = json_array();
        for (size_t i = 0; i < m->ncolumns; i++)
            json_array_append_new(out, json_null());
        for (size_t k = 0; k < m->nkey; k++)
            json_array_set_new(out, key_col(m, k),
                               json_string(in->typed[row * in->ncols + key_col(m, k)]));
        json_array_append_new(out, json_string("true"));
        fr[json_array_size(w)] = !in->found[row];
        json_array_append_new(w, out);
        json_array_append_new(ev, json_pack("[s, s, s, n, s]", key.data, "*", js, "delete"));
        r->deleted++;
        free(js);
        lh_buf_free(&key);
    }
    if (absent.len) snprintf(r->absent_keys, sizeof r->absent_keys, "%s", absent.data);
    lh_buf_free(&absent);
    return rc;
}

static json_t *text_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

int ing_upsert_small(lh_ingest *ing, ing_small *s, duckdb_connection c, const lh_manifest *scan,
                     const char *pending, const char *path, const char *data, size_t len,
                     lh_ingest_format fmt, bool del, lh_upsert_result *r, json_t **whole,
                     json_t **events, bool **fresh, lh_error *err)
{
    const lh_manifest *m = scan;
    /* (A NUL byte: DuckDB's reader decides what it means.) */
    if (!m->nkey || len > SMALL_MAX_BYTES || memchr(data, 0, len) || !ing_scalar_columns(m))
        return ING_NOT_SMALL;
    small_in in = {.ncols = m->ncolumns};
    in.given = lh_calloc(m->ncolumns + 1, sizeof *in.given);
    int rc = ING_NOT_SMALL;
    bool parsed;
    if (fmt == LH_FORMAT_NDJSON) {
        parsed = parse_ndjson(data, len, m, &in);
    } else {
        char delim;
        int nf;
        ing_detect_dialect(path, &delim, &nf);
        parsed = parse_csv(data, len, delim, m, &in);
    }
    if (!parsed) goto done;
    for (size_t k = 0; k < m->nkey; k++)
        if (!in.given[key_col(m, k)]) goto done;
    if (!type_rows(s, c, m, &in)) goto done;
    /* A key given twice: the general path keeps the last row and reports the key. */
    for (size_t a = 0; a < in.nrows; a++)
        for (size_t b = a + 1; b < in.nrows; b++) {
            bool same = true;
            for (size_t k = 0; same && k < m->nkey; k++)
                same = strcmp(in.typed[a * in.ncols + key_col(m, k)],
                              in.typed[b * in.ncols + key_col(m, k)]) == 0;
            if (same) goto done;
        }
    if ((rc = current_rows(ing, s, c, m, pending, &in, err))) goto done;

    /* The delta rows and the events, as build_delta makes them: inserts first, then the
     * updates column by column. */
    json_t *w = json_array(), *ins = json_array(), *upd = json_array();
    memset(r, 0, sizeof *r);
    r->rows_in = (int64_t)in.nrows;
    bool *changed = lh_calloc(in.nrows * in.ncols + 1, sizeof *changed);
    bool *fr = lh_calloc(in.nrows + 1, sizeof *fr);
    if (del && (rc = merge_deletes(s, c, m, &in, r, w, ins, fr, err))) {
        json_decref(w);
        json_decref(ins);
        json_decref(upd);
        free(changed);
        free(fr);
        goto done;
    }
    for (size_t row = 0; !del && row < in.nrows; row++) {
        const json_t *old = in.old[row];
        bool any = !old;
        lh_buf key = {0};
        key_text(m, &in, row, &key);
        for (size_t i = 0; old && i < m->ncolumns; i++) {
            if (!in.has[row * in.ncols + i]) continue;
            const char *a = in.typed[row * in.ncols + i];
            const char *b = json_string_value(json_array_get(old, i));
            changed[row * in.ncols + i] =
                (!a != !b) || (a && strcmp(a, b) != 0 && distinct(s, c, m->columns[i].type, a, b));
            any = any || changed[row * in.ncols + i];
        }
        if (!any) {
            r->unchanged++;
            lh_buf_free(&key);
            continue;
        }
        json_t *out = json_array();
        for (size_t i = 0; i < m->ncolumns; i++) {
            if (in.has[row * in.ncols + i])
                json_array_append_new(out, text_or_null(in.typed[row * in.ncols + i]));
            else
                json_array_append_new(out, old ? json_incref(json_array_get(old, i)) : json_null());
        }
        json_array_append_new(out, json_string("false"));
        fr[json_array_size(w)] = !in.found[row];
        json_array_append_new(w, out);
        if (!old) {
            r->inserted++;
            json_array_append_new(
                ins, json_pack("[s, s, n, s, s]", key.data, "*", in.json[row], "insert"));
        } else {
            r->updated++;
        }
        lh_buf_free(&key);
    }
    for (size_t i = 0; i < m->ncolumns; i++)
        for (size_t row = 0; row < in.nrows; row++) {
            if (!changed[row * in.ncols + i]) continue;
            lh_buf key = {0};
            key_text(m, &in, row, &key);
            json_t *e = json_array();
            json_array_append_new(e, json_string(key.data));
            json_array_append_new(e, json_string(m->columns[i].name));
            json_array_append(e, json_array_get(in.old[row], i));
            json_array_append_new(e, text_or_null(in.typed[row * in.ncols + i]));
            json_array_append_new(e, json_string("update"));
            json_array_append_new(upd, e);
            lh_buf_free(&key);
        }
    free(changed);
    json_array_extend(ins, upd);
    json_decref(upd);
    if (json_array_size(w) == 0) {
        r->noop = true;
        r->version = m->version;
    }
    *whole = w;
    *events = ins;
    *fresh = fr;
    rc = LH_OK;
done:
    in_free(&in);
    return rc;
}
