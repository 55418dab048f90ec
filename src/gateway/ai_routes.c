/* POST /search, POST /rag, POST /ask: text search, retrieval-augmented answers and NL->SQL.
 *
 * The embedder and the generator named by the configuration are opened on first use and
 * shared by every request (both are safe to call from several threads); text indexes come
 * from the gateway's text registry, which follows the vector registry's generations. */
#include "gateway/gateway_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gw_ai_init(lh_gateway *g, const char *cache_dir)
{
    pthread_mutex_init(&g->ai_mu, NULL);
    g->texts = lh_ai_text_registry_new(g->served.vectors, g->deps.storage, cache_dir);
    g->jobs = lh_ai_jobs_start(g->deps.catalog, g->deps.query, g->deps.cfg);
}

void gw_ai_free(lh_gateway *g)
{
    lh_ai_jobs_stop(g->jobs);
    lh_ai_text_registry_free(g->texts);
    lh_ai_embedder_free(g->embedder);
    lh_ai_generator_free(g->generator);
    pthread_mutex_destroy(&g->ai_mu);
}

/* The shared embedder, opened on first use. */
static int embedder(lh_gateway *g, lh_ai_embedder **out, lh_error *err)
{
    pthread_mutex_lock(&g->ai_mu);
    int rc = g->embedder ? LH_OK : lh_ai_embedder_open(g->deps.cfg, &g->embedder, err);
    *out = g->embedder;
    pthread_mutex_unlock(&g->ai_mu);
    return rc;
}

/* The shared generator (NULL when none is configured), opened on first use. */
static int generator(lh_gateway *g, lh_ai_generator **out, lh_error *err)
{
    pthread_mutex_lock(&g->ai_mu);
    int rc = LH_OK;
    if (!g->generator_open) {
        rc = lh_ai_generator_open(g->deps.cfg, &g->generator, err);
        g->generator_open = rc == LH_OK;
    }
    *out = g->generator;
    pthread_mutex_unlock(&g->ai_mu);
    return rc;
}

/* Text indexes, embed jobs and models belong to the served bucket; another bucket named by
 * X-Lakehouse-Bucket gets a plain refusal rather than the served bucket's answers. */
static bool served_bucket(gw_req *r)
{
    if (gw_req_env(r) == &r->g->served) return true;
    gw_send_error(
        r, 400, LH_EUNSUPPORTED,
        "search, RAG, NL->SQL and embed jobs work on the bucket this server serves; "
        "run `lakehouse serve --bucket NAME` for another bucket",
        json_pack("{s:s, s:s}", "bucket", gw_req_env(r)->name, "served", r->g->served.name));
    return false;
}

static bool bad_field(gw_req *r, const char *field, const char *msg)
{
    gw_send_error(r, 400, LH_EINVAL, msg, json_pack("{s:s}", "field", field));
    return false;
}

/* Refuses fields not in the NULL-terminated list. */
static bool known_fields(gw_req *r, const char *const *fields, const char *expected)
{
    const char *key;
    json_t *v;
    json_object_foreach(r->json, key, v)
    {
        bool ok = false;
        for (size_t i = 0; fields[i] && !ok; i++)
            ok = strcmp(key, fields[i]) == 0;
        if (!ok) {
            char msg[300];
            snprintf(msg, sizeof msg, "unknown field '%.80s' (expected %s)", key, expected);
            return bad_field(r, key, msg);
        }
    }
    return true;
}

/* An optional string field (NULL if absent or null); false after answering 400. */
static bool str_field(gw_req *r, const char *field, bool required, const char **out)
{
    json_t *j = json_object_get(r->json, field);
    *out = NULL;
    if (!j || json_is_null(j)) {
        if (!required) return true;
        char msg[120];
        snprintf(msg, sizeof msg, "field '%s' is required and must be a string", field);
        return bad_field(r, field, msg);
    }
    *out = json_string_value(j);
    if (!*out || strlen(*out) != json_string_length(j)) {
        char msg[120];
        snprintf(msg, sizeof msg, "field '%s' must be a string without NUL characters", field);
        return bad_field(r, field, msg);
    }
    return true;
}

