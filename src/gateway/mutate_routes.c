/* POST /datasets/{name}/upsert, POST /datasets/{name}/delete, POST /datasets/{name}/key and
 * GET /journal/{dataset}[/{key}]. Mutations hold the ingest lock (one writer per bucket),
 * call the ingest module and refresh the dataset's view before answering, so the next query
 * sees the new version. */
#include "gateway/gateway_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* A parameter from a multipart field or, failing that, the query string. */
static const char *param(gw_req *r, const char *key)
{
    const char *v = r->form ? json_string_value(json_object_get(r->form, key)) : NULL;
    return v ? v : gw_kv_get(r->args, r->nargs, key);
}

/* True if the body is the JSON form {"rows": [...]} (or {"keys": [...]}): said by its
 * Content-Type, or — when the type names no format (none, the form encoding curl -d sends,
 * text/plain) — seen in the body: a '[' first, or one JSON object with "rows" or "keys" (a
 * one-line NDJSON row is an object without them; NDJSON of several lines is no one value).
 * *parsed gets the body when it had to be parsed to tell (caller owns it), else NULL. */
static bool is_json_body(gw_req *r, json_t **parsed)
{
    *parsed = NULL;
    const char *ct =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct && strncasecmp(ct, "application/json", 16) == 0) return true;
    if (r->multipart || !r->tmp_path ||
        (ct && *ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0 &&
         strncasecmp(ct, "text/plain", 10) != 0))
        return false;
    FILE *f = fopen(r->tmp_path, "rb");
    int ch = EOF;
    while (f && (ch = fgetc(f)) != EOF && (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t'))
        ;
    if (f) fclose(f);
    if (ch == '[') return true;
    if (ch != '{') return false;
    json_t *j = json_load_file(r->tmp_path, 0, NULL);
    bool envelope = json_is_object(j) && (json_object_get(j, "rows") || json_object_get(j, "keys"));
    if (envelope)
        *parsed = j; /* json_body_to_file need not parse it again */
    else
        json_decref(j);
    return envelope;
}

/* Appends one JSON object as an NDJSON line. */
static void ndjson_line(lh_buf *b, json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
    lh_buf_puts(b, s);
    lh_buf_putc(b, '\n');
    free(s);
}

/* A delete's "keys": each a scalar (one-column key) or an array in key column order. */
static int keys_to_rows(gw_req *r, const char *dataset, json_t *keys, lh_buf *out, lh_error *err)
{
    lh_manifest *m = NULL;
    int rc = lh_catalog_get(gw_req_env(r)->catalog, &r->who, dataset, 0, &m, err);
    if (rc) return rc;
    if (!m->nkey) {
        rc = lh_error_set(err, LH_EINVAL, "dataset '%s' has no primary key", dataset);
        goto done;
    }
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        json_t *row = json_object();
        if (m->nkey == 1 && !json_is_array(k)) {
            json_object_set(row, m->key[0], k);
        } else if (json_is_array(k) && json_array_size(k) == m->nkey) {
            for (size_t c = 0; c < m->nkey; c++)
                json_object_set(row, m->key[c], json_array_get(k, c));
        } else {
            json_decref(row);
            rc = lh_error_set(err, LH_EINVAL,
                              "keys[%zu]: dataset '%s' has a %zu-column key; give each key as "
                              "%s",
                              i, dataset, m->nkey,
                              m->nkey == 1 ? "a value" : "an array of its values in key order");
            goto done;
        }
        ndjson_line(out, row);
        json_decref(row);
    }
done:
    lh_manifest_free(m);
    return rc;
}

/* Turns a JSON body {"rows":[{...}], "keys":[...], "reason":"..."} into an NDJSON file. Takes
 * parsed (the body is_json_body parsed, or NULL: it is read here). */
