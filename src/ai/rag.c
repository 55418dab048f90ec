/* Retrieval-augmented answers: hybrid retrieval, numbered sources, a generator's answer citing
 * them, or, with no generator, the sentences of the sources that best answer the question. */
#include "ai/ai_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define RAG_K_MAX 20
#define SENTENCES_MAX 256
#define ANSWER_SENTENCES 3

static float dot(const float *a, const float *b, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

typedef struct sentence {
    int source; /* 1-based */
    const char *start;
    size_t len;
    double score;
} sentence;

/* Splits text into sentences: after '.', '!', '?' followed by white space, and at newlines. */
static size_t split_sentences(const char *text, int source, sentence *out, size_t room)
{
    size_t n = 0, len = strlen(text), i = 0;
    while (i < len && n < room) {
        while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r'))
            i++;
        size_t s = i;
        while (i < len && text[i] != '\n' &&
               !((text[i] == '.' || text[i] == '!' || text[i] == '?') &&
                 (i + 1 == len || text[i + 1] == ' ' || text[i + 1] == '\n')))
            i++;
        if (i < len && text[i] != '\n') i++;
        if (i > s) out[n++] = (sentence){source, text + s, i - s, 0};
    }
    return n;
}

static int cmp_sentence(const void *a, const void *b)
{
    const sentence *x = a, *y = b;
    return (x->score < y->score) - (x->score > y->score);
}

static const char system_prompt[] =
    "You answer questions using only the numbered sources given. Cite the sources you use as "
    "[n] right after the statement they support. If the sources do not contain the answer, say "
    "that they do not. Be brief.";

/* Collects the distinct [n] (1..nsrc) cited in text, in order of first appearance. */
static json_t *citations(const char *text, size_t nsrc)
{
    json_t *c = json_array();
    for (const char *p = text; p && (p = strchr(p, '[')); p++) {
        char *end;
        long n = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end != ']' || n < 1 || (size_t)n > nsrc) continue;
        bool seen = false;
        for (size_t i = 0; i < json_array_size(c); i++)
            seen = seen || json_integer_value(json_array_get(c, i)) == n;
        if (!seen) json_array_append_new(c, json_integer(n));
    }
    return c;
}

