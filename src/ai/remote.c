/* Embedders on model servers: Ollama (/api/embed) and OpenAI-compatible (/v1/embeddings),
 * batched, with the answer's shape checked (count, dimension, finite values). */
#include "ai/ai_int.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define OLLAMA_DEFAULT_URL "http://127.0.0.1:11434"
#define OPENAI_DEFAULT_URL "http://127.0.0.1:8000"
#define OLLAMA_DEFAULT_EMBED_MODEL "nomic-embed-text"

typedef enum { K_OLLAMA, K_OPENAI } kind;

typedef struct remote {
    kind k;
    const char *what; /* server kind for messages */
    char *base, *embed_url, *model, *api_key;
    char *name, *version;
    int timeout_ms, connect_timeout_ms;
    size_t batch, dims;
    int parallel;
} remote;

static const char *r_name(void *self)
{
    return ((remote *)self)->name;
}
static const char *r_version(void *self)
{
    return ((remote *)self)->version;
}
static size_t r_dims(void *self)
{
    return ((remote *)self)->dims;
}

static void r_free(void *self)
{
    remote *r = self;
    if (!r) return;
    free(r->base);
    free(r->embed_url);
    free(r->model);
    free(r->api_key);
    free(r->name);
    free(r->version);
    free(r);
}

static void req_init(const remote *r, ai_http_req *q, const char *url, const char *body)
{
    memset(q, 0, sizeof *q);
    q->what = r->what;
    q->url = url;
    q->body = body;
    q->api_key = r->api_key;
    q->timeout_ms = r->timeout_ms;
    q->connect_timeout_ms = r->connect_timeout_ms;
}

/* Reads one vector (a JSON array of numbers) into out (r->dims floats; when r->dims is 0 it is
 * set from this vector), L2-normalizing it. */
static int read_vector(remote *r, json_t *arr, size_t which, float *out, lh_error *err)
{
    if (!json_is_array(arr))
        return lh_error_set(err, LH_ECORRUPT, "%s at %s: vector %zu is not an array", r->what,
                            r->embed_url, which);
    size_t d = json_array_size(arr);
    if (r->dims == 0) r->dims = d;
    if (d != r->dims || d == 0)
        return lh_error_set(err, LH_ECORRUPT,
                            "%s at %s: vector %zu has %zu dimensions, expected %zu (model '%s')",
                            r->what, r->embed_url, which, d, r->dims, r->model);
    if (!out) return LH_OK;
    double norm = 0;
    for (size_t j = 0; j < d; j++) {
        json_t *x = json_array_get(arr, j);
        if (!json_is_number(x) || !isfinite(json_number_value(x)))
            return lh_error_set(err, LH_ECORRUPT,
                                "%s at %s: vector %zu, value %zu is not a "
                                "finite number",
                                r->what, r->embed_url, which, j);
        out[j] = (float)json_number_value(x);
        norm += (double)out[j] * out[j];
    }
    if (norm <= 0)
        return lh_error_set(err, LH_ECORRUPT, "%s at %s: vector %zu is all zeros", r->what,
                            r->embed_url, which);
    float inv = (float)(1.0 / sqrt(norm));
    for (size_t j = 0; j < d; j++)
        out[j] *= inv;
    return LH_OK;
}

