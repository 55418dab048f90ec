/* The BM25 lexical index on SQLite FTS5: ranking real text (GPL-3 chunks), stemming and
 * diacritics, hostile query syntax taken as plain words, replace/delete, all-or-nothing adds,
 * and a rebuild from an embedding-store Parquet written with glove vectors. */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lexical_ranks_real_text_by_bm25_with_highlights),
        cmocka_unit_test(test_lexical_takes_hostile_query_syntax_as_words),
        cmocka_unit_test(test_lexical_replaces_deletes_and_adds_all_or_nothing),
        cmocka_unit_test(test_lexical_rebuilds_from_a_glove_embedding_store),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
