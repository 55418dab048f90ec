/* The BM25 lexical index on SQLite FTS5: ranking real text (GPL-3 chunks), stemming and
 * diacritics, hostile query syntax taken as plain words, replace/delete, all-or-nothing adds,
 * a rebuild from an embedding-store Parquet written with glove vectors, and the pruned top-k
 * ranking against FTS5's own bm25() ranking. */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/ai.h"
#include "testutil.h"
#include "vector/vector.h"

#define GPL "/usr/share/common-licenses/GPL-3"

typedef struct corpus {
    char *text;
    size_t n;
    lh_ai_chunk *chunks;
    char **texts;
    lh_ai_lexical_doc *docs;
} corpus;

static corpus gpl;

static int setup(void **state)
{
    size_t len;
    lh_error err;
    if (lh_file_read(GPL, &gpl.text, &len, &err) != LH_OK) return -1;
    lh_ai_chunk_opts o = {.size = 500, .overlap = 0, .unit = LH_AI_CHUNK_CHARS};
    if (lh_ai_chunk_text(gpl.text, len, &o, &gpl.chunks, &gpl.n, &err) != LH_OK) return -1;
    gpl.texts = calloc(gpl.n, sizeof(char *));
    gpl.docs = calloc(gpl.n, sizeof(lh_ai_lexical_doc));
    for (size_t i = 0; i < gpl.n; i++) {
        gpl.texts[i] =
            lh_strndup(gpl.text + gpl.chunks[i].start, gpl.chunks[i].end - gpl.chunks[i].start);
        gpl.docs[i] = (lh_ai_lexical_doc){"GPL-3", (int64_t)i, gpl.texts[i]};
    }
    return 0;
}

static int teardown(void **state)
{
    for (size_t i = 0; i < gpl.n; i++)
        free(gpl.texts[i]);
    free(gpl.texts);
    free(gpl.docs);
    free(gpl.chunks);
    free(gpl.text);
    return 0;
}

static lh_ai_lexical *open_gpl(void)
{
    lh_ai_lexical *x;
    lh_error err = {0};
    assert_int_equal(lh_ai_lexical_open(":memory:", &x, &err), LH_OK);
    assert_int_equal(lh_ai_lexical_add(x, gpl.docs, gpl.n, &err), LH_OK);
    return x;
}

static void test_lexical_ranks_real_text_by_bm25_with_highlights(void **state)
{
    lh_ai_lexical *x = open_gpl();
    lh_error err = {0};
    int64_t count;
    assert_int_equal(lh_ai_lexical_count(x, &count, &err), LH_OK);
    assert_int_equal(count, (int64_t)gpl.n);
    lh_ai_lexical_hit *h;
    size_t n;
    assert_int_equal(
        lh_ai_lexical_search(x, "Installation Information for a User Product", 5, &h, &n, &err),
        LH_OK);
    assert_int_equal(n, 5);
    printf("# top: %s #%lld score %.2f: %.120s\n", h[0].doc_id, (long long)h[0].chunk_id,
           h[0].score, h[0].highlight);
    for (size_t i = 1; i < n; i++)
        assert_true(h[i - 1].score >= h[i].score);
    assert_true(h[0].score > 0);
    assert_non_null(strstr(h[0].highlight, "<mark>Installation</mark> <mark>Information</mark>"));
    assert_non_null(strstr(gpl.texts[h[0].chunk_id], "Installation Information"));
    lh_ai_lexical_hits_free(h, n);

    /* stemming and folded diacritics: "warranties" finds "warranty", "dísclaimer" "disclaimer" */
    assert_int_equal(lh_ai_lexical_search(x, "WARRANTIES dísclaimer", 3, &h, &n, &err), LH_OK);
    assert_int_equal(n, 3);
    assert_non_null(strcasestr(h[0].highlight, "<mark>warrant"));
    lh_ai_lexical_hits_free(h, n);

    /* no match at all: zero hits, not an error */
    assert_int_equal(lh_ai_lexical_search(x, "kubernetes", 3, &h, &n, &err), LH_OK);
    assert_int_equal(n, 0);
    lh_ai_lexical_hits_free(h, n);
    lh_ai_lexical_close(x);
}

