/* The lexical index: chunks in SQLite FTS5, ranked by BM25. A derived index: everything in it
 * can be rebuilt from the embedding store's Parquet (lh_ai_lexical_rebuild_from_store). */
#include "ai/ai_int.h"
#include "vector/vector.h"

#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEX_FORMAT "lakehouse-lexical-1"
#define QUERY_MAX 4096
#define QUERY_TERMS_MAX 64

typedef struct lex_stats lex_stats;

struct lh_ai_lexical {
    sqlite3 *db;
    char *path;
    pthread_mutex_t mu; /* guards stats (the pointer and its shared parts) */
    lex_stats *stats;   /* for ranking; NULL until the first search and after a write */
};

static void stats_drop(lh_ai_lexical *x);
static int register_rank(lh_ai_lexical *x, lh_error *err);

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
    stats_drop(x);
    pthread_mutex_destroy(&x->mu);
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
    pthread_mutex_init(&x->mu, NULL);
    int rc = LH_OK;
    if (sqlite3_open_v2(path, &x->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        rc = lh_error_set(err, LH_EIO, "lexical index %s: cannot open: %s", path,
                          x->db ? sqlite3_errmsg(x->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(x->db, 5000);
    /* searches read the FTS5 pages through a memory map rather than read() into the page cache */
    rc = exec(x,
              "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
              " PRAGMA mmap_size = 1073741824;",
              err);
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
    if (rc == LH_OK) rc = register_rank(x, err);
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
    rc = in_transaction(x, add_rows(x, docs, n, err), err);
    stats_drop(x); /* after the write: a search in between must not cache the old table */
    return rc;
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
    rc = in_transaction(x, rc, err);
    stats_drop(x);
    return rc;
}

int lh_ai_lexical_optimize(lh_ai_lexical *x, lh_error *err)
{
    if (!x) return lh_error_set(err, LH_EINVAL, "lexical optimize: no index");
    int rc = exec(x, "INSERT INTO lh_fts(lh_fts) VALUES('optimize')", err);
    stats_drop(x);
    return rc;
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
    if (rc != LH_OK) return lh_error_wrap(err, rc, "lexical rebuild");
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
        if (rc == LH_OK) rc = exec(x, "INSERT INTO lh_fts(lh_fts) VALUES('optimize')", err);
        if (rc == LH_OK) {
            sqlite3_stmt *st = NULL;
            sqlite3_prepare_v2(x->db, "INSERT OR REPLACE INTO lh_meta VALUES('source', ?)", -1, &st,
                               NULL);
            sqlite3_bind_text(st, 1, parquet_path, -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE) rc = db_error(x, LH_EIO, "meta", err);
            sqlite3_finalize(st);
        }
        rc = in_transaction(x, rc, err);
        stats_drop(x);
    }
    free(docs);
    lh_vector_store_data_free(&d);
    return rc;
}

/* Words too common to help a ranking: left out of the query when it has other words (every
 * chunk matching "the" would be scored otherwise). */
static const char *const stopwords[] = {
    "a",    "an",    "and",  "are",  "as",    "at",  "be",   "by",      "can",  "could", "do",
    "does", "for",   "from", "has",  "have",  "how", "i",    "in",      "is",   "it",    "its",
    "me",   "my",    "of",   "on",   "or",    "our", "so",   "that",    "the",  "their", "them",
    "then", "there", "they", "this", "to",    "was", "we",   "what",    "when", "where", "which",
    "who",  "why",   "will", "with", "would", "you", "your", "someone", NULL};

/* A query's words as quoted FTS5 strings ("word", quotes doubled), in order: all of them, and
 * the ones that are not stopwords. */
typedef struct qwords {
    char *all[QUERY_TERMS_MAX], *content[QUERY_TERMS_MAX];
    size_t nall, ncontent;
} qwords;

static char *quote_term(const char *tok, size_t len)
{
    lh_buf b = {0};
    lh_buf_putc(&b, '"');
    for (size_t i = 0; i < len; i++) {
        if (tok[i] == '"') lh_buf_putc(&b, '"');
        lh_buf_putc(&b, tok[i]);
    }
    lh_buf_putc(&b, '"');
    return lh_buf_steal(&b);
}

static void add_term(const char *tok, size_t len, void *arg)
{
    qwords *q = arg;
    if (q->nall >= QUERY_TERMS_MAX) return;
    q->all[q->nall++] = quote_term(tok, len);
    for (size_t i = 0; stopwords[i]; i++)
        if (strlen(stopwords[i]) == len && memcmp(stopwords[i], tok, len) == 0) return;
    q->content[q->ncontent++] = quote_term(tok, len);
}

static void qwords_free(qwords *q)
{
    for (size_t i = 0; i < q->nall; i++)
        free(q->all[i]);
    for (size_t i = 0; i < q->ncontent; i++)
        free(q->content[i]);
}

/* Checks a query and splits it into the phrases that are searched (*phrases points into q). */
static int parse_query(const char *query, qwords *q, char ***phrases, size_t *n, lh_error *err)
{
    memset(q, 0, sizeof *q);
    size_t len = strlen(query), bad;
    if (len > QUERY_MAX)
        return lh_error_set(err, LH_ETOOBIG, "lexical search: query is %zu bytes, over %d", len,
                            QUERY_MAX);
    if (!lh_utf8_valid(query, len, &bad))
        return lh_error_set(err, LH_EINVAL, "lexical search: query is not valid UTF-8 (byte %zu)",
                            bad);
    ai_words(query, len, add_term, q);
    if (q->nall == 0) return lh_error_set(err, LH_EINVAL, "lexical search: query has no words");
    *phrases = q->ncontent ? q->content : q->all;
    *n = q->ncontent ? q->ncontent : q->nall;
    return LH_OK;
}

static void join_or(lh_buf *b, char *const *phrases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i) lh_buf_puts(b, " OR ");
        lh_buf_puts(b, phrases[i]);
    }
}