static bool num_field(gw_req *r, const char *field, double lo, double hi, bool integer, double *out)
{
    json_t *j = json_object_get(r->json, field);
    if (!j || json_is_null(j)) return true;
    double v = json_number_value(j);
    if (!json_is_number(j) || (integer && !json_is_integer(j)) || !isfinite(v) || v < lo ||
        v > hi) {
        char msg[160];
        snprintf(msg, sizeof msg, "field '%s' must be %s in %g..%g", field,
                 integer ? "an integer" : "a number", lo, hi);
        return bad_field(r, field, msg);
    }
    *out = v;
    return true;
}

/* The text index a request names (index, or the newest text index of dataset). */
static bool text_index(gw_req *r, lh_ai_text_index **out)
{
    const char *index, *dataset;
    *out = NULL;
    if (!str_field(r, "index", false, &index) || !str_field(r, "dataset", false, &dataset))
        return false;
    if (!index == !dataset)
        return bad_field(r, "index", "give one of 'index' (a text index) or 'dataset'");
    lh_error err = {0};
    char *name = NULL;
    if (dataset && lh_ai_text_index_for_dataset(r->g->deps.storage, dataset, &name, &err)) {
        gw_send_error(r, 0, err.code, err.msg, json_pack("{s:s}", "dataset", dataset));
        return false;
    }
    int rc = lh_ai_text_registry_get(r->g->texts, index ? index : name, out, &err);
    if (rc)
        gw_send_error(r, rc == LH_EINVAL ? 400 : 0, rc, err.msg,
                      json_pack("{s:s}", "index", index ? index : name));
    free(name);
    return rc == LH_OK;
}

static void send_ai_error(gw_req *r, const lh_error *err)
{
    int status = 0;
    if (err->code == LH_EINVAL) status = 400;
    const char *field = strstr(err->msg, "filter") ? "filter" : NULL;
    gw_send_error(r, status, err->code, err->msg,
                  field ? json_pack("{s:s}", "field", field) : NULL);
}

static const char *const search_fields[] = {"query", "index",     "dataset",       "k",
                                            "mode",  "filter",    "vector_weight", "lexical_weight",
                                            "rrf_k", "ef_search", "include_rows",  NULL};

void gw_handle_search(gw_req *r)
{
    if (!served_bucket(r)) return;
    if (!known_fields(r, search_fields,
                      "query, index or dataset, k, mode, filter, vector_weight, "
                      "lexical_weight, rrf_k, ef_search, include_rows"))
        return;
    lh_ai_search_opts o = {0};
    const char *mode = NULL;
    double k = 10, rrf = 0, ef = 0;
    if (!str_field(r, "query", true, &o.query) || !str_field(r, "mode", false, &mode) ||
        !str_field(r, "filter", false, &o.filter) ||
        !num_field(r, "k", 1, LH_AI_SEARCH_K_MAX, true, &k) ||
        !num_field(r, "vector_weight", 0, 100, false, &o.vector_weight) ||
        !num_field(r, "lexical_weight", 0, 100, false, &o.lexical_weight) ||
        !num_field(r, "rrf_k", 1, 10000, true, &rrf) ||
        !num_field(r, "ef_search", 1, 4096, true, &ef))
        return;
    json_t *ir = json_object_get(r->json, "include_rows");
    if (ir && !json_is_boolean(ir)) {
        bad_field(r, "include_rows", "field 'include_rows' must be true or false");
        return;
    }
    o.include_rows = json_is_true(ir);
    o.k = (int)k;
    o.rrf_k = (int)rrf;
    o.ef_search = (int)ef;
    lh_error err = {0};
    if (mode && lh_ai_search_mode_parse(mode, &o.mode, &err)) {
        bad_field(r, "mode", err.msg);
        return;
    }
    lh_ai_text_index *t = NULL;
    lh_ai_embedder *e = NULL;
    json_t *out = NULL;
    if (!text_index(r, &t)) return;
    if (o.mode != LH_AI_SEARCH_LEXICAL && embedder(r->g, &e, &err)) {
        gw_send_lh_error(r, &err);
        goto done;
    }
    if (o.filter) {
        lh_error serr = {0};
        if (lh_query_sync(r->g->deps.query, &serr) != LH_OK)
            lh_log(LH_LOG_WARN, "search_filter_sync_failed", "msg", serr.msg, (const char *)NULL);
    }
    if (lh_ai_text_search(t, e, r->g->deps.query, &r->who, &o, &out, &err)) {
        send_ai_error(r, &err);
        goto done;
    }
    gw_send_json(r, 200, out);
done:
    lh_ai_text_index_release(t);
}

