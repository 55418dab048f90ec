/* The Ollama and OpenAI-compatible embedders and generators against a stand-in server that
 * speaks their wire protocols (tests/ai/standin.js, under Node): batching, model versions,
 * missing servers and models, wrong dimensions, timeouts, a server dying mid-batch, streamed
 * answers, errors mid-stream and cancellation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include "ai/ai_int.h"

static pid_t server_pid;
static char base[64];
static const char *key = "sk-standin-123";

static int setup(void **state)
{
    int fds[2];
    if (pipe(fds) != 0) return -1;
    server_pid = fork();
    if (server_pid < 0) return -1;
    if (server_pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        setenv("STANDIN_API_KEY", key, 1);
        execlp("node", "node", LH_SOURCE_DIR "/tests/ai/standin.js", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[128] = {0};
    int port = 0;
    if (!fgets(line, sizeof line, f) || sscanf(line, "listening %d", &port) != 1) {
        fprintf(stderr, "stand-in server did not start: '%s'\n", line);
        return -1;
    }
    fclose(f);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    return 0;
}

static int teardown(void **state)
{
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    return 0;
}

static lh_ai_http_opts opts(const char *model)
{
    lh_ai_http_opts o = {.url = base, .model = model, .api_key = key, .timeout_ms = 10000};
    return o;
}

/* Inputs per request the server saw on path since the last call (from GET /_stats). */
static size_t stats_seen;
static size_t requests_since(const char *path, int *inputs, size_t max)
{
    char *url = lh_sprintf("%s/_stats", base);
    ai_http_req q = {.what = "stand-in", .url = url, .timeout_ms = 5000};
    lh_buf resp = {0};
    long status;
    lh_error err;
    assert_int_equal(ai_http_do(&q, &status, &resp, &err), LH_OK);
    json_t *j = json_loads(resp.data, 0, NULL);
    json_t *reqs = json_object_get(j, "requests");
    size_t n = 0;
    for (size_t i = stats_seen; i < json_array_size(reqs); i++) {
        json_t *r = json_array_get(reqs, i);
        if (strcmp(json_string_value(json_object_get(r, "path")), path) == 0 && n < max)
            inputs[n++] = (int)json_integer_value(json_object_get(r, "inputs"));
    }
    stats_seen = json_array_size(reqs);
    json_decref(j);
    lh_buf_free(&resp);
    free(url);
    return n;
}

