/* Text indexes over dataset columns: build (chunk, embed, graph, lexical) and load. The layout
 * in the lake is described in ai.h. */
#include "ai/ai_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EMBED_BATCH 256

/* ------------------------------------------------------------- building */

typedef struct chunk_rec {
    int64_t row;
    size_t char_start, char_end;
} chunk_rec;

typedef struct collect {
    const lh_ai_chunk_opts *copts;
    chunk_rec *recs;
    char **texts;
    size_t n, cap;
    int64_t rows;
} collect;

static int on_text(void *ctx, int64_t pos, const char *text, size_t len, lh_error *err)
{
    collect *c = ctx;
    lh_ai_chunk *ch = NULL;
    size_t nch = 0;
    int rc = lh_ai_chunk_text(text, len, c->copts, &ch, &nch, err);
    if (rc) return lh_error_prefix(err, "row %" PRId64, pos);
    if (nch) c->rows++;
    for (size_t i = 0; i < nch; i++) {
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 1024;
            c->recs = lh_realloc(c->recs, c->cap * sizeof *c->recs);
            c->texts = lh_realloc(c->texts, c->cap * sizeof *c->texts);
        }
        c->recs[c->n] = (chunk_rec){pos, ch[i].char_start, ch[i].char_end};
        c->texts[c->n] = lh_strndup(text + ch[i].start, ch[i].end - ch[i].start);
        c->n++;
    }
    free(ch);
    return LH_OK;
}

static char *default_text_name(const char *dataset, const char *column)
{
    char *s = lh_sprintf("%s_%s_text", dataset, column);
    for (char *p = s; *p; p++) {
        *p = (char)tolower((unsigned char)*p);
        if (!isalnum((unsigned char)*p) && *p != '_') *p = '_';
    }
    return s;
}

/* Open-addressed map from a chunk text's hash to a vector already made for that text by the
 * same model and chunking: in the index's current generation, or in the checkpoints of an
 * interrupted build. */
typedef struct reuse_map {
    uint64_t *keys; /* 0 = empty */
    int64_t *refs;  /* (store << 40) | row */
    size_t cap, used;
    lh_vector_store_data *stores;
    size_t nstores;
} reuse_map;

static uint64_t text_key(const char *t)
{
    uint64_t h = lh_hash64(t, strlen(t), 0x7e57);
    return h ? h : 1;
}

static void reuse_insert(reuse_map *m, uint64_t k, int64_t ref)
{
    if ((m->used + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 1024;
        uint64_t *nk = lh_calloc(ncap, sizeof *nk);
        int64_t *nr = lh_calloc(ncap, sizeof *nr);
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i]) continue;
            size_t j = m->keys[i] & (ncap - 1);
            while (nk[j])
                j = (j + 1) & (ncap - 1);
            nk[j] = m->keys[i];
            nr[j] = m->refs[i];
        }
        free(m->keys);
        free(m->refs);
        m->keys = nk;
        m->refs = nr;
        m->cap = ncap;
    }
    size_t j = k & (m->cap - 1);
    while (m->keys[j] && m->keys[j] != k)
        j = (j + 1) & (m->cap - 1);
    if (!m->keys[j]) m->used++;
    m->keys[j] = k;
    m->refs[j] = ref;
}

/* Adds the store file at key (fetched to tmp) if its model and dimension match. */
static void reuse_add(lh_storage *s, const char *key, const char *model, size_t dim,
                      const char *tmp, reuse_map *m)
{
    lh_error e = {0};
    char *path =
        lh_sprintf("%s/reuse-%d-%p-%zu.parquet", tmp, (int)getpid(), (void *)m, m->nstores);
    lh_vector_store_data d = {0};
    if (!lh_storage_get_file(s, key, path, &e) && !lh_vector_store_read(path, true, &d, &e) &&
        d.dim == dim && d.model && strcmp(d.model, model) == 0) {
        size_t si = m->nstores++;
        m->stores = lh_realloc(m->stores, m->nstores * sizeof *m->stores);
        m->stores[si] = d;
        for (size_t i = 0; i < d.n; i++)
            if (d.chunk_texts[i])
                reuse_insert(m, text_key(d.chunk_texts[i]), ((int64_t)si << 40) | (int64_t)i);
    } else {
        lh_vector_store_data_free(&d);
    }
    unlink(path);
    free(path);
}