static const char *const rag_fields[] = {"question", "index",          "dataset", "k",
                                         "filter",   "min_similarity", NULL};

void gw_handle_rag(gw_req *r)
{
    if (!served_bucket(r)) return;
    if (!known_fields(r, rag_fields, "question, index or dataset, k, filter, min_similarity"))
        return;
    lh_ai_rag_opts o = {0};
    double k = 5, min = 0;
    if (!str_field(r, "question", true, &o.question) || !str_field(r, "filter", false, &o.filter) ||
        !num_field(r, "k", 1, 20, true, &k) || !num_field(r, "min_similarity", -1, 1, false, &min))
        return;
    o.k = (int)k;
    o.min_similarity = min;
    lh_ai_text_index *t = NULL;
    lh_ai_embedder *e = NULL;
    json_t *out = NULL;
    lh_error err = {0};
    if (!text_index(r, &t)) return;
    if (embedder(r->g, &e, &err) || generator(r->g, &o.gen, &err)) {
        gw_send_lh_error(r, &err);
        goto done;
    }
    if (lh_ai_rag(t, e, r->g->deps.query, &r->who, &o, &out, &err)) {
        send_ai_error(r, &err);
        goto done;
    }
    gw_send_json(r, 200, out);
done:
    lh_ai_text_index_release(t);
}

static const char *const ask_fields[] = {"question", "dataset", NULL};

void gw_handle_ask(gw_req *r)
{
    if (!served_bucket(r)) return;
    if (!known_fields(r, ask_fields, "question, dataset")) return;
    const char *question, *dataset;
    if (!str_field(r, "question", true, &question) || !str_field(r, "dataset", false, &dataset))
        return;
    lh_error err = {0};
    lh_ai_generator *gen = NULL;
    json_t *out = NULL;
    if (generator(r->g, &gen, &err)) {
        gw_send_lh_error(r, &err);
        return;
    }
    lh_error serr = {0};
    if (lh_query_sync(r->g->deps.query, &serr) != LH_OK)
        lh_log(LH_LOG_WARN, "ask_sync_failed", "msg", serr.msg, (const char *)NULL);
    int rc = lh_ai_ask_sql(r->g->deps.catalog, r->g->deps.query, gen, &r->who, question, dataset,
                           &out, &err);
    if (rc) {
        json_t *detail =
            out ? json_pack("{s:O}", "attempts", json_object_get(out, "attempts")) : NULL;
        gw_send_error(r, out ? 422 : rc == LH_EINVAL ? 400 : 0, rc, err.msg, detail);
        json_decref(out);
        return;
    }
    gw_send_json(r, 200, out);
}

/* ------------------------------------------------------------------ jobs */

static const char *const job_fields[] = {"dataset", "column",     "name", "chunk_size",
                                         "overlap", "chunk_unit", NULL};

