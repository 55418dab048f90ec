/* Search over text indexes: vector (HNSW, filtered inside the graph search), lexical (BM25),
 * and hybrid (reciprocal rank fusion), with highlights and the hits' rows. */
#include "ai/ai_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CANDIDATES_MIN 50

int lh_ai_search_mode_parse(const char *s, lh_ai_search_mode *out, lh_error *err)
{
    if (s && strcmp(s, "hybrid") == 0)
        *out = LH_AI_SEARCH_HYBRID;
    else if (s && strcmp(s, "vector") == 0)
        *out = LH_AI_SEARCH_VECTOR;
    else if (s && strcmp(s, "lexical") == 0)
        *out = LH_AI_SEARCH_LEXICAL;
    else
        return lh_error_set(err, LH_EINVAL, "mode '%s' is not one of vector, lexical, hybrid",
                            s ? s : "(none)");
    return LH_OK;
}

const char *lh_ai_search_mode_name(lh_ai_search_mode m)
{
    return m == LH_AI_SEARCH_VECTOR ? "vector" : m == LH_AI_SEARCH_LEXICAL ? "lexical" : "hybrid";
}

/* ------------------------------------------------------------ highlights */

static const char *const stopwords[] = {
    "the",   "and",    "for",   "with", "that",    "this",   "from", "are", "was",
    "were",  "who",    "what",  "when", "where",   "which",  "how",  "can", "could",
    "would", "should", "our",   "your", "has",     "have",   "had",  "not", "but",
    "all",   "any",    "into",  "out",  "about",   "does",   "did",  "its", "their",
    "them",  "they",   "there", "some", "someone", "handle", NULL};

typedef struct terms {
    char w[32][64];
    size_t len[32];
    size_t n;
} terms;

static void add_word(const char *tok, size_t len, void *arg)
{
    terms *t = arg;
    if (len < 3 || len >= 64 || t->n >= 32) return;
    for (int i = 0; stopwords[i]; i++)
        if (strlen(stopwords[i]) == len && memcmp(stopwords[i], tok, len) == 0) return;
    for (size_t i = 0; i < t->n; i++)
        if (t->len[i] == len && memcmp(t->w[i], tok, len) == 0) return;
    memcpy(t->w[t->n], tok, len);
    t->len[t->n++] = len;
}

static bool term_match(const terms *t, const char *w, size_t len)
{
    for (size_t i = 0; i < t->n; i++) {
        size_t l = t->len[i];
        if (l == len && memcmp(t->w[i], w, len) == 0) return true;
        /* "migration" ~ "migrate", "deployments" ~ "deploy...": a shared stem of 5+ bytes
         * that covers most of the shorter word. */
        size_t common = 0, shorter = l < len ? l : len;
        while (common < shorter && t->w[i][common] == w[common])
            common++;
        if (common >= 5 && common + 3 >= shorter) return true;
    }
    return false;
}

char *lh_ai_highlight(const char *query, const char *text, size_t len)
{
    terms t = {0};
    ai_words(query, strlen(query), add_word, &t);
    lh_buf b = {0};
    char low[64];
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t l = ai_utf8_next(text + i, len - i, &cp);
        if (!ai_is_word_cp(cp)) {
            lh_buf_append(&b, text + i, l);
            i += l;
            continue;
        }
        size_t start = i, ll = 0;
        while (i < len) {
            l = ai_utf8_next(text + i, len - i, &cp);
            if (!ai_is_word_cp(cp)) break;
            if (ll + 4 < sizeof low) ll += ai_utf8_put(ai_lower(cp), low + ll);
            i += l;
        }
        bool hit = ll >= 3 && term_match(&t, low, ll);
        if (hit) lh_buf_puts(&b, "<mark>");
        lh_buf_append(&b, text + start, i - start);
        if (hit) lh_buf_puts(&b, "</mark>");
    }
    if (!b.data) lh_buf_puts(&b, "");
    return lh_buf_steal(&b);
}

/* ------------------------------------------------------------- filters */