static void test_lexical_takes_hostile_query_syntax_as_words(void **state)
{
    lh_ai_lexical *x = open_gpl();
    lh_error err = {0};
    const char *hostile[] = {"software\"",
                             "NEAR(free software, 2)",
                             "free AND OR NOT software",
                             "text:software",
                             "^free*",
                             "{text}: software",
                             "'); DROP TABLE lh_chunks; --",
                             "free\" OR \"x",
                             "software -- license + (",
                             "a\"\"b ** :: ()"};
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        lh_ai_lexical_hit *h;
        size_t n;
        int rc = lh_ai_lexical_search(x, hostile[i], 10, &h, &n, &err);
        if (rc != LH_OK) fprintf(stderr, "query '%s': %s\n", hostile[i], err.msg);
        assert_int_equal(rc, LH_OK);
        lh_ai_lexical_hits_free(h, n);
    }
    const char *wordless[] = {"", "\"", "*", "()", "  \t", "-- +"};
    for (size_t i = 0; i < sizeof wordless / sizeof wordless[0]; i++) {
        lh_ai_lexical_hit *h;
        size_t n;
        assert_int_equal(lh_ai_lexical_search(x, wordless[i], 10, &h, &n, &err), LH_EINVAL);
        assert_non_null(strstr(err.msg, "no words"));
    }
    lh_ai_lexical_hit *h;
    size_t n;
    assert_int_equal(lh_ai_lexical_search(x, "free", 0, &h, &n, &err), LH_EINVAL);
    assert_int_equal(lh_ai_lexical_search(x, "free", 1001, &h, &n, &err), LH_EINVAL);
    assert_int_equal(lh_ai_lexical_search(x, "caf\xC3", 5, &h, &n, &err), LH_EINVAL);
    char *big = malloc(5000);
    memset(big, 'a', 4999);
    big[4999] = '\0';
    assert_int_equal(lh_ai_lexical_search(x, big, 5, &h, &n, &err), LH_ETOOBIG);
    free(big);
    int64_t count;
    assert_int_equal(lh_ai_lexical_count(x, &count, &err), LH_OK);
    assert_int_equal(count, (int64_t)gpl.n);
    lh_ai_lexical_close(x);
}