/* ---------------------------------------------------------------- ranking
 *
 * Exact top-k BM25 with FTS5's own formula (fts5_aux.c: k1 1.2, b 0.75, idf
 * log((N - n + 0.5) / (n + 0.5)) floored at 1e-6, summed over the query's phrases in order),
 * computed by our auxiliary function lh_rank instead of bm25() so that not every chunk that
 * holds a query word has to be scored. FTS5's bm25() with ORDER BY scores every match and
 * walks each phrase's whole doclist per query to count its documents; resume words are shared
 * by tens of thousands of chunks, so that was 25-250 ms a query.
 *
 * Term-level MaxScore: each distinct phrase's document count and best per-document BM25 factor
 * (max over its documents of tf (k1 + 1) / (tf + k1 (1 - b + b D / avgdl))) come from one pass
 * over its postings, cached per handle; its upper bound is idf x that factor x its number of
 * occurrences in the query. Phrases are taken by decreasing bound: batch r reads the chunks
 * that hold phrase r and none of the phrases before it, with the later phrases OR-ed in so
 * that every chunk read is scored on the whole query. Once the k-th best score exceeds the sum
 * of the bounds of the phrases not read yet, no unread chunk can enter the top k (it holds only
 * those phrases), and the search stops. Ties are broken by FTS rowid (lower first). At worst
 * every batch runs: the same chunks as the plain OR query, each scored once. */

#define BM25_K1 1.2
#define BM25_B 0.75
#define TERM_BUCKETS 1024
#define TERM_CACHE_MAX 100000
#define BOUND_SLACK 1e-9 /* bounds are summed in another order than scores */

typedef struct term_stat {
    char *phrase; /* quoted, as in the MATCH expression */
    int64_t df;
    double maxpart; /* best tf factor over the phrase's documents */
    struct term_stat *next;
} term_stat;

/* What ranking needs besides postings, read once per handle and dropped by writes: token
 * counts and chunk ids by FTS rowid (FTS5's docsize table and lh_chunks), the table's totals,
 * and the phrases' statistics. Immutable once loaded except terms/nterms/have_totals/rows/
 * tokens, which x->mu guards. */