/* One request for n texts; out = NULL only learns the dimension (the probe). */
static int embed_batch(remote *r, const char *const *texts, const size_t *lens, size_t n,
                       size_t first, float *out, lh_error *err)
{
    json_t *in = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(in, json_stringn(texts[i], lens ? lens[i] : strlen(texts[i])));
    json_t *body = json_object();
    json_object_set_new(body, "model", json_string(r->model));
    json_object_set_new(body, "input", in);
    if (r->k == K_OPENAI) json_object_set_new(body, "encoding_format", json_string("float"));
    char *js = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    ai_http_req q;
    req_init(r, &q, r->embed_url, js);
    lh_buf resp = {0};
    long status;
    json_t *j = NULL;
    int rc = ai_http_do(&q, &status, &resp, err);
    if (rc != LH_OK) goto done;
    if (status < 200 || status > 299) {
        rc =
            ai_http_status_error(r->what, r->embed_url, r->model, status, resp.data, resp.len, err);
        goto done;
    }
    json_error_t je;
    j = json_loadb(resp.data ? resp.data : "", resp.len, 0, &je);
    if (!j) {
        rc = lh_error_set(err, LH_ECORRUPT, "%s at %s: answer is not JSON (%s)", r->what,
                          r->embed_url, je.text);
        goto done;
    }
    if (r->k == K_OLLAMA) {
        json_t *e = json_object_get(j, "embeddings");
        if (!json_is_array(e) || json_array_size(e) != n) {
            rc = lh_error_set(err, LH_ECORRUPT,
                              "%s at %s: expected \"embeddings\" with %zu vectors, got %zu",
                              r->what, r->embed_url, n, json_is_array(e) ? json_array_size(e) : 0);
            goto done;
        }
        for (size_t i = 0; i < n && rc == LH_OK; i++)
            rc = read_vector(r, json_array_get(e, i), first + i, out ? out + i * r->dims : NULL,
                             err);
    } else {
        json_t *data = json_object_get(j, "data");
        if (!json_is_array(data) || json_array_size(data) != n) {
            rc = lh_error_set(err, LH_ECORRUPT,
                              "%s at %s: expected \"data\" with %zu embeddings, got %zu", r->what,
                              r->embed_url, n, json_is_array(data) ? json_array_size(data) : 0);
            goto done;
        }
        if (!out && json_is_string(json_object_get(j, "model"))) {
            free(r->version);
            r->version = lh_strdup(json_string_value(json_object_get(j, "model")));
        }
        uint8_t *seen = lh_calloc(n, 1);
        for (size_t i = 0; i < n && rc == LH_OK; i++) {
            json_t *item = json_array_get(data, i);
            json_t *ix = json_object_get(item, "index");
            json_int_t k = json_is_integer(ix) ? json_integer_value(ix) : (json_int_t)i;
            if (k < 0 || (size_t)k >= n || seen[k]) {
                rc = lh_error_set(err, LH_ECORRUPT, "%s at %s: bad or repeated index %lld", r->what,
                                  r->embed_url, (long long)k);
                break;
            }
            seen[k] = 1;
            rc = read_vector(r, json_object_get(item, "embedding"), first + (size_t)k,
                             out ? out + (size_t)k * r->dims : NULL, err);
        }
        free(seen);
    }
done:
    json_decref(j);
    lh_buf_free(&resp);
    free(js);
    return rc;
}

/* Batches of one embed call, sent by up to r->parallel threads so that the server works on
 * the next batch while the previous answer travels back. The error reported is that of the
 * lowest failing batch; after a failure no new batch starts. */
typedef struct pipeline {
    remote *r;
    const char *const *texts;
    const size_t *lens;
    size_t n;
    float *out;
    atomic_size_t next; /* next batch to claim */
    atomic_int stop;
    pthread_mutex_t mu; /* guards fail_batch, rc, err */
    size_t fail_batch;
    int rc;
    lh_error err;
} pipeline;

static void *pipeline_worker(void *arg)
{
    pipeline *p = arg;
    remote *r = p->r;
    while (!atomic_load(&p->stop)) {
        size_t b = atomic_fetch_add(&p->next, 1);
        size_t i = b * r->batch;
        if (i >= p->n) break;
        size_t m = p->n - i < r->batch ? p->n - i : r->batch;
        lh_error e = {0};
        int rc = embed_batch(r, p->texts + i, p->lens ? p->lens + i : NULL, m, i,
                             p->out + i * r->dims, &e);
        if (rc == LH_OK) continue;
        lh_error_prefix(&e, "embed texts %zu..%zu of %zu", i, i + m - 1, p->n);
        pthread_mutex_lock(&p->mu);
        if (b < p->fail_batch) {
            p->fail_batch = b;
            p->rc = rc;
            p->err = e;
        }
        pthread_mutex_unlock(&p->mu);
        atomic_store(&p->stop, 1);
    }
    return NULL;
}

