/* Pure request helpers: percent decoding, query strings, booleans, type overrides,
 * listen addresses and the ingest-folder path check. No MHD state here. */
#include "gateway/gateway_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int gw_percent_decode(const char *s, size_t n, bool plus_space, char **out, lh_error *err)
{
    char *d = lh_malloc(n + 1);
    size_t j = 0;
    *out = NULL;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(d);
                return lh_error_set(err, LH_EINVAL, "bad percent-escape at offset %zu of '%.*s'", i,
                                    (int)(n > 200 ? 200 : n), s);
            }
            int v = hi * 16 + lo;
            if (v == 0) {
                free(d);
                return lh_error_set(err, LH_EINVAL, "encoded NUL (%%00) at offset %zu", i);
            }
            d[j++] = (char)v;
            i += 2;
        } else if (c == '+' && plus_space) {
            d[j++] = ' ';
        } else {
            d[j++] = c;
        }
    }
    d[j] = '\0';
    size_t bad = 0;
    if (!lh_utf8_valid(d, j, &bad)) {
        free(d);
        return lh_error_set(err, LH_EINVAL, "'%.*s' is not valid UTF-8 once decoded (byte %zu)",
                            (int)(n > 200 ? 200 : n), s, bad);
    }
    *out = d;
    return LH_OK;
}

json_t *gw_json_text(const char *s)
{
    if (!s) return json_string("");
    size_t n = strlen(s);
    if (lh_utf8_valid(s, n, NULL)) return json_stringn(s, n);
    /* Replace each byte that does not start a valid sequence; echoed user input (a raw path,
     * a header) must not make the error itself unencodable. */
    lh_buf b = {0};
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        if (len && i + len <= n && lh_utf8_valid(s + i, len, NULL)) {
            lh_buf_append(&b, s + i, len);
            i += len;
        } else {
            lh_buf_puts(&b, "\xef\xbf\xbd");
            i++;
        }
    }
    json_t *j = json_stringn(b.data ? b.data : "", b.len);
    lh_buf_free(&b);
    return j;
}

void gw_kv_free(gw_kv *kv, size_t count)
{
    if (!kv) return;
    for (size_t i = 0; i < count; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

const char *gw_kv_get(const gw_kv *kv, size_t count, const char *key)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(kv[i].key, key) == 0) return kv[i].value;
    return NULL;
}

int gw_query_parse(const char *qs, gw_kv **out, size_t *count, lh_error *err)
{
    gw_kv *kv = NULL;
    size_t n = 0;
    int rc = LH_OK;
    *out = NULL;
    *count = 0;
    const char *p = qs;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t klen = eq ? (size_t)(eq - p) : len;
            char *k = NULL, *v = NULL;
            rc = gw_percent_decode(p, klen, true, &k, err);
            if (rc != LH_OK) goto fail;
            if (eq)
                rc = gw_percent_decode(eq + 1, len - klen - 1, true, &v, err);
            else
                v = lh_strdup("");
            if (rc != LH_OK) {
                free(k);
                goto fail;
            }
            if (gw_kv_get(kv, n, k)) {
                rc =
                    lh_error_set(err, LH_EINVAL, "query parameter '%s' is given more than once", k);
                free(k);
                free(v);
                goto fail;
            }
            kv = lh_realloc(kv, (n + 1) * sizeof *kv);
            kv[n].key = k;
            kv[n].value = v;
            n++;
        }
        p = amp ? amp + 1 : NULL;
    }
    *out = kv;
    *count = n;
    return LH_OK;
fail:
    gw_kv_free(kv, n);
    return rc;
}

