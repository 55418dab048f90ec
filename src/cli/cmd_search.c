/* lakehouse search: vector, lexical or hybrid search over a text index. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/ai.h"
#include "cli/cli.h"

#define MAX_FLAGS 16

static const char *search_help =
    "usage: lakehouse search QUERY (--index INDEX | --dataset DATASET) [-k N]\n"
    "                        [--mode hybrid|vector|lexical] [--filter \"SQL predicate\"]\n"
    "                        [--vector-weight W] [--lexical-weight W] [--rrf-k N]\n"
    "                        [--format table|json] [--rows]\n"
    "Searches a text index (`lakehouse index text`): by meaning (vector), by words (BM25),\n"
    "or both fused by reciprocal rank (hybrid, the default). --filter keeps only rows where\n"
    "the predicate holds, inside the vector search. --rows adds each hit's row.\n";

static bool num_arg(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "lakehouse search: %s must be a number in %g..%g, got '%s'\n", flag, lo, hi,
                s);
        return false;
    }
    *out = v;
    return true;
}

static void print_table(json_t *res)
{
    json_t *hits = json_object_get(res, "hits");
    size_t i;
    json_t *h;
    printf("%-4s %-8s %-9s %s\n", "rank", "row", "score", "text");
    json_array_foreach(hits, i, h)
    {
        const char *hl = json_string_value(json_object_get(h, "highlight"));
        char line[241];
        size_t n = 0;
        for (const char *p = hl; p && *p && n < sizeof line - 1; p++)
            line[n++] = *p == '\n' || *p == '\t' ? ' ' : *p;
        line[n] = 0;
        printf("%-4zu %-8" PRId64 " %-9.5f %s%s\n", i + 1,
               (int64_t)json_integer_value(json_object_get(h, "row")),
               json_real_value(json_object_get(h, "score")), line,
               hl && strlen(hl) > n ? "..." : "");
    }
    printf("(%zu hit%s, %s search on %s generation %s", json_array_size(hits),
           json_array_size(hits) == 1 ? "" : "s", json_string_value(json_object_get(res, "mode")),
           json_string_value(json_object_get(res, "index")),
           json_string_value(json_object_get(res, "generation")));
    json_t *fm = json_object_get(res, "filter_matches");
    if (fm) printf(", filter matched %" PRId64 " rows", (int64_t)json_integer_value(fm));
    printf(", %.2f ms)\n", json_real_value(json_object_get(res, "elapsed_ms")));
}

int cmd_search(int argc, char **argv)
{
    const char *config_path = NULL;
    char *flags[MAX_FLAGS];
    int nflags;
    if ((argc = cli_take_common(argc, argv, &config_path, flags, &nflags)) < 0) return 2;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(search_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    lh_ai_search_opts o = {0};
    const char *index = NULL, *dataset = NULL, *format = NULL;
    lh_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d = 0;
        if (strcmp(a, "--rows") == 0) {
            o.include_rows = true;
            continue;
        }
        if (a[0] != '-' || !a[1]) {
            if (o.query) {
                fprintf(stderr, "lakehouse search: unexpected argument '%s' (quote the query)\n",
                        a);
                return 2;
            }
            o.query = a;
            continue;
        }
        if (!v) {
            fprintf(stderr, "lakehouse search: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--index") == 0)
            index = v;
        else if (strcmp(a, "--dataset") == 0)
            dataset = v;
        else if (strcmp(a, "--format") == 0)
            format = v;
        else if (strcmp(a, "--filter") == 0)
            o.filter = v;
        else if (strcmp(a, "--mode") == 0) {
            if (lh_ai_search_mode_parse(v, &o.mode, &err)) {
                cli_fail("search", &err);
                return 2;
            }
        } else if (strcmp(a, "-k") == 0 || strcmp(a, "--k") == 0) {
            if (!num_arg(a, v, 1, LH_AI_SEARCH_K_MAX, &d) || d != (int)d) return 2;
            o.k = (int)d;
        } else if (strcmp(a, "--vector-weight") == 0) {
            if (!num_arg(a, v, 0, 100, &o.vector_weight)) return 2;
        } else if (strcmp(a, "--lexical-weight") == 0) {
            if (!num_arg(a, v, 0, 100, &o.lexical_weight)) return 2;
        } else if (strcmp(a, "--rrf-k") == 0) {
            if (!num_arg(a, v, 1, 10000, &d)) return 2;
            o.rrf_k = (int)d;
        } else {
            fprintf(stderr, "lakehouse search: unknown option '%s'\n%s", a, search_help);
            return 2;
        }
    }
    if (!o.query || (!index == !dataset)) {
        fprintf(stderr,
                "lakehouse search: a QUERY and one of --index or --dataset are required\n%s",
                search_help);
        return 2;
    }
    if (format && strcmp(format, "table") != 0 && strcmp(format, "json") != 0) {
        fprintf(stderr, "lakehouse search: unknown format '%s' (table, json)\n", format);
        return 2;
    }
    cli_env env;
    if (cli_env_open(&env, config_path, flags, nflags)) return 1;
    lh_vector_registry *vr = lh_vector_registry_new(env.st, env.cfg.cache_dir);
    lh_ai_text_registry *tr = lh_ai_text_registry_new(vr, env.st, env.cfg.cache_dir);
    lh_ai_text_index *t = NULL;
    lh_ai_embedder *e = NULL;
    lh_query *q = NULL;
    char *name = NULL;
    json_t *res = NULL;
    int status = 1;
    if (dataset && lh_ai_text_index_for_dataset(env.st, dataset, &name, &err)) goto fail;
    if (lh_ai_text_registry_get(tr, index ? index : name, &t, &err)) goto fail;
    if (o.mode != LH_AI_SEARCH_LEXICAL && lh_ai_embedder_open(&env.cfg, &e, &err)) goto fail;
    if (lh_query_open(env.cat, &env.cfg, &q, &err)) goto fail;
    if (lh_ai_text_search(t, e, q, &lh_identity_default, &o, &res, &err)) goto fail;
    if (format ? strcmp(format, "table") == 0 : isatty(STDOUT_FILENO)) {
        print_table(res);
    } else {
        char *s = json_dumps(res, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
    }
    status = 0;
fail:
    if (status) cli_fail("search", &err);
    json_decref(res);
    free(name);
    lh_query_close(q);
    lh_ai_embedder_free(e);
    lh_ai_text_index_release(t);
    lh_ai_text_registry_free(tr);
    lh_vector_registry_free(vr);
    cli_env_close(&env);
    return status;
}
