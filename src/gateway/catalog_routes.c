/* GET /health, GET /catalog/datasets[/{name}], GET /openapi.json. */
#include "gateway/gateway_int.h"

#include "core/duckdb_capi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *time_json(int64_t us)
{
    char buf[40];
    lh_time_format(us, buf, sizeof buf);
    return json_string(buf);
}

void gw_handle_health(gw_req *r)
{
    lh_gateway *g = r->g;
    lh_error err = {0};
    char **names = NULL;
    size_t n = 0;
    json_t *datasets;
    if (lh_catalog_list(g->deps.catalog, &r->who, &names, &n, &err) == LH_OK) {
        datasets = json_integer((json_int_t)n);
        lh_catalog_names_free(names, n);
    } else {
        /* Health still answers when the catalog cannot be listed; it says why. */
        datasets = json_null();
        lh_log(LH_LOG_WARN, "health_catalog_failed", "msg", err.msg, (const char *)NULL);
    }
    json_t *body = json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:I}", "status", err.code ? "degraded" : "ok", "version",
        LH_VERSION, "duckdb", duckdb_library_version(), "storage",
        g->deps.storage ? lh_storage_backend(g->deps.storage) : "unknown", "datasets", datasets,
        "uptime_s", (json_int_t)((lh_now_ns() - g->started_ns) / 1000000000ull));
    if (err.code) json_object_set_new(body, "error", json_string(err.msg));
    if (g->deps.storage) {
        json_object_set_new(body, "bucket", json_string(lh_storage_bucket(g->deps.storage)));
        json_object_set_new(body, "buckets", gw_bucket_names_json(g->deps.storage));
    }
    gw_send_json(r, 200, body);
}

void gw_handle_datasets_list(gw_req *r)
{
    lh_gateway *g = r->g;
    lh_error err = {0};
    char **names = NULL;
    size_t n = 0;
    if (lh_catalog_list(g->deps.catalog, &r->who, &names, &n, &err) != LH_OK) {
        gw_send_lh_error(r, &err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        lh_manifest *m = NULL;
        lh_error_clear(&err);
        if (lh_catalog_get(g->deps.catalog, &r->who, names[i], 0, &m, &err) != LH_OK) {
            /* A dataset removed between list and get is simply skipped; anything else is
             * reported in place so one bad manifest does not hide the others. */
            if (err.code != LH_ENOENT)
                json_array_append_new(arr, json_pack("{s:s, s:{s:s, s:s}}", "name", names[i],
                                                     "error", "code", lh_error_name(err.code),
                                                     "message", err.msg));
            continue;
        }
        json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I, s:I, s:o}", "name", m->dataset,
                                             "version", (json_int_t)m->version, "rows",
                                             (json_int_t)m->rows, "bytes", (json_int_t)m->bytes,
                                             "columns", (json_int_t)m->ncolumns, "updated_at",
                                             time_json(m->updated_us)));
        lh_manifest_free(m);
    }
    lh_catalog_names_free(names, n);
    gw_send_json(r, 200, json_pack("{s:o}", "datasets", arr));
}

void gw_handle_dataset_get(gw_req *r)
{
    lh_gateway *g = r->g;
    lh_error err = {0};
    const char *name = r->params[0];
    if (!lh_name_valid(name, &err)) {
        char msg[LH_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof msg, "invalid dataset name: %s", err.msg);
        gw_send_error(r, 400, LH_EINVAL, msg, json_pack("{s:s}", "name", name));
        return;
    }
    int64_t version = 0;
    const char *vs = gw_kv_get(r->args, r->nargs, "version");
    if (vs) {
        if (gw_parse_int64(vs, &version, &err) != LH_OK || version < 1) {
            gw_send_error(r, 400, LH_EINVAL, "query parameter 'version' must be a positive integer",
                          json_pack("{s:s}", "version", vs));
            return;
        }
    }
    lh_manifest *m = NULL;
    if (lh_catalog_get(g->deps.catalog, &r->who, name, version, &m, &err) != LH_OK) {
        gw_send_lh_error(r, &err);
        return;
    }
    int64_t *versions = NULL;
    size_t nv = 0;
    lh_error_clear(&err);
    if (lh_catalog_versions(g->deps.catalog, &r->who, name, &versions, &nv, &err) != LH_OK) {
        lh_manifest_free(m);
        gw_send_lh_error(r, &err);
        return;
    }
    json_t *body = lh_manifest_to_json(m);
    json_t *jv = json_array();
    for (size_t i = 0; i < nv; i++)
        json_array_append_new(jv, json_integer((json_int_t)versions[i]));
    json_object_set_new(body, "versions", jv);
    json_object_set_new(body, "latest_version",
                        json_integer(nv ? (json_int_t)versions[nv - 1] : (json_int_t)m->version));
    free(versions);
    lh_manifest_free(m);
    gw_send_json(r, 200, body);
}

void gw_handle_openapi(gw_req *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        gw_openapi_len(), (void *)gw_openapi_json, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    gw_send_response(r, 200, resp, gw_openapi_len());
}