static int r_embed(void *self, const char *const *texts, const size_t *lens, size_t n, float *out,
                   lh_error *err)
{
    remote *r = self;
    pipeline p = {.r = r,
                  .texts = texts,
                  .lens = lens,
                  .n = n,
                  .out = out,
                  .fail_batch = SIZE_MAX,
                  .rc = LH_OK};
    atomic_init(&p.next, 0);
    atomic_init(&p.stop, 0);
    pthread_mutex_init(&p.mu, NULL);
    size_t batches = (n + r->batch - 1) / r->batch;
    size_t nt = batches < (size_t)r->parallel ? batches : (size_t)r->parallel;
    pthread_t th[16];
    if (nt > 16) nt = 16;
    size_t started = 0;
    for (size_t t = 1; t < nt; t++)
        if (pthread_create(&th[started], NULL, pipeline_worker, &p) == 0) started++;
    pipeline_worker(&p);
    for (size_t t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    pthread_mutex_destroy(&p.mu);
    if (p.rc != LH_OK && err) *err = p.err;
    return p.rc;
}

static const lh_ai_embedder_ops remote_ops = {
    .name = r_name, .version = r_version, .dims = r_dims, .embed = r_embed, .free = r_free};

static remote *remote_new(kind k, const lh_ai_http_opts *o)
{
    remote *r = lh_calloc(1, sizeof *r);
    r->k = k;
    r->what = k == K_OLLAMA ? "Ollama" : "OpenAI-compatible server";
    r->base = lh_strdup(o->url && *o->url ? o->url
                        : k == K_OLLAMA   ? OLLAMA_DEFAULT_URL
                                          : OPENAI_DEFAULT_URL);
    r->api_key = o->api_key ? lh_strdup(o->api_key) : NULL;
    r->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 60000;
    r->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
    r->batch = o->batch > 0 ? o->batch : 64;
    r->parallel = o->parallel > 0 ? o->parallel : 2;
    r->dims = o->dims;
    return r;
}

/* GET /api/tags: the server answers and lists the model; its digest becomes the version. */
static int ollama_check_model(remote *r, lh_error *err)
{
    char *url = ai_url_join(r->base, "/api/tags");
    ai_http_req q;
    req_init(r, &q, url, NULL);
    lh_buf resp = {0};
    long status;
    json_t *j = NULL;
    int rc = ai_http_do(&q, &status, &resp, err);
    if (rc != LH_OK) goto done;
    if (status != 200) {
        rc = lh_error_set(err, LH_EUNAVAIL, "%s at %s: HTTP %ld (is this an Ollama server?)",
                          r->what, url, status);
        goto done;
    }
    j = json_loadb(resp.data ? resp.data : "", resp.len, 0, NULL);
    json_t *models = json_object_get(j, "models");
    if (!json_is_array(models)) {
        rc =
            lh_error_set(err, LH_ECORRUPT, "%s at %s: answer has no \"models\" list", r->what, url);
        goto done;
    }
    size_t ml = strlen(r->model);
    bool tagged = strchr(r->model, ':') != NULL;
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m)
    {
        const char *name = json_string_value(json_object_get(m, "name"));
        if (!name) name = json_string_value(json_object_get(m, "model"));
        if (!name) continue;
        if (strcmp(name, r->model) == 0 ||
            (!tagged && strncmp(name, r->model, ml) == 0 && strcmp(name + ml, ":latest") == 0)) {
            const char *digest = json_string_value(json_object_get(m, "digest"));
            free(r->version);
            r->version = lh_strdup(digest ? digest : name);
            goto done;
        }
    }
    rc = lh_error_set(err, LH_ENOENT,
                      "%s at %s has no model '%s' (pull it there with `ollama pull %s`)", r->what,
                      r->base, r->model, r->model);
done:
    json_decref(j);
    lh_buf_free(&resp);
    free(url);
    return rc;
}