static void test_lexical_replaces_deletes_and_adds_all_or_nothing(void **state)
{
    lh_ai_lexical *x;
    lh_error err = {0};
    assert_int_equal(lh_ai_lexical_open(":memory:", &x, &err), LH_OK);
    lh_ai_lexical_doc d[3] = {{"cv-1", 0, "Kubernetes migration lead, Chicago"},
                              {"cv-1", 1, "Java and Go developer"},
                              {"cv-2", 0, "Pastry chef in Lyon, crème brûlée"}};
    assert_int_equal(lh_ai_lexical_add(x, d, 3, &err), LH_OK);
    lh_ai_lexical_doc r = {"cv-1", 1, "Rust developer"};
    assert_int_equal(lh_ai_lexical_add(x, &r, 1, &err), LH_OK);
    int64_t count;
    lh_ai_lexical_count(x, &count, &err);
    assert_int_equal(count, 3);
    lh_ai_lexical_hit *h;
    size_t n;
    assert_int_equal(lh_ai_lexical_search(x, "java", 5, &h, &n, &err), LH_OK);
    assert_int_equal(n, 0);
    lh_ai_lexical_hits_free(h, n);
    assert_int_equal(lh_ai_lexical_search(x, "creme brulee", 5, &h, &n, &err), LH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(h[0].doc_id, "cv-2");
    lh_ai_lexical_hits_free(h, n);

    /* a bad chunk in a batch: nothing of the batch lands */
    lh_ai_lexical_doc bad[2] = {{"cv-3", 0, "Data engineer"}, {"cv-3", 1, "broken \xFF text"}};
    assert_int_equal(lh_ai_lexical_add(x, bad, 2, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "chunk 1 (cv-3 #1) is not valid UTF-8"));
    lh_ai_lexical_doc nodoc = {NULL, 0, "x"};
    assert_int_equal(lh_ai_lexical_add(x, &nodoc, 1, &err), LH_EINVAL);
    lh_ai_lexical_count(x, &count, &err);
    assert_int_equal(count, 3);

    size_t removed;
    assert_int_equal(lh_ai_lexical_delete_doc(x, "cv-1", &removed, &err), LH_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(lh_ai_lexical_search(x, "kubernetes rust", 5, &h, &n, &err), LH_OK);
    assert_int_equal(n, 0);
    lh_ai_lexical_hits_free(h, n);
    lh_ai_lexical_close(x);
}

static void test_lexical_rebuilds_from_a_glove_embedding_store(void **state)
{
    lh_error err = {0};
    char *dir = tu_tmpdir("lexical");
    lh_ai_embedder *e;
    assert_int_equal(lh_ai_glove_open(NULL, &e, &err), LH_OK);
    size_t d = lh_ai_embedder_dims(e);
    float *vecs = malloc(gpl.n * d * sizeof(float));
    assert_int_equal(lh_ai_embed(e, (const char *const *)gpl.texts, NULL, gpl.n, vecs, &err),
                     LH_OK);
    const char **docs = malloc(gpl.n * sizeof(char *));
    int64_t *ids = malloc(gpl.n * sizeof(int64_t));
    for (size_t i = 0; i < gpl.n; i++) {
        docs[i] = "GPL-3";
        ids[i] = (int64_t)i;
    }
    lh_vector_rows rows = {.n = gpl.n,
                           .dim = d,
                           .doc_ids = docs,
                           .chunk_ids = ids,
                           .chunk_texts = (const char *const *)gpl.texts,
                           .vectors = vecs};
    char *pq = lh_path_join(dir, "embeddings.parquet");
    assert_int_equal(
        lh_vector_store_write(pq, lh_ai_embedder_name(e), lh_ai_embedder_version(e), &rows, &err),
        LH_OK);
    lh_vector_store_data back;
    assert_int_equal(lh_vector_store_read(pq, false, &back, &err), LH_OK);
    assert_string_equal(back.model, "glove");
    assert_string_equal(back.model_version, lh_ai_embedder_version(e));
    lh_vector_store_data_free(&back);

    char *db = lh_path_join(dir, "lexical.db");
    lh_ai_lexical *x;
    assert_int_equal(lh_ai_lexical_open(db, &x, &err), LH_OK);
    lh_ai_lexical_doc stale = {"old", 0, "stale text"};
    assert_int_equal(lh_ai_lexical_add(x, &stale, 1, &err), LH_OK);
    assert_int_equal(lh_ai_lexical_rebuild_from_store(x, pq, &err), LH_OK);
    lh_ai_lexical_close(x);
    assert_int_equal(lh_ai_lexical_open(db, &x, &err), LH_OK); /* persisted */
    int64_t count;
    lh_ai_lexical_count(x, &count, &err);
    assert_int_equal(count, (int64_t)gpl.n);
    lh_ai_lexical_hit *h;
    size_t n;
    assert_int_equal(lh_ai_lexical_search(x, "stale", 5, &h, &n, &err), LH_OK);
    assert_int_equal(n, 0);
    lh_ai_lexical_hits_free(h, n);
    assert_int_equal(lh_ai_lexical_search(x, "corresponding source", 1, &h, &n, &err), LH_OK);
    assert_int_equal(n, 1);
    lh_ai_lexical_hits_free(h, n);
    /* a missing store changes nothing */
    assert_int_equal(lh_ai_lexical_rebuild_from_store(x, "/nonexistent.parquet", &err) != LH_OK, 1);
    lh_ai_lexical_count(x, &count, &err);
    assert_int_equal(count, (int64_t)gpl.n);
    lh_ai_lexical_close(x);

    /* a file that is not an index */
    char *junk = tu_write(dir, "junk.db", "this is not sqlite, just text padded out......", -1);
    assert_int_equal(lh_ai_lexical_open(junk, &x, &err), LH_ECORRUPT);
    free(junk);
    free(db);
    free(pq);
    free(docs);
    free(ids);
    free(vecs);
    lh_ai_embedder_free(e);
    tu_rmdir(dir);
}

/* ---------------------------------------------- pruned top-k against FTS5's bm25() ranking */

/* A corpus where pruning matters: words in most chunks (idf floored at 1e-6), in a fifth, in
 * a few percent, in a handful; lengths from 2 to 150 words; short chunks that repeat one word
 * (the best factor a word reaches); exact duplicates (ties). */
static char *synth_doc(unsigned *seed, char words[][8], size_t nwords)
{
    lh_buf b = {0};
    unsigned r = rand_r(seed);
    if (r % 29 == 0) { /* a short chunk repeating one word */
        size_t w = (size_t)rand_r(seed) % nwords;
        int reps = 1 + rand_r(seed) % 4;
        for (int i = 0; i < reps; i++) {
            lh_buf_puts(&b, words[w]);
            lh_buf_putc(&b, ' ');
        }
        lh_buf_puts(&b, "pad");
        return lh_buf_steal(&b);
    }
    size_t len = 2 + (size_t)rand_r(seed) % 150;
    if (rand_r(seed) % 2) lh_buf_puts(&b, "vcom ");        /* in about half */
    if (rand_r(seed) % 10 < 7) lh_buf_puts(&b, "vmaj ");   /* in most */
    if (rand_r(seed) % 5 == 0) lh_buf_puts(&b, "vfif ");   /* a fifth */
    if (rand_r(seed) % 30 == 0) lh_buf_puts(&b, "vrar ");  /* a few percent */
    if (rand_r(seed) % 400 == 0) lh_buf_puts(&b, "vzyx "); /* a handful */
    for (size_t i = 0; i < len; i++) {
        /* filler words with a skewed (roughly Zipf) frequency */
        size_t w = (size_t)((double)nwords * pow((double)rand_r(seed) / RAND_MAX, 3.0));
        lh_buf_puts(&b, words[w < nwords ? w : nwords - 1]);
        lh_buf_putc(&b, ' ');
    }
    return lh_buf_steal(&b);
}

/* Compares lh_ai_lexical_query with SQLite's own ranking of the same words; returns how many
 * chunks the pruned ranking scored. */
static size_t check_against_bm25(lh_ai_lexical *x, sqlite3 *db, const char *query,
                                 const char *match, size_t k, const lh_vector_bitset *allow,
                                 size_t *terms_read)
{
    lh_error err = {0};
    lh_ai_lexical_opts o = {.k = k, .allow = allow};
    lh_ai_lexical_hit *h;
    size_t n;
    lh_ai_lexical_info info;
    assert_int_equal(lh_ai_lexical_query(x, query, &o, &h, &n, &info, &err), LH_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(
                         db,
                         allow ? "SELECT rowid, -bm25(lh_fts) FROM lh_fts WHERE lh_fts MATCH ?1"
                                 " AND +rowid IN (SELECT id FROM lh_chunks WHERE chunk_id % 3 = 0)"
                                 " ORDER BY bm25(lh_fts), rowid LIMIT ?2"
                               : "SELECT rowid, -bm25(lh_fts) FROM lh_fts WHERE lh_fts MATCH ?1"
                                 " ORDER BY bm25(lh_fts), rowid LIMIT ?2",
                         -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)k);
    size_t i = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (i >= n) fail_msg("%s k %zu: %zu hits, bm25() has more", query, k, n);
        if (h[i].id != sqlite3_column_int64(st, 0) || h[i].score != sqlite3_column_double(st, 1))
            fail_msg("%s k %zu rank %zu: row %lld score %.17g, bm25() row %lld score %.17g", query,
                     k, i + 1, (long long)h[i].id, h[i].score,
                     (long long)sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1));
        if (allow) assert_int_equal(h[i].chunk_id % 3, 0);
        i++;
    }
    assert_int_equal(i, n);
    sqlite3_finalize(st);
    lh_ai_lexical_hits_free(h, n);
    if (info.terms_read > *terms_read) *terms_read = info.terms_read;
    return info.scored;
}

