/* UTF-8 validation, name validation and JSON string escaping. */
#include "core/core.h"

#include <string.h>

/* Decodes one UTF-8 sequence at s (n bytes available). Returns its length (1-4) and the
 * code point in *cp, or 0 if the bytes are not well-formed UTF-8 (overlong forms,
 * surrogates, code points above U+10FFFF and truncated sequences are all rejected). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

bool lh_utf8_valid(const char *s, size_t n, size_t *bad_offset)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t len = utf8_decode(p + i, n - i, &cp);
        if (!len) {
            if (bad_offset) *bad_offset = i;
            return false;
        }
        i += len;
    }
    return true;
}

#define NAME_MAX_LEN 128

bool lh_name_valid(const char *name, lh_error *err)
{
    if (!name || !name[0]) {
        lh_error_set(err, LH_EINVAL, "name is empty (use 1-128 characters of a-z, 0-9, _)");
        return false;
    }
    size_t len = strlen(name);
    if (len > NAME_MAX_LEN) {
        lh_error_set(err, LH_EINVAL, "name '%.32s...' is %zu characters long; at most %d allowed",
                     name, len, NAME_MAX_LEN);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        bool ok = (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
        if (ok) continue;
        if (c >= '0' && c <= '9') {
            lh_error_set(err, LH_EINVAL,
                         "name '%s' starts with a digit; it must start with a-z or _", name);
        } else if (c >= 'A' && c <= 'Z') {
            lh_error_set(err, LH_EINVAL,
                         "name '%s': uppercase '%c' at position %zu; names are lowercase "
                         "(a-z, 0-9, _)",
                         name, c, i + 1);
        } else if (c > 0x20 && c < 0x7F) {
            lh_error_set(err, LH_EINVAL,
                         "name '%s': character '%c' at position %zu is not allowed "
                         "(use a-z, 0-9, _)",
                         name, c, i + 1);
        } else {
            lh_error_set(err, LH_EINVAL,
                         "name: byte 0x%02X at position %zu is not allowed (use a-z, 0-9, _)", c,
                         i + 1);
        }
        return false;
    }
    return true;
}

void lh_buf_json_str(lh_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (!s) {
        lh_buf_puts(b, "null");
        return;
    }
    const unsigned char *p = (const unsigned char *)s;
    lh_buf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        /* Copy the longest run that needs no escaping in one append. */
        size_t run = i;
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            lh_buf_append(b, p + i, run - i);
            i = run;
            if (i >= n) break;
        }
        unsigned char c = p[i];
        if (c < 0x80) {
            char esc[7];
            switch (c) {
            case '"':
                lh_buf_puts(b, "\\\"");
                break;
            case '\\':
                lh_buf_puts(b, "\\\\");
                break;
            case '\n':
                lh_buf_puts(b, "\\n");
                break;
            case '\r':
                lh_buf_puts(b, "\\r");
                break;
            case '\t':
                lh_buf_puts(b, "\\t");
                break;
            case '\b':
                lh_buf_puts(b, "\\b");
                break;
            case '\f':
                lh_buf_puts(b, "\\f");
                break;
            default:
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                lh_buf_append(b, esc, 6);
                break;
            }
            i++;
            continue;
        }
        uint32_t cp;
        size_t len = utf8_decode(p + i, n - i, &cp);
        if (!len) {
            lh_buf_append(b, "\xEF\xBF\xBD", 3); /* U+FFFD for each bad byte */
            i++;
        } else if (cp == 0x2028 || cp == 0x2029) {
            /* Valid JSON, but not valid inside JavaScript string literals: escape. */
            lh_buf_puts(b, cp == 0x2028 ? "\\u2028" : "\\u2029");
            i += len;
        } else {
            lh_buf_append(b, p + i, len);
            i += len;
        }
    }
    lh_buf_putc(b, '"');
}
