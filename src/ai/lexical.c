/* The lexical index: chunks in SQLite FTS5, ranked by BM25. A derived index: everything in it
 * can be rebuilt from the embedding store's Parquet (lh_ai_lexical_rebuild_from_store). */
#include "ai/ai_int.h"
#include "vector/vector.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEX_FORMAT "lakehouse-lexical-1"
#define QUERY_MAX 4096
#define QUERY_TERMS_MAX 64

struct lh_ai_lexical {
    sqlite3 *db;
    char *path;
};

static int db_error(lh_ai_lexical *x, int code, const char *what, lh_error *err)
{
    return lh_error_set(err, code, "lexical index %s: %s: %s", x->path, what,
                        sqlite3_errmsg(x->db));
}

static int exec(lh_ai_lexical *x, const char *sql, lh_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(x->db, sql, NULL, NULL, &msg) == SQLITE_OK) return LH_OK;
    int rc = lh_error_set(err, LH_EIO, "lexical index %s: %s", x->path, msg ? msg : "failed");
    sqlite3_free(msg);
    return rc;
}

void lh_ai_lexical_close(lh_ai_lexical *x)
{
    if (!x) return;
    sqlite3_close(x->db);
    free(x->path);
    free(x);
}

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS lh_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS lh_chunks(id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL,"
    " chunk_id INTEGER NOT NULL, UNIQUE(doc_id, chunk_id));"
    "CREATE VIRTUAL TABLE IF NOT EXISTS lh_fts USING fts5(text,"
    " tokenize = 'porter unicode61 remove_diacritics 2');"
    "INSERT OR IGNORE INTO lh_meta VALUES('format', '" LEX_FORMAT "');";

int lh_ai_lexical_open(const char *path, lh_ai_lexical **out, lh_error *err)
{
    *out = NULL;
    if (!path || !*path) return lh_error_set(err, LH_EINVAL, "lexical index: no path");
    lh_ai_lexical *x = lh_calloc(1, sizeof *x);
    x->path = lh_strdup(path);
    int rc = LH_OK;
    if (sqlite3_open_v2(path, &x->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        rc = lh_error_set(err, LH_EIO, "lexical index %s: cannot open: %s", path,
                          x->db ? sqlite3_errmsg(x->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(x->db, 5000);
    rc = exec(x, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", err);
    if (rc == LH_OK) rc = exec(x, schema, err);
    if (rc != LH_OK) {
        /* a file that is not SQLite, or a SQLite file with other tables of these names */
        char why[LH_ERROR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err ? err->msg : "");
        rc = lh_error_set(err, LH_ECORRUPT, "%s (not a lexical index?)", why);
        goto fail;
    }
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(x->db, "SELECT value FROM lh_meta WHERE key = 'format'", -1, &st, NULL);
    const unsigned char *fmt =
        st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    if (!fmt || strcmp((const char *)fmt, LEX_FORMAT) != 0)
        rc = lh_error_set(err, LH_ECORRUPT, "lexical index %s: format '%s', expected '%s'", path,
                          fmt ? (const char *)fmt : "(none)", LEX_FORMAT);
    sqlite3_finalize(st);
    if (rc != LH_OK) goto fail;
    *out = x;
    return LH_OK;
fail:
    lh_ai_lexical_close(x);
    return rc;
}

/* Adds docs inside an open transaction. */
static int add_rows(lh_ai_lexical *x, const lh_ai_lexical_doc *docs, size_t n, lh_error *err)
{
    sqlite3_stmt *find = NULL, *ins = NULL, *upd = NULL, *fts = NULL;
    int rc = LH_OK;
    if (sqlite3_prepare_v2(x->db, "SELECT id FROM lh_chunks WHERE doc_id = ? AND chunk_id = ?", -1,
                           &find, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(x->db, "INSERT INTO lh_chunks(doc_id, chunk_id) VALUES(?, ?)", -1, &ins,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(x->db, "UPDATE lh_fts SET text = ? WHERE rowid = ?", -1, &upd, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(x->db, "INSERT INTO lh_fts(rowid, text) VALUES(?, ?)", -1, &fts, NULL) !=
            SQLITE_OK) {
        rc = db_error(x, LH_EIO, "prepare", err);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const lh_ai_lexical_doc *d = &docs[i];
        size_t bad;
        if (!d->doc_id || !*d->doc_id || !d->text) {
            rc = lh_error_set(err, LH_EINVAL, "lexical add: chunk %zu lacks a doc_id or text", i);
            goto done;
        }
        if (!lh_utf8_valid(d->text, strlen(d->text), &bad) ||
            !lh_utf8_valid(d->doc_id, strlen(d->doc_id), NULL)) {
            rc =
                lh_error_set(err, LH_EINVAL, "lexical add: chunk %zu (%s #%lld) is not valid UTF-8",
                             i, d->doc_id, (long long)d->chunk_id);
            goto done;
        }
        sqlite3_reset(find);
        sqlite3_bind_text(find, 1, d->doc_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(find, 2, d->chunk_id);
        int s = sqlite3_step(find);
        sqlite3_stmt *w;
        int64_t id;
        if (s == SQLITE_ROW) {
            id = sqlite3_column_int64(find, 0);
            w = upd;
            sqlite3_reset(w);
            sqlite3_bind_text(w, 1, d->text, -1, SQLITE_STATIC);
            sqlite3_bind_int64(w, 2, id);
        } else if (s == SQLITE_DONE) {
            sqlite3_reset(ins);
            sqlite3_bind_text(ins, 1, d->doc_id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(ins, 2, d->chunk_id);
            if (sqlite3_step(ins) != SQLITE_DONE) {
                rc = db_error(x, LH_EIO, "insert", err);
                goto done;
            }
            id = sqlite3_last_insert_rowid(x->db);
            w = fts;
            sqlite3_reset(w);
            sqlite3_bind_int64(w, 1, id);
            sqlite3_bind_text(w, 2, d->text, -1, SQLITE_STATIC);
        } else {
            rc = db_error(x, LH_EIO, "lookup", err);
            goto done;
        }
        if (sqlite3_step(w) != SQLITE_DONE) {
            rc = db_error(x, LH_EIO, "index text", err);
            goto done;
        }
    }
done:
    sqlite3_finalize(find);
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    sqlite3_finalize(fts);
    return rc;
}

static int in_transaction(lh_ai_lexical *x, int rc, lh_error *err)
{
    if (rc == LH_OK) {
        lh_error e2;
        int c = exec(x, "COMMIT", &e2);
        if (c == LH_OK) return LH_OK;
        lh_error_set(err, c, "%s", e2.msg);
        rc = c;
    }
    sqlite3_exec(x->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int lh_ai_lexical_add(lh_ai_lexical *x, const lh_ai_lexical_doc *docs, size_t n, lh_error *err)
{
    if (!x || (!docs && n)) return lh_error_set(err, LH_EINVAL, "lexical add: no index or docs");
    int rc = exec(x, "BEGIN IMMEDIATE", err);
    if (rc != LH_OK) return rc;
    return in_transaction(x, add_rows(x, docs, n, err), err);
}

int lh_ai_lexical_delete_doc(lh_ai_lexical *x, const char *doc_id, size_t *removed, lh_error *err)
{
    if (removed) *removed = 0;
    if (!x || !doc_id) return lh_error_set(err, LH_EINVAL, "lexical delete: no index or doc_id");
    int rc = exec(x, "BEGIN IMMEDIATE", err);
    if (rc != LH_OK) return rc;
    sqlite3_stmt *a = NULL, *b = NULL;
    if (sqlite3_prepare_v2(x->db,
                           "DELETE FROM lh_fts WHERE rowid IN "
                           "(SELECT id FROM lh_chunks WHERE doc_id = ?)",
                           -1, &a, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(x->db, "DELETE FROM lh_chunks WHERE doc_id = ?", -1, &b, NULL) !=
            SQLITE_OK) {
        rc = db_error(x, LH_EIO, "prepare", err);
    } else {
        sqlite3_bind_text(a, 1, doc_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(b, 1, doc_id, -1, SQLITE_STATIC);
        if (sqlite3_step(a) != SQLITE_DONE || sqlite3_step(b) != SQLITE_DONE)
            rc = db_error(x, LH_EIO, "delete", err);
        else if (removed)
            *removed = (size_t)sqlite3_changes(x->db);
    }
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    return in_transaction(x, rc, err);
}

int lh_ai_lexical_count(lh_ai_lexical *x, int64_t *out, lh_error *err)
{
    *out = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(x->db, "SELECT count(*) FROM lh_chunks", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return db_error(x, LH_EIO, "count", err);
    }
    *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return LH_OK;
}

int lh_ai_lexical_rebuild_from_store(lh_ai_lexical *x, const char *parquet_path, lh_error *err)
{
    lh_vector_store_data d = {0};
    int rc = lh_vector_store_read(parquet_path, true, &d, err);
    if (rc != LH_OK) return lh_error_prefix(err, "lexical rebuild");
    lh_ai_lexical_doc *docs = lh_calloc(d.n ? d.n : 1, sizeof *docs);
    size_t m = 0;
    for (size_t i = 0; i < d.n; i++) {
        if (!d.chunk_texts || !d.chunk_texts[i]) continue;
        docs[m++] = (lh_ai_lexical_doc){d.doc_ids[i], d.chunk_ids[i], d.chunk_texts[i]};
    }
    rc = exec(x, "BEGIN IMMEDIATE", err);
    if (rc == LH_OK) {
        rc = exec(x, "DELETE FROM lh_fts; DELETE FROM lh_chunks;", err);
        if (rc == LH_OK) rc = add_rows(x, docs, m, err);
        if (rc == LH_OK) {
            sqlite3_stmt *st = NULL;
            sqlite3_prepare_v2(x->db, "INSERT OR REPLACE INTO lh_meta VALUES('source', ?)", -1, &st,
                               NULL);
            sqlite3_bind_text(st, 1, parquet_path, -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE) rc = db_error(x, LH_EIO, "meta", err);
            sqlite3_finalize(st);
        }
        rc = in_transaction(x, rc, err);
    }
    free(docs);
    lh_vector_store_data_free(&d);
    return rc;
}

/* Collects query words as quoted FTS5 strings ("word", quotes doubled) joined by OR. */
typedef struct qbuild {
    lh_buf q;
    size_t terms;
} qbuild;

static void add_term(const char *tok, size_t len, void *arg)
{
    qbuild *b = arg;
    if (b->terms >= QUERY_TERMS_MAX) return;
    if (b->terms) lh_buf_puts(&b->q, " OR ");
    lh_buf_putc(&b->q, '"');
    for (size_t i = 0; i < len; i++) {
        if (tok[i] == '"') lh_buf_putc(&b->q, '"');
        lh_buf_putc(&b->q, tok[i]);
    }
    lh_buf_putc(&b->q, '"');
    b->terms++;
}

int lh_ai_lexical_search(lh_ai_lexical *x, const char *query, size_t k, lh_ai_lexical_hit **out,
                         size_t *n_out, lh_error *err)
{
    *out = NULL;
    *n_out = 0;
    if (!x || !query) return lh_error_set(err, LH_EINVAL, "lexical search: no index or query");
    size_t len = strlen(query), bad;
    if (k < 1 || k > 1000)
        return lh_error_set(err, LH_EINVAL, "lexical search: k = %zu is out of range [1, 1000]", k);
    if (len > QUERY_MAX)
        return lh_error_set(err, LH_ETOOBIG, "lexical search: query is %zu bytes, over %d", len,
                            QUERY_MAX);
    if (!lh_utf8_valid(query, len, &bad))
        return lh_error_set(err, LH_EINVAL, "lexical search: query is not valid UTF-8 (byte %zu)",
                            bad);
    qbuild b = {0};
    ai_words(query, len, add_term, &b);
    if (b.terms == 0) {
        lh_buf_free(&b.q);
        return lh_error_set(err, LH_EINVAL, "lexical search: query has no words");
    }
    sqlite3_stmt *st = NULL;
    int rc = LH_OK;
    if (sqlite3_prepare_v2(x->db,
                           "SELECT c.doc_id, c.chunk_id, -bm25(lh_fts),"
                           " snippet(lh_fts, 0, '<mark>', '</mark>', '…', 32)"
                           " FROM lh_fts JOIN lh_chunks c ON c.id = lh_fts.rowid"
                           " WHERE lh_fts MATCH ? ORDER BY bm25(lh_fts) LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(x, LH_EIO, "prepare search", err);
        goto done;
    }
    sqlite3_bind_text(st, 1, b.q.data, (int)b.q.len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)k);
    lh_ai_lexical_hit *hits = lh_calloc(k, sizeof *hits);
    size_t n = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW && n < k) {
        hits[n].doc_id = lh_strdup((const char *)sqlite3_column_text(st, 0));
        hits[n].chunk_id = sqlite3_column_int64(st, 1);
        hits[n].score = sqlite3_column_double(st, 2);
        const unsigned char *h = sqlite3_column_text(st, 3);
        hits[n].highlight = lh_strdup(h ? (const char *)h : "");
        n++;
    }
    if (s != SQLITE_ROW && s != SQLITE_DONE) {
        rc = db_error(x, LH_EIO, "search", err);
        lh_ai_lexical_hits_free(hits, n);
        goto done;
    }
    *out = hits;
    *n_out = n;
done:
    sqlite3_finalize(st);
    lh_buf_free(&b.q);
    return rc;
}

void lh_ai_lexical_hits_free(lh_ai_lexical_hit *hits, size_t n)
{
    if (!hits) return;
    for (size_t i = 0; i < n; i++) {
        free(hits[i].doc_id);
        free(hits[i].highlight);
    }
    free(hits);
}
