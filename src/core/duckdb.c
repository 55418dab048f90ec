/* Project helpers over DuckDB's C API: version check, SQL quoting, one-shot statements. */
#include <stdlib.h>
#include <string.h>

#include "core/duckdb_capi.h"

int lh_duckdb_check_version(lh_error *err)
{
    const char *have = duckdb_library_version();
    if (!have || strcmp(have, LH_DUCKDB_VERSION) != 0)
        return lh_error_set(err, LH_EUNSUPPORTED,
                            "libduckdb.so is version %s but lakehouse was written for %s; run "
                            "scripts/bootstrap to install the pinned DuckDB into deps/",
                            have ? have : "(unknown)", LH_DUCKDB_VERSION);
    return LH_OK;
}

static void quote_with(lh_buf *b, const char *s, char q)
{
    lh_buf_putc(b, q);
    for (const char *p = s; *p; p++) {
        if (*p == q) lh_buf_putc(b, q);
        lh_buf_putc(b, *p);
    }
    lh_buf_putc(b, q);
}

void lh_sql_quote(lh_buf *b, const char *s)
{
    quote_with(b, s, '\'');
}

void lh_sql_ident(lh_buf *b, const char *s)
{
    quote_with(b, s, '"');
}

void lh_sql_ident_list(lh_buf *b, char *const *names, size_t n, const char *alias)
{
    for (size_t i = 0; i < n; i++) {
        if (i) lh_buf_puts(b, ", ");
        if (alias) lh_buf_printf(b, "%s.", alias);
        lh_sql_ident(b, names[i]);
    }
}

void lh_sql_key_match(lh_buf *b, char *const *key, size_t n, const char *x, const char *y)
{
    for (size_t i = 0; i < n; i++) {
        lh_buf_printf(b, "%s%s.", i ? " AND " : "", x);
        lh_sql_ident(b, key[i]);
        lh_buf_printf(b, " = %s.", y);
        lh_sql_ident(b, key[i]);
    }
}

void lh_duckdb_drop_table(duckdb_connection conn, char **name)
{
    if (!*name) return;
    lh_buf sql = {0};
    lh_buf_printf(&sql, "DROP TABLE IF EXISTS %s", *name);
    lh_duckdb_exec(conn, sql.data, "drop table", NULL);
    lh_buf_free(&sql);
    free(*name);
    *name = NULL;
}

int lh_duckdb_exec(duckdb_connection conn, const char *sql, const char *what, lh_error *err)
{
    duckdb_result res;
    int rc = LH_OK;
    if (duckdb_query(conn, sql, &res) != DuckDBSuccess) {
        const char *m = duckdb_result_error(&res);
        rc = lh_error_set(err, LH_EINVAL, "%s: %s", what, m ? m : "unknown DuckDB error");
    }
    duckdb_destroy_result(&res);
    return rc;
}

int lh_duckdb_prepare(duckdb_connection c, const char *sql, duckdb_prepared_statement *out,
                      lh_error *err)
{
    if (duckdb_prepare(c, sql, out) == DuckDBSuccess) return LH_OK;
    const char *msg = duckdb_prepare_error(*out);
    int rc = lh_error_set(err, LH_EINVAL, "prepare: %s", msg ? msg : "DuckDB error");
    duckdb_destroy_prepare(out);
    *out = NULL;
    return rc;
}
