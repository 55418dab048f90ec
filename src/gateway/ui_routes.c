/* The web UI's static files: GET / (index.html) and GET /assets/{file}.
 *
 * The UI is a folder of files built by Vite at build time (web/ in the source tree, <build>/web
 * after `make`); nothing runs here but file reads. Asset names are checked against a strict
 * alphabet before any file is opened, so no request can name a path outside the folder: the
 * router already refuses '.', '..' and empty segments in the raw path, and the decoded name
 * may not hold '/', a leading '.', or any byte outside [A-Za-z0-9._-]. The last component is
 * opened with O_NOFOLLOW, so a symlink planted in assets/ is not followed either.
 */
#include "gateway/gateway_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define UI_NAME_MAX 200

/* Vite names each bundle "<name>-<8-char hash>.<ext>", so such a name never changes meaning:
 * cache it for a year. Everything else (index.html, which names the current hashes, and
 * files copied as they are) is revalidated each time. */
#define UI_CACHE_HASHED "public, max-age=31536000, immutable"
#define UI_CACHE_REVALIDATE "no-cache"
#define UI_HASH_LEN 8
/* CodeMirror and uPlot set inline styles; scripts come only from this origin. */
#define UI_CSP                                                                                     \
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' "     \
    "data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action "       \
    "'none'"

/* [A-Za-z0-9_-]: the base64url alphabet of bundle hashes, and (with '.') of asset names. */
static bool name_char(char ch)
{
    unsigned char c = (unsigned char)ch;
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

int gw_ui_asset_name_check(const char *name, lh_error *err)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0) return lh_error_set(err, LH_EINVAL, "asset name is empty");
    if (n > UI_NAME_MAX)
        return lh_error_set(err, LH_EINVAL, "asset name is longer than %d bytes", UI_NAME_MAX);
    if (name[0] == '.')
        return lh_error_set(err, LH_EINVAL, "asset name '%.*s' starts with '.'", UI_NAME_MAX, name);
    for (size_t i = 0; i < n; i++) {
        if (!name_char(name[i]) && name[i] != '.')
            return lh_error_set(err, LH_EINVAL,
                                "asset name has a character outside [A-Za-z0-9._-] at byte %zu", i);
    }
    return LH_OK;
}

bool gw_ui_name_is_hashed(const char *name)
{
    const char *dot = name ? strrchr(name, '.') : NULL;
    if (!dot || dot - name < UI_HASH_LEN + 2) return false;
    const char *hash = dot - UI_HASH_LEN;
    if (hash[-1] != '-') return false;
    for (const char *p = hash; p < dot; p++)
        if (!name_char(*p)) return false;
    return true;
}

const char *gw_content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = name ? strrchr(name, '.') : NULL;
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcmp(dot, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}

char *gw_ui_dir_default(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return lh_strdup("web");
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    return lh_path_join(exe[0] ? exe : "/", "web");
}

/* Sends the regular file rel (inside the UI folder) or a 404 naming what is missing. */
static void send_file(gw_req *r, const char *rel, const char *name, bool is_index)
{
    const char *root = r->g->ui_dir;
    char *path = lh_path_join(root, rel);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        if (fd >= 0) close(fd);
        char msg[PATH_MAX + 300];
        if (is_index)
            snprintf(msg, sizeof msg,
                     "the web UI is not installed: cannot open '%s' (%s); build it with `make`, "
                     "or point ui_dir (LAKEHOUSE_UI_DIR) at a built web folder",
                     path, fd < 0 ? strerror(e) : "not a regular file");
        else
            snprintf(msg, sizeof msg, "no asset named '%s' in the web UI", name);
        free(path);
        gw_send_error(r, 404, LH_ENOENT, msg, NULL);
        return;
    }
    free(path);
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        gw_send_error(r, 500, LH_EINTERNAL, "cannot create the file response", NULL);
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, gw_content_type(name));
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                            !is_index && gw_ui_name_is_hashed(name) ? UI_CACHE_HASHED
                                                                    : UI_CACHE_REVALIDATE);
    if (is_index) {
        MHD_add_response_header(resp, "Content-Security-Policy", UI_CSP);
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    }
    gw_send_response(r, 200, resp, (uint64_t)st.st_size);
}

void gw_handle_ui_index(gw_req *r)
{
    send_file(r, "index.html", "index.html", true);
}

void gw_handle_ui_asset(gw_req *r)
{
    lh_error err = {0};
    const char *name = r->params[0];
    if (gw_ui_asset_name_check(name, &err) != LH_OK) {
        gw_send_error(r, 400, LH_EINVAL, err.msg, NULL);
        return;
    }
    char *rel = lh_sprintf("assets/%s", name);
    send_file(r, rel, name, false);
    free(rel);
}