void gw_handle_jobs_submit(gw_req *r)
{
    if (!served_bucket(r)) return;
    if (!known_fields(r, job_fields, "dataset, column, name, chunk_size, overlap, chunk_unit"))
        return;
    lh_ai_text_spec sp = {0};
    const char *unit = NULL;
    double size = 0, overlap = -1;
    if (!str_field(r, "dataset", true, &sp.dataset) || !str_field(r, "column", true, &sp.column) ||
        !str_field(r, "name", false, &sp.name) || !str_field(r, "chunk_unit", false, &unit) ||
        !num_field(r, "chunk_size", 8, 100000, true, &size) ||
        !num_field(r, "overlap", 0, 50000, true, &overlap))
        return;
    if (unit && strcmp(unit, "chars") != 0 && strcmp(unit, "tokens") != 0) {
        bad_field(r, "chunk_unit", "field 'chunk_unit' must be chars or tokens");
        return;
    }
    if (size || overlap >= 0 || unit) {
        sp.chunk.size = size ? (size_t)size : 1000;
        sp.chunk.overlap = overlap >= 0 ? (size_t)overlap : sp.chunk.size * 15 / 100;
        sp.chunk.unit =
            unit && strcmp(unit, "tokens") == 0 ? LH_AI_CHUNK_TOKENS : LH_AI_CHUNK_CHARS;
    }
    json_t *out = NULL;
    lh_error err = {0};
    if (lh_ai_jobs_submit(r->g->jobs, &r->who, &sp, &out, &err)) {
        gw_send_lh_error(r, &err);
        return;
    }
    gw_send_json(r, 202, out);
}

void gw_handle_jobs_list(gw_req *r)
{
    if (!served_bucket(r)) return;
    gw_send_json(r, 200, json_pack("{s:o}", "jobs", lh_ai_jobs_list(r->g->jobs)));
}

void gw_handle_job_get(gw_req *r)
{
    if (!served_bucket(r)) return;
    json_t *out = NULL;
    lh_error err = {0};
    if (lh_ai_jobs_get(r->g->jobs, r->params[0], &out, &err)) {
        gw_send_lh_error(r, &err);
        return;
    }
    gw_send_json(r, 200, out);
}

void gw_handle_job_cancel(gw_req *r)
{
    if (!served_bucket(r)) return;
    json_t *out = NULL;
    lh_error err = {0};
    if (lh_ai_jobs_cancel(r->g->jobs, r->params[0], &out, &err)) {
        gw_send_error(r, 0, err.code, err.msg, out ? json_pack("{s:o}", "job", out) : NULL);
        return;
    }
    gw_send_json(r, 202, out);
}

void gw_ai_after_ingest(gw_req *r, const char *dataset, const char *embed, bool noop, json_t *body)
{
    json_t *jobs = NULL;
    lh_error err = {0};
    if (gw_req_env(r) != &r->g->served) {
        if (embed && *embed)
            json_object_set_new(body, "embed_error",
                                json_string("embedding runs on the bucket this server serves"));
        return;
    }
    if (!noop && lh_ai_jobs_embed_dataset(r->g->jobs, &r->who, dataset, &jobs, &err))
        json_object_set_new(body, "embed_error", json_string(err.msg));
    if (!jobs) jobs = json_array();
    if (embed && *embed) {
        lh_ai_text_spec sp = {.dataset = dataset, .column = embed};
        json_t *rec = NULL;
        lh_error_clear(&err);
        if (lh_ai_jobs_submit(r->g->jobs, &r->who, &sp, &rec, &err)) {
            json_object_set_new(body, "embed_error", json_string(err.msg));
        } else {
            /* The column's index may already be in the list (coalesced with its job). */
            bool seen = false;
            size_t i;
            json_t *x;
            json_array_foreach(jobs, i, x) seen =
                seen || json_equal(json_object_get(x, "id"), json_object_get(rec, "id"));
            if (!seen) json_array_append(jobs, rec);
            json_decref(rec);
        }
    }
    if (json_array_size(jobs))
        json_object_set_new(body, "jobs", jobs);
    else
        json_decref(jobs);
}
