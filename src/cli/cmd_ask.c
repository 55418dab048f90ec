/* lakehouse ask: NL->SQL over the datasets, or (--rag) an answer from a text index. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/ai.h"
#include "cli/cli.h"

#define MAX_FLAGS 16

static const char *ask_help =
    "usage: lakehouse ask QUESTION [--dataset DATASET] [--format text|json]\n"
    "       lakehouse ask --rag QUESTION (--index INDEX | --dataset DATASET) [-k N]\n"
    "                     [--filter \"SQL predicate\"] [--min-similarity X] [--format text|json]\n"
    "  model options: [--generator none|ollama|openai] [--generator-model NAME]\n"
    "                 [--generator-url URL] [--embedder glove|ollama|openai]\n"
    "Without --rag: a language model turns the question into SQL over the datasets (their\n"
    "columns and sample rows are in its prompt); the SQL is checked in the sandbox, retried\n"
    "once with the error, run, and printed with its result. With --rag: hybrid retrieval,\n"
    "numbered sources, and the model's answer citing them [n]; with no model configured,\n"
    "the sentences of the sources that best answer the question.\n";

static void print_rag(json_t *res)
{
    printf("%s\n", json_string_value(json_object_get(res, "answer")));
    json_t *gen = json_object_get(res, "generator");
    if (!json_is_string(gen))
        printf("\n(%s)\n", json_string_value(json_object_get(res, "message")));
    json_t *srcs = json_object_get(res, "sources");
    size_t i;
    json_t *s;
    printf("\nsources:\n");
    json_array_foreach(srcs, i, s)
    {
        const char *text = json_string_value(json_object_get(s, "text"));
        char line[161];
        size_t n = 0;
        for (const char *p = text; p && *p && n < sizeof line - 1; p++)
            line[n++] = *p == '\n' ? ' ' : *p;
        line[n] = 0;
        printf("[%zu] row %lld: %s%s\n", i + 1,
               (long long)json_integer_value(json_object_get(s, "row")), line,
               text && strlen(text) > n ? "..." : "");
    }
}

static void print_ask(json_t *res)
{
    printf("%s\n\n", json_string_value(json_object_get(res, "sql")));
    json_t *r = json_object_get(res, "result");
    json_t *cols = json_object_get(r, "columns"), *rows = json_object_get(r, "rows");
    size_t i;
    json_t *c;
    json_array_foreach(cols, i, c)
        printf("%s%s", i ? "\t" : "", json_string_value(json_object_get(c, "name")));
    printf("\n");
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        size_t j;
        json_t *v;
        json_array_foreach(row, j, v)
        {
            char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            printf("%s%s", j ? "\t" : "", s);
            free(s);
        }
        printf("\n");
    }
}

int cmd_ask(int argc, char **argv)
{
    const char *config_path = NULL;
    char *flags[MAX_FLAGS + 8];
    int nflags;
    if ((argc = cli_take_common(argc, argv, &config_path, flags, &nflags)) < 0) return 2;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(ask_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    bool rag = false;
    const char *question = NULL, *index = NULL, *dataset = NULL, *format = NULL;
    lh_ai_rag_opts ro = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--rag") == 0) {
            rag = true;
            continue;
        }
        if (a[0] != '-' || !a[1]) {
            if (question) {
                fprintf(stderr, "lakehouse ask: unexpected argument '%s' (quote the question)\n",
                        a);
                return 2;
            }
            question = a;
            continue;
        }
        if (!v) {
            fprintf(stderr, "lakehouse ask: %s needs a value\n", a);
            return 2;
        }
        i++;
        char *end = NULL;
        if (strcmp(a, "--index") == 0)
            index = v;
        else if (strcmp(a, "--dataset") == 0)
            dataset = v;
        else if (strcmp(a, "--format") == 0)
            format = v;
        else if (strcmp(a, "--filter") == 0)
            ro.filter = v;
        else if (strcmp(a, "-k") == 0 || strcmp(a, "--k") == 0) {
            long k = strtol(v, &end, 10);
            if (*end || k < 1 || k > 20) {
                fprintf(stderr, "lakehouse ask: -k must be an integer in 1..20, got '%s'\n", v);
                return 2;
            }
            ro.k = (int)k;
        } else if (strcmp(a, "--min-similarity") == 0) {
            ro.min_similarity = strtod(v, &end);
            if (*end || !(ro.min_similarity >= -1 && ro.min_similarity <= 1)) {
                fprintf(stderr, "lakehouse ask: --min-similarity must be in -1..1, got '%s'\n", v);
                return 2;
            }
        } else if (strcmp(a, "--generator") == 0 || strcmp(a, "--generator-model") == 0 ||
                   strcmp(a, "--generator-url") == 0 || strcmp(a, "--embedder") == 0) {
            static const char *keys[][2] = {{"--generator", "generator"},
                                            {"--generator-model", "generator_model"},
                                            {"--generator-url", "generator_url"},
                                            {"--embedder", "embedder"}};
            if (nflags + 2 > MAX_FLAGS + 8) {
                fprintf(stderr, "lakehouse ask: too many model options\n");
                return 2;
            }
            for (size_t k = 0; k < 4; k++)
                if (strcmp(a, keys[k][0]) == 0) {
                    flags[nflags++] = (char *)keys[k][1];
                    flags[nflags++] = (char *)v;
                }
        } else {
            fprintf(stderr, "lakehouse ask: unknown option '%s'\n%s", a, ask_help);
            return 2;
        }
    }
    if (!question || (rag && !index == !dataset) || (!rag && index)) {
        fprintf(stderr,
                "lakehouse ask: a QUESTION is required (with --rag, and one of --index or "
                "--dataset)\n%s",
                ask_help);
        return 2;
    }
    if (format && strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
        fprintf(stderr, "lakehouse ask: unknown format '%s' (text, json)\n", format);
        return 2;
    }
    cli_env env;
    if (cli_env_open(&env, config_path, flags, nflags)) return 1;
    lh_error err = {0};
    lh_vector_registry *vr = NULL;
    lh_ai_text_registry *tr = NULL;
    lh_ai_text_index *t = NULL;
    lh_ai_embedder *e = NULL;
    lh_ai_generator *gen = NULL;
    lh_query *q = NULL;
    char *name = NULL;
    json_t *res = NULL;
    int status = 1;
    if (lh_ai_generator_open(&env.cfg, &gen, &err)) goto fail;
    if (lh_query_open(env.cat, &env.cfg, &q, &err)) goto fail;
    if (rag) {
        vr = lh_vector_registry_new(env.st, env.cfg.cache_dir);
        tr = lh_ai_text_registry_new(vr, env.st, env.cfg.cache_dir);
        if (dataset && lh_ai_text_index_for_dataset(env.st, dataset, &name, &err)) goto fail;
        if (lh_ai_text_registry_get(tr, index ? index : name, &t, &err)) goto fail;
        if (lh_ai_embedder_open(&env.cfg, &e, &err)) goto fail;
        ro.question = question;
        ro.gen = gen;
        if (lh_ai_rag(t, e, q, &lh_identity_default, &ro, &res, &err)) goto fail;
    } else {
        int rc =
            lh_ai_ask_sql(env.cat, q, gen, &lh_identity_default, question, dataset, &res, &err);
        if (rc && res) {
            json_t *a = json_object_get(res, "attempts");
            size_t i;
            json_t *x;
            json_array_foreach(a, i, x)
                fprintf(stderr, "attempt %zu: %s\n  -> %s\n", i + 1,
                        json_string_value(json_object_get(x, "sql")),
                        json_string_value(json_object_get(json_object_get(x, "error"), "message")));
        }
        if (rc) goto fail;
    }
    if (format ? strcmp(format, "json") == 0 : !isatty(STDOUT_FILENO)) {
        char *s = json_dumps(res, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
    } else if (rag) {
        print_rag(res);
    } else {
        print_ask(res);
    }
    status = 0;
fail:
    if (status) cli_fail("ask", &err);
    json_decref(res);
    free(name);
    lh_query_close(q);
    lh_ai_generator_free(gen);
    lh_ai_embedder_free(e);
    lh_ai_text_index_release(t);
    lh_ai_text_registry_free(tr);
    lh_vector_registry_free(vr);
    cli_env_close(&env);
    return status;
}
