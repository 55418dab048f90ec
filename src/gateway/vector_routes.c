/* POST /vectors/search, GET /vectors/indexes.
 *
 * Indexes come from the gateway's registry: loaded once (the graph is mapped), shared by
 * reference, and swapped for a newer generation when one is published. A search holds a
 * reference for its duration and takes no lock while it runs. */
#include "gateway/gateway_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K_MAX 1000
#define EF_MAX 4096

static bool bad_field(gw_req *r, const char *field, const char *msg)
{
    gw_send_error(r, 400, LH_EINVAL, msg, json_pack("{s:s}", "field", field));
    return false;
}

/* An optional integer field in [lo, hi]; false after answering 400. */
static bool int_field(gw_req *r, const char *field, int lo, int hi, int *out)
{
    json_t *j = json_object_get(r->json, field);
    if (!j) return true;
    json_int_t v = json_integer_value(j);
    if (!json_is_integer(j) || v < lo || v > hi) {
        char msg[160];
        snprintf(msg, sizeof msg, "field '%s' must be an integer in %d..%d", field, lo, hi);
        return bad_field(r, field, msg);
    }
    *out = (int)v;
    return true;
}

typedef struct search_req {
    const char *index;
    json_t *vector;
    int k, ef_search;
    const char *filter;
    bool include_rows;
} search_req;

static bool search_request(gw_req *r, search_req *s)
{
    const char *key;
    json_t *v;
    json_object_foreach(r->json, key, v)
    {
        if (strcmp(key, "index") && strcmp(key, "vector") && strcmp(key, "k") &&
            strcmp(key, "ef_search") && strcmp(key, "filter") && strcmp(key, "include_rows")) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "unknown field '%.80s' (expected index, vector, k, ef_search, filter, "
                     "include_rows)",
                     key);
            return bad_field(r, key, msg);
        }
    }
    s->index = json_string_value(json_object_get(r->json, "index"));
    if (!s->index || !*s->index)
        return bad_field(r, "index", "field 'index' is required and must be a non-empty string");
    s->vector = json_object_get(r->json, "vector");
    if (!json_is_array(s->vector))
        return bad_field(r, "vector", "field 'vector' is required and must be an array of numbers");
    s->k = 10;
    if (!int_field(r, "k", 1, K_MAX, &s->k) || !int_field(r, "ef_search", 1, EF_MAX, &s->ef_search))
        return false;
    json_t *f = json_object_get(r->json, "filter");
    if (f && !json_is_null(f)) {
        s->filter = json_string_value(f);
        if (!s->filter || strlen(s->filter) != json_string_length(f))
            return bad_field(r, "filter", "field 'filter' must be a string (a SQL predicate)");
    }
    json_t *ir = json_object_get(r->json, "include_rows");
    if (ir && !json_is_boolean(ir))
        return bad_field(r, "include_rows", "field 'include_rows' must be true or false");
    s->include_rows = json_is_true(ir);
    return true;
}

