/* The embedder interface: a provider's ops table and state behind one opaque handle. */
#include "ai/ai_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct lh_ai_embedder {
    const lh_ai_embedder_ops *ops;
    void *self;
};

lh_ai_embedder *lh_ai_embedder_wrap(const lh_ai_embedder_ops *ops, void *self)
{
    if (!ops) return NULL;
    lh_ai_embedder *e = lh_calloc(1, sizeof *e);
    e->ops = ops;
    e->self = self;
    return e;
}

const char *lh_ai_embedder_name(const lh_ai_embedder *e)
{
    return e->ops->name(e->self);
}

const char *lh_ai_embedder_version(const lh_ai_embedder *e)
{
    return e->ops->version(e->self);
}

size_t lh_ai_embedder_dims(const lh_ai_embedder *e)
{
    return e->ops->dims(e->self);
}

void *ai_embedder_self(const lh_ai_embedder *e, const lh_ai_embedder_ops *ops)
{
    return e && e->ops == ops ? e->self : NULL;
}

int lh_ai_embed(lh_ai_embedder *e, const char *const *texts, const size_t *lens, size_t n,
                float *out, lh_error *err)
{
    if (!e || (!texts && n > 0) || (!out && n > 0))
        return lh_error_set(err, LH_EINVAL, "embed: missing embedder, texts or output");
    if (n == 0) return LH_OK;
    for (size_t i = 0; i < n; i++) {
        if (!texts[i]) return lh_error_set(err, LH_EINVAL, "embed: text %zu is NULL", i);
        size_t len = lens ? lens[i] : strlen(texts[i]);
        int rc = ai_text_check(texts[i], len, LH_AI_MAX_TEXT_BYTES, err);
        if (rc != LH_OK) return lh_error_prefix(err, "embed: text %zu", i);
    }
    int rc = e->ops->embed(e->self, texts, lens, n, out, err);
    if (rc != LH_OK) return rc;
    size_t d = e->ops->dims(e->self);
    for (size_t i = 0; i < n * d; i++)
        if (!isfinite(out[i]))
            return lh_error_set(err, LH_ECORRUPT,
                                "embed: %s returned a non-finite value in "
                                "vector %zu",
                                e->ops->name(e->self), i / d);
    return LH_OK;
}

void lh_ai_embedder_free(lh_ai_embedder *e)
{
    if (!e) return;
    if (e->ops->free) e->ops->free(e->self);
    free(e);
}

int ai_text_check(const char *text, size_t len, size_t max, lh_error *err)
{
    if (len == 0) return lh_error_set(err, LH_EINVAL, "is empty");
    if (len > max)
        return lh_error_set(err, LH_ETOOBIG, "is %zu bytes, over the limit of %zu (chunk it)", len,
                            max);
    size_t bad;
    if (!lh_utf8_valid(text, len, &bad))
        return lh_error_set(err, LH_EINVAL, "is not valid UTF-8 (byte %zu)", bad);
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        i += ai_utf8_next(text + i, len - i, &cp);
        if (!ai_is_space(cp)) return LH_OK;
    }
    return lh_error_set(err, LH_EINVAL, "is blank (only white space)");
}