bool ai_filter_cacheable(const char *p)
{
    static const char *const volatile_words[] = {"select",       "current_date",
                                                 "current_time", "current_timestamp",
                                                 "localtime",    "localtimestamp",
                                                 "current_user", "session_user",
                                                 "user",         NULL};
    for (size_t i = 0; p[i];) {
        char c = p[i];
        if (c == '\'' || c == '"') {
            /* E'...' takes backslash escapes (as lh_query_predicate_check reads it) */
            bool bs = c == '\'' && i > 0 && (p[i - 1] == 'e' || p[i - 1] == 'E') &&
                      (i == 1 || !(isalnum((unsigned char)p[i - 2]) || p[i - 2] == '_'));
            for (i++; p[i] && p[i] != c; i++)
                if (bs && p[i] == '\\' && p[i + 1]) i++;
            if (p[i]) i++;
            continue;
        }
        if (!isalpha((unsigned char)c) && c != '_') {
            i++;
            continue;
        }
        size_t s = i;
        while (isalnum((unsigned char)p[i]) || p[i] == '_')
            i++;
        size_t len = i - s, j = i;
        for (size_t w = 0; volatile_words[w]; w++)
            if (strlen(volatile_words[w]) == len && strncasecmp(p + s, volatile_words[w], len) == 0)
                return false;
        while (isspace((unsigned char)p[j]))
            j++;
        bool op =
            (len == 2 && (strncasecmp(p + s, "in", 2) == 0 || strncasecmp(p + s, "or", 2) == 0)) ||
            (len == 3 && (strncasecmp(p + s, "and", 3) == 0 || strncasecmp(p + s, "not", 3) == 0));
        if (p[j] == '(' && !op) return false;
    }
    return true;
}

/* ---------------------------------------------------------------- search */

typedef struct cand {
    int64_t chunk;
    int vrank, lrank; /* 1-based; 0 = not found by that mode */
    double vscore, lscore, fused;
    int64_t lid; /* the chunk's row in the lexical index, when lrank */
} cand;

static cand *cand_get(cand **cs, size_t *n, size_t *cap, int64_t chunk)
{
    for (size_t i = 0; i < *n; i++)
        if ((*cs)[i].chunk == chunk) return &(*cs)[i];
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *cs = lh_realloc(*cs, *cap * sizeof **cs);
    }
    cand *c = &(*cs)[(*n)++];
    *c = (cand){.chunk = chunk};
    return c;
}

static int cmp_fused(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->fused != y->fused) return x->fused < y->fused ? 1 : -1;
    return (x->chunk > y->chunk) - (x->chunk < y->chunk);
}

static int check_opts(const lh_ai_search_opts *o, lh_error *err)
{
    if (!o->query) return lh_error_set(err, LH_EINVAL, "search: field 'query' is required");
    size_t len = strlen(o->query), bad;
    if (len > LH_AI_SEARCH_QUERY_MAX)
        return lh_error_set(err, LH_ETOOBIG, "search: query is %zu bytes, over the limit of %d",
                            len, LH_AI_SEARCH_QUERY_MAX);
    if (!lh_utf8_valid(o->query, len, &bad))
        return lh_error_set(err, LH_EINVAL, "search: query is not valid UTF-8 (byte %zu)", bad);
    bool blank = true;
    for (size_t i = 0; i < len && blank; i++)
        blank =
            o->query[i] == ' ' || o->query[i] == '\t' || o->query[i] == '\n' || o->query[i] == '\r';
    if (blank) return lh_error_set(err, LH_EINVAL, "search: query is empty");
    if (o->k < 0 || o->k > LH_AI_SEARCH_K_MAX)
        return lh_error_set(err, LH_EINVAL, "search: k = %d is out of range 1..%d", o->k,
                            LH_AI_SEARCH_K_MAX);
    if (!isfinite(o->vector_weight) || !isfinite(o->lexical_weight) || o->vector_weight < 0 ||
        o->lexical_weight < 0 || o->vector_weight > 100 || o->lexical_weight > 100)
        return lh_error_set(err, LH_EINVAL, "search: weights must be numbers in 0..100");
    if (o->rrf_k < 0 || o->rrf_k > 10000)
        return lh_error_set(err, LH_EINVAL, "search: rrf_k = %d is out of range 1..10000",
                            o->rrf_k);
    if (o->filter) return lh_query_predicate_check(o->filter, err);
    return LH_OK;
}

