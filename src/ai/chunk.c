/* Sentence-aware chunking: sentences, then words inside over-long sentences, then characters
 * inside over-long words, packed greedily into chunks with a sentence-aligned overlap. */
#include "ai/ai_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A span of the source that is never split further (a sentence, a word, a slice of a word). */
typedef struct piece {
    size_t b0, b1; /* bytes */
    size_t c0, c1; /* code points */
    size_t tokens;
} piece;

typedef struct pieces {
    piece *v;
    size_t n, cap;
} pieces;

/* Walks byte offsets forward while counting code points. */
typedef struct cursor {
    const char *s;
    size_t b, c;
} cursor;

static size_t cp_at(cursor *k, size_t b)
{
    while (k->b < b) {
        unsigned char x = (unsigned char)k->s[k->b++];
        if ((x & 0xC0) != 0x80) k->c++;
    }
    return k->c;
}

static bool is_lower(uint32_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 0xDF && c <= 0xFF && c != 0xF7) ||
           (c >= 0x3B1 && c <= 0x3C9) || (c >= 0x430 && c <= 0x45F) ||
           (c >= 0x100 && c <= 0x17F && ai_lower(c) == c && ai_lower(c - 1) == c);
}

static bool is_closer(uint32_t c)
{
    return c == '"' || c == '\'' || c == ')' || c == ']' || c == '}' || c == 0x201D ||
           c == 0x2019 || c == 0xBB || c == 0x300D || c == 0x300F;
}

static bool is_terminator(uint32_t c)
{
    return c == '.' || c == '!' || c == '?' || c == 0x2026 || c == 0x3002 || c == 0xFF01 ||
           c == 0xFF1F;
}

static const char *const abbrevs[] = {
    "mr",  "mrs", "ms",  "dr",  "prof", "sr",  "jr",   "st",     "vs",   "etc",  "eg",   "ie",
    "inc", "ltd", "co",  "no",  "fig",  "cf",  "al",   "approx", "dept", "est",  "jan",  "feb",
    "mar", "apr", "jun", "jul", "aug",  "sep", "sept", "oct",    "nov",  "dec",  "mt",   "gen",
    "col", "lt",  "sgt", "rev", "hon",  "vol", "pp",   "ed",     "corp", "assn", "univ", "ave"};

/* True if the '.' at byte p ends an abbreviation or an initial ("Dr.", "e.g.", "J."). */
static bool abbreviation_before(const char *s, size_t start, size_t p)
{
    size_t w = p;
    while (w > start) {
        /* step back one code point */
        size_t q = w - 1;
        while (q > start && ((unsigned char)s[q] & 0xC0) == 0x80)
            q--;
        uint32_t cp;
        ai_utf8_next(s + q, w - q, &cp);
        if (!(ai_is_word_cp(cp) || cp == '.')) break;
        w = q;
    }
    char word[16];
    size_t n = 0, letters = 0;
    for (size_t i = w; i < p; i++) {
        if (s[i] == '.') continue;
        letters++;
        if (n < sizeof word - 1)
            word[n++] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
    }
    word[n] = '\0';
    if (letters == 1 && !(word[0] >= '0' && word[0] <= '9')) return true; /* initial, U.S. */
    if (letters == 0 || letters >= sizeof word) return false;
    for (size_t i = 0; i < sizeof abbrevs / sizeof abbrevs[0]; i++)
        if (strcmp(word, abbrevs[i]) == 0) return true;
    return false;
}

static size_t count_tokens(const char *s, size_t b0, size_t b1)
{
    size_t t = 0, run = 0, i = b0;
    while (i < b1) {
        uint32_t cp;
        i += ai_utf8_next(s + i, b1 - i, &cp);
        if (ai_is_word_cp(cp) && !ai_is_ideograph(cp)) {
            run++;
            continue;
        }
        t += (run + 3) / 4;
        run = 0;
        if (!ai_is_space(cp)) t++;
    }
    return t + (run + 3) / 4;
}

static void push(pieces *ps, const char *s, cursor *k, size_t b0, size_t b1)
{
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? 2 * ps->cap : 64;
        ps->v = lh_realloc(ps->v, ps->cap * sizeof(piece));
    }
    piece *p = &ps->v[ps->n++];
    p->b0 = b0;
    p->c0 = cp_at(k, b0);
    p->b1 = b1;
    p->c1 = cp_at(k, b1);
    p->tokens = count_tokens(s, b0, b1);
}

static size_t units(const piece *p, lh_ai_chunk_unit u)
{
    return u == LH_AI_CHUNK_TOKENS ? p->tokens : p->c1 - p->c0;
}

/* Adds [b0, b1) (trimmed, non-empty) as pieces: whole if it fits, else by words, else by
 * slices of a word of at most `size` units. */
