/* GET /storage/errors: the error journal of the storage buckets, filtered and aggregated; and
 * the X-Lakehouse-Bucket check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway_int.h"

/* A time argument: RFC 3339 ("2026-11-24T08:00:00Z") or µs since the epoch. */
static int parse_time(const char *name, const char *s, int64_t *out, lh_error *err)
{
    if (lh_time_parse(s, out) == LH_OK) return LH_OK;
    if (gw_parse_int64(s, out, NULL) == LH_OK) return LH_OK;
    return lh_error_set(err, LH_EINVAL,
                        "%s: expected an RFC 3339 time like 2026-11-24T08:00:00Z or "
                        "microseconds since the epoch, got '%s'",
                        name, s);
}

static json_t *event_json(const lh_storage_error_event *e)
{
    char when[40];
    lh_time_format(e->time_us, when, sizeof when);
    json_t *o =
        json_pack("{s:s, s:o, s:o, s:o, s:i, s:i, s:s, s:i, s:o}", "time", when, "bucket",
                  gw_json_text(e->bucket), "op", gw_json_text(e->op), "key", gw_json_text(e->key),
                  "status", e->status, "errno", e->os_errno, "code", lh_error_name(e->code),
                  "attempts", e->attempts, "message", gw_json_text(e->message));
    json_object_set_new(o, "rescued_by",
                        e->rescued_by[0] ? gw_json_text(e->rescued_by) : json_null());
    return o;
}

void gw_handle_storage_errors(gw_req *r)
{
    lh_error err = {0};
    const char *bucket = gw_kv_get(r->args, r->nargs, "bucket");
    const char *op = gw_kv_get(r->args, r->nargs, "op");
    const char *since_s = gw_kv_get(r->args, r->nargs, "since");
    const char *until_s = gw_kv_get(r->args, r->nargs, "until");
    const char *limit_s = gw_kv_get(r->args, r->nargs, "limit");
    int64_t since = 0, until = 0, limit = 100;
    if ((since_s && parse_time("since", since_s, &since, &err)) ||
        (until_s && parse_time("until", until_s, &until, &err))) {
        gw_send_lh_error(r, &err);
        return;
    }
    if (limit_s && (gw_parse_int64(limit_s, &limit, &err) || limit > 2000)) {
        if (!err.code)
            lh_error_set(&err, LH_EINVAL, "limit: at most 2000, got %s", limit_s);
        else
            lh_error_prefix(&err, "limit");
        gw_send_lh_error(r, &err);
        return;
    }
    if (since && until && since > until) {
        gw_send_error(r, 400, LH_EINVAL, "since is after until", NULL);
        return;
    }
    lh_storage_error_event *ev;
    size_t n;
    lh_storage_errors_query(bucket && *bucket ? bucket : NULL, op && *op ? op : NULL, since, until,
                            &ev, &n);
    /* Counts by bucket, op and status over every match; the newest `limit` events listed. */
    json_t *agg = json_object();
    for (size_t i = 0; i < n; i++) {
        char k[160];
        snprintf(k, sizeof k, "%s\t%s\t%d", ev[i].bucket, ev[i].op, ev[i].status);
        json_t *c = json_object_get(agg, k);
        json_object_set_new(agg, k, json_integer(c ? json_integer_value(c) + 1 : 1));
    }
    json_t *counts = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(agg, k, v)
    {
        char b[64], o[24];
        int st = 0;
        if (sscanf(k, "%63[^\t]\t%23[^\t]\t%d", b, o, &st) != 3) continue;
        json_array_append_new(counts, json_pack("{s:o, s:o, s:i, s:O}", "bucket", gw_json_text(b),
                                                "op", gw_json_text(o), "status", st, "count", v));
    }
    json_decref(agg);
    json_t *events = json_array();
    for (size_t i = n; i > 0 && json_array_size(events) < (size_t)limit; i--)
        json_array_append_new(events, event_json(&ev[i - 1]));
    free(ev);
    gw_send_json(
        r, 200,
        json_pack("{s:I, s:o, s:o}", "total", (json_int_t)n, "counts", counts, "events", events));
}

json_t *gw_bucket_names_json(const lh_storage *st)
{
    json_t *all = json_array();
    char *copy = lh_strdup(st ? lh_storage_bucket_names(st) : "primary");
    for (char *save = NULL, *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
        json_array_append_new(all, json_string(t));
    free(copy);
    return all;
}

bool gw_bucket_check(gw_req *r)
{
    const char *want = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Lakehouse-Bucket");
    if (!want) return true;
    const lh_storage *st = r->g->deps.storage;
    const char *served = st ? lh_storage_bucket(st) : "primary";
    if (strcmp(want, served) == 0) return true;
    const char *names = st ? lh_storage_bucket_names(st) : "primary";
    json_t *known = gw_bucket_names_json(st);
    bool is_known = false;
    size_t i;
    json_t *v;
    json_array_foreach(known, i, v) if (strcmp(json_string_value(v), want) == 0) is_known = true;
    char msg[512];
    if (is_known)
        snprintf(msg, sizeof msg,
                 "bucket '%.64s' is configured, but this server serves bucket '%s'; run "
                 "`lakehouse serve --bucket %.64s` to serve it",
                 want, served, want);
    else
        snprintf(msg, sizeof msg, "unknown bucket '%.64s' (known: %s)", want, names);
    gw_send_error(r, 400, LH_EINVAL, msg,
                  json_pack("{s:o, s:s, s:o}", "bucket", gw_json_text(want), "served", served,
                            "known", known));
    return false;
}
