/* lakehouse index: build, search, evaluate and list vector indexes over dataset columns. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/ai.h"
#include "cli/cli.h"
#include "query/query.h"
#include "vector/vector.h"

#define K_MAX 1000

static const char *index_help =
    "usage: lakehouse index build DATASET --column COL [--name INDEX] [--metric cosine|ip|l2]\n"
    "                       [--m N] [--ef-construction N] [--ef-search N] [--quantize int8]\n"
    "                       [--id-column COL] [--model NAME] [--threads N]\n"
    "       lakehouse index search INDEX (--vector '[...]' | --like-row ID) [-k N]\n"
    "                       [--ef-search N] [--filter \"SQL predicate\"] [--format table|json]\n"
    "                       [--no-rows]\n"
    "       lakehouse index eval INDEX [--queries N] [-k N] [--ef-search N] [--threads N]\n"
    "       lakehouse index text DATASET --column COL [--name INDEX] [--embedder "
    "glove|ollama|openai]\n"
    "                       [--chunk-size N] [--overlap N] [--chunk-unit chars|tokens]\n"
    "       lakehouse index list\n"
    "       lakehouse index show INDEX\n"
    "       lakehouse index gc [INDEX] [--grace S] [--keep N] [--dry-run]\n"
    "build: an HNSW index over a column of number arrays of the dataset's current version,\n"
    "published as a new generation (default name DATASET_COL). search: the k nearest rows,\n"
    "optionally only among rows where the predicate holds. eval: recall@k against exact\n"
    "search, latency and QPS on queries between pairs of indexed rows. text: chunk, embed and\n"
    "index a text column for `lakehouse search` (vector + BM25; default name DATASET_COL_text;\n"
    "unchanged chunks reuse the vectors of the current generation). gc: remove generation\n"
    "folders no pointer record names (builds that died before publishing) untouched for S\n"
    "seconds (default 3600), and with --keep N the published generations older than the\n"
    "newest N (never the current one); every index when INDEX is omitted.\n";

/* Parses an integer flag value in [lo, hi]; prints the error and returns false otherwise. */
static bool int_arg(const char *flag, const char *s, long lo, long hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "lakehouse index: %s must be an integer in %ld..%ld, got '%s'\n", flag, lo,
                hi, s);
        return false;
    }
    *out = (int)v;
    return true;
}

typedef struct opts {
    const char *target;
    const char *column, *name, *metric, *quantize, *id_column, *model;
    const char *vector, *like_row, *filter, *format, *embedder, *chunk_unit;
    int chunk_size, overlap;
    int m, ef_construction, ef_search, k, queries, threads, grace, keep;
    bool no_rows, dry_run;
} opts;