static int open_remote(kind k, const lh_ai_http_opts *o, lh_ai_embedder **out, lh_error *err)
{
    *out = NULL;
    if (!o) return lh_error_set(err, LH_EINVAL, "embedder: missing options");
    const char *model = o->model && *o->model ? o->model
                        : k == K_OLLAMA       ? OLLAMA_DEFAULT_EMBED_MODEL
                                              : NULL;
    if (!model)
        return lh_error_set(err, LH_EINVAL,
                            "embedder openai: a model is required (config embedder_model)");
    remote *r = remote_new(k, o);
    r->model = lh_strdup(model);
    r->name = lh_sprintf("%s/%s", k == K_OLLAMA ? "ollama" : "openai", model);
    r->version = lh_strdup("unversioned");
    r->embed_url = ai_url_join(r->base, k == K_OLLAMA ? "/api/embed" : "/v1/embeddings");
    int rc = LH_OK;
    if (k == K_OLLAMA) rc = ollama_check_model(r, err);
    if (rc == LH_OK && (k == K_OPENAI || r->dims == 0)) {
        const char *probe = "dimension probe";
        rc = embed_batch(r, &probe, NULL, 1, 0, NULL, err);
    }
    if (rc != LH_OK) {
        r_free(r);
        return rc;
    }
    *out = lh_ai_embedder_wrap(&remote_ops, r);
    return LH_OK;
}

int lh_ai_ollama_embedder_open(const lh_ai_http_opts *opts, lh_ai_embedder **out, lh_error *err)
{
    return open_remote(K_OLLAMA, opts, out, err);
}

int lh_ai_openai_embedder_open(const lh_ai_http_opts *opts, lh_ai_embedder **out, lh_error *err)
{
    return open_remote(K_OPENAI, opts, out, err);
}

int lh_ai_embedder_open(const lh_config *cfg, lh_ai_embedder **out, lh_error *err)
{
    *out = NULL;
    const char *p = cfg->embedder ? cfg->embedder : "glove";
    lh_ai_http_opts o = {.url = cfg->embedder_url,
                         .model = cfg->embedder_model,
                         .api_key = cfg->ai_api_key,
                         .timeout_ms = cfg->ai_timeout_ms};
    if (strcmp(p, "glove") == 0) return lh_ai_glove_open(cfg->glove_path, out, err);
    if (strcmp(p, "ollama") == 0) return lh_ai_ollama_embedder_open(&o, out, err);
    if (strcmp(p, "openai") == 0) return lh_ai_openai_embedder_open(&o, out, err);
    return lh_error_set(err, LH_EINVAL,
                        "config embedder: unknown provider '%s' (known: glove, "
                        "ollama, openai)",
                        p);
}

/* ------------------------------------------------------------ generators */

struct lh_ai_generator {
    remote *r; /* server, model, timeouts (embed fields unused) */
    char *chat_url;
};

const char *lh_ai_generator_name(const lh_ai_generator *g)
{
    return g->r->name;
}

void lh_ai_generator_free(lh_ai_generator *g)
{
    if (!g) return;
    r_free(g->r);
    free(g->chat_url);
    free(g);
}

/* GET /v1/models; a server that does not list models (404) is taken at its word later. */
static int openai_check_model(remote *r, lh_error *err)
{
    char *url = ai_url_join(r->base, "/v1/models");
    ai_http_req q;
    req_init(r, &q, url, NULL);
    lh_buf resp = {0};
    long status;
    json_t *j = NULL;
    int rc = ai_http_do(&q, &status, &resp, err);
    if (rc != LH_OK || status == 404) goto done;
    if (status != 200) {
        rc = ai_http_status_error(r->what, url, r->model, status, resp.data, resp.len, err);
        goto done;
    }
    j = json_loadb(resp.data ? resp.data : "", resp.len, 0, NULL);
    json_t *data = json_object_get(j, "data");
    if (!json_is_array(data)) goto done;
    size_t i;
    json_t *m;
    json_array_foreach(data, i, m)
    {
        const char *id = json_string_value(json_object_get(m, "id"));
        if (id && strcmp(id, r->model) == 0) goto done;
    }
    rc = lh_error_set(err, LH_ENOENT, "%s at %s has no model '%s'", r->what, r->base, r->model);
done:
    json_decref(j);
    lh_buf_free(&resp);
    free(url);
    return rc;
}