/* Loads the current generation's store when it was made by the same model with the same
 * chunking, and every checkpoint under the spec's prefix. */
static void reuse_load(lh_storage *s, const char *name, const char *model, size_t dim,
                       const json_t *chunking, const lh_ai_text_spec *sp, const char *tmp,
                       reuse_map *m)
{
    memset(m, 0, sizeof *m);
    lh_vector_index_meta cur;
    lh_error e = {0};
    if (!lh_vector_index_current(s, name, &cur, &e)) {
        const char *kind = json_string_value(json_object_get(cur.json, "kind"));
        if (kind && strcmp(kind, "text") == 0 &&
            json_equal(json_object_get(cur.json, "chunking"), (json_t *)chunking)) {
            char *key = lh_sprintf("vectors/%s/%s/chunks.parquet", name, cur.generation);
            reuse_add(s, key, model, dim, tmp, m);
            free(key);
        }
        lh_vector_index_meta_free(&cur);
    }
    lh_object_list l = {0};
    if (sp->checkpoint && !lh_storage_list_all(s, sp->checkpoint, &l, &e))
        for (size_t i = 0; i < l.count; i++)
            reuse_add(s, l.items[i].key, model, dim, tmp, m);
    lh_storage_list_free(&l);
}

/* The previous vector for this text, or NULL. The text is compared, not only its hash. */
static const float *reuse_find(const reuse_map *m, const char *text)
{
    if (!m->cap) return NULL;
    uint64_t k = text_key(text);
    for (size_t j = k & (m->cap - 1); m->keys[j]; j = (j + 1) & (m->cap - 1)) {
        if (m->keys[j] != k) continue;
        const lh_vector_store_data *d = &m->stores[m->refs[j] >> 40];
        int64_t r = m->refs[j] & (((int64_t)1 << 40) - 1);
        if (strcmp(d->chunk_texts[r], text) == 0) return d->vectors + r * d->dim;
        return NULL;
    }
    return NULL;
}

static void reuse_free(reuse_map *m)
{
    free(m->keys);
    free(m->refs);
    for (size_t i = 0; i < m->nstores; i++)
        lh_vector_store_data_free(&m->stores[i]);
    free(m->stores);
}

/* Saves the chunks idx[0..n) (just embedded) as a checkpoint part under the spec's prefix. */
static int checkpoint_save(lh_storage *s, const lh_ai_text_spec *sp, lh_ai_embedder *e,
                           const collect *c, const float *vecs, size_t dim, const size_t *idx,
                           size_t n, int part, const char *tmp, lh_error *err)
{
    char **doc_ids = lh_calloc(n, sizeof *doc_ids);
    int64_t *chunk_ids = lh_calloc(n, sizeof *chunk_ids);
    const char **texts = lh_calloc(n, sizeof *texts);
    float *v = lh_malloc(n * dim * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        doc_ids[i] = lh_sprintf("%" PRId64, c->recs[idx[i]].row);
        chunk_ids[i] = (int64_t)idx[i];
        texts[i] = c->texts[idx[i]];
        memcpy(v + i * dim, vecs + idx[i] * dim, dim * sizeof(float));
    }
    lh_vector_rows vr = {.n = n,
                         .dim = dim,
                         .doc_ids = (const char *const *)doc_ids,
                         .chunk_ids = chunk_ids,
                         .chunk_texts = texts,
                         .vectors = v};
    char *path = lh_sprintf("%s/ckpt-%d-%d.parquet", tmp, (int)getpid(), part);
    char *key = lh_sprintf("%spart-%06d-%d.parquet", sp->checkpoint, part, (int)getpid());
    int rc =
        lh_vector_store_write(path, lh_ai_embedder_name(e), lh_ai_embedder_version(e), &vr, err);
    if (!rc) rc = lh_storage_put_file(s, key, path, err);
    unlink(path);
    free(path);
    free(key);
    for (size_t i = 0; i < n; i++)
        free(doc_ids[i]);
    free(doc_ids);
    free(chunk_ids);
    free(texts);
    free(v);
    return rc;
}

