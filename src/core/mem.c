/* Allocation wrappers (abort on exhaustion, the documented exception) and lh_buf. */
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void oom(size_t n)
{
    /* No allocation here: write(2) a fixed message, then abort. */
    char msg[96];
    int len = snprintf(msg, sizeof msg, "lakehouse: out of memory allocating %zu bytes\n", n);
    if (len > 0) {
        ssize_t w = write(STDERR_FILENO, msg, (size_t)len);
        (void)w;
    }
    abort();
}

void *lh_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *lh_calloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (!p) oom(count * n);
    return p;
}

void *lh_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *lh_strdup(const char *s)
{
    return lh_strndup(s, strlen(s));
}

char *lh_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = lh_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *lh_sprintf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0) len = 0;
    char *p = lh_malloc((size_t)len + 1);
    vsnprintf(p, (size_t)len + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

/* Ensures room for extra more bytes plus the terminating NUL. */
static void buf_reserve(lh_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need < b->len) oom(SIZE_MAX);
    if (b->data && need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap * 2 > cap ? cap * 2 : need;
    b->data = lh_realloc(b->data, cap);
    b->cap = cap;
}

void lh_buf_append(lh_buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void lh_buf_puts(lh_buf *b, const char *s)
{
    lh_buf_append(b, s, strlen(s));
}

void lh_buf_putc(lh_buf *b, char c)
{
    buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void lh_buf_printf(lh_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    va_list ap2;
    va_copy(ap2, ap);
    int len = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (len < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)len < sizeof small) {
        lh_buf_append(b, small, (size_t)len);
    } else {
        buf_reserve(b, (size_t)len);
        vsnprintf(b->data + b->len, (size_t)len + 1, fmt, ap2);
        b->len += (size_t)len;
    }
    va_end(ap2);
}

void lh_buf_reset(lh_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void lh_buf_free(lh_buf *b)
{
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

char *lh_buf_steal(lh_buf *b)
{
    char *p = b->data ? b->data : lh_strdup("");
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