void gw_handle_vector_search(gw_req *r)
{
    search_req s = {0};
    if (!search_request(r, &s)) return;
    uint64_t t0 = lh_now_ns();
    lh_error err = {0};
    lh_vector_index *v = NULL;
    float *query = NULL;
    uint64_t *words = NULL;
    lh_vector_hit *hits = NULL;
    json_t *rows = NULL;
    if (lh_vector_registry_get(gw_req_env(r)->vectors, s.index, &v, &err)) {
        gw_send_error(r, 0, err.code, err.msg, json_pack("{s:s}", "index", s.index));
        return;
    }
    const lh_vector_index_meta *m = lh_vector_index_meta_of(v);
    query = lh_malloc(m->dim * sizeof(float));
    if (lh_vector_index_query_from_json(v, s.vector, query, &err)) {
        gw_send_error(r, 400, LH_EINVAL, err.msg,
                      json_pack("{s:s, s:I, s:I}", "field", "vector", "expected_dim",
                                (json_int_t)m->dim, "got", (json_int_t)json_array_size(s.vector)));
        goto out;
    }
    lh_query_rowset rs = {.dataset = m->dataset,
                          .version = m->dataset_version,
                          .keys = (const char *const *)m->file_keys,
                          .bases = m->file_bases,
                          .nfiles = m->nfiles,
                          .nrows = m->count};
    lh_vector_bitset allow = {0};
    int64_t matches = -1;
    bool cached = false;
    if (s.filter) {
        /* Subqueries in the filter may name other datasets: their views must be current. */
        lh_error serr = {0};
        if (lh_query_sync(gw_req_env(r)->query, &serr) != LH_OK)
            lh_log(LH_LOG_WARN, "vector_filter_sync_failed", "msg", serr.msg, (const char *)NULL);
        /* The allow-set depends on the generation (its cache), the profile, the views any
         * subquery reads (their generation) and the text; repeated filters skip the scan. */
        char *key = lh_sprintf("%s\x1f%" PRIu64 "\x1f%s", r->who.profile ? r->who.profile : "",
                               lh_query_view_generation(gw_req_env(r)->query), s.filter);
        cached = lh_vector_index_allow_get(v, key, &words, &matches);
        if (!cached && lh_query_filter_rows(gw_req_env(r)->query, &r->who, &rs, s.filter, &words,
                                            &matches, &err)) {
            free(key);
            gw_send_error(r, err.code == LH_EINVAL ? 400 : 0, err.code, err.msg,
                          json_pack("{s:s}", "field", "filter"));
            goto out;
        }
        if (!cached) lh_vector_index_allow_put(v, key, words, matches);
        free(key);
        allow = (lh_vector_bitset){.words = words, .nbits = (size_t)m->count};
    }
    hits = lh_calloc((size_t)s.k, sizeof *hits);
    lh_hnsw_search_opts so = {
        .k = s.k, .ef_search = s.ef_search, .allow = s.filter ? &allow : NULL};
    size_t n = 0;
    if (lh_hnsw_search(lh_vector_index_graph(v), NULL, query, &so, hits, &n, &err)) {
        gw_send_lh_error(r, &err);
        goto out;
    }
    json_t *jh = lh_vector_index_hits_json(v, hits, n);
    if (s.include_rows && n) {
        int64_t *pos = lh_calloc(n, sizeof *pos);
        for (size_t i = 0; i < n; i++)
            pos[i] = hits[i].id;
        int rc =
            lh_query_rows_json(gw_req_env(r)->query, &r->who, &rs, pos, n, m->column, &rows, &err);
        free(pos);
        if (rc) {
            json_decref(jh);
            gw_send_lh_error(r, &err);
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            json_object_set(json_array_get(jh, i), "fields", json_array_get(rows, i));
    }
    json_t *body = json_pack("{s:s, s:s, s:s, s:I, s:i, s:s, s:o, s:f}", "index", m->index,
                             "generation", m->generation, "dataset", m->dataset, "dataset_version",
                             (json_int_t)m->dataset_version, "k", s.k, "strategy",
                             so.used_strategy == LH_STRATEGY_EXACT ? "exact" : "graph", "hits", jh,
                             "elapsed_ms", (double)(lh_now_ns() - t0) / 1e6);
    if (s.filter) {
        json_object_set_new(body, "filter_matches", json_integer(matches));
        json_object_set_new(body, "filter_cached", json_boolean(cached));
    }
    gw_send_json(r, 200, body);
out:
    json_decref(rows);
    free(hits);
    free(words);
    free(query);
    lh_vector_index_release(v);
}

void gw_handle_vector_indexes(gw_req *r)
{
    lh_storage *st = gw_req_env(r)->storage;
    lh_error err = {0};
    char **names = NULL;
    size_t n = 0;
    if (lh_vector_index_list(st, &names, &n, &err)) {
        gw_send_lh_error(r, &err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *d = NULL;
        lh_error_clear(&err);
        if (lh_vector_index_describe(st, names[i], &d, &err)) {
            /* One damaged index is reported in place and does not hide the others. */
            json_array_append_new(arr,
                                  json_pack("{s:s, s:{s:s, s:s}}", "name", names[i], "error",
                                            "code", lh_error_name(err.code), "message", err.msg));
            continue;
        }
        json_array_append_new(arr, d);
    }
    lh_catalog_names_free(names, n);
    gw_send_json(r, 200, json_pack("{s:o}", "indexes", arr));
}