/* Parses subcommand arguments into o; returns 0, or 2 on a usage error (printed). */
static int parse(int argc, char **argv, opts *o)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (strcmp(a, "--no-rows") == 0) {
            o->no_rows = true;
            continue;
        }
        if (strcmp(a, "--dry-run") == 0) {
            o->dry_run = true;
            continue;
        }
        if (a[0] != '-' || !a[1]) {
            if (o->target) {
                fprintf(stderr, "lakehouse index: unexpected argument '%s'\n", a);
                return 2;
            }
            o->target = a;
            continue;
        }
        if (!v) {
            fprintf(stderr, "lakehouse index: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--column") == 0)
            o->column = v;
        else if (strcmp(a, "--name") == 0)
            o->name = v;
        else if (strcmp(a, "--metric") == 0)
            o->metric = v;
        else if (strcmp(a, "--quantize") == 0)
            o->quantize = v;
        else if (strcmp(a, "--id-column") == 0)
            o->id_column = v;
        else if (strcmp(a, "--model") == 0)
            o->model = v;
        else if (strcmp(a, "--vector") == 0)
            o->vector = v;
        else if (strcmp(a, "--like-row") == 0)
            o->like_row = v;
        else if (strcmp(a, "--filter") == 0)
            o->filter = v;
        else if (strcmp(a, "--format") == 0)
            o->format = v;
        else if (strcmp(a, "--embedder") == 0)
            o->embedder = v;
        else if (strcmp(a, "--chunk-unit") == 0)
            o->chunk_unit = v;
        else if (strcmp(a, "--chunk-size") == 0)
            ok = int_arg(a, v, 8, 100000, &o->chunk_size);
        else if (strcmp(a, "--overlap") == 0)
            ok = int_arg(a, v, 0, 50000, &o->overlap);
        else if (strcmp(a, "--m") == 0)
            ok = int_arg(a, v, 2, 256, &o->m);
        else if (strcmp(a, "--ef-construction") == 0)
            ok = int_arg(a, v, 1, 4096, &o->ef_construction);
        else if (strcmp(a, "--ef-search") == 0)
            ok = int_arg(a, v, 1, 4096, &o->ef_search);
        else if (strcmp(a, "-k") == 0 || strcmp(a, "--k") == 0)
            ok = int_arg(a, v, 1, K_MAX, &o->k);
        else if (strcmp(a, "--queries") == 0)
            ok = int_arg(a, v, 1, 100000, &o->queries);
        else if (strcmp(a, "--threads") == 0)
            ok = int_arg(a, v, 0, 256, &o->threads);
        else if (strcmp(a, "--grace") == 0)
            ok = int_arg(a, v, 0, INT_MAX, &o->grace);
        else if (strcmp(a, "--keep") == 0)
            ok = int_arg(a, v, 1, INT_MAX, &o->keep);
        else {
            fprintf(stderr, "lakehouse index: unknown option '%s'\n%s", a, index_help);
            return 2;
        }
        if (!ok) return 2;
    }
    return 0;
}

static int do_build(cli_env *env, const opts *o)
{
    lh_error err = {0};
    if (!o->target || !o->column) {
        fprintf(stderr, "lakehouse index build: a DATASET and --column are required\n%s",
                index_help);
        return 2;
    }
    lh_vector_index_spec sp = {.dataset = o->target,
                               .column = o->column,
                               .name = o->name,
                               .id_column = o->id_column,
                               .model = o->model,
                               .tmp_dir = env->cfg.cache_dir};
    lh_hnsw_params_default(&sp.params);
    if (o->metric && lh_vector_metric_parse(o->metric, &sp.params.metric, &err)) goto usage;
    if (o->quantize && strcmp(o->quantize, "int8") == 0)
        sp.params.quant = LH_QUANT_INT8;
    else if (o->quantize && strcmp(o->quantize, "none") != 0) {
        lh_error_set(&err, LH_EINVAL, "--quantize takes int8 or none, not '%s'", o->quantize);
        goto usage;
    }
    if (o->m) sp.params.m = o->m;
    if (o->ef_construction) sp.params.ef_construction = o->ef_construction;
    if (o->ef_search) sp.params.ef_search = o->ef_search;
    sp.params.threads = o->threads;
    cli_progress prog;
    char label[160];
    snprintf(label, sizeof label, "index %s.%s", o->target, o->column);
    cli_progress_start(&prog, label);
    sp.progress = cli_progress_update;
    sp.progress_ctx = &prog;
    lh_vector_index_meta m;
    if (lh_vector_index_create(env->cat, &lh_identity_default, &sp, &m, &err)) {
        cli_progress_done(&prog, NULL);
        cli_fail("index build", &err);
        return 1;
    }
    cli_progress_done(&prog, NULL);
    double secs = json_real_value(json_object_get(m.json, "build_seconds"));
    printf("index %s generation %s: %" PRId64 " vectors of %zu dimensions from %s version %" PRId64
           " column %s (%s, m=%d, ef_construction=%d%s) in %.2fs\n",
           m.index, m.generation, m.count, m.dim, m.dataset, m.dataset_version, m.column,
           lh_vector_metric_name(m.params.metric), m.params.m, m.params.ef_construction,
           m.params.quant == LH_QUANT_INT8 ? ", int8" : "", secs);
    lh_vector_index_meta_free(&m);
    return 0;
usage:
    cli_fail("index build", &err);
    return 2;
}