static void progress(const lh_ai_text_spec *sp, double f)
{
    if (sp->progress) sp->progress(sp->progress_ctx, f);
}

static bool canceled(const lh_ai_text_spec *sp)
{
    return sp->cancel && *sp->cancel;
}

static int put_local(lh_storage *s, const char *name, const char *gen, const char *obj,
                     const char *path, lh_error *err)
{
    char *key = lh_sprintf("vectors/%s/%s/%s", name, gen, obj);
    int rc = lh_storage_put_file(s, key, path, err);
    free(key);
    return rc;
}

int lh_ai_text_index_build(lh_catalog *cat, lh_query *q, lh_ai_embedder *e, const lh_identity *who,
                           const lh_ai_text_spec *sp, lh_vector_index_meta *out,
                           lh_ai_text_build_stats *stats, lh_error *err)
{
    if (out) memset(out, 0, sizeof *out);
    if (stats) memset(stats, 0, sizeof *stats);
    if (!sp || !sp->dataset || !sp->column || !e)
        return lh_error_set(err, LH_EINVAL,
                            "text index: a dataset, a column and an embedder "
                            "are required");
    uint64_t t0 = lh_now_ns();
    lh_storage *s = lh_catalog_storage(cat);
    lh_ai_chunk_opts copts = sp->chunk;
    if (copts.size == 0) copts = (lh_ai_chunk_opts){.size = 1000, .overlap = 150};
    char *name = sp->name ? lh_strdup(sp->name) : default_text_name(sp->dataset, sp->column);
    const char *tmp = sp->tmp_dir ? sp->tmp_dir : "/tmp";
    lh_manifest *m = NULL;
    collect c = {.copts = &copts};
    float *vecs = NULL;
    lh_hnsw *h = NULL;
    lh_ai_lexical *lex = NULL;
    json_t *chunking = NULL, *extra = NULL;
    reuse_map reuse = {0};
    lh_buf jl = {0};
    char gen[LH_VECTOR_GEN_MAX] = "";
    char *base = lh_sprintf("%s/textidx-%d-%p", tmp, (int)getpid(), (void *)&c);
    char *pq_path = lh_sprintf("%s.parquet", base), *lex_path = lh_sprintf("%s.sqlite", base),
         *jl_path = lh_sprintf("%s.jsonl", base);
    int rc;
    if (!lh_name_valid(name, err)) {
        rc = lh_error_prefix(err, "text index name '%s'", name);
        goto out;
    }
    if ((rc = lh_catalog_get(cat, who, sp->dataset, 0, &m, err))) goto out;
    bool found = false;
    for (size_t i = 0; i < m->ncolumns; i++)
        found = found || strcmp(m->columns[i].name, sp->column) == 0;
    if (!found) {
        rc = lh_error_set(err, LH_ENOENT, "dataset '%s' has no column '%s'", sp->dataset,
                          sp->column);
        goto out;
    }
    int64_t *bases = lh_calloc(m->nfiles + 1, sizeof *bases);
    const char **keys = lh_calloc(m->nfiles + 1, sizeof *keys);
    for (size_t i = 0; i < m->nfiles; i++) {
        keys[i] = m->files[i].key;
        bases[i + 1] = bases[i] + m->files[i].rows;
    }
    lh_query_rowset rs = {.dataset = m->dataset,
                          .version = m->version,
                          .keys = keys,
                          .bases = bases,
                          .nfiles = m->nfiles,
                          .nrows = m->rows};
    rc = lh_query_rows_text(q, who, &rs, sp->column, on_text, &c, err);
    free(bases);
    free(keys);
    if (rc) goto out;
    progress(sp, 0.05);
    if (c.n == 0) {
        rc = lh_error_set(err, LH_EINVAL,
                          "dataset '%s' version %" PRId64 ": column '%s' has no text to index",
                          sp->dataset, m->version, sp->column);
        goto out;
    }
    chunking = json_pack("{s:I, s:I, s:s}", "size", (json_int_t)copts.size, "overlap",
                         (json_int_t)copts.overlap, "unit",
                         copts.unit == LH_AI_CHUNK_TOKENS ? "tokens" : "chars");
    const char *model = lh_ai_embedder_name(e);
    size_t dim = lh_ai_embedder_dims(e);
    reuse_load(s, name, model, dim, chunking, sp, tmp, &reuse);
    vecs = lh_malloc(c.n * dim * sizeof(float));
    /* Embed the chunks with no reusable vector, in batches. */
    size_t *todo = lh_malloc(EMBED_BATCH * sizeof *todo);
    const char **btexts = lh_malloc(EMBED_BATCH * sizeof *btexts);
    float *bout = lh_malloc(EMBED_BATCH * dim * sizeof(float));
    int64_t embedded = 0, reused = 0;
    size_t every = sp->checkpoint_every ? sp->checkpoint_every : 10000;
    size_t *fresh = sp->checkpoint ? lh_malloc(c.n * sizeof *fresh) : NULL, nfresh = 0, saved = 0;
    int part = 0;
    for (size_t i = 0; i < c.n && !rc;) {
        size_t nb = 0;
        for (; i < c.n && nb < EMBED_BATCH; i++) {
            const float *v = reuse_find(&reuse, c.texts[i]);
            if (v) {
                memcpy(vecs + i * dim, v, dim * sizeof(float));
                reused++;
                continue;
            }
            todo[nb] = i;
            btexts[nb++] = c.texts[i];
        }
        if (canceled(sp)) {
            rc = lh_error_set(err, LH_ECANCELED, "text index '%s': canceled", name);
            break;
        }
        if (nb && !(rc = lh_ai_embed(e, btexts, NULL, nb, bout, err))) {
            for (size_t j = 0; j < nb; j++) {
                memcpy(vecs + todo[j] * dim, bout + j * dim, dim * sizeof(float));
                if (fresh) fresh[nfresh++] = todo[j];
            }
            embedded += (int64_t)nb;
            if (fresh && (nfresh - saved >= every || i == c.n) && nfresh > saved) {
                rc = checkpoint_save(s, sp, e, &c, vecs, dim, fresh + saved, nfresh - saved, part++,
                                     tmp, err);
                saved = nfresh;
            }
        }
        if (rc) lh_error_prefix(err, "row %" PRId64, c.recs[todo[0]].row);
        progress(sp, 0.05 + 0.6 * (double)i / (double)c.n);
    }
    free(todo);
    free(btexts);
    free(bout);
    free(fresh);
    if (rc) goto out;
    lh_hnsw_params hp;
    lh_hnsw_params_default(&hp);
    if ((rc = lh_hnsw_build(vecs, c.n, dim, &hp, &h, err))) goto out;
    progress(sp, 0.85);
    if (canceled(sp)) {
        rc = lh_error_set(err, LH_ECANCELED, "text index '%s': canceled", name);
        goto out;
    }
    /* The store, the chunk map and the lexical index, written locally, then claimed and
     * uploaded into a new generation; published last. */
    char **doc_ids = lh_calloc(c.n, sizeof *doc_ids);
    int64_t *chunk_ids = lh_calloc(c.n, sizeof *chunk_ids);
    lh_ai_lexical_doc *docs = lh_calloc(c.n, sizeof *docs);
    for (size_t i = 0; i < c.n; i++) {
        doc_ids[i] = lh_sprintf("%" PRId64, c.recs[i].row);
        chunk_ids[i] = (int64_t)i;
        docs[i] = (lh_ai_lexical_doc){doc_ids[i], (int64_t)i, c.texts[i]};
        lh_buf_printf(&jl, "[%" PRId64 ",%zu,%zu]\n", c.recs[i].row, c.recs[i].char_start,
                      c.recs[i].char_end);
    }
    lh_vector_rows vr = {.n = c.n,
                         .dim = dim,
                         .doc_ids = (const char *const *)doc_ids,
                         .chunk_ids = chunk_ids,
                         .chunk_texts = (const char *const *)c.texts,
                         .vectors = vecs};
    rc = lh_vector_store_write(pq_path, model, lh_ai_embedder_version(e), &vr, err);
    unlink(lex_path);
    if (!rc) rc = lh_ai_lexical_open(lex_path, &lex, err);
    if (!rc) rc = lh_ai_lexical_add(lex, docs, c.n, err);
    if (!rc) rc = lh_ai_lexical_optimize(lex, err);
    lh_ai_lexical_close(lex);
    lex = NULL;
    for (size_t i = 0; i < c.n; i++)
        free(doc_ids[i]);
    free(doc_ids);
    free(chunk_ids);
    free(docs);
    if (rc) goto out;
    FILE *f = fopen(jl_path, "wb");
    if (!f || fwrite(jl.data, 1, jl.len, f) != jl.len) {
        if (f) fclose(f);
        rc = lh_error_set(err, LH_EIO, "text index: cannot write %s", jl_path);
        goto out;
    }
    fclose(f);
    if ((rc = lh_vector_index_claim(s, who, name, gen, err))) goto out;
    if ((rc = lh_hnsw_store(h, s, name, gen, tmp, err)) ||
        (rc = put_local(s, name, gen, "chunks.parquet", pq_path, err)) ||
        (rc = put_local(s, name, gen, "chunks.jsonl", jl_path, err)) ||
        (rc = put_local(s, name, gen, "lexical.sqlite", lex_path, err)))
        goto out;
    double secs = (double)(lh_now_ns() - t0) / 1e9;
    extra = json_pack("{s:s, s:O, s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:{s:s, s:s, s:s, s:s, "
                      "s:s}}",
                      "kind", "text", "chunking", chunking, "embedder", model, "embedder_version",
                      lh_ai_embedder_version(e), "dataset_rows", (json_int_t)m->rows, "text_rows",
                      (json_int_t)c.rows, "embedded", (json_int_t)embedded, "reused",
                      (json_int_t)reused, "build_seconds", secs, "objects", "graph", "hnsw.bin",
                      "store", "chunks.parquet", "chunks", "chunks.jsonl", "lexical",
                      "lexical.sqlite", "meta", "index.json");
    lh_vector_index_spec vs = {
        .dataset = sp->dataset, .column = sp->column, .name = name, .model = model};
    if ((rc = lh_vector_index_commit(s, who, &vs, m, gen, h, extra, out, err))) goto out;
    progress(sp, 1.0);
    if (stats)
        *stats = (lh_ai_text_build_stats){.rows = c.rows,
                                          .chunks = (int64_t)c.n,
                                          .embedded = embedded,
                                          .reused = reused,
                                          .seconds = secs};
out:
    if (rc && gen[0])
        lh_log(LH_LOG_WARN, "ai.text_index_abandoned", "index", name, "generation", gen, "error",
               err ? err->msg : "", (const char *)NULL);
    unlink(pq_path);
    unlink(lex_path);
    unlink(jl_path);
    free(pq_path);
    free(lex_path);
    free(jl_path);
    free(base);
    for (size_t i = 0; i < c.n; i++)
        free(c.texts[i]);
    free(c.texts);
    free(c.recs);
    free(vecs);
    lh_hnsw_free(h);
    reuse_free(&reuse);
    json_decref(chunking);
    json_decref(extra);
    lh_buf_free(&jl);
    lh_manifest_free(m);
    free(name);
    return rc;
}