typedef struct lex_stats {
    int refs;         /* guarded by x->mu */
    int64_t nids;     /* rowids 0..nids-1 are covered by len and chunk */
    uint32_t *len;    /* tokens of row id; 0 = unknown (asked from FTS5) */
    int64_t *chunk;   /* chunk_id of row id; -1 = unknown */
    bool have_totals; /* rows and tokens as FTS5 counts them, from the first scored row */
    int64_t rows, tokens;
    term_stat *terms[TERM_BUCKETS];
    size_t nterms;
} lex_stats;

/* Empties st's term cache. */
static void terms_clear(lex_stats *st)
{
    for (size_t i = 0; i < TERM_BUCKETS; i++) {
        for (term_stat *t = st->terms[i], *nx; t; t = nx) {
            nx = t->next;
            free(t->phrase);
            free(t);
        }
        st->terms[i] = NULL;
    }
    st->nterms = 0;
}

static void stats_unref(lex_stats *st)
{
    if (!st || --st->refs > 0) return;
    terms_clear(st);
    free(st->len);
    free(st->chunk);
    free(st);
}

/* Drops the handle's statistics after a write (searches holding them finish with them). */
static void stats_drop(lh_ai_lexical *x)
{
    pthread_mutex_lock(&x->mu);
    lex_stats *st = x->stats;
    x->stats = NULL;
    if (st) stats_unref(st);
    pthread_mutex_unlock(&x->mu);
}

/* SQLite's varint (what FTS5 writes into its docsize blobs). */
static uint64_t get_varint(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n && i < 9; i++) {
        if (i == 8) return (v << 8) | p[i];
        v = (v << 7) | (p[i] & 0x7f);
        if (!(p[i] & 0x80)) return v;
    }
    return v;
}

static int stats_load(lh_ai_lexical *x, lex_stats **out, lh_error *err)
{
    lex_stats *st = lh_calloc(1, sizeof *st);
    st->refs = 1;
    sqlite3_stmt *s = NULL;
    int rc = LH_OK;
    if (sqlite3_prepare_v2(x->db,
                           "SELECT max(coalesce((SELECT max(id) FROM lh_fts_docsize), 0),"
                           " coalesce((SELECT max(id) FROM lh_chunks), 0))",
                           -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        rc = db_error(x, LH_EIO, "statistics", err);
        goto done;
    }
    st->nids = sqlite3_column_int64(s, 0) + 1;
    sqlite3_finalize(s);
    s = NULL;
    st->len = lh_calloc((size_t)st->nids, sizeof *st->len);
    st->chunk = lh_malloc((size_t)st->nids * sizeof *st->chunk);
    for (int64_t i = 0; i < st->nids; i++)
        st->chunk[i] = -1;
    if (sqlite3_prepare_v2(x->db, "SELECT id, sz FROM lh_fts_docsize", -1, &s, NULL) != SQLITE_OK) {
        rc = db_error(x, LH_EIO, "statistics", err);
        goto done;
    }
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        const unsigned char *sz = sqlite3_column_blob(s, 1);
        uint64_t v = sz ? get_varint(sz, sqlite3_column_bytes(s, 1)) : 0;
        if (id >= 0 && id < st->nids && v <= UINT32_MAX) st->len[id] = (uint32_t)v;
    }
    sqlite3_finalize(s);
    s = NULL;
    if (r != SQLITE_DONE || sqlite3_prepare_v2(x->db, "SELECT id, chunk_id FROM lh_chunks", -1, &s,
                                               NULL) != SQLITE_OK) {
        rc = db_error(x, LH_EIO, "statistics", err);
        goto done;
    }
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        if (id >= 0 && id < st->nids) st->chunk[id] = sqlite3_column_int64(s, 1);
    }
    if (r != SQLITE_DONE) rc = db_error(x, LH_EIO, "statistics", err);
done:
    sqlite3_finalize(s);
    if (rc) {
        stats_unref(st);
        st = NULL;
    }
    *out = st;
    return rc;
}

