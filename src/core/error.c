/* Error reports: codes, messages, names and the HTTP status that fits each code. */
#include "core/core.h"

#include <stdio.h>
#include <string.h>

const lh_identity lh_identity_default = {"default", "cli"};

int lh_error_set(lh_error *err, int code, const char *fmt, ...)
{
    if (!err) return code;
    /* Format into a scratch buffer first: callers may pass err->msg as an argument. */
    char tmp[LH_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    err->code = code;
    memcpy(err->msg, tmp, sizeof tmp);
    return code;
}

/* Prepends the formatted prefix to err's message. */
static void prefix_v(lh_error *err, const char *fmt, va_list ap)
{
    char prefix[LH_ERROR_MSG_MAX];
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    char tmp[2 * LH_ERROR_MSG_MAX + 2];
    if (err->msg[0])
        snprintf(tmp, sizeof tmp, "%s: %s", prefix, err->msg);
    else
        snprintf(tmp, sizeof tmp, "%s", prefix);
    size_t len = strnlen(tmp, sizeof err->msg - 1);
    memcpy(err->msg, tmp, len);
    err->msg[len] = '\0';
}

int lh_error_prefix(lh_error *err, const char *fmt, ...)
{
    if (!err) return LH_OK;
    va_list ap;
    va_start(ap, fmt);
    prefix_v(err, fmt, ap);
    va_end(ap);
    return err->code;
}

int lh_error_wrap(lh_error *err, int rc, const char *fmt, ...)
{
    if (!err) return rc;
    va_list ap;
    va_start(ap, fmt);
    prefix_v(err, fmt, ap);
    va_end(ap);
    if (err->code == LH_OK) err->code = rc;
    return rc;
}

void lh_error_clear(lh_error *err)
{
    if (!err) return;
    err->code = LH_OK;
    err->msg[0] = '\0';
}

const char *lh_error_name(int code)
{
    switch (code) {
    case LH_OK:
        return "ok";
    case LH_EINVAL:
        return "invalid_input";
    case LH_ENOENT:
        return "not_found";
    case LH_EEXIST:
        return "already_exists";
    case LH_EIO:
        return "io_error";
    case LH_ENOMEM:
        return "out_of_memory";
    case LH_ECONFLICT:
        return "conflict";
    case LH_ECORRUPT:
        return "corrupt";
    case LH_ETIMEOUT:
        return "timeout";
    case LH_EDENIED:
        return "denied";
    case LH_ETOOBIG:
        return "too_large";
    case LH_EUNSUPPORTED:
        return "unsupported";
    case LH_EINTERNAL:
        return "internal";
    case LH_ECANCELED:
        return "canceled";
    case LH_EUNAVAIL:
        return "unavailable";
    default:
        return "unknown";
    }
}

int lh_error_http_status(int code)
{
    switch (code) {
    case LH_OK:
        return 200;
    case LH_EINVAL:
        return 400;
    case LH_ENOENT:
        return 404;
    case LH_EEXIST:
    case LH_ECONFLICT:
        return 409;
    case LH_ETIMEOUT:
        return 504;
    case LH_EDENIED:
        return 403;
    case LH_ETOOBIG:
        return 413;
    case LH_EUNSUPPORTED:
        return 422;
    case LH_ENOMEM:
    case LH_EUNAVAIL:
        return 503;
    case LH_EIO:
    case LH_ECORRUPT:
    case LH_EINTERNAL:
    case LH_ECANCELED:
    default:
        return 500;
    }
}