static int json_body_to_file(gw_req *r, json_t *parsed, const char *dataset, bool del, char **path,
                             char **reason, lh_error *err)
{
    json_error_t je;
    json_t *j = parsed ? parsed : json_load_file(r->tmp_path, 0, &je);
    lh_buf nd = {0};
    int rc = LH_OK;
    if (!json_is_object(j)) {
        rc = lh_error_set(err, LH_EINVAL, "request body: %s",
                          j ? "expected a JSON object {\"rows\": [...]}" : je.text);
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        if (strcmp(key, "rows") && strcmp(key, "reason") && !(del && strcmp(key, "keys") == 0)) {
            rc = lh_error_set(err, LH_EINVAL, "unknown field '%.80s' (expected rows%s, reason)",
                              key, del ? ", keys" : "");
            goto done;
        }
    }
    json_t *jr = json_object_get(j, "reason");
    if (jr && !json_is_string(jr)) {
        rc = lh_error_set(err, LH_EINVAL, "field 'reason' must be a string");
        goto done;
    }
    if (jr) *reason = lh_strdup(json_string_value(jr));
    json_t *rows = json_object_get(j, "rows"), *keys = json_object_get(j, "keys");
    if ((rows && !json_is_array(rows)) || (keys && !json_is_array(keys)) || (!rows && !keys) ||
        (rows && keys)) {
        rc = lh_error_set(err, LH_EINVAL,
                          del ? "give either 'rows' (objects with the key "
                                "columns) or 'keys' (key values), as an array"
                              : "field 'rows' is required: an array of objects");
        goto done;
    }
    if (rows) {
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row)
        {
            if (!json_is_object(row)) {
                rc = lh_error_set(err, LH_EINVAL, "rows[%zu] must be an object", i);
                goto done;
            }
            ndjson_line(&nd, row);
        }
    } else if ((rc = keys_to_rows(r, dataset, keys, &nd, err))) {
        goto done;
    }
    if (nd.len == 0) {
        rc = lh_error_set(err, LH_EINVAL, "no rows given");
        goto done;
    }
    *path = lh_sprintf("%s.ndjson", r->tmp_path);
    FILE *f = fopen(*path, "wb");
    if (!f || fwrite(nd.data, 1, nd.len, f) != nd.len) {
        rc = lh_error_set(err, LH_EIO, "cannot write '%s'", *path);
        if (f) fclose(f);
        goto done;
    }
    if (fclose(f) != 0) rc = lh_error_set(err, LH_EIO, "cannot write '%s'", *path);
done:
    json_decref(j);
    lh_buf_free(&nd);
    return rc;
}

static void refresh(gw_req *r, const char *dataset)
{
    lh_error rerr = {0};
    if (lh_query_refresh(gw_req_env(r)->query, dataset, &rerr) != LH_OK)
        lh_log(LH_LOG_WARN, "mutation_refresh_failed", "dataset", dataset, "msg", rerr.msg,
               (const char *)NULL);
}

