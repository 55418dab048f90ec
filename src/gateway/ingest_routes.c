/* POST /ingest (raw or multipart upload, already on disk in a temp file) and
 * POST /ingest/file (a file inside cfg->ingest_dir). Both end in lh_ingest_file and, after
 * a commit, lh_query_refresh so the next query sees the new version. */
#include "gateway/gateway_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *upload_param(gw_req *r, const char *key);

/* Commits path for the request and answers: 201 created/appended, 200 no-op, else the error. */
static void run_ingest(gw_req *r, const char *path, const lh_ingest_opts *opts)
{
    lh_ingest_result res = {0};
    lh_error err = {0};
    pthread_mutex_lock(&gw_req_env(r)->ingest_mu);
    int rc = lh_ingest_file(gw_req_env(r)->ingest, &r->who, path, opts, &res, &err);
    pthread_mutex_unlock(&gw_req_env(r)->ingest_mu);
    if (rc != LH_OK) {
        /* Where in the file, when the ingest knows: clients need not parse the message. */
        json_t *detail = json_pack("{s:s, s:o}", "dataset", opts->dataset, "source",
                                   gw_json_text(opts->source_name ? opts->source_name : ""));
        if (res.error_line > 0)
            json_object_set_new(detail, "line", json_integer((json_int_t)res.error_line));
        if (res.error_column[0])
            json_object_set_new(detail, "column", gw_json_text(res.error_column));
        if (res.error_position > 0)
            json_object_set_new(detail, "position", json_integer((json_int_t)res.error_position));
        gw_send_error(r, 0, rc, err.msg[0] ? err.msg : lh_error_name(rc), detail);
        return;
    }
    if (!res.noop) {
        lh_error rerr = {0};
        if (lh_query_refresh(gw_req_env(r)->query, res.dataset[0] ? res.dataset : opts->dataset,
                             &rerr) != LH_OK)
            lh_log(LH_LOG_WARN, "ingest_refresh_failed", "dataset", opts->dataset, "msg", rerr.msg,
                   (const char *)NULL);
        if (res.rejected > 0) {
            char rej[160];
            snprintf(rej, sizeof rej, "%s_rejects", opts->dataset);
            lh_error_clear(&rerr);
            if (lh_query_refresh(gw_req_env(r)->query, rej, &rerr) != LH_OK)
                lh_log(LH_LOG_WARN, "ingest_refresh_failed", "dataset", rej, "msg", rerr.msg,
                       (const char *)NULL);
        }
    }
    json_t *body = json_pack(
        "{s:s, s:I, s:I, s:I, s:b, s:b, s:s, s:I, s:f}", "dataset",
        res.dataset[0] ? res.dataset : opts->dataset, "version", (json_int_t)res.version, "rows",
        (json_int_t)res.rows, "rejected", (json_int_t)res.rejected, "noop", res.noop, "created",
        res.created, "sha256", res.sha256, "bytes", (json_int_t)res.bytes, "seconds", res.seconds);
    const char *embed =
        r->json ? json_string_value(json_object_get(r->json, "embed")) : upload_param(r, "embed");
    gw_ai_after_ingest(r, res.dataset[0] ? res.dataset : opts->dataset, embed, res.noop, body);
    gw_send_json(r, res.noop ? 200 : 201, body);
}

/* The last path component of a user-given file name (never a directory part). */
static const char *base_name(const char *s)
{
    const char *slash = strrchr(s, '/');
    const char *bslash = strrchr(s, '\\');
    if (bslash && (!slash || bslash > slash)) slash = bslash;
    return slash ? slash + 1 : s;
}