/* The rows of the index's dataset version, for filters and row lookups. */
static void rowset_of(const lh_vector_index_meta *m, lh_query_rowset *rs)
{
    *rs = (lh_query_rowset){.dataset = m->dataset,
                            .version = m->dataset_version,
                            .keys = (const char *const *)m->file_keys,
                            .bases = m->file_bases,
                            .nfiles = m->nfiles,
                            .nrows = m->count};
}

static void print_hits(json_t *hits, const lh_vector_index_meta *m, const char *strategy)
{
    size_t n = json_array_size(hits);
    printf("%-4s %-20s %-12s %s\n", "rank", m->id_column ? m->id_column : "row", "distance",
           json_object_get(json_array_get(hits, 0), "fields") ? "row" : "");
    for (size_t i = 0; i < n; i++) {
        json_t *h = json_array_get(hits, i);
        char *id = json_dumps(json_object_get(h, "id"), JSON_ENCODE_ANY);
        json_t *f = json_object_get(h, "fields");
        char *fields = f ? json_dumps(f, JSON_COMPACT) : NULL;
        if (fields && strlen(fields) > 200) strcpy(fields + 197, "...");
        printf("%-4zu %-20s %-12.6f %s\n", i + 1, id,
               json_real_value(json_object_get(h, "distance")), fields ? fields : "");
        free(id);
        free(fields);
    }
    printf("(%zu hit%s, %s search)\n", n, n == 1 ? "" : "s", strategy);
}