static void mutate(gw_req *r, bool del)
{
    const char *dataset = r->params[0];
    lh_error err = {0};
    char *path = NULL, *reason = NULL;
    lh_upsert_opts o = {.dataset = dataset, .source = "api", .delete_rows = del};
    for (size_t i = 0; i < r->nargs; i++)
        if (strcmp(r->args[i].key, "format") && strcmp(r->args[i].key, "reason")) {
            char msg[200];
            snprintf(msg, sizeof msg, "unknown query parameter '%.80s' (expected format, reason)",
                     r->args[i].key);
            gw_send_error(r, 400, LH_EINVAL, msg, json_pack("{s:s}", "parameter", r->args[i].key));
            return;
        }
    if (r->received == 0 || (r->multipart && !r->tmp_path)) {
        gw_send_error(r, 400, LH_EINVAL,
                      "empty body: send JSON {\"rows\":[...]} or a CSV/NDJSON "
                      "file",
                      NULL);
        return;
    }
    json_t *parsed = NULL;
    if (is_json_body(r, &parsed)) {
        if (json_body_to_file(r, parsed, dataset, del, &path, &reason, &err)) goto fail;
        o.format = LH_FORMAT_NDJSON;
        o.source_name = "body";
        o.reason = reason;
    } else {
        const char *fmt = param(r, "format");
        if (fmt && lh_ingest_format_parse(fmt, &o.format, &err)) goto fail;
        o.reason = param(r, "reason");
        o.source_name = r->file_name && *r->file_name ? r->file_name : "body";
    }
    lh_upsert_result res = {0};
    pthread_mutex_lock(&gw_req_env(r)->ingest_mu);
    int rc =
        lh_ingest_upsert(gw_req_env(r)->ingest, &r->who, path ? path : r->tmp_path, &o, &res, &err);
    pthread_mutex_unlock(&gw_req_env(r)->ingest_mu);
    if (rc) goto fail;
    if (!res.noop && res.committed) refresh(r, dataset);
    json_t *body = json_pack(
        "{s:s, s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "dataset", dataset,
        "version", (json_int_t)res.version, "noop", res.noop, "rows_in", (json_int_t)res.rows_in,
        "inserted", (json_int_t)res.inserted, "updated", (json_int_t)res.updated, "unchanged",
        (json_int_t)res.unchanged, "deleted", (json_int_t)res.deleted, "absent",
        (json_int_t)res.absent, "duplicates", (json_int_t)res.duplicates, "events",
        (json_int_t)res.events, "seconds", res.seconds);
    /* Through the write-ahead log: durable and visible here, committed within wal_flush_ms
     * (version is then the one it was computed on). */
    json_object_set_new(body, "committed", json_boolean(res.committed));
    json_object_set_new(body, "durable", json_boolean(res.durable));
    if (!res.committed) json_object_set_new(body, "wal_seq", json_integer(res.wal_seq));
    if (res.duplicates)
        json_object_set_new(body, "duplicate_keys", gw_json_text(res.duplicate_keys));
    if (res.absent) json_object_set_new(body, "absent_keys", gw_json_text(res.absent_keys));
    gw_send_json(r, 200, body);
    goto done;
fail:
    gw_send_error(r, 0, err.code, err.msg, json_pack("{s:s}", "dataset", dataset));
done:
    if (path) unlink(path);
    free(path);
    free(reason);
}

void gw_handle_upsert(gw_req *r)
{
    mutate(r, false);
}

void gw_handle_delete(gw_req *r)
{
    mutate(r, true);
}

void gw_handle_set_key(gw_req *r)
{
    const char *dataset = r->params[0];
    lh_error err = {0};
    lh_buf spec = {0};
    const char *k;
    json_t *v;
    json_object_foreach(r->json, k, v)
    {
        if (strcmp(k, "key") && strcmp(k, "reason")) {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown field '%.80s' (expected key, reason)", k);
            gw_send_error(r, 400, LH_EINVAL, msg, json_pack("{s:s}", "field", k));
            return;
        }
    }
    json_t *jk = json_object_get(r->json, "key");
    json_t *jr = json_object_get(r->json, "reason");
    if (json_is_string(jk)) {
        lh_buf_puts(&spec, json_string_value(jk));
    } else if (json_is_array(jk) && json_array_size(jk) > 0) {
        size_t i;
        json_array_foreach(jk, i, v)
        {
            if (!json_is_string(v)) break;
            lh_buf_printf(&spec, "%s%s", i ? "," : "", json_string_value(v));
        }
        if (i < json_array_size(jk)) lh_buf_reset(&spec);
    }
    if (!spec.len || (jr && !json_is_string(jr))) {
        lh_buf_free(&spec);
        gw_send_error(r, 400, LH_EINVAL,
                      "field 'key' is required: a column name or an array of column names "
                      "('reason', if given, must be a string)",
                      NULL);
        return;
    }
    int64_t version = 0;
    pthread_mutex_lock(&gw_req_env(r)->ingest_mu);
    int rc = lh_ingest_set_key(gw_req_env(r)->ingest, &r->who, dataset, spec.data,
                               json_string_value(jr), &version, &err);
    pthread_mutex_unlock(&gw_req_env(r)->ingest_mu);
    if (rc) {
        gw_send_error(r, 0, rc, err.msg, json_pack("{s:s}", "dataset", dataset));
    } else {
        refresh(r, dataset);
        gw_send_json(r, 200,
                     json_pack("{s:s, s:s, s:I}", "dataset", dataset, "key", spec.data, "version",
                               (json_int_t)version));
    }
    lh_buf_free(&spec);
}