/* The handle's statistics with a reference for the caller, loading them if needed. */
static int stats_get(lh_ai_lexical *x, lex_stats **out, lh_error *err)
{
    pthread_mutex_lock(&x->mu);
    int rc = LH_OK;
    if (!x->stats) rc = stats_load(x, &x->stats, err);
    if (!rc) x->stats->refs++;
    *out = x->stats;
    pthread_mutex_unlock(&x->mu);
    return rc;
}

static term_stat *term_find(lex_stats *st, const char *phrase)
{
    size_t b = lh_hash64(phrase, strlen(phrase), 0) % TERM_BUCKETS;
    for (term_stat *t = st->terms[b]; t; t = t->next)
        if (strcmp(t->phrase, phrase) == 0) return t;
    return NULL;
}

/* One query's scoring state, handed to lh_rank through a bound pointer. */
typedef struct hitref {
    double score;
    int64_t id;
} hitref;

enum { RANK_STATS, RANK_SCORE };

typedef struct rank_ctx {
    int mode;
    const lex_stats *st; /* len and chunk only */
    int rc;
    bool have_totals;
    int64_t rows, tokens;
    double avgdl;
    /* RANK_STATS: phrase 0 of the expression */
    int64_t df;
    double maxpart;
    /* RANK_SCORE */
    const lh_vector_bitset *allow;
    size_t nphrases;        /* the query's phrases, in order */
    const int *phrase_term; /* query phrase -> term */
    const double *idf;      /* by term */
    size_t nexpr;           /* the expression's phrases */
    const int *expr_term;   /* expression phrase -> term, -1 = not needed */
    int *tf;                /* by term, scratch */
    size_t nterms;
    hitref *heap; /* the k best so far; heap[0] the worst of them */
    size_t nheap, k;
    size_t scored;
} rank_ctx;

#define RANK_CTX "lh_lexical_rank_ctx"

static bool worse(const hitref *a, const hitref *b)
{
    return a->score < b->score || (a->score == b->score && a->id > b->id);
}