static bool check_dataset(gw_req *r, const char *dataset)
{
    lh_error err = {0};
    if (!dataset || !*dataset) {
        gw_send_error(r, 400, LH_EINVAL, "'dataset' is required (the dataset to ingest into)",
                      json_pack("{s:s}", "field", "dataset"));
        return false;
    }
    if (!lh_name_valid(dataset, &err)) {
        char msg[LH_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof msg, "invalid dataset name: %s", err.msg);
        gw_send_error(r, 400, LH_EINVAL, msg, json_pack("{s:s}", "dataset", dataset));
        return false;
    }
    return true;
}

/* An upload parameter: a multipart field wins over the query string. */
static const char *upload_param(gw_req *r, const char *key)
{
    const char *v = r->form ? json_string_value(json_object_get(r->form, key)) : NULL;
    return v ? v : gw_kv_get(r->args, r->nargs, key);
}

static const char *const upload_keys[] = {"dataset", "format", "types", "rejects",
                                          "name",    "reason", "embed", "key"};

static bool known_key(const char *key)
{
    for (size_t i = 0; i < sizeof upload_keys / sizeof upload_keys[0]; i++)
        if (strcmp(key, upload_keys[i]) == 0) return true;
    return false;
}

void gw_handle_ingest_upload(gw_req *r)
{
    lh_error err = {0};
    char **types = NULL;
    char *source = NULL;
    for (size_t i = 0; i < r->nargs; i++) {
        if (!known_key(r->args[i].key)) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "unknown query parameter '%.80s' (expected dataset, format, types, "
                     "rejects, name, reason, embed, key)",
                     r->args[i].key);
            gw_send_error(r, 400, LH_EINVAL, msg, json_pack("{s:s}", "parameter", r->args[i].key));
            return;
        }
    }
    const char *key;
    json_t *v;
    json_object_foreach(r->form, key, v)
    {
        if (!known_key(key)) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "unknown form field '%.80s' (expected file, dataset, format, types, "
                     "rejects, name, reason, embed, key)",
                     key);
            gw_send_error(r, 400, LH_EINVAL, msg, json_pack("{s:s}", "field", key));
            return;
        }
    }
    const char *dataset = upload_param(r, "dataset");
    if (!check_dataset(r, dataset)) return;
    lh_ingest_opts opts = {0};
    opts.dataset = dataset;
    const char *fmt = upload_param(r, "format");
    if (fmt && lh_ingest_format_parse(fmt, &opts.format, &err) != LH_OK) {
        gw_send_lh_error(r, &err);
        return;
    }
    if (gw_types_parse(upload_param(r, "types"), &types, &err) != LH_OK) {
        gw_send_lh_error(r, &err);
        return;
    }
    opts.types = (const char *const *)types;
    const char *rej = upload_param(r, "rejects");
    if (rej && gw_parse_bool(rej, &opts.rejects, &err) != LH_OK) {
        lh_error_prefix(&err, "rejects");
        gw_send_lh_error(r, &err);
        goto done;
    }
    opts.reason = upload_param(r, "reason");
    opts.key = upload_param(r, "key");
    const char *name = upload_param(r, "name");
    if (!name || !*name) name = r->file_name;
    if (name && *base_name(name))
        source = lh_strdup(base_name(name));
    else
        source = lh_strdup(opts.format == LH_FORMAT_CSV      ? "upload.csv"
                           : opts.format == LH_FORMAT_NDJSON ? "upload.ndjson"
                                                             : "upload");
    opts.source_name = source;
    if (r->received == 0 || (r->multipart && !r->tmp_path)) {
        char msg[300];
        snprintf(msg, sizeof msg, "upload '%.200s' is empty (0 bytes); nothing was ingested",
                 source);
        gw_send_error(r, 400, LH_EINVAL, msg, json_pack("{s:s}", "source", source));
        goto done;
    }
    run_ingest(r, r->tmp_path, &opts);
done:
    gw_strv_free(types);
    free(source);
}