static int buf_sink(void *ctx, const char *data, size_t n)
{
    lh_buf_append(ctx, data, n);
    return 0;
}

void gw_handle_journal(gw_req *r)
{
    const char *dataset = r->params[0];
    const char *key = r->nparams > 1 ? r->params[1] : NULL;
    lh_error err = {0};
    lh_buf out = {0};
    int64_t limit = 0;
    for (size_t i = 0; i < r->nargs; i++)
        if (strcmp(r->args[i].key, "limit")) {
            gw_send_error(r, 400, LH_EINVAL, "unknown query parameter (expected limit)",
                          json_pack("{s:s}", "parameter", r->args[i].key));
            return;
        }
    const char *ls = gw_kv_get(r->args, r->nargs, "limit");
    if (ls && gw_parse_int64(ls, &limit, &err)) {
        lh_error_prefix(&err, "limit");
        gw_send_lh_error(r, &err);
        return;
    }
    lh_manifest *m = NULL;
    if (lh_catalog_get(gw_req_env(r)->catalog, &r->who, dataset, 0, &m, &err)) {
        gw_send_lh_error(r, &err);
        return;
    }
    lh_manifest_free(m);
    lh_query_opts o = {.format = LH_QUERY_JSON, .row_limit = limit};
    if (lh_query_journal(gw_req_env(r)->query, &r->who, dataset, key, &o, buf_sink, &out, NULL,
                         &err)) {
        gw_send_lh_error(r, &err);
    } else {
        json_t *j = json_loadb(out.data, out.len, 0, NULL);
        json_t *body = json_pack(
            "{s:s, s:o, s:O, s:O, s:O}", "dataset", dataset, "key",
            key ? json_string(key) : json_null(), "columns", json_object_get(j, "columns"),
            "events", json_object_get(j, "rows"), "truncated", json_object_get(j, "truncated"));
        json_decref(j);
        gw_send_json(r, 200, body);
    }
    lh_buf_free(&out);
}

void gw_handle_cache(gw_req *r)
{
    if (r->nargs) {
        gw_send_error(r, 400, LH_EINVAL, "GET /cache takes no query parameters",
                      json_pack("{s:s}", "parameter", r->args[0].key));
        return;
    }
    gw_send_json(r, 200, lh_query_cache_stats(gw_req_env(r)->query));
}

static void cache_pin(gw_req *r, bool pin)
{
    const char *k;
    json_t *v;
    json_object_foreach(r->json, k, v)
    {
        if (strcmp(k, "dataset")) {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown field '%.80s' (expected dataset)", k);
            gw_send_error(r, 400, LH_EINVAL, msg, json_pack("{s:s}", "field", k));
            return;
        }
    }
    const char *dataset = json_string_value(json_object_get(r->json, "dataset"));
    if (!dataset) {
        gw_send_error(r, 400, LH_EINVAL, "field 'dataset' is required and must be a string",
                      json_pack("{s:s}", "field", "dataset"));
        return;
    }
    lh_error err = {0};
    int rc = pin ? lh_query_cache_pin(gw_req_env(r)->query, &r->who, dataset, &err)
                 : lh_query_cache_unpin(gw_req_env(r)->query, &r->who, dataset, &err);
    if (rc) {
        gw_send_error(r, 0, rc, err.msg, json_pack("{s:s}", "dataset", dataset));
        return;
    }
    gw_send_json(r, 200, lh_query_cache_stats(gw_req_env(r)->query));
}

void gw_handle_cache_pin(gw_req *r)
{
    cache_pin(r, true);
}

void gw_handle_cache_unpin(gw_req *r)
{
    cache_pin(r, false);
}