static int open_generator(kind k, const lh_ai_http_opts *o, lh_ai_generator **out, lh_error *err)
{
    *out = NULL;
    if (!o || !o->model || !*o->model)
        return lh_error_set(err, LH_EINVAL,
                            "generator %s: a model is required (config generator_model)",
                            k == K_OLLAMA ? "ollama" : "openai");
    remote *r = remote_new(k, o);
    r->model = lh_strdup(o->model);
    r->name = lh_sprintf("%s/%s", k == K_OLLAMA ? "ollama" : "openai", o->model);
    r->version = lh_strdup("unversioned");
    int rc = k == K_OLLAMA ? ollama_check_model(r, err) : openai_check_model(r, err);
    if (rc != LH_OK) {
        r_free(r);
        return rc;
    }
    lh_ai_generator *g = lh_calloc(1, sizeof *g);
    g->r = r;
    g->chat_url = ai_url_join(r->base, k == K_OLLAMA ? "/api/chat" : "/v1/chat/completions");
    *out = g;
    return LH_OK;
}

int lh_ai_ollama_generator_open(const lh_ai_http_opts *opts, lh_ai_generator **out, lh_error *err)
{
    return open_generator(K_OLLAMA, opts, out, err);
}

int lh_ai_openai_generator_open(const lh_ai_http_opts *opts, lh_ai_generator **out, lh_error *err)
{
    return open_generator(K_OPENAI, opts, out, err);
}

int lh_ai_generator_open(const lh_config *cfg, lh_ai_generator **out, lh_error *err)
{
    *out = NULL;
    const char *p = cfg->generator ? cfg->generator : "none";
    lh_ai_http_opts o = {.url = cfg->generator_url,
                         .model = cfg->generator_model,
                         .api_key = cfg->ai_api_key,
                         .timeout_ms = cfg->ai_timeout_ms};
    if (strcmp(p, "none") == 0) return LH_OK;
    if (strcmp(p, "ollama") == 0) return lh_ai_ollama_generator_open(&o, out, err);
    if (strcmp(p, "openai") == 0) return lh_ai_openai_generator_open(&o, out, err);
    return lh_error_set(err, LH_EINVAL,
                        "config generator: unknown provider '%s' (known: none, "
                        "ollama, openai)",
                        p);
}

typedef struct stream {
    const lh_ai_generator *g;
    const lh_ai_gen_opts *opts;
    lh_buf text;
    bool done;
} stream;

static int emit(stream *s, const char *t, size_t n, lh_error *err)
{
    if (n == 0) return LH_OK;
    lh_buf_append(&s->text, t, n);
    if (s->opts && s->opts->on_token && s->opts->on_token(t, n, s->opts->arg) != 0)
        return lh_error_set(err, LH_ECANCELED, "%s: canceled by the caller", s->g->r->name);
    return LH_OK;
}

static int stream_error(stream *s, json_t *e, lh_error *err)
{
    const char *m = json_is_string(e) ? json_string_value(e)
                    : json_is_string(json_object_get(e, "message"))
                        ? json_string_value(json_object_get(e, "message"))
                        : "unknown error";
    return lh_error_set(err, LH_EUNAVAIL, "%s at %s: error mid-answer: %s", s->g->r->what,
                        s->g->chat_url, m);
}

/* Ollama: one JSON object per line, {"message":{"content":...},"done":false}, then done:true. */
static int ollama_line(const char *line, size_t len, void *arg, lh_error *err)
{
    stream *s = arg;
    if (len == 0 || s->done) return LH_OK;
    json_t *j = json_loadb(line, len, 0, NULL);
    if (!j)
        return lh_error_set(err, LH_ECORRUPT, "%s at %s: a streamed line is not JSON",
                            s->g->r->what, s->g->chat_url);
    int rc = LH_OK;
    json_t *e = json_object_get(j, "error");
    if (e) {
        rc = stream_error(s, e, err);
    } else {
        json_t *c = json_object_get(json_object_get(j, "message"), "content");
        if (json_is_string(c)) rc = emit(s, json_string_value(c), json_string_length(c), err);
        if (json_is_true(json_object_get(j, "done"))) s->done = true;
    }
    json_decref(j);
    return rc;
}