static void test_lexical_pruned_topk_equals_full_bm25_ranking(void **state)
{
    lh_error err = {0};
    char *dir = tu_tmpdir("lexprune");
    char *path = lh_path_join(dir, "lexical.db");
    enum { NDOCS = 6000, NWORDS = 300 };
    char words[NWORDS][8];
    const char *cons = "bcdfghjklmnpqrtvwxz";
    for (size_t i = 0; i < NWORDS; i++)
        snprintf(words[i], sizeof words[i], "q%c%c%c", cons[i % 19], cons[(i / 19) % 19],
                 "aeiou"[i % 5]);
    unsigned seed = 42;
    char **texts = calloc(NDOCS, sizeof(char *));
    lh_ai_lexical_doc *docs = calloc(NDOCS, sizeof *docs);
    char ids[NDOCS][16];
    for (size_t i = 0; i < NDOCS; i++) {
        texts[i] = i % 97 == 1 ? lh_strdup(texts[i - 1]) : synth_doc(&seed, words, NWORDS);
        snprintf(ids[i], sizeof ids[i], "doc-%zu", i / 3);
        docs[i] = (lh_ai_lexical_doc){ids[i], (int64_t)i, texts[i]};
    }
    lh_ai_lexical *x;
    assert_int_equal(lh_ai_lexical_open(path, &x, &err), LH_OK);
    assert_int_equal(lh_ai_lexical_add(x, docs, NDOCS, &err), LH_OK);
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);

    /* query, the MATCH expression the index builds for it */
    const char *q[][2] = {
        {"vzyx vmaj", "\"vzyx\" OR \"vmaj\""},
        {"vrar vfif vcom", "\"vrar\" OR \"vfif\" OR \"vcom\""},
        {"vcom vmaj", "\"vcom\" OR \"vmaj\""},
        {"vfif vfif vrar", "\"vfif\" OR \"vfif\" OR \"vrar\""},
        {"vrar qbba qcbe vmaj", "\"vrar\" OR \"qbba\" OR \"qcbe\" OR \"vmaj\""},
        {"qzzo qbba vfif", "\"qzzo\" OR \"qbba\" OR \"vfif\""},
        {"nowhere vrar", "\"nowhere\" OR \"vrar\""},
        {"vzyx", "\"vzyx\""},
    };
    size_t nq = sizeof q / sizeof q[0];
    const size_t ks[] = {1, 5, 10, 50, 300};
    lh_vector_bitset allow;
    assert_int_equal(lh_vector_bitset_new(NDOCS, &allow, &err), LH_OK);
    for (size_t i = 0; i < NDOCS; i += 3)
        lh_vector_bitset_set(&allow, i);
    size_t pruned = 0, terms_read = 0;
    for (size_t i = 0; i < nq; i++) {
        sqlite3_stmt *c;
        sqlite3_prepare_v2(db, "SELECT count(*) FROM lh_fts WHERE lh_fts MATCH ?", -1, &c, NULL);
        sqlite3_bind_text(c, 1, q[i][1], -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(c), SQLITE_ROW);
        size_t matches = (size_t)sqlite3_column_int64(c, 0);
        sqlite3_finalize(c);
        for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++) {
            size_t scored = check_against_bm25(x, db, q[i][0], q[i][1], ks[j], NULL, &terms_read);
            assert_true(scored <= matches);
            if (scored < matches) pruned++;
            check_against_bm25(x, db, q[i][0], q[i][1], ks[j], &allow, &terms_read);
        }
    }
    /* the test is only worth something if chunks were skipped, and if some queries needed more
     * than their first phrase's chunks */
    assert_true(pruned >= 10);
    assert_true(terms_read >= 2);

    /* writes drop the cached statistics: the rankings stay those of bm25() */
    size_t removed;
    assert_int_equal(lh_ai_lexical_delete_doc(x, "doc-7", &removed, &err), LH_OK);
    assert_int_equal(removed, 3);
    lh_ai_lexical_doc more[2] = {{"new-1", 0, "vzyx vzyx vzyx"}, {"doc-9", 27, "vrar vmaj vmaj"}};
    assert_int_equal(lh_ai_lexical_add(x, more, 2, &err), LH_OK);
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++)
            check_against_bm25(x, db, q[i][0], q[i][1], ks[j], NULL, &terms_read);
    /* and merging the segments changes no ranking */
    assert_int_equal(lh_ai_lexical_optimize(x, &err), LH_OK);
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++)
            check_against_bm25(x, db, q[i][0], q[i][1], ks[j], NULL, &terms_read);

    lh_vector_bitset_free(&allow);
    sqlite3_close(db);
    lh_ai_lexical_close(x);
    for (size_t i = 0; i < NDOCS; i++)
        free(texts[i]);
    free(texts);
    free(docs);
    free(path);
    tu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lexical_ranks_real_text_by_bm25_with_highlights),
        cmocka_unit_test(test_lexical_takes_hostile_query_syntax_as_words),
        cmocka_unit_test(test_lexical_replaces_deletes_and_adds_all_or_nothing),
        cmocka_unit_test(test_lexical_rebuilds_from_a_glove_embedding_store),
        cmocka_unit_test(test_lexical_pruned_topk_equals_full_bm25_ranking),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
