/* Logging: one line per event to stderr, key=value text or JSON lines. */
#define _GNU_SOURCE
#include "core/core.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static lh_log_level log_level = LH_LOG_INFO; /* guarded by log_mu (read racily is fine) */
static bool log_json = false;                /* guarded by log_mu */

static const char *level_names[] = {"debug", "info", "warn", "error", "off"};

void lh_log_setup(lh_log_level level, bool json)
{
    pthread_mutex_lock(&log_mu);
    __atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
    log_json = json;
    pthread_mutex_unlock(&log_mu);
}

int lh_log_level_parse(const char *s, lh_log_level *out)
{
    if (!s) return LH_EINVAL;
    for (int i = 0; i <= LH_LOG_OFF; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (lh_log_level)i;
            return LH_OK;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = LH_LOG_WARN;
        return LH_OK;
    }
    return LH_EINVAL;
}

/* True if a text-format value must be quoted to stay one unambiguous token. */
static bool needs_quotes(const char *v)
{
    if (!*v) return true;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7F) return true;
    return false;
}

static void text_value(lh_buf *b, const char *v)
{
    if (!needs_quotes(v)) {
        lh_buf_puts(b, v);
        return;
    }
    /* JSON string escaping doubles as a safe quoting scheme: no newlines survive. */
    lh_buf_json_str(b, v, strlen(v));
}

static void emit(lh_log_level level, const char *event, va_list ap)
{
    if (level < LH_LOG_DEBUG || level >= LH_LOG_OFF) return;
    if (level < __atomic_load_n(&log_level, __ATOMIC_RELAXED)) return;
    char ts[40];
    lh_time_format(lh_wall_us(), ts, sizeof ts);
    pthread_mutex_lock(&log_mu);
    bool json = log_json;
    pthread_mutex_unlock(&log_mu);

    lh_buf b = {0};
    if (json) {
        lh_buf_puts(&b, "{\"ts\":\"");
        lh_buf_puts(&b, ts);
        lh_buf_puts(&b, "\",\"level\":\"");
        lh_buf_puts(&b, level_names[level]);
        lh_buf_puts(&b, "\",\"event\":");
        lh_buf_json_str(&b, event, strlen(event));
    } else {
        lh_buf_printf(&b, "%s %-5s ", ts, level_names[level]);
        lh_buf_puts(&b, event);
    }
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k) break;
        const char *v = va_arg(ap, const char *);
        if (json) {
            lh_buf_putc(&b, ',');
            lh_buf_json_str(&b, k, strlen(k));
            lh_buf_putc(&b, ':');
            if (v)
                lh_buf_json_str(&b, v, strlen(v));
            else
                lh_buf_puts(&b, "null");
        } else {
            lh_buf_putc(&b, ' ');
            lh_buf_puts(&b, k);
            lh_buf_putc(&b, '=');
            text_value(&b, v ? v : "");
        }
    }
    if (json) lh_buf_putc(&b, '}');
    lh_buf_putc(&b, '\n');
    /* One write(2) per line under the lock: lines from threads never interleave. */
    pthread_mutex_lock(&log_mu);
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = write(STDERR_FILENO, b.data + off, b.len - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    pthread_mutex_unlock(&log_mu);
    lh_buf_free(&b);
}

void lh_log(lh_log_level level, const char *event, ...)
{
    va_list ap;
    va_start(ap, event);
    emit(level, event, ap);
    va_end(ap);
}

void lh_logf(lh_log_level level, const char *fmt, ...)
{
    if (level < __atomic_load_n(&log_level, __ATOMIC_RELAXED)) return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) msg = NULL;
    va_end(ap);
    lh_log(level, "msg", "msg", msg ? msg : "(unformattable)", (const char *)NULL);
    free(msg);
}