/* "types" in a JSON body: "a:INT,b:DATE" or {"a":"INT","b":"DATE"}. */
static int json_types(json_t *jt, char ***out, lh_error *err)
{
    *out = NULL;
    if (!jt || json_is_null(jt)) return LH_OK;
    if (json_is_string(jt)) return gw_types_parse(json_string_value(jt), out, err);
    if (!json_is_object(jt))
        return lh_error_set(err, LH_EINVAL,
                            "field 'types' must be \"col:TYPE,...\" or {\"col\":\"TYPE\"}");
    char **v = lh_calloc(json_object_size(jt) + 1, sizeof *v);
    size_t n = 0;
    const char *key;
    json_t *val;
    json_object_foreach(jt, key, val)
    {
        if (!json_is_string(val)) {
            gw_strv_free(v);
            return lh_error_set(err, LH_EINVAL,
                                "field 'types': type of column '%s' must be a "
                                "string",
                                key);
        }
        v[n++] = lh_sprintf("%s=%s", key, json_string_value(val));
    }
    *out = v;
    return LH_OK;
}

void gw_handle_ingest_file(gw_req *r)
{
    const lh_config *cfg = r->g->deps.cfg;
    lh_error err = {0};
    char **types = NULL;
    char *real = NULL;
    const char *key;
    json_t *v;
    json_object_foreach(r->json, key, v)
    {
        if (strcmp(key, "path") && strcmp(key, "dataset") && strcmp(key, "format") &&
            strcmp(key, "types") && strcmp(key, "rejects") && strcmp(key, "reason") &&
            strcmp(key, "embed")) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "unknown field '%.80s' (expected path, dataset, format, types, rejects, "
                     "reason, embed)",
                     key);
            gw_send_error(r, 400, LH_EINVAL, msg, json_pack("{s:s}", "field", key));
            return;
        }
    }
    if (!cfg->ingest_dir) {
        gw_send_error(r, 403, LH_EDENIED,
                      "ingest from server paths is disabled (no ingest_dir configured; set "
                      "LAKEHOUSE_INGEST_DIR)",
                      NULL);
        return;
    }
    const char *path = json_string_value(json_object_get(r->json, "path"));
    if (!path || !*path) {
        gw_send_error(r, 400, LH_EINVAL, "field 'path' is required and must be a string",
                      json_pack("{s:s}", "field", "path"));
        return;
    }
    const char *dataset = json_string_value(json_object_get(r->json, "dataset"));
    if (json_object_get(r->json, "dataset") && !dataset) {
        gw_send_error(r, 400, LH_EINVAL, "field 'dataset' must be a string", NULL);
        return;
    }
    if (!check_dataset(r, dataset)) return;
    lh_ingest_opts opts = {0};
    opts.dataset = dataset;
    json_t *jf = json_object_get(r->json, "format");
    if (jf && (!json_is_string(jf) ||
               lh_ingest_format_parse(json_string_value(jf), &opts.format, &err) != LH_OK)) {
        if (!err.code) lh_error_set(&err, LH_EINVAL, "field 'format' must be a string");
        gw_send_lh_error(r, &err);
        return;
    }
    json_t *jr = json_object_get(r->json, "rejects");
    if (jr && !json_is_boolean(jr)) {
        gw_send_error(r, 400, LH_EINVAL, "field 'rejects' must be true or false", NULL);
        return;
    }
    opts.rejects = json_is_true(jr);
    opts.reason = json_string_value(json_object_get(r->json, "reason"));
    if (json_types(json_object_get(r->json, "types"), &types, &err) != LH_OK) {
        gw_send_lh_error(r, &err);
        return;
    }
    opts.types = (const char *const *)types;
    int rc = gw_path_inside(cfg->ingest_dir, path, &real, &err);
    if (rc != LH_OK) {
        gw_send_error(r, 0, rc, err.msg,
                      json_pack("{s:s, s:s}", "path", path, "ingest_dir", cfg->ingest_dir));
        goto done;
    }
    opts.source_name = base_name(real);
    run_ingest(r, real, &opts);
done:
    gw_strv_free(types);
    free(real);
}