/* --------------------------------------------------------------- loading */

struct lh_ai_text_index {
    _Atomic int refs;
    lh_vector_index *v; /* graph and metadata */
    size_t n;           /* chunks */
    chunk_rec *recs;
    char **texts;
    lh_ai_lexical *lex;
    int64_t dataset_rows;
};

void lh_ai_text_index_release(lh_ai_text_index *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1) return;
    for (size_t i = 0; i < t->n; i++)
        free(t->texts[i]);
    free(t->texts);
    free(t->recs);
    lh_ai_lexical_close(t->lex);
    lh_vector_index_release(t->v);
    free(t);
}

const lh_vector_index_meta *lh_ai_text_index_meta(const lh_ai_text_index *t)
{
    return lh_vector_index_meta_of(t->v);
}

/* Loads the text side of generation v (takes v's reference). */
static int text_load(lh_storage *s, lh_vector_index *v, const char *cache_dir,
                     lh_ai_text_index **out, lh_error *err)
{
    *out = NULL;
    const lh_vector_index_meta *m = lh_vector_index_meta_of(v);
    const char *kind = json_string_value(json_object_get(m->json, "kind"));
    if (!kind || strcmp(kind, "text") != 0) {
        lh_error_set(err, LH_EINVAL,
                     "index '%s' is a vector index over column '%s', not a text index (build "
                     "one with `lakehouse index text`)",
                     m->index, m->column);
        lh_vector_index_release(v);
        return LH_EINVAL;
    }
    lh_ai_text_index *t = lh_calloc(1, sizeof *t);
    atomic_store(&t->refs, 1);
    t->v = v;
    t->n = (size_t)m->count;
    t->dataset_rows = json_integer_value(json_object_get(m->json, "dataset_rows"));
    char *dir =
        lh_sprintf("%s/text/%s/%s", cache_dir ? cache_dir : "/tmp", m->index, m->generation);
    char *pq = lh_path_join(dir, "chunks.parquet"), *lx = lh_path_join(dir, "lexical.sqlite");
    char *pfx = lh_sprintf("vectors/%s/%s/", m->index, m->generation);
    char *k_pq = lh_sprintf("%schunks.parquet", pfx), *k_jl = lh_sprintf("%schunks.jsonl", pfx),
         *k_lx = lh_sprintf("%slexical.sqlite", pfx);
    char *jl = NULL;
    size_t jlen = 0;
    lh_vector_store_data d = {0};
    int rc;
    if ((rc = lh_mkdir_p(dir, err))) goto fail;
    if (access(pq, R_OK) != 0 && (rc = lh_storage_get_file(s, k_pq, pq, err))) goto fail;
    if ((rc = lh_vector_store_read(pq, true, &d, err))) goto fail;
    if (d.n != t->n) {
        rc = lh_error_set(err, LH_ECORRUPT,
                          "text index '%s' %s: %zu chunks in the store, %zu "
                          "in the graph",
                          m->index, m->generation, d.n, t->n);
        goto fail;
    }
    t->texts = d.chunk_texts;
    d.chunk_texts = NULL;
    if ((rc = lh_storage_get(s, k_jl, &jl, &jlen, err))) goto fail;
    t->recs = lh_calloc(t->n, sizeof *t->recs);
    char *p = jl;
    for (size_t i = 0; i < t->n; i++) {
        long long row;
        size_t a, b;
        if (!p || sscanf(p, "[%lld,%zu,%zu]", &row, &a, &b) != 3 || row < 0 ||
            row >= t->dataset_rows) {
            rc = lh_error_set(err, LH_ECORRUPT,
                              "text index '%s' %s: chunks.jsonl line %zu is "
                              "not [row, start, end]",
                              m->index, m->generation, i + 1);
            goto fail;
        }
        t->recs[i] = (chunk_rec){row, a, b};
        p = strchr(p, '\n');
        if (p) p++;
    }
    /* The lexical index is derived: fetch it, or rebuild it from the store if it is gone. */
    if (access(lx, R_OK) != 0) {
        lh_error ge = {0};
        if (lh_storage_get_file(s, k_lx, lx, &ge)) {
            lh_log(LH_LOG_WARN, "ai.lexical_rebuild", "index", m->index, "reason", ge.msg,
                   (const char *)NULL);
            if ((rc = lh_ai_lexical_open(lx, &t->lex, err)) ||
                (rc = lh_ai_lexical_rebuild_from_store(t->lex, pq, err)))
                goto fail;
        }
    }
    if (!t->lex && (rc = lh_ai_lexical_open(lx, &t->lex, err))) goto fail;
    *out = t;
    t = NULL;
fail:
    lh_ai_text_index_release(t);
    lh_vector_store_data_free(&d);
    free(jl);
    free(dir);
    free(pq);
    free(lx);
    free(pfx);
    free(k_pq);
    free(k_jl);
    free(k_lx);
    return rc;
}