static void heap_down(hitref *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m])) m = l;
        if (r < n && worse(&h[r], &h[m])) m = r;
        if (m == i) return;
        hitref t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_push(rank_ctx *c, hitref v)
{
    if (c->nheap < c->k) {
        size_t i = c->nheap++;
        c->heap[i] = v;
        while (i > 0 && worse(&c->heap[i], &c->heap[(i - 1) / 2])) {
            hitref t = c->heap[i];
            c->heap[i] = c->heap[(i - 1) / 2];
            c->heap[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
    } else if (worse(&c->heap[0], &v)) {
        c->heap[0] = v;
        heap_down(c->heap, c->nheap, 0);
    }
}

static int phrase_tf(const Fts5ExtensionApi *api, Fts5Context *fts, int phrase, int *tf)
{
    Fts5PhraseIter it;
    int col, off, n = 0;
    int rc = api->xPhraseFirst(fts, phrase, &it, &col, &off);
    if (rc != SQLITE_OK) return rc;
    for (; col >= 0; api->xPhraseNext(fts, &it, &col, &off))
        n++;
    *tf = n;
    return SQLITE_OK;
}

/* BM25's factor for one phrase, written as fts5_aux.c writes it so the sums are the same. */
static double bm25_part(double tf, double D, double avgdl)
{
    const double k1 = BM25_K1, b = BM25_B;
    return (tf * (k1 + 1.0)) / (tf + k1 * (1 - b + b * D / avgdl));
}

/* lh_rank(lh_fts, ctx): scores the current row into ctx (RANK_SCORE) or gathers phrase 0's
 * statistics (RANK_STATS); returns nothing. */
static void rank_fn(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *sctx, int nval,
                    sqlite3_value **vals)
{
    rank_ctx *c = nval == 1 ? sqlite3_value_pointer(vals[0], RANK_CTX) : NULL;
    if (!c) {
        sqlite3_result_error(sctx, "lh_rank: no context", -1);
        return;
    }
    int rc = SQLITE_OK;
    if (!c->have_totals) {
        sqlite3_int64 rows = 0, tokens = 0;
        if ((rc = api->xRowCount(fts, &rows)) == SQLITE_OK &&
            (rc = api->xColumnTotalSize(fts, -1, &tokens)) == SQLITE_OK) {
            c->rows = rows;
            c->tokens = tokens;
            c->avgdl = (double)tokens / (double)rows;
            c->have_totals = true;
        }
    }
    int64_t id = api->xRowid(fts);
    bool known = id >= 0 && id < c->st->nids;
    if (rc == SQLITE_OK && c->mode == RANK_SCORE && c->allow) {
        int64_t ch = known ? c->st->chunk[id] : -1;
        if (ch < 0 || (uint64_t)ch >= c->allow->nbits ||
            !((c->allow->words[ch >> 6] >> (ch & 63)) & 1))
            return;
    }
    int ntok = known ? (int)c->st->len[id] : 0;
    if (rc == SQLITE_OK && ntok == 0) rc = api->xColumnSize(fts, -1, &ntok);
    double D = (double)ntok;
    if (rc == SQLITE_OK && c->mode == RANK_STATS) {
        int tf = 0;
        if ((rc = phrase_tf(api, fts, 0, &tf)) == SQLITE_OK) {
            double part = bm25_part((double)tf, D, c->avgdl);
            if (part > c->maxpart) c->maxpart = part;
            c->df++;
        }
    } else if (rc == SQLITE_OK) {
        memset(c->tf, 0, c->nterms * sizeof *c->tf);
        for (size_t e = 0; e < c->nexpr && rc == SQLITE_OK; e++)
            if (c->expr_term[e] >= 0) rc = phrase_tf(api, fts, (int)e, &c->tf[c->expr_term[e]]);
        if (rc == SQLITE_OK) {
            double score = 0.0;
            for (size_t i = 0; i < c->nphrases; i++) {
                int t = c->phrase_term[i];
                score += c->idf[t] * bm25_part((double)c->tf[t], D, c->avgdl);
            }
            heap_push(c, (hitref){score, id});
            c->scored++;
        }
    }
    if (rc != SQLITE_OK) {
        c->rc = rc;
        sqlite3_result_error_code(sctx, rc);
    }
}

/* Registers lh_rank on the handle's connection. */
static int register_rank(lh_ai_lexical *x, lh_error *err)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(x->db, "SELECT fts5(?1)", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
        sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (!api || api->iVersion < 2 ||
        api->xCreateFunction(api, "lh_rank", NULL, rank_fn, NULL) != SQLITE_OK)
        return lh_error_set(err, LH_EIO, "lexical index %s: SQLite has no usable FTS5", x->path);
    return LH_OK;
}

/* Steps a prepared lh_rank statement over expr. */
static int run_rank(lh_ai_lexical *x, sqlite3_stmt *st, rank_ctx *c, const char *expr,
                    lh_error *err)
{
    sqlite3_reset(st);
    sqlite3_bind_pointer(st, 1, c, RANK_CTX, NULL);
    sqlite3_bind_text(st, 2, expr, -1, SQLITE_STATIC);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        ;
    int rc = LH_OK;
    if (s != SQLITE_DONE || c->rc != SQLITE_OK) rc = db_error(x, LH_EIO, "search", err);
    sqlite3_reset(st);
    return rc;
}

typedef struct qterm {
    const char *phrase;
    int64_t df;
    double maxpart, idf, bound;
    int mult;
} qterm;

static int cmp_bound(const void *a, const void *b)
{
    const qterm *x = *(const qterm *const *)a, *y = *(const qterm *const *)b;
    if (x->bound != y->bound) return x->bound < y->bound ? 1 : -1;
    return (x->df > y->df) - (x->df < y->df);
}

static int cmp_hit(const void *a, const void *b)
{
    const hitref *x = a, *y = b;
    return worse(x, y) ? 1 : worse(y, x) ? -1 : 0;
}

/* Fills ts[i].df and .maxpart from the cache or one pass over each phrase's postings, and the
 * table's totals. */
static int term_stats(lh_ai_lexical *x, lex_stats *st, sqlite3_stmt *rank, qterm *ts, size_t n,
                      rank_ctx *totals, lh_error *err)
{
    int rc = LH_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        pthread_mutex_lock(&x->mu);
        term_stat *t = term_find(st, ts[i].phrase);
        if (t) {
            ts[i].df = t->df;
            ts[i].maxpart = t->maxpart;
        }
        pthread_mutex_unlock(&x->mu);
        if (t) continue;
        rank_ctx c = {.mode = RANK_STATS, .st = st};
        if ((rc = run_rank(x, rank, &c, ts[i].phrase, err))) break;
        ts[i].df = c.df;
        ts[i].maxpart = c.maxpart;
        pthread_mutex_lock(&x->mu);
        if (c.have_totals && !st->have_totals) {
            st->rows = c.rows;
            st->tokens = c.tokens;
            st->have_totals = true;
        }
        if (st->nterms >= TERM_CACHE_MAX) {
            /* a bounded cache: start over rather than grow without end */
            terms_clear(st);
        }
        if (!term_find(st, ts[i].phrase)) {
            term_stat *nt = lh_calloc(1, sizeof *nt);
            nt->phrase = lh_strdup(ts[i].phrase);
            nt->df = c.df;
            nt->maxpart = c.maxpart;
            size_t b = lh_hash64(nt->phrase, strlen(nt->phrase), 0) % TERM_BUCKETS;
            nt->next = st->terms[b];
            st->terms[b] = nt;
            st->nterms++;
        }
        pthread_mutex_unlock(&x->mu);
    }
    pthread_mutex_lock(&x->mu);
    if (st->have_totals) {
        totals->have_totals = true;
        totals->rows = st->rows;
        totals->tokens = st->tokens;
        totals->avgdl = (double)st->tokens / (double)st->rows;
    }
    pthread_mutex_unlock(&x->mu);
    return rc;
}

/* Ranks the k best chunks into c->heap (sorted best first on return). */
static int rank_topk(lh_ai_lexical *x, lex_stats *st, char *const *phrases, size_t nphrases,
                     rank_ctx *c, lh_ai_lexical_info *info, lh_error *err)
{
    sqlite3_stmt *rank = NULL;
    qterm ts[QUERY_TERMS_MAX];
    qterm *order[QUERY_TERMS_MAX];
    int phrase_term[QUERY_TERMS_MAX], expr_term[2 * QUERY_TERMS_MAX], tf[QUERY_TERMS_MAX];
    double idf[QUERY_TERMS_MAX];
    size_t nt = 0;
    lh_buf expr = {0};
    int rc = LH_OK;
    for (size_t i = 0; i < nphrases; i++) {
        size_t t = 0;
        while (t < nt && strcmp(ts[t].phrase, phrases[i]) != 0)
            t++;
        if (t == nt) ts[nt++] = (qterm){.phrase = phrases[i]};
        ts[t].mult++;
        phrase_term[i] = (int)t;
    }
    /* lh_rank returns NULL: the statement yields no row, so each batch is one sqlite3_step
     * (one lock of the connection) however many chunks it scores */
    if (sqlite3_prepare_v2(x->db,
                           "SELECT rowid FROM lh_fts WHERE lh_fts MATCH ?2"
                           " AND lh_rank(lh_fts, ?1) IS NOT NULL",
                           -1, &rank, NULL) != SQLITE_OK) {
        rc = db_error(x, LH_EIO, "prepare search", err);
        goto done;
    }
    if ((rc = term_stats(x, st, rank, ts, nt, c, err))) goto done;
    size_t nlive = 0;
    for (size_t t = 0; t < nt; t++) {
        idf[t] = 0;
        if (ts[t].df == 0) continue; /* in no chunk: adds 0 to every score */
        double v = log((c->rows - ts[t].df + 0.5) / (ts[t].df + 0.5));
        if (v <= 0.0) v = 1e-6;
        idf[t] = ts[t].idf = v;
        ts[t].bound = v * ts[t].maxpart * ts[t].mult;
        order[nlive++] = &ts[t];
    }
    if (info) info->terms = nlive;
    if (!nlive) goto done;
    qsort(order, nlive, sizeof *order, cmp_bound);
    c->mode = RANK_SCORE;
    c->nphrases = nphrases;
    c->phrase_term = phrase_term;
    c->idf = idf;
    c->expr_term = expr_term;
    c->tf = tf;
    c->nterms = nt;
    for (size_t r = 0; r < nlive; r++) {
        /* the chunks with phrase r and none of the phrases before it, with the later phrases
         * OR-ed in for their frequencies */
        expr.len = 0;
        size_t ne = 0;
        if (r + 1 < nlive) lh_buf_putc(&expr, '(');
        if (r > 0) lh_buf_putc(&expr, '(');
        lh_buf_puts(&expr, order[r]->phrase);
        expr_term[ne++] = (int)(order[r] - ts);
        if (r > 0) {
            lh_buf_puts(&expr, " NOT (");
            for (size_t j = 0; j < r; j++) {
                if (j) lh_buf_puts(&expr, " OR ");
                lh_buf_puts(&expr, order[j]->phrase);
                expr_term[ne++] = -1;
            }
            lh_buf_puts(&expr, "))");
        }
        if (r + 1 < nlive) {
            lh_buf_puts(&expr, ") AND (");
            lh_buf_puts(&expr, order[r]->phrase);
            expr_term[ne++] = -1;
            for (size_t j = r + 1; j < nlive; j++) {
                lh_buf_puts(&expr, " OR ");
                lh_buf_puts(&expr, order[j]->phrase);
                expr_term[ne++] = (int)(order[j] - ts);
            }
            lh_buf_putc(&expr, ')');
        }
        lh_buf_putc(&expr, '\0');
        c->nexpr = ne;
        if ((rc = run_rank(x, rank, c, expr.data, err))) goto done;
        if (info) info->terms_read = r + 1;
        double rest = 0;
        for (size_t j = r + 1; j < nlive; j++)
            rest += order[j]->bound;
        if (c->nheap == c->k && c->heap[0].score > rest * (1 + BOUND_SLACK)) break;
    }
done:
    if (info) info->scored = c->scored;
    qsort(c->heap, c->nheap, sizeof *c->heap, cmp_hit);
    sqlite3_finalize(rank);
    lh_buf_free(&expr);
    return rc;
}

/* The snippet of one row (?2) for a query (?1), its words in <mark>...</mark>. */
#define SNIPPET_SQL                                                                                \
    "SELECT snippet(lh_fts, 0, '<mark>', '</mark>', '…', 32) FROM lh_fts WHERE lh_fts MATCH ? "  \
    "AND rowid = ?"

int lh_ai_lexical_query(lh_ai_lexical *x, const char *query, const lh_ai_lexical_opts *o,
                        lh_ai_lexical_hit **out, size_t *n_out, lh_ai_lexical_info *info,
                        lh_error *err)
{
    *out = NULL;
    *n_out = 0;
    if (info) memset(info, 0, sizeof *info);
    if (!x || !query || !o)
        return lh_error_set(err, LH_EINVAL, "lexical search: no index, query or options");
    if (o->k < 1 || o->k > 1000)
        return lh_error_set(err, LH_EINVAL, "lexical search: k = %zu is out of range [1, 1000]",
                            o->k);
    qwords q;
    char **phrases;
    size_t np;
    int rc = parse_query(query, &q, &phrases, &np, err);
    if (rc) {
        qwords_free(&q);
        return rc;
    }
    lex_stats *st = NULL;
    rank_ctx c = {.k = o->k, .allow = o->allow};
    c.heap = lh_calloc(o->k, sizeof *c.heap);
    lh_ai_lexical_hit *hits = NULL;
    size_t n = 0;
    sqlite3_stmt *doc = NULL, *sn = NULL;
    lh_buf all = {0};
    if ((rc = stats_get(x, &st, err))) goto done;
    c.st = st;
    if ((rc = rank_topk(x, st, phrases, np, &c, info, err))) goto done;
    join_or(&all, phrases, np);
    if (sqlite3_prepare_v2(x->db, "SELECT doc_id, chunk_id FROM lh_chunks WHERE id = ?", -1, &doc,
                           NULL) != SQLITE_OK ||
        (o->snippets && sqlite3_prepare_v2(x->db, SNIPPET_SQL, -1, &sn, NULL) != SQLITE_OK)) {
        rc = db_error(x, LH_EIO, "prepare search", err);
        goto done;
    }
    if (sn) sqlite3_bind_text(sn, 1, all.data, (int)all.len, SQLITE_STATIC);
    hits = lh_calloc(c.nheap ? c.nheap : 1, sizeof *hits);
    for (; n < c.nheap; n++) {
        int64_t id = c.heap[n].id;
        /* the chunk id from the cached map when that is all the caller needs */
        int64_t ch = o->no_doc_ids && id >= 0 && id < st->nids ? st->chunk[id] : -1;
        if (ch >= 0) {
            hits[n].chunk_id = ch;
        } else {
            sqlite3_reset(doc);
            sqlite3_bind_int64(doc, 1, id);
            if (sqlite3_step(doc) != SQLITE_ROW) {
                rc = db_error(x, LH_ECORRUPT, "chunk of a match", err);
                goto done;
            }
            if (!o->no_doc_ids)
                hits[n].doc_id = lh_strdup((const char *)sqlite3_column_text(doc, 0));
            hits[n].chunk_id = sqlite3_column_int64(doc, 1);
        }
        hits[n].id = c.heap[n].id;
        hits[n].score = c.heap[n].score;
        if (sn) {
            sqlite3_reset(sn);
            sqlite3_bind_int64(sn, 2, c.heap[n].id);
            const unsigned char *h =
                sqlite3_step(sn) == SQLITE_ROW ? sqlite3_column_text(sn, 0) : NULL;
            hits[n].highlight = lh_strdup(h ? (const char *)h : "");
        }
    }
    *out = hits;
    *n_out = n;
    hits = NULL;
done:
    lh_ai_lexical_hits_free(hits, n);
    sqlite3_finalize(doc);
    sqlite3_finalize(sn);
    lh_buf_free(&all);
    free(c.heap);
    if (st) {
        pthread_mutex_lock(&x->mu);
        stats_unref(st);
        pthread_mutex_unlock(&x->mu);
    }
    qwords_free(&q);
    return rc;
}

int lh_ai_lexical_search(lh_ai_lexical *x, const char *query, size_t k, lh_ai_lexical_hit **out,
                         size_t *n_out, lh_error *err)
{
    lh_ai_lexical_opts o = {.k = k, .snippets = true};
    return lh_ai_lexical_query(x, query, &o, out, n_out, NULL, err);
}

int lh_ai_lexical_snippets(lh_ai_lexical *x, const char *query, const int64_t *ids, size_t n,
                           char **out, lh_error *err)
{
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    if (!x || !query || (n && !ids))
        return lh_error_set(err, LH_EINVAL, "lexical snippet: no index, query or rows");
    qwords q;
    char **phrases;
    size_t np;
    int rc = parse_query(query, &q, &phrases, &np, err);
    lh_buf all = {0};
    sqlite3_stmt *sn = NULL;
    if (rc) goto done;
    join_or(&all, phrases, np);
    /* one statement for all the rows: the query is parsed and prepared once */
    if (sqlite3_prepare_v2(x->db, SNIPPET_SQL, -1, &sn, NULL) != SQLITE_OK) {
        rc = db_error(x, LH_EIO, "prepare snippet", err);
        goto done;
    }
    sqlite3_bind_text(sn, 1, all.data, (int)all.len, SQLITE_STATIC);
    for (size_t i = 0; i < n && !rc; i++) {
        sqlite3_reset(sn);
        sqlite3_bind_int64(sn, 2, ids[i]);
        int s = sqlite3_step(sn);
        if (s == SQLITE_ROW) {
            const unsigned char *h = sqlite3_column_text(sn, 0);
            out[i] = lh_strdup(h ? (const char *)h : "");
        } else if (s != SQLITE_DONE) {
            rc = db_error(x, LH_EIO, "snippet", err);
        }
    }
    if (rc)
        for (size_t i = 0; i < n; i++) {
            free(out[i]);
            out[i] = NULL;
        }
done:
    sqlite3_finalize(sn);
    lh_buf_free(&all);
    qwords_free(&q);
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