/* OpenAI: server-sent events, "data: {choices:[{delta:{content}}]}" ... "data: [DONE]". */
static int openai_line(const char *line, size_t len, void *arg, lh_error *err)
{
    stream *s = arg;
    if (len < 5 || strncmp(line, "data:", 5) != 0 || s->done) return LH_OK;
    line += 5;
    len -= 5;
    while (len && *line == ' ') {
        line++;
        len--;
    }
    if (len == 6 && memcmp(line, "[DONE]", 6) == 0) {
        s->done = true;
        return LH_OK;
    }
    json_t *j = json_loadb(line, len, 0, NULL);
    if (!j)
        return lh_error_set(err, LH_ECORRUPT, "%s at %s: a streamed event is not JSON",
                            s->g->r->what, s->g->chat_url);
    int rc = LH_OK;
    json_t *e = json_object_get(j, "error");
    if (e) {
        rc = stream_error(s, e, err);
    } else {
        json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
        json_t *c = json_object_get(json_object_get(ch, "delta"), "content");
        if (json_is_string(c)) rc = emit(s, json_string_value(c), json_string_length(c), err);
    }
    json_decref(j);
    return rc;
}

int lh_ai_generate(lh_ai_generator *g, const lh_ai_message *msgs, size_t n,
                   const lh_ai_gen_opts *opts, char **out_text, lh_error *err)
{
    if (out_text) *out_text = NULL;
    if (!g || !msgs || n == 0)
        return lh_error_set(err, LH_EINVAL, "generate: no generator or no messages");
    remote *r = g->r;
    json_t *ms = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!msgs[i].role || !msgs[i].content) {
            json_decref(ms);
            return lh_error_set(err, LH_EINVAL, "generate: message %zu lacks a role or content", i);
        }
        json_t *m = json_object();
        json_object_set_new(m, "role", json_string(msgs[i].role));
        json_object_set_new(m, "content", json_string(msgs[i].content));
        json_array_append_new(ms, m);
    }
    json_t *body = json_object();
    json_object_set_new(body, "model", json_string(r->model));
    json_object_set_new(body, "messages", ms);
    json_object_set_new(body, "stream", json_true());
    bool temp = opts && opts->temperature >= 0;
    bool maxt = opts && opts->max_tokens > 0;
    if (r->k == K_OLLAMA && (temp || maxt)) {
        json_t *o = json_object();
        if (temp) json_object_set_new(o, "temperature", json_real(opts->temperature));
        if (maxt) json_object_set_new(o, "num_predict", json_integer(opts->max_tokens));
        json_object_set_new(body, "options", o);
    } else if (r->k == K_OPENAI) {
        if (temp) json_object_set_new(body, "temperature", json_real(opts->temperature));
        if (maxt) json_object_set_new(body, "max_tokens", json_integer(opts->max_tokens));
    }
    char *js = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    stream s = {.g = g, .opts = opts};
    ai_http_req q;
    req_init(r, &q, g->chat_url, js);
    q.on_line = r->k == K_OLLAMA ? ollama_line : openai_line;
    q.arg = &s;
    q.cancel = opts ? opts->cancel : NULL;
    lh_buf resp = {0};
    long status;
    int rc = ai_http_do(&q, &status, &resp, err);
    if (rc == LH_OK && (status < 200 || status > 299))
        rc = ai_http_status_error(r->what, g->chat_url, r->model, status, resp.data, resp.len, err);
    else if (rc == LH_OK && !s.done)
        rc = lh_error_set(err, LH_EUNAVAIL,
                          "%s at %s: the answer broke off before its end (%zu bytes received)",
                          r->what, g->chat_url, s.text.len);
    if (rc == LH_OK && out_text) *out_text = lh_buf_steal(&s.text);
    lh_buf_free(&s.text);
    lh_buf_free(&resp);
    free(js);
    return rc;
}
