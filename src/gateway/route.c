/* The route table and path matching. Adding an endpoint is one entry here plus a handler. */
#include "gateway/gateway_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* HEAD is served by the GET handler (MHD drops the body); see route_method_matches. */
const gw_route gw_routes[] = {
    {"GET", "/health", GW_BODY_NONE, gw_handle_health},
    {"GET", "/openapi.json", GW_BODY_NONE, gw_handle_openapi},
    {"GET", "/catalog/datasets", GW_BODY_NONE, gw_handle_datasets_list},
    {"GET", "/catalog/datasets/{name}", GW_BODY_NONE, gw_handle_dataset_get},
    {"POST", "/sql", GW_BODY_JSON, gw_handle_sql},
    {"POST", "/ingest", GW_BODY_UPLOAD, gw_handle_ingest_upload},
    {"POST", "/ingest/file", GW_BODY_JSON, gw_handle_ingest_file},
    {"POST", "/vectors/search", GW_BODY_JSON, gw_handle_vector_search},
    {"GET", "/vectors/indexes", GW_BODY_NONE, gw_handle_vector_indexes},
    /* The web UI (ui_routes.c): static files. */
    {"GET", "/", GW_BODY_NONE, gw_handle_ui_index},
    {"GET", "/assets/{file}", GW_BODY_NONE, gw_handle_ui_asset},
    {"GET", "/storage/errors", GW_BODY_NONE, gw_handle_storage_errors},
    {"POST", "/search", GW_BODY_JSON, gw_handle_search},
    {"POST", "/rag", GW_BODY_JSON, gw_handle_rag},
    {"POST", "/ask", GW_BODY_JSON, gw_handle_ask},
    {"POST", "/jobs", GW_BODY_JSON, gw_handle_jobs_submit},
    {"GET", "/jobs", GW_BODY_NONE, gw_handle_jobs_list},
    {"GET", "/jobs/{id}", GW_BODY_NONE, gw_handle_job_get},
    {"POST", "/jobs/{id}/cancel", GW_BODY_NONE, gw_handle_job_cancel},
    {"POST", "/datasets/{name}/upsert", GW_BODY_UPLOAD, gw_handle_upsert},
    {"POST", "/datasets/{name}/delete", GW_BODY_UPLOAD, gw_handle_delete},
    {"POST", "/datasets/{name}/key", GW_BODY_JSON, gw_handle_set_key},
    {"GET", "/journal/{dataset}", GW_BODY_NONE, gw_handle_journal},
    {"GET", "/journal/{dataset}/{key}", GW_BODY_NONE, gw_handle_journal},
    {"GET", "/cache", GW_BODY_NONE, gw_handle_cache},
    {"POST", "/cache/pin", GW_BODY_JSON, gw_handle_cache_pin},
    {"POST", "/cache/unpin", GW_BODY_JSON, gw_handle_cache_unpin},
};
const size_t gw_nroutes = sizeof gw_routes / sizeof gw_routes[0];

static bool route_method_matches(const char *route_method, const char *method)
{
    if (strcmp(route_method, method) == 0) return true;
    return strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0;
}

/* Splits a raw path into raw segments (pointers into a copy). Returns the count or -1 if
 * there are more than max. The leading '/' is required; a trailing '/' is ignored. */
static int split_segments(char *copy, char **seg, int max)
{
    int n = 0;
    char *p = copy + 1;
    if (!*p) return 0;
    for (;;) {
        char *slash = strchr(p, '/');
        if (n >= max) return -1;
        seg[n++] = p;
        if (!slash) break;
        *slash = '\0';
        p = slash + 1;
        if (!*p) break; /* trailing slash */
    }
    return n;
}

#define MAX_SEGMENTS 16

/* Does the pattern match the raw segments? Fills decoded params on success. */
static int pattern_match(const char *pattern, char **seg, int nseg, char *params[GW_MAX_PARAMS],
                         size_t *nparams, bool *matched, lh_error *err)
{
    char *copy = lh_strdup(pattern);
    char *pseg[MAX_SEGMENTS];
    int np = split_segments(copy, pseg, MAX_SEGMENTS);
    int rc = LH_OK;
    *matched = false;
    *nparams = 0;
    if (np != nseg) goto done;
    for (int i = 0; i < np; i++) {
        bool is_param = pseg[i][0] == '{';
        if (is_param) {
            if (!seg[i][0] || *nparams >= GW_MAX_PARAMS) goto done;
            continue;
        }
        if (strcmp(pseg[i], seg[i]) != 0) goto done;
    }
    for (int i = 0; i < np; i++) {
        if (pseg[i][0] != '{') continue;
        char *v = NULL;
        rc = gw_percent_decode(seg[i], strlen(seg[i]), false, &v, err);
        if (rc != LH_OK) goto done;
        params[(*nparams)++] = v;
    }
    *matched = true;
done:
    if (rc != LH_OK || !*matched) {
        for (size_t i = 0; i < *nparams; i++) {
            free(params[i]);
            params[i] = NULL;
        }
        *nparams = 0;
    }
    free(copy);
    return rc;
}

int gw_route_find(const gw_route *table, size_t n, const char *method, const char *path,
                  const gw_route **out, char *params[GW_MAX_PARAMS], size_t *nparams,
                  char allow[GW_ALLOW_MAX], lh_error *err)
{
    *out = NULL;
    *nparams = 0;
    allow[0] = '\0';
    if (!path || path[0] != '/')
        return lh_error_set(err, LH_EINVAL, "request path must start with '/'");
    char *copy = lh_strdup(path);
    char *seg[MAX_SEGMENTS];
    int nseg = split_segments(copy, seg, MAX_SEGMENTS);
    int rc = LH_ENOENT;
    if (nseg < 0) {
        rc = lh_error_set(err, LH_ENOENT, "no route for %s", path);
        goto done;
    }
    for (int i = 0; i < nseg; i++) {
        if (seg[i][0] == '\0' || strcmp(seg[i], ".") == 0 || strcmp(seg[i], "..") == 0) {
            rc = lh_error_set(err, LH_EINVAL, "request path '%s' has an empty, '.' or '..' segment",
                              path);
            goto done;
        }
    }
    for (size_t i = 0; i < n; i++) {
        bool matched = false;
        char *tmp[GW_MAX_PARAMS] = {0};
        size_t ntmp = 0;
        int mrc = pattern_match(table[i].pattern, seg, nseg, tmp, &ntmp, &matched, err);
        if (mrc != LH_OK) {
            rc = mrc;
            goto done;
        }
        if (!matched) continue;
        if (route_method_matches(table[i].method, method) && !*out) {
            *out = &table[i];
            memcpy(params, tmp, sizeof tmp);
            *nparams = ntmp;
        } else {
            for (size_t k = 0; k < ntmp; k++)
                free(tmp[k]);
            if (!strstr(allow, table[i].method)) {
                size_t len = strlen(allow);
                snprintf(allow + len, GW_ALLOW_MAX - len, "%s%s", len ? ", " : "", table[i].method);
            }
        }
    }
    if (*out) {
        rc = LH_OK;
    } else if (allow[0]) {
        rc = lh_error_set(err, LH_EUNSUPPORTED, "method %s is not allowed on %s (allowed: %s)",
                          method, path, allow);
    } else {
        rc = lh_error_set(err, LH_ENOENT, "no route for %s %s", method, path);
    }
done:
    free(copy);
    return rc;
}
