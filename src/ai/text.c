/* UTF-8 helpers of the ai module: decoding, a simple lowercase mapping, word tokens, n-grams. */
#include "ai/ai_int.h"

#include <string.h>

size_t ai_utf8_next(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char c = p[0];
    size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (len > n) len = 1;
    if (len == 1) {
        *cp = c;
        return 1;
    }
    uint32_t v = c & (0xFF >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *cp = c;
            return 1;
        }
        v = (v << 6) | (p[i] & 0x3F);
    }
    *cp = v;
    return len;
}

size_t ai_utf8_put(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

uint32_t ai_lower(uint32_t cp)
{
    if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;
    if (cp >= 0x100 && cp <= 0x137) return cp | 1;
    if (cp >= 0x139 && cp <= 0x148) return (cp & 1) ? cp + 1 : cp;
    if (cp >= 0x14A && cp <= 0x177) return cp | 1;
    if (cp == 0x178) return 0xFF;
    if (cp >= 0x179 && cp <= 0x17E) return (cp & 1) ? cp + 1 : cp;
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 32;
    if (cp == 0x386) return 0x3AC;
    if (cp >= 0x388 && cp <= 0x38A) return cp + 37;
    if (cp == 0x38C) return 0x3CC;
    if (cp == 0x38E || cp == 0x38F) return cp + 63;
    if (cp >= 0x410 && cp <= 0x42F) return cp + 32;
    if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
    if (cp >= 0x1E00 && cp <= 0x1EFF) return cp | 1;
    return cp;
}

bool ai_is_space(uint32_t cp)
{
    return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

bool ai_is_word_cp(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
    if (cp < 0xC0) return cp == 0xAA || cp == 0xB5 || cp == 0xBA; /* Latin-1 punctuation */
    if (cp == 0xD7 || cp == 0xF7) return false;                   /* × ÷ */
    if (cp >= 0x2000 && cp <= 0x2BFF) return false; /* punctuation, currency, arrows, math */
    if (cp >= 0x2E00 && cp <= 0x2E7F) return false; /* supplemental punctuation */
    if (cp >= 0x3000 && cp <= 0x303F) return false; /* CJK punctuation */
    if (cp >= 0xFE30 && cp <= 0xFE4F) return false; /* CJK compatibility forms */
    if (cp >= 0xFE50 && cp <= 0xFE6F) return false; /* small form variants */
    if (cp == 0xFEFF || (cp >= 0xFFF0 && cp <= 0xFFFF)) return false;
    if (cp >= 0xFF00 && cp <= 0xFF0F) return false; /* fullwidth punctuation */
    if (cp >= 0xFF1A && cp <= 0xFF20) return false;
    if (cp >= 0xFF3B && cp <= 0xFF40) return false;
    if (cp >= 0xFF5B && cp <= 0xFF65) return false;
    if (cp >= 0x1F000 && cp <= 0x1FAFF) return false; /* emoji and pictographs */
    if (cp >= 0xE000 && cp <= 0xF8FF) return false;   /* private use */
    return true;
}

bool ai_is_ideograph(uint32_t cp)
{
    return (cp >= 0x3040 && cp <= 0x30FF) || /* hiragana, katakana */
           (cp >= 0x3400 && cp <= 0x4DBF) || /* CJK extension A */
           (cp >= 0x4E00 && cp <= 0x9FFF) || /* CJK unified ideographs */
           (cp >= 0xF900 && cp <= 0xFAFF) || /* CJK compatibility ideographs */
           (cp >= 0x20000 && cp <= 0x2FFFF); /* CJK extensions B.. */
}

#define WORD_MAX 256

size_t ai_words(const char *text, size_t n, void (*fn)(const char *tok, size_t len, void *arg),
                void *arg)
{
    char tok[WORD_MAX + 4];
    size_t tl = 0, count = 0;
    size_t i = 0;
    while (i <= n) {
        uint32_t cp = 0;
        size_t l = 1;
        bool word = false, ideo = false;
        if (i < n) {
            l = ai_utf8_next(text + i, n - i, &cp);
            word = ai_is_word_cp(cp);
            ideo = word && cp >= 0x3040 && ai_is_ideograph(cp);
        }
        if ((!word || ideo) && tl > 0) {
            fn(tok, tl, arg);
            count++;
            tl = 0;
        }
        if (ideo) {
            tl = ai_utf8_put(cp, tok);
            fn(tok, tl, arg);
            count++;
            tl = 0;
        } else if (word && tl + 4 <= WORD_MAX) {
            tl += ai_utf8_put(ai_lower(cp), tok + tl);
        }
        i += l;
    }
    return count;
}

void ai_ngrams(const char *word, size_t len, int nmin, int nmax,
               void (*fn)(const char *g, size_t len, void *arg), void *arg)
{
    /* Byte offset of each code point boundary of "<word>" (at most 64 code points of word). */
    enum { MAXCP = 64 };
    char buf[1 + MAXCP * 4 + 1];
    size_t bound[MAXCP + 3];
    size_t nb = 0, bl = 0;
    bound[nb++] = 0;
    buf[bl++] = '<';
    bound[nb++] = bl;
    size_t i = 0;
    while (i < len && nb < MAXCP + 1) {
        uint32_t cp;
        size_t l = ai_utf8_next(word + i, len - i, &cp);
        memcpy(buf + bl, word + i, l);
        bl += l;
        bound[nb++] = bl;
        i += l;
    }
    buf[bl++] = '>';
    bound[nb++] = bl;
    size_t ncp = nb - 1; /* code points in buf */
    for (int g = nmin; g <= nmax; g++) {
        if ((size_t)g > ncp) break;
        for (size_t s = 0; s + (size_t)g <= ncp; s++)
            fn(buf + bound[s], bound[s + g] - bound[s], arg);
    }
}
