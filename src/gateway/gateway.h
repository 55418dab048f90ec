/*
 * gateway — the HTTP API over libmicrohttpd: routing, identity, body limits, JSON errors.
 *
 * Every request runs with an identity (profile "default", actor "http <client ip>") so
 * that access control slots in later without changing a signature. Errors always have the
 * shape {"error":{"code":lh_error_name(rc),"message":"...","detail":{...}}}. Routes live
 * in one table (route.c): adding an endpoint is one entry plus its handler.
 */
#ifndef LH_GATEWAY_H
#define LH_GATEWAY_H

#include "catalog/catalog.h"
#include "core/core.h"
#include "ingest/ingest.h"
#include "query/query.h"
#include "storage/storage.h"

typedef struct lh_gateway lh_gateway;

/* What the gateway serves. All borrowed: they must outlive the gateway. storage, catalog,
 * query and ingest work on the served bucket (cfg->bucket). */
typedef struct lh_gateway_deps {
    const lh_config *cfg;
    lh_storage *storage;
    lh_catalog *catalog;
    lh_query *query;
    lh_ingest *ingest;
    /* The configuration every bucket is derived from (lh_config_for_bucket): a request naming
     * another configured bucket in X-Lakehouse-Bucket works on that bucket, whose storage,
     * catalog and engines the gateway opens at its first request and closes at stop. NULL:
     * cfg (then cfg must be the loaded configuration, not one derived for a named bucket). */
    const lh_config *base_cfg;
} lh_gateway_deps;

/* Starts serving on deps->cfg->listen ("host:port"; port 0 picks a free one) with a pool of
 * cfg->threads threads. Caller stops it with lh_gateway_stop. On failure (bad address, port
 * in use, ...) nothing is left running and err names the address. */
int lh_gateway_start(const lh_gateway_deps *deps, lh_gateway **out, lh_error *err);
/* The port the gateway is bound to (useful after listening on port 0). */
int lh_gateway_port(const lh_gateway *g);
/* Stops accepting, cancels streaming responses, waits for running requests and frees the
 * gateway. Accepts NULL. */
void lh_gateway_stop(lh_gateway *g);

#endif