int gw_parse_bool(const char *s, bool *out, lh_error *err)
{
    static const char *yes[] = {"", "1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (strcasecmp(s, yes[i]) == 0) return *out = true, LH_OK;
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (strcasecmp(s, no[i]) == 0) return *out = false, LH_OK;
    return lh_error_set(err, LH_EINVAL, "expected true or false, got '%s'", s);
}

int gw_parse_int64(const char *s, int64_t *out, lh_error *err)
{
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return lh_error_set(err, LH_EINVAL, "expected a non-negative integer, got '%s'",
                            s ? s : "");
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return lh_error_set(err, LH_EINVAL, "expected a non-negative integer, got '%s'", s);
    *out = v;
    return LH_OK;
}

void gw_strv_free(char **v)
{
    if (!v) return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

int gw_types_parse(const char *spec, char ***out, lh_error *err)
{
    *out = NULL;
    if (!spec || !*spec) return LH_OK;
    char **v = NULL;
    size_t n = 0;
    const char *p = spec;
    while (p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        if (!colon) colon = memchr(p, '=', len);
        if (!colon || colon == p || colon == p + len - 1) {
            gw_strv_free(v);
            return lh_error_set(err, LH_EINVAL,
                                "types: expected 'column:TYPE' entries separated by commas, "
                                "got '%.*s'",
                                (int)len, p);
        }
        v = lh_realloc(v, (n + 2) * sizeof *v);
        v[n++] =
            lh_sprintf("%.*s=%.*s", (int)(colon - p), p, (int)(p + len - colon - 1), colon + 1);
        v[n] = NULL;
        p = comma ? comma + 1 : NULL;
    }
    *out = v;
    return LH_OK;
}

int gw_listen_parse(const char *listen, char **host, int *port, lh_error *err)
{
    *host = NULL;
    if (!listen || !*listen)
        return lh_error_set(err, LH_EINVAL, "listen address is empty (expected host:port)");
    const char *colon;
    const char *hs = listen;
    size_t hl;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return lh_error_set(err, LH_EINVAL, "listen address '%s': expected [ipv6]:port",
                                listen);
        hs = listen + 1;
        hl = (size_t)(close - hs);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon)
            return lh_error_set(err, LH_EINVAL, "listen address '%s': expected host:port", listen);
        hl = (size_t)(colon - listen);
    }
    int64_t p = 0;
    if (gw_parse_int64(colon + 1, &p, NULL) != LH_OK || p > 65535)
        return lh_error_set(err, LH_EINVAL, "listen address '%s': port must be 0-65535", listen);
    *host = hl ? lh_strndup(hs, hl) : lh_strdup("0.0.0.0");
    *port = (int)p;
    return LH_OK;
}

static bool has_dotdot(const char *path)
{
    const char *p = path;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') return true;
        if (!slash) break;
        p = slash + 1;
    }
    return false;
}

int gw_path_inside(const char *root, const char *path, char **resolved, lh_error *err)
{
    char *full = NULL, *real_root = NULL, *real = NULL;
    int rc = LH_OK;
    *resolved = NULL;
    if (!root)
        return lh_error_set(err, LH_EDENIED,
                            "ingest from server paths is disabled (no ingest_dir configured)");
    if (!path || !*path) return lh_error_set(err, LH_EINVAL, "path is empty");
    if (has_dotdot(path)) {
        rc = lh_error_set(err, LH_EDENIED,
                          "path '%s' contains '..'; only files inside the ingest folder '%s' "
                          "may be ingested",
                          path, root);
        goto fail;
    }
    real_root = realpath(root, NULL);
    if (!real_root) {
        rc = lh_error_set(err, LH_EDENIED, "the ingest folder '%s' does not exist", root);
        goto fail;
    }
    full = path[0] == '/' ? lh_strdup(path) : lh_path_join(real_root, path);
    real = realpath(full, NULL);
    size_t rl = strlen(real_root);
    if (!real) {
        /* A missing file: say "not found" only when its folder is inside the ingest folder,
         * so probing paths outside it reveals nothing about them. */
        char *slash = strrchr(full, '/');
        char *dir = lh_strndup(full, slash && slash != full ? (size_t)(slash - full) : 1);
        char *real_dir = realpath(dir, NULL);
        bool inside = real_dir && strncmp(real_dir, real_root, rl) == 0 &&
                      (real_dir[rl] == '/' || real_dir[rl] == '\0');
        free(dir);
        free(real_dir);
        if (inside)
            rc = lh_error_set(err, LH_ENOENT, "file '%s' not found in the ingest folder '%s'", path,
                              real_root);
        else
            rc = lh_error_set(err, LH_EDENIED, "path '%s' is outside the ingest folder '%s'", path,
                              real_root);
        goto fail;
    }
    if (!(strncmp(real, real_root, rl) == 0 && real[rl] == '/' && real[rl + 1] != '\0')) {
        rc = lh_error_set(err, LH_EDENIED,
                          "path '%s' resolves to '%s', outside the ingest folder '%s'", path, real,
                          real_root);
        goto fail;
    }
    struct stat st;
    if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = lh_error_set(err, LH_EDENIED, "path '%s' is not a regular file", path);
        goto fail;
    }
    *resolved = real;
    real = NULL;
fail:
    free(full);
    free(real_root);
    free(real);
    return rc;
}