int lh_ai_rag(lh_ai_text_index *t, lh_ai_embedder *e, lh_query *q, const lh_identity *who,
              const lh_ai_rag_opts *o, json_t **out, lh_error *err)
{
    *out = NULL;
    uint64_t t0 = lh_now_ns();
    if (o->k < 0 || o->k > RAG_K_MAX)
        return lh_error_set(err, LH_EINVAL, "rag: k = %d is out of range 1..%d", o->k, RAG_K_MAX);
    lh_ai_search_opts so = {.query = o->question,
                            .mode = LH_AI_SEARCH_HYBRID,
                            .k = o->k ? o->k : 5,
                            .filter = o->filter};
    json_t *res = NULL, *sources = json_array(), *sents = json_array(), *body = NULL;
    float *qv = NULL, *sv = NULL;
    sentence *ss = NULL;
    const char **stexts = NULL;
    char *answer = NULL;
    lh_buf prompt = {0}, extract = {0};
    int rc = lh_ai_text_search(t, e, q, who, &so, &res, err);
    if (rc) goto done;
    double retrieval_ms = (double)(lh_now_ns() - t0) / 1e6;
    const lh_hnsw *h = lh_vector_index_graph(ai_text_vectors(t));
    size_t dim = lh_ai_embedder_dims(e);
    qv = lh_malloc(dim * sizeof(float));
    if ((rc = lh_ai_embed(e, &o->question, NULL, 1, qv, err))) goto done;
    json_t *hits = json_object_get(res, "hits");
    size_t nsrc = json_array_size(hits);
    double best = -1;
    ss = lh_calloc(SENTENCES_MAX, sizeof *ss);
    size_t nss = 0;
    lh_buf_puts(&prompt, "Sources:\n");
    for (size_t i = 0; i < nsrc; i++) {
        json_t *hj = json_array_get(hits, i);
        json_t *chunk = json_object_get(hj, "chunk");
        int64_t cid = json_integer_value(json_object_get(chunk, "id"));
        const char *text = json_string_value(json_object_get(chunk, "text"));
        double sim = dot(qv, lh_hnsw_vector(h, cid), dim);
        if (sim > best) best = sim;
        json_array_append_new(
            sources, json_pack("{s:I, s:O, s:O, s:s, s:O, s:f, s:O}", "n", (json_int_t)(i + 1),
                               "row", json_object_get(hj, "row"), "chunk", chunk, "text", text,
                               "highlight", json_object_get(hj, "highlight"), "similarity", sim,
                               "scores", json_object_get(hj, "scores")));
        lh_buf_printf(&prompt, "[%zu] ", i + 1);
        for (const char *p = text; *p; p++)
            lh_buf_putc(&prompt, *p == '\n' ? ' ' : *p);
        lh_buf_putc(&prompt, '\n');
        nss += split_sentences(text, (int)i + 1, ss + nss, SENTENCES_MAX - nss);
    }
    double min_sim = o->min_similarity == 0 ? 0.5 : o->min_similarity;
    bool supported = nsrc > 0 && best >= min_sim;
    const char *message;
    if (!supported) {
        answer = lh_strdup("The indexed context does not support an answer to this question: no "
                           "source is close enough to it.");
        message = "no source passed the similarity threshold; no answer was generated";
    } else if (o->gen) {
        lh_buf_printf(&prompt, "\nQuestion: %s\n", o->question);
        lh_ai_message msgs[2] = {{"system", system_prompt}, {"user", prompt.data}};
        if ((rc = lh_ai_generate(o->gen, msgs, 2, o->gen_opts, &answer, err))) goto done;
        message = "answer written by the language model from the numbered sources";
    } else {
        /* No model: rank the sources' sentences by similarity to the question (plus the
         * question's words they contain) and quote the best few, citing their sources. */
        stexts = lh_calloc(nss ? nss : 1, sizeof *stexts);
        size_t ne = 0;
        for (size_t i = 0; i < nss; i++) {
            char *s = lh_strndup(ss[i].start, ss[i].len);
            if (ai_text_check(s, ss[i].len, LH_AI_MAX_TEXT_BYTES, NULL) == LH_OK) {
                ss[ne] = ss[i];
                stexts[ne++] = s;
            } else {
                free(s);
            }
        }
        nss = ne;
        sv = lh_malloc((nss ? nss : 1) * dim * sizeof(float));
        if (nss && (rc = lh_ai_embed(e, stexts, NULL, nss, sv, err))) goto done;
        for (size_t i = 0; i < nss; i++) {
            char *hl = lh_ai_highlight(o->question, stexts[i], ss[i].len);
            size_t marks = 0;
            for (const char *p = hl; (p = strstr(p, "<mark>")); p++)
                marks++;
            free(hl);
            ss[i].score =
                dot(qv, sv + i * dim, dim) + 0.05 * (double)marks - 0.002 * (double)ss[i].source;
        }
        qsort(ss, nss, sizeof *ss, cmp_sentence);
        /* Quote only sentences nearly as good as the best one. */
        for (size_t i = 0; i < nss && i < ANSWER_SENTENCES && ss[i].score >= 0.75 * ss[0].score;
             i++) {
            char *text = lh_strndup(ss[i].start, ss[i].len);
            char *hl = lh_ai_highlight(o->question, text, ss[i].len);
            json_array_append_new(sents,
                                  json_pack("{s:i, s:s, s:s, s:f}", "source", ss[i].source, "text",
                                            text, "highlight", hl, "score", ss[i].score));
            lh_buf_printf(&extract, "%s%s [%d]", i ? " " : "", text, ss[i].source);
            free(text);
            free(hl);
        }
        answer = lh_buf_steal(&extract);
        message = "No language model is configured (generator: none), so this answer quotes the "
                  "sentences of the sources that best match the question; configure a generator "
                  "(ollama or openai) for written answers.";
    }
    body = json_pack("{s:s, s:s, s:b, s:o, s:s, s:o, s:O, s:o, s:s, s:s, s:f, s:f}", "question",
                     o->question, "answer", answer ? answer : "", "supported", supported,
                     "generator", o->gen ? json_string(lh_ai_generator_name(o->gen)) : json_null(),
                     "message", message, "citations", citations(answer, nsrc), "sentences", sents,
                     "sources", sources, "index", json_string_value(json_object_get(res, "index")),
                     "generation", json_string_value(json_object_get(res, "generation")),
                     "best_similarity", best, "retrieval_ms", retrieval_ms);
    sources = NULL;
    json_object_set_new(body, "elapsed_ms", json_real((double)(lh_now_ns() - t0) / 1e6));
    *out = body;
done:
    json_decref(sources);
    json_decref(sents);
    json_decref(res);
    free(answer);
    free(qv);
    free(sv);
    if (stexts)
        for (size_t i = 0; i < nss; i++)
            free((char *)stexts[i]);
    free(stexts);
    free(ss);
    lh_buf_free(&prompt);
    lh_buf_free(&extract);
    return rc;
}
