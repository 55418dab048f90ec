/* Per-bucket environments: a request works on the bucket its X-Lakehouse-Bucket header names
 * (the served bucket without one). The served bucket's storage, catalog and engines are the
 * deps; any other configured bucket gets its own — storage, catalog, query engine, ingest and
 * vector registry, with its own folders (lh_config_for_bucket) — opened at its first request
 * and kept until the gateway stops. Opening happens under envs_mu, so two first requests for
 * one bucket open it once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway_int.h"

gw_env *gw_req_env(const gw_req *r)
{
    return r->env ? r->env : &r->g->served;
}

void gw_envs_init(lh_gateway *g)
{
    gw_env *e = &g->served;
    const lh_config *cfg = g->deps.cfg;
    e->name = lh_strdup(g->deps.storage ? lh_storage_bucket(g->deps.storage)
                                        : (cfg->bucket ? cfg->bucket : "primary"));
    e->cfg = cfg;
    e->storage = g->deps.storage;
    e->catalog = g->deps.catalog;
    e->query = g->deps.query;
    e->ingest = g->deps.ingest;
    e->vectors = lh_vector_registry_new(e->storage, cfg->cache_dir ? cfg->cache_dir : "/tmp");
    pthread_mutex_init(&e->ingest_mu, NULL);
    pthread_mutex_init(&g->envs_mu, NULL);
    g->base_cfg = g->deps.base_cfg ? g->deps.base_cfg : cfg;
}

static void env_free(gw_env *e)
{
    lh_vector_registry_free(e->vectors);
    lh_ingest_close(e->ingest);
    lh_query_close(e->query);
    lh_catalog_close(e->catalog);
    lh_storage_close(e->storage);
    lh_config_free(&e->own_cfg);
    pthread_mutex_destroy(&e->ingest_mu);
    free(e->name);
    free(e);
}

void gw_envs_close(lh_gateway *g)
{
    for (gw_env *e = g->others, *next; e; e = next) {
        next = e->next;
        env_free(e);
    }
    g->others = NULL;
    lh_vector_registry_free(g->served.vectors);
    pthread_mutex_destroy(&g->served.ingest_mu);
    pthread_mutex_destroy(&g->envs_mu);
    free(g->served.name);
    memset(&g->served, 0, sizeof g->served);
}

/* Opens bucket name's environment. Caller holds envs_mu. */
static int env_open(lh_gateway *g, const char *name, gw_env **out, lh_error *err)
{
    gw_env *e = lh_calloc(1, sizeof *e);
    pthread_mutex_init(&e->ingest_mu, NULL);
    e->name = lh_strdup(name);
    e->owned = true;
    e->cfg = &e->own_cfg;
    int rc = lh_config_for_bucket(g->base_cfg, name, &e->own_cfg, err);
    if (rc == LH_OK) rc = lh_storage_open_config(e->cfg, &e->storage, err);
    if (rc == LH_OK) rc = lh_catalog_open(e->storage, &e->catalog, err);
    if (rc == LH_OK) rc = lh_query_open(e->catalog, e->cfg, &e->query, err);
    if (rc == LH_OK) rc = lh_ingest_open(e->catalog, e->cfg, &e->ingest, err);
    if (rc != LH_OK) {
        env_free(e);
        return rc;
    }
    e->vectors = lh_vector_registry_new(e->storage, e->cfg->cache_dir);
    lh_log(LH_LOG_INFO, "bucket_opened", "bucket", name, "backend", lh_storage_backend(e->storage),
           (const char *)NULL);
    *out = e;
    return LH_OK;
}

static bool configured(const lh_config *cfg, const char *name)
{
    if (strcmp(name, "primary") == 0) return true;
    for (size_t i = 0; i < cfg->nbuckets; i++)
        if (strcmp(cfg->buckets[i].name, name) == 0) return true;
    return false;
}

bool gw_env_resolve(gw_req *r)
{
    lh_gateway *g = r->g;
    const char *want = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Lakehouse-Bucket");
    if (!want || strcmp(want, g->served.name) == 0) {
        r->env = &g->served;
        return true;
    }
    if (!configured(g->base_cfg, want)) {
        char *names = lh_config_bucket_names(g->base_cfg);
        json_t *known = json_array();
        char *copy = lh_strdup(names);
        for (char *save = NULL, *t = strtok_r(copy, ", ", &save); t;
             t = strtok_r(NULL, ", ", &save))
            json_array_append_new(known, json_string(t));
        free(copy);
        char msg[512];
        snprintf(msg, sizeof msg, "unknown bucket '%.64s' (known: %.400s)", want, names);
        free(names);
        gw_send_error(r, 400, LH_EINVAL, msg,
                      json_pack("{s:o, s:o}", "bucket", gw_json_text(want), "known", known));
        return false;
    }
    lh_error err = {0};
    int rc = LH_OK;
    pthread_mutex_lock(&g->envs_mu);
    gw_env *e = g->others;
    while (e && strcmp(e->name, want) != 0)
        e = e->next;
    if (!e && (rc = env_open(g, want, &e, &err)) == LH_OK) {
        e->next = g->others;
        g->others = e;
    }
    pthread_mutex_unlock(&g->envs_mu);
    if (rc == LH_OK) {
        r->env = e;
        return true;
    }
    char msg[700];
    snprintf(msg, sizeof msg, "bucket '%.64s' cannot be opened: %.600s", want,
             err.msg[0] ? err.msg : lh_error_name(rc));
    gw_send_error(r, 503, rc, msg, json_pack("{s:o}", "bucket", gw_json_text(want)));
    return false;
}