/* -------------------------------------------------------------- registry */

typedef struct text_entry {
    char *name;
    lh_ai_text_index *t;
    struct text_entry *next;
} text_entry;

struct lh_ai_text_registry {
    lh_vector_registry *vr;
    lh_storage *s;
    char *cache_dir;
    pthread_mutex_t mu; /* guards entries and loads */
    text_entry *entries;
};

lh_ai_text_registry *lh_ai_text_registry_new(lh_vector_registry *vr, lh_storage *s,
                                             const char *cache_dir)
{
    lh_ai_text_registry *r = lh_calloc(1, sizeof *r);
    r->vr = vr;
    r->s = s;
    r->cache_dir = lh_strdup(cache_dir ? cache_dir : "/tmp");
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

void lh_ai_text_registry_free(lh_ai_text_registry *r)
{
    if (!r) return;
    for (text_entry *e = r->entries, *next; e; e = next) {
        next = e->next;
        lh_ai_text_index_release(e->t);
        free(e->name);
        free(e);
    }
    pthread_mutex_destroy(&r->mu);
    free(r->cache_dir);
    free(r);
}

int lh_ai_text_registry_get(lh_ai_text_registry *r, const char *index, lh_ai_text_index **out,
                            lh_error *err)
{
    *out = NULL;
    lh_vector_index *v = NULL;
    int rc = lh_vector_registry_get(r->vr, index, &v, err);
    if (rc) return rc;
    pthread_mutex_lock(&r->mu);
    text_entry *e = r->entries;
    while (e && strcmp(e->name, index) != 0)
        e = e->next;
    if (e && e->t->v == v) {
        lh_vector_index_release(v);
        atomic_fetch_add(&e->t->refs, 1);
        *out = e->t;
        pthread_mutex_unlock(&r->mu);
        return LH_OK;
    }
    lh_ai_text_index *t = NULL;
    rc = text_load(r->s, v, r->cache_dir, &t, err);
    if (!rc) {
        if (!e) {
            e = lh_calloc(1, sizeof *e);
            e->name = lh_strdup(index);
            e->next = r->entries;
            r->entries = e;
        }
        lh_ai_text_index_release(e->t);
        e->t = t;
        atomic_fetch_add(&t->refs, 1);
        *out = t;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int lh_ai_text_index_for_dataset(lh_storage *s, const char *dataset, char **out, lh_error *err)
{
    *out = NULL;
    char **names = NULL;
    size_t n = 0;
    int rc = lh_vector_index_list(s, &names, &n, err);
    if (rc) return rc;
    int64_t best = -1;
    for (size_t i = 0; i < n; i++) {
        lh_vector_index_meta m;
        lh_error e = {0};
        if (lh_vector_index_current(s, names[i], &m, &e)) continue;
        const char *kind = json_string_value(json_object_get(m.json, "kind"));
        if (kind && strcmp(kind, "text") == 0 && strcmp(m.dataset, dataset) == 0 &&
            m.created_us > best) {
            best = m.created_us;
            free(*out);
            *out = lh_strdup(names[i]);
        }
        lh_vector_index_meta_free(&m);
    }
    lh_catalog_names_free(names, n);
    if (!*out)
        return lh_error_set(err, LH_ENOENT,
                            "dataset '%s' has no text index (build one with `lakehouse index "
                            "text %s --column COL`)",
                            dataset, dataset);
    return LH_OK;
}

/* -------------------------------------------------------------- internals */

size_t ai_text_count(const lh_ai_text_index *t)
{
    return t->n;
}

int64_t ai_text_row(const lh_ai_text_index *t, size_t chunk, size_t *char_start, size_t *char_end,
                    const char **text)
{
    const chunk_rec *c = &t->recs[chunk];
    if (char_start) *char_start = c->char_start;
    if (char_end) *char_end = c->char_end;
    if (text) *text = t->texts[chunk] ? t->texts[chunk] : "";
    return c->row;
}

int64_t ai_text_dataset_rows(const lh_ai_text_index *t)
{
    return t->dataset_rows;
}

lh_vector_index *ai_text_vectors(const lh_ai_text_index *t)
{
    return t->v;
}

lh_ai_lexical *ai_text_lexical(const lh_ai_text_index *t)
{
    return t->lex;
}