static int do_search(cli_env *env, const opts *o)
{
    lh_error err = {0};
    if (!o->target || (!o->vector == !o->like_row)) {
        fprintf(stderr,
                "lakehouse index search: an INDEX and one of --vector or --like-row are "
                "required\n%s",
                index_help);
        return 2;
    }
    if (o->format && strcmp(o->format, "table") != 0 && strcmp(o->format, "json") != 0) {
        fprintf(stderr, "lakehouse index search: unknown format '%s' (table, json)\n", o->format);
        return 2;
    }
    if (o->filter && lh_query_predicate_check(o->filter, &err)) {
        cli_fail("index search", &err);
        return 2;
    }
    lh_vector_index *v = NULL;
    lh_query *q = NULL;
    float *query = NULL;
    uint64_t *words = NULL;
    json_t *hits = NULL, *rows = NULL;
    lh_vector_hit *found = NULL;
    int status = 1;
    if (lh_vector_index_open(env->st, o->target, env->cfg.cache_dir, &v, &err)) goto fail;
    const lh_vector_index_meta *m = lh_vector_index_meta_of(v);
    const lh_hnsw *h = lh_vector_index_graph(v);
    query = lh_calloc(m->dim, sizeof(float));
    if (o->vector) {
        json_error_t je;
        json_t *j = json_loads(o->vector, 0, &je);
        if (!j) {
            lh_error_set(&err, LH_EINVAL, "--vector is not JSON: %s", je.text);
            goto fail;
        }
        int rc = lh_vector_index_query_from_json(v, j, query, &err);
        json_decref(j);
        if (rc) goto fail;
    } else {
        int64_t row;
        if (lh_vector_index_find_row(v, o->like_row, &row, &err)) goto fail;
        memcpy(query, lh_hnsw_vector(h, row), m->dim * sizeof(float));
    }
    lh_query_rowset rs;
    rowset_of(m, &rs);
    bool need_query = o->filter || !o->no_rows;
    if (need_query && lh_query_open(env->cat, &env->cfg, &q, &err)) goto fail;
    lh_vector_bitset allow = {0};
    int64_t matches = -1;
    if (o->filter) {
        if (lh_query_filter_rows(q, &lh_identity_default, &rs, o->filter, &words, &matches, &err))
            goto fail;
        allow = (lh_vector_bitset){.words = words, .nbits = (size_t)m->count};
    }
    int k = o->k ? o->k : 10;
    found = lh_calloc((size_t)k, sizeof *found);
    lh_hnsw_search_opts so = {
        .k = k, .ef_search = o->ef_search, .allow = o->filter ? &allow : NULL};
    size_t n = 0;
    if (lh_hnsw_search(h, NULL, query, &so, found, &n, &err)) goto fail;
    hits = lh_vector_index_hits_json(v, found, n);
    if (!o->no_rows && n) {
        int64_t *pos = lh_calloc(n, sizeof *pos);
        for (size_t i = 0; i < n; i++)
            pos[i] = found[i].id;
        lh_error rerr = {0};
        if (lh_query_rows_json(q, &lh_identity_default, &rs, pos, n, m->column, &rows, &rerr))
            fprintf(stderr, "lakehouse index search: rows not shown: %s\n", rerr.msg);
        for (size_t i = 0; rows && i < n; i++)
            json_object_set(json_array_get(hits, i), "fields", json_array_get(rows, i));
        free(pos);
    }
    const char *strategy = so.used_strategy == LH_STRATEGY_EXACT ? "exact" : "graph";
    bool table = o->format ? strcmp(o->format, "table") == 0 : isatty(STDOUT_FILENO);
    if (table) {
        print_hits(hits, m, strategy);
        if (o->filter)
            printf("(filter matched %" PRId64 " of %" PRId64 " rows)\n", matches, m->count);
    } else {
        json_t *out = json_pack("{s:s, s:s, s:O, s:s}", "index", m->index, "generation",
                                m->generation, "hits", hits, "strategy", strategy);
        if (o->filter) json_object_set_new(out, "filter_matches", json_integer(matches));
        char *s = json_dumps(out, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(out);
    }
    status = 0;
fail:
    if (status) cli_fail("index search", &err);
    json_decref(hits);
    json_decref(rows);
    free(found);
    free(words);
    free(query);
    lh_query_close(q);
    lh_vector_index_release(v);
    return status;
}

static int do_eval(cli_env *env, const opts *o)
{
    lh_error err = {0};
    if (!o->target) {
        fprintf(stderr, "lakehouse index eval: an INDEX is required\n%s", index_help);
        return 2;
    }
    lh_vector_index *v = NULL;
    if (lh_vector_index_open(env->st, o->target, env->cfg.cache_dir, &v, &err)) {
        cli_fail("index eval", &err);
        return 1;
    }
    const lh_vector_index_meta *m = lh_vector_index_meta_of(v);
    const lh_hnsw *h = lh_vector_index_graph(v);
    size_t n = lh_hnsw_size(h), dim = m->dim;
    size_t nq = o->queries ? (size_t)o->queries : 200;
    int k = o->k ? o->k : 10;
    /* Queries halfway between two indexed rows: near the data, but not rows of the index
     * (a row as its own query would find itself and flatter the recall). Deterministic. */
    float *qs = lh_malloc(nq * dim * sizeof(float));
    for (size_t i = 0; i < nq; i++) {
        const float *a = lh_hnsw_vector(h, (int64_t)((i * 7919 + 1) % n));
        const float *b = lh_hnsw_vector(h, (int64_t)((i * 104729 + 17) % n));
        for (size_t j = 0; j < dim; j++)
            qs[i * dim + j] = (a[j] + b[j]) / 2;
    }
    lh_vector_eval ev;
    int ef = o->ef_search ? o->ef_search : m->params.ef_search;
    int status = 0;
    if (lh_hnsw_eval(h, qs, nq, NULL, k, ef, NULL, o->threads, &ev, &err)) {
        cli_fail("index eval", &err);
        status = 1;
    } else {
        int threads = o->threads ? o->threads : lh_cpu_count();
        printf("index %s generation %s: %" PRId64 " vectors, %zu dimensions, %s%s\n", m->index,
               m->generation, m->count, dim, lh_vector_metric_name(m->params.metric),
               m->params.quant == LH_QUANT_INT8 ? ", int8" : "");
        printf("queries %zu  k %d  ef_search %d  threads %d\n", nq, k, ef, threads);
        printf("recall@%d %.4f  p50 %.1f us  p95 %.1f us  QPS %.0f\n", k, ev.recall, ev.p50_us,
               ev.p95_us, ev.qps);
        printf("memory %zu bytes (%zu per vector)\n", ev.memory_bytes, ev.bytes_per_vector);
    }
    free(qs);
    lh_vector_index_release(v);
    return status;
}

static int do_text(cli_env *env, const opts *o)
{
    lh_error err = {0};
    if (!o->target || !o->column) {
        fprintf(stderr, "lakehouse index text: a DATASET and --column are required\n%s",
                index_help);
        return 2;
    }
    lh_ai_text_spec sp = {
        .dataset = o->target, .column = o->column, .name = o->name, .tmp_dir = env->cfg.cache_dir};
    if (o->chunk_size || o->overlap >= 0 || o->chunk_unit) {
        sp.chunk.size = o->chunk_size ? (size_t)o->chunk_size : 1000;
        sp.chunk.overlap = o->overlap >= 0 ? (size_t)o->overlap : sp.chunk.size * 15 / 100;
        if (o->chunk_unit && strcmp(o->chunk_unit, "tokens") == 0)
            sp.chunk.unit = LH_AI_CHUNK_TOKENS;
        else if (o->chunk_unit && strcmp(o->chunk_unit, "chars") != 0) {
            fprintf(stderr, "lakehouse index text: --chunk-unit takes chars or tokens, not '%s'\n",
                    o->chunk_unit);
            return 2;
        }
    }
    if (o->embedder && lh_config_set(&env->cfg, "embedder", o->embedder, &err)) {
        cli_fail("index text", &err);
        return 2;
    }
    lh_ai_embedder *e = NULL;
    lh_query *q = NULL;
    int status = 1;
    if (lh_ai_embedder_open(&env->cfg, &e, &err)) goto fail;
    if (lh_query_open(env->cat, &env->cfg, &q, &err)) goto fail;
    cli_progress prog;
    char label[160];
    snprintf(label, sizeof label, "text index %s.%s", o->target, o->column);
    cli_progress_start(&prog, label);
    sp.progress = cli_progress_update;
    sp.progress_ctx = &prog;
    lh_vector_index_meta m;
    lh_ai_text_build_stats st;
    int rc = lh_ai_text_index_build(env->cat, q, e, &lh_identity_default, &sp, &m, &st, &err);
    cli_progress_done(&prog, NULL);
    if (rc) goto fail;
    printf("text index %s generation %s: %" PRId64 " chunks from %" PRId64
           " rows of %s version %" PRId64 " column %s (%s, %zu dimensions); embedded %" PRId64
           ", reused %" PRId64 ", in %.2fs (%.0f chunks/s)\n",
           m.index, m.generation, st.chunks, st.rows, m.dataset, m.dataset_version, m.column,
           m.model ? m.model : "?", m.dim, st.embedded, st.reused, st.seconds,
           st.seconds > 0 ? (double)st.chunks / st.seconds : 0.0);
    lh_vector_index_meta_free(&m);
    status = 0;
fail:
    if (status) cli_fail("index text", &err);
    lh_query_close(q);
    lh_ai_embedder_free(e);
    return status;
}

static int do_list(cli_env *env)
{
    lh_error err = {0};
    char **names = NULL;
    size_t n = 0;
    if (lh_vector_index_list(env->st, &names, &n, &err)) {
        cli_fail("index list", &err);
        return 1;
    }
    printf("%-28s %-10s %-20s %8s %10s %5s %-7s %s\n", "index", "generation", "dataset", "version",
           "vectors", "dim", "metric", "created");
    for (size_t i = 0; i < n; i++) {
        lh_vector_index_meta m;
        if (lh_vector_index_current(env->st, names[i], &m, &err)) {
            printf("%-28s (unreadable: %s)\n", names[i], err.msg);
            continue;
        }
        char t[40];
        lh_time_format(m.created_us, t, sizeof t);
        printf("%-28s %-10s %-20s %8" PRId64 " %10" PRId64 " %5zu %-7s %s\n", m.index, m.generation,
               m.dataset, m.dataset_version, m.count, m.dim, lh_vector_metric_name(m.params.metric),
               t);
        lh_vector_index_meta_free(&m);
    }
    lh_catalog_names_free(names, n);
    return 0;
}

static int do_show(cli_env *env, const opts *o)
{
    lh_error err = {0};
    json_t *j = NULL;
    if (!o->target) {
        fprintf(stderr, "lakehouse index show: an INDEX is required\n");
        return 2;
    }
    if (lh_vector_index_describe(env->st, o->target, &j, &err)) {
        cli_fail("index show", &err);
        return 1;
    }
    char *s = json_dumps(j, JSON_INDENT(2));
    printf("%s\n", s);
    free(s);
    json_decref(j);
    return 0;
}

static int do_gc(cli_env *env, const opts *o)
{
    lh_error err = {0};
    lh_vector_gc_report g;
    if (lh_vector_index_gc(env->st, o->target, o->grace, o->keep, o->dry_run, &g, &err)) {
        json_decref(g.removed);
        cli_fail("index gc", &err);
        return 1;
    }
    size_t i;
    json_t *it;
    json_array_foreach(g.removed, i, it)
    {
        printf("%s vectors/%s/%s/ (%s, %" PRId64 " objects, %" PRId64 " bytes)\n",
               o->dry_run ? "would remove" : "removed",
               json_string_value(json_object_get(it, "index")),
               json_string_value(json_object_get(it, "generation")),
               json_string_value(json_object_get(it, "reason")),
               (int64_t)json_integer_value(json_object_get(it, "objects")),
               (int64_t)json_integer_value(json_object_get(it, "bytes")));
    }
    printf("gc: %" PRId64 " generations, %" PRId64 " published; %" PRId64 " abandoned and %" PRId64
           " retired %s (%" PRId64 " bytes); %" PRId64 " unpublished but younger than %d s kept\n",
           g.generations, g.published, g.abandoned, g.retired,
           o->dry_run ? "would be removed" : "removed", g.bytes, g.young, o->grace);
    json_decref(g.removed);
    return 0;
}

int cmd_index(int argc, char **argv)
{
    const char *config_path = NULL;
    char *flags[CLI_MAX_FLAGS];
    int nflags;
    if ((argc = cli_take_common(argc, argv, &config_path, flags, &nflags)) < 0) return 2;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(index_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    static const char *subs[] = {"build", "search", "eval", "list", "show", "text", "gc", NULL};
    bool known = false;
    for (int i = 0; subs[i]; i++)
        known = known || strcmp(sub, subs[i]) == 0;
    if (!known) {
        fprintf(stderr, "lakehouse index: unknown subcommand '%s'\n%s", sub, index_help);
        return 2;
    }
    opts o = {.overlap = -1, .grace = 3600};
    int rc = parse(argc, argv, &o);
    if (rc) return rc;
    cli_env env;
    if (cli_env_open(&env, config_path, flags, nflags)) return 1;
    if (strcmp(sub, "build") == 0)
        rc = do_build(&env, &o);
    else if (strcmp(sub, "search") == 0)
        rc = do_search(&env, &o);
    else if (strcmp(sub, "eval") == 0)
        rc = do_eval(&env, &o);
    else if (strcmp(sub, "list") == 0)
        rc = do_list(&env);
    else if (strcmp(sub, "text") == 0)
        rc = do_text(&env, &o);
    else if (strcmp(sub, "gc") == 0)
        rc = do_gc(&env, &o);
    else
        rc = do_show(&env, &o);
    cli_env_close(&env);
    return rc;
}