static void assert_unit(const float *v, size_t d)
{
    double n = 0;
    for (size_t i = 0; i < d; i++)
        n += (double)v[i] * v[i];
    assert_true(fabs(n - 1) < 1e-5);
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static void test_ollama_embeds_in_batches_with_model_digest_as_version(void **state)
{
    lh_ai_http_opts o = opts("embed8");
    o.batch = 2;
    lh_ai_embedder *e;
    lh_error err = {0};
    int in[16];
    requests_since("/api/embed", in, 16);
    assert_int_equal(lh_ai_ollama_embedder_open(&o, &e, &err), LH_OK);
    assert_string_equal(lh_ai_embedder_name(e), "ollama/embed8");
    assert_int_equal(lh_ai_embedder_dims(e), 8);
    /* the digest the server lists for the model (sha256 of its name in the stand-in) */
    assert_int_equal(strlen(lh_ai_embedder_version(e)), 64);
    const char *texts[5] = {"alpha", "béta ✓", "gamma", "alpha", "\"quoted\"\n"};
    float v[5 * 8];
    assert_int_equal(lh_ai_embed(e, texts, NULL, 5, v, &err), LH_OK);
    size_t n = requests_since("/api/embed", in, 16);
    assert_int_equal(n, 4); /* the probe, then 2 + 2 + 1 */
    assert_int_equal(in[0], 1);
    /* Two batches are in flight at once, so the third may reach the server before the
     * second: compare the sizes, not their order of arrival. */
    int sizes[3] = {in[1], in[2], in[3]};
    qsort(sizes, 3, sizeof(int), cmp_int);
    assert_int_equal(sizes[0], 1);
    assert_int_equal(sizes[1], 2);
    assert_int_equal(sizes[2], 2);
    for (int i = 0; i < 5; i++)
        assert_unit(v + i * 8, 8);
    assert_memory_equal(v, v + 3 * 8, 8 * sizeof(float)); /* same text, other batch */
    lh_ai_embedder_free(e);

    /* no model named: Ollama's usual embedding model */
    o.model = NULL;
    assert_int_equal(lh_ai_ollama_embedder_open(&o, &e, &err), LH_OK);
    assert_string_equal(lh_ai_embedder_name(e), "ollama/nomic-embed-text");
    lh_ai_embedder_free(e);
}

static void test_openai_embeds_and_places_vectors_by_index(void **state)
{
    lh_ai_http_opts o = opts("embed8");
    lh_ai_embedder *oa, *ol;
    lh_error err = {0};
    assert_int_equal(lh_ai_openai_embedder_open(&o, &oa, &err), LH_OK);
    assert_string_equal(lh_ai_embedder_name(oa), "openai/embed8");
    assert_string_equal(lh_ai_embedder_version(oa), "embed8-q8_0");
    assert_int_equal(lh_ai_ollama_embedder_open(&o, &ol, &err), LH_OK);
    const char *texts[3] = {"one", "two", "three"};
    float a[24], b[24];
    assert_int_equal(lh_ai_embed(oa, texts, NULL, 3, a, &err), LH_OK);
    assert_int_equal(lh_ai_embed(ol, texts, NULL, 3, b, &err), LH_OK);
    /* the stand-in answers OpenAI requests in reverse order; same vectors per text */
    assert_memory_equal(a, b, sizeof a);
    lh_ai_embedder_free(oa);
    lh_ai_embedder_free(ol);

    /* a base URL that already ends in /v1 works too */
    char *v1 = lh_sprintf("%s/v1/", base);
    o.url = v1;
    assert_int_equal(lh_ai_openai_embedder_open(&o, &oa, &err), LH_OK);
    lh_ai_embedder_free(oa);
    free(v1);
}

static void test_missing_server_model_or_key_are_clear_errors(void **state)
{
    lh_error err = {0};
    lh_ai_embedder *e = NULL;
    lh_ai_http_opts o = opts("no-such-model");
    assert_int_equal(lh_ai_ollama_embedder_open(&o, &e, &err), LH_ENOENT);
    assert_non_null(strstr(err.msg, "ollama pull no-such-model"));
    assert_int_equal(lh_ai_openai_embedder_open(&o, &e, &err), LH_ENOENT);
    assert_non_null(strstr(err.msg, "no-such-model"));
    assert_null(e);

    /* a port nobody listens on */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(s, (struct sockaddr *)&a, &al);
    char *dead = lh_sprintf("http://127.0.0.1:%d", ntohs(a.sin_port));
    close(s);
    o = opts("embed8");
    o.url = dead;
    assert_int_equal(lh_ai_ollama_embedder_open(&o, &e, &err), LH_EUNAVAIL);
    assert_non_null(strstr(err.msg, "cannot reach Ollama"));
    assert_int_equal(lh_ai_openai_embedder_open(&o, &e, &err), LH_EUNAVAIL);
    lh_ai_generator *g = NULL;
    o.model = "chat";
    assert_int_equal(lh_ai_ollama_generator_open(&o, &g, &err), LH_EUNAVAIL);
    assert_null(g);
    free(dead);

    o = opts("embed8");
    o.api_key = "wrong";
    assert_int_equal(lh_ai_openai_embedder_open(&o, &e, &err), LH_EDENIED);
    assert_non_null(strstr(err.msg, "Incorrect API key"));
    o = opts(NULL);
    assert_int_equal(lh_ai_openai_embedder_open(&o, &e, &err), LH_EINVAL);
    assert_int_equal(lh_ai_ollama_generator_open(&o, &g, &err), LH_EINVAL);
}

static void test_wrong_dimensions_short_answers_and_garbage_are_refused(void **state)
{
    lh_error err = {0};
    lh_ai_embedder *e;
    float v[4 * 16];
    const char *texts[2] = {"first", "second"};
    lh_ai_http_opts o = opts("wrongdim");
    assert_int_equal(lh_ai_ollama_embedder_open(&o, &e, &err), LH_OK); /* probe: one text */
    assert_int_equal(lh_ai_embed(e, texts, NULL, 2, v, &err), LH_ECORRUPT);
    assert_non_null(strstr(err.msg, "vector 1 has 7 dimensions, expected 8"));
    lh_ai_embedder_free(e);

    o = opts("embed8");
    o.dims = 16; /* the index expects 16-d vectors; the model makes 8 */
    assert_int_equal(lh_ai_ollama_embedder_open(&o, &e, &err), LH_OK);
    assert_int_equal(lh_ai_embed(e, texts, NULL, 2, v, &err), LH_ECORRUPT);
    assert_non_null(strstr(err.msg, "has 8 dimensions, expected 16"));
    lh_ai_embedder_free(e);
    assert_int_equal(lh_ai_openai_embedder_open(&o, &e, &err), LH_ECORRUPT);

    o = opts("short");
    assert_int_equal(lh_ai_ollama_embedder_open(&o, &e, &err), LH_OK);
    assert_int_equal(lh_ai_embed(e, texts, NULL, 2, v, &err), LH_ECORRUPT);
    assert_non_null(strstr(err.msg, "expected \"embeddings\" with 2 vectors, got 1"));
    lh_ai_embedder_free(e);

    o = opts("garbage");
    assert_int_equal(lh_ai_openai_embedder_open(&o, &e, &err), LH_OK);
    assert_int_equal(lh_ai_embed(e, texts, NULL, 2, v, &err), LH_ECORRUPT);
    assert_non_null(strstr(err.msg, "not JSON"));
    lh_ai_embedder_free(e);

    /* bad texts never reach the server */
    o = opts("embed8");
    assert_int_equal(lh_ai_ollama_embedder_open(&o, &e, &err), LH_OK);
    const char *bad[2] = {"ok", "\xFF\xFE"};
    assert_int_equal(lh_ai_embed(e, bad, NULL, 2, v, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "text 1: is not valid UTF-8"));
    lh_ai_embedder_free(e);
}

static void test_timeouts_and_a_server_dying_mid_batch(void **state)
{
    lh_error err = {0};
    lh_ai_embedder *e;
    float v[6 * 8];
    const char *texts[6] = {"a", "b", "c", "d", "e", "f"};
    lh_ai_http_opts o = opts("slow");
    o.dims = 8; /* skip the probe: the first embed call meets the delay */
    o.timeout_ms = 300;
    assert_int_equal(lh_ai_ollama_embedder_open(&o, &e, &err), LH_OK);
    assert_int_equal(lh_ai_embed(e, texts, NULL, 1, v, &err), LH_ETIMEOUT);
    assert_non_null(strstr(err.msg, "within 300 ms"));
    lh_ai_embedder_free(e);

    o = opts("diemid");
    o.batch = 2;
    o.parallel = 1; /* one batch at a time: the failing batch is known */
    assert_int_equal(lh_ai_ollama_embedder_open(&o, &e, &err), LH_OK); /* request 1: probe */
    assert_int_equal(lh_ai_embed(e, texts, NULL, 6, v, &err), LH_EUNAVAIL);
    assert_non_null(strstr(err.msg, "embed texts 2..3 of 6"));
    assert_non_null(strstr(err.msg, "connection lost"));
    lh_ai_embedder_free(e);
    /* pipelined: whichever batch meets the dying server, the call fails as a whole */
    o.parallel = 3;
    o.dims = 8; /* no probe: the server already dies on every request */
    assert_int_equal(lh_ai_ollama_embedder_open(&o, &e, &err), LH_OK);
    assert_int_equal(lh_ai_embed(e, texts, NULL, 6, v, &err), LH_EUNAVAIL);
    assert_non_null(strstr(err.msg, "connection lost"));
    lh_ai_embedder_free(e);
}

static void test_ollama_pipelines_batches(void **state)
{
    /* The "pair" model answers only while two requests are in flight at once. */
    lh_error err = {0};
    lh_ai_embedder *e, *ref;
    const char *texts[8] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    float v[8 * 8], w[8 * 8];
    lh_ai_http_opts o = opts("pair");
    o.batch = 2;
    o.dims = 8;
    o.parallel = 2;
    assert_int_equal(lh_ai_ollama_embedder_open(&o, &e, &err), LH_OK);
    assert_int_equal(lh_ai_embed(e, texts, NULL, 8, v, &err), LH_OK);
    o.model = "embed8";
    assert_int_equal(lh_ai_ollama_embedder_open(&o, &ref, &err), LH_OK);
    assert_int_equal(lh_ai_embed(ref, texts, NULL, 8, w, &err), LH_OK);
    assert_memory_equal(v, w, sizeof v); /* every vector in its place */
    lh_ai_embedder_free(ref);
    lh_ai_embedder_free(e);
    /* one request at a time never gets an answer from "pair" */
    o.model = "pair";
    o.parallel = 1;
    assert_int_equal(lh_ai_ollama_embedder_open(&o, &e, &err), LH_OK);
    assert_int_equal(lh_ai_embed(e, texts, NULL, 4, v, &err), LH_EUNAVAIL);
    assert_non_null(strstr(err.msg, "HTTP 503"));
    lh_ai_embedder_free(e);
}

typedef struct collect {
    lh_buf text;
    int pieces;
    int cancel_at; /* return non-zero at this piece (0: never) */
    int flag_at;   /* set *flag at this piece (0: never) */
    volatile int *flag;
} collect;

static int on_token(const char *t, size_t n, void *arg)
{
    collect *c = arg;
    lh_buf_append(&c->text, t, n);
    c->pieces++;
    if (c->flag_at && c->pieces == c->flag_at) *c->flag = 1;
    return c->cancel_at && c->pieces >= c->cancel_at;
}

static void chat_round_trip(int (*open)(const lh_ai_http_opts *, lh_ai_generator **, lh_error *),
                            const char *name)
{
    lh_error err = {0};
    lh_ai_generator *g;
    lh_ai_http_opts o = opts("chat");
    assert_int_equal(open(&o, &g, &err), LH_OK);
    assert_string_equal(lh_ai_generator_name(g), name);
    lh_ai_message m[2] = {{"system", "Answer briefly."}, {"user", "héllo ✓ \"world\"\nbye"}};
    collect c = {0};
    lh_ai_gen_opts go = {.on_token = on_token, .arg = &c, .temperature = 0, .max_tokens = 64};
    char *out = NULL;
    assert_int_equal(lh_ai_generate(g, m, 2, &go, &out, &err), LH_OK);
    assert_string_equal(out, "You said: héllo ✓ \"world\"\nbye");
    assert_string_equal(c.text.data, out);
    assert_true(c.pieces > 3);
    free(out);
    lh_buf_free(&c.text);
    lh_ai_generator_free(g);
}

static void test_generators_stream_answers(void **state)
{
    chat_round_trip(lh_ai_ollama_generator_open, "ollama/chat");
    chat_round_trip(lh_ai_openai_generator_open, "openai/chat");
}

static void generator_failures(int (*open)(const lh_ai_http_opts *, lh_ai_generator **, lh_error *))
{
    lh_error err = {0};
    lh_ai_generator *g = NULL;
    lh_ai_message m[1] = {{"user", "hi"}};
    char *out = (char *)"untouched";
    lh_ai_http_opts o = opts("no-such-chat");
    assert_int_equal(open(&o, &g, &err), LH_ENOENT);

    o = opts("chat-slow");
    assert_int_equal(open(&o, &g, &err), LH_OK);
    collect c = {.cancel_at = 3};
    lh_ai_gen_opts go = {.on_token = on_token, .arg = &c, .temperature = -1};
    assert_int_equal(lh_ai_generate(g, m, 1, &go, &out, &err), LH_ECANCELED);
    assert_null(out);
    assert_int_equal(c.pieces, 3);
    lh_buf_free(&c.text);
    volatile int flag = 0;
    collect c2 = {.flag_at = 2, .flag = &flag};
    go = (lh_ai_gen_opts){.on_token = on_token, .arg = &c2, .cancel = &flag, .temperature = -1};
    assert_int_equal(lh_ai_generate(g, m, 1, &go, &out, &err), LH_ECANCELED);
    assert_true(c2.pieces < 200);
    lh_buf_free(&c2.text);
    lh_ai_generator_free(g);

    o.timeout_ms = 300;
    assert_int_equal(open(&o, &g, &err), LH_OK);
    assert_int_equal(lh_ai_generate(g, m, 1, NULL, &out, &err), LH_ETIMEOUT);
    lh_ai_generator_free(g);

    o = opts("chat-die");
    assert_int_equal(open(&o, &g, &err), LH_OK);
    assert_int_equal(lh_ai_generate(g, m, 1, NULL, &out, &err), LH_EUNAVAIL);
    lh_ai_generator_free(g);

    o = opts("chat-error");
    assert_int_equal(open(&o, &g, &err), LH_OK);
    assert_int_equal(lh_ai_generate(g, m, 1, NULL, &out, &err), LH_EUNAVAIL);
    assert_non_null(strstr(err.msg, "ran out of memory"));
    lh_ai_message bad[1] = {{"user", NULL}};
    assert_int_equal(lh_ai_generate(g, bad, 1, NULL, &out, &err), LH_EINVAL);
    lh_ai_generator_free(g);

    /* an embedding model asked to chat: the server says not found */
    o = opts("embed8");
    if (open(&o, &g, &err) == LH_OK) {
        assert_int_equal(lh_ai_generate(g, m, 1, NULL, &out, &err), LH_ENOENT);
        lh_ai_generator_free(g);
    }
}

static void test_generator_cancel_timeout_broken_stream_and_errors(void **state)
{
    generator_failures(lh_ai_ollama_generator_open);
    generator_failures(lh_ai_openai_generator_open);
}

static void test_providers_from_config(void **state)
{
    lh_config cfg;
    lh_error err = {0};
    assert_int_equal(lh_config_load(&cfg, NULL, &err), LH_OK);
    lh_ai_embedder *e;
    assert_int_equal(lh_ai_embedder_open(&cfg, &e, &err), LH_OK); /* glove by default */
    assert_string_equal(lh_ai_embedder_name(e), "glove");
    lh_ai_embedder_free(e);
    lh_ai_generator *g = (lh_ai_generator *)&err;
    assert_int_equal(lh_ai_generator_open(&cfg, &g, &err), LH_OK);
    assert_null(g); /* none: answers come without a language model */

    assert_int_equal(lh_config_set(&cfg, "embedder", "openai", &err), LH_OK);
    assert_int_equal(lh_config_set(&cfg, "embedder_url", base, &err), LH_OK);
    assert_int_equal(lh_config_set(&cfg, "embedder_model", "embed8", &err), LH_OK);
    assert_int_equal(lh_config_set(&cfg, "ai_api_key", key, &err), LH_OK);
    assert_int_equal(lh_ai_embedder_open(&cfg, &e, &err), LH_OK);
    assert_string_equal(lh_ai_embedder_name(e), "openai/embed8");
    lh_ai_embedder_free(e);
    assert_int_equal(lh_config_set(&cfg, "generator", "ollama", &err), LH_OK);
    assert_int_equal(lh_config_set(&cfg, "generator_url", base, &err), LH_OK);
    assert_int_equal(lh_config_set(&cfg, "generator_model", "chat", &err), LH_OK);
    assert_int_equal(lh_ai_generator_open(&cfg, &g, &err), LH_OK);
    assert_string_equal(lh_ai_generator_name(g), "ollama/chat");
    lh_ai_generator_free(g);

    assert_int_equal(lh_config_set(&cfg, "embedder", "word2vec", &err), LH_OK);
    assert_int_equal(lh_ai_embedder_open(&cfg, &e, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "unknown provider 'word2vec'"));
    lh_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ollama_embeds_in_batches_with_model_digest_as_version),
        cmocka_unit_test(test_openai_embeds_and_places_vectors_by_index),
        cmocka_unit_test(test_missing_server_model_or_key_are_clear_errors),
        cmocka_unit_test(test_wrong_dimensions_short_answers_and_garbage_are_refused),
        cmocka_unit_test(test_timeouts_and_a_server_dying_mid_batch),
        cmocka_unit_test(test_ollama_pipelines_batches),
        cmocka_unit_test(test_generators_stream_answers),
        cmocka_unit_test(test_generator_cancel_timeout_broken_stream_and_errors),
        cmocka_unit_test(test_providers_from_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