static void add_span(pieces *ps, const char *s, cursor *k, size_t b0, size_t b1,
                     const lh_ai_chunk_opts *o, bool by_words)
{
    piece probe = {.b0 = b0, .b1 = b1, .c0 = 0, .c1 = 0};
    cursor tmp = *k;
    probe.c0 = cp_at(&tmp, b0);
    probe.c1 = cp_at(&tmp, b1);
    probe.tokens = o->unit == LH_AI_CHUNK_TOKENS ? count_tokens(s, b0, b1) : 0;
    if (units(&probe, o->unit) <= o->size) {
        push(ps, s, k, b0, b1);
        return;
    }
    if (by_words) {
        size_t i = b0;
        while (i < b1) {
            uint32_t cp;
            size_t w0 = i;
            while (i < b1) {
                size_t l = ai_utf8_next(s + i, b1 - i, &cp);
                if (ai_is_space(cp)) break;
                i += l;
            }
            if (i > w0) add_span(ps, s, k, w0, i, o, false);
            while (i < b1) {
                size_t l = ai_utf8_next(s + i, b1 - i, &cp);
                if (!ai_is_space(cp)) break;
                i += l;
            }
        }
        return;
    }
    /* One word longer than a chunk: slices of whole code points. In tokens, a slice of 4*size
     * letters is about size tokens; ideographs and marks count one each. */
    size_t i = b0;
    while (i < b1) {
        size_t j = i, u = 0, run = 0;
        while (j < b1) {
            uint32_t cp;
            size_t l = ai_utf8_next(s + j, b1 - j, &cp);
            size_t add = 1;
            if (o->unit == LH_AI_CHUNK_TOKENS) {
                bool letter = ai_is_word_cp(cp) && !ai_is_ideograph(cp);
                add = letter ? (run % 4 == 0) : 1;
                run = letter ? run + 1 : 0;
            }
            if (u + add > o->size && j > i) break;
            u += add;
            j += l;
        }
        push(ps, s, k, i, j);
        i = j;
    }
}

/* Splits text into sentences and hands each to add_span. */
static void sentences(pieces *ps, const char *s, size_t n, const lh_ai_chunk_opts *o)
{
    cursor k = {.s = s};
    size_t i = 0, start = SIZE_MAX, last = 0; /* last: end of the last non-space code point */
    while (i < n) {
        uint32_t cp;
        size_t l = ai_utf8_next(s + i, n - i, &cp);
        if (ai_is_space(cp)) {
            /* a blank line ends a paragraph */
            if (cp == '\n' && start != SIZE_MAX) {
                size_t j = i + 1;
                uint32_t c2 = 0;
                while (j < n) {
                    size_t l2 = ai_utf8_next(s + j, n - j, &c2);
                    if (c2 == '\n' || !ai_is_space(c2)) break;
                    j += l2;
                }
                if (j < n && c2 == '\n') {
                    add_span(ps, s, &k, start, last, o, true);
                    start = SIZE_MAX;
                }
            }
            i += l;
            continue;
        }
        if (start == SIZE_MAX) start = i;
        i += l;
        last = i;
        if (!is_terminator(cp)) continue;
        bool cjk = cp >= 0x3000;
        bool dot = cp == '.';
        size_t dot_at = i - l;
        while (i < n) {
            uint32_t c2;
            size_t l2 = ai_utf8_next(s + i, n - i, &c2);
            if (!is_terminator(c2) && !is_closer(c2)) break;
            dot = dot && c2 != '!' && c2 != '?';
            i += l2;
            last = i;
        }
        bool boundary;
        if (i >= n || cjk) {
            boundary = true;
        } else {
            uint32_t next;
            ai_utf8_next(s + i, n - i, &next);
            if (!ai_is_space(next)) {
                boundary = false; /* 3.14, example.com, "a.b" */
            } else {
                size_t j = i;
                uint32_t r = 0;
                while (j < n) {
                    j += ai_utf8_next(s + j, n - j, &r);
                    if (!ai_is_space(r)) break;
                }
                boundary = !is_lower(r) && !(dot && abbreviation_before(s, start, dot_at));
            }
        }
        if (boundary) {
            add_span(ps, s, &k, start, last, o, true);
            start = SIZE_MAX;
        }
    }
    if (start != SIZE_MAX) add_span(ps, s, &k, start, last, o, true);
}

/* A chunk under construction: a head (a whole piece or the tail of one, carried over as
 * overlap) followed by the whole pieces [first, last]. */
typedef struct packer {
    const piece *v;
    const size_t *tp; /* token prefix sums over v */
    lh_ai_chunk_unit unit;
    piece head;
    size_t first;
} packer;

/* Units of the head plus pieces [first, j] (j = first - 1: the head alone). */
static size_t with(const packer *p, size_t j)
{
    if (j + 1 == p->first) return units(&p->head, p->unit);
    if (p->unit == LH_AI_CHUNK_TOKENS) return p->head.tokens + p->tp[j + 1] - p->tp[p->first];
    return p->v[j].c1 - p->head.c0;
}

