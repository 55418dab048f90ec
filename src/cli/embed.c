/* Embedding after an ingest: the text indexes of a dataset, and the columns --embed names,
 * rebuilt in the foreground with a progress bar (only new or changed chunks get embedded). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/ai.h"
#include "cli/cli.h"

/* Builds one text index over dataset.column (name NULL: the default) with a progress bar. */
static int embed_one(cli_env *env, lh_query *q, lh_ai_embedder *e, const char *dataset,
                     const char *column, const char *name, const json_t *chunking)
{
    lh_error err = {0};
    lh_ai_text_spec sp = {
        .dataset = dataset, .column = column, .name = name, .tmp_dir = env->cfg.cache_dir};
    if (chunking) {
        const char *unit = json_string_value(json_object_get(chunking, "unit"));
        sp.chunk = (lh_ai_chunk_opts){
            (size_t)json_integer_value(json_object_get(chunking, "size")),
            (size_t)json_integer_value(json_object_get(chunking, "overlap")),
            unit && strcmp(unit, "tokens") == 0 ? LH_AI_CHUNK_TOKENS : LH_AI_CHUNK_CHARS};
    }
    cli_progress prog;
    char label[200];
    snprintf(label, sizeof label, "embed %s.%s", dataset, column);
    cli_progress_start(&prog, label);
    sp.progress = cli_progress_update;
    sp.progress_ctx = &prog;
    lh_vector_index_meta m;
    lh_ai_text_build_stats st;
    int rc = lh_ai_text_index_build(env->cat, q, e, &lh_identity_default, &sp, &m, &st, &err);
    cli_progress_done(&prog, NULL);
    if (rc) {
        cli_fail("ingest --embed", &err);
        return 1;
    }
    printf("  text index %s generation %s: %" PRId64 " chunks, embedded %" PRId64
           ", reused %" PRId64 " in %.2fs\n",
           m.index, m.generation, st.chunks, st.embedded, st.reused, st.seconds);
    lh_vector_index_meta_free(&m);
    return 0;
}

int cli_embed_after_ingest(cli_env *env, const char *dataset, const char *const *columns,
                           size_t ncolumns, bool changed)
{
    lh_error err = {0};
    lh_query *q = NULL;
    lh_ai_embedder *e = NULL;
    char **names = NULL;
    size_t n = 0;
    int status = 0;
    /* Existing text indexes over the dataset follow its new rows. */
    if (lh_vector_index_list(env->st, &names, &n, &err)) goto fail;
    for (size_t i = 0; i < n && !status; i++) {
        lh_vector_index_meta m;
        lh_error me = {0};
        if (lh_vector_index_current(env->st, names[i], &m, &me)) continue;
        const char *kind = json_string_value(json_object_get(m.json, "kind"));
        bool mine = kind && strcmp(kind, "text") == 0 && strcmp(m.dataset, dataset) == 0;
        bool asked = false;
        for (size_t c = 0; c < ncolumns; c++)
            asked = asked || strcmp(columns[c], m.column) == 0;
        if (mine && (changed || asked)) {
            if ((!q && lh_query_open(env->cat, &env->cfg, &q, &err)) ||
                (!e && lh_ai_embedder_open(&env->cfg, &e, &err))) {
                lh_vector_index_meta_free(&m);
                goto fail;
            }
            status = embed_one(env, q, e, dataset, m.column, m.index,
                               json_object_get(m.json, "chunking"));
        }
        lh_vector_index_meta_free(&m);
    }
    /* Columns named for the first time get an index of their own. */
    for (size_t c = 0; c < ncolumns && !status; c++) {
        bool exists = false;
        for (size_t i = 0; i < n && !exists; i++) {
            lh_vector_index_meta m;
            lh_error me = {0};
            if (lh_vector_index_current(env->st, names[i], &m, &me)) continue;
            const char *kind = json_string_value(json_object_get(m.json, "kind"));
            exists = kind && strcmp(kind, "text") == 0 && strcmp(m.dataset, dataset) == 0 &&
                     strcmp(m.column, columns[c]) == 0;
            lh_vector_index_meta_free(&m);
        }
        if (exists) continue;
        if ((!q && lh_query_open(env->cat, &env->cfg, &q, &err)) ||
            (!e && lh_ai_embedder_open(&env->cfg, &e, &err)))
            goto fail;
        status = embed_one(env, q, e, dataset, columns[c], NULL, NULL);
    }
    goto done;
fail:
    cli_fail("ingest --embed", &err);
    status = 1;
done:
    lh_catalog_names_free(names, n);
    lh_ai_embedder_free(e);
    lh_query_close(q);
    return status;
}