/* The vector half of a search: embeds the query and walks the graph. In hybrid mode it runs
 * on its own thread while the caller ranks by BM25 (both are read-only on the index and safe
 * to run alongside other searches); its result is read only after the join. */
typedef struct vector_half {
    lh_ai_embedder *e;
    const lh_hnsw *h;
    const char *query;
    lh_hnsw_search_opts so;
    bool skip;         /* the filter allows no chunk */
    lh_vector_hit *vh; /* room for so.k, owned by the caller */
    size_t nv;
    int rc;
    lh_error err;
} vector_half;

static void *vector_half_run(void *arg)
{
    vector_half *v = arg;
    v->nv = 0;
    if (v->skip) return NULL;
    float *qv = lh_malloc(lh_ai_embedder_dims(v->e) * sizeof(float));
    if ((v->rc = lh_ai_embed(v->e, &v->query, NULL, 1, qv, &v->err)))
        lh_error_prefix(&v->err, "query");
    else
        v->rc = lh_hnsw_search(v->h, NULL, qv, &v->so, v->vh, &v->nv, &v->err);
    free(qv);
    return NULL;
}

int lh_ai_text_search(lh_ai_text_index *t, lh_ai_embedder *e, lh_query *q, const lh_identity *who,
                      const lh_ai_search_opts *o, json_t **out, lh_error *err)
{
    *out = NULL;
    int rc = check_opts(o, err);
    if (rc) return rc;
    uint64_t t0 = lh_now_ns();
    const lh_vector_index_meta *m = lh_ai_text_index_meta(t);
    lh_vector_index *vi = ai_text_vectors(t);
    const lh_hnsw *h = lh_vector_index_graph(vi);
    size_t nchunks = ai_text_count(t);
    int k = o->k ? o->k : 10;
    double wv = o->vector_weight, wl = o->lexical_weight;
    if (wv == 0) wv = 0.5;
    if (wl == 0) wl = 1;
    int rrf_k = o->rrf_k ? o->rrf_k : 60;
    bool want_v = o->mode != LH_AI_SEARCH_LEXICAL, want_l = o->mode != LH_AI_SEARCH_VECTOR;
    int ncand =
        o->mode == LH_AI_SEARCH_HYBRID ? (k * 4 > CANDIDATES_MIN ? k * 4 : CANDIDATES_MIN) : k;
    uint64_t *rows_allowed = NULL;
    int64_t matches = -1;
    lh_vector_bitset allow = {0};
    lh_vector_hit *vh = NULL;
    vector_half vhalf = {0};
    pthread_t vthread;
    bool vthread_live = false;
    int lrc = LH_OK;
    lh_error lerr = {0};
    lh_ai_lexical_hit *lh = NULL;
    char **snippets = NULL; /* by shown hit; NULL = none */
    size_t n = 0;           /* hits shown */
    size_t nl = 0;
    cand *cs = NULL;
    size_t ncs = 0, cap = 0;
    int64_t *pos = NULL;
    json_t *rows = NULL, *hits = NULL;
    if (want_v && m->model && strcmp(m->model, lh_ai_embedder_name(e)) != 0) {
        rc = lh_error_set(err, LH_EINVAL,
                          "index '%s' was embedded with '%s'; the configured embedder is '%s'",
                          m->index, m->model, lh_ai_embedder_name(e));
        goto done;
    }
    if (o->filter) {
        /* A filter's allow-set over this generation's chunks is kept in the generation's
         * allow-set cache (as for vector searches), keyed by profile, the views a subquery
         * could read and the text; DuckDB needs ~10 ms to evaluate it over 100K rows. Only
         * predicates that depend on the rows alone are cached (no clock, no random()). */
        bool cacheable = ai_filter_cacheable(o->filter);
        char *key =
            lh_sprintf("chunks\x1f%s\x1f%" PRIu64 "\x1f%s", who && who->profile ? who->profile : "",
                       lh_query_view_generation(q), o->filter);
        if (!cacheable || !lh_vector_index_allow_get(vi, key, &allow.words, &matches)) {
            int64_t nrows = ai_text_dataset_rows(t);
            lh_query_rowset rs = {.dataset = m->dataset,
                                  .version = m->dataset_version,
                                  .keys = (const char *const *)m->file_keys,
                                  .bases = m->file_bases,
                                  .nfiles = m->nfiles,
                                  .nrows = nrows};
            if ((rc = lh_query_filter_rows(q, who, &rs, o->filter, &rows_allowed, &matches, err))) {
                free(key);
                goto done;
            }
            /* Rows to chunks: a chunk is allowed when its row is. */
            if ((rc = lh_vector_bitset_new(nchunks, &allow, err))) {
                free(key);
                goto done;
            }
            for (size_t i = 0; i < nchunks; i++) {
                int64_t r = ai_text_row(t, i, NULL, NULL, NULL);
                if ((rows_allowed[r >> 6] >> (r & 63)) & 1) lh_vector_bitset_set(&allow, i);
            }
            if (cacheable) lh_vector_index_allow_put(vi, key, allow.words, matches);
        }
        free(key);
        allow.nbits = nchunks;
    }
    if (want_v) {
        size_t dim = lh_ai_embedder_dims(e);
        if (dim != m->dim) {
            rc = lh_error_set(err, LH_EINVAL, "embedder makes %zu dimensions, index '%s' has %zu",
                              dim, m->index, m->dim);
            goto done;
        }
        vh = lh_calloc((size_t)ncand, sizeof *vh);
        vhalf = (vector_half){
            .e = e,
            .h = h,
            .query = o->query,
            .so = {.k = ncand, .ef_search = o->ef_search, .allow = o->filter ? &allow : NULL},
            .skip = o->filter && matches <= 0,
            .vh = vh};
        /* hybrid: the vector half on a thread of its own, inline if none can be started */
        if (!want_l || pthread_create(&vthread, NULL, vector_half_run, &vhalf) != 0)
            vector_half_run(&vhalf);
        else
            vthread_live = true;
    }
    if (want_l) {
        /* The allow-set is applied inside the BM25 ranking, and snippets are made below for
         * the hits shown only. */
        lh_ai_lexical_opts lo = {
            .k = (size_t)ncand, .allow = o->filter ? &allow : NULL, .no_doc_ids = true};
        lrc = lh_ai_lexical_query(ai_text_lexical(t), o->query, &lo, &lh, &nl, NULL, &lerr);
        if (lrc == LH_EINVAL && o->mode == LH_AI_SEARCH_HYBRID && strstr(lerr.msg, "no words"))
            lrc = LH_OK; /* only punctuation or symbols: the vector side still answers */
    }
    if (vthread_live) {
        pthread_join(vthread, NULL);
        vthread_live = false;
    }
    /* the vector half's error first, as when the halves ran one after the other */
    if (want_v && vhalf.rc) {
        *err = vhalf.err;
        rc = vhalf.rc;
        goto done;
    }
    if (lrc) {
        *err = lerr;
        rc = lrc;
        goto done;
    }
    for (size_t i = 0; want_v && i < vhalf.nv; i++) {
        cand *c = cand_get(&cs, &ncs, &cap, vh[i].id);
        c->vrank = (int)i + 1;
        c->vscore = 1.0 - vh[i].distance;
    }
    if (want_l) {
        int rank = 0;
        for (size_t i = 0; i < nl && rank < ncand; i++) {
            if (lh[i].chunk_id < 0 || (size_t)lh[i].chunk_id >= nchunks) continue;
            cand *c = cand_get(&cs, &ncs, &cap, lh[i].chunk_id);
            c->lrank = ++rank;
            c->lscore = lh[i].score;
            c->lid = lh[i].id;
        }
    }
    for (size_t i = 0; i < ncs; i++) {
        cand *c = &cs[i];
        if (o->mode == LH_AI_SEARCH_VECTOR)
            c->fused = c->vscore;
        else if (o->mode == LH_AI_SEARCH_LEXICAL)
            c->fused = c->lscore;
        else
            c->fused =
                (c->vrank ? wv / (rrf_k + c->vrank) : 0) + (c->lrank ? wl / (rrf_k + c->lrank) : 0);
    }
    qsort(cs, ncs, sizeof *cs, cmp_fused);
    n = ncs < (size_t)k ? ncs : (size_t)k;
    if (o->include_rows && n) {
        pos = lh_calloc(n, sizeof *pos);
        for (size_t i = 0; i < n; i++)
            pos[i] = ai_text_row(t, (size_t)cs[i].chunk, NULL, NULL, NULL);
        lh_query_rowset rs = {.dataset = m->dataset,
                              .version = m->dataset_version,
                              .keys = (const char *const *)m->file_keys,
                              .bases = m->file_bases,
                              .nfiles = m->nfiles,
                              .nrows = ai_text_dataset_rows(t)};
        if ((rc = lh_query_rows_json(q, who, &rs, pos, n, NULL, &rows, err))) goto done;
    }
    if (want_l && n) {
        /* the shown lexical hits' snippets, through one statement */
        int64_t *ids = lh_calloc(n, sizeof *ids);
        size_t ns = 0;
        snippets = lh_calloc(n, sizeof *snippets);
        for (size_t i = 0; i < n; i++)
            if (cs[i].lrank) ids[ns++] = cs[i].lid;
        char **got = lh_calloc(ns ? ns : 1, sizeof *got);
        rc = lh_ai_lexical_snippets(ai_text_lexical(t), o->query, ids, ns, got, err);
        for (size_t i = 0, j = 0; i < n && !rc; i++)
            if (cs[i].lrank) snippets[i] = got[j++];
        free(got);
        free(ids);
        if (rc) goto done;
    }
    hits = json_array();
    for (size_t i = 0; i < n; i++) {
        const cand *c = &cs[i];
        size_t a, b;
        const char *text;
        int64_t row = ai_text_row(t, (size_t)c->chunk, &a, &b, &text);
        char *hl = lh_ai_highlight(o->query, text, strlen(text));
        json_t *scores = json_object();
        if (want_v) {
            json_object_set_new(scores, "vector", c->vrank ? json_real(c->vscore) : json_null());
            json_object_set_new(scores, "vector_rank",
                                c->vrank ? json_integer(c->vrank) : json_null());
        }
        if (want_l) {
            json_object_set_new(scores, "lexical", c->lrank ? json_real(c->lscore) : json_null());
            json_object_set_new(scores, "lexical_rank",
                                c->lrank ? json_integer(c->lrank) : json_null());
        }
        json_t *hit =
            json_pack("{s:I, s:f, s:I, s:{s:I, s:s, s:I, s:I}, s:o, s:s}", "rank",
                      (json_int_t)(i + 1), "score", c->fused, "row", (json_int_t)row, "chunk", "id",
                      (json_int_t)c->chunk, "text", text, "char_start", (json_int_t)a, "char_end",
                      (json_int_t)b, "scores", scores, "highlight", hl);
        free(hl);
        if (snippets && snippets[i]) json_object_set_new(hit, "snippet", json_string(snippets[i]));
        if (rows) json_object_set(hit, "fields", json_array_get(rows, i));
        json_array_append_new(hits, hit);
    }
    *out = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:i, s:o}", "index", m->index, "generation",
                     m->generation, "dataset", m->dataset, "dataset_version",
                     (json_int_t)m->dataset_version, "column", m->column, "mode",
                     lh_ai_search_mode_name(o->mode), "k", k, "hits", hits);
    hits = NULL;
    if (o->mode == LH_AI_SEARCH_HYBRID)
        json_object_set_new(*out, "fusion",
                            json_pack("{s:s, s:f, s:f, s:i}", "method", "rrf", "vector_weight", wv,
                                      "lexical_weight", wl, "rrf_k", rrf_k));
    if (m->model) json_object_set_new(*out, "embedder", json_string(m->model));
    if (o->filter) json_object_set_new(*out, "filter_matches", json_integer(matches));
    json_object_set_new(*out, "elapsed_ms", json_real((double)(lh_now_ns() - t0) / 1e6));
done:
    if (vthread_live) pthread_join(vthread, NULL);
    for (size_t i = 0; snippets && i < n; i++)
        free(snippets[i]);
    free(snippets);
    json_decref(hits);
    json_decref(rows);
    free(pos);
    free(cs);
    lh_ai_lexical_hits_free(lh, nl);
    free(vh);
    lh_vector_bitset_free(&allow);
    free(rows_allowed);
    return rc;
}