/* Units of whole pieces [a, b]. */
static size_t span(const packer *p, size_t a, size_t b)
{
    if (p->unit == LH_AI_CHUNK_TOKENS) return p->tp[b + 1] - p->tp[a];
    return p->v[b].c1 - p->v[a].c0;
}

/* The longest tail of `last` starting at a word that fits the overlap and, followed by piece
 * `next`, still fits a chunk. Returns false if there is none. */
static bool tail_overlap(const char *s, const piece *last, const piece *next,
                         const lh_ai_chunk_opts *o, piece *out)
{
    cursor k = {.s = s, .b = last->b0, .c = last->c0};
    size_t i = last->b0;
    bool space = false;
    while (i < last->b1) {
        uint32_t cp;
        size_t l = ai_utf8_next(s + i, last->b1 - i, &cp);
        bool sp = ai_is_space(cp);
        if (space && !sp) {
            piece t = {.b0 = i, .b1 = last->b1, .c0 = cp_at(&k, i), .c1 = last->c1};
            t.tokens = o->unit == LH_AI_CHUNK_TOKENS ? count_tokens(s, i, last->b1) : 0;
            size_t tu = units(&t, o->unit);
            size_t both = o->unit == LH_AI_CHUNK_TOKENS ? tu + next->tokens : next->c1 - t.c0;
            if (tu <= o->overlap && both <= o->size) {
                *out = t;
                return true;
            }
        }
        space = sp;
        i += l;
    }
    return false;
}

int lh_ai_chunk_text(const char *text, size_t len, const lh_ai_chunk_opts *opts, lh_ai_chunk **out,
                     size_t *n_out, lh_error *err)
{
    *out = NULL;
    *n_out = 0;
    lh_ai_chunk_opts o = opts ? *opts : (lh_ai_chunk_opts){1000, 150, LH_AI_CHUNK_CHARS};
    if (o.unit != LH_AI_CHUNK_CHARS && o.unit != LH_AI_CHUNK_TOKENS)
        return lh_error_set(err, LH_EINVAL, "chunk: unknown unit %d", (int)o.unit);
    if (o.size < 8)
        return lh_error_set(err, LH_EINVAL, "chunk: size %zu is too small (at least 8)", o.size);
    if (o.overlap * 2 >= o.size)
        return lh_error_set(err, LH_EINVAL,
                            "chunk: overlap %zu must be less than half the size %zu", o.overlap,
                            o.size);
    if (!text && len) return lh_error_set(err, LH_EINVAL, "chunk: text is NULL");
    size_t bad;
    if (len && !lh_utf8_valid(text, len, &bad))
        return lh_error_set(err, LH_EINVAL, "chunk: text is not valid UTF-8 (byte %zu)", bad);
    pieces ps = {0};
    sentences(&ps, text, len, &o);
    if (ps.n == 0) return LH_OK;
    size_t *tp = lh_malloc((ps.n + 1) * sizeof(size_t));
    tp[0] = 0;
    for (size_t i = 0; i < ps.n; i++)
        tp[i + 1] = tp[i] + ps.v[i].tokens;
    lh_ai_chunk *res = NULL;
    size_t nres = 0, cap = 0;
    packer p = {.v = ps.v, .tp = tp, .unit = o.unit, .head = ps.v[0], .first = 1};
    for (;;) {
        size_t b = p.first - 1; /* every piece fits a chunk alone */
        while (b + 1 < ps.n && with(&p, b + 1) <= o.size)
            b++;
        const piece *last = b + 1 == p.first ? &p.head : &ps.v[b];
        if (nres == cap) {
            cap = cap ? 2 * cap : 16;
            res = lh_realloc(res, cap * sizeof *res);
        }
        res[nres++] = (lh_ai_chunk){.start = p.head.b0,
                                    .end = last->b1,
                                    .char_start = p.head.c0,
                                    .char_end = last->c1,
                                    .units = with(&p, b)};
        if (b + 1 >= ps.n) break;
        /* Overlap: the trailing whole pieces that fit in it, else the tail of the last piece
         * from a word on, else none. */
        size_t k = b + 1;
        while (o.overlap && k > p.first && span(&p, k - 1, b) <= o.overlap &&
               span(&p, k - 1, b + 1) <= o.size)
            k--;
        piece t;
        if (k <= b) {
            p.head = ps.v[k];
            p.first = k + 1;
        } else if (o.overlap && tail_overlap(text, last, &ps.v[b + 1], &o, &t)) {
            p.head = t;
            p.first = b + 1;
        } else {
            p.head = ps.v[b + 1];
            p.first = b + 2;
        }
    }
    free(tp);
    free(ps.v);
    *out = res;
    *n_out = nres;
    return LH_OK;
}
